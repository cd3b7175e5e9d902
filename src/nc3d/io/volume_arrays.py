"""Checking volume arrays and building them from raw sample bytes: what every volume reader shares.

Kept apart from :mod:`.volumes` (which dispatches on the file type to the readers) so that the
readers (:mod:`.metaimage`, :mod:`.slc`, :mod:`.vtk_image`) import it without importing their
dispatcher.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = ["MAX_VOXELS", "VOLUME_DTYPES", "as_volume", "check_dtype", "check_dims", "samples_from_bytes"]

#: Largest volume read or written, in voxels (2**30: 4 GiB of float32); checked before allocating.
MAX_VOXELS = 1 << 30
#: The sample types nc3d reads, writes and compresses.
VOLUME_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


def as_volume(array, *, name: str = "volume") -> np.ndarray:
    """Validate a scalar volume: a 3-D array of a supported dtype with finite values.

    Parameters
    ----------
    array : (z, y, x) array_like
        uint8, int8, uint16, int16, uint32, int32, float32 or float64.
    """
    a = np.asarray(array)
    if a.ndim != 3:
        raise InputError(f"{name}: a volume must be 3-D, got shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{name}: the volume is empty (shape {a.shape})")
    if a.dtype.name not in VOLUME_DTYPES:
        raise InputError(f"{name}: unsupported dtype {a.dtype}; use one of {', '.join(VOLUME_DTYPES)}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise InputError(f"{name}: the volume holds NaN or infinite values")
    return a


def check_dtype(dtype, what: str) -> np.dtype:
    """A supported volume dtype from a name or dtype (native byte order); InputError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in VOLUME_DTYPES:
        raise InputError(
            f"{what}: unknown or unsupported dtype {dtype!r}; use one of {', '.join(VOLUME_DTYPES)}"
        )
    return dt


def check_dims(dims, what: str, *, max_voxels: int | None = MAX_VOXELS) -> tuple[int, int, int]:
    """Three positive sizes whose product is at most ``max_voxels``, checked before allocating.

    ``max_voxels=None`` drops the limit, for volumes read chunk by chunk (:mod:`nc3d.chunked`).
    """
    try:
        dims = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise InputError(f"{what}: sizes must be integers, got {dims!r}") from None
    if len(dims) != 3:
        raise InputError(f"{what}: a volume needs 3 sizes, got {len(dims)}")
    if min(dims) < 1:
        raise InputError(f"{what}: sizes must be positive, got {dims} (an empty volume)")
    if max_voxels is not None and math.prod(dims) > max_voxels:
        raise InputError(f"{what}: {dims} is {math.prod(dims)} voxels, more than the limit of {max_voxels}")
    return dims


def samples_from_bytes(data, dims, dtype: np.dtype, what: str, *, big_endian: bool = False) -> np.ndarray:
    """A ``(z, y, x)`` array (native byte order) from exactly ``prod(dims) * itemsize`` bytes."""
    dims = check_dims(dims, what)
    expected = math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise InputError(
            f"{what}: {len(data)} bytes of data, but {dims[::-1]} (x, y, z) {dtype.name} needs {expected}"
        )
    stored = dtype.newbyteorder(">" if big_endian else "<")
    return np.frombuffer(data, dtype=stored).astype(dtype).reshape(dims)
