"""A trained model's eval-split predictions (for threshold tuning and the run report), and
re-exporting it with other thresholds (no retraining).

Both rebuild exactly what the Trainer exports (`trainer/signatures.py`): the Keras model from the
exported SavedModel, the Transform graph it was trained with and `HierarchicalDecoder`, so the
tuned thresholds are measured on the confidences serving computes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the Transform graph's SentencePiece ops)
import tensorflow_transform as tft

import prodcat.trainer.model  # noqa: F401  (registers the custom Keras layers)
from prodcat import features as F
from prodcat.config import Config, ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, TAXONOMY_ASSET
from prodcat.thresholds.tuning import EvalPredictions
from prodcat.trainer.model import model_decoder
from prodcat.trainer.signatures import make_signatures, save_serving_model

REPORT_ASSET = "threshold_tuning.json"


class ModelError(ValueError):
    """A model directory prodcat cannot tune (not a prodcat export, no assets)."""


@dataclasses.dataclass
class TrainedModel:
    """An exported prodcat model, reloaded: the Keras model and the Transform graph it serves with."""

    model_dir: str
    keras_model: object
    tft_output: object
    config: Config
    taxonomy: Taxonomy

    @property
    def thresholds(self) -> ThresholdConfig:
        return self.config.thresholds


def read_model_config(model_dir: str) -> tuple[Config, Taxonomy]:
    """The config and taxonomy an exported model carries in assets.extra."""
    extra = os.path.join(model_dir, ASSETS_EXTRA)
    try:
        with tf.io.gfile.GFile(os.path.join(extra, CONFIG_ASSET)) as handle:
            config = Config.model_validate(json.loads(handle.read()))
        with tf.io.gfile.GFile(os.path.join(extra, TAXONOMY_ASSET)) as handle:
            taxonomy = Taxonomy.from_google_text(handle.read(), source=os.path.join(extra, TAXONOMY_ASSET))
    except tf.errors.NotFoundError as err:
        raise ModelError(f"{model_dir}: not a prodcat model export ({err.message})") from None
    return config, taxonomy


def load_model(model_dir: str, transform_graph_dir: str) -> TrainedModel:
    """Reloads an exported model (`.../Format-Serving` or a pushed version directory)."""
    config, taxonomy = read_model_config(model_dir)
    keras_model = tf.keras.models.load_model(model_dir, compile=False)
    return TrainedModel(model_dir, keras_model, tft.TFTransformOutput(transform_graph_dir), config, taxonomy)


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclasses.dataclass
class EvalSplitPredictions(EvalPredictions):
    """`EvalPredictions` plus what serving returns: `served_depths[i]`, how many levels of
    `path_ids[i]` the model's own thresholds keep, and the raw `fields` a caller asked for (one
    string per product, e.g. titles for the run report)."""

    served_depths: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))
    fields: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _first_values(value: tf.Tensor | tf.SparseTensor, batch: tf.Tensor) -> tf.Tensor:
    """A raw feature's first value per product ("" when it has none)."""
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(value, default_value="")
    padded = tf.pad(tf.reshape(value, [batch, -1]), [[0, 0], [0, 1]], constant_values=tf.zeros([], value.dtype))
    return padded[:, 0]


