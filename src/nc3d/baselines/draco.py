"""Draco (Google) through DracoPy, and QEM decimation (fast-simplification) with and without it.

These are what a practitioner would pick instead of a neural codec, so they run with settings
a careful user would choose: Draco at compression level ≥ 7 (its default of 1 is 2–4× worse)
over a ladder of quantization bits; decimation at several target ratios.
"""

from __future__ import annotations

import numpy as np

from .._optional import require
from ..codecs.base import Codec, Option, register
from ..container import header_get
from ..errors import FormatError, InputError
from ..io.ply import canonical_ply_bytes, parse_canonical_ply
from ..mesh import Mesh, as_mesh

__all__ = ["Draco", "Decimate", "DecimateDraco", "draco_encode", "draco_decode", "decimate_mesh"]

#: Most vertices/faces a baseline file may declare (bounds what a hostile header can ask for).
_MAX_ELEMENTS = 1 << 27


def draco_encode(mesh: Mesh, bits: int, level: int) -> bytes:
    """Draco bytes of ``mesh`` with ``bits``-bit position quantization at ``level`` (0–10)."""
    draco = require("DracoPy", "the Draco baseline")
    return bytes(
        draco.encode(
            mesh.vertices.astype(np.float32),
            mesh.faces.astype(np.uint32),
            quantization_bits=bits,
            compression_level=level,
        )
    )


def draco_decode(data: bytes, max_faces: int) -> Mesh:
    """Decode untrusted Draco bytes; :class:`FormatError` unless they hold a valid triangle mesh."""
    draco = require("DracoPy", "the Draco baseline")
    try:
        decoded = draco.decode(bytes(data))
        points = np.asarray(decoded.points, dtype=np.float64).reshape(-1, 3)
        faces = np.asarray(decoded.faces, dtype=np.int64).reshape(-1, 3)
    except Exception as exc:  # noqa: BLE001 - DracoPy raises its own types (and ValueError) on corrupt input
        raise FormatError(f"section 'draco': corrupt Draco stream ({type(exc).__name__}: {exc})") from None
    if len(faces) > max_faces:
        raise FormatError(f"section 'draco': {len(faces)} faces, the header says at most {max_faces}")
    try:
        return as_mesh((points, faces), name="Draco stream")
    except InputError as exc:
        raise FormatError(f"section 'draco': {exc}") from None


def decimate_mesh(mesh: Mesh, ratio: float) -> Mesh:
    """QEM decimation keeping about ``ratio`` of the faces (fast-simplification)."""
    fs = require("fast_simplification", "the decimation baseline")
    if ratio >= 1.0:
        return mesh
    v, f = fs.simplify(
        mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32), target_reduction=1.0 - ratio
    )
    if len(f) == 0:
        raise InputError(
            f"decimation to ratio {ratio} leaves none of the {len(mesh.faces)} faces; raise its ratio"
        )
    return as_mesh((np.asarray(v, np.float64), np.asarray(f, np.int64)), name="decimated mesh")


def _counts(header) -> tuple[int, int]:
    return (
        header_get(header, "vertices", int, min=1, max=_MAX_ELEMENTS),
        header_get(header, "faces", int, min=1, max=_MAX_ELEMENTS),
    )


def _section(sections, name) -> bytes:
    if name not in sections:
        raise FormatError(f"missing section '{name}'")
    return sections[name]


_BITS = Option("bits", int, 11, "Draco position quantization bits", low=1, high=30)
_LEVEL = Option("level", int, 10, "Draco compression level (≥ 7 recommended)", low=0, high=10)
_RATIO = Option("ratio", float, 0.25, "fraction of the faces kept by QEM decimation", low=1e-4, high=1.0)


@register
class Draco(Codec):
    name = "draco"
    kind = "mesh"
    baseline = True
    description = "Google Draco (DracoPy), position quantization + edgebreaker, level 10"
    options = (_BITS, _LEVEL)

    def encode_parts(self, data, *, progress=None, bits, level):
        mesh = as_mesh(data)
        return {"vertices": len(mesh.vertices), "faces": len(mesh.faces)}, {
            "draco": draco_encode(mesh, bits, level)
        }

    def decode_parts(self, header, sections):
        return draco_decode(_section(sections, "draco"), _counts(header)[1])

    presets = {
        "smoke": ({},),
        "quick": tuple({"bits": b} for b in (8, 11, 14)),
        "default": tuple({"bits": b} for b in range(8, 15)),
    }


@register
class Decimate(Codec):
    name = "decimate"
    kind = "mesh"
    baseline = True
    description = "QEM decimation (fast-simplification), stored as a canonical binary PLY"
    options = (_RATIO,)

    def encode_parts(self, data, *, progress=None, ratio):
        mesh = decimate_mesh(as_mesh(data), ratio)
        return {"vertices": len(mesh.vertices), "faces": len(mesh.faces)}, {"ply": canonical_ply_bytes(mesh)}

    def decode_parts(self, header, sections):
        _counts(header)
        return parse_canonical_ply(_section(sections, "ply"), max_elements=_MAX_ELEMENTS)

    presets = {
        "smoke": ({},),
        "quick": ({"ratio": 0.25}, {"ratio": 0.05}),
        "default": tuple({"ratio": r} for r in (0.5, 0.25, 0.1, 0.05, 0.02, 0.01)),
    }


@register
class DecimateDraco(Codec):
    name = "decimate-draco"
    kind = "mesh"
    baseline = True
    description = "QEM decimation followed by Draco"
    options = (_RATIO, _BITS, _LEVEL)

    def encode_parts(self, data, *, progress=None, ratio, bits, level):
        mesh = decimate_mesh(as_mesh(data), ratio)
        header = {"vertices": len(mesh.vertices), "faces": len(mesh.faces)}
        return header, {"draco": draco_encode(mesh, bits, level)}

    def decode_parts(self, header, sections):
        return draco_decode(_section(sections, "draco"), _counts(header)[1])

    presets = {
        "smoke": ({},),
        "quick": ({"ratio": 0.25, "bits": 10}, {"ratio": 0.05, "bits": 10}),
        "default": tuple(
            {"ratio": r, "bits": b}
            for r, b in ((0.5, 11), (0.25, 11), (0.1, 10), (0.05, 10), (0.02, 9), (0.01, 9))
        ),
    }
