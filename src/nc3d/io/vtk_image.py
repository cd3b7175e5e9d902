"""VTK image data: XML ``.vti`` and legacy ``STRUCTURED_POINTS`` ``.vtk`` files, read by hand.

Hand-written on purpose: the ``vtk`` package is a several-hundred-megabyte dependency, and for a
single scalar array these formats are a little XML (or a few text lines) around the samples.
Supported: ``.vti`` with one piece covering the whole extent, the active (or first one-component)
point-data array, stored ``ascii``, inline ``binary`` (base64) or ``appended`` (raw or base64),
uncompressed or compressed by ``vtkZLibDataCompressor`` / ``vtkLZMADataCompressor``, UInt32 or
UInt64 block headers, either byte order; legacy ``.vtk`` STRUCTURED_POINTS, BINARY (big-endian) or
ASCII, its first ``SCALARS`` array. Extents and dimensions are ``x y z`` with ``x`` fastest, so the
array is ``(z, y, x)``.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..bounded import decompress_exact
from ..errors import InputError
from .volume_arrays import check_dims, check_dtype, samples_from_bytes

__all__ = ["load_vtk_image"]

_XML_TYPES = {
    "Int8": "int8", "UInt8": "uint8", "Int16": "int16", "UInt16": "uint16", "Int32": "int32",
    "UInt32": "uint32", "Int64": "int64", "UInt64": "uint64", "Float32": "float32", "Float64": "float64",
}  # fmt: skip
_LEGACY_TYPES = {
    "unsigned_char": "uint8", "char": "int8", "short": "int16", "unsigned_short": "uint16",
    "int": "int32", "unsigned_int": "uint32", "float": "float32", "double": "float64",
}  # fmt: skip


def load_vtk_image(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.vti`` or legacy ``.vtk`` STRUCTURED_POINTS file as a ``(z, y, x)`` array."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.lstrip().startswith(b"# vtk DataFile"):
        return _load_legacy(data, str(path))
    return _load_xml(data, str(path))


# -- XML image data -------------------------------------------------------------------------------


def _b64len(n: int) -> int:
    return 4 * -(-n // 3)


def _b64(text: bytes, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: invalid base64 data") from None


class _Array:
    """How one DataArray's bytes are stored, and how to pull its samples out."""

    def __init__(self, root, what: str):
        self.what = what
        self.big = root.get("byte_order", "LittleEndian") == "BigEndian"
        header_type = root.get("header_type", "UInt32")
        if header_type not in ("UInt32", "UInt64"):
            raise InputError(f"{what}: unsupported header_type {header_type!r}")
        self.hs = 4 if header_type == "UInt32" else 8
        self.htype = np.dtype((">" if self.big else "<") + ("u4" if self.hs == 4 else "u8"))
        self.compressor = root.get("compressor", "")
        if self.compressor not in ("", "vtkZLibDataCompressor", "vtkLZMADataCompressor"):
            raise InputError(f"{what}: unsupported compressor {self.compressor!r}")

    def ints(self, raw: bytes, count: int) -> list[int]:
        if len(raw) < count * self.hs:
            raise InputError(f"{self.what}: truncated binary block header")
        return [int(v) for v in np.frombuffer(raw[: count * self.hs], dtype=self.htype)]

    def from_bytes(self, buf: bytes, expected: int) -> bytes:
        """Raw (appended) bytes: block header then data."""
        if not self.compressor:
            (n,) = self.ints(buf, 1)
            self._check_size(n, expected)
            return self._exact(buf[self.hs : self.hs + n], n)
        nb, block, sizes = self._block_header(lambda k: buf[: k * self.hs], expected)
        return self._inflate_blocks(buf[(3 + nb) * self.hs :], block, sizes, expected)

    def from_base64(self, text: bytes, expected: int) -> bytes:
        """Base64 text (inline or appended): block header and data, encoded together or apart."""
        if not self.compressor:
            head = _b64(text[: _b64len(self.hs)], self.what)
            (n,) = self.ints(head, 1)
            self._check_size(n, expected)
            if text[_b64len(self.hs) - 1 : _b64len(self.hs)] == b"=":  # header encoded on its own
                return self._exact(_b64(text[_b64len(self.hs) : _b64len(self.hs) + _b64len(n)], self.what), n)
            return self._exact(_b64(text[: _b64len(self.hs + n)], self.what)[self.hs :], n)
        nb, block, sizes = self._block_header(
            lambda k: _b64(text[: _b64len(k * self.hs)], self.what), expected
        )
        start = _b64len((3 + nb) * self.hs)
        data = _b64(text[start : start + _b64len(sum(sizes))], self.what)
        return self._inflate_blocks(data, block, sizes, expected)

    def _check_size(self, n: int, expected: int) -> None:
        if n != expected:
            raise InputError(f"{self.what}: the array holds {n} bytes, its extent needs {expected}")

    def _exact(self, data: bytes, n: int) -> bytes:
        if len(data) != n:
            raise InputError(f"{self.what}: the data are truncated ({len(data)} of {n} bytes)")
        return data

    def _block_header(self, read, expected: int) -> tuple[int, int, list[int]]:
        """(blocks, uncompressed bytes per block, compressed sizes), checked against ``expected``."""
        nb, block, last = self.ints(read(3), 3)
        if nb > expected // max(block, 1) + 1:
            raise InputError(f"{self.what}: implausible compressed block count {nb}")
        sizes = self.ints(read(3 + nb), 3 + nb)[3:]
        self._check_size(0 if nb == 0 else block * (nb - 1) + (last or block), expected)
        return nb, block, sizes

    def _inflate_blocks(self, data: bytes, block: int, sizes: list[int], expected: int) -> bytes:
        if sum(sizes) > len(data):
            raise InputError(f"{self.what}: compressed blocks are truncated")
        ends = np.cumsum([0] + sizes)
        method = "zlib" if self.compressor == "vtkZLibDataCompressor" else "lzma"
        # One iteration per compressed block (VTK writes 32 KiB blocks), not per voxel.
        out = [
            decompress_exact(
                data[ends[i] : ends[i + 1]],
                min(block, expected - i * block),
                method,
                self.what,
                error=InputError,
                require_end=False,
            )
            for i in range(len(sizes))
        ]
        return b"".join(out)


