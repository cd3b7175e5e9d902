"""Frames, signed distances and sampling, checked against independent brute-force references."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared_data, shared_mesh_paths
from nc3d import FormatError, InputError
from nc3d.geometry.normalize import Frame, frame_of_mesh
from nc3d.geometry.sampling import sample_importance, sample_surface
from nc3d.geometry.sdf import closest_points_on_mesh, signed_distance_to_mesh, winding_number
from nc3d.io import load_mesh
from nc3d.mesh import Mesh


# -- independent references (written for the tests, not sharing code with nc3d) ----------------
def brute_winding_number(points, mesh):
    """Exact generalized winding number: sum of signed solid angles (Van Oosterom & Strackee)."""
    a = mesh.vertices[mesh.faces][None, :, 0, :] - points[:, None, :]
    b = mesh.vertices[mesh.faces][None, :, 1, :] - points[:, None, :]
    c = mesh.vertices[mesh.faces][None, :, 2, :] - points[:, None, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    den = (
        la * lb * lc
        + np.einsum("pfi,pfi->pf", a, b) * lc
        + np.einsum("pfi,pfi->pf", b, c) * la
        + np.einsum("pfi,pfi->pf", c, a) * lb
    )
    return (2.0 * np.arctan2(det, den)).sum(axis=1) / (4.0 * np.pi)


def brute_point_triangle_distance(points, mesh):
    """Exact distance to the nearest triangle: min over faces of the distance to each triangle,
    computed as the min of the in-plane projection (when inside) and the three edge segments."""
    tri = mesh.vertices[mesh.faces]  # (f, 3, 3)
    p = points[:, None, :]  # (n, 1, 3)
    best = np.full(len(points), np.inf)

    def seg(p, a, b):
        ab = b - a
        t = np.clip(np.einsum("nfi,fi->nf", p - a, ab) / np.maximum((ab * ab).sum(-1), 1e-300), 0, 1)
        return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)

    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    for u, v in ((a, b), (b, c), (c, a)):
        best = np.minimum(best, seg(p, u, v).min(axis=1))
    n = np.cross(b - a, c - a)
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    h = np.einsum("nfi,fi->nf", p - a, n)
    proj = p - h[..., None] * n
    inside = np.ones(h.shape, dtype=bool)
    for u, v in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("nfi,fi->nf", np.cross(v - u, proj - u), n) >= 0
    plane = np.where(inside, np.abs(h), np.inf).min(axis=1)
    return np.minimum(best, plane)


# -- frames ----------------------------------------------------------------------------------------
def test_frame_maps_largest_half_extent_to_0_9(box):
    frame = frame_of_mesh(box)
    v = frame.to_normalized(box.vertices)
    assert np.allclose(v.min(0) + v.max(0), 0)  # centred
    assert np.abs(v).max() == pytest.approx(0.9)
    assert np.allclose(frame.to_original(v), box.vertices)
    assert np.allclose(frame.matrix() @ frame.inverse_matrix(), np.eye(4))
    m = frame.matrix() @ np.c_[box.vertices, np.ones(len(box.vertices))].T
    assert np.allclose(m[:3].T, v)


def test_frame_serializes_exactly(box):
    frame = frame_of_mesh(box)
    import json

    back = Frame.from_dict(json.loads(json.dumps(frame.to_dict())))
    assert back == frame


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {},
        {"center": [0, 0], "scale": 1},
        {"center": [0, 0, 0], "scale": 0},
        {"center": [0, 0, float("nan")], "scale": 1},
        {"center": [0, 0, 0], "scale": True},
        {"center": [0, 0, 0], "scale": 1, "extra": 1},
        {"center": "abc", "scale": 1},
    ],
)
def test_frame_from_bad_dict_is_format_error(bad):
    with pytest.raises(FormatError):
        Frame.from_dict(bad)


# -- signed distance -----------------------------------------------------------------------------------
def test_sphere_signed_distance_is_analytic(sphere):
    rng = np.random.default_rng(1)
    p = rng.uniform(-2, 2, size=(2000, 3))
    r = np.linalg.norm(p, axis=1)
    sdf = signed_distance_to_mesh(p, sphere)
    # the icosphere is inscribed: its faces lie up to ~0.5% inside the unit sphere
    assert np.all(np.sign(sdf[np.abs(r - 1) > 0.01]) == np.sign(r - 1)[np.abs(r - 1) > 0.01])
    assert np.allclose(np.abs(sdf), np.abs(r - 1), atol=0.01)


def test_distance_matches_brute_force(sphere, box):
    rng = np.random.default_rng(2)
    for mesh in (sphere, box):
        lo, hi = mesh.bounds
        p = rng.uniform(lo - 0.5, hi + 0.5, size=(300, 3))
        d, face, closest = closest_points_on_mesh(p, mesh)
        assert np.allclose(d, brute_point_triangle_distance(p, mesh), atol=1e-9)
        assert np.allclose(np.linalg.norm(p - closest, axis=1), d, atol=1e-9)
        # libigl's FAST_WINDING_NUMBER signed_distance rescales; ours must equal the exact value
        assert np.allclose(np.abs(signed_distance_to_mesh(p, mesh)), d, atol=1e-12)


@needs_shared_data()
@pytest.mark.parametrize(
    "name", ["spot.obj", "hemisphere.off", "soup.stl", "self_intersectA.obj", "hole_capsule.off"]
)
def test_sign_matches_brute_force_winding_number(name):
    (path,) = [p for p in shared_mesh_paths() if p.name == name]
    mesh = load_mesh(path)
    rng = np.random.default_rng(3)
    lo, hi = mesh.bounds
    p = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), size=(400, 3))
    exact = brute_winding_number(p, mesh)
    fast = winding_number(p, mesh)
    assert np.abs(fast - exact).max() < 0.02
    clear = np.abs(np.abs(exact) - 0.5) > 0.05  # away from the ambiguous level
    sdf = signed_distance_to_mesh(p, mesh)
    assert np.array_equal(sdf[clear] < 0, np.abs(exact[clear]) > 0.5)


@needs_shared_data()
@pytest.mark.parametrize("path", shared_mesh_paths(), ids=lambda p: p.name)
def test_signed_distance_on_every_shared_mesh(path):
    mesh = load_mesh(path)
    frame = frame_of_mesh(mesh)
    norm = frame.normalize_mesh(mesh)
    rng = np.random.default_rng(4)
    far = rng.normal(size=(64, 3))
    far = 3.0 * far / np.linalg.norm(far, axis=1, keepdims=True)  # ≥ 3 − 0.9·√3 from the shape
    surf, normals, _ = sample_surface(norm, 256, seed=0)
    sdf = signed_distance_to_mesh(np.r_[far, surf], norm)
    assert np.all(np.isfinite(sdf))
    assert np.all(sdf[:64] > 1.4)  # far points are outside and far
    assert np.abs(sdf[64:]).max() < 1e-9  # surface samples lie on the surface


def test_signed_distance_rejects_bad_points(sphere):
    with pytest.raises(InputError, match="shape"):
        signed_distance_to_mesh(np.zeros((3, 2)), sphere)
    with pytest.raises(InputError, match="NaN"):
        signed_distance_to_mesh(np.array([[0.0, np.nan, 0.0]]), sphere)


# -- sampling -----------------------------------------------------------------------------------------
def test_surface_samples_are_area_uniform_and_on_the_surface():
    # two triangles, areas 1/2 and 2 → 20% / 80% of the samples
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 5], [2, 0, 5], [0, 2, 5]], dtype=float)
    mesh = Mesh(v, np.array([[0, 1, 2], [3, 4, 5]]))
    p, n, f = sample_surface(mesh, 50_000, seed=0)
    assert abs((f == 0).mean() - 0.2) < 0.01
    assert np.allclose(n, [0, 0, 1])
    assert np.allclose(p[f == 0, 2], 0) and np.allclose(p[f == 1, 2], 5)
    first = p[f == 0]
    assert np.all(first[:, 0] + first[:, 1] <= 1 + 1e-12) and np.all(first[:, :2] >= 0)
    # uniform inside the triangle: the centroid of the samples is the triangle's centroid
    assert np.allclose(first[:, :2].mean(0), [1 / 3, 1 / 3], atol=0.01)


def test_sampling_is_seeded(sphere):
    a = sample_surface(sphere, 100, seed=7)[0]
    assert np.array_equal(a, sample_surface(sphere, 100, seed=7)[0])
    assert not np.array_equal(a, sample_surface(sphere, 100, seed=8)[0])
    p1, s1 = sample_importance(sphere, 500, beta=30, seed=1)
    p2, s2 = sample_importance(sphere, 500, beta=30, seed=1)
    assert np.array_equal(p1, p2) and np.array_equal(s1, s2)


def test_importance_sampling_concentrates_with_beta(sphere):
    _, uniform = sample_importance(sphere, 4000, beta=0, seed=0)
    _, near = sample_importance(sphere, 4000, beta=60, seed=0)
    # β = 0 is uniform in the cube [-1, 1]^3: the unit ball holds π/6 of it;
    # β = 60 → E|sdf| ≈ 1/60 near a locally flat surface
    assert (uniform < 0).mean() == pytest.approx(np.pi / 6, abs=0.03)
    assert np.abs(near).mean() < 0.03
    assert np.allclose(
        near, signed_distance_to_mesh(sample_importance(sphere, 4000, beta=60, seed=0)[0], sphere)
    )


def test_large_queries_are_reordered_but_answered_in_input_order(sphere):
    import igl

    p = np.random.default_rng(5).uniform(-1.5, 1.5, size=(50_000, 3))  # above the z-order threshold
    d, face, closest = closest_points_on_mesh(p, sphere)
    sq, face_ref, closest_ref = igl.point_mesh_squared_distance(p, sphere.vertices, sphere.faces)
    assert (
        np.allclose(d, np.sqrt(sq)) and np.array_equal(face, face_ref) and np.allclose(closest, closest_ref)
    )
    w = igl.fast_winding_number(sphere.vertices, sphere.faces, p)
    # winding_number splits long triangles first (same exact value, other Barnes-Hut approximation)
    assert np.allclose(winding_number(p, sphere), w, atol=2e-3)
    assert np.allclose(signed_distance_to_mesh(p, sphere), np.where(np.abs(w) > 0.5, -1, 1) * np.sqrt(sq))


def test_inverted_component_is_still_solid(box, sphere):
    """A shell with all faces pointing inward has winding number -1 inside: still inside."""
    inverted = Mesh(box.vertices, box.faces[:, ::-1].copy())
    both = Mesh(
        np.r_[sphere.vertices, inverted.vertices], np.r_[sphere.faces, inverted.faces + len(sphere.vertices)]
    )
    p = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])  # in the sphere, in the box, outside
    assert np.allclose(winding_number(p, both), [1, -1, 0], atol=0.02)
    assert list(np.sign(signed_distance_to_mesh(p, both))) == [-1, -1, 1]
