"""Draco (Google) through DracoPy, and QEM decimation (fast-simplification) with and without it.

These are what a practitioner would pick instead of a neural codec, so they run with settings
a careful user would choose: Draco at compression level ≥ 7 (its default of 1 is 2–4× worse)
over a ladder of quantization bits; decimation at several target ratios.
"""

from __future__ import annotations

from ..codecs.base import Codec, Option, register
from ..container import header_get
from ..errors import FormatError
from ..geometry.decimate import decimate_mesh
from ..io.draco import draco_decode, draco_encode
from ..io.ply import canonical_ply_bytes, parse_canonical_ply
from ..mesh import as_mesh

__all__ = ["Draco", "Decimate", "DecimateDraco", "draco_encode", "draco_decode", "decimate_mesh"]

#: Most vertices/faces a baseline file may declare (bounds what a hostile header can ask for).
_MAX_ELEMENTS = 1 << 27


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
