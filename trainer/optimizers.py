"""Adam for models whose largest weights are lookup tables (hashed n-grams, the wide path).

Keras' Adam decays every row of a table's moment estimates and moves every row on every step,
even when a batch touched a few hundred of the table's millions of entries: on the wide & deep
model that dense work is most of a training step. The lazy variant (TF Addons' `LazyAdam`,
which no longer installs with TF 2.16) updates only the rows in the batch.
"""

from __future__ import annotations

import tensorflow as tf

keras = tf.keras


@keras.utils.register_keras_serializable(package="prodcat")
class LazyAdam(keras.optimizers.Adam):
    """Adam; for a sparse gradient (`tf.IndexedSlices`) only the looked-up rows' moments and
    weights change, as in TF Addons' `LazyAdam`. Dense gradients get Keras' Adam unchanged."""

    def update_step(self, gradient, variable):  # noqa: ANN001, ANN201 (Keras signature)
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable)
        lr = tf.cast(self.learning_rate, variable.dtype)
        local_step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1 = tf.cast(self.beta_1, variable.dtype)
        beta_2 = tf.cast(self.beta_2, variable.dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, local_step)) / (1 - tf.pow(beta_1, local_step))
        epsilon = self.epsilon * tf.sqrt(1 - tf.pow(beta_2, local_step)) if getattr(self, "adaptive_epsilon", False) \
            else self.epsilon
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        # a row looked up several times in the batch: one summed gradient row
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + epsilon), rows))


def make_optimizer(kind: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """`model.optimizer`'s optimizer: 'lazy_adam' (this module's LazyAdam) or 'adam' (Keras' own)."""
    if kind not in ("adam", "lazy_adam"):
        raise ValueError(f"unknown optimizer {kind!r}: use 'adam' or 'lazy_adam'")
    return (LazyAdam if kind == "lazy_adam" else keras.optimizers.Adam)(learning_rate)
