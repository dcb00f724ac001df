"""The Evaluator's audit gate: off by default; on, the audited precision of the previous model is the floor."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_fixtures import TREE, fake_model

from prodcat.config import Config, ConfigError
from prodcat.review.items import QueueMeta
from prodcat.review.log import Decision, ReviewLog, now


def _floor(config: Config, taxonomy: Path) -> float | None:
    from prodcat.pipeline.pipeline import eval_config

    spec = eval_config(config, str(taxonomy)).metrics_specs[0]
    if "hierarchical_precision" not in spec.per_slice_thresholds:
        return None
    [threshold] = spec.per_slice_thresholds["hierarchical_precision"].thresholds
    return threshold.threshold.value_threshold.lower_bound.value


def _audit_log(tmp_path: Path, version: str, right: int, wrong: int) -> Path:
    log = ReviewLog(tmp_path / "review.sqlite")
    model = fake_model(tmp_path / "model", version)
    log.record_queue(QueueMeta("audit", str(model), version, 100, 100, {"Toys": 100}, {"Toys": right + wrong}, 0.1, 0.95))
    for n in range(right + wrong):
        log.record(Decision(f"{version}-{n}", "audit", version, f"p{n}", "accept", "3" if n < right else "4", "3", "Toys",
                            "ana", now(), {"id": f"p{n}"}))
    log.close()
    return tmp_path / "review.sqlite"


@pytest.mark.slow  # builds a TFMA EvalConfig (imports TensorFlow)
def test_the_audit_gate_floors_precision_at_the_newest_audit_and_is_off_by_default(tmp_path: Path) -> None:
    taxonomy = tmp_path / "taxonomy.txt"
    taxonomy.write_text(TREE, encoding="utf-8")
    log = _audit_log(tmp_path, "16", right=6, wrong=4)
    _audit_log(tmp_path, "17", right=9, wrong=1)  # the newer model's audit is the one to beat
    assert _floor(Config(), taxonomy) is None
    gated = Config.model_validate({"review": {"logs": [str(log)]}, "evaluation": {"audit_gate": True, "audit_tolerance": 0.05}})
    assert _floor(gated, taxonomy) == pytest.approx(0.9 - 0.05)
    no_audit = gated.model_copy(update={"review": gated.review.model_copy(update={"logs": (str(tmp_path / "none.sqlite"),)})})
    with pytest.raises(ConfigError, match="evaluation.audit_gate is on but no review log in review.logs .* holds audit"):
        _floor(no_audit, taxonomy)
