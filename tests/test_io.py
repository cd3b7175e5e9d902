from __future__ import annotations

import numpy as np
import pytest
import trimesh

from conftest import SHARED_DATA, needs_shared_data, shared_mesh_paths
from nc3d import InputError
from nc3d.io import load_mesh, save_mesh
from nc3d.mesh import Mesh, as_mesh


@needs_shared_data()
@pytest.mark.parametrize("path", shared_mesh_paths(), ids=lambda p: p.name)
def test_every_shared_mesh_loads(path):
    mesh = load_mesh(path)
    assert mesh.vertices.dtype == np.float64 and mesh.vertices.shape[1] == 3
    assert mesh.faces.dtype == np.int64 and mesh.faces.shape[1] == 3
    assert np.all(np.isfinite(mesh.vertices))
    assert mesh.faces.min() >= 0 and mesh.faces.max() < len(mesh.vertices)
    assert mesh.area > 0


@needs_shared_data()
def test_stl_vertices_are_merged_and_quads_triangulated():
    # counts from ../shared/data/meshes/MANIFEST.tsv (vertices after merging by position)
    thingi = load_mesh(SHARED_DATA / "meshes/thingi10k/thingi10k_65004.stl")
    assert (len(thingi.vertices), len(thingi.faces)) == (731, 1466)
    fandisk = load_mesh(SHARED_DATA / "meshes/pmp-library/fandisk_quads.off")
    assert len(fandisk.faces) == 1528  # 764 quads → 1528 triangles


def test_scene_is_merged(tmp_path):
    a = trimesh.creation.box()
    b = trimesh.creation.icosphere(subdivisions=1)
    b.apply_translation((3, 0, 0))
    path = tmp_path / "scene.glb"
    path.write_bytes(trimesh.Scene([a, b]).export(file_type="glb"))
    mesh = load_mesh(path)
    assert len(mesh.faces) == len(a.faces) + len(b.faces)
    assert mesh.bounds[1, 0] == pytest.approx(4.0)


@pytest.mark.parametrize("ext", [".obj", ".ply", ".stl", ".off", ".glb"])
def test_write_read_round_trip(tmp_path, box, ext):
    path = save_mesh(tmp_path / f"box{ext}", box)
    back = load_mesh(path)
    assert len(back.faces) == len(box.faces)
    assert np.allclose(back.bounds, box.bounds, atol=1e-6)
    assert back.signed_volume == pytest.approx(box.signed_volume, rel=1e-5)


def test_save_refuses_to_overwrite(tmp_path, box, sphere):
    path = save_mesh(tmp_path / "m.ply", box)
    with pytest.raises(InputError, match="not overwritten"):
        save_mesh(path, sphere)
    assert len(load_mesh(path).faces) == len(box.faces)  # untouched
    save_mesh(path, sphere, force=True)
    assert len(load_mesh(path).faces) == len(sphere.faces)
    assert [p.name for p in tmp_path.iterdir()] == ["m.ply"]  # no temporary files left


def _write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.obj", "", "empty"),
        ("points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
        ("nan.obj", "v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN"),
        ("oob.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", "out of range"),
        ("point.obj", "v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "zero-extent"),
        ("line.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
        ("mesh.xyz", "0 0 0\n", "unknown mesh format"),
        ("garbage.stl", bytes(range(256)) * 4, "garbage.stl"),
    ],
)
def test_bad_files_raise_input_error_naming_the_file(tmp_path, name, content, message):
    path = _write(tmp_path, name, content)
    with pytest.raises(InputError) as info:
        load_mesh(path)
    assert name in str(info.value)
    assert message.lower() in str(info.value).lower()


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_mesh(tmp_path / "nope.obj")


def test_point_cloud_ply(tmp_path):
    path = tmp_path / "cloud.ply"
    path.write_bytes(trimesh.PointCloud(np.random.default_rng(0).random((20, 3))).export(file_type="ply"))
    with pytest.raises(InputError, match="no faces"):
        load_mesh(path)


def test_as_mesh_accepts_trimesh_and_pairs(box):
    tm = box.to_trimesh()
    assert as_mesh(tm).faces.shape == box.faces.shape
    m = as_mesh((box.vertices.astype(np.float32), box.faces.astype(np.int32)))
    assert m.vertices.dtype == np.float64 and m.faces.dtype == np.int64
    with pytest.raises(InputError, match="shape"):
        as_mesh((np.zeros((4, 2)), np.zeros((1, 3), dtype=int)))
    with pytest.raises(InputError):
        as_mesh("not a mesh")


def test_box_faces_point_outward(box):
    assert box.signed_volume == pytest.approx(1.0)
    assert isinstance(box, Mesh)
