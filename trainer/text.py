"""Product text as TensorFlow ops: field joining, normalisation and hashed word/char n-grams.

These run inside the Transform graph, so training and serving tokenize identically and TF
Serving needs no Python. Hashing (rather than a vocabulary) keeps brand names, sizes and codes
that were never seen in training usable, and makes the graph independent of the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf

from prodcat.records import MAX_FIELD_CHARS

FIELD_SEPARATOR = " | "
# Longest text (in characters) the graph tokenizes; the rest is cut before any tokenization, so
# work and memory per product are bounded for every caller of the exported model (TF Serving too).
# The ingestion limit (the default `ingest.max_field_chars`): no valid field value is ever cut.
MAX_TEXT_CHARS = MAX_FIELD_CHARS
_MAX_UTF8_BYTES_PER_CHAR = 4


def dense_strings(value: tf.Tensor | tf.SparseTensor | tf.RaggedTensor, join: bool = True) -> tf.Tensor:
    """A [batch] string tensor from a raw feature of any shape (list features are joined)."""
    if isinstance(value, tf.SparseTensor):
        value = tf.RaggedTensor.from_sparse(value)
    if isinstance(value, tf.RaggedTensor):
        return tf.strings.reduce_join(value, axis=1, separator=", ")
    if value.shape.rank == 2:
        return tf.strings.reduce_join(value, axis=1, separator=", ") if join else value[:, 0]
    return value


def _field_columns(inputs: Mapping[str, tf.Tensor], fields: Sequence[str]) -> tf.Tensor:
    """[batch, fields present in the input]: each configured field as one string per product."""
    parts = [dense_strings(inputs[name]) for name in fields if name in inputs]
    if not parts:
        raise ValueError(f"none of the text fields {list(fields)} are in the input")
    return tf.stack(parts, axis=1)


def product_text(inputs: Mapping[str, tf.Tensor], fields: Sequence[str]) -> tf.Tensor:
    """The configured fields of each product joined into one string ([batch])."""
    return tf.strings.reduce_join(_field_columns(inputs, fields), axis=1, separator=FIELD_SEPARATOR)


def present_fields_text(inputs: Mapping[str, tf.Tensor], fields: Sequence[str]) -> tf.Tensor:
    """The configured fields each product has, stripped and joined ([batch]): an empty field
    leaves no separator behind, so a product with only a title is matched as its title."""
    columns = tf.strings.strip(_field_columns(inputs, fields))
    present = tf.ragged.boolean_mask(columns, tf.not_equal(columns, ""))
    return tf.strings.reduce_join(present, axis=1, separator=FIELD_SEPARATOR)


def truncate_texts(texts: tf.Tensor, max_chars: int = MAX_TEXT_CHARS) -> tf.Tensor:
    """The first `max_chars` UTF-8 characters of each text (never a partial character); shorter texts unchanged.

    Bytes are cut first (at `4 * max_chars`, which a valid text of `max_chars` characters never
    exceeds), so the character-aware cut only ever scans a bounded prefix, also of invalid UTF-8.
    """
    texts = tf.strings.substr(texts, 0, _MAX_UTF8_BYTES_PER_CHAR * max_chars, unit="BYTE")
    return tf.strings.substr(texts, 0, max_chars, unit="UTF8_CHAR")


def normalize(text: tf.Tensor) -> tf.Tensor:
    """Unicode-aware lowercasing; punctuation becomes spaces; letters and digits of any script stay."""
    text = tf.strings.lower(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), encoding="utf-8")
    text = tf.strings.regex_replace(text, r"[^\pL\pN]+", " ")
    return tf.strings.strip(text)


def hashed_tokens(text: tf.Tensor, buckets: int, char_ngrams: Sequence[int], max_tokens: int) -> tf.SparseTensor:
    """Ids of word unigrams, word bigrams and character n-grams of each length in `char_ngrams`,
    hashed into `buckets`: words and bigrams into the lower half, character n-grams into the upper
    half (`char_bucket_offset`), so a linear model can weigh the two kinds as separate blocks.

    Character n-grams are taken within words padded with '#', so "hundebett" and "hundebetten"
    share most of their ids; this is what carries compounds, inflections and product codes
    ("rtx3060" and "rtx-3060ti") across spellings and languages.
    """
    words = tf.strings.split(normalize(truncate_texts(text)))
    words = words[:, :max_tokens]
    offset = char_bucket_offset(buckets)
    word_tokens = tf.concat([words, _prefixed("w2:", tf.strings.ngrams(words, 2, separator=" "))], axis=1)
    pieces = [tf.strings.to_hash_bucket_fast(word_tokens, offset)]
    if char_ngrams:
        chars = tf.strings.unicode_split(tf.strings.join(["#", words, "#"]), "UTF-8")
        grams = [_prefixed(f"c{n}:", tf.strings.ngrams(chars, n, separator="").merge_dims(1, 2))
                 for n in sorted(set(char_ngrams))]
        pieces.append(tf.strings.to_hash_bucket_fast(tf.concat(grams, axis=1), buckets - offset) + offset)
    return tf.concat(pieces, axis=1).to_sparse()


def char_bucket_offset(buckets: int) -> int:
    """The first bucket of the character n-grams (`hashed_tokens`); lower ids are words and bigrams."""
    return buckets // 2


def _prefixed(prefix: str, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """Namespaces a token kind so a bigram never collides with a word of the same spelling."""
    return tf.ragged.map_flat_values(lambda flat: tf.strings.join([prefix, flat]), tokens)


def merchant_ids(shop: tf.Tensor, buckets: int) -> tf.SparseTensor:
    """The shop as a hashed id ([batch, 0 or 1]): "Acme Shoe Warehouse" sells shoes.

    Products without a shop get no id (an empty row), so they fall back to the other features.
    """
    shop = normalize(shop)
    ids = tf.strings.to_hash_bucket_fast(tf.strings.join(["shop:", shop]), buckets)
    return tf.ragged.boolean_mask(ids[:, None], (shop != "")[:, None]).to_sparse()
