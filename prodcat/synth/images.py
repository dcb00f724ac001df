"""Small PNG images whose shape and hue depend on the category, so an image model can learn them.

Each category gets a distinct style (shape, hue, background); members of an ambiguous pair differ
in both shape and hue, since in that mode only the image tells them apart. Jitter and pixel noise
keep two images of one category from being identical.
"""

from __future__ import annotations

import colorsys
import dataclasses
import io
from collections.abc import Mapping, Sequence

import numpy as np

from prodcat.synth.config import SynthConfig
from prodcat.synth.random_streams import stream

IMAGE_SIZE = 64
_SHAPES = ("circle", "square", "triangle", "diamond", "ring", "cross", "hstripes", "vstripes", "checker", "dots")
_N_HUES = 12
_N_BACKGROUNDS = 3


@dataclasses.dataclass(frozen=True)
class ImageStyle:
    """What an image of one category looks like: indices into the shapes, hues and backgrounds."""

    shape: int
    hue: int
    background: int


def image_styles(
    categories: Sequence[str], pair_of: Mapping[str, tuple[str, ...]], config: SynthConfig
) -> dict[str, ImageStyle]:
    """A distinct (shape, hue, background) per category; pair members differ in shape and hue."""
    rng = stream(config.seed, "styles")
    combos = [
        ImageStyle(shape, hue, bg)
        for bg in range(_N_BACKGROUNDS)
        for shape in range(len(_SHAPES))
        for hue in range(_N_HUES)
    ]
    # Background variants are used only after all shape x hue combinations on the plain one.
    per_bg = len(_SHAPES) * _N_HUES
    blocks = [combos[i : i + per_bg] for i in range(0, len(combos), per_bg)]
    for block in blocks:
        rng.shuffle(block)
    free = [c for block in blocks for c in block]
    styles: dict[str, ImageStyle] = {}
    hue_use = [0] * _N_HUES
    shape_use = [0] * len(_SHAPES)
    for cid in categories:
        partner_styles = [styles[p] for p in pair_of.get(cid, (cid,)) if p in styles]
        if not free:  # more categories than styles: reuse (documented limitation)
            free = [c for block in blocks for c in block]
        allowed = [c for c in free if all(c.shape != s.shape and c.hue != s.hue for s in partner_styles)]
        # Least-used hue first, then least-used shape: categories differ in colour when they can.
        pick = min(allowed or free, key=lambda c: (c.background, hue_use[c.hue], shape_use[c.shape]))
        free.remove(pick)
        hue_use[pick.hue] += 1
        shape_use[pick.shape] += 1
        styles[cid] = pick
    return styles


def render_image(style: ImageStyle, rng: np.random.Generator, size: int = IMAGE_SIZE) -> bytes:
    """A small PNG: the style's shape in the style's hue, with jitter and pixel noise."""
    from PIL import Image, ImageDraw

    hue = (style.hue / _N_HUES + rng.uniform(-0.025, 0.025)) % 1.0
    fg = _rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.6, 0.95))
    if style.background == 0:
        bg = _rgb(rng.uniform(0, 1), rng.uniform(0, 0.08), rng.uniform(0.85, 1.0))
    elif style.background == 1:
        bg = _rgb(rng.uniform(0, 1), rng.uniform(0, 0.2), rng.uniform(0.08, 0.22))
    else:
        bg = _rgb((hue + 0.5) % 1.0, rng.uniform(0.2, 0.35), rng.uniform(0.8, 0.95))
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    cx = size / 2 + rng.uniform(-0.15, 0.15) * size
    cy = size / 2 + rng.uniform(-0.15, 0.15) * size
    r = rng.uniform(0.2, 0.34) * size
    shape = _SHAPES[style.shape]
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fg)
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fg)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fg)
    elif shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fg, width=max(2, int(r / 3)))
    elif shape == "cross":
        w = r / 3
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=fg)
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=fg)
    elif shape in ("hstripes", "vstripes"):
        period = int(rng.integers(8, 13))
        offset = int(rng.integers(0, period))
        for p in range(offset - period, size, period):
            box = (0, p, size, p + period // 2 - 1) if shape == "hstripes" else (p, 0, p + period // 2 - 1, size)
            draw.rectangle(box, fill=fg)
    elif shape == "checker":
        cell = int(rng.integers(8, 13))
        ox, oy = (int(v) for v in rng.integers(0, cell, size=2))
        for i, x in enumerate(range(ox - cell, size, cell)):
            for j, y in enumerate(range(oy - cell, size, cell)):
                if (i + j) % 2 == 0:
                    draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=fg)
    else:  # dots
        step = int(rng.integers(10, 15))
        dot = step / 3.2
        ox, oy = (int(v) for v in rng.integers(0, step, size=2))
        for x in range(ox - step, size + step, step):
            for y in range(oy - step, size + step, step):
                draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=fg)
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-18, 19, size=(size, size, 3), dtype=np.int16)
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV (each in [0, 1]) as the 8-bit RGB colour PIL draws with."""
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)
