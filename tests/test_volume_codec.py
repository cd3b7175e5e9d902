"""The ``volume-conv`` codec (learned conv transform coding): shipped model, latent coder, training."""

from __future__ import annotations

import numpy as np
import pytest

from nc3d import container
from nc3d.codecs import get_codec
from nc3d.codecs.volume import volume_conv as volume_codec
from nc3d.codecs.volume.volume_conv_latents import decode_latents, encode_latents, laplace_tables
from nc3d.codecs.volume.volume_conv_model import Architecture, default_model_path, load_model, save_model
from nc3d.codecs.volume.volume_conv_train import TrainSettings, normalize_volume, train_transform
from nc3d.errors import FormatError, InputError
from nc3d.samples import sample_volume_path


def _psnr(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return 10 * np.log10((a.max() - a.min()) ** 2 / np.mean((a - b) ** 2))


@pytest.fixture(scope="module")
def head():
    return np.load(sample_volume_path())  # (42, 62, 48) uint8: not a multiple of 8 on two axes


@pytest.fixture(scope="module")
def codec():
    return get_codec("volume-conv")


def test_default_codec_for_volumes_is_volume(head):
    import nc3d

    blob = nc3d.compress(head)
    assert container.unpack(blob).codec == "volume"  # the learned-DCT codec (test_volume_ldct.py)


def test_round_trip_keeps_shape_dtype_and_quality(codec, head):
    blob = codec.encode(head, quality=4)
    out = codec.decode(blob)
    assert out.shape == head.shape and out.dtype == head.dtype
    assert head.nbytes / len(blob) > 5
    assert _psnr(head, out) > 25.0


def test_quality_trades_size_for_psnr(codec, head):
    sizes, psnrs = [], []
    for q in (0, 3, 6):
        blob = codec.encode(head, quality=q)
        sizes.append(len(blob))
        psnrs.append(_psnr(head, codec.decode(blob)))
    assert sizes[0] < sizes[1] < sizes[2]
    assert psnrs[0] < psnrs[1] < psnrs[2]


def test_odd_shapes_signed_floats_and_constants(codec):
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[:13, :9, :21]
    vol = (np.sin(z / 3.0) * np.cos(x / 4.0) * 50 - 20 + rng.normal(0, 0.1, z.shape)).astype(np.float32)
    out = codec.decode(codec.encode(vol, quality=6))
    assert out.shape == vol.shape and out.dtype == np.float32
    assert out.min() >= vol.min() and out.max() <= vol.max()
    assert _psnr(vol, out) > 20
    const = np.full((5, 7, 3), 1234, dtype=np.int16)
    assert np.array_equal(codec.decode(codec.encode(const)), const)


def test_encoding_and_decoding_are_deterministic(codec, head):
    a, b = codec.encode(head, quality=2.5), codec.encode(head, quality=2.5)
    assert a == b
    assert np.array_equal(codec.decode(a), codec.decode(a))


def test_target_psnr_picks_the_smallest_quality_reaching_it(codec, head):
    blob = codec.encode(head, target_psnr=25.0)
    header = container.unpack(blob).header
    q = header["quality"]
    assert _psnr(head, codec.decode(blob)) >= 25.0
    assert header["psnr"] >= 25.0
    if q > 0:  # one grid step less does not reach it
        assert _psnr(head, codec.decode(codec.encode(head, quality=q - 0.25))) < 25.0


def test_laplace_tables_are_integer_and_exact():
    t = laplace_tables(np.array([32768, 0, 65535]), 3)
    assert t.dtype == np.int64 and t.shape == (3, 7)
    assert t[0].tolist() == [1 << 21, 1 << 22, 1 << 23, 1 << 24, 1 << 23, 1 << 22, 1 << 21]
    assert t[1].tolist() == [1, 1, 1, 1 << 24, 1, 1, 1]
    assert np.array_equal(t, laplace_tables(np.array([32768, 0, 65535]), 3))


def test_latent_coder_round_trip_and_rate():
    rng = np.random.default_rng(0)
    q = np.round(rng.laplace(0, [[0.2], [2.0], [15.0], [0.0]], size=(4, 5000))).astype(np.int64)
    q[1] += 7
    blob = encode_latents(q)
    assert np.array_equal(decode_latents(blob, 4, 5000), q)
    entropy = 0.0
    for row in q:
        _, c = np.unique(row, return_counts=True)
        p = c / c.sum()
        entropy -= (c * np.log2(p)).sum()
    assert len(blob) * 8 < 1.03 * entropy + 400  # within 3% of the empirical entropy + side info


def test_corrupt_files_are_format_errors(codec, head):
    blob = codec.encode(head, quality=2)
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x40
    with pytest.raises(FormatError):
        codec.decode(bytes(bad))
    c = container.unpack(blob)
    for change in (
        {"model_digest": "0" * 16},
        {"latent_shape": [48, 1, 1, 1]},
        {"shape": [1 << 20] * 3},
        {"dtype": "object"},
        {"quality": -1},
        {"range": [1.0, float("nan")]},
    ):
        with pytest.raises(FormatError):
            codec.decode_parts({**c.header, **change}, c.sections)
    with pytest.raises(FormatError):
        codec.decode_parts(c.header, {"latents": c.sections["latents"][:7]})
    with pytest.raises(FormatError):
        decode_latents(b"\xff" * 5, 48, 10)


def test_bad_inputs_are_input_errors(codec, head, tmp_path):
    with pytest.raises(InputError):
        codec.encode(np.zeros((4, 4)))
    with pytest.raises(InputError):
        codec.encode(head, quality=40)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(InputError):
        codec.encode(head, model=str(junk))


def test_shipped_model_is_small_and_embeddable(codec, head):
    assert default_model_path().stat().st_size < 1_000_000
    embedded = codec.encode(head, quality=3, model=str(default_model_path()))
    plain = codec.encode(head, quality=3)
    assert len(embedded) > len(plain) + 100_000  # the model's bytes count
    assert np.array_equal(codec.decode(embedded), codec.decode(plain))


def test_training_reduces_loss_and_the_model_file_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:24, :24, :24]
    vols = [
        normalize_volume(np.sin(z / s) + np.cos(y / s) * x / 24 + rng.normal(0, 0.01, z.shape))
        for s in (3.0, 5.0)
    ]
    arch = Architecture(channels=4, latent=4, lambdas=(100.0, 1000.0))
    net, log = train_transform(vols, arch, TrainSettings(steps=60, batch=2, crop=16, lr=5e-3))
    assert log[-1][3] > log[0][3] + 3  # PSNR of the training batch rises
    path = tmp_path / "m.npz"
    save_model(net, path)
    again, digest = load_model(path)
    assert len(digest) == 16 and again.arch == arch
    blob = get_codec("volume-conv").encode((vols[0] * 1000).astype(np.uint16), model=str(path), quality=1)
    out = get_codec("volume-conv").decode(blob)
    assert out.dtype == np.uint16 and out.shape == (24, 24, 24)
    volume_codec._MODELS.clear()


