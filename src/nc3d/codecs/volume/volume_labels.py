"""The ``volume-labels`` codec: lossless coding of label and integer-class volumes.

A segmentation, a mask, connected components or a few intensity classes are piecewise constant
with few distinct values; a transform codec blurs their edges and a byte-oriented compressor
(lzma, zstd) does not see 3-D neighbours. This codec codes them exactly:

1. **Palette.** The sorted distinct values (at most :data:`MAX_PALETTE`) are stored; each voxel
   becomes its index in the palette (uint8, or uint16 past 256 values). Indices keep the values'
   order, so "one class up" is "index + 1".
2. **Hierarchy.** The index volume is coded coarse to fine. Level ``k`` is the subgrid of voxels
   whose coordinates are multiples of ``2**k``; the coarsest level is one voxel. Going from
   level ``k + 1`` to ``k`` fills the new voxels in seven *classes* by the parity of their
   coordinates in the level's grid: body centres (1,1,1), then face centres (0,1,1), (1,0,1),
   (1,1,0), then edge centres (1,0,0), (0,1,0), (0,0,1). A class's voxels are all decoded
   together (one vectorized step): their neighbours in the 3×3×3 cube that belong to the
   coarser grid or to earlier classes are already known, on *both* sides (interpolation, not
   extrapolation). The volume edge is mirrored (index ``-1`` reads ``1``, ``n`` reads ``n - 2``,
   which keeps the parity). A 256³ volume takes 8 levels × 7 steps.
3. **Contexts.** The nearest (up to :data:`NEAR`) known neighbours decide. When they all agree
   (most voxels), the voxel almost surely takes their value: the few that do not are coded as a
   list of positions (gaps, Elias-gamma-like with adaptive bucket frequencies) and values, so
   decoding a uniform region costs a comparison per voxel and no entropy decoding. Elsewhere the
   neighbours' values are ranked by weighted vote (face neighbours 3, edge 2, corner 1): the
   symbol is "the first / second / third value" or "another one", coded with an adaptive
   frequency table per context = (class, level 0/1/≥2, which near neighbours hold the first
   value (bit pattern), how many of the farther ones do (4 steps), ≥ 3 distinct values or not).
4. **Other values** (a voxel unlike its neighbours) are coded as the zigzagged difference of
   its index from a prediction — the uniform neighbours' value, or the near neighbours' rounded
   mean index (indices keep the values' order) — with adaptive frequencies of 31 magnitudes per
   context (the neighbours' index spread, and how far the mean is from the first value), or
   directly (uniform over the palette) when farther.
5. **Mirror images.** A volume equal to its own mirror image along an axis codes one half.

All symbols go through one range coder (constriction's ``RangeEncoder``) with adaptive integer
counts (+1 per symbol, halved past :data:`COUNT_LIMIT`) updated between chunks of each step
(doubling in size, each an even sample of the whole step: :func:`_chunks`), identically on both
ends; probabilities are those counts divided by their sum in float64, blended along the chain of
contexts (:func:`_backoff`). Before allocating a level of more than 2**20
voxels the decoder checks a 16-bit check word, so a damaged file that declares a huge volume
fails before the big allocation.

File layout: header ``shape``, ``dtype``, ``range`` (as every volume codec), ``palette``
(``"int"``: integers, stored as varints of the first value (zigzag) and the gaps minus one;
``"float"``: float64 little-endian), ``labels`` (the palette size) and, when the volume is its
own mirror image along some axes, ``mirror`` (three booleans for z, y, x, tested in that order
on what is left: only the first half, the middle slice included, is coded). Sections
``palette``, ``labels`` (range-coder words, little-endian uint32; absent for a single value)
and ``pad`` (zero bytes, only when the rest is shorter than one byte per
:data:`VOXELS_PER_BYTE` voxels, so that a decoder can refuse tiny files that declare huge
volumes).

What a "label volume" is, for the ``volume`` codec's automatic choice, is
:func:`looks_like_labels`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ...container import header_get
from ...entropy import constriction_module, guarded, pack_varints, unpack_varints, unzigzag, zigzag
from ...errors import FormatError, InputError
from ...io.volumes import as_volume
from ..base import Codec, register
from ..volume_header import read_volume_header, volume_header

__all__ = [
    "VolumeLabelsCodec",
    "MAX_PALETTE",
    "AUTO_MAX_LABELS",
    "AUTO_MIN_SAME",
    "palette_indices",
    "looks_like_labels",
    "encode_indices",
    "decode_indices",
]

#: Most distinct values the codec takes (indices are uint16).
MAX_PALETTE = 1 << 16
#: :func:`looks_like_labels`: at most this many distinct values ...
AUTO_MAX_LABELS = 256
#: ... and at least this fraction of face-adjacent voxel pairs equal (pairs of two
#: most-common-value voxels left out). Label maps made from the shared scans measure 0.44–0.85,
#: the scans themselves 0.01–0.29 (uint8 MR and CT scans have ≤ 256 values too).
AUTO_MIN_SAME = 0.4
#: A file carries at least one byte per this many voxels (``pad`` section when needed).
VOXELS_PER_BYTE = 1 << 16
#: Known neighbours that decide "uniform" and form the context's bit pattern.
NEAR = 10
#: Smallest chunk of a step's non-uniform voxels between two updates of the counts (:func:`_chunks`).
CHUNK = 256
#: Weight (in symbols) of a coarse context's frequencies in a fine context's (:func:`_backoff`).
BACKOFF = 16.0
#: Counts of a context are halved when they sum past this.
COUNT_LIMIT = 1 << 16
#: Levels of more than this many voxels are preceded by a check word.
CHECKED_LEVEL = 1 << 20
_CHECK_WORD = 0xA5C3

#: The seven classes of new voxels of a level, by coordinate parity, in coding order.
_CLASSES = ((1, 1, 1), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1))


Offset = tuple[int, ...]


def _templates() -> list[tuple[list[Offset], int]]:
    """Per class: the offsets in the 3×3×3 cube already known when it is coded, and how many are near.

    The offsets are ordered in shells: by L1 length (face, edge, corner), then by the class of the
    neighbour (coarser grid first, then the classes in coding order). Shells are closed under
    the reflections of the axes; the near ones are whole shells, as many as fit in :data:`NEAR`.
    """
    known: list[Offset] = [(0, 0, 0)]
    out = []
    for par in _CLASSES:
        shells: dict[tuple[int, int], list[Offset]] = {}
        for o in itertools.product((-1, 0, 1), repeat=3):
            cls = tuple((p + d) % 2 for p, d in zip(par, o))
            if any(o) and cls in known:
                shells.setdefault((sum(map(abs, o)), known.index(cls)), []).append(o)
        offsets: list[Offset] = []
        n_near = 0
        for key in sorted(shells):
            if len(offsets) == n_near and n_near + len(shells[key]) <= NEAR:
                n_near += len(shells[key])
            offsets += sorted(shells[key])
        out.append((offsets, n_near))
        known.append(par)
    return out


def _canonical_patterns(near: list[Offset]) -> np.ndarray:
    """(2**n,) int64: each bit pattern over ``near`` → a dense id of its orbit under axis reflections."""
    n = len(near)
    perms = []
    for flips in itertools.product((1, -1), repeat=3):
        image = [tuple(f * c for f, c in zip(flips, o)) for o in near]
        perms.append(np.array([near.index(x) for x in image]))
    patterns = np.arange(1 << n)
    bits = (patterns[:, None] >> np.arange(n)) & 1
    orbit_min = np.min([(bits[:, perm] << np.arange(n)).sum(axis=1) for perm in perms], axis=0)
    return np.unique(orbit_min, return_inverse=True)[1].astype(np.int64)


_TEMPLATES = _templates()
_CANONICAL = [_canonical_patterns(t[:n]) for t, n in _TEMPLATES]
_LEVEL_GROUPS = 3
_EXTRA = 4  # buckets of the fraction of the farther neighbours that hold the first value
_MID_BASE = np.cumsum([0] + [int(c.max()) + 1 for c in _CANONICAL])  # per class: first mid context
_N_MID = int(_MID_BASE[-1]) * _LEVEL_GROUPS * 2
_N_FINE = _N_MID * _EXTRA
_IDS = 16  # the coarse context tells the first value's index apart up to this many
_N_COARSE = len(_CLASSES) * _LEVEL_GROUPS * (NEAR + 1) * 2 * _IDS
_ROOT_BUCKETS = 8  # the root context: the near ones' share of the first value, in eighths
_N_ROOT = (_ROOT_BUCKETS + 1) * 2 * 4
_ESC_DIRECT = 31  # escape symbols 0..30: |difference| - 1 zigzagged; 31: the index itself follows
_SPREAD_EDGES = np.array([1, 2, 3, 5, 9, 17])  # neighbours' index spread → 7 escape contexts
_BUCKETS = 32  # bit lengths of the integers coded Elias-gamma-like (< 2**31)


# ----------------------------------------------------------------------------------------------
# Palette and detection
# ----------------------------------------------------------------------------------------------


def _integer_valued(v: np.ndarray) -> bool:
    """True for integer dtypes, and for floats whose values are all integers of magnitude ≤ 2**53."""
    if v.dtype.kind in "iu":
        return True
    lo, hi = float(v.min()), float(v.max())
    return max(-lo, hi) <= 2**53 and bool(np.array_equal(v, np.rint(v)))


def palette_indices(volume, max_values: int = MAX_PALETTE) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of a volume and each voxel's index among them.

    Parameters
    ----------
    volume : (z, y, x) array
        Any volume dtype (:data:`nc3d.io.volumes.VOLUME_DTYPES`).
    max_values : int
        Refuse (:class:`InputError`) more distinct values than this.

    Returns
    -------
    values : (P,) int64, or float64 for volumes with non-integer values
    indices : (z, y, x) uint8 (P ≤ 256) or uint16
    """
    v = as_volume(volume)
    if _integer_valued(v):
        lo, hi = int(v.min()), int(v.max())
        if hi - lo < (1 << 20):  # a lookup table: linear time
            shifted = (v.astype(np.int64) - lo) if v.dtype.itemsize >= 4 or v.dtype.kind == "f" else v - lo
            flat = shifted.reshape(-1).astype(np.intp, copy=False)
            present = np.flatnonzero(np.bincount(flat, minlength=hi - lo + 1))
            if present.size > max_values:
                raise _too_many(present.size, max_values)
            dtype = np.uint8 if present.size <= 256 else np.uint16
            lut = np.zeros(hi - lo + 1, dtype=dtype)
            lut[present] = np.arange(present.size, dtype=dtype)
            return present.astype(np.int64) + lo, lut[flat].reshape(v.shape)
        values, inverse = np.unique(v.astype(np.int64), return_inverse=True)
    else:
        values, inverse = np.unique(v.astype(np.float64), return_inverse=True)
    if values.size > max_values:
        raise _too_many(values.size, max_values)
    dtype = np.uint8 if values.size <= 256 else np.uint16
    return values, inverse.reshape(v.shape).astype(dtype)


