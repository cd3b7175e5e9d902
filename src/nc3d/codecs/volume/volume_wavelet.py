"""Wavelet coefficients of the ``volume`` codec (format 3, the default since 2026-12-07).

The values (scaled to [0, 1]) go through the 3-D CDF 9/7 transform (:mod:`nc3d.wavelet`), every
coefficient is divided by one step and rounded with a dead zone (``|q| = ⌊|c|/step + ρ⌋``,
``ρ = rounding`` of the model, < ½), and decoded at ``(|q| + θ)·step`` (``θ = offset``: the
centroid of a Laplacian cell lies below its middle). The coarsest low-pass box is coded first, as
3-D Lorenzo residuals (a table row of its own); then the detail coefficients band by band, coarse
to fine, each band in two halves of a 3-D checkerboard, every half at once ("a pass"). A
coefficient's law is a row of an integer frequency table, indexed by what the decoder already has
when the pass is decoded:

* ``level``: 0 for the finest level, 1, 2, and 3 for the coarser ones;
* ``P``: the magnitude of its *parent*, the coefficient of the same band one level coarser at half
  its position (bucket edges 1, 2, 3, 5, 9);
* ``S``: the sum of the magnitudes at its position in the bands of its level coded before it
  (edges 1, 2, 4, 8);
* ``N``: in the second half of the checkerboard, the sum of the magnitudes of its 6 face
  neighbours, all in the first half (edges 1, 2, 3, 5, 8, 13, 21; the first half is a row of its own).

The table starts from the model's ``prior`` (learned: :func:`fit_prior`; ``alpha`` pseudo-counts
per row) and *adapts*: after each pass, the pass's own counts are added, so the later and finer
passes are coded with this volume's statistics. Every number is an integer, so the decoder rebuilds
the same tables bit for bit. A row codes the signed symbols ``−37..37`` (counts ``f37 … f1, 2·f0,
f1 … f37``: the sign is even): magnitudes ``0..13`` directly, larger ones by *class* ``j``
(magnitude ``12 + 2^(j+1) + r``) with the offset ``r`` in ``j + 1`` raw bits (stream ``bits``), up to
the largest magnitude a [0, 1] volume can give at the finest step. Rows where zero has at least
99 % are coded 16 symbols per flag ("all zero" or not; :data:`GROUP`), which makes the coder touch a
few symbols per group in the empty parts of a volume.

Why this and not the 8³ DCT of formats 1–2 (rd_notes.md): on the 9 shared volumes, leave-one-out,
the DCT format reached 1.06 / 1.06 / 1.02 / 0.96 × SPERR's ratio at 30 / 35 / 40 / 45 dB; this one
1.30 / 1.37 / 1.34 / 1.27 (no volume below 1.08). Most of the gain is the transform's many
levels on smooth fields and the adaptation (without it the 1 mm MNI template at 30 dB loses a
quarter: a prior fitted on small volumes; with a prior floor of 1 in 2¹¹ per symbol instead of
2⁻²³ it lost another 30 % — zeros are coded at P ≈ 0.9999 there).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from ...entropy import (
    categorical_model,
    constriction_module,
    guarded,
    pack_varints,
    unpack_varints,
)
from ...errors import FormatError, InputError
from ...resources import model_path
from ...wavelet import band_names, inverse_cdf97, split_axes
from ..volume_header import pack_volume_header, unpack_volume_header

__all__ = [
    "DIRECT",
    "CLASSES",
    "MAGS",
    "ROWS",
    "TABLE_ROWS",
    "quantize_wavelet",
    "dequantize_wavelet",
    "coefficient_bound",
    "encode_wavelet",
    "decode_wavelet",
    "wavelet_histogram",
    "fit_prior",
    "wavelet_model_bytes",
    "load_wavelet_model",
    "default_wavelet_path",
    "QUALITY_UNITS",
    "pack_payload",
    "unpack_payload",
    "lorenzo_residuals",
    "lorenzo_restore",
]

#: The quality is stored in 1/256 steps (u16).
QUALITY_UNITS = 256

#: Magnitudes coded directly (0..DIRECT−1); larger ones by class (see the module's docstring).
DIRECT = 14
#: Magnitude classes: class ``j`` holds ``DIRECT − 2 + [2^(j+1), 2^(j+2))``, its offset in ``j + 1`` raw bits.
CLASSES = 24
#: Magnitude symbols of a table row.
MAGS = DIRECT + CLASSES
P_EDGES = np.array([1, 2, 3, 5, 9])
S_EDGES = np.array([1, 2, 4, 8])
N_EDGES = np.array([1, 2, 3, 5, 8, 13, 21])
_LEVELS = 4
_P, _S, _N = len(P_EDGES) + 1, len(S_EDGES) + 1, len(N_EDGES) + 2
#: Rows of the context table: level × P × S × N.
ROWS = _LEVELS * _P * _S * _N
#: The row of the low-pass box's Lorenzo residuals (after the context rows).
LOW_ROW = ROWS
#: Rows of the stored table.
TABLE_ROWS = ROWS + 1
#: Weight of one coded symbol in the adaptive counts (the prior's row total is ``alpha × UNIT``).
#: Large, so that the prior's floor of 1 on the symbols a row has never seen costs nothing: a
#: row of zeros is coded at P(0) ≈ 0.9999, where a floor of 1 in 2¹¹ would add 0.03 bit per zero.
UNIT = 1 << 16
#: The stored prior is probabilities in units of 2⁻³⁰.
PRIOR_BITS = 30


# ----------------------------------------------------------------------------------------------
# transform + quantization
# ----------------------------------------------------------------------------------------------


def quantize_wavelet(
    low: np.ndarray, bands: list[dict[str, np.ndarray]], step: float, rounding: float
) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """Quantize :func:`nc3d.wavelet.forward_cdf97`'s output → (low (int64), bands (int32)).

    ``low``: the coarsest low-pass box rounded to the nearest step; ``bands``: per level (finest
    first) band name → dead-zone-quantized coefficients ``sign(c)·⌊|c|/step + rounding⌋``.
    """
    inv = np.float32(1.0 / step)
    qbands = []
    for level in bands:
        out = {}
        for name, c in level.items():
            c = np.asarray(c)
            mag = np.floor(np.abs(c) * inv + np.float32(rounding)).astype(np.int32)
            out[name] = np.where(c < 0, -mag, mag)
        qbands.append(out)
    return np.rint(np.asarray(low, dtype=np.float64) / step).astype(np.int64), qbands


def coefficient_bound(step: float) -> int:
    """Largest magnitude a quantized coefficient of values in [0, 1] can have (a decoder's guard).

    Each analysis basis function of up to :data:`~nc3d.wavelet.MAX_LEVELS` levels has an L1 norm
    below 8 along one axis (measured: 7.6), so below 512 in 3-D; twice that, plus rounding.
    """
    return int(1024 / step) + 16


def dequantize_wavelet(ql: np.ndarray, qbands, step: float, offset: float) -> np.ndarray:
    """Inverse of :func:`quantize_wavelet`: values (float32, [0, 1] scale) from the integers."""
    s = np.float32(step)
    bands = []
    for level in qbands:
        out = {}
        for name, q in level.items():
            f = q.astype(np.float32)
            f += np.sign(f) * np.float32(offset)
            f *= s
            out[name] = f
        bands.append(out)
    return np.asarray(inverse_cdf97(ql.astype(np.float32) * s, bands), dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# contexts
# ----------------------------------------------------------------------------------------------


#: Magnitudes kept for the contexts are capped at this (every bucket edge is below it).
_CAP = 255


def _lut(edges: np.ndarray, largest: int, scale: int) -> np.ndarray:
    """``scale ×`` the bucket (the number of edges ≤ it) of each value 0..largest, int16."""
    return (np.searchsorted(edges, np.arange(largest + 1), "right") * scale).astype(np.int16)


# Row = ((level · P + p) · S + s) · N + n: each lookup gives its term of the row.
_P_LUT = _lut(P_EDGES, _CAP, _S * _N)
_S_LUT = _lut(S_EDGES, 7 * _CAP, _N)
_N_LUT = _lut(N_EDGES, 6 * _CAP, 1)


def _parity(shape) -> np.ndarray:
    i, j, k = (np.arange(n, dtype=np.uint8) for n in shape)
    return (i[:, None, None] + j[None, :, None] + k[None, None, :]) & 1


def _face_sum(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    for ax in range(3):
        hi = [slice(None)] * 3
        lo = [slice(None)] * 3
        hi[ax], lo[ax] = slice(1, None), slice(None, -1)
        out[tuple(hi)] += a[tuple(lo)]
        out[tuple(lo)] += a[tuple(hi)]
    return out


def _parent(parent: np.ndarray | None, shape, halved) -> np.ndarray | None:
    """A parent band's values at each child position (``halved[a]``: the parent level split axis ``a``)."""
    if parent is None:
        return None
    a, b, c = parent.shape
    fa, fb, fc = (2 if h else 1 for h in halved)
    # each parent value repeated over its 2×2×2 (or fewer) children: one broadcast copy
    up = np.broadcast_to(parent[:, None, :, None, :, None], (a, fa, b, fb, c, fc)).reshape(
        a * fa, b * fb, c * fc
    )
    if all(u >= n for u, n in zip(up.shape, shape)):
        out = up[: shape[0], : shape[1], : shape[2]]
        return out if out.flags.writeable else out.copy()  # a reshape that could stay a view
    idx = [np.minimum(np.arange(n) // f, m - 1) for n, f, m in zip(shape, (fa, fb, fc), parent.shape)]
    return parent[np.ix_(*idx)]  # a parent band shorter than half its child's (odd sizes)


def _add_overlap(acc: np.ndarray, a: np.ndarray) -> None:
    box = tuple(slice(0, min(x, y)) for x, y in zip(acc.shape, a.shape))
    acc[box] += a[box]


class _Plan:
    """The passes of a volume's detail coefficients in coding order, with each pass's contexts.

    Encoder and decoder walk it the same way: :meth:`passes` yields ``(level, name, mask, rows)``
    (the even half of a band's checkerboard, then the odd half); the caller then :meth:`store` s
    the pass's magnitudes before the next one.
    """

    def __init__(self, shapes, axes):
        self.shapes, self.axes = shapes, axes
        self.mags: list[dict[str, np.ndarray]] = [dict() for _ in axes]

    def passes(self):
        masks: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # checkerboard halves by band shape
        for level in range(len(self.axes) - 1, -1, -1):
            offset = np.int16(min(level, _LEVELS - 1) * _P * _S * _N)
            sib = None
            coarser = self.mags[level + 1] if level + 1 < len(self.axes) else {}
            halved = self.axes[level + 1] if level + 1 < len(self.axes) else (False,) * 3
            for name in band_names(self.axes[level]):
                shape = self.shapes[level][name]
                par = coarser.get(name)  # its terms looked up on the parent band, then spread
                base = (
                    np.full(shape, offset, np.int16)
                    if par is None
                    else _parent(_P_LUT[par] + offset, shape, halved)
                )
                if sib is not None:
                    if sib.shape == shape:
                        base += _S_LUT[sib]
                    else:
                        s = np.zeros(shape, np.int16)
                        _add_overlap(s, sib)
                        base += _S_LUT[s]
                self.mags[level][name] = mag = np.zeros(shape, np.int16)
                if shape not in masks:
                    even = _parity(shape) == 0
                    masks[shape] = (even, ~even)
                even, odd = masks[shape]
                yield level, name, even, base[even]
                yield level, name, odd, base[odd] + 1 + _N_LUT[_face_sum(mag)[odd]]
                if sib is None:
                    sib = mag.copy()
                else:
                    _add_overlap(sib, mag)

    def store(self, level, name, mask, magnitudes) -> None:
        """Keep a pass's magnitudes for the contexts of the next passes (capped at 255: every
        bucket edge is below that, and 7 siblings or 6 neighbours still sum within int16)."""
        self.mags[level][name][mask] = np.minimum(magnitudes, _CAP)


def _band_shapes(qbands) -> list[dict[str, tuple]]:
    return [{n: a.shape for n, a in level.items()} for level in qbands]


def _shapes_for(shape) -> tuple[list[dict[str, tuple]], tuple, list]:
    """Band shapes (per level, finest first), the low box's shape and the split axes of a volume."""
    axes = split_axes(shape)
    size = list(shape)
    shapes = []
    for ax in axes:
        lo = [(n + 1) // 2 if a else n for n, a in zip(size, ax)]
        hi = [n // 2 if a else n for n, a in zip(size, ax)]
        shapes.append(
            {name: tuple(b if c == "H" else a for c, a, b in zip(name, lo, hi)) for name in band_names(ax)}
        )
        size = lo
    return shapes, tuple(size), axes


# ----------------------------------------------------------------------------------------------
# coding
# ----------------------------------------------------------------------------------------------


def lorenzo_residuals(a: np.ndarray) -> np.ndarray:
    """3-D Lorenzo prediction residuals of an integer (z, y, x) array, flattened (int64)."""
    g = a.astype(np.int64)
    for axis in range(3):
        g = np.diff(g, axis=axis, prepend=0)
    return g.ravel()


def lorenzo_restore(res: np.ndarray, shape) -> np.ndarray:
    """Invert :func:`lorenzo_residuals` → the (z, y, x) array of ``shape``."""
    g = res.reshape(shape)
    for axis in range(3):
        g = np.cumsum(g, axis=axis)
    return g


def _classify(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitudes → (symbol 0..MAGS−1, remainder, remainder bits): see the module's docstring."""
    sym = np.minimum(m, DIRECT)
    nbits = np.zeros_like(m)
    rem = np.zeros_like(m)
    big = m >= DIRECT
    if big.any():
        u = m[big] - (DIRECT - 2)
        j = np.frexp(u.astype(np.float64))[1].astype(np.int32) - 2  # ⌊log2 u⌋ − 1
        sym[big] = DIRECT + j
        nbits[big] = j + 1
        rem[big] = u - (np.int32(1) << (j + 1))
    return sym, rem, nbits


def _row_model(counts: np.ndarray):
    """The signed law of one table row (counts of magnitudes 0..MAGS−1; the sign is even)."""
    return categorical_model(np.concatenate([counts[:0:-1], [2 * counts[0]], counts[1:]]))


def _groups(rows: np.ndarray):
    """Stable order of ``rows``, the sorted rows, and their runs: (order, sorted, [(row, start, end)])."""
    order = np.argsort(rows, kind="stable")  # a radix sort: rows are int16
    r = rows[order]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.zeros(0, np.int64)
    ends = np.append(starts[1:], len(r))
    return order, r, list(zip(r[starts].tolist(), starts.tolist(), ends.tolist()))


class _Counts:
    """The adaptive table: the model's prior, then + :data:`UNIT` per coded symbol of each row."""

    def __init__(self, model: dict):
        # (TABLE_ROWS, MAGS): p · alpha · UNIT in integers (≤ 2^30 · 2^8 · 2^16 < 2^63)
        self.table = np.maximum((model["prior"] * (model["alpha"] * UNIT)) >> PRIOR_BITS, 1)
        #: (TABLE_ROWS, 2): all-zero and busy groups coded so far (:data:`GROUP`)
        self.flags = np.zeros((len(self.table), 2), np.int64)

    def update(self, rows: np.ndarray, sym: np.ndarray) -> None:
        self.table += UNIT * np.bincount(
            rows.astype(np.int32) * MAGS + sym, minlength=self.table.size
        ).reshape(self.table.shape)


#: A row whose law gives zero a probability of at least 99 % ("quiet": most of a volume's fine
#: coefficients) codes its symbols :data:`GROUP` at a time behind one flag, "all zero" or not:
#: the coder then touches a few symbols per group instead of every one (the 256³ decode time).
GROUP = 16


def _quiet(counts: np.ndarray) -> bool:
    """Whether a row's symbols go by groups: an integer test, the same on both sides."""
    return int(counts[0]) * 100 >= 99 * int(counts.sum())


def _flag_model(counts: np.ndarray, flags: np.ndarray):
    """Law of a group's flag (0: all :data:`GROUP` symbols zero) for one row.

    The row's P(zero)^16 (squared four times: exact IEEE arithmetic, no ``pow``, so every machine
    builds the same law) weighted as 8 groups, plus the groups of this row already coded
    (``flags``: counts of all-zero and busy groups).
    """
    p = float(counts[0]) / float(counts.sum())
    for _ in range(4):
        p = p * p
    busy = min(max(int(round((1.0 - p) * 8 * UNIT)), 1), 8 * UNIT - 1)
    return categorical_model(np.array([8 * UNIT - busy, busy]) + UNIT * flags)


def _busy_model(counts: np.ndarray):
    """Law of the symbols of a group known to hold a non-zero: the row's law with zero made 15
    times as likely as all the others together (about one non-zero among 16)."""
    busy = counts.copy()
    busy[0] = max(15 * int(counts[1:].sum()), 1)
    return _row_model(busy)


def _code_row(counts: np.ndarray, flag_counts: np.ndarray, seg: np.ndarray):
    """One row's symbols ``seg`` (signed, offset) → ((model, symbols) chunks in decoding order,
    the (all-zero, busy) group counts to add to the row's flag counts)."""
    model = _row_model(counts)
    if not (_quiet(counts) and len(seg) >= GROUP):
        return [(model, seg)], None
    full = len(seg) // GROUP * GROUP
    groups = seg[:full].reshape(-1, GROUP)
    flags = (groups != MAGS - 1).any(axis=1)
    chunks = [
        (_flag_model(counts, flag_counts), flags.astype(np.int32)),
        (_busy_model(counts), groups[flags].ravel()),
        (model, seg[full:]),
    ]
    busy = int(flags.sum())
    return chunks, np.array([len(flags) - busy, busy])


def _read_row(coder, counts: np.ndarray, flag_counts: np.ndarray, n: int):
    """Invert :func:`_code_row`: ``n`` signed, offset symbols of one row, and the group counts."""
    model = _row_model(counts)
    if not (_quiet(counts) and n >= GROUP):
        return np.asarray(coder.decode(model, n), dtype=np.int32), None
    full = n // GROUP * GROUP
    flags = np.asarray(coder.decode(_flag_model(counts, flag_counts), full // GROUP)) != 0
    seg = np.full(n, MAGS - 1, dtype=np.int32)
    busy = int(flags.sum())
    if busy:
        symbols = np.asarray(coder.decode(_busy_model(counts), busy * GROUP)).reshape(busy, GROUP)
        seg[:full].reshape(-1, GROUP)[flags] = symbols
    if n > full:
        seg[full:] = coder.decode(model, n - full)
    return seg, np.array([len(flags) - busy, busy])


class _Writer:
    """Encoder side: passes of (rows, signed integers) in decoding order → ANS words + raw bits."""

    def __init__(self, model: dict):
        self.counts = _Counts(model)
        self.chunks: list = []  # (constriction model, symbols) in decoding order
        self.rems: list[np.ndarray] = []
        self.nbits: list[np.ndarray] = []

    def code(self, rows: np.ndarray, q: np.ndarray) -> None:
        order, sorted_rows, groups = _groups(rows)
        q = q[order].astype(np.int32, copy=False)  # everything below in coding order
        sym, rem, nbits = _classify(np.abs(q))
        signed = np.where(q < 0, -sym, sym) + (MAGS - 1)
        table = self.counts.table
        flags = self.counts.flags
        for r, a, b in groups:  # over non-empty rows of this pass
            chunks, seen = _code_row(table[r], flags[r], signed[a:b])
            self.chunks += chunks
            if seen is not None:
                flags[r] += seen
        self.counts.update(sorted_rows, sym)
        keep = nbits > 0  # only the magnitudes past DIRECT have remainder bits
        self.rems.append(rem[keep])
        self.nbits.append(nbits[keep])

    def finish(self) -> dict[str, bytes]:
        coder = constriction_module().stream.stack.AnsCoder()
        for model, symbols in reversed(self.chunks):
            if len(symbols):
                coder.encode_reverse(symbols.astype(np.int32), model)
        words = np.asarray(coder.get_compressed(), dtype=np.uint32).astype("<u4").tobytes()
        rems = np.concatenate(self.rems) if self.rems else np.zeros(0, np.int64)
        nbits = np.concatenate(self.nbits) if self.nbits else np.zeros(0, np.int64)
        return {"detail": words, "bits": _pack_bits(rems, nbits)}


class _Reader:
    """Decoder side of :class:`_Writer` over untrusted streams."""

    def __init__(self, model: dict, streams: dict[str, bytes]):
        buf = np.frombuffer(memoryview(streams["detail"]).cast("B"), dtype=np.uint8)
        if buf.size % 4:
            raise FormatError(f"volume file: detail stream of {buf.size} bytes is not a multiple of 4")
        self.counts = _Counts(model)
        self.coder = constriction_module().stream.stack.AnsCoder(buf.view("<u4").astype(np.uint32))
        self.bits = np.unpackbits(np.frombuffer(streams["bits"], dtype=np.uint8))
        self.cursor = 0

    def read(self, rows: np.ndarray) -> np.ndarray:
        order, sorted_rows, groups = _groups(rows)
        signed = np.empty(len(rows), dtype=np.int32)
        table = self.counts.table
        flags = self.counts.flags
        for r, a, b in groups:  # over non-empty rows of this pass
            signed[a:b], seen = _read_row(self.coder, table[r], flags[r], b - a)
            if seen is not None:
                flags[r] += seen
        signed -= MAGS - 1
        sym = np.abs(signed)
        mag = sym.copy()
        big = np.flatnonzero(sym >= DIRECT)
        if big.size:
            nbits = sym[big] - (DIRECT - 1)
            rem, self.cursor = _read_bits(self.bits, self.cursor, nbits)
            mag[big] = DIRECT - 2 + (np.int32(1) << nbits) + rem
        q = np.empty_like(signed)
        q[order] = np.where(signed < 0, -mag, mag)
        self.counts.update(sorted_rows, sym)
        return q

    def finish(self) -> None:
        if not self.coder.is_empty():
            raise FormatError("volume file: detail stream is corrupt: unused data after the symbols")
        if self.bits.size - self.cursor >= 8:
            raise FormatError("volume file: unused remainder bits")


def _pack_bits(values: np.ndarray, nbits: np.ndarray) -> bytes:
    """Each value in its ``nbits`` bits, most significant first, concatenated (a loop over the
    bit positions, at most :data:`CLASSES`; every value at once)."""
    bits = np.zeros(int(nbits.sum()), dtype=np.uint8)
    starts = np.cumsum(nbits) - nbits
    for b in range(int(nbits.max()) if nbits.size else 0):
        has = nbits > b
        bits[starts[has] + b] = (values[has] >> (nbits[has] - 1 - b)) & 1
    return np.packbits(bits).tobytes()


def _read_bits(bits: np.ndarray, cursor: int, nbits: np.ndarray) -> tuple[np.ndarray, int]:
    """Invert :func:`_pack_bits` for the next ``len(nbits)`` values from bit ``cursor``."""
    total = int(nbits.sum())
    if cursor + total > bits.size:
        raise FormatError("volume file: the remainder bits are truncated")
    starts = cursor + np.cumsum(nbits) - nbits
    out = np.zeros(len(nbits), dtype=np.int32)
    for b in range(int(nbits.max()) if nbits.size else 0):
        has = nbits > b
        out[has] = (out[has] << 1) | bits[starts[has] + b]
    return out, cursor + total


def encode_wavelet(ql: np.ndarray, qbands, axes, model: dict) -> dict[str, bytes]:
    """Code the quantized coefficients → streams ``detail`` (ANS words) and ``bits`` (remainders).

    The low-pass residuals come first (table row :data:`LOW_ROW`), then the detail passes.
    """
    plan = _Plan(_band_shapes(qbands), axes)
    writer = _Writer(model)
    res = lorenzo_residuals(ql)
    writer.code(np.full(res.size, LOW_ROW, np.int16), res)
    for level, name, mask, rows in plan.passes():
        q = qbands[level][name][mask]
        plan.store(level, name, mask, np.abs(q))
        writer.code(rows, q)
    return writer.finish()


def decode_wavelet(streams: dict, shape, model: dict, bound: int):
    """Invert :func:`encode_wavelet` over untrusted bytes → (low, bands) integers."""
    shapes, low_shape, axes = _shapes_for(shape)
    qbands = [{n: np.zeros(s, np.int32) for n, s in level.items()} for level in shapes]
    plan = _Plan(shapes, axes)

    def run() -> np.ndarray:
        reader = _Reader(model, streams)
        res = reader.read(np.full(int(np.prod(low_shape)), LOW_ROW, np.int16))
        for level, name, mask, rows in plan.passes():
            q = reader.read(rows)
            m = np.abs(q)
            if m.size and int(m.max()) > bound:
                raise FormatError("volume file: detail coefficients out of range")
            plan.store(level, name, mask, m)
            qbands[level][name][mask] = q
        reader.finish()
        return res

    res = guarded(run, "volume file: detail stream is corrupt")
    ql = lorenzo_restore(res, low_shape)
    if ql.size and int(np.abs(ql).max()) > bound:
        raise FormatError("volume file: low-pass coefficients out of range")
    return ql, qbands


# ----------------------------------------------------------------------------------------------
# the file's one section
# ----------------------------------------------------------------------------------------------


def pack_payload(header: dict, quality: float, digest: str, streams: dict[str, bytes]) -> bytes:
    """Section ``w`` of a format-3 file, a few bytes of framing for the smallest files.

    Layout: :func:`~nc3d.codecs.volume_header.pack_volume_header` | u16 LE quality × 256 | u8 ``d``
    | ``d`` bytes of model digest (8 for the shipped model, 0 for an embedded one) | varint bytes
    | varint bytes of ``bits`` | ``bits`` | ``detail`` (the rest).
    """
    digest_bytes = bytes.fromhex(digest)
    return b"".join(
        [
            pack_volume_header(header),
            int(round(quality * QUALITY_UNITS)).to_bytes(2, "little"),
            bytes([len(digest_bytes)]),
            digest_bytes,
            pack_varints(np.array([len(streams["bits"])])),
            streams["bits"],
            streams["detail"],
        ]
    )


def unpack_payload(blob: bytes) -> tuple[dict, float, str, dict[str, bytes]]:
    """Invert :func:`pack_payload` over untrusted bytes → (volume header, quality, digest hex, streams)."""
    buf = bytes(blob)
    header, pos = unpack_volume_header(buf)
    if pos + 3 > len(buf):
        raise FormatError("volume file: section 'w' is truncated")
    quality = int.from_bytes(buf[pos : pos + 2], "little") / QUALITY_UNITS
    d = buf[pos + 2]
    pos += 3
    digest = buf[pos : pos + d].hex()
    pos += d
    (n_bits,), used = unpack_varints(buf[pos:], 1, "volume file streams")
    pos += used
    if len(digest) != 2 * d or pos + int(n_bits) > len(buf):
        raise FormatError("volume file: section 'w' is truncated")
    end = pos + int(n_bits)
    streams = {"bits": buf[pos:end], "detail": buf[end:]}
    return header, quality, digest, streams


# ----------------------------------------------------------------------------------------------
# the model: prior table + quantizer
# ----------------------------------------------------------------------------------------------


def wavelet_histogram(ql: np.ndarray, qbands, axes) -> np.ndarray:
    """Counts of (table row, magnitude symbol) over a quantized volume → (TABLE_ROWS, MAGS) int64."""
    plan = _Plan(_band_shapes(qbands), axes)
    out = np.zeros(TABLE_ROWS * MAGS, np.int64)

    def count(rows, q):
        sym = _classify(np.abs(np.asarray(q, dtype=np.int64)))[0]
        out[:] += np.bincount(rows.astype(np.int64) * MAGS + sym, minlength=out.size)

    res = lorenzo_residuals(ql)
    count(np.full(res.size, LOW_ROW), res)
    for level, name, mask, rows in plan.passes():
        q = qbands[level][name][mask]
        plan.store(level, name, mask, np.abs(q))
        count(rows, q)
    return out.reshape(TABLE_ROWS, MAGS)


def fit_prior(hist: np.ndarray, prior: float = 8.0) -> np.ndarray:
    """The prior laws (TABLE_ROWS, MAGS) int64 in units of 2^-PRIOR_BITS, every one ≥ 1.

    Each context row is smoothed towards its level's pooled row with ``prior`` pseudo-counts, the
    pooled rows (and the low-pass row) towards a law halving per symbol.
    """
    h = np.asarray(hist, dtype=np.float64)
    geo = 0.5 ** np.arange(MAGS)
    geo /= geo.sum()

    def smooth(counts, parent):
        return (counts + prior * parent) / (counts.sum(-1, keepdims=True) + prior)

    ctx = h[:ROWS].reshape(_LEVELS, -1, MAGS)
    pooled = smooth(ctx.sum(axis=1), geo[None])
    rows = np.concatenate([smooth(ctx, pooled[:, None]).reshape(ROWS, MAGS), smooth(h[LOW_ROW:], geo[None])])
    return np.maximum(np.rint(rows * (1 << PRIOR_BITS)), 1).astype(np.int64)


def default_wavelet_path() -> Path:
    """The shipped model new files are written with."""
    return model_path("volume-wavelet.npz")


def wavelet_model_bytes(model: dict) -> bytes:
    """The ``.npz`` bytes of a wavelet model (what :func:`load_wavelet_model` reads)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        prior=np.asarray(model["prior"], dtype=np.uint32),
        quantizer=np.array(
            [round(model["rounding"] * 4096), round(model["offset"] * 4096), model["alpha"]], dtype=np.uint16
        ),
    )
    return buf.getvalue()


def load_wavelet_model(source) -> tuple[dict, str]:
    """Wavelet model from a path or bytes → (model, digest); :class:`InputError` when malformed."""
    blob = Path(source).read_bytes() if not isinstance(source, (bytes, bytearray)) else bytes(source)
    try:
        buf = io.BytesIO(blob)
        with np.load(buf, allow_pickle=False) as f:
            prior, qz = np.asarray(f["prior"]), np.asarray(f["quantizer"])
    except Exception as exc:  # noqa: BLE001 - np.load raises many kinds on garbage
        raise InputError(f"not a volume wavelet model ({type(exc).__name__})") from None
    if (
        prior.shape != (TABLE_ROWS, MAGS)
        or prior.dtype != np.uint32
        or int(prior.min()) < 1
        or int(prior.max()) > 1 << PRIOR_BITS
        or qz.shape != (3,)
        or not 1 <= int(qz[2]) <= 255
    ):
        raise InputError("volume wavelet model: arrays of the wrong shape")
    model = {
        "prior": prior.astype(np.int64),
        "rounding": min(float(qz[0]) / 4096, 0.5),
        "offset": min(float(qz[1]) / 4096, 0.5),
        "alpha": int(qz[2]),
    }
    return model, hashlib.sha256(blob).hexdigest()[:16]
