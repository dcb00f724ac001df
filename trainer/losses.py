"""What training minimizes and reports: per-level masked cross-entropy and accuracy, compiled.

Products whose category is shallower than a level carry the label -1 there: they count for the
levels they reach and for no other.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig
from prodcat.trainer.optimizers import make_optimizer

keras = tf.keras


@keras.utils.register_keras_serializable(package="prodcat")
class MaskedLevelLoss(keras.losses.Loss):
    """One level's class-weighted cross-entropy over the products that have a class at this level
    (label >= 0); per product, unreduced (`SumOverBatch` averages it)."""

    def __init__(self, class_weights: Sequence[float] | None = None, name: str = "masked_level_loss", **kwargs) -> None:
        super().__init__(name=name, reduction=keras.losses.Reduction.NONE, **kwargs)
        self.class_weights = list(class_weights) if class_weights is not None else None

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        valid = labels >= 0
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        loss = keras.losses.sparse_categorical_crossentropy(safe, y_pred)
        weights = tf.cast(valid, loss.dtype)
        if self.class_weights is not None:
            weights *= tf.gather(tf.constant(self.class_weights, loss.dtype), safe)
        return loss * weights

    def get_config(self) -> dict:
        return {**super().get_config(), "class_weights": self.class_weights}


class SumOverBatch:
    """Normalises a masked per-example loss by the number of products that count at this level."""

    def __init__(self, loss: MaskedLevelLoss) -> None:
        self.loss = loss
        self.__name__ = loss.name

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight=None) -> tf.Tensor:  # noqa: ANN001
        per_example = self.loss(y_true, y_pred)
        counted = tf.reduce_sum(tf.cast(tf.reshape(y_true, [-1]) >= 0, per_example.dtype))
        return tf.math.divide_no_nan(tf.reduce_sum(per_example), counted)


@keras.utils.register_keras_serializable(package="prodcat")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy at one level over the products that have a class at that level."""

    def __init__(self, name: str = "accuracy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):  # noqa: ANN001 (Keras signature)
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        correct = tf.cast(tf.equal(labels, tf.argmax(y_pred, axis=-1)), tf.float32)
        return super().update_state(correct, sample_weight=tf.cast(labels >= 0, tf.float32))


def level_metrics(n_levels: int) -> dict[str, list[keras.metrics.Metric]]:
    """Masked accuracy for every level's output (early stopping reads their mean)."""
    return {F.level_output(level): [MaskedAccuracy()] for level in range(1, n_levels + 1)}


def compile_model(model: keras.Model, level_class_weights: Sequence[Sequence[float] | None],
                  model_cfg: ModelConfig) -> None:
    """Weighted sum of the per-level losses (`model.loss_weights`), per-level masked accuracy."""
    n_levels = len(level_class_weights)
    names = [F.level_output(level) for level in range(1, n_levels + 1)]
    metrics = level_metrics(n_levels)
    optimizer = make_optimizer(model_cfg.optimizer, model_cfg.learning_rate)
    loss_weights = model_cfg.loss_weights or (1.0,) * n_levels
    if len(loss_weights) < n_levels:
        loss_weights = tuple(loss_weights) + (loss_weights[-1],) * (n_levels - len(loss_weights))
    model.compile(
        optimizer=optimizer,
        loss={name: SumOverBatch(MaskedLevelLoss(w)) for name, w in zip(names, level_class_weights)},
        loss_weights=dict(zip(names, loss_weights)),
        metrics=metrics,
    )