def _too_many(count: int, limit: int) -> InputError:
    return InputError(
        f"the volume has {count} distinct values; lossless label coding takes at most {limit} "
        "(code it lossy, e.g. the volume codec without lossless=True, or use volume-lzma)"
    )


def _same_fraction(v: np.ndarray, common) -> float:
    """Fraction of face-adjacent pairs with equal values, pairs of two ``common`` voxels left out."""
    same = total = 0
    for axis in range(3):
        if v.shape[axis] < 2:
            continue
        a = np.moveaxis(v, axis, 0)
        x0, x1 = a[:-1], a[1:]
        both = (x0 == common) & (x1 == common)
        eq = x0 == x1
        total += eq.size - int(both.sum())
        same += int(eq.sum()) - int(both.sum())
    return 1.0 if total == 0 else same / total


def looks_like_labels(volume) -> bool:
    """Whether a volume is a label or integer-class volume, coded losslessly by default.

    True when all three hold: the values are integers (an integer dtype, or floats that are all
    whole numbers); there are at most :data:`AUTO_MAX_LABELS` (256) distinct values; and the
    volume is piecewise constant — at least :data:`AUTO_MIN_SAME` (40%) of the face-adjacent voxel
    pairs hold equal values, leaving out pairs where both voxels hold the most common value (so a
    scan's empty background does not count). The last test is what tells a segmentation from an
    8-bit scan, which has ≤ 256 values too but whose neighbours mostly differ.
    """
    v = as_volume(volume)
    if not _integer_valued(v):
        return False
    step = max(1, v.size // 65536)  # a sample answers "too many values" without a full pass
    if np.unique(v.reshape(-1)[::step]).size > AUTO_MAX_LABELS:
        return False
    values, indices = palette_indices(v, max_values=MAX_PALETTE)
    if values.size > AUTO_MAX_LABELS:
        return False
    common = int(np.argmax(np.bincount(indices.reshape(-1), minlength=values.size)))
    return _same_fraction(indices, common) >= AUTO_MIN_SAME


# ----------------------------------------------------------------------------------------------
# Range coding with adaptive counts
# ----------------------------------------------------------------------------------------------


class _Coder:
    """One range coder: encodes when built without words, decodes from ``words`` otherwise.

    Every method takes the symbols when encoding (and returns them) and returns the decoded
    symbols when decoding, so the encoder and the decoder run the same code.
    """

    def __init__(self, words: np.ndarray | None = None):
        c = constriction_module()
        self.encoding = words is None
        self._categorical = c.stream.model.Categorical(perfect=False)
        self._uniform = c.stream.model.Uniform()
        self._coder = c.stream.queue.RangeEncoder() if words is None else c.stream.queue.RangeDecoder(words)

    def categorical(self, probs: np.ndarray, symbols: np.ndarray | None) -> np.ndarray:
        """Symbols ``(m,)`` under per-symbol probabilities ``probs (m, K)``."""
        if len(probs) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.encoding:
            assert symbols is not None
            self._coder.encode(symbols.astype(np.int32), self._categorical, probs)
            return symbols.astype(np.int64)
        out = guarded(lambda: self._coder.decode(self._categorical, probs), "volume-labels stream is corrupt")
        return np.asarray(out, dtype=np.int64)

    def uniform(self, sizes: np.ndarray, symbols: np.ndarray | None) -> np.ndarray:
        """Symbols ``(m,)`` uniform over ``0..sizes-1`` (each size in 2..2**24)."""
        sizes = np.asarray(sizes, dtype=np.int32)
        if sizes.size == 0:
            return np.zeros(0, dtype=np.int64)
        if self.encoding:
            assert symbols is not None
            self._coder.encode(np.asarray(symbols, dtype=np.int32), self._uniform, sizes)
            return np.asarray(symbols, dtype=np.int64)
        out = guarded(lambda: self._coder.decode(self._uniform, sizes), "volume-labels stream is corrupt")
        return np.asarray(out, dtype=np.int64)

    def words(self) -> bytes:
        return np.asarray(self._coder.get_compressed(), dtype=np.uint32).astype("<u4").tobytes()

    def exhausted(self) -> bool:
        return bool(self._coder.maybe_exhausted())


def _adaptive(coder: _Coder, table: np.ndarray, ctx: np.ndarray, symbols: np.ndarray | None) -> np.ndarray:
    """Code symbols under ``table[ctx]`` (counts, see :func:`_count`), then count them."""
    rows = table[ctx]
    out = coder.categorical(rows[:, :-1] / rows[:, -1:], symbols)
    _count(table, ctx, out, keep_possible=True)
    return out


def _count(table: np.ndarray, ctx: np.ndarray, symbols: np.ndarray, keep_possible: bool) -> None:
    """Add coded symbols to their contexts' counts; halve contexts whose counts sum past the limit.

    A table is ``(contexts, K + 1)`` float64: K counts, whole numbers (exact below 2**53, so
    probabilities need no cast), and their sum in the last column. ``keep_possible``: halve
    rounding up, so a symbol seen once stays possible (and zeros stay zero).
    """
    np.add.at(table, (ctx, symbols), 1.0)
    np.add.at(table[:, -1], ctx, 1.0)
    big = np.unique(ctx[table[ctx, -1] > COUNT_LIMIT])
    if big.size:
        halved = np.floor((table[big, :-1] + keep_possible) / 2)
        table[big, :-1] = halved
        table[big, -1] = halved.sum(axis=1)


def _backoff(coder: _Coder, chain: list[tuple[np.ndarray, np.ndarray]], symbols) -> np.ndarray:
    """Code symbols under a chain of contexts, coarsest first, each finer one leaning on the last.

    ``p_fine = (n_fine + BACKOFF · p_coarser) / (N_fine + BACKOFF)``: a context seen rarely codes
    with its coarser context's frequencies, a busy one with its own. All tables are counted.
    """
    table, ctx = chain[0]
    rows = table[ctx]
    probs = rows[:, :-1] / rows[:, -1:]
    for table, ctx in chain[1:]:
        rows = table[ctx]
        probs *= BACKOFF
        probs += rows[:, :-1]
        rows[:, -1] += BACKOFF
        probs /= rows[:, -1:]
    out = coder.categorical(probs, symbols)
    for i, (table, ctx) in enumerate(chain):
        _count(table, ctx, out, keep_possible=i == 0)  # the coarsest keeps every symbol possible
    return out


def _bit_length(v: np.ndarray) -> np.ndarray:
    """Bit lengths of non-negative integers below 2**53 (0 for 0)."""
    return np.frexp(v.astype(np.float64))[1].astype(np.int64)


def _code_bits(coder: _Coder, nbits: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Raw ``nbits``-bit integers (nbits ≤ 31), as a low part of ≤ 16 bits and a high part."""
    low_bits = np.minimum(nbits, 16)
    high_bits = nbits - low_bits
    lo_sel, hi_sel = np.flatnonzero(low_bits > 0), np.flatnonzero(high_bits > 0)
    lo_in = hi_in = None
    if values is not None:
        lo_in = (values & ((1 << low_bits) - 1))[lo_sel]
        hi_in = (values >> low_bits)[hi_sel]
    out = np.zeros(len(nbits), dtype=np.int64)
    out[lo_sel] = coder.uniform(1 << low_bits[lo_sel], lo_in)
    out[hi_sel] |= coder.uniform(1 << high_bits[hi_sel], hi_in) << low_bits[hi_sel]
    return out


def _code_uints(coder: _Coder, table: np.ndarray, values: np.ndarray | None, n: int) -> np.ndarray:
    """``n`` integers in ``0..2**31-1``: adaptive bit length (``table``: (1, 32) counts), raw mantissa."""
    ctx = np.zeros(n, dtype=np.int64)
    length = _adaptive(coder, table, ctx, None if values is None else _bit_length(values))
    nbits = np.maximum(length - 1, 0)
    mantissa = _code_bits(
        coder, nbits, None if values is None else values - np.where(length > 0, 1 << nbits, 0)
    )
    return np.where(length > 0, (1 << nbits) + mantissa, 0)


# ----------------------------------------------------------------------------------------------
# The hierarchy
# ----------------------------------------------------------------------------------------------


class _State:
    """Adaptive counts shared by all steps (identical on both ends)."""

    def __init__(self):
        self.root = _table(_N_ROOT, 4, 1.0)
        self.root[0::2, 2] = 0  # with two distinct neighbour values (even contexts), no third
        self.root[0::2, -1] = 3
        self.coarse = _table(_N_COARSE, 4, 0.0)
        self.mid = _table(_N_MID, 4, 0.0)
        self.fine = _table(_N_FINE, 4, 0.0)
        self.escape = _table((len(_SPREAD_EDGES) + 1) * 4, _ESC_DIRECT + 1, 1.0)
        self.count = _table(1, _BUCKETS, 1.0)
        self.gaps = _table(1, _BUCKETS, 1.0)


def _table(contexts: int, symbols: int, start: float) -> np.ndarray:
    """Counts (see :func:`_count`): every symbol at ``start``, their sum last."""
    out = np.full((contexts, symbols + 1), start)
    out[:, -1] = start * symbols
    return out


def _levels(shape) -> int:
    """Levels above the full grid: the coarsest (``2**K`` spacing) grid is a single voxel."""
    return max((int(n) - 1).bit_length() for n in shape)


def _grid(shape, k: int) -> tuple[int, int, int]:
    return tuple(-(-int(n) // (1 << k)) for n in shape)  # type: ignore[return-value]


def _mirror(G: np.ndarray, g) -> None:
    """Refresh the one-voxel border of a padded level grid: index -1 reads 1, index n reads n - 2."""
    for axis in (2, 1, 0):
        n = g[axis]
        if n < 2:
            continue
        a = np.moveaxis(G, axis, 0)
        a[0] = a[2]
        a[n + 1] = a[n - 1]


def _escape(coder: _Coder, st: _State, pred: np.ndarray, ctx: np.ndarray, truth, palette_size: int, shift):
    """Indices unlike their neighbours: zigzag(index − ``pred``) − ``shift``, or the index itself.

    ``shift`` is 1 where the index cannot be ``pred`` (the uniform neighbours' value), else 0.
    """
    sym = None
    if truth is not None:
        sym = np.minimum(zigzag(truth - pred).astype(np.int64) - shift, _ESC_DIRECT)
    sym = _adaptive(coder, st.escape, ctx, sym)
    direct = np.flatnonzero(sym == _ESC_DIRECT)
    raw = coder.uniform(np.full(direct.size, palette_size), None if truth is None else truth[direct])
    out = pred + unzigzag((sym + shift).astype(np.uint64))
    out[direct] = raw
    if out.size and (int(out.min()) < 0 or int(out.max()) >= palette_size):
        raise FormatError("volume-labels stream is corrupt: a label index outside the palette")
    return out


def _step(G, g, ci: int, level: int, st: _State, coder: _Coder, palette_size: int) -> None:
    """Code (or decode into ``G``) the voxels of class ``ci`` of a level's padded grid ``G``."""
    par = _CLASSES[ci]
    counts = tuple((n - p + 1) // 2 for n, p in zip(g, par))
    if 0 in counts:
        return
    full, n_near = _TEMPLATES[ci]
    # across an axis of size 1 there are no neighbours: those offsets read the nearest kept one
    stand_in = next(o for o in full if all(o[a] == 0 for a in range(3) if g[a] == 1))
    tpl = [o if all(o[a] == 0 for a in range(3) if g[a] == 1) else stand_in for o in full]

    def view(o):
        return G[tuple(slice(1 + p + d, 1 + p + d + 2 * c - 1, 2) for p, d, c in zip(par, o, counts))]

    first = view(tpl[0])
    uniform = np.ones(counts, dtype=bool)
    for o in tpl[1:n_near]:
        uniform &= view(o) == first
    m = uniform.size
    target = view((0, 0, 0))
    strides = np.array([G.shape[1] * G.shape[2], G.shape[2], 1], dtype=np.int64)
    Gf = G.reshape(-1)

    def flat(q):  # class-grid flat positions → flat indices into G
        coords = np.unravel_index(q, counts)
        return sum((1 + p + 2 * c.astype(np.int64)) * s for p, c, s in zip(par, coords, strides))

    deltas = [int(np.dot(o, strides)) for o in tpl]
    truth = target.reshape(-1) if coder.encoding else None

    # 1. voxels whose near neighbours agree: the exceptions' positions and values
    exc = np.flatnonzero(uniform.reshape(-1) & (truth != first.reshape(-1))) if truth is not None else None
    n_exc = int(_code_uints(coder, st.count, None if exc is None else np.array([exc.size]), 1)[0])
    if n_exc > m:
        raise FormatError("volume-labels stream is corrupt: more exceptions than voxels")
    gaps = None if exc is None else np.diff(exc, prepend=-1) - 1
    positions = np.cumsum(_code_uints(coder, st.gaps, gaps, n_exc) + 1) - 1
    if n_exc and (int(positions[-1]) >= m or not uniform.reshape(-1)[positions].all()):
        raise FormatError("volume-labels stream is corrupt: an exception outside the uniform voxels")
    fi = flat(positions)
    exc_values = _escape(
        coder, st, Gf[fi + deltas[0]].astype(np.int64), np.zeros(n_exc, dtype=np.int64),
        None if truth is None else Gf[fi].astype(np.int64), palette_size, 1,
    )  # fmt: skip

    # 2. the others, in chunks with the counts updated in between
    rest = np.flatnonzero(~uniform.reshape(-1))
    fr = flat(rest)
    nb = np.stack([Gf[fr + d] for d in deltas])
    chain, cand, spread = _contexts(nb, n_near, ci, level, st)
    values = np.empty(rest.size, dtype=np.int64)
    true_rest = None if truth is None else Gf[fr].astype(np.int64)
    for s in _chunks(rest.size):
        c = cand[:, s]  # (4, chunk): first, second, third value, rounded mean
        t = None if true_rest is None else true_rest[s]
        sym = None
        if t is not None:
            sym = np.where(t == c[0], 0, np.where(t == c[1], 1, np.where(t == c[2], 2, 3)))
        sym = _backoff(coder, [(table, ctx[s]) for table, ctx in chain], sym)
        v = c[np.minimum(sym, 2), np.arange(sym.size)]
        esc = np.flatnonzero(sym == 3)
        if esc.size:
            pred = c[3, esc]
            sctx = np.searchsorted(_SPREAD_EDGES, spread[s][esc], side="right") * 4
            sctx += np.minimum(np.abs(pred - c[0, esc]), 3)
            v[esc] = _escape(coder, st, pred, sctx, None if t is None else t[esc], palette_size, 0)
        values[s] = v

    if not coder.encoding:
        out = np.array(first, dtype=G.dtype)
        of = out.reshape(-1)
        of[positions] = exc_values
        of[rest] = values
        target[...] = out
        _mirror(G, g)


def _chunks(m: int) -> list[slice]:
    """Chunks of ``0..m-1`` between two updates of the counts, each spread over the whole range.

    Chunk 0 takes every ``2**J``-th item, chunk ``j ≥ 1`` the odd multiples of ``2**(J - j)``
    (``2**J ≈ m / CHUNK``): the sizes double, and every chunk samples the whole step evenly, so
    counts learnt from the earlier chunks fit the later ones even when the statistics drift
    across the volume (a coded step is in scan order).
    """
    top = max(0, (m // CHUNK).bit_length() - 1)
    later = [slice(1 << (top - j), None, 1 << (top - j + 1)) for j in range(1, top + 1)]
    return [slice(0, None, 1 << top), *later]


def _contexts(nb: np.ndarray, n_near: int, ci: int, level: int, st: _State):
    """Contexts, ranked candidate values and index spread of the voxels whose near neighbours differ.

    Parameters
    ----------
    nb : (T, m) uint8 or uint16
        The known neighbours' indices in the class template's order (near ones first).
    n_near : int
        How many are near (vote, bit pattern); the rest count as "extra".
    ci, level : int
        Class and level, part of the contexts.
    st : _State
        Holds the count tables.

    Returns
    -------
    chain : list of (table, (m,) int64 contexts)
        Coarse (class, level group, how many near ones hold the first value, ≥ 3 values?),
        mid (class, level group, reflection-canonical bit pattern of the near ones holding the
        first value, ≥ 3 values?) and fine (mid + the farther ones' share of the first value).
    cand : (4, m) int64
        The first, second and third value by vote (faces 3, edges 2, corners 1; the third is −1
        when the near ones hold two values), and the near ones' rounded mean.
    spread : (m,) int64
        Largest minus smallest near index.
    """
    m = nb.shape[1]
    if m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return [(t, empty) for t in (st.root, st.coarse, st.mid, st.fine)], np.zeros((4, 0), np.int64), empty
    offsets = _TEMPLATES[ci][0]
    weights = [4 - sum(map(abs, o)) for o in offsets[:n_near]]
    near = nb[:n_near]
    # vote of each near position: the weights of the near neighbours holding its value
    score = np.empty((n_near, m), dtype=np.int16)
    for i in range(n_near):
        score[i] = weights[i]
    for i in range(n_near):
        for j in range(i + 1, n_near):
            same = near[i] == near[j]
            score[i] += same * np.int16(weights[j])
            score[j] += same * np.int16(weights[i])
    cols = np.arange(m)
    v1 = near[np.argmax(score, axis=0), cols]
    b1 = near == v1
    np.putmask(score, b1, -1)
    v2 = near[np.argmax(score, axis=0), cols]  # near ones that differ hold a second value
    np.putmask(score, near == v2, -1)
    third = np.argmax(score, axis=0)
    has3 = score[third, cols] >= 0
    v3 = np.where(has3, near[third, cols].astype(np.int64), -1)
    n1 = b1.sum(axis=0, dtype=np.int64)
    bits = np.zeros(m, dtype=np.int64)
    for i in range(n_near):
        bits |= b1[i].astype(np.int64) << i
    pattern = _CANONICAL[ci][bits]
    far = nb[n_near:]
    extra = np.zeros(m, dtype=np.int64)
    if len(far):
        held = (far == v1).sum(axis=0, dtype=np.int64)
        extra = np.minimum((_EXTRA * held) // (len(far) + 1), _EXTRA - 1)
    v1, v2 = v1.astype(np.int64), v2.astype(np.int64)
    group = min(level, _LEVEL_GROUPS - 1)
    root = ((((_ROOT_BUCKETS * n1) // n_near) * 2 + (v2 > v1)) * 2 + (np.abs(v2 - v1) == 1)) * 2 + has3
    coarse = (((ci * _LEVEL_GROUPS + group) * (NEAR + 1) + n1) * 2 + has3) * _IDS + np.minimum(v1, _IDS - 1)
    mid = ((_MID_BASE[ci] + pattern) * _LEVEL_GROUPS + group) * 2 + has3
    fine = mid * _EXTRA + extra
    spread = near.max(axis=0).astype(np.int64) - near.min(axis=0)
    chain = [(st.root, root), (st.coarse, coarse), (st.mid, mid), (st.fine, fine)]
    mean = (2 * near.sum(axis=0, dtype=np.int64) + n_near) // (2 * n_near)  # rounded: other values' guess
    return chain, np.stack([v1, v2, v3, mean]), spread


def _padded(sub: np.ndarray) -> np.ndarray:
    """A level's full grid (encoder) with its mirrored one-voxel border."""
    G = np.zeros(tuple(n + 2 for n in sub.shape), dtype=sub.dtype)
    G[1:-1, 1:-1, 1:-1] = sub
    _mirror(G, sub.shape)
    return G


def encode_indices(indices: np.ndarray, palette_size: int) -> bytes:
    """Range-code a volume of palette indices (see the module docstring).

    Parameters
    ----------
    indices : (z, y, x) uint8 or uint16
        Values in ``0..palette_size-1``.
    palette_size : int
        2..:data:`MAX_PALETTE`.

    Returns
    -------
    bytes
        Little-endian uint32 words.
    """
    coder, st = _Coder(), _State()
    top = _levels(indices.shape)
    coder.uniform(np.array([palette_size]), np.array([indices[0, 0, 0]]))
    for k in range(top - 1, -1, -1):
        g = _grid(indices.shape, k)
        if math.prod(g) > CHECKED_LEVEL:
            coder.uniform(np.array([1 << 16]), np.array([_CHECK_WORD]))
        sub = indices[:: 1 << k, :: 1 << k, :: 1 << k]
        G = _padded(sub)
        for ci in range(len(_CLASSES)):
            _step(G, g, ci, k, st, coder, palette_size)
    return coder.words()


def decode_indices(data: bytes, shape, palette_size: int) -> np.ndarray:
    """Invert :func:`encode_indices` over untrusted bytes; (z, y, x) uint8 or uint16.

    Raises
    ------
    FormatError
        A stream that is not a whole number of words, decodes out of range or has data left.
    """
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size == 0 or buf.size % 4:
        raise FormatError(f"volume-labels stream: {buf.size} bytes is not a positive multiple of 4")
    coder, st = _Coder(buf.view("<u4").astype(np.uint32)), _State()
    dtype = np.uint8 if palette_size <= 256 else np.uint16
    top = _levels(shape)
    first = coder.uniform(np.array([palette_size]), None)
    grid = first.astype(dtype).reshape(1, 1, 1)
    for k in range(top - 1, -1, -1):
        g = _grid(shape, k)
        if math.prod(g) > CHECKED_LEVEL and int(coder.uniform(np.array([1 << 16]), None)[0]) != _CHECK_WORD:
            raise FormatError("volume-labels stream is corrupt (check word) or does not match its shape")
        G = np.zeros(tuple(n + 2 for n in g), dtype=dtype)
        G[1 : g[0] + 1 : 2, 1 : g[1] + 1 : 2, 1 : g[2] + 1 : 2] = grid
        _mirror(G, g)
        for ci in range(len(_CLASSES)):
            _step(G, g, ci, k, st, coder, palette_size)
        grid = G[1:-1, 1:-1, 1:-1]
    if not coder.exhausted():
        raise FormatError("volume-labels stream is corrupt: data left after the last voxel")
    return np.ascontiguousarray(grid)


# ----------------------------------------------------------------------------------------------
# The codec
# ----------------------------------------------------------------------------------------------


def _pack_palette(values: np.ndarray) -> tuple[str, bytes]:
    """("int", varints of zigzag(first) and the gaps minus one) or ("float", float64 LE)."""
    if values.dtype.kind == "f":
        return "float", values.astype("<f8").tobytes()
    head = zigzag(values[:1].astype(np.int64))
    gaps = (np.diff(values) - 1).astype(np.uint64)
    return "int", pack_varints(np.concatenate([head, gaps]))


def _unpack_palette(data: bytes, kind: str, size: int, lo: float, hi: float) -> np.ndarray:
    """The palette of an untrusted file: strictly increasing, from ``lo`` to ``hi``."""
    values: np.ndarray
    if kind == "float":
        if len(data) != 8 * size:
            raise FormatError(f"volume-labels file: palette of {len(data)} bytes for {size} float values")
        values = np.frombuffer(data, dtype="<f8").astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise FormatError("volume-labels file: the palette holds non-finite values")
    else:
        raw, used = unpack_varints(data, size, "volume-labels palette")
        if used != len(data):
            raise FormatError("volume-labels file: bytes left after the palette")
        first = int(unzigzag(raw[:1].astype(np.uint64))[0])
        gaps = [int(g) + 1 for g in raw[1:]]
        if first != lo or first + sum(gaps) != hi:  # Python ints: no overflow
            raise FormatError("volume-labels file: the palette does not span the header's value range")
        values = first + np.concatenate([[0], np.cumsum(gaps, dtype=np.int64)]).astype(np.int64)
    if values.size and (values[0] != lo or values[-1] != hi or np.any(np.diff(values) <= 0)):
        raise FormatError("volume-labels file: the palette is not increasing from the range's low to high")
    return values


def _in_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The palette cast to the volume's dtype; FormatError when a value does not survive the cast."""
    if dtype.kind in "iu" and values.dtype.kind == "f":
        raise FormatError(f"volume-labels file: fractional palette for a {dtype.name} volume")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if int(values[0]) < info.min or int(values[-1]) > info.max:
            raise FormatError(f"volume-labels file: palette values outside {dtype.name}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(dtype)
    if not np.array_equal(out.astype(values.dtype), values):
        raise FormatError(f"volume-labels file: palette values not exact in {dtype.name}")
    return out


@register
class VolumeLabelsCodec(Codec):
    name = "volume-labels"
    kind = "volume"
    baseline = False
    description = (
        "lossless label and integer-class volumes (≤ 65536 values): palette + coarse-to-fine "
        "context-modelled range coding"
    )
    options = ()

    def encode_parts(self, data, *, progress=None):
        v = as_volume(data)
        values, indices = palette_indices(v)
        kind, palette = _pack_palette(values)
        header = volume_header(v) | {"palette": kind, "labels": int(values.size)}
        sections = {"palette": palette}
        if values.size > 1:
            mirror = []
            for axis in range(3):  # an exact mirror image of itself: code the first half only
                flipped = np.flip(indices, axis)
                mirror.append(bool(indices.shape[axis] > 1 and np.array_equal(indices, flipped)))
                if mirror[-1]:
                    indices = indices[(slice(None),) * axis + (slice(0, (indices.shape[axis] + 1) // 2),)]
            if any(mirror):
                header["mirror"] = mirror
            sections["labels"] = encode_indices(np.ascontiguousarray(indices), int(values.size))
        short = math.ceil((v.size - 4096) / VOXELS_PER_BYTE) - sum(map(len, sections.values()))
        if short > 0:  # so that the decoder's bytes-per-voxel guard passes (see the module docstring)
            sections["pad"] = bytes(short)
        return header, sections

    def decode_parts(self, header, sections):
        stored = sum(len(s) for s in sections.values())
        shape, dtype, lo, hi = read_volume_header(
            header, max_voxels_per_byte=VOXELS_PER_BYTE, stored_bytes=stored
        )
        kind = header_get(header, "palette", str, choices=("int", "float"))
        size = header_get(header, "labels", int, min=1, max=MAX_PALETTE)
        if "palette" not in sections:
            raise FormatError("volume-labels file: section 'palette' is missing")
        if ("labels" in sections) != (size > 1):
            raise FormatError("volume-labels file: section 'labels' must be there exactly when labels > 1")
        if "pad" in sections and any(sections["pad"]):
            raise FormatError("volume-labels file: the padding is not zero")
        values = _in_dtype(_unpack_palette(sections["palette"], kind, size, lo, hi), dtype)
        if size == 1:
            return np.full(shape, values[0], dtype=dtype)
        mirror = header_get(header, "mirror", list, default=[False, False, False])
        if len(mirror) != 3 or not all(type(m) is bool for m in mirror):
            raise FormatError(f"volume-labels file: mirror must be three booleans, got {mirror!r}")
        coded = tuple((n + 1) // 2 if m else n for n, m in zip(shape, mirror))
        indices = decode_indices(sections["labels"], coded, size)
        for axis in range(3):
            if mirror[axis]:
                half = indices[(slice(None),) * axis + (slice(0, shape[axis] // 2),)]
                indices = np.concatenate([indices, np.flip(half, axis)], axis=axis)
        return values[indices]
