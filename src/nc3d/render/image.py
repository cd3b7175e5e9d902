"""Images out: PNG encoding (a tiny dependency-free writer) and side-by-side comparisons."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["encode_png", "save_png", "side_by_side"]

_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels → PNG color type (gray, RGB, RGBA)


def _as_uint8_image(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _COLOR_TYPES or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"an image must be (h, w), (h, w, 3) or (h, w, 4), got shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"an image must be uint8 (0–255) or float (0–1), got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise InputError("the image holds NaN or infinite values")
    return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_png(image) -> bytes:
    """The bytes of a PNG file of ``image``.

    Parameters
    ----------
    image : (h, w), (h, w, 3) or (h, w, 4) array
        ``uint8`` (0–255) or float (0–1, clipped); gray, RGB or RGBA.
    """
    a = _as_uint8_image(image)
    h, w, c = a.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = np.concatenate([np.zeros((h, 1), dtype=np.uint8), a.reshape(h, w * c)], axis=1)  # filter 0 per row
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def save_png(path: str | os.PathLike, image, *, force: bool = False) -> Path:
    """Write ``image`` (see :func:`encode_png`) as a PNG file, atomically; an existing file is
    kept unless ``force`` (:class:`InputError`)."""
    from ..files import write_bytes_atomic

    return write_bytes_atomic(path, encode_png(image), force=force)


def _caption_strip(text: str, width: int, height: int) -> np.ndarray:
    """``(height, width, 3) uint8``: ``text`` centered in black on white (matplotlib's Agg)."""
    from .._optional import require

    require("matplotlib", "captions in side_by_side")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    px = min(height * 0.5, width / (0.62 * max(len(text), 1)))  # shrink long captions to fit
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=max(px, 5.0) * 72 / dpi)
    canvas.draw()
    strip = np.asarray(canvas.buffer_rgba())[:, :, :3]
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    out[: min(height, strip.shape[0]), : min(width, strip.shape[1])] = strip[:height, :width]
    return out


def side_by_side(
    images,
    captions=None,
    *,
    separator: int = 4,
    background=(255, 255, 255),
    separator_color=(200, 200, 200),
    caption_height: int = 28,
) -> np.ndarray:
    """Concatenate images horizontally with a thin separator.

    Parameters
    ----------
    images : sequence of (h_i, w_i, 3) or (h_i, w_i) uint8 / float images
        Shorter ones are centered vertically on ``background``.
    captions : sequence of str, optional
        One per image, drawn under it (needs matplotlib).
    separator : int
        Separator width in pixels.

    Returns
    -------
    (h, sum(w_i) + separator * (len - 1), 3) uint8 (plus ``caption_height`` rows with captions)
    """
    imgs = [_as_uint8_image(im) for im in images]
    if not imgs:
        raise InputError("side_by_side needs at least one image")
    imgs = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im[:, :, :3] for im in imgs]
    if captions is not None:
        captions = list(captions)
        if len(captions) != len(imgs):
            raise InputError(f"got {len(captions)} captions for {len(imgs)} images")
    h = max(im.shape[0] for im in imgs)
    bg = np.asarray(background, dtype=np.uint8)
    parts = []
    for i, im in enumerate(imgs):
        col = np.empty((h, im.shape[1], 3), dtype=np.uint8)
        col[...] = bg
        top = (h - im.shape[0]) // 2
        col[top : top + im.shape[0]] = im
        if captions is not None:
            col = np.concatenate([col, _caption_strip(str(captions[i]), im.shape[1], caption_height)], axis=0)
        if i:
            sep = np.empty((col.shape[0], separator, 3), dtype=np.uint8)
            sep[...] = np.asarray(separator_color, dtype=np.uint8)
            parts.append(sep)
        parts.append(col)
    return np.concatenate(parts, axis=1)
