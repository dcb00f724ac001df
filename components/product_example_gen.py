"""ExampleGen executor for canonical product files (JSONL, CSV incl. Shopify exports, Parquet, TFRecord).

It reads products with `prodcat.records` (the same readers the CLI and importers use), resolves
each label to a taxonomy id, normalises images, drops later records that repeat an id, and emits
tf.Examples. When reviewers relabelled the products (`review.logs`), the review logs that did it
are recorded on the Examples artifact (custom property `review_logs`). Every bad record is written, with its file, line, field and id, to
`Rejects/<split>-rejects.jsonl` inside the Examples artifact; then `ingest.on_bad_record` decides:
`quarantine` keeps the good records as the output, `fail` fails the component naming the first bad
record and leaves no output behind. Products kept without their image (`ingest.on_bad_image:
drop_image`) are listed in `DroppedImages/<split>-dropped-images.jsonl`, not among the rejects:
they are not bad records.

The decision is taken after every file has been read, not at the first bad record, so the
message names the same (first in file and line order) record whatever order Beam read the files
in, and duplicate ids are found across files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import tensorflow as tf
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from prodcat import features as F
from prodcat.components.shop_split import read_decision, split_by_shop, write_decision
from prodcat.config.data import REVIEW_LOGS_PROPERTY, REVIEW_PROVENANCE_FILE, SPLIT_PROPERTY
from prodcat.contract.examples import TFRECORD_READERS, product_to_example
from prodcat.images import ImageError, normalize_image
from prodcat.module_config import ModuleConfig
from prodcat.records import RecordError, resolve_category
from prodcat.readers import SUPPORTED_SUFFIXES, iter_numbered_products

REJECTS_DIR = "Rejects"
DROPPED_IMAGES_DIR = "DroppedImages"
REJECTS_TAG = "rejects"
DROPPED_IMAGES_TAG = "dropped_images"
CLAIMS_TAG = "claims"

Location = tuple[str, int]  # (file, line) of a record


def make_custom_config(values: dict[str, Any]) -> example_gen_pb2.CustomConfig:
    """Packs prodcat's JSON config into ExampleGen's CustomConfig (an Any holding a Struct)."""
    struct = struct_pb2.Struct()
    struct.update(values)
    custom = example_gen_pb2.CustomConfig()
    custom.custom_config.Pack(struct)
    return custom


def read_custom_config(exec_properties: dict[str, Any]) -> dict[str, Any]:
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return {}
    custom = raw if isinstance(raw, example_gen_pb2.CustomConfig) else json_format.Parse(raw, example_gen_pb2.CustomConfig())
    struct = struct_pb2.Struct()
    custom.custom_config.Unpack(struct)
    return json_format.MessageToDict(struct)


class BadRecordsError(RecordError):
    """Raised (policy 'fail') with the first bad record's location and how many there were."""

    @classmethod
    def from_rejects(cls, rejects: list[dict[str, Any]]) -> BadRecordsError:
        first = rejects[0]
        more = (f"{len(rejects)} bad records in total, the first shown" if len(rejects) > 1
                else "the only bad record")
        return cls(first["source"], first["line"], first["field"],
                   f"{first['error']} ({more}; ingest.on_bad_record is 'fail', so nothing was written: fix "
                   f"the input, or set it to 'quarantine' to keep the good records and list the bad ones in "
                   f"{REJECTS_DIR}/)", record_id=first.get("id"))


def reject_line(error: RecordError, record_id: str | None = None) -> str:
    """One line of a rejects file: where the record is, which field, its id if known, and why."""
    return json.dumps({"source": error.source, "line": error.line, "field": error.field,
                       "id": record_id if record_id is not None else error.record_id, "error": error.reason},
                      ensure_ascii=False)


def _reject_order(line: str) -> tuple[str, int]:
    record = json.loads(line)
    return record["source"], record["line"] or 0


def read_rejects(examples_uri: str, folder: str = REJECTS_DIR) -> list[dict[str, Any]]:
    """Every line of an Examples artifact's rejects (or dropped-images) files, in file and line order."""
    lines: list[str] = []
    for path in sorted(fileio.glob(os.path.join(examples_uri, folder, "*.jsonl"))):
        lines += [line for line in io_utils.read_string_file(path).splitlines() if line.strip()]
    return [json.loads(line) for line in sorted(lines, key=_reject_order)]


