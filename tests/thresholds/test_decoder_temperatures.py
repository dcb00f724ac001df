"""`thresholds.temperatures` in the serving decoder: same greedy path, calibrated confidences."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import SensitiveConfig, ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.thresholds.calibration import apply_temperature
from prodcat.trainer.decoding import HierarchicalDecoder


def test_temperatures_keep_the_greedy_path_and_calibrate_its_confidences(google_taxonomy: Taxonomy) -> None:
    rng = np.random.default_rng(0)
    probs = [rng.dirichlet(np.full(n, 0.2), size=32).astype(np.float32) for n in google_taxonomy.level_sizes()]
    plain = ThresholdConfig(per_level=(0.0,), sensitive=SensitiveConfig(paths=()))
    temperatures = (2.0, 0.5, 1.5)
    scaled = plain.model_copy(update={"temperatures": temperatures})
    before = HierarchicalDecoder(google_taxonomy, plain)([tf.constant(p) for p in probs])
    after = HierarchicalDecoder(google_taxonomy, scaled)([tf.constant(p) for p in probs])
    assert np.array_equal(before[F.OUT_LEVEL_IDS].numpy(), after[F.OUT_LEVEL_IDS].numpy())
    for k in range(google_taxonomy.depth):
        expected = apply_temperature(probs[k], scaled.temperature(k + 1))
        ids = before[F.OUT_LEVEL_IDS].numpy()[:, k]
        for row, cid in enumerate(ids):
            if cid:
                index = google_taxonomy.level_index(k + 1, cid.decode())
                np.testing.assert_allclose(after[F.OUT_LEVEL_CONFIDENCES].numpy()[row, k], expected[row, index], rtol=1e-5)
    assert scaled.temperature(4) == 1.0, "levels past the tuple are left as they are"
