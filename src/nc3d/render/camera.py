"""The orbit camera every nc3d image uses, in the normalized frame ([-1, 1]^3 units).

The camera sits at ``distance`` from the origin on the sphere given by ``azimuth`` (degrees,
about the +y axis, 0 = on the +z axis, positive turns towards +x) and ``elevation`` (degrees
above the xz plane), looks at the origin, with +y up. ``fov`` is the vertical field of view; the
pinhole image plane is unit distance in front of the eye. The defaults (distance 4.5, 35°) keep
in view everything within 4.5·sin(17.5°) ≈ 1.35 of the origin, i.e. a normalized shape
([-0.9, 0.9]^3) from any direction unless it fills the cube's corners. An SDF image and a mesh
image rendered with the same arguments line up pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["Camera", "camera_rays", "image_size"]

#: Largest image side accepted (pixels).
MAX_SIDE = 8192


def image_size(size) -> tuple[int, int]:
    """``(w, h)`` from ``size``: an int (square) or a ``(w, h)`` pair, each in [1, 8192].

    Raises
    ------
    InputError
        Not an int or a pair of ints, or out of range.
    """
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    try:
        w, h = pair
    except (TypeError, ValueError):
        raise InputError(f"size must be an int or a (width, height) pair, got {size!r}") from None
    for v in (w, h):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= MAX_SIDE:
            raise InputError(f"image size must be integers in [1, {MAX_SIDE}], got {size!r}")
    return int(w), int(h)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera orbiting the origin of the normalized frame.

    Attributes
    ----------
    azimuth : float
        Degrees about +y; 0 puts the eye on the +z axis.
    elevation : float
        Degrees above the xz plane, in (-90, 90).
    distance : float
        Eye–origin distance, normalized units (> 0).
    fov : float
        Vertical field of view, degrees, in (0, 180).
    """

    azimuth: float = 30.0
    elevation: float = 20.0
    distance: float = 4.5
    fov: float = 35.0

    def __post_init__(self):
        vals = (self.azimuth, self.elevation, self.distance, self.fov)
        if not all(isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) for v in vals):
            raise InputError(f"camera parameters must be finite numbers, got {vals}")
        if not -90.0 < self.elevation < 90.0:
            raise InputError(f"elevation must be in (-90, 90) degrees, got {self.elevation}")
        if not self.distance > 0:
            raise InputError(f"camera distance must be positive, got {self.distance}")
        if not 0.0 < self.fov < 180.0:
            raise InputError(f"field of view must be in (0, 180) degrees, got {self.fov}")

    @property
    def eye(self) -> np.ndarray:
        """(3,) float64: the eye position."""
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        return self.distance * np.array(
            [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]
        )

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(right, up, forward)``: three (3,) float64 orthonormal vectors (forward towards the origin)."""
        forward = -self.eye / np.linalg.norm(self.eye)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)  # |elevation| < 90° keeps it nonzero
        up = np.cross(right, forward)
        return right, up, forward

    def rays(self, size=512) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """One ray through the center of each pixel, row-major from the top-left pixel.

        Parameters
        ----------
        size : int or (w, h)
            Image size in pixels.

        Returns
        -------
        origins : (h*w, 3) float64
            The eye, repeated (a broadcast view; copy before writing).
        directions : (h*w, 3) float64
            Unit directions, normalized frame.
        shape : (h, w)
        """
        w, h = image_size(size)
        right, up, forward = self.basis()
        half = math.tan(math.radians(self.fov) / 2.0)
        x = ((np.arange(w) + 0.5) / w * 2.0 - 1.0) * half * (w / h)
        y = (1.0 - (np.arange(h) + 0.5) / h * 2.0) * half
        d = forward + x[None, :, None] * right + y[:, None, None] * up  # (h, w, 3)
        d = d.reshape(-1, 3)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        origins = np.broadcast_to(self.eye, d.shape)
        return origins, d, (h, w)

    def project(self, points: np.ndarray, size=512) -> np.ndarray:
        """Pixel coordinates ``(n, 2)`` float64 ``(column, row)`` of ``points (n, 3)`` (normalized
        frame); pixel ``(j, i)`` has its center at ``(j + 0.5, i + 0.5)``. Points behind the eye
        give meaningless values."""
        w, h = image_size(size)
        right, up, forward = self.basis()
        rel = np.asarray(points, dtype=np.float64) - self.eye
        z = rel @ forward
        half = math.tan(math.radians(self.fov) / 2.0)
        x = (rel @ right) / z / (half * (w / h))
        y = (rel @ up) / z / half
        return np.stack([(x + 1.0) / 2.0 * w, (1.0 - y) / 2.0 * h], axis=1)


def camera_rays(
    size=512, *, azimuth: float = 30.0, elevation: float = 20.0, distance: float = 4.5, fov: float = 35.0
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Ray origins and unit directions ``(h*w, 3) float64`` for the orbit camera; see :meth:`Camera.rays`."""
    return Camera(azimuth, elevation, distance, fov).rays(size)
