"""Mesh decimation: quadric error metric (QEM) simplification through fast-simplification."""

from __future__ import annotations

import numpy as np

from .._optional import require
from ..errors import InputError
from ..mesh import Mesh, as_mesh

__all__ = ["decimate_mesh"]


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
