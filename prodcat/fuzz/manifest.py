"""The manifest: which record is where and what ingestion must do with it, saved next to the data.

Tests compare ingestion's Examples and rejects with it, under either image policy, without knowing
how the corpus was made.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Literal

from prodcat.fuzz.config import FuzzConfig
from prodcat.fuzz.kinds import Outcome

ImagePolicy = Literal["drop_image", "reject"]

MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True)
class FuzzRecord:
    """One record of the corpus: where it starts, its id (None if unreadable), what it tests."""

    file: str
    line: int
    id: str | None
    kind: str
    field: str | None
    outcome: Outcome


@dataclasses.dataclass(frozen=True)
class FuzzManifest:
    """Which record is where and what ingestion must do with it."""

    config: FuzzConfig
    files: tuple[str, ...]
    records: tuple[FuzzRecord, ...]

    def kept_ids(self, on_bad_image: ImagePolicy) -> set[str]:
        """Ids that must reach the Examples."""
        keep = {"good", "image"} if on_bad_image == "drop_image" else {"good"}
        return {r.id for r in self.records if r.outcome in keep and r.id is not None}

    def rejected(self, on_bad_image: ImagePolicy) -> list[FuzzRecord]:
        """Records that must be in the rejects file, in file and line order."""
        bad = {"bad", "image"} if on_bad_image == "reject" else {"bad"}
        return sorted((r for r in self.records if r.outcome in bad), key=lambda r: (r.file, r.line))

    def dropped_images(self, on_bad_image: ImagePolicy) -> list[FuzzRecord]:
        """Records that must be kept without their image."""
        if on_bad_image == "reject":
            return []
        return sorted((r for r in self.records if r.outcome == "image"), key=lambda r: (r.file, r.line))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        payload = {"config": dataclasses.asdict(self.config), "files": list(self.files),
                   "records": [dataclasses.asdict(r) for r in self.records]}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FuzzManifest:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(FuzzConfig(**payload["config"]), tuple(payload["files"]),
                   tuple(FuzzRecord(**r) for r in payload["records"]))
