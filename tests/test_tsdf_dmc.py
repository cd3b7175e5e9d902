"""Deformable marching cubes and TSDF-Def volumes (NeCGS §3.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nc3d.errors import InputError
from nc3d.geometry.marching import (
    deformable_marching_cubes,
    grid_points,
    marching_cubes_sdf,
    mesh_from_tsdf_def,
)
from nc3d.geometry.normalize import frame_of_mesh
from nc3d.geometry.tsdf import (
    TsdfDefSettings,
    cached_tsdf_def,
    mesh_from_volume,
    prepare_tsdf_def,
    seed_thin_parts,
    tsdf_volume,
)
from nc3d.io import load_mesh
from nc3d.mesh import Mesh
from nc3d.metrics import compare_meshes


def _torus(r: int) -> np.ndarray:
    p = grid_points(r).reshape(r, r, r, 3)
    q = np.stack([np.linalg.norm(p[..., :2], axis=-1) - 0.5, p[..., 2]], -1)
    return (np.linalg.norm(q, axis=-1) - 0.2).astype(np.float32)


def test_dmc_without_deformation_is_skimage():
    sdf = _torus(28)
    ref = marching_cubes_sdf(sdf)
    got = mesh_from_tsdf_def(sdf, np.zeros((*sdf.shape, 3), np.float32))
    assert got.vertices.shape == ref.vertices.shape
    assert np.abs(got.vertices - ref.vertices).max() < 1e-5
    np.testing.assert_array_equal(got.faces, ref.faces)
    assert got.area == pytest.approx(ref.area, rel=1e-5)
    assert got.signed_volume > 0  # outward faces


def test_dmc_vertices_inside_a_cube_stay_in_it():
    # a noisy field has ambiguous cubes where Lewiner's marching cubes adds a vertex inside the
    # cube; such a vertex lies on no grid edge (once mistaken for one, it flew far off the grid)
    sdf = np.random.default_rng(3).uniform(-1, 1, (12, 12, 12)).astype(np.float32)
    ref = marching_cubes_sdf(sdf)
    cell = 2 / 11
    g = (ref.vertices + 1) / cell  # grid units
    interior = (np.abs(g - np.round(g)) > 1e-3).sum(1) > 1
    assert interior.sum() > 0  # the case this test is about occurs
    got = mesh_from_tsdf_def(sdf, np.zeros((*sdf.shape, 3), np.float32))
    assert got.vertices.shape == ref.vertices.shape
    np.testing.assert_array_equal(got.faces, ref.faces)
    assert np.abs(got.vertices - ref.vertices)[~interior].max() < 1e-5  # edge vertices: skimage's
    cube = np.floor(g[interior])  # interior ones: in skimage's cube
    inside = (got.vertices[interior] + 1) / cell - cube
    assert inside.min() >= -1e-5 and inside.max() <= 1 + 1e-5


def test_dmc_vertex_exactly_on_a_grid_point():
    sdf = grid_points(9).reshape(9, 9, 9, 3)[..., 0] - 0.25  # x = 0.25 is a grid plane: zeros there
    mesh = mesh_from_tsdf_def(sdf)
    assert np.isfinite(mesh.vertices).all()
    assert np.abs(mesh.vertices[:, 0] - 0.25).max() < 1e-6


def test_dmc_deformation_moves_vertices_and_gradients_flow():
    sdf = torch.tensor(_torus(20), requires_grad=True)
    shift = torch.zeros((20, 20, 20, 3))
    shift[..., 2] = 0.01
    shift.requires_grad_(True)
    verts, faces = deformable_marching_cubes(sdf, shift)
    base, _ = deformable_marching_cubes(sdf.detach())
    assert torch.allclose(verts[:, 2] - base[:, 2], torch.full_like(base[:, 2], 0.01), atol=1e-5)
    (verts**2).sum().backward()
    assert sdf.grad is not None and sdf.grad.abs().sum() > 0
    assert shift.grad is not None and shift.grad.abs().sum() > 0
    # only grid points next to the surface get gradients
    assert (sdf.grad != 0).sum() < sdf.numel() // 2


def test_dmc_rejects_bad_grids():
    with pytest.raises(InputError, match="no sign change"):
        deformable_marching_cubes(np.ones((8, 8, 8), np.float32))
    with pytest.raises(InputError, match="3-D grid"):
        deformable_marching_cubes(np.ones((8, 8), np.float32))
    with pytest.raises(InputError, match="deformation"):
        deformable_marching_cubes(_torus(8), np.zeros((8, 8, 8, 2)))


@pytest.fixture(scope="module")
def spot() -> Mesh:
    from pathlib import Path

    import nc3d

    m = load_mesh(Path(nc3d.__file__).parent / "data" / "meshes" / "spot.obj")
    return frame_of_mesh(m).normalize_mesh(m)


def test_tsdf_def_beats_plain_tsdf(spot):
    torch.set_num_threads(1)
    plain = prepare_tsdf_def(spot, TsdfDefSettings(resolution=24, steps=0))
    fitted = prepare_tsdf_def(spot, TsdfDefSettings(resolution=24, steps=15, samples=5000))
    assert plain.shape == fitted.shape == (4, 24, 24, 24)
    assert np.abs(plain[1:]).max() == 0 and 0 < np.abs(fitted[1:]).max() < 1
    assert np.abs(fitted[0]).max() <= 1
    far = np.abs(plain[0]) >= 1
    np.testing.assert_array_equal(fitted[0][far], plain[0][far])  # only near-surface values move
    e_plain = compare_meshes(spot, mesh_from_volume(plain), n_samples=5000)["chamfer_p2s"]
    e_fitted = compare_meshes(spot, mesh_from_volume(fitted), n_samples=5000)["chamfer_p2s"]
    assert e_fitted < 0.8 * e_plain


def test_thin_plate_between_grid_planes_gets_a_surface():
    """A plate thinner than a cell, lying between two grid planes: the plain grid has no sign
    change at all; seeding moves grid points into it, and the fit keeps both faces."""
    import trimesh

    k = 16
    h = 2.0 / (k - 1)
    box = trimesh.creation.box(extents=(1.5, 0.35 * h, 1.5))  # centred on y = 0, midway between planes
    plate = Mesh(np.asarray(box.vertices, np.float64), np.asarray(box.faces, np.int64))
    assert tsdf_volume(plate, k).min() > 0  # no grid point inside
    torch.set_num_threads(1)
    without = prepare_tsdf_def(plate, TsdfDefSettings(resolution=k, steps=5, samples=4000, thin_parts=False))
    assert without[0].min() > 0
    with pytest.raises(InputError, match="no surface"):
        mesh_from_volume(without)
    seeded = prepare_tsdf_def(plate, TsdfDefSettings(resolution=k, steps=5, samples=4000))
    assert np.abs(seeded[1:]).max() < 1  # deformation stays within half a cell
    m = compare_meshes(plate, mesh_from_volume(seeded), n_samples=5000)
    assert m["f_score_0.01"] > 0.9 and m["chamfer_p2s"] < 0.01


def test_seeding_leaves_a_grid_that_sees_the_surface_alone(spot):
    k = 24
    tsdf = tsdf_volume(spot, k)
    samples = np.asarray(spot.vertices)
    seeded, unit = seed_thin_parts(spot, tsdf, samples)
    moved = np.abs(unit).max(-1) > 0
    # spot is thick at K = 24: only a few grid points near small features move, the rest are untouched
    assert moved.sum() < 0.01 * k**3
    np.testing.assert_array_equal(seeded[~moved], tsdf[~moved])
    assert (np.sign(seeded[moved]) == -np.sign(tsdf[moved])).all()  # a moved point crossed the surface


def test_tsdf_def_cache(spot, tmp_path):
    s = TsdfDefSettings(resolution=16, steps=2, samples=1000)
    a, hit_a = cached_tsdf_def(spot, s, tmp_path)
    b, hit_b = cached_tsdf_def(spot, s, tmp_path)
    assert (hit_a, hit_b) == (False, True)
    np.testing.assert_array_equal(a, b)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    files[0].write_bytes(b"garbage")  # a broken cache entry is recomputed, never trusted
    c, hit_c = cached_tsdf_def(spot, s, tmp_path)
    assert not hit_c
    np.testing.assert_array_equal(a, c)
    _, hit_d = cached_tsdf_def(spot, TsdfDefSettings(resolution=16, steps=3, samples=1000), tmp_path)
    assert not hit_d  # other settings, other entry


def _star(z: float = 0.0) -> Mesh:
    """A flat ten-pointed star outline at height ``z``: an open sheet, normalized frame."""
    t = np.linspace(0, 2 * np.pi, 11)[:-1]
    r = np.where(np.arange(10) % 2 == 0, 0.9, 0.4)
    v = np.vstack([[0, 0, z], np.c_[r * np.cos(t), r * np.sin(t), np.full(10, z)]])
    f = np.array([[0, 1 + i, 1 + (i + 1) % 10] for i in range(10)])
    return Mesh(v, f)


def test_one_sided_faces_are_the_faces_that_bound_no_solid():
    import trimesh

    from nc3d.geometry.sdf import one_sided_faces

    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    closed = Mesh(np.asarray(ball.vertices, np.float64), np.asarray(ball.faces, np.int64))
    assert not one_sided_faces(closed, 0.01).any()
    assert one_sided_faces(_star(), 0.01).all()
    # a ball with a leaf sticking out of it: only the leaf's faces
    leaf = _star(0.0)
    leaf = Mesh(leaf.vertices * 0.5 + [1.2, 0, 0], leaf.faces)
    both = Mesh(
        np.vstack([closed.vertices, leaf.vertices]),
        np.vstack([closed.faces, leaf.faces + len(closed.vertices)]),
    )
    got = one_sided_faces(both, 0.01)
    assert not got[: len(closed.faces)].any() and got[len(closed.faces) :].all()


def test_an_open_sheet_becomes_a_thin_shell_that_fits_the_sheet():
    """A flat star (no inside: winding number ±½ on both sides) is wrapped in a closed shell; the
    fit pulls both of its faces onto the sheet, so it decodes close to it two-sided. Without the
    shell there is no surface at all; a closed ball is left exactly as it was."""
    import trimesh

    torch.set_num_threads(1)
    star = _star(0.013)  # off the grid planes
    off = prepare_tsdf_def(star, TsdfDefSettings(resolution=32, steps=0, open_shell=0.0))
    assert off[0].min() > 0
    shelled = prepare_tsdf_def(star, TsdfDefSettings(resolution=32, steps=20, samples=5000))
    m = compare_meshes(star, mesh_from_volume(shelled), n_samples=5000)
    assert m["f_score_0.01"] > 0.8 and m["chamfer_p2s"] < 0.01, m
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.6)
    closed = Mesh(np.asarray(ball.vertices, np.float64), np.asarray(ball.faces, np.int64))
    s = dict(resolution=16, steps=2, samples=1000)
    assert np.array_equal(
        prepare_tsdf_def(closed, TsdfDefSettings(**s)),
        prepare_tsdf_def(closed, TsdfDefSettings(**s, open_shell=0.0)),
    )


def test_a_sheet_with_degenerate_faces_still_gets_its_shell():
    """A flat outline plus a zero-area triangle (as exported assets have): nothing bounds a solid,
    the degenerate face included, so the volume is the shell alone — no error about the 'solid'."""
    star = _star(0.013)
    faces = np.vstack([star.faces, [[1, 2, 2]]])  # a triangle with a repeated vertex
    volume = prepare_tsdf_def(Mesh(star.vertices, faces), TsdfDefSettings(resolution=16, steps=0))
    assert volume[0].min() < 0 < volume[0].max()


def _spheres(n: int) -> list[Mesh]:
    import trimesh

    out = []
    for i in range(n):
        m = trimesh.creation.icosphere(subdivisions=2, radius=0.5 + 0.1 * i)
        out.append(Mesh(np.asarray(m.vertices), np.asarray(m.faces)))
    return out


def test_tsdf_defs_prepared_as_ray_tasks_match_and_fill_the_cache(tmp_path, monkeypatch):
    # the Ray path end to end without Ray (an in-process stand-in): the same volumes as here, only
    # the meshes missing from the cache become tasks, and their volumes are written to it
    from nc3d import _optional
    from nc3d.geometry.tsdf import TsdfDefSettings, prepare_tsdf_defs
    from test_keras_batch import _InProcessRay

    fake = _InProcessRay()
    real_require = _optional.require
    monkeypatch.setattr(_optional, "require", lambda m, f: fake if m == "ray" else real_require(m, f))
    meshes = _spheres(3)
    settings = TsdfDefSettings(resolution=12, steps=2, samples=2000)
    here = np.zeros((3, 4, 12, 12, 12), np.float32)
    prepare_tsdf_defs(meshes[:1], settings, tmp_path, here[:1])  # shape 0 is in the cache already
    prepare_tsdf_defs(meshes, settings, None, here)
    on_ray = np.zeros_like(here)
    prepare_tsdf_defs(meshes, settings, tmp_path, on_ray, ray_address="local")
    assert np.array_equal(on_ray, here)
    assert len(fake.tasks) == 2 and fake.started and fake.stopped
    assert len(list(tmp_path.glob("*.npz"))) == 3  # the tasks' volumes were cached
    fake.tasks.clear()
    prepare_tsdf_defs(meshes, settings, tmp_path, on_ray, ray_address="local")
    assert not fake.tasks  # everything came from the cache: resumable


@pytest.mark.slow  # starting Ray takes ~10-15 s on 2 cores
def test_tsdf_defs_on_a_local_ray_match_this_process(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'nc3d[ray]')")
    from nc3d.geometry.tsdf import TsdfDefSettings, prepare_tsdf_defs

    meshes = _spheres(3)
    settings = TsdfDefSettings(resolution=12, steps=2, samples=2000)
    here, there = np.zeros((2, 3, 4, 12, 12, 12), np.float32)
    prepare_tsdf_defs(meshes, settings, None, here)
    prepare_tsdf_defs(meshes, settings, tmp_path, there, ray_address="local")
    assert np.array_equal(here, there)
