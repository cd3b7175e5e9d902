"""Keras HDF5 interop (Davies et al.'s released weight files) and folder-scale compression."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

import nc3d
from nc3d import InputError, MissingDependencyError
from nc3d.cli import main
from nc3d.codecs.implicit import ImplicitShape
from nc3d.codecs.implicit.keras import load_keras_h5, save_keras_h5
from nc3d.container import unpack

h5py = pytest.importorskip("h5py")


# -- Keras files built here, in the authors' layout ------------------------------------------------
def random_net(widths=(3, 32, 32, 32, 1), seed=0):
    """Kernels (in, out) and biases; the last bias puts the zero level set through the cube."""
    rng = np.random.default_rng(seed)
    kernels = [
        rng.normal(0, 1.0 / np.sqrt(i), (i, o)).astype(np.float32) for i, o in zip(widths[:-1], widths[1:])
    ]
    biases = [rng.normal(0, 0.1, o).astype(np.float32) for o in widths[1:]]
    biases[-1][:] = 0.0
    pre = forward(rng.uniform(-1, 1, (4096, 3)), kernels, biases, tanh=False)
    biases[-1][:] = -np.median(pre)
    return kernels, biases


def forward(x, kernels, biases, tanh=True):
    """The reference: ReLU hidden layers, tanh output, ``h @ kernel + bias``."""
    h = np.asarray(x, dtype=np.float64)
    for k, (w, b) in enumerate(zip(kernels, biases)):
        h = h @ w + b
        if k < len(kernels) - 1:
            h = np.maximum(h, 0.0)
    return np.tanh(h[:, 0]) if tanh else h[:, 0]


def write_keras(path, kernels, biases, *, names=None, as_bytes=True, skip_kernel=None):
    names = names or ["dense"] + [f"dense_{i}" for i in range(1, len(kernels))]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in names] if as_bytes else names
        for k, (name, w, b) in enumerate(zip(names, kernels, biases)):
            g = f.create_group(f"{name}/{name}")
            if k != skip_kernel:
                g["kernel:0"] = w
            g["bias:0"] = b
    return Path(path)


@pytest.fixture(scope="module")
def net():
    return random_net()


@pytest.fixture
def keras_file(tmp_path, net):
    return write_keras(tmp_path / "shape.h5", *net)


POINTS = np.random.default_rng(7).uniform(-1, 1, (2000, 3)).astype(np.float32)


def test_load_matches_reference_forward(keras_file, net):
    shape = load_keras_h5(keras_file)
    assert isinstance(shape, ImplicitShape)
    a = shape.architecture
    assert (a.layers, a.width, a.activation, a.encoding) == (3, 32, "relu", "none")
    assert shape.header["source"] == "keras-h5"
    assert shape.frame.scale == 1.0 and shape.frame.center == (0.0, 0.0, 0.0)
    np.testing.assert_allclose(shape.sdf_normalized(POINTS), forward(POINTS, *net), atol=2e-6)
    np.testing.assert_allclose(shape.sdf(POINTS), forward(POINTS, *net), atol=2e-6)  # identity frame
    opened = nc3d.open(keras_file)
    np.testing.assert_allclose(opened.sdf_normalized(POINTS), forward(POINTS, *net), atol=2e-6)


@pytest.mark.parametrize("as_bytes", [True, False])
def test_layer_names_bytes_or_str(tmp_path, net, as_bytes):
    path = write_keras(tmp_path / "n.hdf5", *net, names=["in", "h1", "h2", "out"], as_bytes=as_bytes)
    np.testing.assert_allclose(load_keras_h5(path).sdf_normalized(POINTS), forward(POINTS, *net), atol=2e-6)


def test_layer_order_is_layer_names_order(tmp_path):
    kernels, biases = random_net((3, 8, 8, 1), seed=3)
    names = ["z", "a", "m"]  # not alphabetical: the attribute's order must win
    path = write_keras(tmp_path / "o.h5", kernels, biases, names=names)
    np.testing.assert_allclose(
        load_keras_h5(path).sdf_normalized(POINTS), forward(POINTS, kernels, biases), atol=2e-6
    )


def test_save_load_round_trip_is_exact(keras_file, tmp_path):
    shape = load_keras_h5(keras_file)
    out = save_keras_h5(shape, tmp_path / "again.h5")
    back = load_keras_h5(out)
    for t0, t1 in zip(shape.model.tensors(), back.model.tensors()):
        assert np.array_equal(t0.detach().numpy(), t1.detach().numpy())
    with h5py.File(out, "r") as f:  # the Keras layout, byte names, (in, out) kernels
        names = list(f.attrs["layer_names"])
        assert names == [b"dense", b"dense_1", b"dense_2", b"dense_3"]
        assert f["dense/dense/kernel:0"].shape == (3, 32) and f["dense_3/dense_3/kernel:0"].shape == (32, 1)
        assert f["dense_3/dense_3/bias:0"].shape == (1,)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    with pytest.raises(InputError, match="exists"):
        save_keras_h5(shape, out)
    save_keras_h5(shape, out, force=True)


def test_save_refuses_what_keras_cannot_express(tmp_path):
    from nc3d.geometry.normalize import Frame
    from nc3d.nn.mlp import Architecture, SdfMLP

    shape = ImplicitShape(SdfMLP(Architecture(2, 8, "siren")), Frame.identity())
    with pytest.raises(InputError, match="ReLU"):
        save_keras_h5(shape, tmp_path / "s.h5")
    assert not list(tmp_path.iterdir())


def test_failed_save_leaves_nothing(keras_file, tmp_path, monkeypatch):
    shape = load_keras_h5(keras_file)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)  # the last step of the atomic write fails
    with pytest.raises(InputError, match="No space"):
        save_keras_h5(shape, tmp_path / "full.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shape.h5"]


def _bad_files(tmp_path, net):
    kernels, biases = net
    yield (
        "missing kernel",
        write_keras(tmp_path / "nokernel.h5", kernels, biases, skip_kernel=1),
        "missing dataset",
    )
    yield (
        "broken chain",
        write_keras(
            tmp_path / "chain.h5",
            [kernels[0], kernels[2][:16], kernels[3]],
            [biases[0], biases[2], biases[3]],
        ),
        "do not chain",
    )
    k0 = np.zeros((4, 32), np.float32)
    yield "first dim", write_keras(tmp_path / "first.h5", [k0] + kernels[1:], biases), "expected 3"
    yield "last dim", write_keras(tmp_path / "last.h5", kernels[:-1], biases[:-1]), "expected 1"
    widths = random_net((3, 32, 16, 1))
    yield "unequal widths", write_keras(tmp_path / "widths.h5", *widths), "different widths"
    yield "bias size", write_keras(tmp_path / "bias.h5", kernels, [biases[0][:5]] + biases[1:]), "bias has 5"
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.attrs["layer_names"] = np.array([], dtype="S1")
    yield "empty layer_names", tmp_path / "empty.h5", "empty"
    with h5py.File(tmp_path / "noattr.h5", "w") as f:
        f["x"] = np.zeros(3)
    yield "no layer_names", tmp_path / "noattr.h5", "layer_names"
    (tmp_path / "garbage.h5").write_bytes(b"this is not HDF5 at all\n" * 20)
    yield "garbage", tmp_path / "garbage.h5", "cannot read"
    nan = [k.copy() for k in kernels]
    nan[1][0, 0] = np.nan
    yield "nan", write_keras(tmp_path / "nan.h5", nan, biases), "NaN"
    yield "missing file", tmp_path / "absent.h5", "no such file"


def test_invalid_files_raise_input_error(tmp_path, net):
    for what, path, message in _bad_files(tmp_path, net):
        with pytest.raises(InputError, match=message) as info:
            load_keras_h5(path)
        assert path.name in str(info.value), what
        with pytest.raises(InputError):
            nc3d.compress(path)


def test_missing_h5py_names_the_extra(keras_file, monkeypatch):
    import importlib

    import nc3d._optional as optional

    real = importlib.import_module

    def fake(name, *a, **kw):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real(name, *a, **kw)

    monkeypatch.setattr(optional.importlib, "import_module", fake)
    with pytest.raises(MissingDependencyError, match=r"nc3d\[hdf5\]"):
        load_keras_h5(keras_file)


def test_compress_keras_file(tmp_path):
    paper = write_keras(tmp_path / "paper.h5", *random_net((3,) + (32,) * 8 + (1,), seed=1))  # 8 × 32
    original = load_keras_h5(paper)
    blob = nc3d.compress(paper)  # default codec for a "mesh": implicit, no training
    assert len(blob) < 8000 and len(blob) * 4 < paper.stat().st_size
    header = unpack(blob).header
    assert header["surface_error"] is None and header["source"] == "keras-h5"
    assert header["architecture"]["layers"] == 8 and header["bits"] == 8
    f = tmp_path / "paper.nc3d"
    f.write_bytes(blob)
    decoded = nc3d.open(f)
    err = np.abs(decoded.sdf(POINTS) - original.sdf(POINTS))
    assert err.mean() < 0.02
    assert abs(header["quantization_error"] - err.mean()) < 0.01
    # the stored weights were fine-tuned to keep the original's zero set: closer than rounding alone
    import copy

    from nc3d.codecs.implicit.codec import encode_model
    from nc3d.codecs.implicit.fit import evaluate_mlp, zero_set_points

    surface = zero_set_points(original.model, 20_000, seed=12345)
    assert np.median(np.abs(evaluate_mlp(decoded.model, surface))) == pytest.approx(header["zero_set_error"])
    _, rounded = encode_model(copy.deepcopy(original.model).equalize_ranges(), 8)
    assert header["zero_set_error"] < np.median(np.abs(evaluate_mlp(rounded, surface)))
    with pytest.raises(InputError, match="a target needs a mesh"):
        nc3d.compress(paper, codec="implicit", target_error=0.01)


def test_cli_keras_round_trip(keras_file, tmp_path, capsys):
    nc = tmp_path / "x.nc3d"
    assert main(["compress", str(keras_file), "-o", str(nc), "--bits", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output_bytes"] < 4000
    assert main(["decompress", str(nc), "-o", str(tmp_path / "out.h5")]) == 0
    stored = nc3d.open(nc)
    back = load_keras_h5(tmp_path / "out.h5")
    for t0, t1 in zip(stored.model.tensors(), back.model.tensors()):
        assert np.array_equal(t0.detach().numpy(), t1.detach().numpy())
    obj = tmp_path / "mesh.obj"
    assert main(["decompress", str(keras_file), "-o", str(obj), "--resolution", "32"]) == 0
    assert len(nc3d.io.load_mesh(obj).faces) > 0
    capsys.readouterr()
    assert main(["decompress", str(nc), "-o", str(tmp_path / "out.h5")]) == 1  # exists, no --force
    assert "exists" in capsys.readouterr().err


def test_cli_refuses_keras_export_of_other_codecs(tmp_path, capsys):
    box = nc3d.as_mesh(trimesh.creation.box())
    f = tmp_path / "box.nc3d"
    f.write_bytes(nc3d.compress(box, codec="ply-lzma"))
    assert main(["decompress", str(f), "-o", str(tmp_path / "box.h5")]) == 1
    assert "only implicit files" in capsys.readouterr().err
    assert not (tmp_path / "box.h5").exists()


# -- folder mode ------------------------------------------------------------------------------------
TINY = [  # seconds per mesh, and still a surface (a file decoding to nothing is refused)
    "--samples",
    "2000",
    "--epochs",
    "20",
    "--batch-size",
    "256",
    "--qat-epochs",
    "0",
    "--layers",
    "2",
    "--width",
    "8",
    "--measure-resolution",
    "32",
]


def _mesh_folder(root: Path, n: int = 3) -> Path:
    src = root / "meshes"
    src.mkdir()
    shapes = [
        trimesh.creation.icosphere(subdivisions=2),
        trimesh.creation.box(extents=(2, 1, 0.5)),
        trimesh.creation.icosphere(subdivisions=2).apply_scale((1, 2, 1)).apply_translation((5, 0, 0)),
    ]
    for i, m in enumerate(shapes[:n]):
        m.export(src / f"shape{i}.{['obj', 'ply', 'stl'][i]}")
    (src / "bad.obj").write_text("this is not a mesh\nv 1 2\nf 9 9 9 9\n")
    (src / "notes.txt").write_text("ignored: not a mesh file")
    return src


def _lines(text: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {r["name"]: r for r in rows}


def test_folder_mode_parallel_and_resumable(tmp_path, capsys):
    src, out = _mesh_folder(tmp_path), tmp_path / "out"
    argv = ["compress", str(src), "-o", str(out), "--codec", "implicit", "--jobs", "2", *TINY]
    assert main(argv) == 1  # bad.obj failed; the others went on
    rows = _lines(capsys.readouterr().out)
    assert set(rows) == {"bad", "shape0", "shape1", "shape2"}
    assert "bad.obj" in rows["bad"]["error"]
    for name in ("shape0", "shape1", "shape2"):
        r = rows[name]
        assert "error" not in r and r["bytes"] == (out / f"{name}.nc3d").stat().st_size
        assert r["surface_error"] >= 0 and r["seconds"] > 0 and r["output"] == str(out / f"{name}.nc3d")
    assert sorted(p.name for p in out.iterdir()) == ["shape0.nc3d", "shape1.nc3d", "shape2.nc3d"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    decoded = nc3d.open(out / "shape1.nc3d")
    assert decoded.architecture.width == 8

    assert main(argv) == 1  # again: nothing recomputed
    again = _lines(capsys.readouterr().out)
    assert all(again[n]["skipped"] for n in ("shape0", "shape1", "shape2"))
    assert "error" in again["bad"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_folder_mode_in_process_api(tmp_path):
    from nc3d.batch import compress_folder

    src = _mesh_folder(tmp_path, n=1)
    (src / "bad.obj").unlink()
    (src / "shape0.ply").write_bytes((src / "shape0.obj").read_bytes())  # same stem, other format
    seen = []
    results = compress_folder(
        src,
        tmp_path / "o",
        settings=dict(samples=2000, epochs=2, batch_size=1024, qat_epochs=0, layers=2, width=8),
        jobs=1,
        on_result=lambda r, d, t: seen.append((r["name"], d, t)),
    )
    assert [r["name"] for r in results] == ["shape0", "shape0"]
    assert "error" not in results[0] and "same name as shape0.obj" in results[1]["error"]
    assert [d for _, d, _ in seen] == [1, 2] and {t for _, _, t in seen} == {2}


def test_folder_mode_checks(tmp_path, capsys):
    src = _mesh_folder(tmp_path, n=1)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.nc3d"), "--codec", "implicit"]) == 1
    assert "give a folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["compress", str(src), "-o", str(tmp_path / "file"), "--codec", "implicit"]) == 1
    assert "is a file" in capsys.readouterr().err
    assert main(["compress", str(src / "shape0.obj"), "-o", str(tmp_path / "y.nc3d"), "--jobs", "2"]) == 1
    assert "--jobs" in capsys.readouterr().err
    assert main(["compress", str(src), "-o", str(tmp_path / "o"), "--codec", "implicit", "--jobs", "0"]) == 1
    assert "jobs" in capsys.readouterr().err
    assert main(["compress", str(src), "-o", str(tmp_path / "o"), "--codec", "ply-lzma", "--bits", "8"]) == 1
    assert "no option --bits" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compress", str(empty), "-o", str(tmp_path / "o2"), "--codec", "implicit"]) == 1
    assert "no mesh files" in capsys.readouterr().err


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow  # starting Ray takes ~10-15 s on 2 cores
@pytest.mark.skipif(not _ray_available(), reason="ray is not installed")
def test_folder_mode_on_local_ray(tmp_path, capsys):
    src, out = _mesh_folder(tmp_path, n=2), tmp_path / "out"
    argv = [
        "compress",
        str(src),
        "-o",
        str(out),
        "--codec",
        "implicit",
        "--ray-address",
        "local",
        "--jobs",
        "2",
        *TINY,
    ]
    assert main(argv) == 1
    rows = _lines(capsys.readouterr().out)
    assert set(rows) == {"bad", "shape0", "shape1"} and "bad.obj" in rows["bad"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["shape0.nc3d", "shape1.nc3d"]
    assert nc3d.open(out / "shape0.nc3d").architecture.width == 8


class _InProcessRay:
    """Just enough of Ray's API to run ``nc3d.distributed.ray_map`` in this process."""

    def __init__(self):
        self.started = self.stopped = False
        self.tasks = []

    def is_initialized(self):
        return self.started

    def init(self, **kwargs):
        self.started = True

    def shutdown(self):
        self.stopped = True

    def remote(self, **options):
        def wrap(func):
            class Remote:
                @staticmethod
                def remote(*args):
                    self.tasks.append(args)
                    ref = type("ObjectRef", (), {})()  # hashable, like Ray's
                    try:
                        ref.value, ref.raised = func(*args), False
                    except Exception as exc:  # noqa: BLE001 - as Ray re-raises it in get()
                        ref.value, ref.raised = exc, True
                    return ref

            return Remote

        return wrap

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if ref.raised:
            raise ref.value
        return ref.value

    def cancel(self, ref):
        pass


