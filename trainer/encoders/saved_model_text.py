"""Any SavedModel / TF Hub model directory as the text encoder (`kind: saved_model`).

One job: wrap a loaded model (optionally after its own preprocessing model, e.g. multilingual BERT
and its preprocessor) as a `tf.Module` with the USE encoder's interface: [batch] strings in,
[batch, dim] float32 out, texts cut to `max_chars` characters first, and a serving signature.
Loaded models differ in how they are called (a restored `__call__` or a signature) and in what
they return (a tensor or a dict), so both are resolved here, with errors that name the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from prodcat.trainer.encoders.use_multilingual import _check_max_chars
from prodcat.trainer.text import MAX_TEXT_CHARS, truncate_texts

_DEFAULT_OUTPUT_KEYS = ("pooled_output", "default", "outputs", "output_0", "embeddings")


def _check_saved_model_dir(path: str, setting: str) -> str:
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")) and not tf.io.gfile.exists(
        os.path.join(path, "saved_model.pbtxt")
    ):
        reason = "does not exist" if not tf.io.gfile.exists(path) else "has no saved_model.pb"
        raise ValueError(f"text encoder setting `{setting}`: {path!r} {reason} (a local SavedModel / TF Hub model directory)")
    return path


def _call_loaded(obj: Any, inputs: Any) -> Any:
    """Calls a loaded SavedModel: its `__call__` if restored, else its serving signature."""
    if callable(obj):
        return obj(inputs)
    signatures = getattr(obj, "signatures", {})
    for key in ("serving_default", "default"):
        if key in signatures:
            fn = signatures[key]
            if isinstance(inputs, Mapping):  # e.g. a preprocessor's {"input_word_ids": ..., ...}
                return fn(**inputs)
            names = list(fn.structured_input_signature[1])
            if len(names) != 1:
                raise ValueError(f"signature {key!r} takes {names}; expected one input")
            return fn(**{names[0]: inputs})
    raise ValueError("the SavedModel is neither callable nor has a serving_default signature")


class SavedModelTextEncoder(tf.Module):
    """A SavedModel as text encoder: `encoder(preprocessor(texts))`, taking `output_key` of a dict.

    With a BERT-style preprocessor (one with `tokenize` and `bert_pack_inputs`, as TF Hub's) and
    `max_tokens`, the texts are packed to `seq_length=max_tokens`; otherwise `max_tokens` keeps the
    first whitespace-separated words of each text. Texts are cut to `max_chars` characters first.
    """

    def __init__(
        self,
        handle: str,
        preprocessor_handle: str | None = None,
        output_key: str | None = None,
        max_tokens: int | None = None,
        name: str = "saved_model_text_encoder",
        max_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        super().__init__(name=name)
        self.max_chars = _check_max_chars(max_chars)
        self.encoder = tf.saved_model.load(_check_saved_model_dir(handle, "handle"))
        self.preprocessor = (
            tf.saved_model.load(_check_saved_model_dir(preprocessor_handle, "preprocessor_handle"))
            if preprocessor_handle else None
        )
        self.output_key = output_key
        self.max_tokens = max_tokens
        probe = self._encode(tf.constant(["a product title", ""]))
        if probe.shape.rank != 2 or probe.shape[-1] is None:
            raise ValueError(f"text encoder `{handle}` returns shape {probe.shape}; expected [batch, dim]")
        self.dim = int(probe.shape[-1])

    def _encode(self, texts: tf.Tensor) -> tf.Tensor:
        texts = truncate_texts(texts, self.max_chars)
        pre = self.preprocessor
        if pre is not None and self.max_tokens is not None and hasattr(pre, "bert_pack_inputs") and hasattr(pre, "tokenize"):
            inputs = pre.bert_pack_inputs([pre.tokenize(texts)], seq_length=self.max_tokens)
        else:
            if self.max_tokens is not None:
                words = tf.strings.split(texts)[:, : self.max_tokens]
                texts = tf.strings.reduce_join(words, axis=1, separator=" ")
            inputs = _call_loaded(pre, texts) if pre is not None else texts
        outputs = _call_loaded(self.encoder, inputs)
        if isinstance(outputs, Mapping):
            keys = [self.output_key] if self.output_key else [k for k in _DEFAULT_OUTPUT_KEYS if k in outputs]
            if not keys or keys[0] not in outputs:
                raise ValueError(
                    f"text encoder setting `output_key`: {self.output_key!r} is not among the model's outputs "
                    f"{sorted(outputs)}"
                )
            outputs = outputs[keys[0]]
        elif self.output_key:
            raise ValueError(f"text encoder setting `output_key` is {self.output_key!r} but the model returns one tensor")
        return tf.cast(outputs, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        """[batch] UTF-8 strings -> [batch, dim] float32."""
        return tf.ensure_shape(self._encode(texts), [None, self.dim])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")], autograph=False)
    def serve(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"embeddings": self(texts)}
