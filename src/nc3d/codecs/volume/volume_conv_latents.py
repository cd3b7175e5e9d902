"""Entropy coding of integer latents against per-channel discrete Laplace tables.

Each latent channel ``i`` is modelled as a two-sided geometric distribution
``P(k) ∝ r_i^|k - c_i|`` on ``c_i - W .. c_i + W``: its centre ``c_i`` (the median) and its
ratio ``r_i = R_i / 2^16`` are fitted to that volume's symbols and stored (a few bytes per
channel). The integer table is derived from those stored integers with integer arithmetic
only (``t_0 = 2^24``, ``t_{d+1} = (t_d · R_i) >> 16``, floored at 1), so encoder and decoder
build identical tables on every machine and decoding is bit-exact.

Layout::

    varint W | M varints zigzag(c_i) | M varints R_i | ANS words (entropy.encode_with_tables)
"""

from __future__ import annotations

import numpy as np

from ...entropy import decode_with_tables, encode_with_tables, pack_varints, unpack_varints, unzigzag, zigzag
from ...errors import FormatError

__all__ = ["encode_latents", "decode_latents", "laplace_tables", "MAX_HALF_WIDTH"]

#: Largest |symbol - centre| coded; larger latents are clipped (never met in practice).
MAX_HALF_WIDTH = 1 << 14
_ONE = 1 << 24


def laplace_tables(ratios: np.ndarray, half_width: int) -> np.ndarray:
    """Integer counts of the two-sided geometric law for each channel.

    Parameters
    ----------
    ratios : (M,) int
        ``R_i`` in 0..65535 (``r_i = R_i / 2^16``).
    half_width : int
        ``W``; the tables cover offsets ``-W .. W``.

    Returns
    -------
    (M, 2W + 1) int64
        Counts, all ≥ 1, centre ``2^24``.
    """
    r = np.asarray(ratios, dtype=np.int64)
    tails = np.ones((r.size, half_width + 1), dtype=np.int64)
    t = np.full(r.size, _ONE, dtype=np.int64)
    for d in range(half_width + 1):  # over offsets (≤ W), vectorized over channels
        tails[:, d] = np.maximum(t, 1)
        if t.max() <= 1:
            break  # the rest stays at the floor of 1
        t = (t * r) >> 16
    return np.concatenate([tails[:, :0:-1], tails], axis=1)


def encode_latents(symbols: np.ndarray) -> bytes:
    """Code integer latents, one table per channel.

    Parameters
    ----------
    symbols : (M, n) int64
        Channel ``i``'s ``n`` symbols in row ``i``.

    Returns
    -------
    bytes
        See the module docstring.
    """
    q = np.asarray(symbols, dtype=np.int64)
    m = q.shape[0]
    centres = np.round(np.asarray(np.median(q, axis=1))).astype(np.int64)
    dev = q - centres[:, None]
    half = int(min(np.abs(dev).max(initial=0), MAX_HALF_WIDTH))
    dev = np.clip(dev, -half, half)
    mean_abs = np.abs(dev).mean(axis=1)
    # two-sided geometric law with E|k| = mean_abs: r = (sqrt(1 + m²) - 1) / m
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(mean_abs > 0, (np.sqrt(1 + mean_abs**2) - 1) / mean_abs, 0.0)
    ratios = np.clip(np.round(r * 65536), 0, 65535).astype(np.int64)
    head = pack_varints(np.concatenate([[half], zigzag(centres), ratios]).astype(np.uint64))
    if m == 0:
        return head
    return head + encode_with_tables(dev + half, laplace_tables(ratios, half))


def decode_latents(data: bytes, channels: int, count: int) -> np.ndarray:
    """Invert :func:`encode_latents` over untrusted bytes; (channels, count) int64."""
    values, pos = unpack_varints(data, 1 + 2 * channels, "latent tables")
    half, centres, ratios = int(values[0]), unzigzag(values[1 : 1 + channels]), values[1 + channels :]
    if half > MAX_HALF_WIDTH:
        raise FormatError(f"latent tables: half width {half} exceeds {MAX_HALF_WIDTH}")
    if ratios.size and int(ratios.max()) > 65535:
        raise FormatError("latent tables: a ratio exceeds 65535")
    if centres.size and int(np.abs(centres).max()) > 1 << 30:
        raise FormatError("latent tables: a channel centre is out of range")
    dev = decode_with_tables(memoryview(data)[pos:], laplace_tables(ratios, half), count)
    return dev - half + centres[:, None]
