"""Reading and writing scalar volumes.

Axis order: a volume is a numpy array of shape ``(z, y, x)`` with ``x`` varying fastest in
memory (C order) — the layout of every format read here once its own convention is undone:

* ``.npy``: the array as stored (never unpickled).
* raw (``.raw``): headerless little-endian samples, ``x`` fastest. The shape and dtype come from
  arguments (``shape=(z, y, x)``, ``dtype="uint16"``) or from the common file-name pattern
  ``name_XxYxZ_dtype.raw`` (e.g. ``bonsai_256x256x256_uint8.raw``): note that the name lists
  the sizes **x first**, while the array (and ``--shape``) is ``(z, y, x)``.
* NIfTI (``.nii``, ``.nii.gz``; nibabel): NIfTI's first axis ``i`` is fastest on disk, so the
  array is nibabel's ``(i, j, k)`` data transposed to ``(k, j, i)``.
* MetaImage (``.mhd`` + ``.raw``/``.zraw``, ``.mha``), VTK XML image data (``.vti``) and legacy VTK
  ``STRUCTURED_POINTS`` (``.vtk``): sizes are listed ``x y z``, ``x`` fastest → ``(z, y, x)``.
* TIFF stacks (``.tif``, ``.tiff``; tifffile): one page per ``z`` slice.
* VolVis SLC (``.slc``, 8-bit, raw or run-length encoded slices): ``x`` fastest → ``(z, y, x)``.

Nothing is transposed on a save/load round trip: ``load_volume(save_volume(p, v)) == v`` with
the same shape and dtype for every writable format (``.npy``, ``.raw``, ``.nii``/``.nii.gz``,
``.mhd``, ``.tif``). Sizes declared by a header are checked against :data:`MAX_VOXELS` and against
the bytes present before anything is allocated.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import math
import os
import re
from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import InputError
from .volume_arrays import MAX_VOXELS, as_volume, check_dims, check_dtype, samples_from_bytes

__all__ = [
    "VOLUME_EXTENSIONS",
    "WRITABLE_VOLUME_EXTENSIONS",
    "MAX_VOXELS",
    "is_volume_path",
    "volume_format",
    "load_volume",
    "save_volume",
    "as_volume",
    "raw_name",
    "parse_raw_name",
    "volume_file_bytes",
]

VOLUME_EXTENSIONS = (
    ".npy",
    ".raw",
    ".nii",
    ".nii.gz",
    ".mhd",
    ".mha",
    ".vti",
    ".vtk",
    ".tif",
    ".tiff",
    ".slc",
)
WRITABLE_VOLUME_EXTENSIONS = (".npy", ".raw", ".nii", ".nii.gz", ".mhd", ".tif", ".tiff")
_RAW_NAME = re.compile(r"_(\d+)x(\d+)x(\d+)_([a-z0-9]+)\.raw$", re.IGNORECASE)


def volume_format(path: str | os.PathLike) -> str | None:
    """The volume extension of ``path`` (``".nii.gz"`` counts as one), or None."""
    name = Path(path).name.lower()
    for ext in sorted(VOLUME_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return None


def is_volume_path(path: str | os.PathLike) -> bool:
    """True when ``path`` ends with one of :data:`VOLUME_EXTENSIONS`."""
    return volume_format(path) is not None


def parse_raw_name(
    path: str | os.PathLike, *, max_voxels: int | None = MAX_VOXELS
) -> tuple[tuple[int, int, int], np.dtype] | None:
    """``(shape (z, y, x), dtype)`` from a name ``name_XxYxZ_dtype.raw``, or None if it has none.

    ``max_voxels``: the largest shape accepted (None: no limit, for reading chunk by chunk).
    """
    m = _RAW_NAME.search(Path(path).name)
    if not m:
        return None
    x, y, z = (int(g) for g in m.groups()[:3])
    return check_dims((z, y, x), str(path), max_voxels=max_voxels), check_dtype(m.group(4).lower(), str(path))


def raw_name(path: str | os.PathLike, volume: np.ndarray) -> Path:
    """``path`` with the ``_XxYxZ_dtype.raw`` pattern for ``volume`` (kept if already right)."""
    path = Path(path)
    z, y, x = volume.shape
    tag = f"_{x}x{y}x{z}_{volume.dtype.name}.raw"
    stem = path.name[: -len(".raw")] if path.name.lower().endswith(".raw") else path.name
    m = _RAW_NAME.search(path.name)
    if m:
        stem = path.name[: m.start()]
    return path.with_name(stem + tag)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def raw_layout(
    path: Path, shape, dtype, *, max_voxels: int | None = MAX_VOXELS
) -> tuple[tuple[int, int, int], np.dtype]:
    """``(dims, dtype)`` of a raw volume file: given, or from its name (``name_XxYxZ_dtype.raw``),
    checked against the file's size (:class:`InputError` naming what is missing or wrong).

    ``max_voxels``: the largest volume accepted (None: no limit, for chunk-by-chunk reading)."""
    named = parse_raw_name(path, max_voxels=max_voxels)
    if shape is None or dtype is None:
        if named is None:
            raise InputError(
                f"{path}: a raw file needs its shape and dtype: give shape=(z, y, x) and dtype "
                "(--shape Z,Y,X --dtype NAME) or name it name_XxYxZ_dtype.raw"
            )
        shape = named[0] if shape is None else shape
        dtype = named[1] if dtype is None else dtype
    dims = check_dims(shape, f"{path}: shape", max_voxels=max_voxels)
    dt = check_dtype(dtype, str(path))
    size = path.stat().st_size
    if size != math.prod(dims) * dt.itemsize:
        raise InputError(
            f"{path}: the file has {size} bytes, but shape {dims} (z, y, x) of {dt.name} needs "
            f"{math.prod(dims) * dt.itemsize}"
        )
    return dims, dt


def _load_raw(path: Path, shape, dtype) -> np.ndarray:
    dims, dt = raw_layout(path, shape, dtype)
    return samples_from_bytes(_read_bytes(path), dims, dt, str(path))


@contextlib.contextmanager
def _quiet(logger: str):
    """Silence a library's logger: its warnings about a damaged file would print; nc3d raises."""
    log = logging.getLogger(logger)
    before, log.disabled = log.disabled, True
    try:
        yield
    finally:
        log.disabled = before


