"""The volume commands: compress (raw flags), decompress to each format and by region, eval, render."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import nc3d
from nc3d.api import choose_codec
from nc3d.cli import main
from nc3d.io import load_volume
from nc3d.samples import sample_volume_path

HEAD = sample_volume_path()  # 42 x 62 x 48 uint8 MR head


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_volume_codec_is_the_neural_one_or_dct():
    assert choose_codec("volume", None).name in ("volume", "dct")


def test_compress_decompress_each_format_and_region(tmp_path, capsys):
    vol = load_volume(HEAD)
    f = tmp_path / "head.nc3d"
    code, out, _ = run(capsys, "compress", HEAD, "-o", f, "--codec", "dct", "--step", "0.01", "--json")
    res = json.loads(out)
    assert (
        code == 0
        and res["codec"] == "dct"
        and res["canonical_bytes"] == vol.nbytes
        and res["ratio_canonical"] > 2
    )
    decoded = nc3d.decompress(f.read_bytes())
    for name in ("out.npy", "out.nii.gz", "out.raw", "out.mhd", "out.tif"):
        code, out, _ = run(capsys, "decompress", f, "-o", tmp_path / name, "--json")
        (written,) = json.loads(out)["outputs"]
        assert code == 0
        np.testing.assert_array_equal(load_volume(written), decoded)
    assert (tmp_path / "out_48x62x42_uint8.raw").is_file()
    code, out, _ = run(
        capsys, "decompress", f, "-o", tmp_path / "part.npy", "--region", "10:20,:30,47:", "--json"
    )
    assert code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "part.npy"), decoded[10:20, :30, 47:])


def test_compress_raw_with_flags_and_by_name(tmp_path, capsys):
    vol = (np.arange(6 * 5 * 4) * 7 % 1000).reshape(6, 5, 4).astype(np.int16)
    raw = tmp_path / "scan.raw"
    raw.write_bytes(vol.tobytes())
    code, _, err = run(capsys, "compress", raw, "-o", tmp_path / "a.nc3d", "--codec", "volume-zlib")
    assert code == 1 and "--shape Z,Y,X --dtype" in err
    code, _, _ = run(capsys, "compress", raw, "-o", tmp_path / "a.nc3d", "--codec", "volume-zlib",
                     "--shape", "6,5,4", "--dtype", "int16")  # fmt: skip
    assert code == 0
    np.testing.assert_array_equal(nc3d.decompress((tmp_path / "a.nc3d").read_bytes()), vol)
    named = tmp_path / "scan_4x5x6_int16.raw"
    named.write_bytes(vol.tobytes())
    code, _, _ = run(capsys, "compress", named, "-o", tmp_path / "b.nc3d", "--codec", "volume-lzma")
    assert code == 0
    np.testing.assert_array_equal(nc3d.decompress((tmp_path / "b.nc3d").read_bytes()), vol)
    code, _, err = run(
        capsys, "compress", raw, "-o", tmp_path / "c.nc3d", "--shape", "6,5,5", "--dtype", "int16"
    )
    assert code == 1 and "needs 300" in err and err.count("\n") == 1


def test_eval_volume_formats_and_nc3d(tmp_path, capsys):
    f = tmp_path / "head.nc3d"
    assert run(capsys, "compress", HEAD, "-o", f, "--codec", "dct", "--step", "0.04")[0] == 0
    nii = tmp_path / "head.nii.gz"
    nc3d.io.save_volume(nii, load_volume(HEAD))
    code, out, _ = run(capsys, "eval", nii, f, "--json")
    res = json.loads(out)
    assert code == 0 and 25 < res["psnr"] < 60
    code, out, _ = run(capsys, "eval", HEAD, nii, "--json")
    assert code == 0 and json.loads(out)["mse"] == 0


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_render_volume_slices(tmp_path, capsys):
    f = tmp_path / "head.nc3d"
    assert run(capsys, "compress", HEAD, "-o", f, "--codec", "dct")[0] == 0
    code, _, _ = run(capsys, "render", HEAD, "--compare", f, "-o", tmp_path / "cmp.png", "--size", "96")
    assert code == 0
    w, h = _png_size(tmp_path / "cmp.png")
    code, _, _ = run(capsys, "render", f, "-o", tmp_path / "one.png", "--size", "96")
    assert code == 0
    w1, h1 = _png_size(tmp_path / "one.png")
    assert w == w1 and h > 1.8 * h1  # two rows of the same three panels
    assert w == 48 + 48 + 62 + 2 * 4  # panels (y, x), (z, x), (z, y) at scale 1, two separators


def test_info_shows_a_wavelet_file_s_shape_and_quality(tmp_path, capsys):
    f = tmp_path / "head.nc3d"
    assert run(capsys, "compress", HEAD, "-o", f, "--quality", "7")[0] == 0
    code, out, _ = run(capsys, "info", f)
    assert code == 0 and 'details: {"shape": [42, 62, 48], "dtype": "uint8"' in out
    assert '"quality": 7.0' in out


def test_render_volume_slices_takes_several_rows():
    from nc3d.errors import InputError
    from nc3d.render.volume import render_volume_slices

    v = np.random.default_rng(0).random((8, 10, 12)).astype(np.float32)
    one = render_volume_slices(v, size=24)
    three = render_volume_slices(v, [v, 1 - v], size=24, labels=("a", "b", "c"))
    assert three.shape[1] == one.shape[1] and three.shape[0] > 2.8 * one.shape[0]
    with pytest.raises(InputError, match="3 rows but 2 labels"):
        render_volume_slices(v, [v, v], labels=("a", "b"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["decompress", "MESH", "-o", "x.obj", "--region", "0:1,0:1,0:1"], "--region applies to volume"),
        (["decompress", "HEADNC", "-o", "x.npy", "--region", "0:99,:,:"], "region along z"),
        (["compress", "HEAD", "-o", "x.nc3d", "--shape", "1,2,3"], "only given for raw files"),
        (["render", "HEAD", "--compare", "SMALL", "-o", "x.png"], "shapes differ"),
    ],
)
def test_volume_command_errors(tmp_path, capsys, argv, message):
    from nc3d.samples import sample_mesh_paths

    mesh_nc3d = tmp_path / "m.nc3d"
    mesh_nc3d.write_bytes(nc3d.compress(sample_mesh_paths()[0], codec="ply-lzma"))
    head_nc3d = tmp_path / "h.nc3d"
    head_nc3d.write_bytes(nc3d.compress(HEAD, codec="volume-zlib"))
    small = tmp_path / "small.npy"
    np.save(small, np.zeros((2, 3, 4), np.uint8))
    names = {"MESH": mesh_nc3d, "HEADNC": head_nc3d, "HEAD": HEAD, "SMALL": small}
    argv = [str(names.get(a, tmp_path / a if a.startswith("x.") else a)) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1


def test_input_bytes_of_a_metaimage_count_its_data_file(tmp_path, capsys):
    vol = load_volume(HEAD)
    header = nc3d.io.save_volume(tmp_path / "head.mhd", vol)
    code, out, _ = run(
        capsys, "compress", header, "-o", tmp_path / "h.nc3d", "--codec", "volume-zlib", "--json"
    )
    res = json.loads(out)
    assert code == 0 and res["input_bytes"] == header.stat().st_size + vol.nbytes
