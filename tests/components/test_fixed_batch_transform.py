"""The pipeline's Transform batches products in fixed-size batches (reproducible features)."""

from __future__ import annotations

from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.proto import example_gen_pb2

from prodcat.components import fixed_batch_transform, nodes
from prodcat.config import Config
from prodcat.pipeline.pipeline import PipelineInputs, create_pipeline


def test_examples_are_batched_by_a_fixed_size() -> None:
    processor = fixed_batch_transform.FixedBatchProcessor()
    size = processor._GetDesiredBatchSize(example_gen_pb2.FORMAT_TF_EXAMPLE, schema_pb2.Schema())
    assert size == fixed_batch_transform.TRANSFORM_BATCH_SIZE


def test_tfx_keeps_its_own_choice_for_sequence_examples_decoded_raw() -> None:
    size = fixed_batch_transform.FixedBatchProcessor()._GetDesiredBatchSize(
        example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE, schema_pb2.Schema())  # no tensor representation: raw
    assert size == 1


def test_the_pipeline_runs_the_fixed_batch_executor(tmp_path: Path) -> None:
    pipeline = create_pipeline(Config(output_dir=str(tmp_path)), PipelineInputs(str(tmp_path / "data"), "*", "/taxonomy.txt"))
    transform = next(c for c in pipeline.components if c.id == nodes.TRANSFORM)
    assert transform.executor_spec.executor_class is fixed_batch_transform.Executor
