"""Context-coded AC symbols of the ``volume`` codec (files with header ``ac: "ctx"``).

The 8³ DCT coefficients of the active blocks (block activity ``z > 0``) are coded band by band,
``u + v + w = 1, 2, …, 21``, every block at once. A coefficient's law is looked up in a learned
table indexed by

* its band ``k`` (1..21),
* its block's activity row ``⌊clip(z + shift[k], 0, 47) / 3⌋`` (16 rows; ``shift`` is the per-band
  table shift of :func:`choose_zshift_ctx`, all 0 when the header has none), and
* its *parents*: ``P`` = the sum of the magnitudes of the (up to 3) lower-frequency face
  neighbours ``(u−1, v, w)``, ``(u, v−1, w)``, ``(u, v, w−1)`` in the same block, which are in
  band ``k − 1`` and therefore already decoded; bucketed at 1, 2, 3, 5, 8, 13, 21, 34 (9 buckets).

Each cell of the table holds 16 integer frequencies of the magnitudes 0..14 and of the escape
(≥ 15; the rest, ``|q| − 15``, goes to an order-0 escape stream); the sign is even. The coded
alphabet of a cell is the signed ``−15..15`` with counts ``f15 … f1, 2·f0, f1 … f15``: integers
only, so the decode is bit-exact everywhere. Cells are coded in (band, cell) order, one
constriction call per non-empty (band, cell) group; no loop runs per block or per symbol.

Measured (leave-one-out ideal code lengths on the 9 shared volumes, ``benchmarks/results/volumes/
rd_notes.md``): the parents take 6–11 % off the AC bits against a table of band × activity alone.
"""

from __future__ import annotations

import numpy as np

from ...dct import BAND as _BAND
from ...entropy import categorical_model, constriction_module, decode_symbols, encode_symbols
from ...errors import FormatError

__all__ = [
    "CTX_SHAPE",
    "ESCAPE",
    "ctx_histogram",
    "fit_ctx_table",
    "encode_ac_ctx",
    "decode_ac_ctx",
    "choose_zshift_ctx",
]

_B = 8
_Z_LEVELS = 48
#: Rows of block activity: z // 3.
Z_ROWS = 16
#: Parent-sum bucket edges (bucket = number of edges ≤ P).
P_EDGES = np.array([1, 2, 3, 5, 8, 13, 21, 34])
P_ROWS = len(P_EDGES) + 1
#: Magnitude of the escape symbol (magnitudes 0..ESCAPE-1 coded directly).
ESCAPE = 15
#: Shape of the stored table: (bands 1..21, activity rows, parent buckets, magnitudes 0..15).
CTX_SHAPE = (21, Z_ROWS, P_ROWS, ESCAPE + 1)
_MAX_SHIFT = _Z_LEVELS - 1

_U, _V, _W = np.unravel_index(np.arange(_B**3), (_B,) * 3)


def _parents() -> np.ndarray:
    """(512, 3) column of each coefficient's lower-frequency AC face neighbours (512: none, a zero column)."""
    out = np.full((_B**3, 3), _B**3, dtype=np.int64)
    for i, (du, dv, dw) in enumerate(((1, 0, 0), (0, 1, 0), (0, 0, 1))):
        ok = (_U >= du) & (_V >= dv) & (_W >= dw)
        out[ok, i] = np.ravel_multi_index((_U[ok] - du, _V[ok] - dv, _W[ok] - dw), (_B,) * 3)
    out[out == 0] = _B**3  # the DC (the block's mean) is no parent: band 1 sees only its row
    return out


_PARENTS = _parents()
#: Columns (C order) of each band 1..21.
_COLS = [np.flatnonzero(_BAND == k) for k in range(22)]


def _rows(z: np.ndarray, shift: np.ndarray | None, band: int) -> np.ndarray:
    s = 0 if shift is None else int(shift[band])
    return np.clip(z + s, 0, _Z_LEVELS - 1) // 3


def _band_cells(mag: np.ndarray, zrow: np.ndarray, band: int) -> np.ndarray:
    """(n, |band|) cell index ``row · P_ROWS + bucket`` from the magnitudes of the lower bands."""
    p = mag[:, _PARENTS[_COLS[band]]].sum(axis=2)
    return zrow[:, None] * P_ROWS + np.searchsorted(P_EDGES, p, side="right")


def _cell_model(model: dict, band: int, cell: int):
    """The categorical model of one (band, cell), built from the stored integers; cached."""
    cache = model.setdefault("_ctx_models", {})
    key = (band, cell)
    if key not in cache:
        f = model["ctx"][band - 1].reshape(-1, ESCAPE + 1)[cell].astype(np.int64)
        cache[key] = categorical_model(np.concatenate([f[:0:-1], [2 * f[0]], f[1:]]))
    return cache[key]


