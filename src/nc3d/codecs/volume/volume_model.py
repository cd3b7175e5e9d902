"""Learned DCT transform coding of a volume: the core of the default ``volume`` codec.

The transform is the orthonormal 8³ DCT of :mod:`nc3d.baselines.dct` (fast, exactly invertible);
what is learned (fitted on the shared volumes by :func:`fit_model`, shipped as a small ``.npz``
of integers) is everything around it:

* **side information**: each block's activity ``z = round(2 · log2(1 + Σ|q_AC|))`` (0..47) is
  coded first, so a flat block costs a few bits and its 511 AC symbols cost nothing;
* **entropy model**: each AC symbol is coded against a zero-inflated two-sided geometric law
  whose zero probability and tail ratio are looked up in a table indexed by the coefficient's
  frequency band ``u + v + w`` and its block's ``z`` (21 × 48 cells, learned). Tables are built
  from those stored integers with integer arithmetic only, so decoding is bit-exact everywhere;
  magnitudes past a per-cell cap ``E`` are escaped to a small order-0 stream;
* **per-file spectral fit**: the encoder may shift the table row each band uses
  (``z + shift[band]``, :func:`choose_zshift`), chosen by the coded size it estimates and
  recorded in the file: the tables' fall-off with frequency is that of the training scans, and
  a very smooth field (energy concentrated in the low bands) codes much smaller on other rows;
* **reconstruction**: non-zero symbols are dequantized to ``sign(q) · (|q| − δ_band) · step``,
  the learned per-band centroid offset of the Laplace-distributed coefficients; then a learned
  deblocking filter across the block faces (:mod:`.deblock`, one matrix per quality bucket);
* DC coefficients: Lorenzo (3-D difference) or x-difference prediction, whichever codes smaller.

Nothing in the coding loop runs per block or per symbol in Python: cells are gathered by one
stable sort and coded with one constriction call each.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from ...dct import BAND as _BAND
from ...dct import BANDS as _BANDS
from ...dct import dct_blocks as _dct
from ...entropy import categorical_model, constriction_module, decode_symbols, encode_symbols
from ...errors import FormatError, InputError
from ...resources import model_path
from .volume_ctx import CTX_SHAPE, ctx_histogram, fit_ctx_table

__all__ = [
    "AC_BAND",
    "Z_LEVELS",
    "ZSHIFT_MAX",
    "QUALITY_MAX",
    "quality_step",
    "choose_zshift",
    "deblock_bucket",
    "fit_model",
    "fit_deblock",
    "save_ldct_model",
    "ldct_model_bytes",
    "load_ldct_model",
    "default_ldct_path",
    "v1_ldct_path",
    "quantize_blocks",
    "block_activity",
    "encode_ac",
    "decode_ac",
    "dequantize",
    "steps_for",
]

_B = 8
#: Highest quality (step 2.56 / 2^16 ≈ 0.00004 of the range: ~17× at 100 dB on a smooth float32
#: field). Qualities above 28 (added 2026-11-22) use the deblocking matrix of bucket 14.
QUALITY_MAX = 32.0
#: Quality buckets of the deblocking filter: one (16, 4) matrix per even quality 0..28 (higher: the last).
DEBLOCK_BUCKETS = 15
#: Side-information levels per block.
Z_LEVELS = 48
_ONE = 1 << 24
#: Largest per-band shift of the table row (:func:`choose_zshift`): any row can be reached.
ZSHIFT_MAX = Z_LEVELS - 1
#: Largest escape cap per cell.
_MAX_CAP = 1024
_AC = np.arange(1, _B**3)
AC_BAND = _BAND[_AC]  # (511,) band 1..21 of each AC coefficient


def quality_step(quality: float) -> float:
    """Base quantization step (fraction of the data range) of a quality level."""
    return 2.56 * 2.0 ** (-float(quality) / 2)


def deblock_bucket(quality: float) -> int:
    """Index of the deblocking matrix used at ``quality``."""
    return int(min(max(round(float(quality) / 2), 0), DEBLOCK_BUCKETS - 1))


def steps_for(step: float, tilt: float) -> np.ndarray:
    """(512,) float32 quantization step of each coefficient (grows with the band by ``tilt``)."""
    return (step * (1.0 + tilt * _BAND / (_BANDS - 1))).astype(np.float32)


def quantize_blocks(x: np.ndarray, steps: np.ndarray, dead_zone: float) -> tuple[np.ndarray, np.ndarray]:
    """8³ blocks in [0, 1] → integer coefficients.

    Parameters
    ----------
    x : (n, 8, 8, 8) float32
    steps : (512,) float32
    dead_zone : float
        Rounding offset towards zero for AC coefficients.

    Returns
    -------
    q : (n, 512) int32
        Quantized coefficients (C order of (u, v, w)).
    c : (n, 512) float32
        The scaled coefficients before rounding (``coefficient / step``).
    """
    c = _dct(x).reshape(len(x), -1).astype(np.float32)
    c /= steps
    m = np.floor(np.abs(c) + np.float32(0.5 - dead_zone))
    q = np.copysign(m, c).astype(np.int32)
    q[:, 0] = np.rint(c[:, 0]).astype(np.int32)
    return q, c


def block_activity(q: np.ndarray) -> np.ndarray:
    """(n,) int64 side information ``z`` of each block from its (n, 512) integer coefficients."""
    s = np.abs(q[:, 1:]).sum(axis=1, dtype=np.int64)
    return np.minimum(np.rint(2 * np.log2(1.0 + s)), Z_LEVELS - 1).astype(np.int64)


def _caps(r: np.ndarray) -> np.ndarray:
    """Escape cap ``E`` of each cell from its tail ratio ``R`` (uint16 scale)."""
    mean_tail = 65536.0 / np.maximum(65536 - r.astype(np.int64), 1)
    return np.clip(np.ceil(12 * mean_tail), 4, _MAX_CAP).astype(np.int64)


def _cell_counts(p0: int, r: int, cap: int) -> np.ndarray:
    """Integer counts over symbols ``-E .. E`` (±E = escape) of one cell, from its stored integers."""
    c0 = max(1, (int(p0) * _ONE) >> 16)
    t = ((_ONE - c0) * (65536 - int(r))) >> 17
    tail = np.ones(cap, dtype=np.int64)
    for d in range(cap):  # over magnitudes 1..E (≤ 1024), integer arithmetic
        tail[d] = max(t, 1)
        if t <= 1:
            break
        t = (t * int(r)) >> 16
    tail[-1] = max(1, (int(tail[-1]) * 65536) // max(1, 65536 - int(r)))  # the escape holds the rest
    return np.concatenate([tail[::-1], [c0], tail])


def _cells(z: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """(n, 511) cell index band·Z + z of each AC coefficient (row ``z + shift[band]``, clipped)."""
    zz = z[:, None] if shift is None else np.clip(z[:, None] + shift[AC_BAND][None, :], 0, Z_LEVELS - 1)
    return (AC_BAND[None, :] * Z_LEVELS + zz).astype(np.int16)


def choose_zshift(q: np.ndarray, z: np.ndarray, model: dict) -> tuple[np.ndarray, float]:
    """Per-band table-row shift minimizing the estimated AC code length of these blocks.

    Each cell's law is zero-inflated geometric, so a (band, z) group's cost under any row is
    ``n₀·b₀ + n₊·b₁ + S·b_r`` from three counts (zeros, non-zeros, Σ(|q| − 1)): every shift of
    every band is scored at once (escapes past the caps are ignored in the estimate).

    Parameters
    ----------
    q : (n, 512) int32
        Quantized coefficients.
    z : (n,) int64
        Block activity (:func:`block_activity`).

    Returns
    -------
    shift : (22,) int64
        Shift of each band in ``-ZSHIFT_MAX .. ZSHIFT_MAX`` (band 0, the DC, stays 0).
    saved : float
        Estimated bytes saved against no shift.
    """
    active = z > 0
    a = np.abs(q[active][:, 1:])
    key = (AC_BAND[None, :] * Z_LEVELS + z[active][:, None]).ravel()
    size = _BANDS * Z_LEVELS
    n = np.bincount(key, minlength=size).reshape(_BANDS, Z_LEVELS)
    nz = np.bincount(key, weights=(a > 0).ravel(), minlength=size).reshape(_BANDS, Z_LEVELS)
    tail = np.bincount(key, weights=np.maximum(a - 1, 0).ravel(), minlength=size).reshape(_BANDS, Z_LEVELS)
    p0 = model["p0"] / 65536.0
    r = np.maximum(model["r"], 1) / 65536.0
    b0, b1, br = -np.log2(p0), -np.log2((1 - p0) * (1 - r) / 2), -np.log2(r)
    shifts = np.arange(-ZSHIFT_MAX, ZSHIFT_MAX + 1)
    rows = np.clip(np.arange(Z_LEVELS)[None, :] + shifts[:, None], 0, Z_LEVELS - 1)  # (shifts, Z)
    bits = (
        (n - nz)[None] * b0[:, rows].transpose(1, 0, 2)
        + nz[None] * b1[:, rows].transpose(1, 0, 2)
        + tail[None] * br[:, rows].transpose(1, 0, 2)
    ).sum(axis=2)  # (shifts, bands)
    bits[:, 0] = 0.0
    # ties (to the bit) go to the smallest |shift|: rank by rounded cost, then by |shift|
    best = np.lexsort((np.abs(shifts)[:, None].repeat(_BANDS, 1), np.round(bits)), axis=0)[0]
    shift = shifts[best]
    saved = float(bits[ZSHIFT_MAX].sum() - bits[best, np.arange(_BANDS)].sum()) / 8
    return shift.astype(np.int64), saved


def encode_ac(
    q: np.ndarray, z: np.ndarray, model: dict, shift: np.ndarray | None = None
) -> tuple[bytes, bytes]:
    """Code the AC symbols of blocks with ``z > 0`` against the model's cells → (ANS words, escapes).

    ``shift`` : (22,) int, optional — the per-band table-row shift (:func:`choose_zshift`)."""
    active = z > 0
    sym = q[active][:, 1:]
    cells = _cells(z[active], shift).ravel()
    order = np.argsort(cells, kind="stable")
    sym, cells = sym.ravel()[order].astype(np.int64), cells[order]
    used, starts = np.unique(cells, return_index=True)
    ends = np.append(starts[1:], len(cells))
    p0, r = model["p0"].ravel(), model["r"].ravel()
    caps = _caps(r)
    mag = np.abs(sym)
    esc_values = []
    coder = constriction_module().stream.stack.AnsCoder()
    for cell, a, b in zip(used[::-1], starts[::-1], ends[::-1]):  # over non-empty cells (≤ 1008)
        cap = int(caps[cell])
        s, m = sym[a:b], mag[a:b]
        over = m >= cap
        if over.any():
            esc_values.append(m[over] - cap)
        clipped = np.clip(s, -cap, cap) + cap
        coder.encode_reverse(
            clipped.astype(np.int32), categorical_model(_cell_counts(p0[cell], r[cell], cap))
        )
    esc = np.concatenate(esc_values[::-1]) if esc_values else np.zeros(0, np.int64)
    words = np.asarray(coder.get_compressed(), dtype=np.uint32).astype("<u4").tobytes()
    return words, encode_symbols(esc)


def decode_ac(
    words: bytes, escapes: bytes, z: np.ndarray, model: dict, bound: int, shift: np.ndarray | None = None
) -> np.ndarray:
    """Invert :func:`encode_ac` over untrusted bytes → (n, 511) int32 AC symbols (0 where ``z == 0``)."""
    n = len(z)
    out = np.zeros((n, _B**3 - 1), dtype=np.int32)
    active = z > 0
    na = int(active.sum())
    if na == 0:
        if len(words) or len(escapes) and decode_symbols(escapes).size:
            raise FormatError("volume: AC data for a volume without active blocks")
        return out
    buf = np.frombuffer(memoryview(words).cast("B"), dtype=np.uint8)
    if buf.size == 0 or buf.size % 4:
        raise FormatError(f"volume: AC stream of {buf.size} bytes is not a positive multiple of 4")
    cells = _cells(z[active], shift).ravel()
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    used, starts = np.unique(sorted_cells, return_index=True)
    ends = np.append(starts[1:], len(cells))
    p0, r = model["p0"].ravel(), model["r"].ravel()
    caps = _caps(r)
    sym = np.empty(len(cells), dtype=np.int64)
    constriction = constriction_module()
    try:
        coder = constriction.stream.stack.AnsCoder(buf.view("<u4").astype(np.uint32))
        for cell, a, b in zip(used, starts, ends):  # over non-empty cells
            cap = int(caps[cell])
            sym[a:b] = (
                np.asarray(coder.decode(categorical_model(_cell_counts(p0[cell], r[cell], cap)), int(b - a)))
                - cap
            )
        leftover = not coder.is_empty()
    except (ValueError, RuntimeError, AssertionError, BaseException) as exc:  # constriction panics
        if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise FormatError(f"volume: AC stream is corrupt ({type(exc).__name__})") from None
    if leftover:
        raise FormatError("volume: AC stream is corrupt: unused data after the symbols")
    cap_of = caps[sorted_cells]
    hit = np.abs(sym) >= cap_of
    esc = decode_symbols(escapes)
    if esc.size != int(hit.sum()) or (esc.size and (int(esc.min()) < 0 or int(esc.max()) > bound)):
        raise FormatError("volume: escape stream does not match the AC symbols")
    sym[hit] = np.sign(sym[hit]) * (cap_of[hit] + esc)
    if sym.size and int(np.abs(sym).max()) > bound:
        raise FormatError("volume: AC coefficients out of range")
    flat = np.empty_like(sym)
    flat[order] = sym
    out[active] = flat.reshape(na, -1)
    return out


def dequantize(q: np.ndarray, steps: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n, 512) ints → (n, 8, 8, 8) float32 blocks: AC shrunk by the per-band offset ``δ``."""
    f = q.astype(np.float32)
    shrink = offsets[_BAND].astype(np.float32)
    shrink[0] = 0.0
    f -= np.sign(f) * shrink
    f *= steps
    return _dct(f.reshape(-1, _B, _B, _B), inverse=True).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Fitting and storing the model