def eval_predictions(
    model: TrainedModel, example_files: Sequence[str], max_products: int | None = None, with_probs: bool = False,
    fields: Sequence[str] = (), batch_size: int = 256,
) -> EvalSplitPredictions:
    """Decodes the labelled products of `example_files` (tf.Example TFRecords, an ExampleGen
    split) as the exported serving graph does: the same Transform graph, model and decoder with
    the thresholds the model ships with. The first `max_products` (None: all).

    Threshold tuning and the run report both read the eval split through this one pass.
    `with_probs` keeps the per-level probabilities and labels (for calibration; products x
    categories floats); `fields` names raw features to return as text.
    """
    taxonomy, depth = model.taxonomy, model.taxonomy.depth
    raw_spec = dict(model.tft_output.raw_feature_spec())
    tft_layer = model.tft_output.transform_features_layer()
    keras_model = model.keras_model
    inputs = list(keras_model.input.keys()) if isinstance(keras_model.input, dict) else [F.TOKENS]
    decoder = model_decoder(keras_model, taxonomy, model.thresholds)
    present = [name for name in fields if name in raw_spec]  # a feature the schema lacks: "" for every product

    # Graph code already (Transform layer, Keras model, decoder): autograph would only re-convert
    # thousands of library functions, most of a small split's time.
    @tf.function(autograph=False)
    def run(serialized: tf.Tensor) -> dict:
        parsed = tf.io.parse_example(serialized, raw_spec)
        transformed = tft_layer(parsed)
        outputs = keras_model({name: transformed[name] for name in inputs}, training=False)
        probs = [outputs[F.level_output(k)] for k in range(1, depth + 1)]
        labels = [tf.reshape(transformed[F.level_label(k)], [-1]) for k in range(1, depth + 1)]
        sentence, name_query = transformed.get(F.TEXT_EMBEDDING), transformed.get(F.NAME_QUERY_EMBEDDING)
        decoded, unfamiliar = decoder.decode(probs, sentence, name_query)
        batch = tf.shape(serialized)[0]
        result = {"probs": probs, "labels": labels, "sentence": sentence if sentence is not None else tf.zeros([0]),
                  "name_query": name_query if name_query is not None else tf.zeros([0]),
                 "id": _first_values(parsed[F.ID], batch), "category": _first_values(parsed[F.CATEGORY], batch),
                 "fields": {name: _first_values(parsed[name], batch) for name in present},
                 "level_ids": decoded[F.OUT_LEVEL_IDS], "confidences": decoded[F.OUT_LEVEL_CONFIDENCES],
                 "full_depth": decoded[F.OUT_FULL_DEPTH], "depth": decoded[F.OUT_DEPTH]}
        if unfamiliar is not None:  # the decoder can tell unlike products apart
            result["unfamiliar"] = unfamiliar
        return result

    files = list(example_files)
    compression = "GZIP" if all(name.endswith(".gz") for name in files) else ""
    dataset = tf.data.TFRecordDataset(files, compression_type=compression)
    if max_products is not None:
        dataset = dataset.take(max_products)
    out = EvalSplitPredictions([], [], [], np.zeros((0, depth), np.float32),
                               [] if with_probs else None, [] if with_probs else None)
    confidences, served, unfamiliar, text = [], [], [], {name: [] for name in present}
    probs, labels, sentences, queries = [[] for _ in range(depth)], [[] for _ in range(depth)], [], []
    for batch in dataset.batch(batch_size):
        result = run(batch)
        keep = np.array([_text(c) in taxonomy for c in result["category"].numpy()], bool)
        level_ids = result["level_ids"].numpy()[keep]
        full_depth = result["full_depth"].numpy()[keep]
        out.product_ids += [_text(v) for v in result["id"].numpy()[keep]]
        out.true_ids += [_text(v) for v in result["category"].numpy()[keep]]
        out.path_ids += [[_text(v) for v in row[:d]] for row, d in zip(level_ids, full_depth)]
        confidences.append(result["confidences"].numpy()[keep])
        served.append(result["depth"].numpy()[keep])
        if "unfamiliar" in result:
            unfamiliar.append(result["unfamiliar"].numpy()[keep])
        for name in present:
            text[name] += [_text(v) for v in result["fields"][name].numpy()[keep]]
        if with_probs:
            for k in range(depth):
                probs[k].append(result["probs"][k].numpy()[keep])
                labels[k].append(result["labels"][k].numpy()[keep])
            if result["sentence"].shape.rank == 2:
                sentences.append(result["sentence"].numpy()[keep])
            if result["name_query"].shape.rank == 2:
                queries.append(result["name_query"].numpy()[keep])
    out.confidences = np.concatenate(confidences) if confidences else np.zeros((0, depth), np.float32)
    out.served_depths = np.concatenate(served) if served else np.zeros(0, np.int32)
    if unfamiliar:
        out.unfamiliar = np.concatenate(unfamiliar)
    out.fields = {name: text.get(name) or [""] * len(out) for name in fields}
    if with_probs:
        out.level_probs = [np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in probs]
        out.level_labels = [np.concatenate(y) if y else np.zeros(0, np.int64) for y in labels]
        out.sentence_embeddings = np.concatenate(sentences) if sentences else None
        out.name_query_embeddings = np.concatenate(queries) if queries else None
    return out


def decoder_for(model: TrainedModel, predictions: EvalPredictions, batch_size: int = 1024):  # noqa: ANN201
    """decode(temperatures) -> (path ids, confidences) of the stored eval probabilities, with the
    serving graph's decoder (so calibrated confidences are the ones serving will compute)."""
    def decode(temperatures: Sequence[float]) -> tuple[list[list[str]], np.ndarray]:
        thresholds = model.thresholds.model_copy(update={"temperatures": tuple(float(t) for t in temperatures)})
        decoder = model_decoder(model.keras_model, model.taxonomy, thresholds)
        sentences, queries = predictions.sentence_embeddings, predictions.name_query_embeddings
        paths, confidences = [], []
        for start in range(0, len(predictions), batch_size):
            rows = slice(start, start + batch_size)
            decoded = decoder([tf.constant(p[rows]) for p in predictions.level_probs],
                              None if sentences is None else tf.constant(sentences[rows]),
                              None if queries is None else tf.constant(queries[rows]))
            level_ids = decoded[F.OUT_LEVEL_IDS].numpy()
            full_depth = decoded[F.OUT_FULL_DEPTH].numpy()
            paths += [[_text(v) for v in row[:d]] for row, d in zip(level_ids, full_depth)]
            confidences.append(decoded[F.OUT_LEVEL_CONFIDENCES].numpy())
        return paths, np.concatenate(confidences)

    return decode


def export_model(model: TrainedModel, thresholds: ThresholdConfig, export_dir: str, report: dict | None = None) -> str:
    """Saves the model again with `thresholds` in its decoder: the Trainer's three signatures, the
    original assets.extra (taxonomy, warm-up requests, training summary) with the config's
    `thresholds` replaced and the tuning report beside it."""
    decoder = model_decoder(model.keras_model, model.taxonomy, thresholds)
    signatures = make_signatures(model.keras_model, model.tft_output, decoder)
    save_serving_model(model.keras_model, export_dir, signatures)
    source, target = os.path.join(model.model_dir, ASSETS_EXTRA), os.path.join(export_dir, ASSETS_EXTRA)
    tf.io.gfile.makedirs(target)
    for name in tf.io.gfile.listdir(source):
        if name not in (CONFIG_ASSET, REPORT_ASSET) and not tf.io.gfile.isdir(os.path.join(source, name)):
            tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)
    config = model.config.model_copy(update={"thresholds": thresholds})
    with tf.io.gfile.GFile(os.path.join(target, CONFIG_ASSET), "w") as handle:
        handle.write(config.model_dump_json(indent=2))
    if report is not None:
        with tf.io.gfile.GFile(os.path.join(target, REPORT_ASSET), "w") as handle:
            handle.write(json.dumps(report, indent=2))
    return export_dir