def ctx_histogram(q: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Counts of the AC magnitudes of active blocks by (band 1..21, z 0..47, parent bucket, min(|q|, 15)).

    Parameters
    ----------
    q : (n, 512) int
        Quantized coefficients.
    z : (n,) int
        Block activity.

    Returns
    -------
    (21, 48, 9, 16) int64
    """
    active = z > 0
    mag = np.zeros((int(active.sum()), _B**3 + 1), dtype=np.int64)
    mag[:, :-1] = np.abs(q[active])
    za = z[active].astype(np.int64)
    out = np.zeros((21, _Z_LEVELS, P_ROWS, ESCAPE + 1), dtype=np.int64)
    for band in range(1, 22):  # over the 21 bands
        p = np.searchsorted(P_EDGES, mag[:, _PARENTS[_COLS[band]]].sum(axis=2), side="right")
        key = (za[:, None] * P_ROWS + p) * (ESCAPE + 1) + np.minimum(mag[:, _COLS[band]], ESCAPE)
        out[band - 1] = np.bincount(key.ravel(), minlength=out[0].size).reshape(out[0].shape)
    return out


def fit_ctx_table(hist: np.ndarray, prior: float = 16.0) -> np.ndarray:
    """Integer frequency table from accumulated :func:`ctx_histogram` counts.

    Each (band, activity row, parent bucket) cell is smoothed towards its (band, row) pool with
    ``prior`` pseudo-counts, the pool towards the band's, the band's towards a geometric law;
    then scaled to a total of about 2¹⁶, every frequency ≥ 1.

    Returns
    -------
    (21, 16, 9, 16) uint16
    """
    h = np.asarray(hist, dtype=np.float64)
    h = h.reshape(21, Z_ROWS, 3, P_ROWS, ESCAPE + 1).sum(axis=2)  # z → z // 3
    geo = 0.5 ** np.arange(ESCAPE + 1)
    geo /= geo.sum()

    def smooth(counts, parent):
        return (counts + prior * parent) / (counts.sum(-1, keepdims=True) + prior)

    band = smooth(h.sum(axis=(1, 2)), geo[None])  # (21, 16)
    row = smooth(h.sum(axis=2), band[:, None])  # (21, Z_ROWS, 16)
    cell = smooth(h, row[:, :, None])  # (21, Z_ROWS, P_ROWS, 16)
    return np.clip(np.rint(cell * 65536), 1, 65535).astype(np.uint16)


def _check_table(table: np.ndarray) -> None:
    if table.shape != CTX_SHAPE or table.dtype != np.uint16 or int(table.min()) < 1:
        raise ValueError("the context table must be (21, 16, 9, 16) uint16, every entry ≥ 1")


def encode_ac_ctx(
    q: np.ndarray, z: np.ndarray, model: dict, shift: np.ndarray | None = None
) -> tuple[bytes, bytes]:
    """Code the AC symbols of the blocks with ``z > 0`` → (ANS words, escapes).

    Parameters
    ----------
    q : (n, 512) int32
        Quantized coefficients (C order of (u, v, w)).
    z : (n,) int64
        Block activity.
    model : dict
        A model with a ``"ctx"`` table (:func:`fit_ctx_table`).
    shift : (22,) int, optional
        Per-band activity-row shift (:func:`choose_zshift_ctx`).
    """
    active = z > 0
    qa = q[active].astype(np.int64)
    mag = np.zeros((len(qa), _B**3 + 1), dtype=np.int64)
    mag[:, :-1] = np.abs(qa)
    za = z[active].astype(np.int64)
    chunks = []  # (band, cell, symbols) in decoding order
    escapes = []
    for band in range(1, 22):  # over the 21 bands
        cells = _band_cells(mag, _rows(za, shift, band), band).ravel()
        sym = qa[:, _COLS[band]].ravel()
        order = np.argsort(cells, kind="stable")
        cells, sym = cells[order], sym[order]
        m = np.abs(sym)
        over = m >= ESCAPE
        if over.any():
            escapes.append(m[over] - ESCAPE)
        sym = np.clip(sym, -ESCAPE, ESCAPE) + ESCAPE
        used, starts = np.unique(cells, return_index=True)
        ends = np.append(starts[1:], len(cells))
        chunks += [(band, int(c), sym[a:b]) for c, a, b in zip(used, starts, ends)]
    coder = constriction_module().stream.stack.AnsCoder()
    for band, cell, sym in reversed(chunks):  # over non-empty (band, cell) groups
        coder.encode_reverse(sym.astype(np.int32), _cell_model(model, band, cell))
    esc = np.concatenate(escapes) if escapes else np.zeros(0, np.int64)
    words = np.asarray(coder.get_compressed(), dtype=np.uint32).astype("<u4").tobytes()
    return words, encode_symbols(esc)


def decode_ac_ctx(
    words: bytes, escapes: bytes, z: np.ndarray, model: dict, bound: int, shift: np.ndarray | None = None
) -> np.ndarray:
    """Invert :func:`encode_ac_ctx` over untrusted bytes → (n, 511) int32 AC symbols (0 where ``z == 0``)."""
    n = len(z)
    out = np.zeros((n, _B**3 - 1), dtype=np.int32)
    active = z > 0
    na = int(active.sum())
    esc = decode_symbols(escapes)
    if na == 0:
        if len(words) or esc.size:
            raise FormatError("volume: AC data for a volume without active blocks")
        return out
    if esc.size and (int(esc.min()) < 0 or int(esc.max()) > bound):
        raise FormatError("volume: escape stream out of range")
    buf = np.frombuffer(memoryview(words).cast("B"), dtype=np.uint8)
    if buf.size == 0 or buf.size % 4:
        raise FormatError(f"volume: AC stream of {buf.size} bytes is not a positive multiple of 4")
    za = z[active].astype(np.int64)
    mag = np.zeros((na, _B**3 + 1), dtype=np.int64)
    signed = np.zeros((na, _B**3), dtype=np.int64)
    used_esc = 0
    constriction = constriction_module()
    try:
        coder = constriction.stream.stack.AnsCoder(buf.view("<u4").astype(np.uint32))
        for band in range(1, 22):  # over the 21 bands
            cells = _band_cells(mag, _rows(za, shift, band), band).ravel()
            order = np.argsort(cells, kind="stable")
            sorted_cells = cells[order]
            used, starts = np.unique(sorted_cells, return_index=True)
            ends = np.append(starts[1:], len(cells))
            sym = np.empty(len(cells), dtype=np.int64)
            for c, a, b in zip(used, starts, ends):  # over non-empty cells of this band
                sym[a:b] = np.asarray(coder.decode(_cell_model(model, band, int(c)), int(b - a)))
            sym -= ESCAPE
            hit = np.abs(sym) == ESCAPE
            k = int(hit.sum())
            if used_esc + k > esc.size:
                raise FormatError("volume: escape stream does not match the AC symbols")
            sym[hit] += np.sign(sym[hit]) * esc[used_esc : used_esc + k]
            used_esc += k
            flat = np.empty_like(sym)
            flat[order] = sym
            grid = flat.reshape(na, -1)
            signed[:, _COLS[band]] = grid
            mag[:, _COLS[band]] = np.abs(grid)
        leftover = not coder.is_empty()
    except FormatError:
        raise
    except (ValueError, RuntimeError, AssertionError, BaseException) as exc:  # constriction panics
        if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise FormatError(f"volume: AC stream is corrupt ({type(exc).__name__})") from None
    if leftover:
        raise FormatError("volume: AC stream is corrupt: unused data after the symbols")
    if used_esc != esc.size:
        raise FormatError("volume: escape stream does not match the AC symbols")
    if int(mag.max()) > bound:
        raise FormatError("volume: AC coefficients out of range")
    out[active] = signed[:, 1:]
    return out


def choose_zshift_ctx(q: np.ndarray, z: np.ndarray, model: dict) -> tuple[np.ndarray, float]:
    """Per-band activity-row shift minimizing the estimated AC code length (escapes ignored).

    Every shift ``−47..47`` of every band is scored at once from the file's
    :func:`ctx_histogram` against the table's code lengths. Ties go to the smallest ``|shift|``.

    Returns
    -------
    shift : (22,) int64
        Band 0 (the DC) stays 0.
    saved : float
        Estimated bytes saved against no shift.
    """
    hist = ctx_histogram(q, z).astype(np.float64)  # (21, 48, 9, 16)
    f = model["ctx"].astype(np.float64)
    bits = -np.log2(f / f.sum(-1, keepdims=True))  # (21, 16, 9, 16)
    bits[..., 1:] += 1.0  # the sign
    shifts = np.arange(-_MAX_SHIFT, _MAX_SHIFT + 1)
    rows = np.clip(np.arange(_Z_LEVELS)[None, :] + shifts[:, None], 0, _Z_LEVELS - 1) // 3  # (S, 48)
    # g[band, z, r]: bits of the symbols of activity z if coded on row r; then gather each shift's rows
    g = np.einsum("bzq,brq->bzr", hist.reshape(21, _Z_LEVELS, -1), bits.reshape(21, Z_ROWS, -1))
    cost = g[:, np.arange(_Z_LEVELS)[None, :], rows].sum(axis=2).T  # (S, 21)
    best = np.lexsort((np.abs(shifts)[:, None].repeat(21, 1), np.round(cost)), axis=0)[0]
    saved = float(cost[_MAX_SHIFT].sum() - cost[best, np.arange(21)].sum()) / 8
    return np.concatenate([[0], shifts[best]]).astype(np.int64), saved
