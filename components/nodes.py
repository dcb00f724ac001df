"""The pipeline's node ids, spelled once: the DAG is built with them and every reader of a run
(summary, report, runs, lineage, tune-thresholds, the Kubeflow runner, benchmarks) looks nodes up
by them in ML Metadata."""

from __future__ import annotations

EXAMPLE_GEN = "ProductExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "ImportSchemaGen"  # "SchemaGen" when no curated schema is packaged
EXAMPLE_VALIDATOR = "ExampleValidator"
TRANSFORM = "Transform"
TRAINER = "Trainer"
THRESHOLD_TUNER = "ThresholdTuner"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"

# In the order they run (the threshold tuner only with thresholds.tune.enabled).
PIPELINE_ORDER = (EXAMPLE_GEN, STATISTICS_GEN, SCHEMA_GEN, EXAMPLE_VALIDATOR, TRANSFORM, TRAINER, THRESHOLD_TUNER,
                  EVALUATOR, PUSHER)
