"""Reading and writing scalar volumes.

Axis order is the array's own: a volume of shape ``(z, y, x)`` stays ``(z, y, x)`` — nothing
is ever transposed on a save/load round trip. For now ``.npy``; the volume codec's issue adds
raw, NIfTI, MetaImage, VTK image data and TIFF stacks here.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["VOLUME_EXTENSIONS", "is_volume_path", "load_volume", "save_volume", "as_volume"]

VOLUME_EXTENSIONS = (".npy",)
_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


def is_volume_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has one of :data:`VOLUME_EXTENSIONS`."""
    return Path(path).suffix.lower() in VOLUME_EXTENSIONS


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
    if a.dtype.name not in _DTYPES:
        raise InputError(f"{name}: unsupported dtype {a.dtype}; use one of {', '.join(_DTYPES)}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise InputError(f"{name}: the volume holds NaN or infinite values")
    return a


def load_volume(path: str | os.PathLike) -> np.ndarray:
    """Read a volume file (``.npy``; never unpickles) as a ``(z, y, x)`` array."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() != ".npy":
        raise InputError(f"{path}: unknown volume format '{path.suffix}'; nc3d reads .npy")
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as .npy ({exc})") from None
    return as_volume(a, name=str(path))


def save_volume(path: str | os.PathLike, volume: np.ndarray, *, force: bool = False) -> Path:
    """Write a volume as ``.npy`` atomically; an existing file is kept unless ``force``."""
    from ..container import write_bytes_atomic

    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputError(f"{path}: volumes are written as .npy")
    buf = io.BytesIO()
    np.save(buf, as_volume(volume, name=str(path)), allow_pickle=False)
    write_bytes_atomic(path, buf.getvalue(), force=force)
    return path
