"""Bounded work per text in the graph: the cut to `MAX_TEXT_CHARS` characters before any tokenization.

- texts within the cap get exactly the pieces and embeddings they got without it;
- the cut keeps whole UTF-8 characters and is Python's `text[:n]` for valid text;
- a 10 MB single-word text costs a bounded amount of memory (in a subprocess, also through the
  exported SavedModel's serving signature, i.e. what TF Serving runs, and through the hashed n-grams);
- adversarial strings (huge runs of one character, every Unicode category, NULs, invalid UTF-8)
  always give finite [n, 512] embeddings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorflow as tf

from prodcat.trainer.encoders.text import SavedModelTextEncoder, UniversalSentenceEncoderMultilingual
from prodcat.trainer.text import MAX_TEXT_CHARS, truncate_texts

REPO = Path(__file__).resolve().parents[2]
RSS_GROWTH_BOUND_MB = 200  # peak RSS growth allowed for 10 MB single-word texts over a short text

ORDINARY = [
    "Wireless Bluetooth Headphones, Over-Ear, Noise Cancelling, 30h Battery – Black",
    "Kabellose Bluetooth-Kopfhörer mit Geräuschunterdrückung, 30 Std. Akku, faltbar, schwarz",
    "Robe d'été femme en lin, manches courtes, taille 40, bleu ciel",
    "无线蓝牙耳机 降噪 长续航", "ワイヤレスイヤホン Bluetooth 5.3 ノイズキャンセリング",
    "무선 블루투스 이어폰", "Беспроводные наушники с шумоподавлением", "سماعة رأس لاسلكية بلوتوث",
    "אוזניות אלחוטיות", "वायरलेस ब्लूटूथ हेडफ़ोन", "หูฟังไร้สาย", "Ασύρματα ακουστικά",
    "token <unk> literal and </s> and <s>", "<p>HTML <b>Beschreibung</b> mit <s>49,99 €</s></p>",
    "ᚠᛇᚻ ꙮ ꧁꧂ 𠀋𠂢𪚥 \ue000\ue001", "\u200b\u200dzero width\ufeff joiners", "Dog harness 🐕 🦖", "", " ",
    "nul\x00inside", "\ue000" * 300, "abc " + "\ue000" * 200 + " def", "<unk>" * 300, "ᚠ" * 500,
    "Very long description. " + " ".join(f"Feature {i}: durable, waterproof (Größe {i % 7}, 色 {i % 5})." for i in range(250)),
]
AT_CAP = [  # exactly MAX_TEXT_CHARS characters: nothing may be cut
    "€" * MAX_TEXT_CHARS, "🦖" * MAX_TEXT_CHARS, "a" * MAX_TEXT_CHARS, ("dog bed " * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS],
    "x" * (MAX_TEXT_CHARS - 1) + "€",
]


@pytest.fixture(scope="module")
def capped() -> UniversalSentenceEncoderMultilingual:
    """The shipped setting (`text.encoder.max_tokens: 128`)."""
    return UniversalSentenceEncoderMultilingual(max_tokens=128)


@pytest.fixture(scope="module")
def uncapped_tokens() -> UniversalSentenceEncoderMultilingual:
    return UniversalSentenceEncoderMultilingual(max_tokens=None)


def _uncapped_ids(encoder: UniversalSentenceEncoderMultilingual, texts: list) -> list[list[int]]:
    """The pieces as the encoder computed them before the character cut existed."""
    fn = tf.function(encoder._uncapped_token_ids, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    return fn(tf.constant(texts)).to_list()


# ----------------------------------------------------------------------------- 1. nothing changes within the cap
@pytest.mark.parametrize("max_tokens", [None, 128])
def test_token_ids_within_the_cap_are_unchanged(max_tokens, capped, uncapped_tokens) -> None:
    encoder = capped if max_tokens else uncapped_tokens
    texts = ORDINARY + AT_CAP
    assert encoder.tokenize(tf.constant(texts)).to_list() == _uncapped_ids(encoder, texts)


def test_embeddings_within_the_cap_are_bit_identical(capped) -> None:
    texts = ORDINARY + AT_CAP

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def old_way(t: tf.Tensor) -> tf.Tensor:
        ids = capped._uncapped_token_ids(t)
        return capped._embed(ids.flat_values, ids.row_splits)

    np.testing.assert_array_equal(capped(tf.constant(texts)).numpy(), old_way(tf.constant(texts)).numpy())


def test_unknown_runs_expand_to_at_most_max_tokens(capped, uncapped_tokens) -> None:
    """Capping a run of <unk> at max_tokens before expanding it leaves the kept pieces as they were."""
    texts = [t for t in ORDINARY if t]
    full = uncapped_tokens.tokenize(tf.constant(texts)).to_list()
    assert capped.tokenize(tf.constant(texts)).to_list() == [[1, *ids[1:-1][:128], 2] for ids in full]


def test_longer_texts_are_their_first_max_text_chars_characters(uncapped_tokens, capped) -> None:
    long_texts = ["dog bed " * 20_000, "€" * (MAX_TEXT_CHARS + 1), "日本語" * 50_000, "ab" * MAX_TEXT_CHARS + "<unk>"]
    prefixes = [t[:MAX_TEXT_CHARS] for t in long_texts]
    assert uncapped_tokens.tokenize(tf.constant(long_texts)).to_list() == uncapped_tokens.tokenize(tf.constant(prefixes)).to_list()
    np.testing.assert_array_equal(capped(tf.constant(long_texts)).numpy(), capped(tf.constant(prefixes)).numpy())


# ----------------------------------------------------------------------------- 2. the cut itself
_NO_SURROGATES = st.characters(exclude_categories=("Cs",))


@settings(max_examples=200, deadline=None, database=None)
@given(text=st.text(_NO_SURROGATES, max_size=40), max_chars=st.integers(1, 30))
def test_truncate_is_python_slicing_for_valid_text(text: str, max_chars: int) -> None:
    assert truncate_texts(tf.constant([text.encode()]), max_chars).numpy()[0] == text[:max_chars].encode()


@settings(max_examples=200, deadline=None, database=None)
@given(data=st.binary(max_size=60), max_chars=st.integers(1, 20))
def test_truncate_any_bytes_gives_a_bounded_prefix(data: bytes, max_chars: int) -> None:
    out = truncate_texts(tf.constant([data]), max_chars).numpy()[0]
    assert data.startswith(out) and len(out) <= 4 * max_chars
    if len(data) <= max_chars:  # never cuts a text that short, valid or not
        assert out == data


def test_bad_max_chars() -> None:
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="max_chars"):
            UniversalSentenceEncoderMultilingual(max_chars=bad)


def test_saved_model_encoder_cuts_too(tmp_path: Path) -> None:
    class Length(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts: tf.Tensor) -> tf.Tensor:
            return tf.cast(tf.strings.length(texts, unit="UTF8_CHAR"), tf.float32)[:, None]

    tf.saved_model.save(Length(), str(tmp_path / "length"))
    encoder = SavedModelTextEncoder(str(tmp_path / "length"), max_chars=10)
    assert encoder(tf.constant(["€" * 3, "€" * 10, "€" * 11, "x" * 1000])).numpy().ravel().tolist() == [3, 10, 10, 10]
    default = SavedModelTextEncoder(str(tmp_path / "length"))
    assert default(tf.constant(["a" * (MAX_TEXT_CHARS + 5)])).numpy().ravel().tolist() == [MAX_TEXT_CHARS]


# ----------------------------------------------------------------------------- 3. bounded memory for huge words
_RSS_SCRIPT = textwrap.dedent("""
    import gc, json, resource, sys
    from prodcat.trainer.encoders.text import UniversalSentenceEncoderMultilingual, save_encoder
    from prodcat.trainer.text import hashed_tokens
    import numpy as np
    import tensorflow as tf

    def reset_peak():  # Linux: restart the high-water mark (VmHWM) from the current RSS
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def peak_mb():
        try:
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    encoder = UniversalSentenceEncoderMultilingual(max_tokens=128)
    save_encoder(encoder, sys.argv[1])
    serving = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]  # what TF Serving runs
    paths = {"module": encoder, "saved_model": lambda t: serving(texts=t)["embeddings"]}

    n = 10 * 1000 * 1000  # a 10 MB single word (10 M characters)
    cjk = np.random.default_rng(0).integers(0x4E00, 0xA000, n).astype("<u4").tobytes().decode("utf-32-le")
    huge = {"ascii": b"a" * n, "cjk": cjk.encode(), "unknown": "\\ue000".encode() * n,
            "nul_and_invalid_utf8": b"\\x00\\x80" * (n // 2)}
    del cjk
    inputs = {k: tf.constant([v, b"dog bed"]) for k, v in huge.items()}
    del huge
    gc.collect()
    exact = reset_peak()
    short = tf.constant(["Kabellose Kopfh\\u00f6rer", "dog bed"])
    for fn in paths.values():
        fn(short).numpy()
    base = peak_mb()
    result = {"base_mb": base, "exact_peak": exact, "finite": {}}
    for name, texts in inputs.items():
        for path, fn in paths.items():
            out = fn(texts).numpy()
            result["finite"][f"{name}/{path}"] = bool(out.shape == (2, 512) and np.isfinite(out).all())
        # the hashed word and character n-grams (the network's and the margin head's input)
        ids = tf.sparse.to_dense(hashed_tokens(texts, 1 << 20, (2, 3, 4, 5), 256))
        result["ngram_ids"] = max(result.get("ngram_ids", 0), int(ids.shape[1]))
    result["growth_mb"] = peak_mb() - base
    print(json.dumps(result))
""")


def test_ten_megabyte_single_words_use_bounded_memory(tmp_path: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(tmp_path / "use")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\npeak RSS growth for four 10 MB single-word texts (module and SavedModel signature) over a short "
          f"text: {result['growth_mb']:.0f} MB (peak {result['base_mb']:.0f} MB; exact high-water mark: {result['exact_peak']})")
    assert all(result["finite"].values()), result["finite"]
    assert result["ngram_ids"] <= 4 * (MAX_TEXT_CHARS + 2) + 1  # n-grams of the cut text only
    assert result["growth_mb"] < RSS_GROWTH_BOUND_MB


# ----------------------------------------------------------------------------- 4. adversarial strings
def _run(chars: st.SearchStrategy) -> st.SearchStrategy:
    """A run of one character (or short string) up to twice the cap."""
    return st.builds(lambda c, k: c * k, chars, st.integers(1, 2 * MAX_TEXT_CHARS))


_TEXTS = st.one_of(
    st.text(_NO_SURROGATES, max_size=300).map(str.encode),  # every Unicode category but surrogates
    _run(st.text(_NO_SURROGATES, min_size=1, max_size=3)).map(str.encode),
    _run(st.sampled_from(["\x00", "<unk>", " ", "\u200b", "\ue000", "﷽", "㍿", "🦖", "a", "<s>", "\u0301"])).map(str.encode),
    st.binary(max_size=300),  # invalid UTF-8, NULs, lone surrogate encodings (b"\xed\xa0\x80")
    _run(st.binary(min_size=1, max_size=4)),
    st.sampled_from([b"\xed\xa0\x80", b"\xed\xb0\x80" * 1000, b"\xff\xfe", b"\xc0\x80", b"\xe2\x82"]),
)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(texts=st.lists(_TEXTS, min_size=1, max_size=4))
def test_adversarial_strings_give_finite_embeddings(capped, texts: list[bytes]) -> None:
    batch = tf.constant(texts)
    out = capped(batch).numpy()
    assert out.shape == (len(texts), 512) and np.isfinite(out).all()
    lengths = capped.tokenize(batch).row_lengths().numpy()
    assert ((lengths >= 3) & (lengths <= 128 + 2)).all()
