"""Surfaces from signed distance grids: marching cubes (scikit-image), faces outward."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import InputError
from ..mesh import Mesh

__all__ = ["grid_points", "marching_cubes_sdf", "mesh_from_sdf"]


def grid_points(resolution: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """``(resolution^3, 3) float32`` grid points of the cube ``[lo, hi]^3``, x slowest (ij order)."""
    axis = np.linspace(lo, hi, resolution, dtype=np.float32)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def marching_cubes_sdf(values: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> Mesh:
    """The zero level set of a signed distance grid (negative inside), faces pointing outward.

    Parameters
    ----------
    values : (r, r, r) float
        Samples at :func:`grid_points` (``values[i, j, k]`` at ``(x_i, y_j, z_k)``).
    lo, hi : float
        The cube the grid spans.

    Raises
    ------
    InputError
        When the grid has no zero crossing (no surface inside the cube at this resolution).
    """
    from skimage.measure import marching_cubes

    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 3 or min(values.shape) < 2:
        raise InputError(f"marching cubes needs a 3-D grid of at least 2³, got {values.shape}")
    if not (values.min() < 0 < values.max()):
        raise InputError("the signed distance field has no surface (no sign change) inside the cube")
    h = (hi - lo) / (values.shape[0] - 1)
    # With skimage's default gradient_direction='descent' and x along axis 0, faces of a
    # negative-inside field come out counter-clockwise seen from outside (positive signed
    # volume of a sphere: tests/test_implicit.py checks it).
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(h, h, h))
    return Mesh(verts.astype(np.float64) + lo, faces.astype(np.int64))


def mesh_from_sdf(
    sdf: Callable[[np.ndarray], np.ndarray], resolution: int = 256, lo: float = -1.0, hi: float = 1.0
) -> Mesh:
    """Mesh the zero level set of ``sdf`` (a function of ``(n, 3)`` points) on a ``resolution^3`` grid."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 8 <= resolution <= 1024:
        raise InputError(f"resolution must be an integer in [8, 1024], got {resolution!r}")
    values = sdf(grid_points(resolution, lo, hi)).reshape(resolution, resolution, resolution)
    return marching_cubes_sdf(values, lo, hi)
