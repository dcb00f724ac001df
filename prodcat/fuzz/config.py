"""What a fuzz corpus holds: how many good and bad records, the seed, and the ingestion limits.

The limits decide which values are bad (over-long fields, huge image files), so ingestion must use
the same ones: pass them to `IngestConfig` when ingesting the corpus.
"""

from __future__ import annotations

import dataclasses

from prodcat.records import MAX_FIELD_CHARS


@dataclasses.dataclass(frozen=True)
class FuzzConfig:
    """What to generate; pass the same limits to `IngestConfig` when ingesting the corpus."""

    n_good: int = 10_000
    n_bad: int = 1_000  # every kind below, "image" kinds included
    seed: int = 0
    max_field_chars: int = MAX_FIELD_CHARS  # over-long values exceed it, one good title meets it
    max_image_bytes: int = 64 * 1024  # "huge" image files exceed it (small, so the corpus stays small)
    huge_title_chars: int = 1_000_000
    n_huge_titles: int = 3  # of the bad records; each is `huge_title_chars` long
    image_every: int = 40  # one good product in this many has a valid image