def _load_xml(data: bytes, what: str) -> np.ndarray:
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
        raise InputError(f"{what}: XML with a DOCTYPE or entities is refused")
    appended, encoding = b"", "raw"
    start = data.find(b"<AppendedData")
    if start >= 0:  # raw appended bytes are not XML: cut them off before parsing
        tag_end = data.find(b">", start)
        underscore = data.find(b"_", tag_end)
        close = data.rfind(b"</AppendedData>")
        if tag_end < 0 or underscore < 0 or close < underscore:
            raise InputError(f"{what}: malformed AppendedData section")
        m = re.search(rb'encoding\s*=\s*"(\w+)"', data[start:tag_end])
        encoding = m.group(1).decode() if m else "raw"
        appended = data[underscore + 1 : close]
        data = data[:start] + b"</VTKFile>"
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(f"{what}: not a VTK XML file ({exc})") from None
    if root.tag != "VTKFile" or root.get("type") != "ImageData":
        raise InputError(f"{what}: not VTK image data (VTKFile type={root.get('type')!r})")
    image = root.find("ImageData")
    pieces = image.findall("Piece") if image is not None else []
    if image is None or len(pieces) != 1:
        raise InputError(f"{what}: expected one ImageData piece, found {len(pieces)}")
    whole = image.get("WholeExtent", "").split()
    try:
        extent = [int(v) for v in whole]
    except ValueError:
        extent = []
    if len(extent) != 6 or pieces[0].get("Extent", "").split() != whole:
        raise InputError(f"{what}: need a WholeExtent of six integers matching the piece's Extent")
    dims = check_dims([extent[i + 1] - extent[i] + 1 for i in (4, 2, 0)], what)  # -> (z, y, x)
    array = _pick_array(pieces[0].find("PointData"), what)
    type_name = array.get("type", "")
    if type_name not in _XML_TYPES:
        raise InputError(f"{what}: unknown DataArray type {type_name!r}")
    dtype = check_dtype(_XML_TYPES[type_name], what)
    expected = math.prod(dims) * dtype.itemsize
    store = _Array(root, what)
    fmt = array.get("format", "ascii")
    if fmt == "ascii":
        tokens = (array.text or "").split()
        if len(tokens) != math.prod(dims):
            raise InputError(f"{what}: {len(tokens)} ascii values, the extent needs {math.prod(dims)}")
        try:
            return np.array(tokens, dtype=np.float64).astype(dtype).reshape(dims)
        except ValueError:
            raise InputError(f"{what}: non-numeric ascii values") from None
    if fmt == "binary":
        raw = store.from_base64(re.sub(rb"\s+", b"", (array.text or "").encode("ascii", "replace")), expected)
    elif fmt == "appended":
        try:
            offset = int(array.get("offset", ""))
        except ValueError:
            raise InputError(f"{what}: appended DataArray without a valid offset") from None
        if not 0 <= offset <= len(appended):
            raise InputError(f"{what}: appended offset {offset} is outside the data")
        if encoding == "base64":
            raw = store.from_base64(re.sub(rb"\s+", b"", appended)[offset:], expected)
        elif encoding == "raw":
            raw = store.from_bytes(appended[offset:], expected)
        else:
            raise InputError(f"{what}: unknown AppendedData encoding {encoding!r}")
    else:
        raise InputError(f"{what}: unknown DataArray format {fmt!r}")
    return samples_from_bytes(raw, dims, dtype, what, big_endian=store.big)


