"""How `benchmarks.ablation` gets paths from a trained variant, the way the served model would.

The evaluation products go through the pipeline run's Transform graph, the variant predicts
each level's probabilities, and the serving graph's own decoder turns them into paths, so
variants differ only in their model, never in how their output is read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np  # noqa: E402


def transform_products(products: Sequence, taxonomy, tft_output) -> tuple[dict, list[str]]:  # noqa: ANN001
    """Raw products through the run's Transform graph (what the serving graph does)."""
    import tensorflow as tf

    from prodcat.contract.examples import product_to_example

    serialized = [product_to_example(p, taxonomy.resolve(p.category).id).SerializeToString() for p in products]
    layer = tft_output.transform_features_layer()
    spec = tft_output.raw_feature_spec()
    batches = [layer(tf.io.parse_example(tf.constant(serialized[i:i + 256]), spec)) for i in range(0, len(serialized), 256)]
    return batches, [p.id for p in products]


def predict_levels(model, batches: list[dict], n_levels: int) -> list[np.ndarray]:  # noqa: ANN001
    from prodcat import features as F

    names = list(model.input.keys())
    outs = [model({n: b[n] for n in names}, training=False) for b in batches]
    return [np.concatenate([o[F.level_output(k)].numpy() for o in outs]) for k in range(1, n_levels + 1)]


def decode(taxonomy, probs: list[np.ndarray], beam_width: int = 1, category_names=None,  # noqa: ANN001
           sentences: np.ndarray | None = None, seen_classes=None) -> tuple[list[list[str]], list[float]]:  # noqa: ANN001
    """Full-depth paths and confidences (smallest level confidence) from the serving decoder;
    with `category_names` and `sentences`, the default name fallback too (to the classes
    `seen_classes` marks unseen, as served)."""
    import tensorflow as tf

    from prodcat.config import ThresholdConfig
    from prodcat.contract.signatures import predictions_from_outputs
    from prodcat.trainer.decoding import HierarchicalDecoder

    decoder = HierarchicalDecoder(taxonomy, ThresholdConfig(), beam_width=beam_width, category_names=category_names,
                                  seen_classes=seen_classes)
    outputs = {k: v.numpy() for k, v in decoder([tf.constant(p) for p in probs],
                                                 None if sentences is None else tf.constant(sentences)).items()}
    predictions = predictions_from_outputs([str(i) for i in range(len(probs[0]))], outputs, full_depth=True)
    return ([[lv.id for lv in p.levels] for p in predictions],
            [min((lv.confidence for lv in p.levels), default=0.0) for p in predictions])
