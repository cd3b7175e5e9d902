"""The ``.nc3d`` container: a small, versioned, checksummed binary file format.

A file holds the id of the codec that wrote it, a JSON header (codec settings, architecture,
transforms, names, original sizes) and named binary sections (entropy-coded weights, features,
latents, ...). Readers treat every byte as hostile: each length is checked against the bytes
actually present and against fixed limits *before* anything is sliced or allocated, and every
problem surfaces as :class:`~nc3d.errors.FormatError` with a message that says what is wrong.
Nothing is unpickled and nothing is ``torch.load``-ed.

Byte layout (format version 1, all integers little-endian)::

    offset  size  field
    0       8     magic  b"NC3D\\r\\n\\x1a\\n"
    8       2     u16    format version (1)
    10      1     u8     codec-name length n (1..32)
    11      n     ASCII  codec name, [a-z0-9_-]
    .       4     u32    header length h (<= 4 MiB)
    .       h     UTF-8  JSON header (an object; canonical: sorted keys, no spaces)
    .       4     u32    CRC32 of the h header bytes
    .       2     u16    section count s (<= 256)
    then s times:
    .       1     u8     section-name length m (1..32)
    .       m     ASCII  section name, [a-z0-9_.-], unique within the file
    .       8     u64    payload length p
    .       4     u32    CRC32 of the payload
    .       p     bytes  payload
    then:
    .       4     u32    CRC32 of every byte before it (the whole file)

The per-part CRCs say *which* part is damaged; the closing whole-file CRC also covers the codec
name, the section names and the length fields, so any single flipped bit is detected.
Nothing may follow the closing CRC. Writers go through :func:`write_bytes_atomic` (temporary
file in the target directory, ``fsync``, ``os.replace``; :mod:`nc3d.files`), so an interrupted run
never leaves a half-written file under the final name.

Examples
--------
>>> blob = pack(Container("implicit", {"layers": 8}, {"weights": b"\\x00\\x01"}))
>>> unpack(blob).header
{'layers': 8}
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FormatError, InputError
from .files import write_bytes_atomic

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_SECTIONS",
    "MAX_JSON_DEPTH",
    "DEFAULT_MAX_BYTES",
    "Container",
    "pack",
    "unpack",
    "write_file",
    "read_file",
    "peek_is_nc3d",
    "header_get",
]

#: First 8 bytes of every ``.nc3d`` file (PNG-style: catches text-mode and truncation damage).
MAGIC = b"NC3D\r\n\x1a\n"
#: The newest format version this module writes and reads.
FORMAT_VERSION = 1
#: Largest JSON header accepted, in bytes.
MAX_HEADER_BYTES = 4 * 1024 * 1024
#: Largest number of sections accepted.
MAX_SECTIONS = 256
#: Deepest nesting of JSON arrays/objects accepted in the header.
MAX_JSON_DEPTH = 64
#: Default size limit of a whole file / byte string, in bytes (2 GiB).
DEFAULT_MAX_BYTES = 2**31

_MAX_NAME = 32
_CODEC_RE = re.compile(rb"[a-z0-9_-]{1,32}")
_SECTION_RE = re.compile(rb"[a-z0-9_.-]{1,32}")

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


# ----------------------------------------------------------------------------------------------
# The in-memory form
# ----------------------------------------------------------------------------------------------


@dataclass
class Container:
    """The decoded content of an ``.nc3d`` file.

    Parameters
    ----------
    codec : str
        Id of the codec that wrote the file, 1..32 characters of ``[a-z0-9_-]``.
    header : dict
        JSON-serializable settings (str keys; no NaN/inf; nesting depth <= 64).
    sections : dict of str to bytes
        Named binary payloads, kept in insertion order. Names are 1..32 characters of
        ``[a-z0-9_.-]``.
    """

    codec: str
    header: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, bytes] = field(default_factory=dict)
    #: Format version of the file it was read from (what :func:`pack` writes: the current one).
    version: int = FORMAT_VERSION

    @property
    def header_bytes(self) -> int:
        """int : Size of the encoded (canonical UTF-8 JSON) header, in bytes."""
        return len(_encode_header(self.header))

    @property
    def total_bytes(self) -> int:
        """int : Size of the packed file, in bytes (equals ``len(pack(self))``)."""
        size = len(MAGIC) + 2 + 1 + len(self.codec.encode("ascii", "replace"))
        size += 4 + self.header_bytes + 4 + 2
        for name, payload in self.sections.items():
            size += 1 + len(name.encode("ascii", "replace")) + 8 + 4 + memoryview(payload).nbytes
        return size + 4  # closing whole-file CRC32

    def describe(self) -> dict[str, Any]:
        """Codec, format version, header and bytes per part (what ``nc3d info`` prints)."""
        return {
            "codec": self.codec,
            "version": self.version,
            "header": self.header,
            "header_bytes": self.header_bytes,
            "sections": self.section_sizes(),
            "total_bytes": self.total_bytes,
        }

    def section_sizes(self) -> dict[str, int]:
        """Payload size of each section.

        Returns
        -------
        dict of str to int
            Section name -> payload length in bytes, in file order.
        """
        return {name: memoryview(p).nbytes for name, p in self.sections.items()}


# ----------------------------------------------------------------------------------------------
# JSON header
# ----------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows a float")
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _json_depth(value: Any) -> int:
    """Deepest nesting of lists/dicts in ``value`` (iterative: safe for any depth)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _decode_header(raw: bytes) -> dict[str, Any]:
    """Parse header bytes into a dict, raising FormatError for anything unacceptable."""
    try:
        text = raw.decode("utf-8")
        header = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_object,
        )
    except RecursionError:
        raise FormatError(f"header JSON is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from None
    except (ValueError, TypeError, OverflowError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise FormatError(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError(f"header must be a JSON object, not {type(header).__name__}")
    if _json_depth(header) > MAX_JSON_DEPTH:
        raise FormatError(f"header JSON is nested too deeply (limit {MAX_JSON_DEPTH} levels)")
    return header


def _encode_header(header: Mapping[str, Any]) -> bytes:
    """Canonical header bytes: UTF-8 JSON, sorted keys, no whitespace, no NaN/inf."""
    if not isinstance(header, Mapping):
        raise InputError(f"container header must be a dict, not {type(header).__name__}")
    try:
        text = json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except RecursionError:
        raise InputError(f"container header is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from None
    except (TypeError, ValueError) as exc:  # unserializable, NaN, lone surrogates, mixed keys
        raise InputError(f"container header cannot be stored as JSON: {exc}") from None


# ----------------------------------------------------------------------------------------------
# pack / unpack
# ----------------------------------------------------------------------------------------------


def _check_name(name: Any, pattern: re.Pattern[bytes], what: str) -> bytes:
    if not isinstance(name, str):
        raise InputError(f"{what} must be a str, not {type(name).__name__}")
    raw = name.encode("utf-8")
    if pattern.fullmatch(raw) is None:
        allowed = "[a-z0-9_-]" if pattern is _CODEC_RE else "[a-z0-9_.-]"
        raise InputError(f"{what} {name!r} must be 1..{_MAX_NAME} characters of {allowed}")
    return raw


def pack(container: Container) -> bytes:
    """Serialize a container to ``.nc3d`` bytes.

    Parameters
    ----------
    container : Container
        What to store. The header is written as canonical JSON (sorted keys), so equal
        containers always give identical bytes.

    Returns
    -------
    bytes
        The complete file content; :func:`unpack` accepts it.

    Raises
    ------
    InputError
        Invalid codec or section name, too many sections, a header that is not a
        JSON-serializable dict (or has NaN/inf, or is too large or too deep), or a payload
        that is not bytes-like.
    """
    codec = _check_name(container.codec, _CODEC_RE, "codec name")
    header = _encode_header(container.header)
    if len(header) > MAX_HEADER_BYTES:
        raise InputError(f"container header is {len(header)} bytes; the limit is {MAX_HEADER_BYTES}")
    try:  # what we write must be readable: nesting depth, duplicate keys, ...
        _decode_header(header)
    except FormatError as exc:
        raise InputError(f"container header cannot be stored: {exc}") from None
    sections = container.sections
    if len(sections) > MAX_SECTIONS:
        raise InputError(f"container has {len(sections)} sections; the limit is {MAX_SECTIONS}")

    parts: list[bytes | memoryview] = [
        MAGIC,
        _U16.pack(FORMAT_VERSION),
        _U8.pack(len(codec)),
        codec,
        _U32.pack(len(header)),
        header,
        _U32.pack(zlib.crc32(header)),
        _U16.pack(len(sections)),
    ]
    for name, payload in sections.items():
        raw_name = _check_name(name, _SECTION_RE, "section name")
        try:
            view = memoryview(payload).cast("B")
        except TypeError:
            raise InputError(f"section {name!r} must be bytes-like, not {type(payload).__name__}") from None
        parts += [
            _U8.pack(len(raw_name)),
            raw_name,
            _U64.pack(view.nbytes),
            _U32.pack(zlib.crc32(view)),
            view,
        ]
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))


class _Reader:
    """Bounds-checked cursor over a byte buffer; every read fails with FormatError."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.view) - self.pos

    def take(self, n: int, what: str) -> memoryview:
        rem = self.remaining
        if n > rem:
            raise FormatError(f"{what}: declares {n} bytes but only {rem} remain")
        out = self.view[self.pos : self.pos + n]
        self.pos += n
        return out

    def number(self, fmt: struct.Struct, what: str) -> int:
        rem = self.remaining
        if fmt.size > rem:
            raise FormatError(f"file is truncated: {what} needs {fmt.size} bytes but only {rem} remain")
        (value,) = fmt.unpack_from(self.view, self.pos)
        self.pos += fmt.size
        return int(value)


def unpack(blob: bytes | bytearray | memoryview, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Container:
    """Parse and validate ``.nc3d`` bytes.

    Parameters
    ----------
    blob : bytes, bytearray or memoryview
        The complete file content (untrusted).
    max_bytes : int, optional
        Refuse inputs larger than this many bytes (default 2 GiB).

    Returns
    -------
    Container
        The codec id, the header dict and the sections (payloads copied into ``bytes``, in
        file order).

    Raises
    ------
    FormatError
        For anything wrong with the bytes: bad magic, newer format version, invalid names,
        lengths that exceed what is present or the limits, CRC mismatches, invalid JSON,
        duplicate section names, trailing bytes. No other exception escapes for any byte
        content.
    InputError
        If ``blob`` is not bytes-like or ``max_bytes`` is not a non-negative int.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise InputError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
    try:
        view = memoryview(blob).cast("B")
    except TypeError:
        raise InputError(f"expected bytes, bytearray or memoryview, not {type(blob).__name__}") from None
    if len(view) > max_bytes:
        raise FormatError(f"input is {len(view)} bytes, more than the limit of {max_bytes}")
    if len(view) < len(MAGIC) or view[: len(MAGIC)] != MAGIC:
        raise FormatError("not an .nc3d file (bad magic number)")

    r = _Reader(view)
    r.pos = len(MAGIC)
    version = r.number(_U16, "the format version")
    if version == 0:
        raise FormatError("invalid format version 0")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"written by a newer nc3d (format version {version}; this reader knows up to "
            f"{FORMAT_VERSION}): upgrade nc3d to read it"
        )

    n = r.number(_U8, "the codec-name length")
    if not 1 <= n <= _MAX_NAME:
        raise FormatError(f"codec-name length {n} is outside 1..{_MAX_NAME}")
    raw = bytes(r.take(n, "codec name"))
    if _CODEC_RE.fullmatch(raw) is None:
        raise FormatError(f"codec name {raw!r} is not 1..{_MAX_NAME} characters of [a-z0-9_-]")
    codec = raw.decode("ascii")

    h = r.number(_U32, "the header length")
    if h > MAX_HEADER_BYTES:
        raise FormatError(f"header declares {h} bytes; the limit is {MAX_HEADER_BYTES}")
    header_raw = bytes(r.take(h, "header"))
    crc = r.number(_U32, "the header CRC32")
    if zlib.crc32(header_raw) != crc:
        raise FormatError("header is corrupt (CRC32 mismatch)")
    header = _decode_header(header_raw)

    count = r.number(_U16, "the section count")
    if count > MAX_SECTIONS:
        raise FormatError(f"file declares {count} sections; the limit is {MAX_SECTIONS}")
    sections: dict[str, bytes] = {}
    for index in range(count):
        where = f"section #{index}"
        m = r.number(_U8, f"the name length of {where}")
        if not 1 <= m <= _MAX_NAME:
            raise FormatError(f"{where}: name length {m} is outside 1..{_MAX_NAME}")
        raw = bytes(r.take(m, f"{where} name"))
        if _SECTION_RE.fullmatch(raw) is None:
            raise FormatError(f"{where}: name {raw!r} is not 1..{_MAX_NAME} characters of [a-z0-9_.-]")
        name = raw.decode("ascii")
        if name in sections:
            raise FormatError(f"section {name!r} appears twice")
        size = r.number(_U64, f"the length of section {name!r}")
        crc = r.number(_U32, f"the CRC32 of section {name!r}")
        payload = bytes(r.take(size, f"section {name!r}"))
        if zlib.crc32(payload) != crc:
            raise FormatError(f"section {name!r} is corrupt (CRC32 mismatch)")
        sections[name] = payload

    end = r.pos
    crc = r.number(_U32, "the closing file CRC32")
    if r.remaining:
        raise FormatError(f"{r.remaining} unexpected trailing bytes after the closing CRC32")
    if zlib.crc32(view[:end]) != crc:
        raise FormatError("file is corrupt (whole-file CRC32 mismatch)")
    return Container(codec=codec, header=header, sections=sections, version=version)


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------


def write_file(
    path: str | os.PathLike[str],
    blob: bytes | bytearray | memoryview | Container,
    *,
    force: bool = False,
) -> Path:
    """Write an ``.nc3d`` file atomically (thin wrapper of :func:`write_bytes_atomic`).

    Parameters
    ----------
    path : str or os.PathLike
        Target file (conventionally ``*.nc3d``).
    blob : bytes-like or Container
        Packed bytes from :func:`pack`, or a container, which is packed first.
    force : bool, optional
        Overwrite an existing file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    data = pack(blob) if isinstance(blob, Container) else blob
    return write_bytes_atomic(path, data, force=force)


def read_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Container:
    """Read and validate an ``.nc3d`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_bytes : int, optional
        Refuse files larger than this many bytes (default 2 GiB) before reading them.

    Returns
    -------
    Container
        The validated content (see :func:`unpack`).

    Raises
    ------
    InputError
        The file does not exist, is a directory or cannot be read.
    FormatError
        The file is too large, is not an ``.nc3d`` file, or is corrupt; the message starts with
        the path.
    """
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise InputError(f"input path must be a str or path, not {type(path).__name__}") from None
    try:
        st = os.stat(target)
        if target.is_dir():
            raise InputError(f"{target} is a directory, not an .nc3d file")
        if st.st_size > max_bytes:
            raise FormatError(f"{target}: file is {st.st_size} bytes, more than the limit of {max_bytes}")
        with open(target, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{target}: no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read {target}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise FormatError(f"{target}: file is more than the limit of {max_bytes} bytes")
    if not data.startswith(MAGIC):
        raise FormatError(f"{target} is not an .nc3d file (bad magic number)")
    try:
        return unpack(data, max_bytes=max_bytes)
    except FormatError as exc:
        raise FormatError(f"{target}: {exc}") from None


def peek_is_nc3d(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable file that starts with the ``.nc3d`` magic number.

    Parameters
    ----------
    path : str or os.PathLike
        Any path; missing or unreadable paths give ``False``.

    Returns
    -------
    bool
        True if the first 8 bytes are :data:`MAGIC` (the rest is not validated).
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except (OSError, TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------
# Validating untrusted header values
# ----------------------------------------------------------------------------------------------

_REQUIRED: Any = object()


def header_get(
    header: Mapping[str, Any],
    key: str,
    type_: type | tuple[type, ...],
    *,
    min: float | None = None,  # noqa: A002 - reads naturally at call sites
    max: float | None = None,  # noqa: A002
    choices: Any = None,
    default: Any = _REQUIRED,
) -> Any:
    """Fetch one value from an untrusted header and check it.

    Parameters
    ----------
    header : Mapping
        The header (e.g. ``Container.header``).
    key : str
        The key to read.
    type_ : type or tuple of types
        Accepted type(s), e.g. ``int``, ``float``, ``str``, ``list``, ``dict``, ``(int, str)``.
        ``bool`` is never accepted as ``int``/``float`` unless ``bool`` is listed; an ``int``
        is accepted (and returned as ``float``) where ``float`` is asked for. Floats must be
        finite.
    min, max : float, optional
        Inclusive bounds for numeric values.
    choices : container, optional
        The value must be one of these.
    default : optional
        Returned when ``key`` is absent; without it, a missing key is an error.

    Returns
    -------
    Any
        The checked value.

    Raises
    ------
    FormatError
        Naming the key: missing, wrong type, NaN/inf, out of range or not among ``choices``.

    Examples
    --------
    >>> header_get({"bits": 8}, "bits", int, min=1, max=16)
    8
    """
    if not isinstance(header, Mapping):
        raise FormatError(f"header must be a JSON object, not {type(header).__name__}")
    if key not in header:
        if default is not _REQUIRED:
            return default
        raise FormatError(f"header key {key!r} is missing")
    value = header[key]
    types = type_ if isinstance(type_, tuple) else (type_,)
    want = " or ".join(t.__name__ for t in types)
    if isinstance(value, bool) and bool not in types:
        raise FormatError(f"header key {key!r} must be {want}, got bool")
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        if int not in types:
            value = float(value)
    elif not isinstance(value, types):
        raise FormatError(f"header key {key!r} must be {want}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise FormatError(f"header key {key!r} must be finite, got {value}")
    if min is not None or max is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormatError(f"header key {key!r} must be a number, got {type(value).__name__}")
        if (min is not None and value < min) or (max is not None and value > max):
            lo = "-inf" if min is None else min
            hi = "inf" if max is None else max
            raise FormatError(f"header key {key!r} = {value} is outside [{lo}, {hi}]")
    if choices is not None:
        try:
            ok = value in choices
        except TypeError:  # unhashable value vs. a set of choices
            ok = False
        if not ok:
            raise FormatError(f"header key {key!r} = {value!r} is not one of {list(choices)!r}")
    return value