def test_folder_mode_through_the_ray_path_with_an_in_process_ray(tmp_path, capsys, monkeypatch):
    """The --ray-address path end to end (task arguments, result rows, a failing file), without Ray."""
    from nc3d import _optional

    fake = _InProcessRay()
    real_require = _optional.require
    monkeypatch.setattr(_optional, "require", lambda m, f: fake if m == "ray" else real_require(m, f))
    src, out = _mesh_folder(tmp_path, n=2), tmp_path / "out"
    argv = ["compress", str(src), "-o", str(out), "--codec", "implicit", "--ray-address", "local", *TINY]
    assert main(argv) == 1  # the unreadable mesh fails, the others are written
    rows = _lines(capsys.readouterr().out)
    assert set(rows) == {"bad", "shape0", "shape1"} and "bad.obj" in rows["bad"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["shape0.nc3d", "shape1.nc3d"]
    assert all(Path(a[0]).is_absolute() and Path(a[1]).is_absolute() for a in fake.tasks)
    assert fake.started and fake.stopped
    assert rows["shape0"]["input"] == str(src / "shape0.obj") and rows["shape0"]["bytes"] > 0


def test_compress_an_open_shape_in_memory(keras_file, tmp_path):
    shape = nc3d.open(keras_file)
    blob = nc3d.compress(shape, bits=12)
    assert unpack(blob).header["bits"] == 12
    (tmp_path / "s.nc3d").write_bytes(blob)
    back = nc3d.open(tmp_path / "s.nc3d")
    assert np.abs(back.sdf(POINTS) - shape.sdf(POINTS)).mean() < 2e-3
    assert back.mesh(resolution=24).vertices.shape[1] == 3
