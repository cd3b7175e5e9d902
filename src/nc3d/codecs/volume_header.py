"""What every volume codec stores about a volume, and how a decoder gets its values back.

A volume codec's header carries ``shape`` ``[z, y, x]``, ``dtype`` (a numpy name) and ``range``
``[lo, hi]`` (the data's min and max). :func:`volume_header` writes them, :func:`read_volume_header`
validates them from an untrusted header, and :func:`restore_values` turns decoded floats back into
the original dtype (clipped to the range; integers rounded).
"""

from __future__ import annotations

import math

import numpy as np

from ..container import header_get
from ..entropy import pack_varints, unpack_varints, unzigzag, zigzag
from ..errors import FormatError, InputError
from ..io.volumes import MAX_VOXELS, as_volume

__all__ = [
    "volume_header",
    "read_volume_header",
    "restore_values",
    "normalized",
    "parse_region",
    "check_region",
    "smallest_level_reaching",
    "decoder_model",
    "pack_volume_header",
    "unpack_volume_header",
]

_INT_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32")
_DTYPES = _INT_DTYPES + ("float32", "float64")

#: Most voxels of a constant volume (range lo == hi), which a file declares in a few bytes: 2²⁶
#: (256 MiB as float32), so a tiny hostile file cannot ask for more.
MAX_CONSTANT_VOXELS = 1 << 26


def volume_header(volume: np.ndarray) -> dict:
    """``{"shape": [z, y, x], "dtype": name, "range": [lo, hi]}`` of a validated volume."""
    v = as_volume(volume)
    return {"shape": list(v.shape), "dtype": v.dtype.name, "range": [float(v.min()), float(v.max())]}


def pack_volume_header(header: dict) -> bytes:
    """The fields of :func:`volume_header` in a few bytes (for codecs whose files must be tiny).

    Layout: three varints (shape), u8 (index of the dtype in the supported list), then the range:
    two zigzag varints for integer dtypes, two little-endian float32 for float32, float64 otherwise.
    """
    dtype = header["dtype"]
    lo, hi = header["range"]
    out = pack_varints(np.asarray(header["shape"], dtype=np.int64)) + bytes([_DTYPES.index(dtype)])
    if dtype in _INT_DTYPES:
        return out + pack_varints(zigzag(np.array([int(lo), int(hi)], dtype=np.int64)))
    return out + np.array([lo, hi], dtype="<f4" if dtype == "float32" else "<f8").tobytes()


def unpack_volume_header(data: bytes) -> tuple[dict, int]:
    """Invert :func:`pack_volume_header` over untrusted bytes → (header dict, bytes used).

    The dict still goes through :func:`read_volume_header` for its checks.
    """
    buf = bytes(data)
    shape, used = unpack_varints(buf, 3, "volume header")
    if used >= len(buf) or buf[used] >= len(_DTYPES):
        raise FormatError("volume header: missing or unknown dtype")
    dtype = _DTYPES[buf[used]]
    used += 1
    lo: float
    hi: float
    if dtype in _INT_DTYPES:
        rng, n = unpack_varints(buf[used:], 2, "volume range")
        lo, hi = (int(v) for v in unzigzag(rng))
    else:
        width = 4 if dtype == "float32" else 8
        if used + 2 * width > len(buf):
            raise FormatError("volume header: the value range is truncated")
        lo, hi = (float(v) for v in np.frombuffer(buf, dtype=f"<f{width}", count=2, offset=used))
        n = 2 * width
    header = {"shape": [int(v) for v in shape], "dtype": dtype, "range": [lo, hi]}
    return header, used + n


