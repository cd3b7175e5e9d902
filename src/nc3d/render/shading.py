"""Lighting shared by the SDF and the mesh renderer, so their images compare.

A key light near the eye (slightly above and to the left), an ambient term, a faint Blinn–Phong
highlight and a rim term, computed in linear light and encoded with gamma 2.2. Normals are made
two-sided (flipped towards the viewer) before shading.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .camera import Camera

__all__ = ["DEFAULT_COLOR", "DEFAULT_BACKGROUND", "check_rgb", "key_light", "shade", "compose"]

#: Default surface color (sRGB, 0–255).
DEFAULT_COLOR = (176, 196, 228)
#: Default background (sRGB, 0–255).
DEFAULT_BACKGROUND = (255, 255, 255)

_GAMMA = 2.2
_AMBIENT, _KEY, _SPECULAR, _RIM = 0.22, 0.85, 0.12, 0.18


def check_rgb(value, name: str) -> np.ndarray:
    """``value`` as a (3,) float64 sRGB color in [0, 255]; :class:`InputError` otherwise."""
    try:
        c = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        c = np.empty(0)
    if c.shape != (3,) or not np.all((c >= 0) & (c <= 255)):
        raise InputError(f"{name} must be three numbers in [0, 255], got {value!r}")
    return c


def key_light(camera: Camera) -> np.ndarray:
    """(3,) float64 unit direction towards the key light (eye side, up and to the left)."""
    right, up, forward = camera.basis()
    d = -forward + 0.45 * up - 0.35 * right
    return d / np.linalg.norm(d)


def shade(normals: np.ndarray, directions: np.ndarray, camera: Camera, color=DEFAULT_COLOR) -> np.ndarray:
    """Shade surface points.

    Parameters
    ----------
    normals : (n, 3) float
        Surface normals (any length; zero-length ones face the viewer), normalized frame.
    directions : (n, 3) float
        Unit ray directions that hit those points.
    camera : Camera
        Sets the light (fixed relative to the camera).
    color : three numbers in [0, 255]
        Surface color, sRGB.

    Returns
    -------
    (n, 3) float64
        Linear-light RGB in [0, 1].
    """
    n = np.asarray(normals, dtype=np.float64)
    d = np.asarray(directions, dtype=np.float64)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-12, n / np.maximum(length, 1e-12), -d)
    n = np.where(np.einsum("ij,ij->i", n, d)[:, None] > 0, -n, n)  # two-sided: face the viewer
    albedo = (check_rgb(color, "color") / 255.0) ** _GAMMA
    light = key_light(camera)
    view = -d
    diffuse = np.clip(n @ light, 0.0, None)
    half = light[None, :] + view
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    spec = np.clip(np.einsum("ij,ij->i", n, half), 0.0, None) ** 48
    rim = (1.0 - np.clip(np.einsum("ij,ij->i", n, view), 0.0, 1.0)) ** 3
    lin = albedo[None, :] * (_AMBIENT + _KEY * diffuse)[:, None] + (_SPECULAR * spec + _RIM * rim)[:, None]
    return np.clip(lin, 0.0, 1.0)


def compose(hit: np.ndarray, linear_rgb: np.ndarray, background=DEFAULT_BACKGROUND) -> np.ndarray:
    """The final ``(h, w, 3) uint8`` image: gamma-encoded shaded pixels over the background.

    Parameters
    ----------
    hit : (h, w) bool
        Pixels whose ray hit the surface.
    linear_rgb : (hit.sum(), 3) float
        Linear-light colors of those pixels, in row-major order.
    background : three numbers in [0, 255]
    """
    image = np.empty((*hit.shape, 3), dtype=np.uint8)
    image[...] = np.round(check_rgb(background, "background")).astype(np.uint8)
    image[hit] = np.round(np.clip(linear_rgb, 0.0, 1.0) ** (1.0 / _GAMMA) * 255.0).astype(np.uint8)
    return image
