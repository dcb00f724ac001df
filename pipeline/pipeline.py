"""The one place the prodcat DAG is wired.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer -> Evaluator
-> Pusher, with the latest blessed model resolved as the Evaluator's baseline. The local runner
and the Kubeflow runner both call `create_pipeline` with the same config.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from prodcat import features as F
from prodcat.components import (
    atomic_pusher, baseline_resolver, fixed_batch_transform, hierarchical_metrics, nodes, product_example_gen, threshold_tuner,
)
from prodcat.config import Config
from prodcat.contract.signatures import EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE
from prodcat.pipeline import portable_beam
from prodcat.module_config import EVALUATOR_CODE, EXAMPLE_GEN_CODE, TRAINER_CODE, TRANSFORM_CODE, ModuleConfig, code_fingerprint

PREPROCESSING_FN = "prodcat.trainer.preprocessing.preprocessing_fn"
RUN_FN = "prodcat.trainer.run.run_fn"
CURATED_SCHEMA = Path(__file__).resolve().parent / "schema" / "schema.pbtxt"


@dataclasses.dataclass(frozen=True)
class PipelineInputs:
    """Where a run reads from: product files and the staged taxonomy file."""

    data_root: str          # a directory of product files
    data_pattern: str       # glob of the files inside data_root
    taxonomy_path: str      # content-addressed copy of the taxonomy (see local_runner.stage_taxonomy)


@dataclasses.dataclass(frozen=True)
class PipelineTarget:
    """Where a run writes: local paths for the local runner, gs:// or s3:// URIs on a cluster.

    `metadata` is None when the orchestrator brings its own ML Metadata (Kubeflow, Vertex).
    """

    pipeline_root: str
    serving_base: str
    metadata: object | None = None

    @classmethod
    def local(cls, config: Config) -> PipelineTarget:
        return cls(
            pipeline_root=str(config.pipeline_root),
            serving_base=str(config.serving_base),
            metadata=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(config.metadata_path)),
        )


def input_config(config: Config, inputs: PipelineInputs) -> example_gen_pb2.Input:
    """One input split to be hashed, or the train/eval files as given (`split.method: files`)."""
    if config.split.method == "files":
        return example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="train", pattern=config.split.train_pattern),
            example_gen_pb2.Input.Split(name="eval", pattern=config.split.eval_pattern),
        ])
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="products", pattern=inputs.data_pattern)])


def split_config(config: Config) -> example_gen_pb2.Output:
    """Hash buckets of train and eval (hashed on the product, or by shop in ProductExampleGen); none for files."""
    if config.split.method == "files":
        return example_gen_pb2.Output()
    eval_buckets = max(1, round(config.split.buckets * config.split.eval_fraction))
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=config.split.buckets - eval_buckets),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
    ]))


def eval_config(config: Config, taxonomy_path: str) -> tfma.EvalConfig:
    """Overall slice, hierarchical metrics, and the gates that bless or block a model."""
    gates = config.evaluation
    spec = hierarchical_metrics.metrics_spec(
        taxonomy_path, code_fingerprint(EVALUATOR_CODE), config.thresholds.sensitive.paths)
    # Gates apply to the overall slice; the other slices are reported, not gated (a small slice
    # with no served prediction has no defined precision and must not block a model).
    overall = [tfma.SlicingSpec()]

    def gate(metric: str, threshold: tfma.MetricThreshold) -> None:
        spec.per_slice_thresholds[metric].thresholds.add(slicing_specs=overall, threshold=threshold)

    gate("hierarchical_f1", tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gates.min_hierarchical_f1}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -gates.max_f1_regression}),
    ))
    gate("coverage", tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gates.min_coverage})))
    if gates.min_sensitive_precision > 0:
        gate("sensitive_hierarchical_precision", tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gates.min_sensitive_precision})))
    if gates.min_sensitive_predicted_precision > 0:
        # Sliced on the prediction, which no feature slice can do: how often a served sensitive
        # category is right (the true category lies in the same sensitive subtree).
        gate("sensitive_predicted_precision", tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gates.min_sensitive_predicted_precision})))
    if gates.audit_gate:
        # Reviewers measured the previous model's precision on served products; the new model must
        # not look worse on the eval split (the offline figure counts partly right paths, so this is lenient).
        from prodcat.review.stats import previous_audit
        from prodcat.taxonomy import Taxonomy

        audit = previous_audit(config.review.logs, Taxonomy.from_file(taxonomy_path))
        gate("hierarchical_precision", tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": max(audit.precision.value - gates.audit_tolerance, 0.0)})))
    slices = [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[key]) for key in (
        F.SLICE_LEVEL1, F.SLICE_SENSITIVE, F.LANGUAGE, F.SHOP)]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=EXAMPLES_SIGNATURE, preprocessing_function_names=[TRANSFORM_SIGNATURE])],
        slicing_specs=slices,
        metrics_specs=[spec],
    )


def baseline_model_resolver(candidate: tfx.dsl.Channel, compiled_for_cluster: bool) -> tfx.dsl.Resolver:
    """The latest blessed model other than `candidate`, so a repeated run is cached to the end.

    A cluster's compiler (TFX's Kubeflow V2) only knows TFX's own strategy, which may hand the
    candidate back as its own baseline; there the resolver keeps that strategy.
    """
    channels = {
        baseline_resolver.MODEL_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        baseline_resolver.BLESSING_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    }
    if compiled_for_cluster:
        return tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
                                **channels).with_id(nodes.BASELINE_RESOLVER)
    return tfx.dsl.Resolver(strategy_class=baseline_resolver.LatestBlessedOtherModelStrategy,
                            **channels, **{baseline_resolver.CANDIDATE_KEY: candidate}).with_id(nodes.BASELINE_RESOLVER)


def create_pipeline(config: Config, inputs: PipelineInputs, target: PipelineTarget | None = None) -> tfx.dsl.Pipeline:
    """Builds the TFX pipeline for `config`; runners add only orchestration details.

    `target` defaults to the local layout under `config.output_dir`.
    """
    target = target or PipelineTarget.local(config)
    module_config = ModuleConfig(config, inputs.taxonomy_path)

    example_gen = FileBasedExampleGen(
        input_base=inputs.data_root,
        input_config=input_config(config, inputs),
        output_config=split_config(config),
        custom_config=product_example_gen.make_custom_config(module_config.to_custom_config(EXAMPLE_GEN_CODE)),
        custom_executor_spec=executor_spec.BeamExecutorSpec(product_example_gen.Executor),
    ).with_id(nodes.EXAMPLE_GEN)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"]).with_id(nodes.STATISTICS_GEN)
    if CURATED_SCHEMA.exists():
        schema_gen = tfx.components.ImportSchemaGen(schema_file=str(CURATED_SCHEMA)).with_id(nodes.SCHEMA_GEN)
    else:
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]).with_id(nodes.EXAMPLE_VALIDATOR)
    transform = fixed_batch_transform.FixedBatchTransform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=module_config.to_custom_config(TRANSFORM_CODE)).with_id(nodes.TRANSFORM)
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config=module_config.to_custom_config(TRAINER_CODE),
    ).with_id(nodes.TRAINER)
    # thresholds.tune.enabled: the Trainer's model re-exported with thresholds tuned on the eval
    # split; the Evaluator gates, and the Pusher pushes, that model (what will serve).
    tuning = []
    served_model = trainer.outputs["model"]
    if config.thresholds.tune.enabled:
        tuner = threshold_tuner.ThresholdTuner(
            model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            custom_config=json.dumps(module_config.to_custom_config(threshold_tuner.TUNER_CODE)),
        ).with_id(nodes.THRESHOLD_TUNER)
        tuning, served_model = [tuner], tuner.outputs["tuned_model"]
    model_resolver = baseline_model_resolver(served_model, compiled_for_cluster=target.metadata is None)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=served_model,
        baseline_model=model_resolver.outputs["model"],
        eval_config=eval_config(config, inputs.taxonomy_path),
    ).with_id(nodes.EVALUATOR)
    pusher = tfx.components.Pusher(
        model=served_model,
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=target.serving_base)),
        custom_executor_spec=executor_spec.ExecutorClassSpec(atomic_pusher.Executor),
    ).with_id(nodes.PUSHER)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=target.pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, trainer, *tuning,
                    model_resolver, evaluator, pusher],
        enable_cache=config.enable_cache,
        metadata_connection_config=target.metadata,
        beam_pipeline_args=portable_beam.pipeline_args(config.beam),
    )
