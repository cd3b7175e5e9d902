"""The normalized frame every codec works in (DESIGN.md, "Frames").

A shape is mapped by the similarity transform ``x_n = (x - center) * scale`` with ``center`` the
bounding-box center and ``scale = 0.9 / max half-extent``, so that the shape fits in
[-0.9, 0.9]^3 inside the [-1, 1]^3 cube the networks and grids cover. Distances scale by the
same factor: ``d_n = d * scale``. The transform is stored in the file header as
``{"center": [cx, cy, cz], "scale": s}`` so decoding returns the original coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, InputError
from ..mesh import Mesh

_FLOAT32_MAX = float(np.finfo(np.float32).max)

__all__ = ["Frame", "NORMALIZED_HALF_EXTENT", "frame_of_points", "frame_of_mesh"]

#: Largest half-extent of a shape in the normalized frame.
NORMALIZED_HALF_EXTENT = 0.9


@dataclass(frozen=True)
class Frame:
    """A similarity transform original ↔ normalized coordinates.

    Attributes
    ----------
    center : (3,) float64
        Bounding-box center in original coordinates.
    scale : float
        Original units → normalized units (multiply lengths by it).
    """

    center: tuple[float, float, float]
    scale: float

    def to_normalized(self, points: np.ndarray) -> np.ndarray:
        """Map ``points (n, 3)`` from original to normalized coordinates (float64)."""
        return (np.asarray(points, dtype=np.float64) - np.asarray(self.center)) * self.scale

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map ``points (n, 3)`` from normalized to original coordinates (float64)."""
        return np.asarray(points, dtype=np.float64) / self.scale + np.asarray(self.center)

    def normalize_mesh(self, mesh: Mesh) -> Mesh:
        """The mesh in normalized coordinates (faces unchanged)."""
        return Mesh(self.to_normalized(mesh.vertices), mesh.faces)

    def denormalize_mesh(self, mesh: Mesh) -> Mesh:
        """The mesh in original coordinates (faces unchanged)."""
        return Mesh(self.to_original(mesh.vertices), mesh.faces)

    def inverse_matrix(self) -> np.ndarray:
        """(4, 4) float64 homogeneous matrix normalized → original."""
        m = np.eye(4) / self.scale
        m[3, 3] = 1.0
        m[:3, 3] = self.center
        return m

    def matrix(self) -> np.ndarray:
        """(4, 4) float64 homogeneous matrix original → normalized."""
        m = np.eye(4) * self.scale
        m[3, 3] = 1.0
        m[:3, 3] = -np.asarray(self.center) * self.scale
        return m

    def to_dict(self) -> dict:
        """JSON-ready form for a file header (floats round-trip exactly through ``repr``)."""
        return {"center": [float(c) for c in self.center], "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, d) -> Frame:
        """Read a frame from an (untrusted) header value; :class:`FormatError` if malformed."""
        if not isinstance(d, dict) or set(d) != {"center", "scale"}:
            raise FormatError("header 'frame' must be an object with exactly 'center' and 'scale'")
        center, scale = d["center"], d["scale"]
        if not (isinstance(center, list) and len(center) == 3):
            raise FormatError("header 'frame.center' must be a list of 3 numbers")
        values = [*center, scale]
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
        ):
            raise FormatError("header 'frame' holds a value that is not a finite number")
        if not scale > 0:
            raise FormatError(f"header 'frame.scale' must be positive, got {scale}")
        # the normalized cube must land on float32-representable original coordinates
        if not 2.0 / scale + max(abs(c) for c in center) < _FLOAT32_MAX:
            raise FormatError(
                f"header 'frame' (center {center}, scale {scale}) maps the shape beyond float32 range"
            )
        return cls((float(center[0]), float(center[1]), float(center[2])), float(scale))

    @classmethod
    def identity(cls) -> Frame:
        """The frame of a shape that is already normalized."""
        return cls((0.0, 0.0, 0.0), 1.0)


def frame_of_points(points: np.ndarray) -> Frame:
    """The normalized frame of a point set ``points (n, 3)`` (its bounding box).

    Raises
    ------
    InputError
        Empty input, non-finite coordinates, or a zero-extent bounding box.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise InputError(f"cannot normalize points of shape {points.shape}; need (n, 3) with n > 0")
    lo, hi = points.min(axis=0), points.max(axis=0)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InputError("cannot normalize: coordinates are not finite")
    half = float((hi - lo).max()) / 2.0
    if not half > 0:
        raise InputError("cannot normalize: zero-extent bounding box")
    center = (lo + hi) / 2.0
    return Frame((float(center[0]), float(center[1]), float(center[2])), NORMALIZED_HALF_EXTENT / half)


def frame_of_mesh(mesh: Mesh) -> Frame:
    """The normalized frame of a mesh (bounding box of its referenced vertices)."""
    return frame_of_points(mesh.vertices[np.unique(mesh.faces)])
