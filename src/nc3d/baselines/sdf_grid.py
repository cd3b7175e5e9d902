"""The regular-grid SDF baseline: K³ signed distances, quantized, entropy-coded, marching cubes.

This is the "uniform grid" that Davies et al. compare their networks against at equal memory.
Distances are truncated to ±``truncation`` grid cells before quantization (marching cubes only
reads the cells next to the surface), so the far field costs almost nothing after entropy
coding; the sign comes from the winding number as everywhere in nc3d.
"""

from __future__ import annotations

import numpy as np

from ..codecs.base import Codec, Option, register
from ..container import header_get
from ..entropy import decode_symbols, encode_symbols
from ..errors import FormatError, InputError
from ..geometry.marching import grid_points, marching_cubes_sdf
from ..geometry.normalize import Frame, frame_of_mesh
from ..geometry.sdf import signed_distance_to_mesh
from ..mesh import as_mesh
from ..nn.quant import quant_levels

__all__ = ["SdfGrid"]

#: Most grid values a file may declare per byte of its section (a truncated far field codes to
#: ~0.01 bit a value; this leaves room and still refuses a 512³ claim over a few bytes).
_MAX_CELLS_PER_BYTE = 1000


@register
class SdfGrid(Codec):
    name = "sdf-grid"
    kind = "mesh"
    baseline = True
    description = "K³ truncated signed distance grid, uniformly quantized, entropy-coded; marching cubes"
    options = (
        Option("resolution", int, 64, "grid points per axis over the normalized cube", low=8, high=512),
        Option("bits", int, 8, "bits per stored distance", low=2, high=16),
        Option("truncation", float, 3.0, "distances clipped to ± this many cells", low=1.0, high=64.0),
    )

    def encode_parts(self, data, *, progress=None, resolution, bits, truncation):
        mesh = as_mesh(data)
        frame = frame_of_mesh(mesh)
        normalized = frame.normalize_mesh(mesh)
        h = 2.0 / (resolution - 1)
        sdf = signed_distance_to_mesh(grid_points(resolution), normalized)
        levels = quant_levels(bits)
        q = np.round(np.clip(sdf / (truncation * h), -1.0, 1.0) * levels).astype(np.int64)
        if not (q.min() < 0 < q.max()):  # the decoder could mesh nothing: say so now, not then
            raise InputError(
                f"sdf-grid: at resolution {resolution} no grid point lies inside the mesh "
                "(thinner than a cell, or not closed); raise its resolution"
            )
        header = {"resolution": resolution, "bits": bits, "truncation": truncation, "frame": frame.to_dict()}
        return header, {"grid": encode_symbols(q)}

    def decode_parts(self, header, sections):
        k = header_get(header, "resolution", int, min=8, max=512)
        bits = header_get(header, "bits", int, min=2, max=16)
        truncation = header_get(header, "truncation", float, min=1.0, max=64.0)
        frame = Frame.from_dict(header_get(header, "frame", dict))
        if "grid" not in sections:
            raise FormatError("missing section 'grid'")
        if k**3 > _MAX_CELLS_PER_BYTE * len(sections["grid"]) + (1 << 20):  # bound the allocation up front
            raise FormatError(f"section 'grid': {k}³ values cannot come from {len(sections['grid'])} bytes")
        q = decode_symbols(sections["grid"], count=k**3)
        levels = quant_levels(bits)
        if np.abs(q).max() > levels:
            raise FormatError(f"section 'grid': a value exceeds the {bits}-bit range")
        h = 2.0 / (k - 1)
        values = (q.astype(np.float32) / levels * (truncation * h)).reshape(k, k, k)
        try:
            mesh = marching_cubes_sdf(values)
        except InputError as exc:  # e.g. a grid without a sign change
            raise FormatError(f"section 'grid': {exc}") from None
        return frame.denormalize_mesh(mesh)

    # quick: 48³ instead of 64³ halves the cost (the SDF of every grid point is the whole of it)
    presets = {
        "smoke": ({"resolution": 16},),
        "quick": ({"resolution": 32}, {"resolution": 48}),
        "default": tuple({"resolution": r} for r in (24, 32, 48, 64, 96, 128)),
    }
