"""The Evaluator's baseline leaves the candidate out, so a repeated run does not judge a model against itself."""

from __future__ import annotations

from tfx.types import standard_artifacts

from prodcat.components.baseline_resolver import (BLESSING_KEY, CANDIDATE_KEY, MODEL_KEY,
                                                  LatestBlessedOtherModelStrategy)


def _model(artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(model_id: int, blessed: bool = True) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = 100 + model_id
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


def _resolve(models: list[int], blessed: list[int], candidate: int, unblessed: tuple[int, ...] = ()) -> list[int]:
    inputs = {MODEL_KEY: [_model(i) for i in models],
              BLESSING_KEY: [_blessing(i) for i in blessed] + [_blessing(i, False) for i in unblessed],
              CANDIDATE_KEY: [_model(candidate)]}
    resolved = LatestBlessedOtherModelStrategy().resolve_artifacts(None, inputs)  # type: ignore[arg-type]
    assert [a.id for a in resolved[CANDIDATE_KEY]] == [candidate]
    assert len(resolved[MODEL_KEY]) == len(resolved[BLESSING_KEY])
    return [a.id for a in resolved[MODEL_KEY]]


def test_a_cached_candidate_blessed_by_the_last_run_is_not_its_own_baseline() -> None:
    assert _resolve(models=[7], blessed=[7], candidate=7) == []  # first model, run again: still no baseline
    assert _resolve(models=[3, 7], blessed=[3, 7], candidate=7) == [3]  # the model blessed before it


def test_a_new_candidate_is_judged_against_the_latest_blessed_model() -> None:
    assert _resolve(models=[3, 5, 7, 9], blessed=[3, 7], candidate=9, unblessed=(5,)) == [7]
    assert _resolve(models=[3], blessed=[], candidate=4) == []
