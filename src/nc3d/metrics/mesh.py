"""Distances between two triangle meshes: Chamfer, normal consistency, F-score, Hausdorff.

Conventions (DESIGN.md, "Metrics"; NeCGS appendix C.1, eqs. 9–12):

* Both meshes are mapped by the normalized frame of the **reference** (bounding-box center to
  the origin, largest half-extent scaled to 0.9), so every length below is in [−1, 1]³ units and
  numbers are comparable across shapes. The test mesh is *not* normalized on its own: a test
  mesh that is too big or shifted is penalized.
* Each surface gets ``N`` area-uniform random samples, the reference with ``seed`` and the test
  mesh with ``seed + 1``, so a metric is repeatable. Writing ``A`` for the reference samples and
  ``B`` for the test samples, ``S_ref`` and ``S_test`` for the two triangle sets, and
  ``d(x, S)`` for the exact Euclidean distance from ``x`` to the nearest point of the triangles
  ``S``, every metric is a reduction of four arrays:

  - ``min_b |a − b|`` for ``a ∈ A`` and ``min_a |b − a|`` for ``b ∈ B`` (nearest *sample*),
  - ``d(a, S_test)`` for ``a ∈ A`` and ``d(b, S_ref)`` for ``b ∈ B`` (nearest *surface point*),

  plus the face normals of the samples and of the closest faces. :func:`compare_meshes` computes
  them all with one sampling per surface and one query per direction; the single-metric
  functions run the same code and compute only what they need.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geometry.normalize import frame_of_mesh
from ..geometry.sampling import face_normals, sample_surface
from ..geometry.sdf import closest_points_on_mesh
from ..mesh import Mesh, as_mesh

__all__ = [
    "chamfer_distance",
    "chamfer_distance_p2s",
    "normal_consistency",
    "f_score",
    "hausdorff_distance",
    "compare_meshes",
    "DEFAULT_N_SAMPLES",
    "DEFAULT_TAUS",
]

#: Samples per surface (NeCGS: N_eval = 10^5).
DEFAULT_N_SAMPLES = 100_000
#: F-score thresholds reported by default, in normalized units (NeCGS: 0.005 and 0.01).
DEFAULT_TAUS = (0.005, 0.01)


@dataclass(frozen=True)
class _Side:
    """The samples of one surface and what they see of the other surface.

    Attributes
    ----------
    normals : (n, 3) float64
        Unit normal of the face each sample lies on.
    to_samples : (n,) float64 or None
        Distance to the nearest sample of the other surface.
    to_surface : (n,) float64 or None
        Exact distance to the other surface's triangles.
    surface_normals : (n, 3) float64 or None
        Unit normal of the other surface's triangle that holds that nearest point.
    """

    normals: np.ndarray
    to_samples: np.ndarray | None
    to_surface: np.ndarray | None
    surface_normals: np.ndarray | None


def _check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int ≥ ``minimum`` (bools and floats are refused)."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise InputError(f"{name} must be an integer ≥ {minimum}, got {value!r}") from None
    if v < minimum:
        raise InputError(f"{name} must be ≥ {minimum}, got {v}")
    return v


def _check_tau(tau) -> float:
    try:
        t = float(tau)
    except (TypeError, ValueError):
        raise InputError(f"F-score threshold tau must be a number, got {tau!r}") from None
    if not (math.isfinite(t) and t > 0):
        raise InputError(f"F-score threshold tau must be finite and > 0, got {tau!r}")
    return t


def _query(
    reference,
    test,
    n_samples: int,
    seed: int,
    *,
    to_samples: bool,
    to_surface: bool,
) -> tuple[_Side, _Side]:
    """Sample both surfaces once (in the reference's frame) and query each direction once.

    Returns the reference side (samples ``A``) and the test side (samples ``B``).
    """
    from scipy.spatial import cKDTree

    ref = as_mesh(reference, name="reference")
    tst = as_mesh(test, name="test")
    n = _check_int(n_samples, "n_samples", 1)
    s = _check_int(seed, "seed", 0)
    frame = frame_of_mesh(ref)
    meshes = (frame.normalize_mesh(ref), frame.normalize_mesh(tst))
    samples = [sample_surface(m, n, seed=s + i) for i, m in enumerate(meshes)]

    nearest_sample: list[np.ndarray | None] = [None, None]
    if to_samples:
        trees = [cKDTree(points) for points, _, _ in samples]
        for i in range(2):
            nearest_sample[i] = trees[1 - i].query(samples[i][0], k=1, workers=-1)[0]

    nearest_surface: list[np.ndarray | None] = [None, None]
    nearest_normals: list[np.ndarray | None] = [None, None]
    if to_surface:
        for i in range(2):
            other: Mesh = meshes[1 - i]
            dist, face, _ = closest_points_on_mesh(samples[i][0], other)
            nearest_surface[i] = dist
            nearest_normals[i] = face_normals(other)[face]

    ref_side, test_side = (
        _Side(samples[i][1], nearest_sample[i], nearest_surface[i], nearest_normals[i]) for i in range(2)
    )
    return ref_side, test_side


def _two_way_mean(a: np.ndarray, b: np.ndarray) -> float:
    """½ (mean a + mean b): NeCGS's 1/(2 N_eval) Σ_A + 1/(2 N_eval) Σ_B with |A| = |B|."""
    return 0.5 * (float(np.mean(a)) + float(np.mean(b)))


def _queried(values: np.ndarray | None) -> np.ndarray:
    """A field of :class:`_Side` that :func:`_query` was asked for (``None`` only when it was not)."""
    if values is None:
        raise RuntimeError("internal error: a metric needs a distance that _query did not compute")
    return values


def _abs_cosines(side: _Side) -> np.ndarray:
    return np.abs(np.einsum("ij,ij->i", side.normals, _queried(side.surface_normals)))


def _chamfer(ref: _Side, test: _Side) -> float:
    return _two_way_mean(_queried(ref.to_samples), _queried(test.to_samples))


def _chamfer_p2s(ref: _Side, test: _Side) -> float:
    return _two_way_mean(_queried(ref.to_surface), _queried(test.to_surface))


def _normal_consistency(ref: _Side, test: _Side) -> float:
    return _two_way_mean(_abs_cosines(ref), _abs_cosines(test))


def _f_score(ref: _Side, test: _Side, tau: float) -> float:
    precision = float(np.mean(_queried(test.to_surface) < tau))
    recall = float(np.mean(_queried(ref.to_surface) < tau))
    if precision + recall == 0.0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def _hausdorff(ref: _Side, test: _Side) -> float:
    return max(float(np.max(_queried(ref.to_surface))), float(np.max(_queried(test.to_surface))))


def _f_score_key(tau: float) -> str:
    return f"f_score_{tau:g}"


def chamfer_distance(reference, test, *, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 0) -> float:
    """Chamfer distance between two sampled surfaces (NeCGS eq. 9), not squared.

    With ``A`` (reference) and ``B`` (test) the ``N`` area-uniform samples of each surface in the
    reference's normalized frame::

        CD = 1/(2N) Σ_{a∈A} min_{b∈B} ‖a − b‖₂  +  1/(2N) Σ_{b∈B} min_{a∈A} ‖b − a‖₂

    i.e. the *average* (½ of the sum) of the two one-way means of the plain (not squared)
    Euclidean distance to the nearest *sample* of the other surface. Because the other surface
    is only known through its samples, two identical meshes give about ``0.5 / sqrt(N / area)``
    (a few 10⁻³ at N = 10⁵), not 0; see :func:`chamfer_distance_p2s` for the version without
    that floor.

    Parameters
    ----------
    reference, test : Mesh, trimesh.Trimesh or (vertices, faces)
        The original and the reconstructed surface; lengths are taken in the normalized frame of
        ``reference`` (its bounding box mapped into [−0.9, 0.9]³).
    n_samples : int
        Samples per surface, ``N``.
    seed : int
        ``reference`` is sampled with ``seed``, ``test`` with ``seed + 1``.

    Returns
    -------
    float
        CD ≥ 0, in normalized units.

    Raises
    ------
    InputError
        Invalid mesh, ``n_samples < 1`` or a negative seed.
    """
    return _chamfer(*_query(reference, test, n_samples, seed, to_samples=True, to_surface=False))


def chamfer_distance_p2s(reference, test, *, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 0) -> float:
    """Point-to-surface Chamfer distance: eq. 9 with exact distances to the other mesh.

    With ``A``, ``B`` the samples of :func:`chamfer_distance` and ``d(x, S)`` the exact
    Euclidean distance from ``x`` to the nearest point on the triangles ``S``::

        CD_p2s = 1/(2N) Σ_{a∈A} d(a, S_test)  +  1/(2N) Σ_{b∈B} d(b, S_ref)

    (not squared, the average of both directions). A sample lies on its own surface, so two
    identical meshes give 0 up to rounding, and always ``CD_p2s ≤ CD``.

    Parameters
    ----------
    reference, test : Mesh, trimesh.Trimesh or (vertices, faces)
        Lengths are taken in the normalized frame of ``reference``.
    n_samples : int
        Samples per surface, ``N``.
    seed : int
        ``reference`` is sampled with ``seed``, ``test`` with ``seed + 1``.

    Returns
    -------
    float
        CD_p2s ≥ 0, in normalized units.
    """
    return _chamfer_p2s(*_query(reference, test, n_samples, seed, to_samples=False, to_surface=True))


def normal_consistency(reference, test, *, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 0) -> float:
    """Normal consistency (NeCGS eq. 10) with face normals and the absolute dot product.

    Each sample carries the unit normal ``n(x)`` of the face it was drawn from. Its partner
    normal ``n'(x)`` is the unit normal of the other mesh's triangle that holds the exact
    nearest point to ``x`` (the point-to-surface query; NeCGS takes the normal of the nearest
    *sample*, which adds sampling noise but measures the same thing)::

        NC = 1/(2N) Σ_{a∈A} |n(a) · n'_test(a)|  +  1/(2N) Σ_{b∈B} |n(b) · n'_ref(b)|

    The absolute value makes NC blind to orientation: a copy with every face flipped scores 1.
    Degenerate (zero-area) nearest triangles have a zero normal and count as 0.

    Parameters
    ----------
    reference, test : Mesh, trimesh.Trimesh or (vertices, faces)
        The two surfaces (the reference's frame is used, though NC is scale-invariant).
    n_samples : int
        Samples per surface, ``N``.
    seed : int
        ``reference`` is sampled with ``seed``, ``test`` with ``seed + 1``.

    Returns
    -------
    float
        NC in [0, 1]; 1 means matching normals everywhere.
    """
    return _normal_consistency(*_query(reference, test, n_samples, seed, to_samples=False, to_surface=True))


def f_score(reference, test, tau: float, *, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 0) -> float:
    """F-score at threshold ``tau`` (NeCGS eqs. 11–12) with point-to-surface distances.

    ::

        precision = |{b ∈ B : d(b, S_ref)  < tau}| / N     (test samples near the reference)
        recall    = |{a ∈ A : d(a, S_test) < tau}| / N     (reference samples near the test)
        F         = 2 · precision · recall / (precision + recall),   0 when both are 0

    NeCGS eq. 12 measures the distance to the nearest *sample* of the other surface, writes the
    counts without the 1/N and swaps the two names; F is symmetric in them, and exact
    point-to-surface distances remove the sampling noise (identical meshes give exactly 1).
    The comparison is strict (``<``), as in the paper.

    Parameters
    ----------
    reference, test : Mesh, trimesh.Trimesh or (vertices, faces)
        Lengths are taken in the normalized frame of ``reference``.
    tau : float
        Threshold, > 0, in normalized units (NeCGS uses 0.005 and 0.01).
    n_samples : int
        Samples per surface, ``N``.
    seed : int
        ``reference`` is sampled with ``seed``, ``test`` with ``seed + 1``.

    Returns
    -------
    float
        F in [0, 1].
    """
    t = _check_tau(tau)
    return _f_score(*_query(reference, test, n_samples, seed, to_samples=False, to_surface=True), t)


def hausdorff_distance(reference, test, *, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 0) -> float:
    """Symmetric Hausdorff distance, estimated from the samples with exact distances::

        H = max( max_{a∈A} d(a, S_test),  max_{b∈B} d(b, S_ref) )

    The maxima run over the ``N`` samples rather than the whole surfaces, so ``H`` can fall a
    little short of the true Hausdorff distance (by about the sample spacing times the slope of
    the distance), never above it.

    Parameters
    ----------
    reference, test : Mesh, trimesh.Trimesh or (vertices, faces)
        Lengths are taken in the normalized frame of ``reference``.
    n_samples : int
        Samples per surface, ``N``.
    seed : int
        ``reference`` is sampled with ``seed``, ``test`` with ``seed + 1``.

    Returns
    -------
    float
        H ≥ 0, in normalized units.
    """
    return _hausdorff(*_query(reference, test, n_samples, seed, to_samples=False, to_surface=True))


def compare_meshes(
    reference,
    test,
    *,
    n_samples: int = DEFAULT_N_SAMPLES,
    seed: int = 0,
    taus=DEFAULT_TAUS,
) -> dict[str, float]:
    """Every mesh metric at once, sampling each surface once and querying each direction once.

    The values equal those of :func:`chamfer_distance`, :func:`chamfer_distance_p2s`,
    :func:`normal_consistency`, :func:`f_score` and :func:`hausdorff_distance` called with the
    same ``n_samples`` and ``seed`` (see them for the definitions), at the cost of one call.

    Parameters
    ----------
    reference, test : Mesh, trimesh.Trimesh or (vertices, faces)
        The original and the reconstructed surface; lengths are taken in the normalized frame
        of ``reference``.
    n_samples : int
        Samples per surface (default 10⁵, as in NeCGS).
    seed : int
        ``reference`` is sampled with ``seed``, ``test`` with ``seed + 1``.
    taus : float or iterable of float
        F-score thresholds in normalized units.

    Returns
    -------
    dict of str to float
        ``chamfer``, ``chamfer_p2s``, ``normal_consistency``, ``hausdorff`` and one
        ``f_score_<tau>`` per threshold with ``tau`` formatted by ``f"{tau:g}"`` (by default
        ``f_score_0.005`` and ``f_score_0.01``).

    Raises
    ------
    InputError
        Invalid mesh, ``n_samples < 1``, a negative seed or a threshold that is not > 0.
    """
    if isinstance(taus, (int, float, np.number)):
        taus = (taus,)
    try:
        thresholds = [_check_tau(t) for t in taus]
    except TypeError:
        raise InputError(f"taus must be an iterable of numbers, got {taus!r}") from None
    ref, test_side = _query(reference, test, n_samples, seed, to_samples=True, to_surface=True)
    result = {
        "chamfer": _chamfer(ref, test_side),
        "chamfer_p2s": _chamfer_p2s(ref, test_side),
        "normal_consistency": _normal_consistency(ref, test_side),
    }
    for t in thresholds:
        result[_f_score_key(t)] = _f_score(ref, test_side, t)
    result["hausdorff"] = _hausdorff(ref, test_side)
    return result
