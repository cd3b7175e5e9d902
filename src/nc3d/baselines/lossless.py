"""Lossless reference: the canonical binary PLY compressed with lzma (xz, preset 9e).

It bounds what any lossy codec must beat to be worth its error, and it is the codec the
foundation's tests and demo run through the container end to end.
"""

from __future__ import annotations

import lzma

from ..bounded import decompress_exact
from ..codecs.base import Codec, register
from ..errors import FormatError
from ..io.ply import canonical_ply_bytes, canonical_ply_size, parse_canonical_ply
from ..mesh import as_mesh

__all__ = ["PlyLzma"]

#: No honest mesh compresses 2000:1: a header claiming more is refused before decompressing.
_MAX_INFLATION = 2000


@register
class PlyLzma(Codec):
    name = "ply-lzma"
    kind = "mesh"
    baseline = True
    description = "lossless: canonical binary PLY (float32/int32) compressed with xz"

    def encode_parts(self, data, *, progress=None, **settings):
        mesh = as_mesh(data)
        raw = canonical_ply_bytes(mesh)
        packed = lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
        header = {"vertices": len(mesh.vertices), "faces": len(mesh.faces)}
        return header, {"ply.xz": packed}

    def decode_parts(self, header, sections):
        from ..container import header_get

        nv = header_get(header, "vertices", int, min=1, max=1 << 28)
        nf = header_get(header, "faces", int, min=1, max=1 << 28)
        if "ply.xz" not in sections:
            raise FormatError("missing section 'ply.xz'")
        raw = decompress_exact(
            sections["ply.xz"],
            canonical_ply_size(nv, nf),
            "xz",
            "section 'ply.xz'",
            max_inflation=_MAX_INFLATION,
        )
        return parse_canonical_ply(raw)
