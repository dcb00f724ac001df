"""TFX's Transform with batches of a fixed size, so that a run is reproducible.

TFX reads Transform's input with Beam's `BatchElements`, which sizes each batch by how long the
previous ones took, so the batch a product lands in changes from run to run. The sentence
encoder's float sums depend on the batch (it pads to the batch's longest text), so two runs over
the same products differed in the seventh digit of some embeddings, and the Trainer amplified
that into a different model (tests/pipeline/test_golden_predictions.py caught it on a Shopify
run). With fixed batches the same products give bit-identical features, and the seeded Trainer
the same model.
"""

from __future__ import annotations

from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.transform import component as tfx_transform_component
from tfx.components.transform import executor as tfx_transform
from tfx.dsl.components.base import executor_spec

TRANSFORM_BATCH_SIZE = 256  # products per batch: the encoder's throughput is flat from about 100


class FixedBatchProcessor(tfx_transform.TransformProcessor):
    """TFX's Transform processor; only the batch size is pinned (TFX's own choice still wins where
    it makes one: sequence examples decoded as raw records, one by one)."""

    def _GetDesiredBatchSize(self, data_format: int, schema: schema_pb2.Schema) -> int:
        return super()._GetDesiredBatchSize(data_format, schema) or TRANSFORM_BATCH_SIZE


class Executor(tfx_transform.Executor):
    """TFX's Transform executor running `FixedBatchProcessor`. TFX's `Do` builds its processor
    from the module's `TransformProcessor` name and takes no other, so that name points to ours
    while `Do` runs (one executor per process)."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        stock = tfx_transform.TransformProcessor
        tfx_transform.TransformProcessor = FixedBatchProcessor
        try:
            super().Do(input_dict, output_dict, exec_properties)
        finally:
            tfx_transform.TransformProcessor = stock


class FixedBatchTransform(tfx_transform_component.Transform):
    """TFX's Transform component running the executor above (its constructor takes no executor spec)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
