"""Shared by the test_text_encoder_*.py files: the USE encoder, and tiny stand-in text SavedModels."""

from __future__ import annotations

import pytest
import tensorflow as tf

from prodcat.trainer.encoders.text import UniversalSentenceEncoderMultilingual, text_encoder


@pytest.fixture(scope="module")
def use_encoder() -> UniversalSentenceEncoderMultilingual:
    return text_encoder()


class _HashedBagEncoder(tf.Module):
    """A stand-in text model: mean of the embeddings of the hashed words."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.table = tf.Variable(tf.random.stateless_normal([64, dim], seed=[1, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(texts)), 64)
        summed = tf.reduce_sum(tf.gather(self.table, ids), axis=1)
        return tf.math.divide_no_nan(summed, tf.cast(ids.row_lengths(), tf.float32)[:, None])


class _BertLikePreprocessor(tf.Module):
    """TF Hub BERT preprocessor shape: __call__, tokenize and bert_pack_inputs(segments, seq_length)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(texts)), 63) + 1  # 0 = padding
        pieces = tf.RaggedTensor.from_row_lengths(ids.flat_values, tf.ones_like(ids.flat_values))
        return tf.RaggedTensor.from_row_splits(pieces, ids.row_splits)  # [batch, words, pieces]

    @tf.function(input_signature=[[tf.RaggedTensorSpec([None, None, None], tf.int64)], tf.TensorSpec([], tf.int32)])
    def bert_pack_inputs(self, segments, seq_length):
        ids = segments[0].merge_dims(1, 2)[:, :seq_length]
        ids = ids.to_tensor(shape=tf.stack([tf.cast(ids.nrows(), tf.int32), seq_length]))
        return {"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor):
        return self.bert_pack_inputs([self.tokenize(texts)], tf.constant(16))


class _BertLikeEncoder(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = tf.Variable(tf.random.stateless_normal([64, 6], seed=[3, 4]))

    @tf.function(input_signature=[{"input_word_ids": tf.TensorSpec([None, None], tf.int64),
                                   "input_mask": tf.TensorSpec([None, None], tf.int64)}])
    def __call__(self, inputs):
        mask = tf.cast(inputs["input_mask"], tf.float32)[:, :, None]
        summed = tf.reduce_sum(tf.gather(self.table, inputs["input_word_ids"]) * mask, axis=1)
        pooled = summed / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        sequence = tf.gather(self.table, inputs["input_word_ids"])
        return {"pooled_output": pooled, "default": 2.0 * pooled, "sequence_output": sequence}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny_models")
    paths = {name: str(root / name) for name in ("bag", "signature_only", "preprocessor", "bert")}
    bag = _HashedBagEncoder()
    tf.saved_model.save(bag, paths["bag"])
    # a model exposing only a serving signature (no __call__), as many exported models do
    signature_only = tf.Module()
    signature_only.table = bag.table
    serve = tf.function(lambda texts: {"vector": bag(texts)}, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(signature_only, paths["signature_only"], signatures={"serving_default": serve})
    tf.saved_model.save(_BertLikePreprocessor(), paths["preprocessor"])
    tf.saved_model.save(_BertLikeEncoder(), paths["bert"])
    return paths
