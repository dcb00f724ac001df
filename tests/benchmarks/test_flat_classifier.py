"""The ablation benchmark's flat leaf classifier: per-level outputs summed from one distribution,
trained by the Trainer's own `train` through a network builder."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat.benchmarks.flat_classifier import FLAT_OUTPUT, build_flat_model, flat_network
from prodcat import features as F
from prodcat.config import Config, ModelConfig, TextConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.run import train
from prodcat.trainer.sampling import CATEGORY_LABEL, CategoryLayout

TAXONOMY = Taxonomy.from_paths(["A", "A > A1", "A > A2", "A > A1 > A1x", "B", "B > B1"])


def test_flat_classifier_levels_are_subtree_sums_of_one_distribution(tmp_path) -> None:  # noqa: ANN001
    layout = CategoryLayout.from_taxonomy(TAXONOMY)
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, label_semantics=False)
    model = build_flat_model(layout, config, TextConfig(word_buckets=64), {F.TOKENS: None})
    out = model({F.TOKENS: tf.sparse.from_dense(tf.constant([[1, 2], [3, 4]], tf.int64))})
    flat = out[FLAT_OUTPUT].numpy()
    order = [cid for k in (1, 2, 3) for cid in TAXONOMY.level_ids(k)]
    for level in (1, 2, 3):
        for j, cid in enumerate(TAXONOMY.level_ids(level)):
            members = [i for i, c in enumerate(order) if cid in TAXONOMY.ancestors(c)]
            np.testing.assert_allclose(out[F.level_output(level)].numpy()[:, j], flat[:, members].sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(out[F.level_output(1)].numpy().sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "flat")
    restored = tf.keras.models.load_model(tmp_path / "flat")
    np.testing.assert_allclose(restored({F.TOKENS: tf.sparse.from_dense(tf.constant([[1, 2], [3, 4]], tf.int64))})[
        F.level_output(3)].numpy(), out[F.level_output(3)].numpy(), atol=1e-6)


def test_the_trainer_trains_the_flat_classifier_on_each_products_own_category() -> None:
    layout = CategoryLayout.from_taxonomy(TAXONOMY)
    labels = np.array([(0, 0, 0), (0, 1, -1), (1, 2, -1)] * 32, np.int64)
    tokens = np.where(labels >= 0, labels + np.array([1, 10, 20]), 0)

    def as_model_inputs(f: dict, y: dict) -> tuple[dict, dict]:
        y = {F.level_output(k): y[:, k - 1] for k in (1, 2, 3)}
        y[CATEGORY_LABEL] = layout.category_label([y[F.level_output(k)] for k in (1, 2, 3)])
        return {F.TOKENS: tf.sparse.from_dense(f)}, y

    data = tf.data.Dataset.from_tensor_slices((tokens, labels)).batch(16).map(as_model_inputs)
    config = Config.model_validate({"model": {
        "hidden_units": [8], "level_hidden_units": 4, "label_semantics": False, "label_prior": False,
        "merchant_feature": False, "epochs": 2, "margin_head": {"enabled": False}}, "text": {"word_buckets": 64}})
    model, summary = train(config, TAXONOMY.level_sizes(), data, data, feature_dims={F.TOKENS: None},
                           strategy=tf.distribute.get_strategy(), category_layout=layout, network=flat_network(layout))
    assert model.name == "prodcat_flat" and FLAT_OUTPUT in model.output_names
    assert summary["epochs_run"] == 2 and summary["train_examples_per_level"] == [96, 96, 32]
    wide = model.get_layer("wide_path")
    assert wide.n_classes == [6] and wide.n_seen == 3, "one output: the 3 categories with products of all 6"
