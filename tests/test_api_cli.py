"""The Python API and the `nc3d` command, end to end through the lossless codec."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nc3d
from nc3d import FormatError, InputError
from nc3d.cli import main
from nc3d.container import Container, pack
from nc3d.io import load_mesh, load_volume
from nc3d.samples import sample_mesh_paths, sample_volume_path

SPOT = sample_mesh_paths()[0]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_data_is_shipped_with_licenses():
    for p in [*sample_mesh_paths(), sample_volume_path()]:
        assert p.is_file()
    d = sample_mesh_paths()[0].parent
    assert (d / "bob_README.txt").is_file() and (d / "Thingi10K_package_LICENSE").is_file()
    assert (sample_volume_path().parent / "Copyright.txt").is_file()
    assert load_volume(sample_volume_path()).shape == (42, 62, 48)


def test_api_round_trip_lossless(box):
    blob = nc3d.compress(box, codec="ply-lzma")
    assert isinstance(blob, bytes)
    back = nc3d.decompress(blob)
    assert isinstance(back, nc3d.Mesh)
    assert np.array_equal(back.faces, box.faces)
    assert np.allclose(back.vertices, box.vertices.astype(np.float32))
    assert nc3d.info(blob)["codec"] == "ply-lzma"


def test_api_accepts_paths_trimesh_and_arrays(box):
    a = nc3d.compress(SPOT, codec="ply-lzma")
    b = nc3d.compress(load_mesh(SPOT).to_trimesh(), codec="ply-lzma")
    c = nc3d.compress((load_mesh(SPOT).vertices, load_mesh(SPOT).faces), codec="ply-lzma")
    assert a == b == c  # deterministic, and the input form does not matter


def test_api_errors(box):
    with pytest.raises(InputError, match="unknown codec"):
        nc3d.compress(box, codec="nope")
    with pytest.raises(InputError, match="no setting"):
        nc3d.compress(box, codec="ply-lzma", bits=8)
    with pytest.raises(FormatError):
        nc3d.decompress(b"not an nc3d file at all")
    with pytest.raises(FormatError, match="codec 'mystery'"):
        nc3d.decompress(pack(Container("mystery", {}, {"x": b"1"})))
    with pytest.raises(FormatError):  # right codec, missing section
        nc3d.decompress(pack(Container("ply-lzma", {"vertices": 3, "faces": 1}, {})))
    assert issubclass(InputError, nc3d.Nc3dError) and issubclass(FormatError, nc3d.Nc3dError)


def test_lossless_decoder_refuses_a_decompression_bomb():
    import lzma

    bomb = lzma.compress(bytes(50_000_000), format=lzma.FORMAT_XZ)
    blob = pack(Container("ply-lzma", {"vertices": 2_000_000, "faces": 2_000_000}, {"ply.xz": bomb}))
    with pytest.raises(FormatError, match="claims"):
        nc3d.decompress(blob)


def test_open_is_lazy_and_decodes(tmp_path, box):
    path = tmp_path / "box.nc3d"
    path.write_bytes(nc3d.compress(box, codec="ply-lzma"))
    f = nc3d.open(path)
    assert f.codec == "ply-lzma" and f.kind == "mesh"
    assert len(f.decode().faces) == len(box.faces)
    g = nc3d.open(path.read_bytes())  # the bytes themselves open the same way
    assert g.codec == "ply-lzma" and len(g.decode().faces) == len(box.faces)
    with pytest.raises(nc3d.FormatError):
        nc3d.open(b"not an nc3d file")


def test_cli_compress_decompress_info_eval(tmp_path, capsys):
    out = tmp_path / "spot.nc3d"
    code, stdout, _ = run(capsys, "compress", SPOT, "-o", out, "--codec", "ply-lzma", "--json")
    assert code == 0
    res = json.loads(stdout)
    assert {"codec", "input_bytes", "output_bytes", "ratio", "seconds"} <= set(res)
    assert res["output_bytes"] == out.stat().st_size and res["input_bytes"] == SPOT.stat().st_size
    assert res["ratio"] == pytest.approx(res["input_bytes"] / res["output_bytes"])

    code, stdout, _ = run(capsys, "info", out, "--json")
    info = json.loads(stdout)
    assert code == 0 and info["codec"] == "ply-lzma" and info["version"] == 1
    assert set(info["sections"]) == {"ply.xz"} and {"header", "sections"} <= set(info)

    dec = tmp_path / "spot.ply"
    code, stdout, _ = run(capsys, "decompress", out, "-o", dec, "--json")
    assert code == 0 and json.loads(stdout)["outputs"] == [str(dec)] and "seconds" in json.loads(stdout)

    code, stdout, _ = run(capsys, "eval", SPOT, dec, "--json", "--samples", "20000")
    m = json.loads(stdout)
    assert set(m) == {
        "chamfer",
        "chamfer_p2s",
        "normal_consistency",
        "f_score_0.005",
        "f_score_0.01",
        "hausdorff",
    }
    assert m["chamfer_p2s"] < 1e-6 and m["f_score_0.01"] == 1.0

    code, stdout, _ = run(
        capsys, "eval", SPOT, out, "--json", "--samples", "5000"
    )  # .nc3d decoded on the fly
    assert code == 0 and json.loads(stdout)["hausdorff"] < 1e-6


def test_cli_never_overwrites_without_force(tmp_path, capsys):
    out = tmp_path / "x.nc3d"
    out.write_bytes(b"precious")
    code, stdout, err = run(capsys, "compress", SPOT, "-o", out, "--codec", "ply-lzma")
    assert code == 1 and "--force" in err and err.count("\n") == 1 and stdout == ""
    assert out.read_bytes() == b"precious"
    assert run(capsys, "compress", SPOT, "-o", out, "--codec", "ply-lzma", "--force")[0] == 0
    assert out.read_bytes()[:4] == b"NC3D"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compress", "missing.obj", "-o", "x.nc3d"], "no such file"),
        (["decompress", "missing.nc3d", "-o", "x.obj"], "missing.nc3d"),
        (["info", "garbage.nc3d"], "not an .nc3d file"),
        (["compress", "SPOT", "-o", "x.nc3d", "--codec", "nope"], "unknown codec"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.nc3d").write_bytes(b"\x00" * 100)
    argv = [str(SPOT) if a == "SPOT" else a for a in argv]
    code, stdout, err = run(capsys, *argv)
    assert code == 1 and stdout == ""
    assert err.startswith("nc3d: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.nc3d").exists() and not (tmp_path / "x.obj").exists()


def test_cli_eval_volumes(tmp_path, capsys):
    vol = load_volume(sample_volume_path())
    noisy = tmp_path / "noisy.npy"
    np.save(noisy, np.clip(vol.astype(np.int16) + 5, 0, 255).astype(np.uint8))
    code, stdout, _ = run(capsys, "eval", sample_volume_path(), noisy, "--json")
    res = json.loads(stdout)
    assert code == 0 and set(res) == {"mse", "psnr"} and 0 < res["mse"] <= 25 and res["psnr"] > 30


def test_cli_codecs_lists_the_registry(capsys):
    code, stdout, _ = run(capsys, "codecs", "--json")
    names = {c["name"] for c in json.loads(stdout)["codecs"]}
    assert code == 0 and "ply-lzma" in names


def test_demo_runs_on_builtin_data(tmp_path, capsys):
    code, stdout, _ = run(
        capsys, "demo", "-o", tmp_path / "demo", "--json", "--codecs", "ply-lzma,draco,dct,volume-lzma"
    )
    assert code == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    shapes = {r["shape"] for r in summary["rows"]}
    assert shapes == {p.name for p in sample_mesh_paths()}
    lossless = [r for r in summary["rows"] if r["codec"] == "ply-lzma"]
    assert all(r["chamfer_p2s"] < 1e-6 and r["ratio_ply"] > 1 for r in lossless)
    draco = [r for r in summary["rows"] if r["codec"] == "draco"]
    assert len(draco) == 3 and all(r["chamfer_p2s"] < 0.01 for r in draco)
    assert (tmp_path / "demo" / "spot.ply-lzma.nc3d").is_file()
    volume_rows = {r["codec"]: r for r in summary["volume_rows"]}
    assert set(volume_rows) == {"dct", "volume-lzma"}
    assert volume_rows["volume-lzma"]["mse"] == 0 and volume_rows["volume-lzma"]["ratio_raw"] > 1
    assert (
        volume_rows["dct"]["psnr"] > 30
        and volume_rows["dct"]["ratio_raw"] > volume_rows["volume-lzma"]["ratio_raw"]
    )
    code, _, err = run(capsys, "demo", "-o", tmp_path / "demo2", "--codecs", "no-such-codec")
    assert code == 1 and "unknown codec" in err


@pytest.mark.skipif(
    shutil.which("nc3d") is None and not (Path(sys.executable).parent / "nc3d").exists(),
    reason="console script not installed",
)
def test_console_script(tmp_path):
    exe = shutil.which("nc3d") or str(Path(sys.executable).parent / "nc3d")
    r = subprocess.run([exe, "info", str(tmp_path / "none.nc3d")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("nc3d: error:") and "Traceback" not in r.stderr


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    """`nc3d info set.nc3d | head` must not end in a BrokenPipeError traceback."""
    import subprocess
    import sys

    f = tmp_path / "box.nc3d"
    f.write_bytes(nc3d.compress((np.eye(3), np.array([[0, 1, 2]])), codec="ply-lzma"))
    script = "import sys; from nc3d.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "info", str(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before the command writes (as `head` after its lines)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141) and "Traceback" not in err and "BrokenPipe" not in err


def test_compress_help_for_one_codec_lists_only_its_options(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["compress", "--codec", "dct", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--step" in out and "--tilt" in out and "0.0001..1" in out
    assert "--layers" not in out and "--quality" not in out
    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    everything = capsys.readouterr().out
    assert "--step" in everything and "--layers" in everything


def test_codecs_name_describes_one_codec(capsys):
    assert main(["codecs", "volume", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "volume" and info["capabilities"] == ["region-decode"]
    assert {o["name"] for o in info["options"]} == {"quality", "target_psnr", "model", "lossless"}
    assert set(info["presets"]) == {"smoke", "quick", "default"} and len(info["presets"]["quick"]) == 3
    assert main(["codecs", "implicit"]) == 0
    assert "--target-f-score" in capsys.readouterr().out
    assert main(["codecs", "nope"]) == 1
    assert "unknown codec 'nope'" in capsys.readouterr().err
