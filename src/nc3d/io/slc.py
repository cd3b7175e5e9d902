"""VolVis SLC volumes (``.slc``: 8-bit slices, optionally run-length encoded), read by hand.

Hand-written on purpose: the format is a few text numbers and a byte-oriented RLE, and its
only reader besides VTK (``vtkSLCReader``, inside the huge ``vtk`` package) is the format's
original C code. Layout: ``magic (11111)``, ``x y z bits``, ``voxel sizes``, ``unit origin
modifier compression``, an icon ``w h X`` + 3·w·h bytes, then per z slice either x·y raw bytes
or ``size X`` + ``size`` RLE bytes (x fastest), so the array is ``(z, y, x)``.

RLE: a header byte ``c`` starts a run of ``c & 0x7f`` voxels (0 ends the slice): with the high
bit set they are the next bytes literally, otherwise the next byte repeated. Finding the headers
is sequential in principle; here it is vectorized by pointer doubling over "where the next
header would be if this byte were one", so there is no Python loop over runs or voxels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .volume_arrays import check_dims

__all__ = ["load_slc"]

_HEAD = re.compile(
    rb"\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+"
    rb"(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*X"
)
_SLICE = re.compile(rb"\s*(\d+)\s*X")


def _rle_headers(data: np.ndarray) -> np.ndarray:
    """Positions of the run headers of one RLE slice (the terminating 0 included)."""
    n = data.size
    count = (data & 0x7F).astype(np.int64)
    step = np.where(data & 0x80, 1 + count, 2)
    nxt = np.arange(n) + step
    nxt[(count == 0) | (nxt >= n)] = n  # a slice ends at a zero header (or runs off the end)
    nxt = np.append(nxt, n)  # n: the sentinel, its own successor
    found = np.array([0])
    jump = nxt
    while True:  # each pass doubles the stretch of the chain that is known: log2(runs) passes
        more = jump[found]
        more = more[more < n]
        if more.size == 0:
            break
        found = np.concatenate([found, more])
        jump = jump[jump]
    return np.sort(found)


def _decode_rle(data: np.ndarray, expected: int, what: str) -> np.ndarray:
    if data.size == 0:
        raise InputError(f"{what}: an empty compressed slice")
    heads = _rle_headers(data)
    count = (data[heads] & 0x7F).astype(np.int64)
    literal = (data[heads] & 0x80) != 0
    if count[-1] != 0 or count.sum() != expected:
        raise InputError(f"{what}: a compressed slice decodes to {count.sum()} voxels, not {expected}")
    start = np.repeat(heads + 1, count)
    within = np.arange(expected) - np.repeat(np.cumsum(count) - count, count)
    index = start + within * np.repeat(literal, count)
    if index.size and index.max() >= data.size:
        raise InputError(f"{what}: a compressed slice is truncated")
    return data[index]


def load_slc(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit SLC volume as a ``(z, y, x)`` uint8 array."""
    path = Path(path)
    what = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    m = _HEAD.match(raw)
    if not m or int(m.group(1)) != 11111:
        raise InputError(f"{what}: not an SLC file (no 11111 header)")
    x, y, z, bits = (int(g) for g in m.group(2, 3, 4, 5))
    compression, icon_w, icon_h = int(m.group(12)), int(m.group(13)), int(m.group(14))
    if bits != 8:
        raise InputError(f"{what}: only 8-bit SLC volumes are supported, not {bits}-bit")
    if compression not in (0, 1):
        raise InputError(f"{what}: unknown SLC compression {compression}")
    z, y, x = check_dims((z, y, x), what)
    pos = m.end() + 3 * icon_w * icon_h
    buf = np.frombuffer(raw, dtype=np.uint8)
    plane = x * y
    slices = []
    for k in range(z):  # one iteration per z slice: each has its own text header
        if compression == 0:
            slices.append(buf[pos : pos + plane])
            pos += plane
            if slices[-1].size != plane:
                raise InputError(f"{what}: slice {k} is truncated")
            continue
        s = _SLICE.match(raw, pos)
        if not s:
            raise InputError(f"{what}: slice {k} has no 'size X' header")
        size = int(s.group(1))
        pos = s.end() + size
        if pos > len(raw):
            raise InputError(f"{what}: slice {k} is truncated")
        slices.append(_decode_rle(buf[s.end() : pos], plane, f"{what}: slice {k}"))
    return np.stack(slices).reshape(z, y, x)