# ----------------------------------------------------------------------------------------------


def fit_model(samples, *, tilt: float, dead_zone: float, prior: float = 4.0, context: bool = True) -> dict:
    """Fit the cell tables and reconstruction offsets on training volumes.

    Parameters
    ----------
    samples : iterable of (volume01, step)
        Volumes scaled to [0, 1], each with the step it is quantized at (use several steps per
        volume so the tables cover the whole ladder).
    tilt, dead_zone : float
        The quantizer the model is fitted for (stored with it).
    context : bool
        Also fit the parent-context table ``ctx`` (:mod:`.volume_ctx`); a model with it writes
        context-coded files (header ``ac: "ctx"``), one without writes the band × activity ones.

    Returns
    -------
    dict
        ``p0``, ``r`` (22, Z) uint16-valued int64 tables, ``offsets`` (22,) float32,
        ``tilt``, ``dead_zone``; ``ctx`` (21, 16, 9, 16) uint16 when ``context``.
    """
    from ...blocks import split_blocks

    zeros = np.zeros((_BANDS, Z_LEVELS))
    total = np.zeros((_BANDS, Z_LEVELS))
    tail = np.zeros((_BANDS, Z_LEVELS))
    off_sum = np.zeros(_BANDS)
    off_n = np.zeros(_BANDS)
    ctx_hist = np.zeros((21, Z_LEVELS, 9, 16))
    for x, step in samples:
        blocks, _ = split_blocks(x.astype(np.float32), _B, 0)
        q, c = quantize_blocks(blocks, steps_for(step, tilt), dead_zone)
        z = block_activity(q)
        if context:
            ctx_hist += ctx_histogram(q, z)
        cells = _cells(z).ravel()
        a = np.abs(q[:, 1:]).ravel()
        n_cells = _BANDS * Z_LEVELS
        total += np.bincount(cells, minlength=n_cells).reshape(_BANDS, Z_LEVELS)
        zeros += np.bincount(cells, weights=(a == 0), minlength=n_cells).reshape(_BANDS, Z_LEVELS)
        tail += np.bincount(cells, weights=np.maximum(a - 1, 0), minlength=n_cells).reshape(_BANDS, Z_LEVELS)
        nz = a > 0
        band = np.broadcast_to(AC_BAND, q[:, 1:].shape).ravel()[nz]
        off_sum += np.bincount(band, weights=(a[nz] - np.abs(c[:, 1:]).ravel()[nz]), minlength=_BANDS)
        off_n += np.bincount(band, minlength=_BANDS)
    nonzero = total - zeros
    # Sparse cells borrow from the pooled band statistics (a prior of `prior` pseudo-counts).
    band_p0 = (zeros.sum(1) + 1) / (total.sum(1) + 2)
    band_mu = (tail.sum(1) + 1) / (nonzero.sum(1) + 1)
    p0 = (zeros + prior * band_p0[:, None]) / (total + prior)
    mu = (tail + prior * band_mu[:, None]) / (nonzero + prior)
    r = mu / (1 + mu)
    offsets = np.where(off_n > 0, off_sum / np.maximum(off_n, 1), 0.0)
    out = {
        "p0": np.clip(np.rint(p0 * 65536), 1, 65535).astype(np.int64),
        "r": np.clip(np.rint(r * 65536), 0, 65535 - 64).astype(np.int64),
        "offsets": np.clip(offsets, -0.5, 0.5).astype(np.float32),
        "tilt": float(tilt),
        "dead_zone": float(dead_zone),
    }
    if context:
        out["ctx"] = fit_ctx_table(ctx_hist)
    return out