def _pick_array(point_data, what: str):
    """The active scalars of the point data, else its first one-component array."""
    arrays = [] if point_data is None else point_data.findall("DataArray")
    active = None if point_data is None else point_data.get("Scalars")
    for a in arrays:
        if active is not None and a.get("Name") == active:
            return _one_component(a, what)
    for a in arrays:
        if a.get("NumberOfComponents", "1") == "1":
            return a
    raise InputError(f"{what}: no scalar point-data array")


def _one_component(array, what: str):
    if array.get("NumberOfComponents", "1") != "1":
        raise InputError(f"{what}: array {array.get('Name')!r} has several components; nc3d reads scalars")
    return array


# -- legacy VTK ---------------------------------------------------------------------------------


def _load_legacy(data: bytes, what: str) -> np.ndarray:
    pos = 0
    lines: list[str] = []
    encoding: str | None = None
    fields: dict[str, list[str]] = {}
    while "LOOKUP_TABLE" not in fields:
        end = data.find(b"\n", pos)
        if end < 0 or len(lines) > 64:
            raise InputError(f"{what}: legacy VTK header without SCALARS ... LOOKUP_TABLE")
        line = data[pos:end].decode("latin-1").strip()
        pos = end + 1
        lines.append(line)
        if len(lines) <= 2 or not line:  # version line and title
            continue
        if encoding is None:  # the first line after the title: ASCII or BINARY
            encoding = line.upper()
            continue
        words = line.split()
        key = words[0].upper()
        if (
            key in ("VECTORS", "NORMALS", "TENSORS", "FIELD", "COLOR_SCALARS", "CELL_DATA")
            and "SCALARS" not in fields
        ):
            raise InputError(f"{what}: the first point data are {key}, not SCALARS")
        fields.setdefault(key, words[1:])
    if "SCALARS" not in fields:
        raise InputError(f"{what}: legacy VTK header without a SCALARS line")
    if (fields.get("DATASET") or [""])[0].upper() != "STRUCTURED_POINTS":
        raise InputError(f"{what}: legacy VTK dataset {fields.get('DATASET')} is not STRUCTURED_POINTS")
    try:
        nx, ny, nz = (int(v) for v in fields.get("DIMENSIONS", []))
    except ValueError:
        raise InputError(f"{what}: DIMENSIONS must be three integers") from None
    dims = check_dims((nz, ny, nx), what)
    scalars = fields["SCALARS"]
    if len(scalars) < 2 or scalars[1] not in _LEGACY_TYPES or (len(scalars) > 2 and scalars[2] != "1"):
        raise InputError(f"{what}: unsupported SCALARS {' '.join(scalars)!r}")
    dtype = check_dtype(_LEGACY_TYPES[scalars[1]], what)
    n = math.prod(dims)
    if encoding == "BINARY":
        body = data[pos : pos + n * dtype.itemsize]
        return samples_from_bytes(body, dims, dtype, what, big_endian=True)
    if encoding != "ASCII":
        raise InputError(f"{what}: the line after the title must be ASCII or BINARY, got {encoding!r}")
    tokens = data[pos:].split(maxsplit=n)[:n]
    if len(tokens) != n:
        raise InputError(f"{what}: {len(tokens)} ascii values, DIMENSIONS need {n}")
    try:
        return np.array(tokens, dtype=np.float64).astype(dtype).reshape(dims)
    except ValueError:
        raise InputError(f"{what}: non-numeric ascii values") from None
