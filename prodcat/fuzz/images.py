"""The corpus's image files: valid ones, and corrupt, truncated, huge and pixel-bomb ones.

Records refer to these files by path, so the bad images are real files that ingestion has to open
and refuse; they come from their own seeded stream, so they do not change any record's text.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib
from pathlib import Path

from prodcat.fuzz.config import FuzzConfig


def write_images(data_dir: Path, config: FuzzConfig) -> tuple[dict[str, list[str]], str]:
    """Writes `data_dir/images/`; returns the paths per group ("ok", "corrupt", "truncated", "huge",
    "bomb"), relative to `data_dir`, and a valid image as a data URI."""
    from PIL import Image

    image_dir = data_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(config.seed + 1)
    out: dict[str, list[str]] = {k: [] for k in ("ok", "corrupt", "truncated", "huge", "bomb")}

    def save(name: str, data: bytes, group: str) -> None:
        (image_dir / name).write_bytes(data)
        out[group].append(f"images/{name}")

    for k, (fmt, size) in enumerate((("PNG", (12, 8)), ("JPEG", (16, 16)), ("PNG", (300, 40)))):
        buffer = io.BytesIO()
        Image.new("RGB", size, (40 * k, 200 - 50 * k, 90)).save(buffer, format=fmt)
        save(f"ok-{k}.{fmt.lower()}", buffer.getvalue(), "ok")
    noise = Image.frombytes("RGB", (64, 64), bytes(rng.getrandbits(8) for _ in range(64 * 64 * 3)))
    buffer = io.BytesIO()
    noise.save(buffer, format="JPEG", quality=95)
    jpeg = buffer.getvalue()
    for k in range(3):
        save(f"corrupt-{k}.jpg", bytes(rng.getrandbits(8) for _ in range(500 + 100 * k)), "corrupt")
        save(f"truncated-{k}.jpg", jpeg[: len(jpeg) // (2 + k)], "truncated")
        save(f"huge-{k}.jpg", jpeg + b"\0" * (config.max_image_bytes + 1 - len(jpeg) + 997 * k), "huge")
        save(f"bomb-{k}.png", _png_header(30_000 + k, 30_000), "bomb")
    ok_data_uri = "data:image/png;base64," + base64.b64encode((image_dir / "ok-0.png").read_bytes()).decode()
    return out, ok_data_uri


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels and has no pixel data (a decompression bomb probe)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