def decode_grid(q: np.ndarray, steps: np.ndarray, offsets: np.ndarray, grid) -> np.ndarray:
    """(n, 512) integer coefficients → (8·gz, 8·gy, 8·gx) float32 volume on the full block grid."""
    from ...blocks import merge_blocks

    return merge_blocks(dequantize(q, steps, offsets), [_B * g for g in grid], _B, 0)


def fit_deblock(model: dict, volumes, qualities) -> np.ndarray:
    """Fit the deblocking matrices (one per quality bucket) for ``model``'s quantizer and dequantizer.

    Parameters
    ----------
    volumes : list of (z, y, x) float32 in [0, 1]
    qualities : iterable of float
        Qualities to decode each volume at (their buckets get fitted; others stay zero).

    Returns
    -------
    (DEBLOCK_BUCKETS, 16, 4) float32
    """
    from ...blocks import split_blocks
    from .deblock import FEATURES, deblock_normal_equations, solve_deblock

    out = np.zeros((DEBLOCK_BUCKETS, FEATURES, 4), dtype=np.float32)
    for quality in qualities:
        ftf, ftt = np.zeros((FEATURES, FEATURES)), np.zeros((FEATURES, 4))
        for x in volumes:
            blocks, grid = split_blocks(x, _B, 0)
            steps = steps_for(quality_step(quality), model["tilt"])
            q, _ = quantize_blocks(blocks, steps, model["dead_zone"])
            padded = np.pad(x, [(0, _B * g - s) for g, s in zip(grid, x.shape)], mode="edge")
            a, b = deblock_normal_equations(decode_grid(q, steps, model["offsets"], grid), padded)
            ftf += a
            ftt += b
        if ftf.any():
            out[deblock_bucket(quality)] = solve_deblock(ftf, ftt)
    return out


