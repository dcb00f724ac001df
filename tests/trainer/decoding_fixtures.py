"""Shared by the test_decoding_*.py files: no sensitive floors, random level probabilities, the tiny tree's name embeddings."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat.config import SensitiveConfig
from prodcat.taxonomy import Taxonomy

NO_SENSITIVE = SensitiveConfig(paths=())


def _random_probs(taxonomy: Taxonomy, batch: int, seed: int, concentration: float) -> list[tf.Tensor]:
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.dirichlet(np.full(n, concentration), size=batch).astype(np.float32))
            for n in taxonomy.level_sizes()]


def _tiny_names() -> list[np.ndarray]:
    """Path-name embeddings of the tiny tree: Toys, Garden | Kites, Pots | Stunt Kites."""
    return [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32),
            np.array([[0.9, 0.0, 0.1], [0.0, 2.0, 2.0]], np.float32),  # |Pots| = 2.8: cosine, not dot product
            np.array([[1.0, 0.0, 0.1]], np.float32)]
