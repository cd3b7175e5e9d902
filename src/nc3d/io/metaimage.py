"""MetaImage volumes (ITK's ``.mhd`` header + ``.raw``/``.zraw`` data file, or one ``.mha`` file).

Hand-written on purpose: the format is a few ``Key = Value`` text lines followed (``.mha``) or
accompanied (``.mhd``) by the raw samples, and the readers that exist (SimpleITK, itk) are large
compiled toolkits that nc3d would pull in for these twenty lines. Sizes are listed ``x y z`` with
``x`` fastest, so the array is ``(z, y, x)``; samples are little-endian unless
``ElementByteOrderMSB = True``; ``CompressedData = True`` means one zlib stream.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..bounded import decompress_exact
from ..errors import InputError
from .volume_arrays import check_dims, check_dtype, samples_from_bytes

__all__ = ["load_metaimage", "save_metaimage", "metaimage_data_file"]

_TYPES = {
    "MET_UCHAR": "uint8",
    "MET_CHAR": "int8",
    "MET_USHORT": "uint16",
    "MET_SHORT": "int16",
    "MET_UINT": "uint32",
    "MET_INT": "int32",
    "MET_FLOAT": "float32",
    "MET_DOUBLE": "float64",
}
_NAMES = {v: k for k, v in _TYPES.items()}
_MAX_HEADER = 64 * 1024
_TRUE = ("true", "1", "yes")


def _parse_header(text: str, what: str) -> tuple[dict[str, str], int]:
    """Keys and values up to ``ElementDataFile`` (always the last key), and the bytes they take."""
    fields: dict[str, str] = {}
    pos = 0
    for line in text.splitlines(keepends=True):
        pos += len(line.encode("latin-1"))
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InputError(f"{what}: not a MetaImage header line: {line.strip()[:60]!r}")
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            return fields, pos
    raise InputError(f"{what}: the MetaImage header has no ElementDataFile line")


def _int(fields: dict[str, str], key: str, default: int, what: str) -> int:
    try:
        return int(fields.get(key, default))
    except ValueError:
        raise InputError(f"{what}: {key} must be an integer, got {fields[key]!r}") from None


def metaimage_data_file(path: str | os.PathLike) -> Path | None:
    """The data file a MetaImage header names (the header itself for ``LOCAL``), or None."""
    path = Path(path)
    with open(path, "rb") as f:
        fields, _ = _parse_header(f.read(_MAX_HEADER).decode("latin-1"), str(path))
    source = fields["ElementDataFile"]
    if source.upper() == "LOCAL":
        return path
    if source.upper().startswith("LIST") or "%" in source:
        return None
    return path.parent / source


def load_metaimage(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.mhd`` (with its data file) or ``.mha`` volume as a ``(z, y, x)`` array.

    Supports ``NDims = 3`` (or 2: one slice), one channel, ``ElementDataFile`` = a file name
    beside the header or ``LOCAL``, optional ``HeaderSize`` and zlib ``CompressedData``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(_MAX_HEADER)
    what = str(path)
    fields, header_bytes = _parse_header(head.decode("latin-1"), what)
    ndims = fields.get("NDims", "3")
    try:
        sizes = [int(s) for s in fields.get("DimSize", "").split()]
    except ValueError:
        raise InputError(f"{what}: DimSize must be integers, got {fields.get('DimSize')!r}") from None
    if ndims not in ("2", "3") or len(sizes) != int(ndims):
        raise InputError(
            f"{what}: a volume needs NDims = 3 and three DimSize values, got {ndims} and {sizes}"
        )
    dims = check_dims((sizes + [1])[2::-1], what)  # x y z -> (z, y, x); a 2-D image is one slice
    if _int(fields, "ElementNumberOfChannels", 1, what) != 1:
        raise InputError(f"{what}: only scalar volumes (ElementNumberOfChannels = 1) are supported")
    etype = fields.get("ElementType", "")
    if etype not in _TYPES:
        raise InputError(f"{what}: unknown or unsupported ElementType {etype!r}")
    dtype = check_dtype(_TYPES[etype], what)
    big = fields.get("ElementByteOrderMSB", fields.get("BinaryDataByteOrderMSB", "False")).lower() in _TRUE
    expected = math.prod(dims) * dtype.itemsize

    source = fields["ElementDataFile"]
    if source.upper() == "LOCAL":
        data_path, offset = path, header_bytes
    elif source.upper().startswith("LIST") or "%" in source:
        raise InputError(f"{what}: multi-file MetaImage data ({source!r}) is not supported")
    else:
        data_path, offset = path.parent / source, 0
        if not data_path.is_file():
            raise InputError(f"{what}: its data file {data_path} does not exist")
    size = data_path.stat().st_size
    skip = _int(fields, "HeaderSize", 0, what)
    compressed = fields.get("CompressedData", "False").lower() in _TRUE
    if skip == -1 and not compressed:  # the data are the last bytes of the file
        offset = size - expected
    elif skip > 0:
        offset += skip
    if offset < 0 or offset > size:
        raise InputError(f"{what}: the data file {data_path} is too short for the header")
    with open(data_path, "rb") as f:
        f.seek(offset)
        if not compressed:
            if size - offset < expected:
                raise InputError(
                    f"{what}: {data_path} holds {size - offset} bytes of samples, {dims[::-1]} (x, y, z) "
                    f"{dtype.name} needs {expected}"
                )
            data = f.read(expected)
        else:
            data = decompress_exact(f.read(), expected, "zlib", what, error=InputError, require_end=False)
    return samples_from_bytes(data, dims, dtype, what, big_endian=big)


def save_metaimage(path: str | os.PathLike, volume: np.ndarray, *, force: bool = False) -> Path:
    """Write ``name.mhd`` and its data file ``name.raw`` (little-endian, uncompressed), atomically each.

    Parameters
    ----------
    volume : (z, y, x) ndarray
        A validated volume; ``DimSize`` is written ``x y z``.

    Returns
    -------
    pathlib.Path
        The header's path.
    """
    from ..files import write_bytes_atomic

    path = Path(path)
    data_path = path.with_suffix(".raw")
    for p in (path, data_path):
        if p.exists() and not force:
            raise InputError(f"{p}: exists; pass force to overwrite it")
    z, y, x = volume.shape
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "CompressedData = False\n"
        f"DimSize = {x} {y} {z}\nElementSpacing = 1 1 1\nElementType = {_NAMES[volume.dtype.name]}\n"
        f"ElementDataFile = {data_path.name}\n"
    )
    write_bytes_atomic(
        data_path, volume.astype(volume.dtype.newbyteorder("<"), copy=False).tobytes(), force=force
    )
    return write_bytes_atomic(path, header.encode("ascii"), force=force)