class _ReadProducts(beam.DoFn):
    """One input file in; (id, file, line, serialized tf.Example) out.

    Bad records go to the rejects output, products kept without their image to the dropped-images
    output, and every record that parsed claims its id (for the cross-file duplicate check).
    """

    def __init__(self, custom_config: dict[str, Any], require_label: bool) -> None:
        self._custom_config = custom_config
        self._require_label = require_label
        self._rejected = beam.metrics.Metrics.counter("prodcat", "rejected_records")
        self._read = beam.metrics.Metrics.counter("prodcat", "products")
        self._bad_images = beam.metrics.Metrics.counter("prodcat", "dropped_images")

    def setup(self) -> None:
        module_config = ModuleConfig.from_custom_config(self._custom_config)
        self._taxonomy = module_config.taxonomy()
        ingest = module_config.config.ingest
        # Image problems found by the reader and by decoding are judged alike, below.
        self._options = dataclasses.replace(ingest.read_options(), keep_bad_images=True)
        self._reject_bad_images = ingest.on_bad_image == "reject"

    def _reject(self, error: RecordError, record_id: str | None = None) -> beam.pvalue.TaggedOutput:
        self._rejected.inc()
        return beam.pvalue.TaggedOutput(REJECTS_TAG, reject_line(error, record_id))

    def process(self, path: str) -> Iterator[Any]:
        rejects: list[RecordError] = []
        for line, product in iter_numbered_products(path, rejects, options=self._options, extra_readers=TFRECORD_READERS):
            yield beam.pvalue.TaggedOutput(CLAIMS_TAG, (product.id, (path, line)))
            try:
                category_id = resolve_category(product, self._taxonomy, path, line, self._require_label)
            except RecordError as error:
                yield self._reject(error, product.id)
                continue
            problem = product.image_error
            if product.image is not None:
                try:
                    product.image = normalize_image(product.image)
                except ImageError as err:
                    problem = str(err)
            if problem:
                image_error = RecordError(path, line, F.IMAGE, problem, record_id=product.id)
                if self._reject_bad_images:
                    yield self._reject(image_error)
                    continue
                self._bad_images.inc()
                product.image = None
                yield beam.pvalue.TaggedOutput(DROPPED_IMAGES_TAG, reject_line(image_error))
            self._read.inc()
            yield product.id, path, line, product_to_example(product, category_id).SerializeToString()
        for error in rejects:
            yield self._reject(error)


class _FirstClaim(beam.CombineFn):
    """Per id: how many records claim it and the first of them in (file, line) order."""

    def create_accumulator(self) -> tuple[int, Location | None]:
        return 0, None

    def add_input(self, accumulator: tuple[int, Location | None], location: Location) -> tuple[int, Location | None]:
        count, first = accumulator
        return count + 1, location if first is None or tuple(location) < tuple(first) else first

    def merge_accumulators(self, accumulators: Iterable[tuple[int, Location | None]]) -> tuple[int, Location | None]:
        count, first = 0, None
        for n, location in accumulators:
            count += n
            if location is not None and (first is None or tuple(location) < tuple(first)):
                first = location
        return count, first

    def extract_output(self, accumulator: tuple[int, Location | None]) -> tuple[int, Location | None]:
        return accumulator


def _drop_later_duplicates(record: tuple[str, str, int, bytes], duplicated: dict[str, Location]) -> Iterator[Any]:
    """Keeps a record unless another file holds its id first (duplicates within a file are the reader's)."""
    record_id, path, line, serialized = record
    first = duplicated.get(record_id)
    if first is not None and (path, line) != tuple(first):
        error = RecordError(path, line, F.ID, f"duplicate id {record_id!r} (first at {first[0]}:{first[1]})")
        yield beam.pvalue.TaggedOutput(REJECTS_TAG, reject_line(error, record_id))
        return
    yield serialized


def _write_sorted(lines: beam.PCollection, prefix: str, suffix: str, label: str) -> None:
    """One JSONL file, in file and line order (bad records are few; sorting them is cheap)."""
    _ = (lines
         | f"Collect{label}" >> beam.combiners.ToList()
         | f"Sort{label}" >> beam.FlatMap(lambda items: sorted(items, key=_reject_order))
         | f"Write{label}" >> beam.io.WriteToText(prefix, file_name_suffix=suffix, shard_name_template=""))


