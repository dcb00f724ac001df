"""ThresholdTuner: tunes the trained model's confidence floors on the eval split and re-exports it.

Placed between Trainer and Evaluator (with `thresholds.tune.enabled`):

    Trainer -> ThresholdTuner -> Evaluator -> Pusher

so the Evaluator gates exactly the model that will serve (tuned thresholds in its graph) and the
Pusher pushes that same artifact. Tuning between Evaluator and Pusher would push a model whose
served predictions no gate has seen.

The tuner picks per-level floors with the highest coverage at hierarchical precision >=
`thresholds.tune.target_precision`, sensitive-subtree floors for `sensitive_precision`, and, with
`calibrate`, per-level temperatures (`prodcat.thresholds`). It re-exports the Trainer's model with
them (no retraining: the thresholds are constants of the serving graph) as its `tuned_model`
output, whose assets.extra holds the updated config and `threshold_tuning.json`; the full result
(curves per level included) is also its `report` artifact. If the overall target cannot be reached
on the eval split, the component fails with the best precision it found, and nothing is pushed.

Cost: reloading the model, one pass over the eval split and one export (tens of seconds on the
demo), which is why it is off by default.

The thresholds are chosen and then measured on the same eval split, so the Evaluator's figures
for a tuned model are slightly optimistic (a handful of parameters fitted on that split).
"""

# No `from __future__ import annotations`: TFX reads the component's signature from live type hints.
import json
import logging
import os

from tfx import v1 as tfx
from tfx.types import artifact as tfx_artifact
from tfx.types import standard_artifacts

from prodcat.components import nodes
from prodcat.module_config import DOMAIN_CODE

# The sources the tuned model depends on (beyond its inputs): the search, the re-export (the
# Trainer's signatures and decoder) and this component.
TUNER_CODE = (*DOMAIN_CODE, "prodcat/thresholds/*.py", "trainer/**/*.py", "components/threshold_tuner.py")
REPORT_FILE = "threshold_tuning.json"


class ThresholdTuning(tfx_artifact.Artifact):
    """The tuning result as JSON (`threshold_tuning.json`): thresholds, achieved precision and
    coverage per target and sensitive slice, precision-coverage curves per level."""

    TYPE_NAME = "prodcat.ThresholdTuning"


@tfx.dsl.components.component
def ThresholdTuner(  # noqa: N802 (a TFX component class name)
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    transform_graph: tfx.dsl.components.InputArtifact[standard_artifacts.TransformGraph],
    tuned_model: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
    report: tfx.dsl.components.OutputArtifact[ThresholdTuning],
    custom_config: tfx.dsl.components.Parameter[str],
) -> None:
    from tfx.dsl.io import fileio
    from tfx.types import artifact_utils
    from tfx.utils import path_utils

    from prodcat.module_config import ModuleConfig
    from prodcat.trainer import retune
    from prodcat.thresholds.result_table import format_result
    from prodcat.thresholds.search import ThresholdTuningError
    from prodcat.thresholds.tuning import tune

    settings = ModuleConfig.from_custom_config(custom_config).config.thresholds.tune
    trained = retune.load_model(path_utils.serving_model_path(model.uri), transform_graph.uri)
    split = artifact_utils.get_split_uri([examples], "eval")
    files = sorted(os.path.join(split, name) for name in fileio.listdir(split))
    predictions = retune.eval_predictions(trained, files, settings.max_products, with_probs=settings.calibrate)
    result = tune(trained.taxonomy, predictions, trained.thresholds, settings.target_precision,
                  settings.sensitive_precision, settings.calibrate,
                  retune.decoder_for(trained, predictions) if settings.calibrate else None)
    details = result.as_dict() | {"model": model.uri, "eval_files": files}
    fileio.makedirs(report.uri)
    with fileio.open(os.path.join(report.uri, REPORT_FILE), "w") as handle:
        handle.write(json.dumps(details, indent=2))
    logging.getLogger("prodcat.thresholds").info("%s", format_result(result))
    if not result.reached:
        raise ThresholdTuningError(f"{nodes.THRESHOLD_TUNER}: {result.message}")
    retune.export_model(trained, result.thresholds, path_utils.serving_model_dir(tuned_model.uri), details)
    for artifact in (tuned_model, report):
        artifact.set_float_custom_property("target_precision", result.target_precision)
        artifact.set_float_custom_property("hierarchical_precision", result.achieved.precision)
        artifact.set_float_custom_property("coverage", result.achieved.coverage)
        artifact.set_string_custom_property("per_level", json.dumps(list(result.thresholds.per_level)))
