"""The triangle mesh as nc3d passes it between stages: two validated arrays.

nc3d keeps its own tiny ``Mesh`` rather than passing ``trimesh.Trimesh`` around, so that every
stage sees the same dtypes (float64 vertices, int64 faces — what libigl wants) and so that
validation happens once, at the boundary, in :func:`as_mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Mesh", "as_mesh"]


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh.

    Attributes
    ----------
    vertices : (n, 3) float64
        Vertex positions, finite.
    faces : (m, 3) int64
        Vertex indices of each triangle, counter-clockwise seen from outside, all in ``[0, n)``.
    """

    vertices: np.ndarray
    faces: np.ndarray

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64: the minimum and maximum corner of the bounding box."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])

    @property
    def face_areas(self) -> np.ndarray:
        """(m,) float64: area of each triangle."""
        tri = self.vertices[self.faces]
        return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)

    @property
    def area(self) -> float:
        """Total surface area."""
        return float(self.face_areas.sum())

    @property
    def signed_volume(self) -> float:
        """Signed enclosed volume (> 0 for a closed mesh whose faces point outward)."""
        tri = self.vertices[self.faces]
        return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)

    def to_trimesh(self):
        """The same mesh as a ``trimesh.Trimesh`` (no processing, arrays shared)."""
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def __repr__(self) -> str:
        return f"Mesh(vertices={len(self.vertices)}, faces={len(self.faces)})"


def as_mesh(obj: Any, *, name: str = "mesh") -> Mesh:
    """Validate anything mesh-like and return a :class:`Mesh`.

    Parameters
    ----------
    obj : Mesh, trimesh.Trimesh, or (vertices, faces)
        ``vertices`` is (n, 3) float-like, ``faces`` (m, 3) integer-like. Quads are not accepted
        here; load quad meshes through :func:`nc3d.io.load_mesh`, which triangulates.
    name : str
        How to call the mesh in error messages (a file name, usually).

    Raises
    ------
    InputError
        No faces (a point cloud), wrong shapes, NaN/inf coordinates, face indices out of range,
        a zero-extent bounding box, or only zero-area faces.
    """
    if isinstance(obj, Mesh):
        vertices, faces = obj.vertices, obj.faces
    elif hasattr(obj, "vertices") and hasattr(obj, "faces"):
        vertices, faces = obj.vertices, obj.faces
    elif isinstance(obj, (tuple, list)) and len(obj) == 2:
        vertices, faces = obj
    else:
        raise InputError(
            f"{name}: expected a mesh, a trimesh.Trimesh or (vertices, faces), got {type(obj).__name__}"
        )
    try:
        vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        faces = np.asarray(faces)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: vertices/faces are not numeric arrays ({exc})") from None
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise InputError(f"{name}: vertices must have shape (n, 3), got {vertices.shape}")
    if faces.size == 0:
        raise InputError(f"{name}: has no faces (a point cloud?); nc3d needs a triangle mesh")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise InputError(f"{name}: faces must have shape (m, 3), got {faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer):
        if not np.all(np.isfinite(faces)) or np.any(faces != np.round(faces)):
            raise InputError(f"{name}: face indices are not integers")
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if len(vertices) == 0:
        raise InputError(f"{name}: has faces but no vertices")
    if not np.all(np.isfinite(vertices)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(vertices), axis=1)))
        raise InputError(f"{name}: {bad} vertices have NaN or infinite coordinates")
    lo, hi = int(faces.min()), int(faces.max())
    if lo < 0 or hi >= len(vertices):
        raise InputError(f"{name}: face indices out of range [{lo}, {hi}] for {len(vertices)} vertices")
    used = vertices[faces.ravel()]
    extent = used.max(axis=0) - used.min(axis=0)
    if not np.any(extent > 0):
        raise InputError(f"{name}: zero-extent bounding box (all vertices at one point)")
    mesh = Mesh(vertices, faces)
    if not np.any(mesh.face_areas > 0):
        raise InputError(f"{name}: every face is degenerate (zero area)")
    return mesh