def read_volume_header(header: dict, *, max_voxels_per_byte: float | None = None, stored_bytes: int = 0):
    """Shape, dtype and range from an untrusted header.

    Parameters
    ----------
    header : dict
        A volume codec's header.
    max_voxels_per_byte : float, optional
        Refuse a shape with more voxels than this many per stored byte (``stored_bytes``): a
        decoder's guard against tiny files that declare huge volumes.
    stored_bytes : int
        Bytes of the file's sections, for ``max_voxels_per_byte``.

    Returns
    -------
    shape : (z, y, x) tuple of int
    dtype : numpy.dtype
    lo, hi : float
    """
    shape = header_get(header, "shape", list)
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise FormatError(f"volume header: invalid shape {shape!r}")
    n = math.prod(shape)
    if n > MAX_VOXELS:
        raise FormatError(f"volume header: shape {shape} is over the limit of {MAX_VOXELS} voxels")
    dtype = header_get(header, "dtype", str, choices=_DTYPES)
    rng = header_get(header, "range", list)
    if len(rng) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng):
        raise FormatError(f"volume header: invalid value range {rng!r}")
    lo, hi = float(rng[0]), float(rng[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi and math.isfinite(hi - lo)):
        raise FormatError(f"volume header: invalid value range {rng!r}")
    # a constant volume needs no stored byte per voxel (its decode is the constant), so it is
    # bounded by MAX_CONSTANT_VOXELS instead of by the bytes
    if lo == hi and n > MAX_CONSTANT_VOXELS:
        raise FormatError(
            f"volume header: a constant volume of shape {shape} is over {MAX_CONSTANT_VOXELS} voxels"
        )
    if lo != hi and max_voxels_per_byte is not None and n > max_voxels_per_byte * stored_bytes + 4096:
        raise FormatError(f"volume header: shape {shape} is out of proportion to {stored_bytes} stored bytes")
    return tuple(shape), np.dtype(dtype), lo, hi


def normalized(volume: np.ndarray, lo: float, hi: float, dtype=np.float32) -> np.ndarray:
    """``(volume - lo) / (hi - lo)`` in ``dtype`` (zeros for a constant volume)."""
    span = hi - lo
    if span == 0:
        return np.zeros(volume.shape, dtype=dtype)
    work = np.float32 if volume.dtype.itemsize <= 2 or volume.dtype == np.float32 else np.float64
    return ((volume.astype(work) - work(lo)) * work(1.0 / span)).astype(dtype, copy=False)


def restore_values(x: np.ndarray, dtype, lo: float, hi: float, *, scaled: bool = False) -> np.ndarray:
    """Decoded floats → the original dtype: clipped to ``[lo, hi]``, integers rounded.

    Parameters
    ----------
    x : array of float
        Decoded values, in the original units, or in ``[0, 1]`` when ``scaled``.
    dtype : numpy dtype or name
    lo, hi : float
        The original data range.
    """
    dtype = np.dtype(dtype)
    # float32 holds every value of the 8/16-bit and float32 dtypes exactly; 32-bit ints need float64.
    work = np.float32 if dtype.itemsize <= 2 or dtype == np.float32 else np.float64
    v = np.asarray(x, dtype=work)
    v = v * work(hi - lo) + work(lo) if scaled else v.copy()  # never modifies the caller's array
    np.clip(v, work(lo), work(hi), out=v)
    if dtype.kind in "iu":
        np.rint(v, out=v)
    return v.astype(dtype)


def parse_region(text: str) -> tuple[tuple[int | None, int | None], ...]:
    """``"z0:z1,y0:y1,x0:x1"`` → three ``(start, stop)`` pairs (an empty bound is None: to the edge)."""
    parts = str(text).split(",")
    if len(parts) != 3 or not all(p.count(":") == 1 for p in parts):
        raise InputError(f"region {text!r}: write it as z0:z1,y0:y1,x0:x1 (voxel indices, end exclusive)")
    out = []
    for p in parts:
        a, b = (s.strip() for s in p.split(":"))
        try:
            out.append((int(a) if a else None, int(b) if b else None))
        except ValueError:
            raise InputError(f"region {text!r}: bounds must be integers") from None
    return tuple(out)


def check_region(region, shape) -> tuple[tuple[int, int], ...]:
    """Validate a sub-box of a volume of ``shape``.

    Parameters
    ----------
    region : str, three slices, or three (start, stop) pairs
        Half-open voxel index ranges along ``(z, y, x)``; None bounds mean the volume's edge.
    shape : (z, y, x) ints

    Returns
    -------
    ((z0, z1), (y0, y1), (x0, x1)) with ``0 <= start < stop <= size``
    """
    if isinstance(region, str):
        region = parse_region(region)
    try:
        pairs = [(r.start, r.stop) if isinstance(r, slice) else tuple(r) for r in region]
    except TypeError:
        raise InputError(f"region {region!r}: expected three (start, stop) ranges") from None
    if len(pairs) != 3 or any(len(p) != 2 for p in pairs):
        raise InputError(f"region {region!r}: expected three (start, stop) ranges")
    out = []
    for (a, b), size, axis in zip(pairs, shape, "zyx"):
        a = 0 if a is None else a
        b = size if b is None else b
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (a, b)):
            raise InputError(f"region along {axis}: bounds must be integers, got {a!r}:{b!r}")
        if not 0 <= a < b <= size:
            raise InputError(f"region along {axis}: {a}:{b} is not a non-empty range inside 0:{size}")
        out.append((int(a), int(b)))
    return tuple(out)


def smallest_level_reaching(levels, psnr_at, target: float, progress=None) -> tuple[float, float]:
    """Smallest of the increasing quality ``levels`` whose ``psnr_at(level)`` reaches ``target`` (bisection).

    ``psnr_at`` is called O(log n) times (memoized here); when even the last level misses the
    target, that level is returned (best effort: the caller records the PSNR reached).

    Returns
    -------
    (level, psnr)
    """
    seen: dict = {}

    def at(i: int) -> float:
        if i not in seen:
            seen[i] = psnr_at(levels[i])
            if progress is not None:
                progress("target-psnr", len(seen), int(math.log2(len(levels))) + 2)
        return seen[i]

    lo_i, hi_i = 0, len(levels) - 1
    if at(hi_i) < target:
        return levels[hi_i], seen[hi_i]
    while lo_i < hi_i:  # invariant: levels[hi_i] reaches the target
        mid = (lo_i + hi_i) // 2
        if at(mid) >= target:
            hi_i = mid
        else:
            lo_i = mid + 1
    return levels[hi_i], at(hi_i)


def decoder_model(header: dict, sections: dict, load, shipped_name: str):
    """The model a learned volume file was written with, from its untrusted header.

    ``header["model"]`` is ``"embedded"`` (the model is the file's ``model`` section) or
    ``"default"`` (the model shipped with nc3d, whose digest must match ``model_digest``).
    ``load(source)`` takes the section's bytes or ``"default"`` and returns ``(model, digest)``,
    raising :class:`InputError` on unreadable bytes; ``shipped_name`` names the shipped file in
    the message. Everything wrong is a :class:`FormatError`.
    """
    kind = header.get("model")
    if kind == "embedded":
        if "model" not in sections:
            raise FormatError("volume file: the embedded model section is missing")
        try:
            return load(bytes(sections["model"]))[0]
        except InputError as exc:
            raise FormatError(f"volume file: embedded model unreadable ({exc})") from None
    if kind != "default":
        raise FormatError(f"volume file: unknown model {kind!r}")
    model, digest = load("default")
    if header.get("model_digest") != digest:
        raise FormatError(
            f"volume file was written with model {header.get('model_digest')!r}, "
            f"but this nc3d ships {digest!r} ({shipped_name})"
        )
    return model