def default_ldct_path() -> Path:
    """The shipped model new files are written with (it has the parent-context table)."""
    return model_path("volume-ctx.npz")


def v1_ldct_path() -> Path:
    """The shipped model of the files written before the context coding (no ``ac`` header)."""
    return model_path("volume.npz")


def save_ldct_model(model: dict, path) -> None:
    Path(path).write_bytes(ldct_model_bytes(model))


def ldct_model_bytes(model: dict) -> bytes:
    """The ``.npz`` bytes of a model (what :func:`load_ldct_model` reads)."""
    buf = io.BytesIO()
    arrays = dict(
        p0=model["p0"].astype(np.uint16),
        r=model["r"].astype(np.uint16),
        offsets=np.rint(model["offsets"] * 4096).astype(np.int16),
        quantizer=np.array([round(model["tilt"] * 4096), round(model["dead_zone"] * 4096)], dtype=np.uint16),
        deblock=np.asarray(model["deblock"], dtype=np.float32),
    )
    if "ctx" in model:  # the context table is ~100 kB raw: stored compressed
        np.savez_compressed(buf, **arrays, ctx=np.asarray(model["ctx"], dtype=np.uint16))
    else:
        np.savez(buf, **arrays)
    return buf.getvalue()


def load_ldct_model(source) -> tuple[dict, str]:
    """Model from a path or bytes → (model, digest); :class:`InputError` when malformed."""
    blob = Path(source).read_bytes() if not isinstance(source, (bytes, bytearray)) else bytes(source)
    try:
        buf = io.BytesIO(blob)
        with np.load(buf, allow_pickle=False) as f:
            p0, r, off, qz, db = (np.asarray(f[k]) for k in ("p0", "r", "offsets", "quantizer", "deblock"))
            ctx = np.asarray(f["ctx"]) if "ctx" in f.files else None
    except Exception as exc:  # noqa: BLE001 - np.load raises many kinds on garbage
        raise InputError(f"not a volume DCT model ({type(exc).__name__})") from None
    if (
        p0.shape != (_BANDS, Z_LEVELS)
        or r.shape != (_BANDS, Z_LEVELS)
        or off.shape != (_BANDS,)
        or qz.shape != (2,)
    ):
        raise InputError("volume DCT model: arrays of the wrong shape")
    if db.shape != (DEBLOCK_BUCKETS, 16, 4) or db.dtype != np.float32 or not np.all(np.abs(db) < 1e3):
        raise InputError("volume DCT model: the deblocking weights are malformed")
    if ctx is not None and (ctx.shape != CTX_SHAPE or ctx.dtype != np.uint16 or int(ctx.min()) < 1):
        raise InputError("volume DCT model: the context table is malformed")
    model = {
        "p0": np.maximum(p0.astype(np.int64), 1),
        "r": np.minimum(r.astype(np.int64), 65535 - 64),
        "offsets": np.clip(off.astype(np.float32) / 4096, -0.5, 0.5),
        "tilt": min(float(qz[0]) / 4096, 8.0),
        "dead_zone": min(float(qz[1]) / 4096, 0.5),
        "deblock": db,
    }
    if ctx is not None:
        model["ctx"] = ctx
    return model, hashlib.sha256(blob).hexdigest()[:16]
