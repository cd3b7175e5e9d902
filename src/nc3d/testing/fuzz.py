"""Hostile ``.nc3d`` files for testing decoders: seeded mutations of valid files, per codec.

A random byte flip almost never gets past the container's whole-file CRC, so most mutations
here are made on the *parsed* file — header values (huge, negative, wrong type, missing),
section bytes (truncated, flipped, swapped, dropped), codec ids, versions — and the file is
re-packed with correct CRCs, so that a codec's own ``decode_parts`` sees the hostile content.
Raw byte mutations (with and without a repaired closing CRC) exercise the container itself.

Every case is reproducible from ``(seed, index)``: :func:`mutate` draws from
``numpy.random.default_rng([seed, index])``. Used by ``tests/test_fuzz_decoders.py`` (a few
hundred cases per codec) and ``benchmarks/fuzz_decoders.py`` (the long run, in bounded worker
processes). Generic over the registry: a new codec is fuzzed as soon as it registers, from a
tiny sample of its kind (:func:`sample_file`).

The contract checked by :func:`decode_checked`: decoding ends in :class:`~nc3d.errors.FormatError`
with a message, or returns a well-formed result of the codec's kind.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .. import container as _container
from ..errors import FormatError

if TYPE_CHECKING:  # pragma: no cover
    from ..codecs.handles import FieldFile

__all__ = [
    "sample_input",
    "fast_settings",
    "sample_file",
    "mutate",
    "decode_quick",
    "decode_checked",
    "check_result",
    "describe_result",
    "pack_raw",
    "BadResult",
    "FUZZ_RESOLUTION",
]

#: Marching-cubes resolution used when a decoded handle is meshed during fuzzing (the default
#: 256³ costs seconds for every valid file and tests nothing the file controls).
FUZZ_RESOLUTION = 32


class BadResult(AssertionError):
    """A decode returned without error but its result is malformed (non-finite, wrong type)."""


# ----------------------------------------------------------------------------------------------
# Valid seed files
# ----------------------------------------------------------------------------------------------


def _tiny_mesh(subdivisions: int = 1, offset: float = 0.0):
    import trimesh

    from ..mesh import as_mesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    return as_mesh((sphere.vertices * (1.0 + offset) + offset, sphere.faces), name="fuzz sample")


def sample_input(kind: str):
    """A tiny valid input of ``kind``: an 80-face sphere, a 16³ volume, or a set of 3 spheres."""
    if kind == "mesh":
        return _tiny_mesh()
    if kind == "meshset":
        return [(f"shape{i}", _tiny_mesh(offset=0.25 * i)) for i in range(3)]
    if kind == "volume":
        z, y, x = np.mgrid[-1:1:16j, -1:1:16j, -1:1:16j]
        return np.sqrt(x * x + y * y + z * z).astype(np.float32)
    raise ValueError(f"unknown kind {kind!r}")


def fast_settings(codec) -> dict:
    """The settings of ``codec``'s ``"smoke"`` preset: its cheapest encode (seconds)."""
    return codec.preset("smoke")[0]


def sample_file(name: str) -> bytes:
    """A valid ``.nc3d`` file written by codec ``name`` from :func:`sample_input` of its kind."""
    from ..codecs.base import get_codec

    codec = get_codec(name)
    return codec.encode(sample_input(codec.kind), **fast_settings(codec))


# ----------------------------------------------------------------------------------------------
# Mutations
# ----------------------------------------------------------------------------------------------


def pack_raw(codec: bytes, header: bytes, sections: list[tuple[bytes, bytes]], version: int = 1) -> bytes:
    """``.nc3d`` bytes from raw parts with correct CRCs, bypassing :func:`container.pack`'s checks."""
    out = [
        _container.MAGIC,
        struct.pack("<H", version),
        bytes([len(codec) & 0xFF]),
        codec,
        struct.pack("<I", len(header)),
        header,
        struct.pack("<I", zlib.crc32(header)),
        struct.pack("<H", len(sections) & 0xFFFF),
    ]
    for name, payload in sections:
        out += [
            bytes([len(name) & 0xFF]),
            name,
            struct.pack("<QI", len(payload), zlib.crc32(payload)),
            payload,
        ]
    body = b"".join(out)
    return body + struct.pack("<I", zlib.crc32(body))


