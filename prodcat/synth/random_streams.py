"""The generator's seeded random streams: one independent stream per purpose.

Separate streams keep one knob from shifting another's draws: switching images on, or raising
label noise, leaves every title as it was. The stream names and seeds are part of the output;
changing one changes every generated dataset (and the demo data's content address).
"""

from __future__ import annotations

import random

import numpy as np


def stream(seed: int, name: str) -> random.Random:
    """The `random.Random` stream `name` of generator seed `seed`."""
    # String seeds are hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
    return random.Random(f"prodcat.synth:{seed}:{name}")


def image_stream(seed: int) -> np.random.Generator:
    """The numpy stream that jitters and speckles the images (a numpy seed must be non-negative)."""
    return np.random.default_rng([abs(seed), 1 if seed < 0 else 0, 7])
