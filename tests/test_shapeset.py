"""The shapeset codec (NeCGS): auto-decoder parts, bitstream, single-shape decode, commands."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

import nc3d
from nc3d import FormatError, InputError
from nc3d.cli import main
from nc3d.codecs.shapeset import Architecture, safe_names
from nc3d.container import Container, pack, unpack
from nc3d.io import save_mesh
from nc3d.mesh import Mesh
from nc3d.nn.ssim3d import ssim3d
from nc3d.nn.upsample import pixel_shuffle_3d

TINY = {
    "resolution": 16,
    "feature_resolution": 2,
    "decoder_width": 8,
    "steps": 150,
    "lr": 3e-3,
    "feature_lr": 0.1,
    "deform_steps": 1,
    "cache_dir": "off",
    "mesh_shapes": "off",  # every shape neural (the tests of the decoder); "auto" has its own
}


def _mesh(t) -> Mesh:
    return Mesh(np.asarray(t.vertices, np.float64), np.asarray(t.faces, np.int64))


@pytest.fixture(scope="module")
def shapes():
    return [
        ("sphere", _mesh(trimesh.creation.icosphere(2))),
        ("box", _mesh(trimesh.creation.box((1, 0.6, 0.4)))),
        ("../evil name", _mesh(trimesh.creation.annulus(0.3, 0.8, 0.4))),
    ]


@pytest.fixture(scope="module")
def blob(shapes):
    torch.set_num_threads(1)
    return nc3d.compress(shapes, codec="shapeset", **TINY)


def test_volumes_prepared_on_ray_give_the_same_file(shapes, blob, tmp_path, monkeypatch):
    # prepare_on_ray through an in-process stand-in for Ray: every shape a task, the same bytes
    from nc3d import _optional
    from test_keras_batch import _InProcessRay

    fake = _InProcessRay()
    real_require = _optional.require
    monkeypatch.setattr(_optional, "require", lambda m, f: fake if m == "ray" else real_require(m, f))
    torch.set_num_threads(1)
    on_ray = nc3d.compress(shapes, codec="shapeset", **(TINY | {"prepare_on_ray": "local"}))
    assert on_ray == blob and len(fake.tasks) == len(shapes)


def test_pixel_shuffle_3d_places_channels():
    x = torch.arange(2 * 8 * 2 * 3 * 1, dtype=torch.float32).reshape(2, 8, 2, 3, 1)
    y = pixel_shuffle_3d(x, 2)
    assert y.shape == (2, 1, 4, 6, 2)
    for i, j, k in np.ndindex(2, 2, 2):
        assert torch.equal(y[:, 0, i::2, j::2, k::2], x[:, 4 * i + 2 * j + k])


def test_ssim3d():
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 2, 12, 12, 12), generator=g) * 2 - 1
    assert ssim3d(x, x).item() == pytest.approx(1.0, abs=1e-5)
    noisy = ssim3d(x, x + 0.3 * torch.randn(x.shape, generator=g)).item()
    assert noisy < 0.9
    y = x.clone().requires_grad_(True)
    (1 - ssim3d(y, x * 0.5)).backward()
    assert y.grad.abs().sum() > 0


def test_ssim3d_blur_matches_a_separable_convolution():
    from nc3d.nn.ssim3d import _blur

    g = torch.Generator().manual_seed(1)
    x = torch.randn((2, 3, 9, 11, 13), generator=g)
    kernel = torch.rand(5, generator=g)
    ref = x
    for shape in ((5, 1, 1), (1, 5, 1), (1, 1, 5)):
        ref = torch.nn.functional.conv3d(ref, kernel.reshape(1, 1, *shape).expand(3, 1, *shape), groups=3)
    out = _blur(x, kernel)
    assert out.shape == ref.shape == (2, 3, 5, 7, 9)
    assert torch.allclose(out, ref, atol=1e-5)


def test_architecture():
    a = Architecture()
    assert a.levels == 4 and a.widths() == [16, 16, 16, 16, 16]
    assert Architecture(width=32).widths() == [32, 16, 16, 16, 16]
    assert Architecture(width=32, min_width=8).widths() == [32, 16, 8, 8, 8]
    assert a.parameter_count == sum(int(np.prod(s)) for s in a.tensor_shapes())
    with pytest.raises(InputError, match="power of two"):
        Architecture(resolution=48, feature_resolution=4)
    with pytest.raises(FormatError):
        Architecture.from_dict({"resolution": 64})


def test_safe_names():
    assert safe_names(["../a/b", ".hidden", "", "x", "X", "ok-1.2"]) == [
        "_a_b",
        "hidden",
        "shape_0002",
        "x",
        "X_2",
        "ok-1.2",
    ]


def test_round_trip(blob, shapes):
    info = nc3d.info(blob)
    assert set(info["sections"]) == {
        "decoder_steps",
        "decoder",
        "features",
        "meshes",  # empty: every shape neural (mesh_shapes off)
        "index.xz",
        "names.xz",
        "quality",
    }
    handle = nc3d.get_codec("shapeset").open(unpack(blob))
    assert info["header"]["count"] == 3 and sum(handle.shape_bytes()) == info["sections"]["features"]
    out = nc3d.decompress(blob)
    assert [n for n, _ in out] == ["sphere", "box", "_evil_name"]
    stored = nc3d.get_codec("shapeset").open(unpack(blob)).shape_quality()
    for (_, m), (_, ref), q in zip(out, shapes, stored):
        assert len(m.faces)  # every shape comes back, in its original frame
        assert np.all(m.vertices.min(0) > ref.vertices.min(0) - 0.5)
        assert np.all(m.vertices.max(0) < ref.vertices.max(0) + 0.5)
        # the quality the encoder stored is that of what a reader decodes (float16 in the file)
        got = nc3d.metrics.compare_meshes(ref, m, n_samples=10_000, taus=(0.01,))
        assert q["f_score_0.01"] == pytest.approx(got["f_score_0.01"], abs=2e-3)
        assert q["chamfer_p2s"] == pytest.approx(got["chamfer_p2s"], rel=2e-3)
    assert info["header"]["quality"]["f_score_0.01"] == pytest.approx(
        np.mean([q["f_score_0.01"] for q in stored]), abs=1e-3
    )
    assert nc3d.compress(shapes, codec="shapeset", **TINY) == blob  # deterministic


def test_single_shape_decodes_only_its_features(blob, monkeypatch):
    import nc3d.codecs.shapeset.codec as codec_module

    f = nc3d.get_codec("shapeset").open(unpack(blob))
    whole = f.volume(2)
    calls = []
    real = codec_module.decode_symbols
    monkeypatch.setattr(
        codec_module, "decode_symbols", lambda data, count=None: calls.append(len(data)) or real(data, count)
    )
    g = nc3d.get_codec("shapeset").open(unpack(blob))
    np.testing.assert_array_equal(g.volume("_evil_name"), whole)
    assert calls == [len(g.container.sections["decoder"]), g.shape_bytes()[2]]
    with pytest.raises(InputError, match="no shape named"):
        g.index("nope")


def _tampered(blob, header=None, sections=None):
    c = unpack(blob)
    return pack(Container(c.codec, {**c.header, **(header or {})}, {**c.sections, **(sections or {})}))


@pytest.mark.parametrize(
    "change",
    [
        {"header": {"count": 4}},
        {"header": {"names_bytes": 10**9}},
        {"header": {"names_bytes": 3}},
        {"sections": {"index.xz": lzma.compress(b"\0" * 108)}},  # scales of 0
        {"sections": {"index.xz": lzma.compress(np.full(27, np.nan).tobytes() + b"\1\0\0\0" * 3)}},
        {"sections": {"index.xz": lzma.compress(b"\0" * 200)}},  # more than 3 shapes' worth
        {"sections": {"index.xz": b"not xz at all"}},
        {"sections": {"names.xz": lzma.compress(b"a\nb")}},
        {"sections": {"names.xz": lzma.compress(b"\xff\xfe\n\n")}},
        {"header": {"feature_step": -1.0}},
        {"header": {"bits": 40}},
        {
            "header": {
                "architecture": {
                    "resolution": 1024,
                    "feature_resolution": 2,
                    "channels": 16,
                    "width": 8,
                    "min_width": 8,
                }
            }
        },
        {
            "header": {
                "architecture": {
                    "resolution": 16,
                    "feature_resolution": 2,
                    "channels": 16,
                    "width": 1024,
                    "min_width": 8,
                }
            }
        },
        {"sections": {"decoder_steps": b"\0" * 8}},
        {"sections": {"decoder": b"\x01\x02"}},
    ],
)
def test_hostile_files_raise_format_error(blob, change):
    with pytest.raises(FormatError):
        nc3d.decompress(_tampered(blob, **change))


def test_corrupt_bytes_raise_format_error(blob):
    rng = np.random.default_rng(1)
    for _ in range(20):
        b = bytearray(blob)
        b[rng.integers(len(b))] ^= 1 << int(rng.integers(8))
        with pytest.raises(FormatError):
            nc3d.decompress(bytes(b))
    with pytest.raises(FormatError):
        nc3d.decompress(blob[: len(blob) // 2])


def test_classical_shared_out_spends_its_bytes_where_they_buy_most(shapes, tmp_path):
    from nc3d.bench.classical import classical_shared_out

    meshes = [m for _, m in shapes]
    cache = tmp_path / "cache"
    small = classical_shared_out(meshes, 400, samples=2000, cache_dir=cache)
    large = classical_shared_out(meshes, 40_000, samples=2000, cache_dir=cache)
    assert (cache / "draco").is_dir()  # the ladders are kept for the next size
    assert 0 < small < large and large > 0.99


def _folder_of(named, tmp_path):
    """A folder of PLY files, one per (name, mesh), and where its set file goes."""
    src = tmp_path / "meshes"
    src.mkdir()
    for name, mesh in named:
        save_mesh(src / f"{name}.ply", mesh)
    return src, tmp_path / "set.nc3d"


def test_cli_folder_to_one_set_file_and_back(shapes, tmp_path, capsys):
    src, out = _folder_of(shapes[:2], tmp_path)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    assert (
        main(["compress", str(src), "-o", str(out), "--codec", "shapeset", "--json", "--jobs", "1", *flags])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["codec"] == "shapeset" and out.is_file() and result["ratio"] > 0
    # one entry per shape: its quality and what decimation + Draco reaches at its bytes
    assert [s["name"] for s in result["shapes"]] == ["box", "sphere"]  # a folder is read in name order
    assert sum(s["bytes"] for s in result["shapes"]) == pytest.approx(out.stat().st_size, abs=1)
    for s in result["shapes"]:
        c = s["classical"]
        assert 0 < s["f_score_0.01"] <= 1 and (not c["fits"] or 0 < c["bytes"] <= s["bytes"])
    # a box of 12 triangles fits losslessly in far fewer bytes than a neural share of the file
    assert result["shapes"][0]["classical"]["f_score_0.01"] > 0.99
    assert result["classical"]["shapes"] == 2
    # with the file's bytes shared out, both fit near-losslessly (a 162-vertex sphere, 12 triangles)
    assert result["classical"]["classical_shared_out_f_score_0.01"] > 0.99
    assert isinstance(result["classical"]["classical_better_choice"], bool)
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sections"]["decoder"] > 0
    dec = tmp_path / "dec"
    assert main(["decompress", str(out), "-o", str(dec), "--only", "sphere", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] in ([], [str(dec / "sphere.ply")])
    assert not (dec / "box.ply").exists()
    assert main(["decompress", str(out), "-o", str(dec), "--only", "nope"]) == 1
    assert "no shape named" in capsys.readouterr().err
    assert main(["decompress", str(out), "-o", str(tmp_path / "x.obj")]) == 1
    assert "give a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "corner,size",
    [
        ((0, 0, 0), 16),
        ((16, 16, 16), 16),
        ((2, 4, 6), 8),
        ((10, 0, 20), 12),
        ((1, 7, 29), 3),
        ((31, 0, 5), 1),
        ((0, 0, 0), 32),
    ],
)
def test_cropped_decoder_equals_a_crop_of_the_whole_output(corner, size):
    from nc3d.codecs.shapeset.model import AutoDecoder

    model = AutoDecoder(Architecture(resolution=32, feature_resolution=4, width=16), seed=1)
    with torch.no_grad():
        for t in model.tensors():
            t.add_(0.05 * torch.randn(t.shape, generator=torch.Generator().manual_seed(t.numel())))
        features = torch.randn((2, 16, 4, 4, 4), generator=torch.Generator().manual_seed(0))
        full = model(features, 8)
        z, y, x = corner
        part = model(features, 8, crop=(corner, size))
    assert torch.allclose(part, full[..., z : z + size, y : y + size, x : x + size], atol=1e-5)
    # one box per shape, both shapes in one batch
    other = (min(x + 3, 32 - size), z, max(y - 1, 0))
    both = model(features, 8, crop=([corner, other], size))
    assert torch.allclose(both[:1], part[:1], atol=1e-5)
    a, b, c = other
    assert torch.allclose(both[1:], full[1:, :, a : a + size, b : b + size, c : c + size], atol=1e-5)
    with pytest.raises(ValueError, match="inside the"):
        model(features, crop=((28, 0, 0), 8))


@pytest.mark.slow
def test_training_learns_the_shapes():
    """Enough steps make the decoded surfaces match (a torus at K = 16: F@0.01 ≈ 0.87 measured)."""
    from nc3d.metrics import compare_meshes

    torch.set_num_threads(1)
    torus = _mesh(trimesh.creation.torus(1, 0.3))
    shapes = [
        ("sphere", _mesh(trimesh.creation.icosphere(3))),
        ("box", _mesh(trimesh.creation.box((1, 0.5, 0.3)))),
        ("torus", torus),
    ]
    blob = nc3d.compress(
        shapes,
        codec="shapeset",
        resolution=16,
        feature_resolution=2,
        decoder_width=16,
        steps=300,
        batch_size=3,
        cache_dir="off",
        deform_steps=5,
        crop=0,
    )
    decoded = dict(nc3d.decompress(blob))
    assert compare_meshes(torus, decoded["torus"], n_samples=5000)["f_score_0.01"] > 0.6


def _plain_volumes(meshes, k):
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.geometry.tsdf import tsdf_volume

    vols = np.zeros((len(meshes), 4, k, k, k), np.float32)
    for i, m in enumerate(meshes):
        vols[i, 0] = tsdf_volume(frame_of_mesh(m).normalize_mesh(m), k)
    return vols


def test_crops_are_centred_near_the_surface():
    from nc3d.codecs.shapeset.train import pick_crop

    k, size = 64, 16
    edge = np.zeros((k, k, k), bool)
    edge[48:58, 2:12, 38:48] = True  # the near-surface cells of a small body in one corner (0.4% of the grid)
    near = np.flatnonzero(edge)
    rng = np.random.default_rng(0)
    boxes = [pick_crop(rng, near, k, size, 0.9) for _ in range(400)]
    hits = [edge[z : z + size, y : y + size, x : x + size].any() for (z, y, x), _ in boxes]
    assert 0.85 < np.mean(hits) < 1.0  # mostly on the surface, sometimes anywhere
    assert all(min(c) >= 0 and max(c) + size <= k and all(v % 2 == 0 for v in c) for c, _ in boxes)
    rng = np.random.default_rng(0)
    assert all(
        edge[z : z + size, y : y + size, x : x + size].any()
        for (z, y, x), _ in (pick_crop(rng, near, k, size, 1.0) for _ in range(100))
    )


def test_batches_visit_each_shape_once_per_pass_or_follow_the_surface():
    from nc3d.codecs.shapeset.train import draw_batches

    rng = np.random.default_rng(0)
    uniform = draw_batches(rng, 10, 3)
    for _ in range(4):  # 3 batches of 3 per pass (the 10th shape waits for the next pass)
        seen = np.concatenate([next(uniform) for _ in range(3)])
        assert len(set(seen.tolist())) == 9
    surface = np.array([100, 100, 400, 1600, 0])
    weighted = draw_batches(rng, 5, 1, surface, 1.0)
    counts = np.bincount(np.concatenate([next(weighted) for _ in range(4000)]), minlength=5)
    share = counts / counts.sum()
    np.testing.assert_allclose(share[:4], [100 / 2201, 100 / 2201, 400 / 2201, 1600 / 2201], atol=0.02)
    assert counts[4] < 20  # no surface: drawn rarely (the weight of one cell), if at all
    pairs = draw_batches(rng, 5, 2, surface, 0.5)
    assert all(len(set(next(pairs).tolist())) == 2 for _ in range(200))  # distinct shapes in a batch
    sqrt = draw_batches(np.random.default_rng(1), 5, 1, surface, 0.5)
    c = np.bincount(np.concatenate([next(sqrt) for _ in range(4000)]), minlength=5)
    assert 3.0 < c[3] / c[0] < 5.0  # ∝ √surface: 40 / 10


def test_a_few_steps_lower_the_wrong_sign_fraction(shapes):
    from nc3d.codecs.shapeset.train import TrainSettings, decode_volumes, sign_error, train_auto_decoder

    vols = _plain_volumes([m for _, m in shapes], 16)
    arch = Architecture(resolution=16, feature_resolution=2, width=16)
    errors = []
    for steps in (1, 120):
        model, feats = train_auto_decoder(
            vols, arch, TrainSettings(steps=steps, batch_size=3, crop=0, device="cpu")
        )
        errors.append(sign_error(decode_volumes(model, feats), vols))
    assert errors[1] < 0.7 * errors[0], errors  # measured: 0.33 → 0.18


def test_training_counts_steps_and_reports_progress():
    from nc3d.codecs.shapeset.train import TrainSettings, train_auto_decoder

    vols = _plain_volumes([_mesh(trimesh.creation.icosphere(1))], 16)
    seen, losses = [], []
    train_auto_decoder(
        vols,
        Architecture(resolution=16, feature_resolution=2, width=8),
        TrainSettings(steps=7, batch_size=2, crop=8, device="cpu"),
        progress=lambda phase, done, total: seen.append((done, total)),
        on_step=lambda step, loss, model, feats: losses.append(step),
    )
    assert losses == list(range(7)) and seen[0] == (0, 7) and seen[-1] == (7, 7)


def test_quick_ladder_uses_its_own_cache_entries():
    from nc3d.geometry.tsdf import TsdfDefSettings

    codec = nc3d.get_codec("shapeset")
    (quick,) = codec.preset("quick")
    defaults = {o.name: o.default for o in codec.options}
    prep = TsdfDefSettings(
        resolution=quick.get("resolution", defaults["resolution"]),
        steps=quick.get("deform_steps", defaults["deform_steps"]),
    )
    assert (
        prep.key() != TsdfDefSettings(resolution=defaults["resolution"], steps=defaults["deform_steps"]).key()
    )


def test_tsdf_feature_init_folds_the_coarse_tsdf_into_the_features():
    from nc3d.codecs.shapeset.train import TrainSettings, initial_features

    vols = np.random.default_rng(0).standard_normal((2, 4, 16, 16, 16)).astype(np.float32)
    arch = Architecture(resolution=16, feature_resolution=4, channels=16)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    feats = initial_features(vols, arch, TrainSettings(feature_init="tsdf", feature_scale=0.5), gen())
    assert feats.shape == (2, 16, 4, 4, 4)
    # the first 8 channels, shuffled back, are the TSDF averaged over 2³ cells (× the scale)
    coarse = torch.nn.functional.avg_pool3d(torch.from_numpy(vols[:, :1]), 2)
    assert torch.allclose(pixel_shuffle_3d(feats[:, :8], 2), 0.5 * coarse, atol=1e-6)
    noise = initial_features(vols, arch, TrainSettings(feature_init="noise", feature_scale=0.5), gen())
    assert torch.equal(feats[:, 8:], noise[:, 8:]) and not torch.allclose(feats[:, :8], noise[:, :8])
    with pytest.raises(ValueError, match="feature_init"):
        initial_features(vols, arch, TrainSettings(feature_init="zeros"), gen())


def test_batch_loss_is_the_mean_of_each_volumes_loss():
    from nc3d.codecs.shapeset.train import volume_loss

    gen = torch.Generator().manual_seed(3)
    target = torch.rand((3, 4, 12, 12, 12), generator=gen) * 4 - 2  # near-surface cells differ per volume
    target[2, 0] = 1.0  # a volume with no near-surface cell
    pred = torch.rand((3, 4, 12, 12, 12), generator=gen) * 2 - 1
    each = torch.stack([volume_loss(pred[i : i + 1], target[i : i + 1], 5.0, 10.0) for i in range(3)])
    assert torch.allclose(volume_loss(pred, target, 5.0, 10.0), each.mean(), atol=1e-5)


def test_feature_init_option_reaches_training(shapes):
    two = shapes[:2]
    blobs = {
        init: nc3d.compress(two, codec="shapeset", feature_init=init, **TINY) for init in ("tsdf", "noise")
    }
    assert nc3d.info(blobs["noise"])["header"]["train"]["feature_init"] == "noise"
    assert nc3d.info(blobs["tsdf"])["header"]["train"]["feature_init"] == "tsdf"
    assert blobs["tsdf"] != blobs["noise"]
    with pytest.raises(InputError):
        nc3d.compress(two, codec="shapeset", feature_init="zeros", **TINY)


def test_epochs_count_passes_over_the_set_and_surface_power_reaches_training(shapes):
    three = shapes[:3]
    tiny = {k: v for k, v in TINY.items() if k != "steps"}
    blob = nc3d.compress(three, codec="shapeset", epochs=75, batch_size=2, surface_power=0.5, **tiny)
    train = nc3d.info(blob)["header"]["train"]
    assert train["steps"] == 150 and train["surface_power"] == 0.5  # 75 passes × ⌈3 / 2⌉ batches
    with pytest.raises(InputError):
        nc3d.compress(three, codec="shapeset", epochs=0, **tiny)
    with pytest.raises(InputError):
        nc3d.compress(three, codec="shapeset", surface_power=-1.0, **tiny)


def test_an_open_sheet_comes_back_as_a_thin_shell_and_is_refused_without_one():
    """A flat open sheet (all vertices at z = 0) has no inside: by default it is wrapped in a thin
    closed shell and decodes; with open_shell = 0 the set is refused before training, naming it,
    instead of a 'success' whose file decodes without it."""
    import trimesh

    sheet = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    shapes = [("ball", _mesh(trimesh.creation.icosphere(subdivisions=2))), ("sheet", _mesh(sheet))]
    with pytest.raises(nc3d.InputError, match=r"1 of 2 shapes have no inside.*: sheet;"):
        nc3d.compress(shapes, codec="shapeset", **(TINY | {"open_shell": 0.0}))
    blob = nc3d.compress(shapes, codec="shapeset", **TINY)
    assert nc3d.info(blob)["header"]["tsdf_def"]["open_shell"] == 0.25
    decoded = dict(nc3d.decompress(blob))
    assert len(decoded["sheet"].faces) > 0
    z = decoded["sheet"].vertices[:, 2]
    assert np.abs(z).max() < 0.15  # a thin plate round z = 0, not a blob


def test_one_named_mesh_in_a_list_is_a_set_of_one(shapes):
    loaded = nc3d.load_input([shapes[0]])
    assert loaded.kind == "meshset" and [n for n, _ in loaded.data] == ["sphere"]
    assert nc3d.load_input([shapes[0][1]]).kind == "mesh"


def test_the_size_of_the_file_is_chosen_from_the_set():
    from nc3d.codecs.shapeset.size import choose_size, predicted_bytes

    grid = {"resolution": 64, "feature_resolution": 4, "min_width": 16}
    # 38 meshes of 11.7 MB binary PLY at the default 50×: the measured default (width 16, 16 channels, 8 bits)
    c38 = choose_size(38, 11_700_000 // 50, **grid)
    assert (c38.width, c38.channels, c38.bits) == (16, 16, 8)
    # a dozen meshes of 5 MB: a decoder that is not most of a 100 kB file
    c12 = choose_size(12, 100_000, **grid)
    assert c12.width < 16 and c12.predicted_bytes <= 100_000
    # a thousand small meshes: fewer feature channels, the decoder still gets its share
    c1k = choose_size(1000, 500_000, **grid)
    assert c1k.channels < 16 and c1k.predicted_bytes <= 500_000
    # more bytes never choose a smaller file
    sizes = [
        choose_size(200, t, **grid).predicted_bytes for t in (50_000, 100_000, 200_000, 400_000, 800_000)
    ]
    assert sizes == sorted(sizes)
    # what the user fixes is kept
    fixed = choose_size(12, 100_000, **grid, width=24, bits=8)
    assert fixed.width == 24 and fixed.bits == 8
    arch = Architecture(resolution=64, feature_resolution=4, channels=16, width=16, min_width=16)
    assert predicted_bytes(arch, 8, 38) == pytest.approx(228_703, rel=0.05)  # the measured file


def test_target_bytes_reaches_the_architecture_and_the_header(shapes):
    tiny = {k: v for k, v in TINY.items() if k != "decoder_width"}
    small = nc3d.info(nc3d.compress(shapes, codec="shapeset", target_bytes=4000, **tiny))["header"]
    large = nc3d.info(nc3d.compress(shapes, codec="shapeset", target_bytes=80000, **tiny))["header"]
    assert small["size"]["target_bytes"] == 4000 and large["size"]["target_bytes"] == 80000
    assert (small["architecture"]["width"], small["bits"]) == (8, 6)  # nothing smaller exists
    assert (large["architecture"]["width"], large["bits"]) == (10, 8)
    with pytest.raises(InputError, match="give one of"):
        nc3d.compress(shapes, codec="shapeset", target_bytes=4000, target_ratio=10.0, **tiny)


def test_add_fits_new_shapes_to_the_frozen_decoder(blob, shapes, tmp_path, capsys, monkeypatch):
    """`nc3d add`: the new file keeps every stored shape bit for bit, adds the new one (decoding
    to a surface, measured), and the set file given is not touched."""
    from nc3d.cli import main

    monkeypatch.setenv("NC3D_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "set.nc3d"
    src.write_bytes(blob)
    new = tmp_path / "capsule.ply"
    save_mesh(new, _mesh(trimesh.creation.capsule(0.6, 0.35)))
    out = tmp_path / "grown.nc3d"
    assert main(["add", str(src), str(new), "-o", str(out), "--steps", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["names"] == ["capsule"] and 0 < report["f_score_0.01"][0] <= 1
    assert report["bytes_added"] == out.stat().st_size - len(blob) > 0
    assert src.read_bytes() == blob
    old, grown = nc3d.open(blob), nc3d.open(out)
    assert grown.names == [*old.names, "capsule"] and grown.container.header["added"] == [
        {"count": 1, "steps": 30}
    ]
    for name in old.names:
        np.testing.assert_array_equal(grown.volume(name), old.volume(name))
    assert len(grown.decode_shape("capsule").faces) > 0
    assert grown.shape_quality()[-1]["f_score_0.01"] == pytest.approx(report["f_score_0.01"][0], abs=2e-3)
    assert main(["add", str(src), str(new), "-o", str(src), "--force"]) == 1  # never over the set itself
    assert "not overwritten" in capsys.readouterr().err


def test_a_set_decodes_to_a_folder_in_worker_processes(tmp_path, monkeypatch):
    """Whole-set decode with --jobs 2: each worker opens the file and writes its shapes; the files
    are those of a decode in this process."""
    from nc3d.batch import decode_set_to_folder

    shapes = [(f"ball{i}", _mesh(trimesh.creation.icosphere(1, radius=0.5 + 0.05 * i))) for i in range(10)]
    blob = nc3d.compress(shapes, codec="shapeset", **TINY)
    src = tmp_path / "set.nc3d"
    src.write_bytes(blob)
    names = [n for n, _ in shapes]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = decode_set_to_folder(src, names, [tmp_path / "a" / f"{n}.ply" for n in names], jobs=1)
    two = decode_set_to_folder(src, names, [tmp_path / "b" / f"{n}.ply" for n in names], jobs=2)
    assert [n for n, _ in two] == names and all(p is not None for _, p in two)
    for (_, a), (_, b) in zip(one, two):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_the_refit_takes_every_empty_shape_and_only_the_weakest_few_others(monkeypatch):
    """In a briefly trained set half the shapes may sit below half the median: refitting all of
    them would cost more than the training. Every empty shape and at most 8 others."""
    from nc3d.codecs.shapeset import check

    n = 200
    f = np.linspace(0.01, 0.9, n)
    f[[3, 50]] = 0.0  # two empty shapes
    empty = f == 0
    refitted: list[int] = []

    def measure(model, features, meshes, samples, seed=0):
        idx = [int(m) for m in meshes]
        return f[idx], np.where(empty[idx], np.inf, 0.01), empty[idx].copy()

    starts: dict[int, float] = {}

    def refit(model, volumes, features, step, bits, **kw):
        refitted.extend(int(v) for v in volumes)
        starts.update({int(v): float(x) for v, x in zip(volumes, features.ravel())})
        return features + 1.0  # "better": measure() above is unchanged, so nothing is kept

    def closest(model, candidates, volumes, **kw):  # "closest": the first candidate
        assert not (candidates == -1).any()  # only shapes that decode to a surface
        return np.repeat(candidates[:1], len(volumes), 0)

    monkeypatch.setattr(check, "measure_shapes", measure)
    monkeypatch.setattr(check, "refit_features", refit)
    monkeypatch.setattr(check, "closest_features", closest)
    feats = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1, 1)
    feats[empty] = -1
    with pytest.raises(nc3d.EncodeError, match="2 of 200 shapes decode to no surface"):
        check.check_and_refit(
            None,
            feats,
            0.1,
            8,
            np.arange(n),
            list(np.arange(n)),
            [str(i) for i in range(n)],
            samples=10,
            refit_steps=5,
            refit_lr=0.1,
        )
    median = np.median(f[~empty])
    weakest = [i for i in np.argsort(f, kind="stable") if not empty[i] and f[i] < 0.5 * median][:8]
    assert sorted(refitted) == sorted([3, 50, *weakest])
    # the empty shapes start from another shape's feature, the weak ones from their own
    assert starts[3] == starts[50] == 0.0 and all(starts[i] == i for i in weakest)


def test_closest_features_finds_the_stored_feature_of_a_decoded_volume(blob):
    """Given the decoded volumes of some stored shapes (shuffled), the closest stored feature of
    each is its own: the start a new or lost shape's refit gets."""
    from nc3d.codecs.shapeset.train import closest_features, decode_volumes

    handle = nc3d.open(blob)
    stored = np.stack([handle.features(i) for i in range(handle.count)])
    order = np.random.default_rng(1).permutation(handle.count)
    volumes = decode_volumes(handle.model(), stored[order])
    np.testing.assert_array_equal(closest_features(handle.model(), stored, volumes), stored[order])
    # with fewer candidates decoded than stored, each answer is still one of the stored features
    few = closest_features(handle.model(), stored, volumes, most=2)
    assert all(any((f == s).all() for s in stored) for f in few)
    with pytest.raises(ValueError, match="no candidates"):
        closest_features(handle.model(), stored[:0], volumes)