_HOSTILE: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    7,
    8,
    9,
    15,
    16,
    17,
    31,
    32,
    33,
    63,
    64,
    255,
    256,
    1024,
    4096,
    65535,
    65536,
    2**20,
    2**24,
    2**27,
    2**28 + 1,
    2**31 - 1,
    2**31,
    2**32,
    2**53,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    -(2**31),
    -(2**63),
    1e308,
    -1e308,
    1e-308,
    5e-324,
    0.5,
    -0.0,
    1.5,
    1e-7,
    3.0e38,
    3.5e38,
    "",
    "x",
    "relu",
    "none",
    "siren",
    "positional",
    "surface",
    "\u0000",
    "é" * 40,
    True,
    False,
    None,
    [],
    {},
    [1, 2, 3],
    [-1, -1, -1],
    [2**31, 2**31, 2**31],
    [0.0, 0.0],
    [1e308, 1e308, 1e308],
    [[1, 2], [3, 4]],
    {"a": 1},
    {"center": [0, 0, 0], "scale": 0},
    list(range(40)),
]
_RAW_HEADERS = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":-Infinity}',
    b'{"a":1e999}',
    b'{"a":1,"a":2}',
    b"\xff\xfe{}",
    b"{}" + b" " * 10,
    b'"x"',
    b"[" * 100 + b"]" * 100,
    b'{"a":' + b"9" * 5000 + b"}",
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into nested dicts/lists, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:16]):
            out += _paths(v, prefix + (i,))
    return out