def _load_nifti(path: Path) -> np.ndarray:
    nib = require("nibabel", "reading NIfTI volumes")
    try:
        with _quiet("nibabel.global"):  # nibabel's own logger, which prints header fixes
            img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        while len(shape) > 3 and shape[-1] == 1:  # trailing singleton time/component axes
            shape = shape[:-1]
        if len(shape) != 3:
            raise InputError(f"{path}: a NIfTI volume must be 3-D, got shape {tuple(img.shape)}")
        check_dims(shape, str(path))
        data = np.asanyarray(img.dataobj)  # raw dtype unless the header asks for scaling
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel, gzip and zlib raise many types on bad files
        raise InputError(f"{path}: cannot read as NIfTI ({type(exc).__name__}: {exc})") from None
    return np.ascontiguousarray(data.reshape(shape).transpose(2, 1, 0))  # (i, j, k) -> (k, j, i)


def _load_tiff(path: Path) -> np.ndarray:
    tifffile = require("tifffile", "reading TIFF stacks")
    try:
        with _quiet("tifffile"), tifffile.TiffFile(str(path)) as tif:
            if not tif.series:
                raise InputError(f"{path}: the TIFF file holds no images")
            series = tif.series[0]
            shape = tuple(int(s) for s in series.shape)
            if len(shape) == 2:
                shape = (1,) + shape
            if len(shape) != 3:
                raise InputError(
                    f"{path}: a TIFF stack of scalar slices is (z, y, x), got shape {series.shape}"
                )
            check_dims(shape, str(path))
            data = series.asarray()
            if data.size != math.prod(shape):
                raise InputError(f"{path}: the TIFF data do not fill its declared shape {shape}")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on bad files
        raise InputError(f"{path}: cannot read as TIFF ({type(exc).__name__}: {exc})") from None
    return data.reshape(shape)


