"""Class resampling and early stopping: the drawn categories follow the target distribution; training runs on it."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf

from prodcat import features as F
from prodcat.config import Config
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.callbacks import MeanLevelAccuracy
from prodcat.trainer.run import train
from prodcat.trainer.sampling import CATEGORY_LABEL, CategoryLayout, resample_by_category, target_distribution

# A (3 levels deep) and B; products mostly in A > A1 > A1x, a few in B > B1.
TAXONOMY = Taxonomy.from_paths(["A", "A > A1", "A > A2", "A > A1 > A1x", "B", "B > B1"])
LAYOUT = CategoryLayout.from_taxonomy(TAXONOMY)
LEVEL_LABELS = {"A1x": (0, 0, 0), "A2": (0, 1, -1), "B1": (1, 2, -1)}
COUNTS_BY_LEAF = {"A1x": 180, "A2": 15, "B1": 5}


def _products(seed: int = 0) -> tuple[dict, dict]:
    rows = [LEVEL_LABELS[leaf] for leaf, n in COUNTS_BY_LEAF.items() for _ in range(n)]
    rng = np.random.default_rng(seed)
    rng.shuffle(rows)
    labels = np.array(rows, np.int64)
    tokens = np.where(labels >= 0, labels + np.array([1, 10, 20]), 0)  # a token that names each level's class
    return {F.TOKENS: tokens}, {F.level_output(k): labels[:, k - 1] for k in (1, 2, 3)}


def _dataset(batch_size: int, with_category_label: bool) -> tf.data.Dataset:
    features, labels = _products()

    def as_model_inputs(f: dict, y: dict) -> tuple[dict, dict]:
        y = dict(y)
        if with_category_label:
            y[CATEGORY_LABEL] = LAYOUT.category_label([y[F.level_output(k)] for k in (1, 2, 3)])
        return {F.TOKENS: tf.sparse.from_dense(f[F.TOKENS])}, y

    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch_size).map(as_model_inputs)


def _category_counts() -> np.ndarray:
    counts = np.zeros(LAYOUT.size, np.int64)
    for features, labels in _dataset(64, True):
        counts += np.bincount(labels[CATEGORY_LABEL].numpy(), minlength=LAYOUT.size)
    return counts


def test_target_distribution_spans_uniform_to_natural() -> None:
    counts = np.array([100, 25, 0, 4])
    np.testing.assert_allclose(target_distribution(counts, 1.0), [100 / 129, 25 / 129, 0, 4 / 129])
    np.testing.assert_allclose(target_distribution(counts, 0.5), np.array([10, 5, 0, 2]) / 17)
    np.testing.assert_allclose(target_distribution(counts, 0.0), [1 / 3, 1 / 3, 0, 1 / 3])
    with pytest.raises(ValueError, match="no labelled product"):
        target_distribution(np.zeros(3), 0.5)


def test_uniform_resampling_draws_every_category_equally_often() -> None:
    counts = _category_counts()
    assert sorted(counts[counts > 0].tolist()) == [5, 15, 180]
    stream = resample_by_category(_dataset(32, True), counts, power=0.0, batch_size=32, seed=1)
    drawn = collections.Counter()
    for features, labels in stream.take(60):  # 1,920 products
        assert CATEGORY_LABEL not in labels and features[F.TOKENS].dense_shape[0] == 32
        level_1, level_2 = labels[F.level_output(1)].numpy(), labels[F.level_output(2)].numpy()
        drawn.update(zip(level_1.tolist(), level_2.tolist()))
    shares = {key: n / sum(drawn.values()) for key, n in drawn.items()}
    # natural shares 0.90 / 0.075 / 0.025; uniform 1/3 each
    for key in [(0, 0), (0, 1), (1, 2)]:
        assert shares[key] == pytest.approx(1 / 3, abs=0.06), shares


def test_level_counts_add_up_each_category_into_its_ancestors() -> None:
    counts = _category_counts()
    level_1, level_2, level_3 = LAYOUT.level_counts(counts)
    assert level_1.tolist() == [195, 5] and level_2.tolist() == [180, 15, 5] and level_3.tolist() == [180]


def test_training_with_resampling_keeps_the_epoch_length_and_reweighs_on_the_new_distribution() -> None:
    config = Config.model_validate({"model": {
        "hidden_units": [8], "level_hidden_units": 4, "label_semantics": False, "label_prior": False,
        "merchant_feature": False, "token_weighting": "mean", "class_sampling": "uniform", "epochs": 2,
        "early_stopping_patience": 2, "batch_size": 32,
        "margin_head": {"enabled": False}}, "text": {"word_buckets": 64}})  # the network itself, with its optimizer
    model, summary = train(config, TAXONOMY.level_sizes(), _dataset(32, True), _dataset(32, False),
                           feature_dims={F.TOKENS: None}, strategy=tf.distribute.get_strategy(), category_layout=LAYOUT)
    assert summary["epochs_run"] == 2 and summary["class_sampling"] == "uniform"
    assert int(model.optimizer.iterations) == 2 * 7, "an epoch is as many steps as one pass (200 products / 32)"
    # uniform over the 3 categories: 200 products' worth, a third each, counted into their ancestors
    assert summary["train_examples_per_level"] == [200, 200, 67]
    assert set(model.output_names) == {F.level_output(k) for k in (1, 2, 3)}


def test_mean_level_accuracy_joins_the_epoch_logs_for_the_early_stopper() -> None:
    logs = {f"val_{F.level_output(1)}_accuracy": 0.9, f"val_{F.level_output(2)}_accuracy": 0.6, "val_loss": 1.0}
    MeanLevelAccuracy(3).on_epoch_end(0, logs)
    assert logs[MeanLevelAccuracy.KEY] == pytest.approx(0.75)


def test_training_can_stop_on_the_mean_level_accuracy(monkeypatch) -> None:  # noqa: ANN001
    config = Config.model_validate({"model": {
        "hidden_units": [8], "level_hidden_units": 4, "label_semantics": False, "label_prior": False,
        "merchant_feature": False, "token_weighting": "mean", "epochs": 3, "early_stopping_patience": 1,
        "early_stopping_monitor": "accuracy", "batch_size": 32}, "text": {"word_buckets": 64}})
    stoppers = []

    class Recording(tf.keras.callbacks.EarlyStopping):
        def __init__(self, **kwargs) -> None:  # noqa: ANN003
            super().__init__(**kwargs)
            stoppers.append(self)

    monkeypatch.setattr(tf.keras.callbacks, "EarlyStopping", Recording)
    _, summary = train(config, TAXONOMY.level_sizes(), _dataset(32, False), _dataset(32, False),
                       feature_dims={F.TOKENS: None}, strategy=tf.distribute.get_strategy())
    history = summary["history"][MeanLevelAccuracy.KEY]
    assert len(history) == summary["epochs_run"] and all(0.0 <= a <= 1.0 for a in history)
    assert stoppers[0].monitor == MeanLevelAccuracy.KEY and stoppers[0].best == max(history)
