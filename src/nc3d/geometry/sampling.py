"""Seeded point sampling: on the surface (metrics) and in space (Davies' importance sampling)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..mesh import Mesh, as_mesh
from .sdf import signed_distance_to_mesh

__all__ = ["sample_surface", "sample_importance", "sample_near_surface", "face_normals"]


def face_normals(mesh: Mesh) -> np.ndarray:
    """(m, 3) float64 unit normals of the faces (right-hand rule); zero for degenerate faces."""
    tri = mesh.vertices[mesh.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def sample_surface(mesh, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area-uniform random points on the surface.

    Parameters
    ----------
    mesh : Mesh or (vertices, faces)
        The surface; zero-area faces are never picked.
    n : int
        Number of points.
    seed : int
        Seed of the generator: the same seed gives the same points.

    Returns
    -------
    points : (n, 3) float64
        Samples, uniform over the surface area.
    normals : (n, 3) float64
        Unit normal of the face each sample lies on.
    face : (n,) int64
        Index of that face.
    """
    mesh = as_mesh(mesh)
    if n < 0:
        raise InputError(f"number of samples must be ≥ 0, got {n}")
    rng = np.random.default_rng(seed)
    areas = mesh.face_areas
    cdf = np.cumsum(areas)
    face = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    face = np.minimum(face, len(areas) - 1).astype(np.int64)
    # Uniform barycentric coordinates: fold the unit square onto the triangle.
    uv = rng.random((n, 2))
    flip = uv.sum(axis=1) > 1.0
    uv[flip] = 1.0 - uv[flip]
    tri = mesh.vertices[mesh.faces[face]]
    points = tri[:, 0] + uv[:, :1] * (tri[:, 1] - tri[:, 0]) + uv[:, 1:] * (tri[:, 2] - tri[:, 0])
    return points, face_normals(mesh)[face], face


def sample_importance(
    mesh,
    n: int,
    *,
    beta: float = 30.0,
    pool_factor: int = 10,
    half_extent: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Davies et al.'s importance sampling of space around a (normalized) mesh.

    A uniform pool of ``pool_factor * n`` points in the cube ``[-half_extent, half_extent]^3``
    is re-sampled with replacement with probability proportional to ``w = exp(-beta * |sdf|)``,
    which approximates the integrated loss ``∫ w(x) |f(x) - sdf(x)| dx`` (paper Eqs. 5–7):
    ``beta = 0`` is uniform sampling, large ``beta`` concentrates on the surface.

    Parameters
    ----------
    mesh : Mesh or (vertices, faces)
        The shape, usually in the normalized frame.
    n : int
        Number of samples returned.
    beta : float
        Concentration of the weights, in 1/length units of the mesh.
    pool_factor : int
        Size of the uniform pool relative to ``n``.
    half_extent : float
        Half side of the sampling cube (1.0 = the normalized frame's cube).
    seed : int
        Seed: the same seed gives the same samples.

    Returns
    -------
    points : (n, 3) float64
        The samples.
    sdf : (n,) float64
        Their signed distance (negative inside).
    """
    if n <= 0 or pool_factor < 1:
        raise InputError(f"need n > 0 and pool_factor ≥ 1, got n={n}, pool_factor={pool_factor}")
    if not (beta >= 0 and np.isfinite(beta)):
        raise InputError(f"beta must be a finite number ≥ 0, got {beta}")
    rng = np.random.default_rng(seed)
    pool = rng.uniform(-half_extent, half_extent, size=(pool_factor * n, 3))
    sdf = signed_distance_to_mesh(pool, mesh)
    # Subtracting the smallest |sdf| leaves the distribution unchanged and avoids underflow.
    a = np.abs(sdf)
    w = np.exp(-beta * (a - a.min()))
    pick = rng.choice(len(pool), size=n, replace=True, p=w / w.sum())
    return pool[pick], sdf[pick]


def sample_near_surface(
    mesh,
    n: int,
    *,
    beta: float = 30.0,
    uniform_fraction: float = 0.1,
    half_extent: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw Davies' importance distribution directly instead of by rejection from a pool.

    Near a locally flat surface, the density ``∝ exp(-beta |sdf|)`` is exactly "an area-uniform
    surface point moved along its normal by a Laplace(0, 1/beta) distance". Sampling that way
    costs one signed-distance query per sample instead of ``pool_factor`` of them, and every
    sample is distinct (the pool method repeats its few near-surface points). A fraction of
    uniform samples in the cube keeps the far field defined, which sphere tracing and marching
    cubes rely on. The targets are exact signed distances (winding-number sign), so open and
    messy meshes are handled as in :func:`sample_importance`.

    Parameters
    ----------
    mesh : Mesh or (vertices, faces)
        The shape, usually in the normalized frame.
    n : int
        Number of samples.
    beta : float
        Concentration, in 1/length units of the mesh (``1/beta`` is the mean offset).
    uniform_fraction : float
        Share of the samples drawn uniformly in ``[-half_extent, half_extent]^3``.
    half_extent : float
        Half side of the cube for the uniform share.
    seed : int
        Seed: the same seed gives the same samples.

    Returns
    -------
    points : (n, 3) float64
    sdf : (n,) float64
        Signed distances (negative inside).
    """
    mesh = as_mesh(mesh)
    if n <= 0 or not 0.0 <= uniform_fraction <= 1.0 or not (beta > 0 and np.isfinite(beta)):
        raise InputError(
            f"need n > 0, 0 ≤ uniform_fraction ≤ 1, beta > 0; got {n}, {uniform_fraction}, {beta}"
        )
    rng = np.random.default_rng(seed)
    n_uniform = int(round(n * uniform_fraction))
    surface, normals, _ = sample_surface(mesh, n - n_uniform, seed=int(rng.integers(2**31)))
    offsets = rng.laplace(0.0, 1.0 / beta, size=(len(surface), 1))
    points = np.concatenate(
        [surface + offsets * normals, rng.uniform(-half_extent, half_extent, (n_uniform, 3))]
    )
    return points, signed_distance_to_mesh(points, mesh)