def load_volume(path: str | os.PathLike, *, shape=None, dtype=None) -> np.ndarray:
    """Read a volume file as a ``(z, y, x)`` array (see the module notes for each format).

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy``, ``.raw``, ``.nii``, ``.nii.gz``, ``.mhd``, ``.mha``, ``.vti``, ``.vtk``, ``.tif``, ``.slc``.
    shape : (z, y, x) ints, optional
        Raw files only: the array shape (overrides the name pattern).
    dtype : str or numpy dtype, optional
        Raw files only: the sample type, little-endian (overrides the name pattern).

    Returns
    -------
    (z, y, x) ndarray
        Validated by :func:`as_volume` (3-D, non-empty, supported dtype, finite).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = volume_format(path)
    if fmt is None:
        raise InputError(
            f"{path}: unknown volume format '{path.suffix}'; nc3d reads {', '.join(VOLUME_EXTENSIONS)}"
        )
    if (shape is not None or dtype is not None) and fmt != ".raw":
        raise InputError(f"{path}: shape and dtype are only given for raw files; a {fmt} file states its own")
    if fmt == ".npy":
        try:
            a = np.load(path, allow_pickle=False, mmap_mode="r")
            if a.ndim == 3 and a.dtype.kind in "iuf":
                check_dims(a.shape, str(path))  # before reading the samples in
            a = np.array(a)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged header fails in numpy's parser in many ways
            raise InputError(f"{path}: cannot read as .npy ({type(exc).__name__}: {exc})") from None
    elif fmt == ".raw":
        a = _load_raw(path, shape, dtype)
    elif fmt in (".nii", ".nii.gz"):
        a = _load_nifti(path)
    elif fmt in (".tif", ".tiff"):
        a = _load_tiff(path)
    elif fmt in (".mhd", ".mha"):
        from .metaimage import load_metaimage

        a = load_metaimage(path)
    elif fmt == ".slc":
        from .slc import load_slc

        a = load_slc(path)
    else:  # .vti, .vtk
        from .vtk_image import load_vtk_image

        a = load_vtk_image(path)
    return as_volume(a, name=str(path))


def volume_file_bytes(path: str | os.PathLike) -> int:
    """Bytes a volume takes on disk: the file, plus a ``.mhd`` header's separate data file."""
    path = Path(path)
    size = path.stat().st_size
    if volume_format(path) == ".mhd":
        from .metaimage import metaimage_data_file

        data = metaimage_data_file(path)
        if data is not None and data != path and data.is_file():
            size += data.stat().st_size
    return size


def _nifti_bytes(volume: np.ndarray, compress: bool) -> bytes:
    nib = require("nibabel", "writing NIfTI volumes")
    img = nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)), affine=np.eye(4))
    img.header.set_data_dtype(volume.dtype)
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def _tiff_bytes(volume: np.ndarray) -> bytes:
    tifffile = require("tifffile", "writing TIFF stacks")
    buf = io.BytesIO()
    tifffile.imwrite(buf, volume, photometric="minisblack")
    return buf.getvalue()


def save_volume(path: str | os.PathLike, volume: np.ndarray, *, force: bool = False) -> Path:
    """Write a volume atomically; an existing file is kept unless ``force``.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy``, ``.raw``, ``.nii``, ``.nii.gz``, ``.mhd`` (+ a ``.raw`` data file beside it) or
        ``.tif``/``.tiff``. A ``.raw`` name gets the ``_XxYxZ_dtype.raw`` pattern so it can be
        read back without flags (``out.raw`` → ``out_64x64x32_uint8.raw``).
    volume : (z, y, x) ndarray
        A volume accepted by :func:`as_volume`; written as is (no transpose, dtype kept).

    Returns
    -------
    pathlib.Path
        The path written (for ``.raw`` the name with its pattern; for ``.mhd`` the header).
    """
    from ..files import write_bytes_atomic

    path = Path(path)
    fmt = volume_format(path)
    if fmt not in WRITABLE_VOLUME_EXTENSIONS:
        raise InputError(
            f"{path}: cannot write a volume as '{fmt or path.suffix}'; use one of "
            f"{', '.join(WRITABLE_VOLUME_EXTENSIONS)}"
        )
    v = np.ascontiguousarray(as_volume(volume, name=str(path)))
    if fmt == ".npy":
        buf = io.BytesIO()
        np.save(buf, v, allow_pickle=False)
        data = buf.getvalue()
    elif fmt == ".raw":
        path = raw_name(path, v)
        data = v.astype(v.dtype.newbyteorder("<"), copy=False).tobytes()
    elif fmt in (".nii", ".nii.gz"):
        data = _nifti_bytes(v, compress=fmt == ".nii.gz")
    elif fmt == ".mhd":
        from .metaimage import save_metaimage

        return save_metaimage(path, v, force=force)
    else:
        data = _tiff_bytes(v)
    return write_bytes_atomic(path, data, force=force)
