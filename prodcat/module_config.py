"""What a pipeline component's code receives: the run's config and its taxonomy file.

TFX hands module files and executors a JSON `custom_config`; this is its one typed form. It also
carries a fingerprint of prodcat's own code, so that changing the model or features invalidates
TFX's cache even though the components name their functions by import path.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from prodcat.config import Config
from prodcat.taxonomy import Taxonomy

# The sources whose behaviour each component's output depends on (globs under the repo root).
DOMAIN_CODE = ("prodcat/*.py", "prodcat/config/*.py", "prodcat/synth/*.py", "prodcat/fuzz/*.py", "contract/*.py")
EXAMPLE_GEN_CODE = (*DOMAIN_CODE, "components/product_example_gen.py")
TRANSFORM_CODE = (*DOMAIN_CODE, "trainer/preprocessing.py", "trainer/text.py", "trainer/encoders/*.py",
                  "components/fixed_batch_transform.py")
TRAINER_CODE = (*DOMAIN_CODE, "trainer/**/*.py")
EVALUATOR_CODE = (*DOMAIN_CODE, "components/hierarchical_metrics.py", "components/hierarchical_counts.py")


@dataclasses.dataclass(frozen=True)
class ModuleConfig:
    config: Config
    taxonomy_path: str

    def to_custom_config(self, code: tuple[str, ...] = DOMAIN_CODE) -> dict[str, Any]:
        """The component's custom_config; `code` names the sources its output depends on."""
        return {
            "config": self.config.model_dump(mode="json"),
            "taxonomy_path": self.taxonomy_path,
            "code_fingerprint": code_fingerprint(code),
        }

    @classmethod
    def from_custom_config(cls, custom_config: dict[str, Any] | str | None) -> ModuleConfig:
        if isinstance(custom_config, str):
            custom_config = json.loads(custom_config)
        if not custom_config or "taxonomy_path" not in custom_config:
            raise ValueError("component custom_config lacks prodcat's config; build the pipeline with prodcat.pipeline")
        return cls(Config.model_validate(custom_config["config"]), custom_config["taxonomy_path"])

    def taxonomy(self) -> Taxonomy:
        return load_component_taxonomy(self.taxonomy_path)


@functools.lru_cache(maxsize=4)
def load_component_taxonomy(path: str) -> Taxonomy:
    if "://" in path:  # a cluster's gs:// or s3:// pipeline root: Beam's filesystems read those
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as handle:
            text = handle.read().decode("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return Taxonomy.from_google_text(text, source=path)


@functools.lru_cache(maxsize=16)
def code_fingerprint(globs: tuple[str, ...]) -> str:
    """Hash of the prodcat sources matching `globs` (relative to the source tree root)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted({p for pattern in globs for p in root.glob(pattern)}):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
