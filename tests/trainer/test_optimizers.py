"""LazyAdam: Keras' Adam where every row is in the batch, untouched rows left alone otherwise."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat.trainer.optimizers import LazyAdam


def _steps(optimizer: tf.keras.optimizers.Optimizer, gradients: list) -> np.ndarray:  # noqa: ANN001
    table = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))
    for gradient in gradients:
        optimizer.apply_gradients([(gradient, table)])
    return table.numpy()


def test_lazy_adam_equals_adam_when_every_row_is_looked_up() -> None:
    rng = np.random.default_rng(0)
    dense = [tf.constant(rng.normal(size=(4, 3)), tf.float32) for _ in range(5)]
    # the same gradients as sparse slices, row 2 split over two lookups (summed like a dense gradient)
    sparse = [tf.IndexedSlices(tf.concat([g, tf.zeros([1, 3])], 0) + tf.constant(
        [[0, 0, 0]] * 2 + [[-1, -1, -1]] + [[0, 0, 0]] + [[1, 1, 1]], tf.float32), tf.constant([0, 1, 2, 3, 2]),
        tf.constant([4, 3])) for g in dense]
    np.testing.assert_allclose(_steps(LazyAdam(0.1), sparse), _steps(tf.keras.optimizers.Adam(0.1), dense), rtol=1e-5)
    np.testing.assert_allclose(_steps(LazyAdam(0.1), dense), _steps(tf.keras.optimizers.Adam(0.1), dense), rtol=1e-6)


def test_lazy_adam_leaves_rows_outside_the_batch_alone() -> None:
    """Keras' Adam keeps moving row 0 on its momentum after the batch that touched it; LazyAdam does not."""
    first = tf.IndexedSlices(tf.ones([1, 3]), tf.constant([0]), tf.constant([4, 3]))
    then = tf.IndexedSlices(tf.ones([1, 3]), tf.constant([1]), tf.constant([4, 3]))
    lazy = _steps(LazyAdam(0.1), [first, then, then])
    eager = _steps(tf.keras.optimizers.Adam(0.1), [first, then, then])
    after_first = _steps(LazyAdam(0.1), [first])
    np.testing.assert_array_equal(lazy[0], after_first[0])
    assert (eager[0] < after_first[0]).all(), "Adam's dense update moved the untouched row"
    np.testing.assert_array_equal(lazy[2:], np.arange(6, 12, dtype=np.float32).reshape(2, 3))