def test_cli_train_volume_then_compress_with_that_model(tmp_path, capsys):
    import json

    from nc3d.cli import main

    rng = np.random.default_rng(0)
    data = tmp_path / "vols"
    data.mkdir()
    for i in range(2):
        np.save(data / f"v{i}.npy", (rng.random((20, 18, 16)) * 200).astype(np.uint8))
    model = tmp_path / "m.npz"
    assert main(["train-volume", str(data), "-o", str(model), "--steps", "2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["volumes"] == ["v0", "v1"] and model.is_file()
    assert main(["train-volume", str(data), "-o", str(model), "--steps", "2"]) == 1  # exists, no --force
    out = tmp_path / "v.nc3d"
    assert (
        main(
            [
                "compress",
                str(data / "v0.npy"),
                "-o",
                str(out),
                "--codec",
                "volume-conv",
                "--model",
                str(model),
                "--quality",
                "1",
            ]
        )
        == 0
    )
    assert container.unpack(out.read_bytes()).header["model"] == "embedded"
    volume_codec._MODELS.clear()


def test_region_decodes_only_its_latents_and_matches_the_full_decode(codec, head):
    import nc3d

    blob = codec.encode(head, quality=3)
    full = codec.decode(blob)
    part = nc3d.decompress(blob, region="5:30,17:62,0:9")
    assert part.shape == (25, 45, 9)
    diff = np.abs(part.astype(int) - full[5:30, 17:62, 0:9].astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01  # same latents and halo; only float rounding may differ


@pytest.mark.parametrize("codec", ["volume", "dct", "zfp", "sperr", "sz3", "volume-labels"])
def test_a_constant_volume_comes_back(codec):
    """A constant volume of more than 4,096 voxels (once a FormatError at decode: its file holds
    almost no bytes and the shape looked 'out of proportion' to them)."""
    import nc3d

    for dtype in (np.float32, np.uint8):
        v = np.full((20, 30, 20), 3, dtype)
        settings = {"lossless": False} if codec == "volume" else {}
        out = nc3d.decompress(nc3d.compress(v, codec=codec, **settings))
        assert out.dtype == v.dtype and np.array_equal(out, v)


def test_a_tiny_file_cannot_declare_a_huge_constant_volume():
    from nc3d.codecs.volume_header import MAX_CONSTANT_VOXELS, read_volume_header
    from nc3d.errors import FormatError

    side = round(MAX_CONSTANT_VOXELS ** (1 / 3)) + 2
    header = {"shape": [side, side, side], "dtype": "float32", "range": [1.0, 1.0]}
    with pytest.raises(FormatError, match="constant volume"):
        read_volume_header(header, max_voxels_per_byte=64, stored_bytes=0)
    assert read_volume_header({**header, "shape": [64, 64, 64]}, max_voxels_per_byte=64)[0] == (64, 64, 64)