def _remove_outputs(examples_uri: str) -> None:
    """Deletes what this execution wrote, so a failed run leaves nothing that looks like output."""
    if not fileio.exists(examples_uri):
        return
    for name in fileio.listdir(examples_uri):
        path = os.path.join(examples_uri, name.rstrip("/"))
        if fileio.isdir(path):
            fileio.rmtree(path)
        else:
            fileio.remove(path)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """FileBasedExampleGen executor for product files."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: ANN001 (TFX signature)
        examples_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EXAMPLES_KEY])
        self._examples_uri = examples_uri
        super().Do(input_dict, output_dict, exec_properties)
        [examples] = output_dict[standard_component_specs.EXAMPLES_KEY]
        provenance = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], REVIEW_PROVENANCE_FILE)
        if fileio.exists(provenance):
            examples.set_string_custom_property(REVIEW_LOGS_PROPERTY, io_utils.read_string_file(provenance))
        config = ModuleConfig.from_custom_config(read_custom_config(exec_properties)).config
        examples.set_string_custom_property(SPLIT_PROPERTY, read_decision(examples_uri, config.split.method))
        if config.ingest.on_bad_record == "fail":
            rejects = read_rejects(examples_uri)
            if rejects:
                _remove_outputs(examples_uri)
                raise BadRecordsError.from_rejects(rejects)

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: dict[str, Any]) -> dict[str, beam.PCollection]:
        """TFX's hash split, or the split by shop (`components.shop_split`) for `split.method` shop and auto."""
        split = ModuleConfig.from_custom_config(read_custom_config(exec_properties)).config.split
        if split.method not in ("shop", "auto"):
            return super().GenerateExamplesByBeam(pipeline, exec_properties)
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        splits = output_config.split_config.splits
        examples = pipeline | "InputToRecord" >> self.GetInputSourceToExamplePTransform()(
            exec_properties, input_config.splits[0].pattern)
        min_shops = 1 if split.method == "shop" else split.min_shops
        parts, decision = split_by_shop(examples, [s.hash_buckets for s in splits], min_shops, [s.name for s in splits])
        if getattr(self, "_examples_uri", None):
            write_decision(decision, self._examples_uri)
        return {s.name: part for s, part in zip(splits, parts)}

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        examples_uri = getattr(self, "_examples_uri", None)

        @beam.ptransform_fn
        @beam.typehints.with_input_types(beam.Pipeline)
        @beam.typehints.with_output_types(tf.train.Example)
        def read_products(pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str) -> beam.PCollection:
            custom_config = read_custom_config(exec_properties)
            pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
            files = sorted(f for f in fileio.glob(pattern) if os.path.splitext(f)[1].lower() in SUPPORTED_SUFFIXES)
            if not files:
                raise RecordError(pattern, None, None, f"no product files match ({', '.join(SUPPORTED_SUFFIXES)})")
            split_name = split_pattern.replace("*", "all").replace("/", "_")
            read = (
                pipeline
                | f"ListFiles[{split_name}]" >> beam.Create(files)
                | f"ReadProducts[{split_name}]" >> beam.ParDo(_ReadProducts(custom_config, require_label=True)).with_outputs(
                    REJECTS_TAG, DROPPED_IMAGES_TAG, CLAIMS_TAG, main="records")
            )
            duplicated = (
                read[CLAIMS_TAG]
                | f"FirstClaims[{split_name}]" >> beam.CombinePerKey(_FirstClaim())
                | f"Duplicated[{split_name}]" >> beam.FlatMap(
                    lambda item: [(item[0], item[1][1])] if item[1][0] > 1 else [])
            )
            kept = read.records | f"DropDuplicates[{split_name}]" >> beam.FlatMap(
                _drop_later_duplicates, beam.pvalue.AsDict(duplicated)).with_outputs(REJECTS_TAG, main="examples")
            if examples_uri:
                rejects = (read[REJECTS_TAG], kept[REJECTS_TAG]) | f"AllRejects[{split_name}]" >> beam.Flatten()
                _write_sorted(rejects, os.path.join(examples_uri, REJECTS_DIR, f"{split_name}-rejects"), ".jsonl",
                              f"Rejects[{split_name}]")
                _write_sorted(read[DROPPED_IMAGES_TAG],
                              os.path.join(examples_uri, DROPPED_IMAGES_DIR, f"{split_name}-dropped-images"), ".jsonl",
                              f"DroppedImages[{split_name}]")
            return kept.examples | f"Parse[{split_name}]" >> beam.Map(tf.train.Example.FromString)

        return read_products
