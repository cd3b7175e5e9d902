"""Mesh and volume metrics against analytic answers.

The mesh metrics work in the normalized frame of the *reference* (scale = 0.9 / largest
half-extent), so every expected length is built in that frame: a displacement of ``x``
normalized units is ``x / scale`` in the mesh's own units.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import trimesh

from nc3d.errors import InputError
from nc3d.geometry.normalize import frame_of_mesh
from nc3d.mesh import Mesh, as_mesh
from nc3d.metrics import (
    chamfer_distance,
    chamfer_distance_p2s,
    compare_meshes,
    compare_volumes,
    f_score,
    hausdorff_distance,
    mse,
    normal_consistency,
    psnr,
)

N = 20_000  # samples per surface: plenty for these tolerances, fast on 2 cores
KEYS = {"chamfer", "chamfer_p2s", "normal_consistency", "f_score_0.005", "f_score_0.01", "hausdorff"}
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _sphere(radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> Mesh:
    s = trimesh.creation.icosphere(subdivisions=5, radius=radius)
    return as_mesh((s.vertices + np.asarray(center), s.faces))


@pytest.fixture(scope="module")
def sphere() -> Mesh:
    return _sphere()


@pytest.fixture(scope="module")
def scale(sphere) -> float:
    """Original → normalized length factor of the reference sphere (≈ 0.9)."""
    return frame_of_mesh(sphere).scale


@pytest.fixture(scope="module")
def polygon_cos(sphere) -> float:
    """Smallest distance from the origin to a face plane of the unit icosphere (≤ 1).

    Two concentric icospheres of radii r and r + δ with the same tessellation have parallel
    faces ``δ · h`` apart, h in [polygon_cos, 1]: that is the polygonization error of the
    analytic answer δ.
    """
    tri = sphere.vertices[sphere.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return float(np.abs(np.einsum("ij,ij->i", n, tri[:, 0])).min())


@pytest.fixture(scope="module")
def self_metrics(sphere) -> dict:
    return compare_meshes(sphere, sphere, n_samples=N, seed=0)


# --- mesh metrics: analytic cases ------------------------------------------------------------


@pytest.mark.parametrize("delta_n", [0.002, 0.02])
def test_concentric_spheres(sphere, scale, polygon_cos, delta_n):
    """Radius r vs r + δ: CD_p2s = Hausdorff ≈ δ (normalized); F-score 1 below τ, 0 above."""
    bigger = _sphere(1.0 + delta_n / scale)
    m = compare_meshes(sphere, bigger, n_samples=N, seed=0)
    assert set(m) == KEYS
    assert all(type(v) is float for v in m.values())
    lo, hi = delta_n * polygon_cos * (1 - 1e-9), delta_n * (1 + 1e-9)
    assert lo <= m["chamfer_p2s"] <= hi
    assert lo <= m["hausdorff"] <= hi
    assert m["chamfer"] >= m["chamfer_p2s"]  # a nearest sample is never nearer than the surface
    assert m["normal_consistency"] > 0.999
    if delta_n < 0.005:
        assert m["f_score_0.005"] == 1.0 and m["f_score_0.01"] == 1.0
    else:
        assert m["f_score_0.005"] == 0.0 and m["f_score_0.01"] == 0.0


def test_identical_meshes(self_metrics):
    m = self_metrics
    assert m["chamfer_p2s"] < 1e-12
    assert m["hausdorff"] < 1e-12
    assert m["normal_consistency"] > 0.9999
    assert m["f_score_0.005"] == 1.0 and m["f_score_0.01"] == 1.0
    # Sampled Chamfer has a noise floor: ~0.5 / sqrt(N / area) with area ≈ 4π·0.9².
    floor = 0.5 / math.sqrt(N / (4 * math.pi * 0.81))
    assert 0.3 * floor < m["chamfer"] < 3 * floor


def test_flipped_normals_keep_nc_one(sphere):
    flipped = Mesh(sphere.vertices, np.ascontiguousarray(sphere.faces[:, ::-1]))
    assert normal_consistency(sphere, flipped, n_samples=N) > 0.9999


def test_translated_copy_hausdorff(sphere, scale):
    t_n = 0.05
    moved = _sphere(center=(t_n / scale, 0.0, 0.0))
    h = hausdorff_distance(sphere, moved, n_samples=N)
    assert h == pytest.approx(t_n, rel=2e-2)
    assert h <= t_n * (1 + 1e-3)


def test_sphere_vs_cube_nc_below_one(sphere):
    cube = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    nc = normal_consistency(sphere, cube, n_samples=N)
    # Analytically about 0.8 (mean |cos| between sphere normals and the nearest cube face).
    assert 0.6 < nc < 0.9


def test_single_metric_functions_match_compare(sphere, scale):
    test = _sphere(1.0 + 0.004 / scale)
    m = compare_meshes(sphere, test, n_samples=N, seed=3, taus=(0.005, 0.003))
    assert set(m) == {
        "chamfer",
        "chamfer_p2s",
        "normal_consistency",
        "f_score_0.005",
        "f_score_0.003",
        "hausdorff",
    }
    kw = dict(n_samples=N, seed=3)
    assert chamfer_distance(sphere, test, **kw) == m["chamfer"]
    assert chamfer_distance_p2s(sphere, test, **kw) == m["chamfer_p2s"]
    assert normal_consistency(sphere, test, **kw) == m["normal_consistency"]
    assert hausdorff_distance(sphere, test, **kw) == m["hausdorff"]
    assert f_score(sphere, test, 0.005, **kw) == m["f_score_0.005"] == 1.0
    assert f_score(sphere, test, 0.003, **kw) == m["f_score_0.003"] == 0.0


def test_f_score_partial_overlap(sphere, scale):
    """Half a sphere vs the whole one: precision 1, recall ≈ ½ → F ≈ 2/3."""
    upper = sphere.faces[sphere.vertices[sphere.faces].mean(axis=1)[:, 2] > 0]
    half = as_mesh((sphere.vertices, upper))
    f = f_score(sphere, half, 0.001, n_samples=N)
    assert f == pytest.approx(2 / 3, abs=0.02)


def test_accepts_trimesh_and_tuples(sphere):
    tm = sphere.to_trimesh()
    a = compare_meshes(tm, (sphere.vertices, sphere.faces), n_samples=1000)
    b = compare_meshes(sphere, sphere, n_samples=1000)
    assert a == b
    assert set(compare_meshes(sphere, sphere, n_samples=100, taus=0.02)) == {
        "chamfer",
        "chamfer_p2s",
        "normal_consistency",
        "f_score_0.02",
        "hausdorff",
    }


def test_repeatable(sphere, scale, self_metrics):
    assert compare_meshes(sphere, sphere, n_samples=N, seed=0) == self_metrics
    other = compare_meshes(sphere, sphere, n_samples=N, seed=1)
    assert other["chamfer"] != self_metrics["chamfer"]
    assert other["chamfer"] == pytest.approx(self_metrics["chamfer"], rel=0.05)
    test = _sphere(1.0 + 0.002 / scale)
    a = chamfer_distance_p2s(sphere, test, n_samples=N, seed=5)
    assert a == chamfer_distance_p2s(sphere, test, n_samples=N, seed=5)
    b = chamfer_distance_p2s(sphere, test, n_samples=N, seed=6)
    assert a != b and a == pytest.approx(b, rel=1e-3)


# --- mesh metrics: input validation ----------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        (np.array([[0.0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.array([[0, 1, 2]])),
        (np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.zeros((0, 3), dtype=int)),
        (np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 5]])),
        (np.zeros((3, 2)), np.array([[0, 1, 2]])),
        "not a mesh",
    ],
    ids=["nan", "point-cloud", "index-range", "2d-vertices", "string"],
)
def test_bad_mesh_raises(sphere, bad):
    with pytest.raises(InputError):
        compare_meshes(sphere, bad, n_samples=100)
    with pytest.raises(InputError):
        chamfer_distance(bad, sphere, n_samples=100)


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"n_samples": 2.5}, {"n_samples": True}, {"seed": -1}])
def test_bad_sampling_args_raise(sphere, kwargs):
    with pytest.raises(InputError):
        compare_meshes(sphere, sphere, **kwargs)


@pytest.mark.parametrize("tau", [0.0, -0.01, float("nan"), float("inf"), "x"])
def test_bad_tau_raises(sphere, tau):
    with pytest.raises(InputError):
        f_score(sphere, sphere, tau, n_samples=100)
    with pytest.raises(InputError):
        compare_meshes(sphere, sphere, n_samples=100, taus=(0.01, tau))


# --- real data -------------------------------------------------------------------------------


def _mesh_files() -> list[Path]:
    root = DATA / "meshes"
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in {".obj", ".ply", ".stl", ".off"}
    )


def _load(path: Path) -> Mesh:
    try:
        from nc3d.io import load_mesh
    except ImportError:  # pragma: no cover - io not there yet
        tm = trimesh.load(str(path), force="mesh", process=False)
        return as_mesh((tm.vertices, tm.faces), name=str(path))
    return load_mesh(path)


def test_real_meshes_against_themselves():
    files = _mesh_files()
    if not files:
        pytest.skip(f"no mesh data under {DATA / 'meshes'}")
    for path in files:
        mesh = _load(path)
        m = compare_meshes(mesh, mesh, n_samples=N, seed=0)
        assert set(m) == KEYS, path
        assert m["chamfer_p2s"] < 1e-9, (path, m)
        assert m["hausdorff"] < 1e-6, (path, m)
        assert m["f_score_0.005"] == 1.0 and m["f_score_0.01"] == 1.0, (path, m)
        assert m["normal_consistency"] > 0.999, (path, m)
        assert 0 < m["chamfer"] < 0.05, (path, m)


# --- volume metrics --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ramp() -> np.ndarray:
    """A (16, 16, 16) float32 volume with range exactly 3 (from −1 to 2)."""
    return np.linspace(-1.0, 2.0, 16**3, dtype=np.float64).reshape(16, 16, 16).astype(np.float32)


@pytest.mark.parametrize("c", [0.5, -0.01, 1e-4])
def test_psnr_constant_offset(ramp, c):
    R = float(ramp.max()) - float(ramp.min())
    test = ramp.astype(np.float64) + c
    assert mse(ramp, test) == pytest.approx(c * c, rel=1e-9)
    assert psnr(ramp, test) == pytest.approx(20 * math.log10(R / abs(c)), abs=1e-6)
    assert psnr(ramp, test, data_range=1.0) == pytest.approx(20 * math.log10(1.0 / abs(c)), abs=1e-6)
    v = compare_volumes(ramp, test)
    assert set(v) == {"mse", "psnr"} and all(type(x) is float for x in v.values())
    assert v["psnr"] == psnr(ramp, test) and v["mse"] == mse(ramp, test)


def test_psnr_identical_is_inf(ramp):
    assert mse(ramp, ramp.copy()) == 0.0
    assert psnr(ramp, ramp.copy()) == math.inf
    assert compare_volumes(ramp, ramp) == {"mse": 0.0, "psnr": math.inf}


def test_integer_volumes_do_not_wrap():
    ref = np.array([0, 255, 100], dtype=np.uint8)
    test = np.array([10, 245, 100], dtype=np.uint8)
    assert mse(ref, test) == pytest.approx(200 / 3)
    assert psnr(ref, test) == pytest.approx(10 * math.log10(255**2 / (200 / 3)))


def test_constant_reference():
    ref = np.full((4, 4, 4), 7.0)
    assert psnr(ref, ref) == math.inf
    assert psnr(ref, ref + 1.0) == -math.inf
    assert psnr(ref, ref + 1.0, data_range=10.0) == pytest.approx(20.0)


def test_volume_shape_mismatch_names_both_shapes(ramp):
    with pytest.raises(InputError, match=r"\(16, 16, 16\).*\(16, 16, 15\)"):
        mse(ramp, ramp[:, :, :15])
    with pytest.raises(InputError):
        compare_volumes(ramp, ramp.ravel())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_volume_non_finite_raises(ramp, bad):
    broken = ramp.copy()
    broken[3, 4, 5] = bad
    with pytest.raises(InputError):
        psnr(ramp, broken)
    with pytest.raises(InputError):
        psnr(broken, ramp)


@pytest.mark.parametrize("bad", [np.zeros(0), np.array(["a", "b"]), np.array([1 + 2j, 3j])])
def test_volume_bad_arrays_raise(bad):
    with pytest.raises(InputError):
        mse(bad, bad)


@pytest.mark.parametrize("data_range", [0.0, -1.0, float("nan"), "big"])
def test_bad_data_range_raises(ramp, data_range):
    with pytest.raises(InputError):
        psnr(ramp, ramp + 0.1, data_range=data_range)
