"""The Evaluator's baseline: the latest blessed model that is not the candidate itself.

TFX's `LatestBlessedModelStrategy` returns the newest blessed model, whatever the candidate is.
When a run is repeated with nothing changed, the Trainer's model comes from the cache and was
blessed by the run before, so the stock strategy hands the candidate back as its own baseline:
the Evaluator runs again to compare the model with itself and the Pusher pushes it again as a
new version. With the candidate left out, a repeated run resolves the same baseline as the run
that first evaluated the model (usually none) and everything after the Trainer is cached too.

TFX's Kubeflow compiler only knows the stock strategy (it turns it into its own metadata
queries), so a pipeline compiled for Kubeflow keeps that one; see `pipeline.baseline_model_resolver`.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

import ml_metadata as mlmd

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"  # the model the Evaluator is about to judge


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):
    """`LatestBlessedModelStrategy` over every model except the candidate's artifact."""

    def resolve_artifacts(self, store: mlmd.MetadataStore,
                          input_dict: dict[str, list[types.Artifact]]) -> dict[str, list[types.Artifact]] | None:
        candidates = list(input_dict.get(CANDIDATE_KEY, []))
        excluded = {artifact.id for artifact in candidates}
        models = [model for model in input_dict.get(MODEL_KEY, []) if model.id not in excluded]
        blessings = list(input_dict.get(BLESSING_KEY, []))
        resolved = {MODEL_KEY: [], BLESSING_KEY: []}
        if models and blessings:
            resolved = self._resolve({MODEL_KEY: models, BLESSING_KEY: blessings}, MODEL_KEY, BLESSING_KEY)
        return {**resolved, CANDIDATE_KEY: candidates}
