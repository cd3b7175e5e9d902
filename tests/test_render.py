"""Rendering (sphere tracing, mesh ray casting, PNG), CSG, and the `render`/`csg` commands."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import trimesh
from PIL import Image

import nc3d
from nc3d.cli import main
from nc3d.csg import OPERATIONS, SdfShape, csg, difference, intersection, smooth_min, union
from nc3d.geometry.normalize import Frame, frame_of_points
from nc3d.mesh import Mesh
from nc3d.render import (
    Camera,
    encode_png,
    render_mesh,
    render_mesh_buffers,
    render_sdf,
    render_sdf_buffers,
    save_png,
    side_by_side,
)
from nc3d.render.shading import key_light

R = 0.8  # analytic sphere radius, normalized units


def sphere_sdf(points):
    return (np.linalg.norm(points, axis=1) - R).astype(np.float32)


def icosphere(radius=1.0, subdivisions=4, center=(0.0, 0.0, 0.0)) -> Mesh:
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(np.asarray(m.vertices, dtype=np.float64) + center, np.asarray(m.faces, dtype=np.int64))


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny MLPs run ~8× faster on one thread than on two when the cores are busy (restored after)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def implicit_file(tmp_path_factory):
    """A quickly trained implicit file of a sphere of radius 1 centred at (2, 0, 0) (original units)."""
    path = tmp_path_factory.mktemp("implicit") / "ball.nc3d"
    path.write_bytes(
        nc3d.compress(
            icosphere(1.0, 3, (2.0, 0.0, 0.0)),
            codec="implicit",
            samples=20000,
            epochs=30,
            batch_size=1024,
            qat_epochs=2,
        )
    )
    return path


# -- camera ------------------------------------------------------------------------------------------
def test_camera_rays_point_through_their_pixels():
    cam = Camera(azimuth=40.0, elevation=-15.0)
    origins, dirs, (h, w) = cam.rays((48, 32))
    assert (h, w) == (32, 48) and origins.shape == dirs.shape == (h * w, 3)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    np.testing.assert_allclose(origins[0], cam.eye)
    np.testing.assert_allclose(np.linalg.norm(cam.eye), 4.5)
    px = cam.project(origins + 2.0 * dirs, (48, 32))
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    np.testing.assert_allclose(px, np.stack([jj.ravel(), ii.ravel()], axis=1), atol=1e-9)
    # +y is up in the image, the origin is at the center
    np.testing.assert_allclose(cam.project(np.zeros((1, 3)), 64), [[32.0, 32.0]], atol=1e-9)
    assert cam.project(np.array([[0.0, 0.5, 0.0]]), 64)[0, 1] < 32.0


@pytest.mark.parametrize("bad", [0, -3, (10,), (10, 0), "12", 2.5, True, 10_000])
def test_bad_sizes_are_input_errors(bad):
    with pytest.raises(nc3d.InputError, match="size"):
        render_sdf(sphere_sdf, size=bad)


def test_bad_camera_and_colors_are_input_errors():
    with pytest.raises(nc3d.InputError, match="elevation"):
        render_sdf(sphere_sdf, size=8, elevation=90.0)
    with pytest.raises(nc3d.InputError, match="color"):
        render_sdf(sphere_sdf, size=8, color=(300, 0, 0))
    with pytest.raises(nc3d.InputError, match="one per point"):
        render_sdf(lambda p: np.zeros(3), size=8)


# -- sphere tracing -------------------------------------------------------------------------------------
def test_sphere_renders_as_a_disc_of_the_projected_radius():
    size = 160
    buf = render_sdf_buffers(sphere_sdf, size=size)
    cam = buf.camera
    radius_px = math.tan(math.asin(R / cam.distance)) / math.tan(math.radians(cam.fov) / 2) * size / 2
    assert buf.hit.sum() == pytest.approx(math.pi * radius_px**2, rel=0.02)
    ii, jj = np.nonzero(buf.hit)
    assert np.hypot(ii + 0.5 - size / 2, jj + 0.5 - size / 2).max() <= radius_px + 1.0
    # depth and normals are those of the sphere
    _, dirs, _ = cam.rays(size)
    p = cam.eye + buf.depth.reshape(-1)[buf.hit.ravel(), None] * dirs[buf.hit.ravel()]
    assert np.abs(np.linalg.norm(p, axis=1) - R).max() < 2e-3
    np.testing.assert_allclose(buf.normal[buf.hit], p / R, atol=1e-2)
    assert np.all(np.isinf(buf.depth[~buf.hit])) and np.all(buf.normal[~buf.hit] == 0)


def test_shading_is_brighter_facing_the_light():
    buf = render_sdf_buffers(sphere_sdf, size=96)
    image = render_sdf(sphere_sdf, size=96, background=(0, 0, 0))
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert np.all(image[~buf.hit] == 0) and np.all(image[buf.hit].sum(axis=1) > 0)
    lum = image.astype(float).sum(axis=2)[buf.hit]
    facing = buf.normal[buf.hit] @ key_light(buf.camera)
    assert lum[facing > 0.9].mean() > lum[facing < 0.2].mean() + 100
    assert np.corrcoef(lum, facing)[0, 1] > 0.8


def test_dynamic_batching_evaluates_only_live_rays():
    batches = []

    def counted(points):
        batches.append(len(points))
        return sphere_sdf(points)

    size, max_steps = 128, 128
    buf = render_sdf_buffers(counted, size=size, max_steps=max_steps)
    marching = batches[:-1]  # the last call is the normals' finite differences
    assert batches[-1] == 6 * buf.hit.sum()
    assert sum(marching) == buf.evaluations and len(marching) == buf.iterations <= max_steps
    assert all(b >= a for b, a in zip(marching, marching[1:]))  # batches only shrink
    assert buf.evaluations < 0.15 * size * size * max_steps
    batches.clear()
    wide = render_sdf_buffers(counted, size=size, fov=90.0)  # corners of the image miss the bounding sphere
    assert sum(batches[:-1]) == wide.evaluations and batches[0] < 0.8 * size * size  # and never march


def test_misses_and_nan_are_background():
    empty = render_sdf(lambda p: np.full(len(p), 0.5, np.float32), size=16)
    assert np.all(empty == 255)
    nan = render_sdf(lambda p: np.full(len(p), np.nan, np.float32), size=16)
    assert np.all(nan == 255)


# -- meshes -----------------------------------------------------------------------------------------------
def test_mesh_and_sdf_renders_line_up():
    mesh = icosphere(R, 5)
    kw = {"size": 128, "azimuth": -50.0, "elevation": 35.0}
    b_mesh = render_mesh_buffers(mesh, frame=Frame.identity(), **kw)
    b_sdf = render_sdf_buffers(sphere_sdf, **kw)
    assert (b_mesh.hit == b_sdf.hit).mean() > 0.98
    both = b_mesh.hit & b_sdf.hit
    assert np.median(np.abs(b_mesh.depth[both] - b_sdf.depth[both])) < 5e-3
    assert np.median(np.sum(b_mesh.normal[both] * b_sdf.normal[both], axis=-1)) > 0.99
    a, b = render_mesh(mesh, frame=Frame.identity(), **kw), render_sdf(sphere_sdf, **kw)
    assert np.abs(a.astype(int) - b.astype(int))[both].mean() < 4


def test_render_mesh_uses_the_mesh_frame_by_default():
    # a sphere of radius 10 at (5, 5, 5) in its own frame is a sphere of radius 0.9 at the origin
    mesh = icosphere(10.0, 4, (5.0, 5.0, 5.0))
    b_mesh = render_mesh_buffers(mesh, size=96)
    b_sdf = render_sdf_buffers(lambda p: np.linalg.norm(p, axis=1) - 0.9, size=96)
    assert (b_mesh.hit == b_sdf.hit).mean() > 0.98


def test_mesh_normals_are_two_sided():
    inverted = icosphere(R, 3)
    inverted = Mesh(inverted.vertices, inverted.faces[:, ::-1].copy())
    buf = render_mesh_buffers(inverted, frame=Frame.identity(), size=48)
    _, dirs, _ = buf.camera.rays(48)
    assert np.all(np.einsum("ij,ij->i", buf.normal[buf.hit], dirs[buf.hit.ravel()]) < 0)


def test_implicit_render_lines_up_with_its_original_mesh(implicit_file):
    shape = nc3d.open(implicit_file)
    original = icosphere(1.0, 3, (2.0, 0.0, 0.0))
    a = shape.render(size=64)
    b = render_mesh(original, size=64)
    assert a.shape == b.shape == (64, 64, 3)
    assert ((a != 255).any(axis=2) == (b != 255).any(axis=2)).mean() > 0.95


# -- images ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_png_round_trip(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(image)), image)


def test_save_png_respects_force(tmp_path):
    path = tmp_path / "a.png"
    image = np.zeros((4, 6, 3), np.uint8)
    save_png(path, image)
    with pytest.raises(nc3d.InputError, match="exists"):
        save_png(path, image + 1)
    save_png(path, image + 1, force=True)
    assert decode_png(path.read_bytes()).max() == 1
    with pytest.raises(nc3d.InputError):
        encode_png(np.zeros((4, 4, 2), np.uint8))


def test_side_by_side():
    a, b = np.zeros((10, 4, 3), np.uint8), np.full((6, 5, 3), 7, np.uint8)
    out = side_by_side([a, b], separator=2)
    assert out.shape == (10, 11, 3)
    assert np.all(out[:, :4] == 0) and np.all(out[2:8, 6:] == 7) and np.all(out[0, 6:] == 255)
    captioned = side_by_side([a, b], ["a", "b"], caption_height=20)
    assert captioned.shape == (30, 13, 3)
    with pytest.raises(nc3d.InputError, match="captions"):
        side_by_side([a, b], ["a"])


# -- CSG -----------------------------------------------------------------------------------------------
class Ball:
    """A minimal CSG operand: exact SDF of a ball in original coordinates, plus its frame."""

    def __init__(self, center, radius):
        self.center, self.radius = np.asarray(center, dtype=float), radius
        self.frame = frame_of_points(np.stack([self.center - radius, self.center + radius]))

    def sdf(self, points):
        return np.linalg.norm(np.asarray(points) - self.center, axis=1) - self.radius


A, B = Ball([0.0, 0.0, 0.0], 10.0), Ball([12.0, 0.0, 0.0], 6.0)
PROBES = np.random.default_rng(1).uniform(-15, 25, (2000, 3))


def test_csg_values_are_min_max():
    da, db = A.sdf(PROBES), B.sdf(PROBES)
    np.testing.assert_allclose(union(A, B).sdf(PROBES), np.minimum(da, db), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(intersection(A, B).sdf(PROBES), np.maximum(da, db), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(difference(A, B).sdf(PROBES), np.maximum(da, -db), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(csg(A, B, "union", smooth=0.0).sdf(PROBES), np.minimum(da, db), atol=1e-5)


def test_smooth_union_blends_only_near_both_surfaces():
    k = 3.0
    hard, soft = union(A, B).sdf(PROBES), union(A, B, smooth=k).sdf(PROBES)
    assert np.all(soft <= hard + 1e-5) and np.all(soft >= hard - k / 4 - 1e-5)
    far = np.abs(A.sdf(PROBES) - B.sdf(PROBES)) >= k
    np.testing.assert_allclose(soft[far], hard[far], atol=1e-5)
    assert (soft[~far] < hard[~far] - 1e-3).any()
    assert np.all(intersection(A, B, smooth=k).sdf(PROBES) >= intersection(A, B).sdf(PROBES) - 1e-5)
    assert smooth_min(np.array([1.0]), np.array([1.0]), 2.0)[0] == pytest.approx(0.5)


def test_csg_frames_hold_the_result():
    for op in OPERATIONS:
        for k in (0.0, 4.0):
            shape = csg(A, B, op, smooth=k)
            mesh = shape.mesh(40)  # marching cubes finds a closed surface inside the frame's cube
            normalized = shape.frame.to_normalized(mesh.vertices)
            assert np.abs(normalized).max() < 0.95 and mesh.signed_volume > 0
    u = union(A, B).frame
    np.testing.assert_allclose(
        u.to_normalized([[-10.0, -10.0, -10.0], [18.0, 10.0, 10.0]]).ravel()[[0, 3]], [-0.9, 0.9]
    )
    # sdf_normalized is the original SDF scaled into normalized units
    shape = union(A, B, smooth=2.0)
    p = np.random.default_rng(2).uniform(-1, 1, (100, 3))
    np.testing.assert_allclose(
        shape.sdf_normalized(p),
        shape.sdf(shape.frame.to_original(p)) * shape.frame.scale,
        rtol=1e-5,
        atol=1e-6,
    )


def test_nested_csg_and_render():
    C = Ball([0.0, 8.0, 0.0], 4.0)
    nested = difference(union(A, B, smooth=2.0), C)
    d = nested.sdf(PROBES)
    expected = np.maximum(smooth_min(A.sdf(PROBES), B.sdf(PROBES), 2.0), -C.sdf(PROBES))
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-4)
    again = intersection(nested, SdfShape(lambda p: p[:, 2] - 2.0, A.frame))  # half-space below z = 2
    assert again.sdf(np.array([[0.0, 0.0, 5.0]]))[0] > 0 and again.sdf(np.array([[0.0, 0.0, 0.0]]))[0] < 0
    image = nested.render(size=48)
    assert image.shape == (48, 48, 3) and (image != 255).any()
    assert "difference(union" in repr(nested)


def test_csg_errors():
    with pytest.raises(nc3d.InputError, match="operation"):
        csg(A, B, "xor")
    with pytest.raises(nc3d.InputError, match="smooth"):
        csg(A, B, "union", smooth=-1.0)
    with pytest.raises(nc3d.InputError, match="operand B"):
        csg(A, object(), "union")


def test_csg_of_implicit_files(implicit_file):
    shape = nc3d.open(implicit_file)
    u = union(shape, A)
    p = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
    np.testing.assert_allclose(u.sdf(p), np.minimum(shape.sdf(p), A.sdf(p)), atol=1e-5)


# -- command line -------------------------------------------------------------------------------------------
def test_cli_render_implicit_and_mesh(tmp_path, capsys, implicit_file):
    out = tmp_path / "ball.png"
    code, stdout, _ = run(
        capsys, "render", implicit_file, "-o", out, "--size", "40", "--azimuth", "-20", "--json"
    )
    assert code == 0
    res = json.loads(stdout)
    assert res["output"] == str(out) and res["size"] == [40, 40] and res["seconds"] >= 0
    image = decode_png(out.read_bytes())
    assert image.shape == (40, 40, 3) and (image != 255).any()

    mesh_path = tmp_path / "ball.obj"
    nc3d.io.save_mesh(mesh_path, icosphere(1.0, 3, (2.0, 0.0, 0.0)))
    out2 = tmp_path / "mesh.png"
    assert run(capsys, "render", mesh_path, "-o", out2, "--size", "40")[0] == 0
    mesh_image = decode_png(out2.read_bytes())
    assert mesh_image.shape == (40, 40, 3)
    assert ((image != 255).any(axis=2) == (mesh_image != 255).any(axis=2)).mean() > 0.9


def test_cli_render_force_and_errors(tmp_path, capsys, implicit_file):
    out = tmp_path / "x.png"
    out.write_bytes(b"precious")
    code, stdout, err = run(capsys, "render", implicit_file, "-o", out, "--size", "16")
    assert code == 1 and "--force" in err and err.count("\n") == 1 and out.read_bytes() == b"precious"
    assert run(capsys, "render", implicit_file, "-o", out, "--size", "16", "--force")[0] == 0
    assert decode_png(out.read_bytes()).shape == (16, 16, 3)

    lossless = tmp_path / "lossless.nc3d"
    lossless.write_bytes(nc3d.compress(icosphere(1.0, 2), codec="ply-lzma"))
    for argv, message in [
        (
            ["render", lossless, "-o", tmp_path / "y.png"],
            "is a ply-lzma file; only implicit files and meshes",
        ),
        (["render", implicit_file, "-o", tmp_path / "y.jpg"], ".png"),
        (["render", tmp_path / "nothing.obj", "-o", tmp_path / "y.png"], "no such file"),
        (["render", implicit_file, "-o", tmp_path / "y.png", "--size", "0"], "size"),
        (["csg", "union", implicit_file, lossless, "-o", tmp_path / "y.png"], "only implicit .nc3d files"),
        (["csg", "union", implicit_file, implicit_file, "-o", tmp_path / "y.txt"], "must be .png"),
    ]:
        code, stdout, err = run(capsys, *argv)
        assert code == 1 and stdout == "" and err.startswith("nc3d: error:") and err.count("\n") == 1, err
        assert message in err, err
    assert not (tmp_path / "y.png").exists()


def test_cli_csg_png_and_obj(tmp_path, capsys, implicit_file):
    png, obj = tmp_path / "u.png", tmp_path / "u.obj"
    code, stdout, _ = run(
        capsys,
        "csg",
        "union",
        implicit_file,
        implicit_file,
        "--smooth",
        "0.1",
        "-o",
        png,
        "--size",
        "32",
        "--json",
    )
    assert code == 0 and json.loads(stdout)["size"] == [32, 32]
    assert decode_png(png.read_bytes()).shape == (32, 32, 3)
    code, stdout, _ = run(
        capsys, "csg", "difference", implicit_file, implicit_file, "-o", obj, "--resolution", "24", "--json"
    )
    # A minus A is empty: marching cubes finds no surface, which is a clean one-line error
    assert code == 1 and not obj.exists()
    code, stdout, _ = run(
        capsys, "csg", "intersection", implicit_file, implicit_file, "-o", obj, "--resolution", "24", "--json"
    )
    assert code == 0 and json.loads(stdout)["faces"] > 0
    mesh = nc3d.io.load_mesh(obj)
    assert np.abs(mesh.vertices.mean(axis=0) - [2.0, 0.0, 0.0]).max() < 0.2
    code, _, err = run(
        capsys, "csg", "intersection", implicit_file, implicit_file, "-o", obj, "--resolution", "24"
    )
    assert code == 1 and "--force" in err
    assert (
        run(
            capsys,
            "csg",
            "intersection",
            implicit_file,
            implicit_file,
            "-o",
            obj,
            "--resolution",
            "24",
            "--force",
        )[0]
        == 0
    )
