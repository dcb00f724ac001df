"""Product images at ingestion: validate, bound and re-encode, so the TF graph only sees good JPEGs.

Merchant images come as anything (PNG, WebP, CMYK JPEG, 20-megapixel photos, truncated files).
Decoding failures inside a TF graph cannot be caught per example, so ExampleGen and batch
prediction normalise every image here: decode with Pillow, convert to RGB, shrink to at most
`MAX_SIDE` pixels, and re-encode as JPEG. A corrupt image is reported; ExampleGen then keeps the
product without it (`has_image` = 0) or rejects the record, as `ingest.on_bad_image` says.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

MAX_SIDE = 256
MAX_PIXELS = 50_000_000  # decompression-bomb guard (Pillow warns at 89M by default)
JPEG_QUALITY = 90


class ImageError(ValueError):
    """Bytes that are not a decodable image."""


def normalize_image(data: bytes) -> bytes:
    """Decoded, RGB, at most MAX_SIDE on its longer side, re-encoded as JPEG."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ImageError(f"image of {image.width}x{image.height} pixels is too large")
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at reduced scale, much faster
                rgb = image.convert("RGB")
                rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError, EOFError, IndexError, struct.error) as err:  # Pillow's plugins raise all of these
        if isinstance(err, ImageError):
            raise
        raise ImageError(f"not a decodable image ({type(err).__name__}: {err})") from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