@pytest.mark.parametrize("key", ["shapeset", "shapeset-v2", "shapeset-v3"])
def test_every_index_layout_decodes_as_recorded(key):
    """Format 1 kept frames and feature sizes in the JSON header and plain names; format 2 keeps
    them in xz sections (codecs/shapeset/index.py); format 3 adds shapes stored as Draco meshes
    (its golden file: the first shape a mesh). Every golden file decodes as recorded."""
    import hashlib

    from nc3d.testing import fuzz
    from test_golden import _close

    golden = Path(__file__).parent / "golden"
    want = json.loads((golden / "expected.json").read_text())[key]
    blob = (golden / want["file"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == want["file_sha256"]
    c = unpack(blob)
    fmt = c.header.get("format", 1)
    assert fmt == {"shapeset": 1, "shapeset-v2": 2, "shapeset-v3": 3}[key]
    assert ("index.xz" in c.sections) == (fmt >= 2) and ("meshes" in c.sections) == (fmt >= 3)
    kind, result = fuzz.decode_quick(blob)
    _close(fuzz.describe_result(kind, result), want["decoded"])


def test_the_index_costs_a_few_bytes_per_shape_and_keeps_frames_exact():
    """A 1,000-shape index of path-like names: well under the ~180 bytes per shape of the
    format-1 header; frames come back bit for bit."""
    from nc3d.codecs.shapeset.index import pack_index, read_index
    from nc3d.geometry.normalize import Frame

    rng = np.random.default_rng(0)
    n = 1000
    frames = [Frame(tuple(rng.normal(size=3) * 100), float(rng.uniform(0.01, 10))) for _ in range(n)]
    names = [f"kit-{i % 7}/props/part_{i:04d}_{['red', 'blue'][i % 2]}" for i in range(n)]
    sizes = rng.integers(50, 400, n)
    header, sections = pack_index(frames, sizes, names)
    per_shape = sum(len(b) for b in sections.values()) / n
    assert per_shape < 45  # random float64 frames dominate: 32 bytes each before xz
    sections["meshes"] = b""  # what tells a format-3 index (with mesh sizes) from a format-2 one
    index = read_index(header, sections, n)
    assert index.frames == frames and index.feature_bytes.tolist() == sizes.tolist()
    assert index.names == safe_names(names)


def test_adding_to_a_format_1_set_writes_the_current_format(blob, tmp_path, monkeypatch):
    monkeypatch.setenv("NC3D_CACHE_DIR", str(tmp_path / "cache"))
    new = nc3d.open(blob)
    c = new.container  # the same set written in format 1: the index in the header, plain names
    header = {k: v for k, v in c.header.items() if k != "names_bytes"}
    header.update(format=1, frames=[f.to_dict() for f in new.frames], feature_bytes=new.shape_bytes())
    sections = {k: v for k, v in c.sections.items() if not k.endswith(".xz")}
    sections["names"] = "\n".join(new.names).encode()
    old = nc3d.open(pack(Container(c.codec, header, sections)))
    assert old.names == new.names and old.frames == new.frames
    grown_blob, _ = old.add_shapes([("ball", _mesh(trimesh.creation.icosphere(2, radius=0.7)))], steps=30)
    grown = nc3d.open(grown_blob)
    assert grown.container.header["format"] == 3 and "frames" not in grown.container.header
    assert grown.names == [*old.names, "ball"] and grown.frames[: old.count] == old.frames
    assert grown.shape_bytes()[: old.count] == old.shape_bytes()
    for name in old.names:
        np.testing.assert_array_equal(grown.volume(name), old.volume(name))


# -- shapes stored as Draco meshes (mesh_shapes = "auto", format 3) ------------------------------

AUTO = {k: v for k, v in TINY.items() if k != "mesh_shapes"}


def test_a_set_draco_stores_near_losslessly_trains_no_decoder(shapes, monkeypatch):
    """Low-poly shapes whose Draco files reach F ≈ 1 in the budget: no decoder is trained (it could
    not do better than the TSDF-Def volumes, F < 0.97), every shape decodes from its mesh."""
    from nc3d.codecs.shapeset import codec

    def no_training(*a, **k):
        raise AssertionError("trained a decoder for a set Draco stores near-losslessly")

    monkeypatch.setattr(codec, "train_auto_decoder", no_training)
    blob = nc3d.compress(shapes, codec="shapeset", target_ratio=2.0, **AUTO)
    handle = nc3d.open(blob)
    assert not handle.neural.any() and handle.container.header["size"]["meshes"] == len(shapes)
    # no decoder: none of its training settings in the header either
    assert "train" not in handle.container.header and "tsdf_def" not in handle.container.header
    assert handle.stored_bytes() == len(handle.container.sections["meshes"])
    assert handle.container.sections["decoder"] == b"" and handle.container.sections["features"] == b""
    assert sum(handle.shape_bytes()) == len(handle.container.sections["meshes"])
    for (name, mesh), q in zip(shapes, handle.shape_quality()):
        decoded = handle.decode_shape(safe_names([name])[0])
        assert q["f_score_0.01"] >= 0.97 and len(decoded.faces) > 0
        np.testing.assert_allclose(decoded.bounds, mesh.bounds, atol=0.02)  # in the original frame
    with pytest.raises(InputError, match="stored as a Draco mesh"):
        handle.volume(0)
    # it grows by meshes: the cheapest Draco file reaching the set's mean F
    grown_blob, report = handle.add_shapes([("ball", _mesh(trimesh.creation.icosphere(1)))])
    grown = nc3d.open(grown_blob)
    assert report["meshes"] == ["ball"] and not grown.neural.any() and grown.count == len(shapes) + 1
    level = np.mean([q["f_score_0.01"] for q in handle.shape_quality()])
    assert report["f_score_0.01"][0] >= level - 1e-9
    assert len(grown.decode_shape("ball").faces) > 0


@pytest.fixture(scope="module")
def mixed_blob(shapes):
    """A set whose first shape is a Draco mesh and the others neural features (the choice forced,
    so the layout is exercised whatever the measured options say)."""
    from nc3d.codecs.shapeset import codec

    real = codec.choose_storage
    with pytest.MonkeyPatch.context() as mp:

        def first_as_mesh(options, budget, **kw):
            _MIXED_FLOORS.append(kw.get("floor"))
            if kw.get("neural_bytes") is None:
                return False, np.zeros(len(options), int), 0.0  # below MESHES_ENOUGH: train
            real(options, budget, **kw)  # still runs (the arguments are well-formed)
            return True, np.array([0] + [-1] * (len(options) - 1)), 0.0

        real_check = codec.check_and_refit

        def check_and_refit(*args, **kw):
            _MIXED_REFIT_STEPS.append(kw["refit_steps"])
            return real_check(*args, **kw)

        mp.setattr(codec, "choose_storage", first_as_mesh)
        mp.setattr(codec, "check_and_refit", check_and_refit)
        mp.setattr(codec, "floor_within", lambda options, budget, shortfall: 0.123)
        torch.set_num_threads(1)
        return nc3d.compress(shapes, codec="shapeset", target_ratio=50.0, **AUTO)  # a size: trains


_MIXED_REFIT_STEPS: list[int] = []
_MIXED_FLOORS: list = []


def test_a_set_with_meshes_to_fall_back_on_refits_nothing(mixed_blob):
    # its weak or empty shapes are stored as meshes where better: no whole-volume refits
    assert _MIXED_REFIT_STEPS == [0]


def test_a_size_holds_every_shape_to_its_floor_before_and_after_training(mixed_blob):
    # the floor found for the size asked for (floor_within) bounds both choices of storage
    assert _MIXED_FLOORS == [0.123, 0.123]


def test_a_mixed_set_decodes_meshes_and_features(mixed_blob, shapes, tmp_path, monkeypatch):
    handle = nc3d.open(mixed_blob)
    assert handle.neural.tolist() == [False, True, True]
    sizes = handle.shape_bytes()
    assert sizes[0] == len(handle.container.sections["meshes"]) and sum(sizes[1:]) == len(
        handle.container.sections["features"]
    )
    box_like = handle.decode_shape(0)
    assert len(box_like.faces) == len(shapes[0][1].faces)  # option 0: all faces, 14 bits
    np.testing.assert_allclose(box_like.bounds, shapes[0][1].bounds, atol=1e-3)
    with pytest.raises(InputError, match="stored as a Draco mesh"):
        handle.features(0)
    assert handle.volume(1).shape[0] == 4 and len(handle.decode_shape(1).faces) > 0
    assert [n for n, _ in nc3d.decompress(mixed_blob)] == handle.names
    # growing it: the new shape as a feature or a mesh (whichever is cheapest at the set's level),
    # the stored mesh and features stay as they were
    monkeypatch.setenv("NC3D_CACHE_DIR", str(tmp_path / "cache"))
    grown_blob, report = handle.add_shapes(
        [("ball", _mesh(trimesh.creation.icosphere(2, radius=0.7)))], steps=20
    )
    grown = nc3d.open(grown_blob)
    assert grown.neural.tolist() == [False, True, True, report["meshes"] != ["ball"]]
    assert len(grown.decode_shape("ball").faces) > 0
    np.testing.assert_array_equal(grown.decode_shape(0).vertices, box_like.vertices)
    np.testing.assert_array_equal(grown.volume(2), handle.volume(2))


@pytest.mark.parametrize(
    "sections",
    [
        {"meshes": b""},  # the index says shape 0 has mesh bytes
        {"meshes": None},  # no meshes section: read as format 2, whose index is shorter
        {"features": b""},
    ],
)
def test_hostile_mixed_files_raise_format_error(mixed_blob, sections):
    c = unpack(mixed_blob)
    sec = {k: v for k, v in {**c.sections, **sections}.items() if v is not None}
    with pytest.raises(FormatError):
        nc3d.decompress(pack(Container(c.codec, c.header, sec)))


def test_a_corrupt_draco_shape_raises_format_error(mixed_blob):
    c = unpack(mixed_blob)
    garbage = bytes(np.random.default_rng(0).integers(0, 256, len(c.sections["meshes"]), np.uint8))
    with pytest.raises(FormatError):
        nc3d.open(pack(Container(c.codec, c.header, {**c.sections, "meshes": garbage}))).decode_shape(0)


def test_choose_storage_keeps_the_decoder_only_where_it_pays():
    from nc3d.codecs.shapeset.meshes import MeshOption, choose_storage

    def opts(*pairs):
        return [MeshOption(b"x" * n, f, 0.01) for n, f in pairs]

    options = [opts((100, 0.5), (400, 0.99)), opts((100, 0.3), (2000, 0.9))]
    # no decoder: the bytes go to the shape they help most
    with_decoder, choice, f = choose_storage(options, 600)
    assert not with_decoder and choice.tolist() == [1, 0] and f == pytest.approx(0.645)
    # a cheap decoder and a good feature for the second shape: kept
    with_decoder, choice, f = choose_storage(
        options, 2100, neural_bytes=np.array([300, 300]), neural_f=np.array([0.6, 0.85]), decoder_bytes=800
    )
    assert with_decoder and choice.tolist() == [1, -1] and f == pytest.approx((0.99 + 0.85) / 2)
    # the same feature, but an empty shape (no bytes buy it) and a decoder costing everything
    with_decoder, choice, _ = choose_storage(
        options,
        2100,
        neural_bytes=np.array([np.inf, 300]),
        neural_f=np.array([0.0, 0.85]),
        decoder_bytes=2000,
    )
    assert not with_decoder and -1 not in choice.tolist()


def test_draco_options_come_back_from_the_cache_and_a_bad_entry_is_measured_again(tmp_path, monkeypatch):
    from nc3d.codecs.shapeset import meshes

    box = _mesh(trimesh.creation.box((1, 0.6, 0.4)))
    first = meshes.draco_options(box, 500, cache_dir=tmp_path)
    assert first and len(first) % len(meshes.BITS) == 0  # every bits of each ratio decimation reached
    (entry,) = tmp_path.glob("*.npz")

    def no_measuring(*a, **k):
        raise AssertionError("measured again")

    with monkeypatch.context() as mp:
        mp.setattr(meshes, "compare_meshes", no_measuring)
        again = meshes.draco_options(box, 500, cache_dir=tmp_path)
    assert [(o.blob, o.f_score, o.chamfer_p2s) for o in again] == [
        (o.blob, o.f_score, o.chamfer_p2s) for o in first
    ]
    with np.load(entry) as z:
        parts = dict(z)
    parts["blobs"] = parts["blobs"].copy()
    parts["blobs"][5] ^= 0xFF  # a file that no longer matches its SHA-256
    np.savez(entry, **parts)
    measured: list[int] = []
    real = meshes.compare_meshes
    monkeypatch.setattr(meshes, "compare_meshes", lambda *a, **k: measured.append(1) or real(*a, **k))
    assert [o.blob for o in meshes.draco_options(box, 500, cache_dir=tmp_path)] == [o.blob for o in first]
    assert measured  # measured again, not trusted


def test_target_f_score_gives_the_fewest_bytes_that_reach_it(shapes):
    """Every shape a Draco mesh, the bytes shared out: the mean F reaches the target, and a
    higher target costs more bytes."""
    low = nc3d.compress(shapes, codec="shapeset", target_f_score=0.8, **AUTO)
    high = nc3d.compress(shapes, codec="shapeset", target_f_score=0.999, **AUTO)
    for blob, want in ((low, 0.8), (high, 0.999)):
        h = nc3d.open(blob)
        assert not h.neural.any()
        assert np.mean([q["f_score_0.01"] for q in h.shape_quality()]) >= want - 2e-3  # float16 storage
    assert len(low) < len(high)
    with pytest.raises(InputError, match="mesh_shapes = auto"):
        nc3d.compress(shapes, codec="shapeset", target_f_score=0.9, **TINY)


def test_the_default_size_is_the_fewest_bytes_at_mean_f_095(shapes, monkeypatch):
    from nc3d.codecs.shapeset import codec

    monkeypatch.setattr(codec, "train_auto_decoder", lambda *a, **k: pytest.fail("trained"))
    default = nc3d.compress(shapes, codec="shapeset", **AUTO)
    same = nc3d.compress(shapes, codec="shapeset", target_f_score=codec.DEFAULT_F_SCORE, **AUTO)
    assert default == same and codec.DEFAULT_F_SCORE == 0.95
    assert nc3d.info(default)["header"]["quality"]["f_score_0.01"] >= 0.95 - 2e-3


def test_a_longer_draco_ladder_measures_only_the_new_settings(tmp_path, monkeypatch):
    from nc3d.codecs.shapeset import meshes

    ball = _mesh(trimesh.creation.icosphere(2))
    monkeypatch.setattr(meshes, "BITS", (12, 8))
    short = meshes.draco_options(ball, 500, cache_dir=tmp_path)
    monkeypatch.setattr(meshes, "BITS", (12, 10, 8))
    calls: list[int] = []
    real = meshes.compare_meshes
    monkeypatch.setattr(meshes, "compare_meshes", lambda *a, **k: calls.append(1) or real(*a, **k))
    longer = meshes.draco_options(ball, 500, cache_dir=tmp_path)
    assert len(calls) == len(short) // 2  # one new bits setting per ratio
    assert [(o.ratio, o.bits) for o in longer if o.bits != 10] == [(o.ratio, o.bits) for o in short]
    assert [o.bits for o in longer[:3]] == [12, 10, 8]


def test_choose_storage_keeps_every_shape_above_the_floor_where_it_can():
    from nc3d.codecs.shapeset.meshes import MeshOption, choose_storage

    options = [
        [MeshOption(b"x" * 100, 0.3, 0.1), MeshOption(b"x" * 900, 0.85, 0.01)],  # cheap but poor, or dear
        [MeshOption(b"x" * 100, 0.9, 0.01), MeshOption(b"x" * 300, 1.0, 0.001)],
        [MeshOption(b"x" * 50, 0.6, 0.02)],  # nothing reaches the floor: its best stays
    ]
    assert choose_storage(options, 500)[1].tolist() == [0, 1, 0]  # the most mean F for the bytes
    assert choose_storage(options, 500, floor=0.8)[1].tolist() == [1, 0, 0]  # over budget, none starved


def test_default_training_grows_with_the_set():
    from nc3d.codecs.shapeset.codec import DEFAULT_EPOCHS, training_steps

    # a small set keeps the measured 32,000 steps (~3,400 passes over 38 shapes) ...
    assert training_steps(38, 4) == 32_000
    # ... a large one gets DEFAULT_EPOCHS passes: each feature learns only when its shape is drawn
    assert training_steps(1_097, 4) == DEFAULT_EPOCHS * 275 > 32_000
    assert training_steps(1_097, 8) == DEFAULT_EPOCHS * 138
    # what the user asks for wins (epochs before steps, as the presets rely on)
    assert training_steps(1_097, 4, steps=500) == 500
    assert training_steps(10, 4, steps=500, epochs=2) == 6
    # under torchrun each process draws its own batch: the same passes take fewer steps
    assert training_steps(1_097, 4, processes=2) == DEFAULT_EPOCHS * 138


def test_cli_prints_the_weakest_shapes_and_the_shared_out_baseline(shapes, tmp_path, capsys):
    src, out = _folder_of([*shapes[:2], ("annulus", shapes[2][1])], tmp_path)
    # a quality asked for: Draco files only, no training (seconds)
    flags = ["--codec", "shapeset", "--cache-dir", "off", "--target-f-score", "0.8"]
    assert main(["compress", str(src), "-o", str(out), *flags]) == 0
    printed = " ".join(capsys.readouterr().err.split())  # the report is on stderr, wrapped
    assert "weakest shapes" in printed and "sphere" in printed and "box" in printed
    assert "with the shapes' bytes shared out among them" in printed
    # the file is Draco files alone: decimation + Draco is not "the better choice" against itself
    assert "better choice" not in printed


def test_bytes_for_quality_counts_what_the_floor_takes():
    from nc3d.codecs.shapeset.meshes import MeshOption, bytes_for_quality

    def ladder():  # a crumpled 100-byte file and a good 1,000-byte one
        return [MeshOption(b"x" * 100, 0.0, 1.0), MeshOption(b"x" * 1000, 0.9, 0.01)]

    options = [ladder(), ladder()]
    # a mean of 0.4 without a floor: one shape good, one crumpled
    assert bytes_for_quality(options, 0.4) == pytest.approx(1100, rel=1e-3)
    # with no shape below 0.5, both good: the floor, not the mean, sets the bytes
    assert bytes_for_quality(options, 0.4, floor=0.5) == 2000


def test_a_size_lifts_crumpled_shapes_as_far_as_its_bytes_allow():
    from nc3d.codecs.shapeset.meshes import MeshOption, choose_storage, floor_within

    def ladder(*pairs):
        return [MeshOption(b"x" * n, f, 0.0) for n, f in pairs]

    dear = ladder((100, 0.0), (2000, 0.8))  # crumpled, or good and dear
    options = [dear, ladder((100, 0.5), (300, 1.0)), ladder((100, 0.5), (300, 1.0))]
    # the most mean quality in 2,300 B leaves the dear shape crumpled (mean 0.667)
    _, pick, mean = choose_storage(options, 2300)
    assert pick[0] == 0 and mean == pytest.approx(2 / 3)
    # the floor: 0.45 below that mean, and the bytes allow it: the dear shape comes back
    floor = floor_within(options, 2300, 0.45)
    assert floor == pytest.approx(2 / 3 - 0.45)
    _, pick, mean = choose_storage(options, 2300, floor=floor)
    assert pick.tolist() == [1, 0, 0] and mean == pytest.approx(0.6)
    # 700 B cannot pay for it: no floor rather than a file over its size
    assert floor_within(options, 700, 0.45) == 0.0