def _get(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def _near(value: Any, rng: np.random.Generator) -> Any:
    """A value close to ``value`` (off by one, doubled, negated, scaled), or a hostile one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ops = [
            lambda v: v + 1,
            lambda v: v - 1,
            lambda v: -v,
            lambda v: v * 2,
            lambda v: v * 1000,
            lambda v: v // 2 if isinstance(v, int) else v / 2,
            lambda v: v * 10**9,
            lambda v: 0,
        ]
        return ops[rng.integers(len(ops))](value)
    return _HOSTILE[rng.integers(len(_HOSTILE))]


def _mutate_header(header: dict, rng: np.random.Generator, others: list[dict]) -> dict:
    header = json.loads(json.dumps(header))  # deep copy
    paths = _paths(header)
    path = paths[rng.integers(len(paths))]
    op = rng.integers(6)
    if not path:  # the root
        choices = [{}, {"x": 1}] + others
        return choices[rng.integers(len(choices))]
    parent, key = _get(header, path[:-1]), path[-1]
    if op == 0 and isinstance(parent, dict):
        del parent[key]
    elif op == 1 and isinstance(parent, list):
        parent.append(parent[key]) if rng.integers(2) else parent.pop(key)
    elif op == 2:
        parent[key] = _near(parent[key], rng)
    elif op == 3 and isinstance(parent, dict):
        parent["extra_" + str(rng.integers(100))] = _HOSTILE[rng.integers(len(_HOSTILE))]
    else:
        parent[key] = _HOSTILE[rng.integers(len(_HOSTILE))]
    return header


def _mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    """Truncate, flip bits, overwrite, insert, delete, duplicate or replace byte content."""
    b = bytearray(data)
    n = len(b)
    op = rng.integers(9)
    if op == 0 and n:
        return bytes(b[: rng.integers(n)])
    if op == 1 and n:
        for _ in range(rng.integers(1, 9)):
            i = int(rng.integers(n))
            b[i] ^= 1 << int(rng.integers(8))
        return bytes(b)
    if op == 2 and n:
        i = int(rng.integers(n))
        k = int(rng.integers(1, 17))
        b[i : i + k] = rng.integers(0, 256, min(k, n - i), dtype=np.uint8).tobytes()
        return bytes(b)
    if op == 3:
        i = int(rng.integers(n + 1))
        return (
            bytes(b[:i])
            + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
            + bytes(b[i:])
        )
    if op == 4 and n:
        i = int(rng.integers(n))
        return bytes(b[:i] + b[i + int(rng.integers(1, 17)) :])
    if op == 5:
        return bytes(b) * int(rng.integers(2, 4))
    if op == 6:
        return b""
    if op == 7 and n:  # a byte set to an extreme
        b[int(rng.integers(n))] = int(rng.choice([0, 0x7F, 0x80, 0xFF]))
        return bytes(b)
    return rng.integers(0, 256, max(1, n), dtype=np.uint8).tobytes()


def _mutate_sections(sections: dict[str, bytes], rng: np.random.Generator) -> dict[str, bytes]:
    names = list(sections)
    out = dict(sections)
    op = rng.integers(6)
    if not names or op == 0:
        out["extra"] = _mutate_bytes(b"\x00" * 8, rng)
        return out
    name = names[rng.integers(len(names))]
    if op == 1:
        del out[name]
    elif op == 2 and len(names) > 1:  # swap two payloads
        other = names[(names.index(name) + 1 + rng.integers(len(names) - 1)) % len(names)]
        out[name], out[other] = out[other], out[name]
    elif op == 3:  # reverse the order
        out = dict(reversed(list(out.items())))
    else:
        out[name] = _mutate_bytes(out[name], rng)
    return out


def _fix_file_crc(blob: bytes) -> bytes:
    if len(blob) < 4:
        return blob
    body = blob[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def mutate(
    blob: bytes,
    seed: int,
    index: int,
    *,
    codec_names: list[str] | None = None,
    headers: list[dict] | None = None,
) -> bytes:
    """The ``index``-th hostile variant of the valid file ``blob`` (deterministic).

    Parameters
    ----------
    blob : bytes
        A valid ``.nc3d`` file.
    seed, index : int
        Select the variant: ``numpy.random.default_rng([seed, index])``.
    codec_names : list of str, optional
        Codec ids to swap in (cross-codec confusion); default the registry's.
    headers : list of dict, optional
        Headers of other codecs' files to swap in.

    Returns
    -------
    bytes
        The mutated file (about 15% raw byte mutations, the rest re-packed with valid CRCs).
    """
    rng = np.random.default_rng([seed, index])
    c = _container.unpack(blob)
    if codec_names is None:
        from ..codecs.base import codec_names as _names

        codec_names = _names()
    family = rng.integers(20)
    if family == 0:  # raw bytes: nearly always stopped by a CRC
        return _mutate_bytes(blob, rng)
    if family == 1:  # raw bytes, closing CRC repaired: the length fields and per-part CRCs face it
        return _fix_file_crc(_mutate_bytes(blob, rng))
    if family == 2:  # raw header text (NaN, Infinity, duplicate keys, deep nesting, bad UTF-8)
        raw = _RAW_HEADERS[rng.integers(len(_RAW_HEADERS))]
        return pack_raw(c.codec.encode(), raw, [(k.encode(), v) for k, v in c.sections.items()])
    if family == 3:  # codec id and version
        ids = [*codec_names, "unknown", "x" * 32]
        codec = ids[rng.integers(len(ids))].encode()
        version = int(rng.choice([0, 1, 1, 2, 255, 65535]))
        return pack_raw(
            codec,
            _container._encode_header(c.header),
            [(k.encode(), v) for k, v in c.sections.items()],
            version,
        )
    header, sections = c.header, c.sections
    rounds = 1 + int(rng.integers(3) == 0) * int(rng.integers(1, 4))
    for _ in range(rounds):
        if family < 12:
            header = _mutate_header(header, rng, headers or [])
        elif family < 19:
            sections = _mutate_sections(sections, rng)
        else:
            header = _mutate_header(header, rng, headers or [])
            sections = _mutate_sections(sections, rng)
    try:
        return _container.pack(_container.Container(c.codec, header, sections))
    except Exception:  # noqa: BLE001 - a mutation that pack refuses (e.g. an invalid name): the raw writer takes it
        return pack_raw(
            c.codec.encode(), json.dumps(header).encode(), [(k.encode(), v) for k, v in sections.items()]
        )


# ----------------------------------------------------------------------------------------------
# The contract
# ----------------------------------------------------------------------------------------------


def _check_mesh(mesh, what: str) -> None:
    from ..mesh import Mesh

    if not isinstance(mesh, Mesh):
        raise BadResult(f"{what}: decoded a {type(mesh).__name__}, not a Mesh")
    v, f = mesh.vertices, mesh.faces
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise BadResult(f"{what}: malformed mesh arrays {v.shape} / {f.shape}")
    if not np.all(np.isfinite(v)):
        raise BadResult(f"{what}: decoded mesh has non-finite vertices")
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise BadResult(f"{what}: decoded mesh has face indices out of range")


def check_result(kind: str, result: Any) -> None:
    """Raise :class:`BadResult` unless ``result`` is a well-formed decoded ``kind``."""
    if kind == "mesh":
        _check_mesh(result, "mesh")
    elif kind == "meshset":
        if not isinstance(result, list) or not result:
            raise BadResult(f"meshset: decoded a {type(result).__name__}, not a non-empty list")
        for item in result:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise BadResult("meshset: an item is not a (name, Mesh) pair")
            _check_mesh(item[1], f"meshset item {item[0]!r}")
    elif kind == "volume":
        if not isinstance(result, np.ndarray) or result.ndim != 3:
            raise BadResult(f"volume: decoded a {type(result).__name__}, not a 3-D array")


def decode_quick(blob: bytes) -> tuple[str, Any]:
    """Decode as :func:`nc3d.decompress` does, but cheaply: ``(kind, result)``.

    Parse, pick the codec the file names, open it and decode it — a distance field
    (capability ``field``) meshed at :data:`FUZZ_RESOLUTION`: the default 256³ only costs time.
    """
    from ..api import open as open_file
    from ..codecs.base import FIELD

    handle = open_file(blob)
    if handle.supports(FIELD):
        return handle.kind, cast("FieldFile", handle).decode(resolution=FUZZ_RESOLUTION)
    return handle.kind, handle.decode()


def decode_checked(blob: bytes) -> str:
    """Decode hostile bytes with :func:`decode_quick`; ``"ok"`` or ``"format_error"``.

    Raises
    ------
    BadResult
        A decode that returned a malformed result, or a ``FormatError`` without a message.
    Exception
        Whatever else the decoder raised (a bug).
    """
    try:
        kind, result = decode_quick(blob)
    except FormatError as exc:
        if not str(exc).strip():
            raise BadResult("FormatError without a message") from exc
        return "format_error"
    check_result(kind, result)
    return "ok"


def describe_result(kind: str, result: Any) -> dict:
    """A JSON-ready fingerprint of a decoded result: exact SHA-256 of its arrays, plus shapes and
    summary statistics (min, max, mean, an order-sensitive weighted sum) that survive last-bit
    floating-point differences between machines and versions.

    Used by the golden-file tests (``tests/golden/``) and the determinism tests.
    """
    import hashlib

    def arrays(*xs) -> dict:
        h = hashlib.sha256()
        stats: dict[str, Any] = {}
        for name, x in xs:
            x = np.ascontiguousarray(x)
            h.update(f"{name}:{x.dtype.str}:{x.shape}".encode())
            h.update(x.tobytes())
            stats[name] = {"shape": list(x.shape), "dtype": x.dtype.str}
            if x.size and np.issubdtype(x.dtype, np.floating):
                flat = x.ravel().astype(np.float64)
                weights = np.sin(np.arange(flat.size, dtype=np.float64))  # order-sensitive, tolerant
                stats[name].update(
                    min=float(flat.min()),
                    max=float(flat.max()),
                    mean=float(flat.mean()),
                    moment=float(flat @ weights),
                )
        return {"sha256": h.hexdigest(), **stats}

    if kind == "mesh":
        return arrays(("vertices", result.vertices), ("faces", result.faces))
    if kind == "meshset":
        return {name: arrays(("vertices", m.vertices), ("faces", m.faces)) for name, m in result}
    return arrays(("volume", np.asarray(result)))
