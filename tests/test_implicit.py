"""The implicit codec on small meshes with small settings: fit, encode, decode, query, mesh."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import nc3d
from nc3d import FormatError, InputError
from nc3d.cli import main
from nc3d.codecs.implicit.codec import decode_model, encode_model
from nc3d.container import Container, unpack
from nc3d.geometry.marching import marching_cubes_sdf, mesh_from_sdf
from nc3d.metrics import compare_meshes
from nc3d.nn.mlp import Architecture, SdfMLP
from nc3d.nn.quant import dequantize_tensors, quantize_tensors

SMALL = dict(samples=20_000, epochs=30, batch_size=1024, qat_epochs=2)


@pytest.fixture(scope="module")
def ellipsoid():
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=4)
    m.apply_scale((2.0, 1.0, 1.0))
    m.apply_translation((10.0, -3.0, 5.0))  # far from the origin: the frame must undo it
    return nc3d.as_mesh(m)


@pytest.fixture(scope="module")
def blob(ellipsoid):
    return nc3d.compress(ellipsoid, codec="implicit", **SMALL)


def test_parameter_count_is_the_papers():
    assert Architecture().parameter_count == 7553
    assert sum(p.numel() for p in SdfMLP(Architecture()).parameters()) == 7553


def test_marching_cubes_faces_point_outward():
    m = mesh_from_sdf(lambda p: np.linalg.norm(p, axis=1) - 0.5, 48)
    assert m.signed_volume == pytest.approx(4 / 3 * np.pi * 0.125, rel=0.02)
    with pytest.raises(InputError, match="no surface"):
        marching_cubes_sdf(np.ones((8, 8, 8)))


def test_round_trip_reconstructs_the_shape(ellipsoid, blob):
    assert len(blob) < 9000
    header = nc3d.info(blob)["header"]
    # the default family: the MLP over a positional encoding
    assert header["architecture"] == {
        "layers": 7,
        "width": 32,
        "activation": "relu",
        "encoding": "positional",
        "frequencies": 4,
    }
    assert header["bits"] == 8
    assert header["surface_error"] < 0.02
    shape = nc3d.get_codec("implicit").open(unpack(blob))
    # queries in original coordinates and units: the ellipsoid's semi-axes are (2, 1, 1) at (10, -3, 5)
    probes = np.array([[10.0, -3.0, 5.0], [10.0, -3.0, 7.0], [13.0, -3.0, 5.0]])
    d = shape.sdf(probes)
    # true values -1, +1, +1; far from the surface only the sign is reliable (few samples there)
    assert d[0] < 0 and d[1] > 0 and d[2] > 0
    near = np.array([[10.0, -3.0, 6.05], [10.0, -3.0, 5.95], [12.05, -3.0, 5.0]])  # ±0.05 off the surface
    assert np.allclose(shape.sdf(near), [0.05, -0.05, 0.05], atol=0.03)
    surface = ellipsoid.vertices[:200]
    assert np.abs(shape.sdf(surface)).mean() < 0.05
    mesh = shape.mesh(resolution=64)
    assert mesh.signed_volume > 0
    m = compare_meshes(ellipsoid, mesh, n_samples=20_000)
    assert m["chamfer_p2s"] < 0.02 and m["f_score_0.01"] > 0.5 and m["normal_consistency"] > 0.9


def test_outside_the_cube_the_field_is_the_distance_to_it_plus_its_boundary_value(blob):
    shape = nc3d.open(blob)
    far = np.array([[3.0, 0.0, 0.0], [-1.0, 2.5, 0.5], [1.2, -1.2, 1.2]], dtype=np.float32)
    boundary = np.clip(far, -1, 1)
    d = shape.sdf_normalized(far)
    # a positional encoding repeats itself outside the cube: without the rule 3.0 would read as 1.0
    np.testing.assert_allclose(
        d, np.linalg.norm(far - boundary, axis=1) + np.maximum(shape.sdf_normalized(boundary), 0), rtol=1e-6
    )
    assert np.all(d >= np.linalg.norm(far - boundary, axis=1))


def test_the_papers_plain_mlp_stays_available(ellipsoid):
    blob = nc3d.compress(ellipsoid, codec="implicit", architecture="mlp", **SMALL)
    arch = nc3d.info(blob)["header"]["architecture"]
    assert (arch["layers"], arch["width"], arch["encoding"]) == (8, 32, "none")
    blob = nc3d.compress(ellipsoid, codec="implicit", architecture="mlp", layers=3, **SMALL)
    assert nc3d.info(blob)["header"]["architecture"]["layers"] == 3  # an explicit option overrides it


def test_sdf_accepts_torch_and_numpy(blob):
    shape = nc3d.get_codec("implicit").open(unpack(blob))
    p = np.random.default_rng(0).normal(size=(100, 3)) + [10, -3, 5]
    a = shape.sdf(p)
    b = shape.sdf(torch.from_numpy(p))
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor)
    assert np.allclose(a, b.numpy())
    with pytest.raises(InputError):
        shape.sdf(np.zeros((3, 2)))


def test_encoding_is_deterministic(ellipsoid, blob):
    assert nc3d.compress(ellipsoid, codec="implicit", **SMALL) == blob


def test_quantization_round_trip_and_bits():
    rng = np.random.default_rng(0)
    tensors = [rng.normal(size=(32, 3)), rng.normal(size=(32,)) * 0.1]
    for bits in (4, 8, 12):
        q, steps = quantize_tensors(tensors, bits)
        assert np.abs(q).max() <= 2 ** (bits - 1) - 1
        back = dequantize_tensors(q, steps, [t.shape for t in tensors], bits)
        for t, b, s in zip(tensors, back, steps):
            assert np.abs(t - b).max() <= s / 2 + 1e-6


def test_equalizing_ranges_keeps_the_function_and_helps_quantization():
    torch.manual_seed(0)
    model = SdfMLP(Architecture(layers=4, width=16)).eval()
    with torch.no_grad():  # one hidden unit with a tiny range: per-tensor steps round it away
        model.linears[1].weight[3] *= 1e-3
        model.linears[1].bias[3] *= 1e-3
        model.linears[2].weight[:, 3] *= 1e3
    x = torch.rand(4096, 3) * 2 - 1
    before = model(x).detach()
    stored_before = decode_model(model.arch, 8, encode_model(model, 8)[0])(x).detach()
    model.equalize_ranges()
    assert torch.allclose(model(x), before, atol=1e-5)
    stored_after = decode_model(model.arch, 8, encode_model(model, 8)[0])(x).detach()
    assert (stored_after - before).abs().mean() < 0.5 * (stored_before - before).abs().mean()
    siren = SdfMLP(Architecture(layers=2, width=8, activation="siren"))
    w = [t.detach().clone() for t in siren.tensors()]
    siren.equalize_ranges()  # sin is not homogeneous: nothing may change
    assert all(torch.equal(a, b) for a, b in zip(w, siren.tensors()))


def test_qat_keeps_the_snapshot_with_the_lowest_held_out_loss():
    from nc3d.codecs.implicit.fit import _train
    from nc3d.nn.quant import fake_quantize

    g = torch.Generator().manual_seed(0)
    x = torch.rand(5000, 3, generator=g) * 2 - 1
    y = (x.norm(dim=1) - 0.5).clamp(-0.999, 0.999)
    held = (x[:1000], y[:1000])

    def held_out_loss(model):
        with torch.no_grad():
            q = [fake_quantize(p, 8) for p in model.tensors()]
            return float((model(held[0], q) - held[1]).abs().mean())

    def run(targets, held_out):
        torch.manual_seed(0)
        model = SdfMLP(Architecture(layers=2, width=8)).train()
        _train(
            model,
            x[1000:],
            targets,
            steps=40,
            batch=256,
            peak_lr=1e-2,
            bits=8,
            generator=torch.Generator().manual_seed(1),
            on_step=lambda loss: None,
            held_out=held_out,
            check_every=5,
        )
        return held_out_loss(model)

    torch.manual_seed(0)
    start = held_out_loss(SdfMLP(Architecture(layers=2, width=8)))
    # training towards the wrong targets drifts away from the held-out data: the first
    # snapshot is the best one and is what must be kept
    drifted, kept = run(-y[1000:], None), run(-y[1000:], held)
    assert kept < drifted
    # towards the right targets the held-out loss falls, and the kept snapshot is at least as good
    assert run(y[1000:], held) <= run(y[1000:], None) < start


def test_fewer_bits_make_smaller_files(ellipsoid):
    model = SdfMLP(Architecture())
    sizes = {b: sum(len(v) for v in encode_model(model, b)[0].values()) for b in (4, 8)}
    assert sizes[4] < 0.7 * sizes[8]


def test_target_error_grows_until_reached(ellipsoid):
    blob = nc3d.compress(ellipsoid, codec="implicit", target_error=1.0, **SMALL)
    h = nc3d.info(blob)["header"]
    # the first (smallest) network of the ladder already meets a loose target
    assert h["target"]["reached"] and len(h["target"]["tried"]) == 1
    assert h["architecture"]["width"] == 16
    blob = nc3d.compress(ellipsoid, codec="implicit", target_error=1e-9, layers=6, width=24, **SMALL)
    h = nc3d.info(blob)["header"]
    assert not h["target"]["reached"]
    assert [t["width"] for t in h["target"]["tried"]] == [16, 24]  # capped by --layers/--width


def test_the_file_records_its_decode_measured_two_sided(ellipsoid):
    blob = nc3d.compress(ellipsoid, codec="implicit", **SMALL)
    q = nc3d.info(blob)["header"]["quality"]
    # the same figures as measuring the decoded mesh independently (same grid, samples, seed)
    decoded = nc3d.open(blob).mesh(resolution=q["resolution"])
    m = compare_meshes(ellipsoid, decoded, n_samples=q["samples"], seed=0)
    assert q["f_score_0.01"] == pytest.approx(m["f_score_0.01"], abs=0.02)
    assert q["chamfer_p2s"] == pytest.approx(m["chamfer_p2s"], rel=0.1, abs=1e-3)
    assert q["f_score_0.01"] > 0.5


def test_target_f_score_grows_the_network_until_the_decode_reaches_it(ellipsoid):
    blob = nc3d.compress(ellipsoid, codec="implicit", target_f_score=1.0, layers=6, width=24, **SMALL)
    h = nc3d.info(blob)["header"]
    tried = h["target"]["tried"]
    assert [t["width"] for t in tried] == [16, 24] and not h["target"]["reached"]
    assert h["quality"]["f_score_0.01"] == tried[-1]["f_score_0.01"]
    blob = nc3d.compress(ellipsoid, codec="implicit", target_f_score=0.05, **SMALL)
    h = nc3d.info(blob)["header"]
    assert h["target"]["reached"] and len(h["target"]["tried"]) == 1 and h["architecture"]["width"] == 16


def test_compress_json_reports_the_decoded_quality(ellipsoid, tmp_path, capsys):
    src = tmp_path / "e.ply"
    nc3d.io.save_mesh(src, ellipsoid)
    args = ["compress", str(src), "-o", str(tmp_path / "e.nc3d"), "--json"]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    header = nc3d.info(tmp_path / "e.nc3d")["header"]
    assert out["f_score_0.01"] == header["quality"]["f_score_0.01"]
    assert out["chamfer_p2s"] == header["quality"]["chamfer_p2s"]


def test_hostile_headers_are_format_errors(blob):
    c = unpack(blob)
    codec = nc3d.get_codec("implicit")
    bad_headers = [
        {**c.header, "architecture": {**c.header["architecture"], "width": 10**9}},
        {**c.header, "architecture": {**c.header["architecture"], "layers": -1}},
        {**c.header, "architecture": {**c.header["architecture"], "activation": "gelu"}},
        {**c.header, "architecture": "8x32"},
        {**c.header, "bits": 99},
        {**c.header, "bits": True},
        {**c.header, "frame": {"center": [0, 0, 0], "scale": -1}},
        {k: v for k, v in c.header.items() if k != "frame"},
    ]
    for h in bad_headers:
        with pytest.raises(FormatError):
            codec.open(Container("implicit", h, c.sections))
    with pytest.raises(FormatError):  # architecture claims more weights than stored
        codec.open(
            Container(
                "implicit",
                {**c.header, "architecture": {**c.header["architecture"], "width": 33}},
                c.sections,
            )
        )
    with pytest.raises(FormatError):
        codec.open(Container("implicit", c.header, {"weights": c.sections["weights"]}))
    with pytest.raises(FormatError):
        decode_model(Architecture(), 8, {"steps": b"\x00" * 72, "weights": c.sections["weights"]})
    huge = Architecture(layers=64, width=1024)  # 67M weights claimed over a few kB: refused up front
    with pytest.raises(FormatError, match="declares"):
        decode_model(
            huge, 8, {"steps": b"\x00" * (4 * len(huge.tensor_shapes())), "weights": c.sections["weights"]}
        )


def test_cli_compress_decompress_implicit(tmp_path, capsys, ellipsoid):
    src = tmp_path / "ellipsoid.ply"
    nc3d.io.save_mesh(src, ellipsoid)
    out = tmp_path / "e.nc3d"
    args = [
        "compress",
        str(src),
        "-o",
        str(out),
        "--json",
        "--samples",
        "20000",
        "--epochs",
        "30",
        "--batch-size",
        "1024",
        "--qat-epochs",
        "2",
    ]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["codec"] == "implicit" and res["output_bytes"] == out.stat().st_size  # the default mesh codec
    mesh_out = tmp_path / "e.obj"
    assert main(["decompress", str(out), "-o", str(mesh_out), "--resolution", "48", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == [str(mesh_out)]
    back = nc3d.io.load_mesh(mesh_out)
    assert np.allclose(back.bounds, ellipsoid.bounds, atol=0.15)
    assert main(["compress", str(src), "-o", str(out), "--codec", "ply-lzma", "--bits", "8", "--force"]) == 1
    assert "no option --bits" in capsys.readouterr().err
    assert nc3d.info(out)["codec"] == "implicit"  # the failed run left the existing file alone


def test_decoding_near_the_surface_only_gives_the_full_grids_mesh():
    from nc3d.geometry.marching import grid_points, sample_sdf_grid

    def sdf(p):  # a torus and a thin plate (3% of the cube thick: under one coarse cell)
        q = np.stack([np.linalg.norm(p[:, :2], axis=1) - 0.5, p[:, 2]], axis=1)
        plate = np.maximum(np.abs(p[:, 0] + 0.1) - 0.03, np.abs(p[:, 1:]).max(axis=1) - 0.8)
        return np.minimum(np.linalg.norm(q, axis=1) - 0.15, plate).astype(np.float32)

    calls = []
    narrow = sample_sdf_grid(lambda p: (calls.append(len(p)), sdf(p))[1], 256)
    full = sdf(grid_points(256)).reshape(256, 256, 256)
    assert sum(calls) < 0.5 * 256**3  # a coarse pass, then only near the surface
    assert np.array_equal(np.sign(narrow), np.sign(full))
    near = np.abs(full) < 0.05
    np.testing.assert_array_equal(narrow[near], full[near])
    a, b = marching_cubes_sdf(narrow), marching_cubes_sdf(full)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.vertices, b.vertices)


def test_a_network_without_a_surface_is_refused_not_written(ellipsoid, monkeypatch):
    """A file that would decode to nothing is data loss: the encoder says so instead of writing it."""
    import nc3d.codecs.implicit.codec as codec_module

    def outside_everywhere(mesh, arch, settings, progress=None):
        model = SdfMLP(arch)
        with torch.no_grad():
            model.linears[-1].bias.fill_(5.0)  # tanh(≥ 5 - small) > 0 everywhere: no surface
            model.linears[-1].weight.zero_()
        return model, {}

    monkeypatch.setattr(codec_module, "fit_sdf", outside_everywhere)
    with pytest.raises(InputError, match="decode to nothing"):
        nc3d.compress(ellipsoid, codec="implicit", **SMALL)
