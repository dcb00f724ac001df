"""Batch prediction as a Beam job (RunInference), for catalogues that need a cluster.

Same model, same signature and same output lines as `prodcat predict`; Beam parallelises over
input files and batches of products, so it scales out on Dataflow/Flink/Spark by runner flags.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from prodcat.contract.examples import TFRECORD_READERS
from prodcat.contract.signatures import PREDICT_READ_OPTIONS, Prediction
from prodcat.readers import input_files, iter_products
from prodcat.records import Product, RecordError
from prodcat.serving.predict import Predictor, resolve_model_dir


class ProductModelHandler(ModelHandler[Product, Prediction, Predictor]):
    """Loads a pushed prodcat model once per worker and predicts batches of products."""

    def __init__(self, model_dir: str, full_depth: bool = False, max_batch_size: int = 256) -> None:
        self._model_dir = model_dir
        self._full_depth = full_depth
        self._max_batch_size = max_batch_size

    def load_model(self) -> Predictor:
        return Predictor(self._model_dir)

    def run_inference(self, batch: Sequence[Product], model: Predictor, inference_args: dict[str, Any] | None = None) -> Iterable[Prediction]:
        return model.predict(list(batch), self._full_depth)

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": 16, "max_batch_size": self._max_batch_size}


class _ReadProducts(beam.DoFn):
    """A product file in, its products out; bad records go to the 'rejects' output."""

    def process(self, path: str) -> Iterable[Any]:
        rejects: list[RecordError] = []
        yield from iter_products(path, rejects, options=PREDICT_READ_OPTIONS, extra_readers=TFRECORD_READERS)
        for error in rejects:
            yield beam.pvalue.TaggedOutput("rejects", json.dumps(error.to_dict(), ensure_ascii=False))


def run_beam_predict(
    model_dir: str | os.PathLike, input_path: str | os.PathLike, output_prefix: str,
    full_depth: bool = False, beam_args: Sequence[str] = (),
) -> None:
    """Writes `<output_prefix>-NNNNN-of-NNNNN.jsonl` predictions and `<output_prefix>-rejects...`."""
    files = [str(f) for f in input_files(input_path)]
    handler = ProductModelHandler(str(resolve_model_dir(model_dir)), full_depth)
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        products = (pipeline | "Files" >> beam.Create(files)
                    | "Read" >> beam.ParDo(_ReadProducts()).with_outputs("rejects", main="products"))
        _ = (products.products
             | "Predict" >> RunInference(handler)
             | "ToJson" >> beam.Map(lambda p: json.dumps(p.to_json_dict(), ensure_ascii=False))
             | "Write" >> beam.io.WriteToText(output_prefix, file_name_suffix=".jsonl"))
        _ = products.rejects | "WriteRejects" >> beam.io.WriteToText(output_prefix + "-rejects", file_name_suffix=".jsonl")
    quiet_model_teardown_at_exit()


def quiet_model_teardown_at_exit() -> None:
    """Keeps interpreter exit silent after a local Beam job.

    RunInference's shared model cache holds the loaded SavedModel until the interpreter exits; by
    then TensorFlow's module globals are gone, and each of the model's functions fails its
    `AtomicFunction.__del__` with a TypeError that Python prints as "Exception ignored" (a score of
    tracebacks after every job, nothing wrong). Exactly those, and only while the interpreter is
    finalizing, are dropped; everything else reaches the previous hook.
    """
    # Defaults bind what the hook needs: module globals may be gone when it runs.
    def drop_tensorflow_teardown_errors(unraisable: Any, previous: Any = sys.unraisablehook,
                                        finalizing: Any = sys.is_finalizing) -> None:
        if finalizing() and getattr(unraisable.object, "__qualname__", "") == "AtomicFunction.__del__":
            return
        previous(unraisable)

    if getattr(sys.unraisablehook, "__name__", "") != drop_tensorflow_teardown_errors.__name__:  # once per process
        sys.unraisablehook = drop_tensorflow_teardown_errors
