"""Sphere tracing of signed distance functions with dynamic batching (Davies et al. §2.3).

Each ray starts where it enters the bounding sphere of the [-1, 1]^3 cube (radius √3) and
advances by the signed distance at its current point (times ``step_scale`` < 1, because a
network's SDF is not exactly 1-Lipschitz) until ``|f| < eps`` (a hit), it leaves the sphere (a
miss) or ``max_steps`` evaluations have been spent (a miss). Rays converge at different times,
so every iteration evaluates one batch made of only the rays still marching: the index array of
live rays is compacted after each step and no Python loop ever runs over rays or pixels.
Normals are the SDF's gradient by central finite differences at the hit points, in one batched
call of ``6 * hits`` points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .camera import Camera
from .shading import DEFAULT_BACKGROUND, DEFAULT_COLOR, check_rgb, compose, shade

__all__ = [
    "BOUNDING_RADIUS",
    "RenderBuffers",
    "render_sdf",
    "render_sdf_buffers",
    "sdf_normals",
    "sphere_trace",
]

#: Radius of the sphere around the [-1, 1]^3 cube, normalized units.
BOUNDING_RADIUS = math.sqrt(3.0)

SdfFunction = Callable[[np.ndarray], np.ndarray]


@dataclass
class RenderBuffers:
    """What a ray caster saw, per pixel.

    Attributes
    ----------
    hit : (h, w) bool
        The ray hit the surface.
    depth : (h, w) float32
        Distance along the ray from the eye to the hit, normalized units; ``inf`` where missed.
    normal : (h, w, 3) float32
        Unit surface normal at the hit (normalized frame), zero where missed. SDF normals point
        outward; mesh normals are flipped to face the viewer.
    camera : Camera
        The camera used.
    evaluations : int
        Points passed to the SDF while marching (normals excluded); 0 for meshes.
    iterations : int
        Marching iterations run (batches); 0 for meshes.
    """

    hit: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    camera: Camera
    evaluations: int = 0
    iterations: int = 0


def _call(sdf: SdfFunction, points: np.ndarray) -> np.ndarray:
    f = np.asarray(sdf(points), dtype=np.float32).reshape(-1)
    if f.shape != (len(points),):
        raise InputError(f"the SDF returned {f.size} values for {len(points)} points; expected one per point")
    return f


def sphere_trace(
    sdf: SdfFunction,
    origins: np.ndarray,
    directions: np.ndarray,
    *,
    max_steps: int = 128,
    eps: float = 1e-3,
    step_scale: float = 0.9,
    radius: float = BOUNDING_RADIUS,
):
    """March rays through ``sdf`` with dynamic batching.

    Parameters
    ----------
    sdf : callable
        ``(n, 3) float32`` points (normalized frame) → ``(n,) float32`` signed distances,
        negative inside.
    origins, directions : (m, 3) float
        Ray origins and unit directions, normalized frame.
    max_steps : int
        SDF evaluations allowed per ray.
    eps : float
        Hit threshold on ``|f|``, normalized units.
    step_scale : float
        Step = ``step_scale * f``; in (0, 1].
    radius : float
        Rays march only inside the sphere of this radius about the origin.

    Returns
    -------
    t : (m,) float64
        Distance along each ray to its hit; ``inf`` for misses.
    evaluations : int
        Total points evaluated.
    iterations : int
        Batches evaluated.
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise InputError(f"max_steps must be a positive integer, got {max_steps!r}")
    if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
        raise InputError(f"eps must be a positive number, got {eps!r}")
    if not (isinstance(step_scale, (int, float)) and 0 < step_scale <= 1):
        raise InputError(f"step_scale must be in (0, 1], got {step_scale!r}")
    origins = np.asarray(origins, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    m = len(directions)
    result = np.full(m, np.inf)
    # Entry/exit of |o + t d| = radius (unit d): t = -b ± sqrt(b² - c).
    b = np.einsum("ij,ij->i", origins, directions)
    c = np.einsum("ij,ij->i", origins, origins) - radius * radius
    disc = b * b - c
    idx = np.flatnonzero(disc > 0)
    root = np.sqrt(disc[idx])
    t_exit = -b[idx] + root
    live = t_exit > 0
    idx, t_exit = idx[live], t_exit[live]
    t_enter = np.maximum(-b[idx] - root[live], 0.0)
    t = t_enter.copy()
    o, d = origins[idx], directions[idx]
    evaluations = iterations = 0
    for _ in range(max_steps):
        if idx.size == 0:
            break
        f = _call(sdf, (o + t[:, None] * d).astype(np.float32))
        evaluations += idx.size
        iterations += 1
        done = np.abs(f) < eps
        result[idx[done]] = t[done]
        t = t + step_scale * f
        keep = ~done & (t <= t_exit) & (t >= t_enter)  # NaN fails both: a miss
        idx, t, t_enter, t_exit, o, d = idx[keep], t[keep], t_enter[keep], t_exit[keep], o[keep], d[keep]
    return result, evaluations, iterations


def sdf_normals(sdf: SdfFunction, points: np.ndarray, h: float = 2e-3) -> np.ndarray:
    """Unit gradients ``(n, 3) float32`` of ``sdf`` at ``points (n, 3)`` by central differences
    with step ``h`` (normalized units), in one call of ``6 n`` points; zero where the gradient vanishes."""
    points = np.asarray(points, dtype=np.float32)
    if len(points) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    offsets = np.concatenate([np.eye(3), -np.eye(3)]).astype(np.float32) * np.float32(h)  # (6, 3)
    f = _call(sdf, (points[:, None, :] + offsets[None]).reshape(-1, 3)).reshape(-1, 6)
    g = f[:, :3] - f[:, 3:]
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    return np.where(norm > 0, g / np.maximum(norm, 1e-30), 0.0).astype(np.float32)


def render_sdf_buffers(
    sdf: SdfFunction,
    *,
    size=512,
    azimuth: float = 30.0,
    elevation: float = 20.0,
    distance: float = 4.5,
    fov: float = 35.0,
    max_steps: int = 128,
    eps: float = 1e-3,
    step_scale: float = 0.9,
    normal_eps: float = 2e-3,
) -> RenderBuffers:
    """Sphere-trace ``sdf`` from the orbit camera and return hit mask, depth and normals.

    Parameters are those of :func:`render_sdf` (without colors).
    """
    camera = Camera(azimuth, elevation, distance, fov)
    origins, directions, (h, w) = camera.rays(size)
    t, evaluations, iterations = sphere_trace(
        sdf, origins, directions, max_steps=max_steps, eps=eps, step_scale=step_scale
    )
    hit = np.isfinite(t)
    hits = np.flatnonzero(hit)
    normal = np.zeros((h * w, 3), dtype=np.float32)
    normal[hits] = sdf_normals(sdf, origins[hits] + t[hits, None] * directions[hits], normal_eps)
    return RenderBuffers(
        hit.reshape(h, w),
        t.astype(np.float32).reshape(h, w),
        normal.reshape(h, w, 3),
        camera,
        evaluations,
        iterations,
    )


def render_sdf(
    sdf: SdfFunction,
    *,
    size=512,
    azimuth: float = 30.0,
    elevation: float = 20.0,
    distance: float = 4.5,
    fov: float = 35.0,
    max_steps: int = 128,
    eps: float = 1e-3,
    step_scale: float = 0.9,
    normal_eps: float = 2e-3,
    background=DEFAULT_BACKGROUND,
    color=DEFAULT_COLOR,
) -> np.ndarray:
    """Sphere-traced, shaded image of the zero level set of ``sdf``.

    Parameters
    ----------
    sdf : callable
        ``(n, 3) float32`` points in the normalized frame → ``(n,) float32`` signed distances
        (normalized units, negative inside), e.g. ``ImplicitShape.sdf_normalized``.
    size : int or (w, h)
        Image size in pixels.
    azimuth, elevation : float
        Camera position on its orbit, degrees (see :class:`Camera`).
    distance, fov : float
        Eye distance (normalized units) and vertical field of view (degrees).
    max_steps : int
        SDF evaluations allowed per ray.
    eps : float
        Hit threshold on ``|f|``, normalized units.
    step_scale : float
        Safety factor in (0, 1] on each step.
    normal_eps : float
        Finite-difference step for normals, normalized units.
    background, color : three numbers in [0, 255]
        sRGB background and surface color.

    Returns
    -------
    (h, w, 3) uint8
        The image.
    """
    check_rgb(color, "color")
    check_rgb(background, "background")
    buf = render_sdf_buffers(
        sdf,
        size=size,
        azimuth=azimuth,
        elevation=elevation,
        distance=distance,
        fov=fov,
        max_steps=max_steps,
        eps=eps,
        step_scale=step_scale,
        normal_eps=normal_eps,
    )
    _, directions, _ = buf.camera.rays(size)
    mask = buf.hit.reshape(-1)
    rgb = shade(buf.normal.reshape(-1, 3)[mask], directions[mask], buf.camera, color)
    return compose(buf.hit, rgb, background)
