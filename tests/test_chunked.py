"""Zarr and Dask: the ``nc3d.volume`` chunk codec (numcodecs, Zarr 2 and 3) and volumes compressed
and decoded chunk by chunk (synchronously, on a local distributed cluster of 2 worker processes,
and through the command line).

Every chunk must be what the in-memory ``volume`` codec makes of the same chunk: the stored bytes
are ``get_codec("volume").encode(chunk)`` (an edge chunk padded with the fill value 0, as Zarr
hands it to a codec), and each decodes on its own.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REASON = "the zarr extra is not installed (pip install 'nc3d[zarr]': zarr, numcodecs, dask, distributed)"
zarr = pytest.importorskip("zarr", reason=REASON)
numcodecs = pytest.importorskip("numcodecs", reason=REASON)
pytest.importorskip("dask.array", reason=REASON)
distributed = pytest.importorskip("distributed", reason=REASON)

import nc3d  # noqa: E402
from nc3d.chunked import LOCAL_CLUSTER_CONFIG, compress_to_zarr, decompress_zarr, local_cluster  # noqa: E402
from nc3d.chunked.numcodec import VolumeNumcodec  # noqa: E402
from nc3d.chunked.zarr_codec import VolumeZarrCodec  # noqa: E402
from nc3d.cli import main  # noqa: E402
from nc3d.codecs import get_codec  # noqa: E402
from nc3d.errors import FormatError, InputError, OutputExistsError  # noqa: E402
from nc3d.io import load_volume  # noqa: E402
from nc3d.samples import sample_volume_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAD = load_volume(sample_volume_path())  # 42 x 62 x 48 uint8 MR head
CHUNKS = (24, 24, 24)  # 2 x 3 x 2 chunks, every edge chunk partial
QUALITY = 12.0


def _boxes(shape, chunks):
    """Every chunk's (index, slices) over an array of ``shape``."""
    grid = [range(math.ceil(s / c)) for s, c in zip(shape, chunks)]
    for idx in np.ndindex(*[len(g) for g in grid]):
        yield idx, tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape))


def _padded(block: np.ndarray, chunks) -> np.ndarray:
    """A chunk as Zarr hands it to a codec: an edge chunk padded with the fill value 0."""
    return np.pad(block, [(0, c - s) for s, c in zip(block.shape, chunks)])


def _assert_chunks_are_the_codec_s(store: Path, volume: np.ndarray, chunks, quality: float) -> None:
    """Each stored chunk is the in-memory codec's file of that chunk and decodes on its own."""
    codec = get_codec("volume")
    for idx, box in _boxes(volume.shape, chunks):
        blob = (store / "c" / "/".join(map(str, idx))).read_bytes()
        chunk = _padded(volume[box], chunks)
        assert blob == codec.encode(chunk, quality=quality), idx
        alone = nc3d.decompress(blob)  # one chunk, no other chunk nor the Zarr metadata needed
        np.testing.assert_array_equal(alone, codec.decode(codec.encode(chunk, quality=quality)))


def _smooth_float(shape=(30, 20, 26)) -> np.ndarray:
    z, y, x = np.meshgrid(*[np.linspace(0, 3, s) for s in shape], indexing="ij")
    return (100 * np.sin(z) * np.cos(1.3 * y) + 40 * x).astype(np.float32)


@pytest.fixture(scope="module")
def client():
    """A local distributed cluster of 2 worker processes, one thread each (shared by the module)."""
    with local_cluster(2) as c:
        yield c


# -- the chunk codec ---------------------------------------------------------------------------------
def test_numcodec_chunk_is_the_volume_codec_s_file():
    chunk = np.ascontiguousarray(HEAD[:24, :24, :24])
    nc = VolumeNumcodec(quality=QUALITY)
    blob = nc.encode(chunk)
    assert blob == get_codec("volume").encode(chunk, quality=QUALITY)
    decoded = nc.decode(blob)
    np.testing.assert_array_equal(decoded, get_codec("volume").decode(blob))
    out = np.empty_like(chunk)
    assert nc.decode(blob, out=out) is out and np.array_equal(out, decoded)
    # found by id through numcodecs' registry, its configuration round-trips
    config = nc.get_config()
    assert config == {"id": "nc3d.volume", "quality": QUALITY, "target_psnr": None}
    again = numcodecs.get_codec(config)
    assert type(again) is VolumeNumcodec and again.get_config() == config and again.encode(chunk) == blob


def test_numcodec_refuses_bad_settings_chunks_and_bytes():
    with pytest.raises(InputError, match="quality"):
        VolumeNumcodec(quality=99)
    with pytest.raises(InputError, match="'model'"):
        VolumeNumcodec.from_config({"id": "nc3d.volume", "model": "x.npz"})
    with pytest.raises(InputError, match="3-D"):
        VolumeNumcodec().encode(HEAD[:8, :8, :8].tobytes())  # a flat buffer has lost its shape
    blob = bytearray(VolumeNumcodec().encode(HEAD[:16, :16, :16]))
    blob[40] ^= 0xFF
    with pytest.raises(FormatError):
        VolumeNumcodec().decode(bytes(blob))
    with pytest.raises(FormatError):
        VolumeZarrCodec.from_dict({"name": "nc3d.volume", "configuration": {"quality": "high"}})


def test_numcodec_target_psnr_is_per_chunk():
    chunk = np.ascontiguousarray(HEAD[:24, :24, :24])
    nc = VolumeNumcodec(target_psnr=40.0)
    header = nc3d.info(nc.encode(chunk))["header"]
    assert header["psnr"] >= 40.0 and nc.get_config()["target_psnr"] == 40.0


def test_zarr3_array_written_and_read_with_the_codec(tmp_path):
    store = tmp_path / "head.zarr"
    a = zarr.create_array(
        store=str(store),
        shape=HEAD.shape,
        dtype=HEAD.dtype,
        chunks=CHUNKS,
        serializer=VolumeZarrCodec(quality=QUALITY),
        compressors=None,
        fill_value=0,
    )
    for _, box in _boxes(HEAD.shape, CHUNKS):  # chunk by chunk
        a[box] = HEAD[box]
    meta = json.loads((store / "zarr.json").read_text())
    assert meta["codecs"] == [
        {"name": "nc3d.volume", "configuration": {"quality": QUALITY, "target_psnr": None}}
    ]
    _assert_chunks_are_the_codec_s(store, HEAD, CHUNKS, QUALITY)
    b = zarr.open_array(str(store), mode="r")
    assert b.metadata.codecs == (VolumeZarrCodec(quality=QUALITY),)
    whole = b[:]
    codec = get_codec("volume")
    for _, box in _boxes(HEAD.shape, CHUNKS):  # chunk by chunk, cropped from the padded decode
        expect = codec.decode(codec.encode(_padded(HEAD[box], CHUNKS), quality=QUALITY))
        crop = tuple(slice(0, s.stop - s.start) for s in box)
        np.testing.assert_array_equal(b[box], expect[crop])
        np.testing.assert_array_equal(whole[box], expect[crop])
    err = np.abs(whole.astype(int) - HEAD).max()
    assert 0 < err <= 40  # lossy, not garbage


def test_zarr3_refuses_arrays_it_cannot_code(tmp_path):
    with pytest.raises(InputError, match="3-D"):
        zarr.create_array(
            store=str(tmp_path / "a.zarr"), shape=(8, 8), dtype="uint8", serializer=VolumeZarrCodec()
        )
    with pytest.raises(InputError, match="complex64"):
        zarr.create_array(
            store=str(tmp_path / "b.zarr"), shape=(8, 8, 8), dtype="complex64", serializer=VolumeZarrCodec()
        )


def test_damaged_chunk_is_a_format_error(tmp_path):
    store = tmp_path / "head.zarr"
    compress_to_zarr(HEAD, store, chunks=CHUNKS, scheduler="synchronous", quality=QUALITY)
    chunk = store / "c" / "1" / "1" / "0"
    blob = bytearray(chunk.read_bytes())
    blob[len(blob) // 2] ^= 0x10
    chunk.write_bytes(bytes(blob))
    a = zarr.open_array(str(store), mode="r")
    assert a[:24, :24, :24].shape == (24, 24, 24)  # the other chunks still decode
    with pytest.raises(FormatError, match="CRC"):
        a[24:, 24:48, :24]
    # a valid file of another shape swapped in for a chunk
    chunk.write_bytes(get_codec("volume").encode(HEAD[:8, :8, :8]))
    with pytest.raises(FormatError, match="decodes to"):
        a[24:, 24:48, :24]


def test_zarr2_compressor(tmp_path):
    vol = _smooth_float()
    a = zarr.create_array(
        store=str(tmp_path / "v2.zarr"),
        shape=vol.shape,
        dtype=vol.dtype,
        chunks=(16, 16, 16),
        compressors=VolumeNumcodec(quality=QUALITY),
        filters=None,
        fill_value=0,
        zarr_format=2,
    )
    a[:] = vol
    meta = json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())
    assert meta["compressor"] == {"id": "nc3d.volume", "quality": QUALITY, "target_psnr": None}
    _assert_chunks_v2(tmp_path / "v2.zarr", vol, (16, 16, 16))
    back = zarr.open_array(str(tmp_path / "v2.zarr"))[:]
    assert np.abs(back - vol).max() < 0.05 * np.ptp(vol)


def _assert_chunks_v2(store: Path, volume, chunks) -> None:
    codec = get_codec("volume")
    for idx, box in _boxes(volume.shape, chunks):
        blob = (store / ".".join(map(str, idx))).read_bytes()
        assert blob == codec.encode(_padded(volume[box], chunks), quality=QUALITY), idx


def test_entry_points_let_zarr_and_numcodecs_read_without_importing_nc3d(tmp_path):
    """The pyproject entry points, installed as a distribution's metadata, are enough for a process
    that never imports nc3d itself to read both stores (zarr 3 and zarr 2)."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = project["entry-points"]
    assert set(groups) >= {"numcodecs.codecs", "zarr.codecs"}
    dist = tmp_path / "site" / "nc3d_entry_points-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nc3d-entry-points\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items()) + "\n"
            for group, eps in groups.items()
        )
    )
    v3, v2 = tmp_path / "v3.zarr", tmp_path / "v2.zarr"
    compress_to_zarr(HEAD, v3, chunks=CHUNKS, scheduler="synchronous", quality=QUALITY)
    zarr.create_array(
        store=str(v2),
        shape=HEAD.shape,
        dtype=HEAD.dtype,
        chunks=CHUNKS,
        zarr_format=2,
        compressors=VolumeNumcodec(quality=QUALITY),
        filters=None,
        fill_value=0,
    )[:] = HEAD
    expect = zarr.open_array(str(v3))[:]
    np.save(tmp_path / "expect.npy", expect)
    script = (
        "import sys, numpy as np, zarr\n"
        "assert not any(m == 'nc3d' or m.startswith('nc3d.') for m in sys.modules)\n"
        f"expect = np.load({str(tmp_path / 'expect.npy')!r})\n"
        f"for store in ({str(v3)!r}, {str(v2)!r}):\n"
        "    assert np.array_equal(zarr.open_array(store, mode='r')[:], expect), store\n"
        "import numcodecs\n"
        "print(type(numcodecs.get_codec({'id': 'nc3d.volume', 'quality': 3})).__name__)\n"
    )
    env = dict(os.environ)
    # the fake distribution first, then nc3d's source (where a real install puts the package)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tmp_path / "site"), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    )
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "VolumeNumcodec"


# -- chunk by chunk through Dask -----------------------------------------------------------------------
def test_compress_npy_synchronously_chunk_by_chunk(tmp_path):
    src = tmp_path / "head.npy"
    np.save(src, HEAD)
    seen = []
    res = compress_to_zarr(
        src,
        tmp_path / "head.zarr",
        chunks=CHUNKS,
        scheduler="synchronous",
        quality=QUALITY,
        progress=lambda phase, done, total: seen.append((done, total)),
    )
    assert res["chunk_count"] == 12 and res["shape"] == list(HEAD.shape) and res["chunks"] == list(CHUNKS)
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)
    assert res["output_bytes"] == sum(
        f.stat().st_size for f in (tmp_path / "head.zarr").rglob("*") if f.is_file()
    )
    assert res["input_bytes"] == src.stat().st_size and res["canonical_bytes"] == HEAD.nbytes
    assert res["ratio_canonical"] == pytest.approx(HEAD.nbytes / res["output_bytes"]) and res["ratio"] > 3
    _assert_chunks_are_the_codec_s(tmp_path / "head.zarr", HEAD, CHUNKS, QUALITY)
    assert zarr.open_array(str(tmp_path / "head.zarr")).attrs["nc3d"]["quality"] == QUALITY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.npy", "head.zarr"]  # no partial left


def test_on_a_local_cluster_of_two_workers(tmp_path, client):
    """The same bytes as in one process; decoded by the workers back to .npy, raw and Zarr."""
    vol = _smooth_float((40, 30, 34))
    raw = tmp_path / "field_34x30x40_float32.raw"
    raw.write_bytes(vol.tobytes())
    chunks = (16, 16, 16)
    res = compress_to_zarr(raw, tmp_path / "c.zarr", chunks=chunks, scheduler=client, quality=QUALITY)
    assert res["ran_on"] == "dask: 2 workers, 2 threads" and res["chunk_count"] == 3 * 2 * 3
    # the workers run without distributed's malloc trimming and profiler (LOCAL_CLUSTER_CONFIG)
    env = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_ARENA_MAX")))
    profiling = client.run(lambda: __import__("dask").config.get("distributed.worker.profile.enabled"))
    assert set(env.values()) == {(None, "2")} and set(profiling.values()) == {False}
    assert LOCAL_CLUSTER_CONFIG["distributed.worker.profile.enabled"] is False
    compress_to_zarr(vol, tmp_path / "s.zarr", chunks=chunks, scheduler="synchronous", quality=QUALITY)
    cluster_files = sorted(
        p.relative_to(tmp_path / "c.zarr") for p in (tmp_path / "c.zarr" / "c").rglob("*") if p.is_file()
    )
    assert len(cluster_files) == res["chunk_count"]
    for rel in cluster_files:
        assert (tmp_path / "c.zarr" / rel).read_bytes() == (tmp_path / "s.zarr" / rel).read_bytes()
    _assert_chunks_are_the_codec_s(tmp_path / "c.zarr", vol, chunks, QUALITY)
    decoded = zarr.open_array(str(tmp_path / "c.zarr"))[:]
    out = decompress_zarr(tmp_path / "c.zarr", tmp_path / "d.npy", scheduler=client)
    assert out["ran_on"].startswith("dask: 2 workers")
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), decoded)
    out = decompress_zarr(tmp_path / "c.zarr", tmp_path / "d.raw", scheduler=client, region="3:20,:,30:")
    assert Path(out["output"]).name == "d_4x30x17_float32.raw"
    np.testing.assert_array_equal(load_volume(out["output"]), decoded[3:20, :, 30:])
    decompress_zarr(tmp_path / "c.zarr", tmp_path / "plain.zarr", scheduler=client)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "plain.zarr"))[:], decoded)


def test_zarr_source_recompressed_and_written_over_only_with_force(tmp_path):
    plain = zarr.create_array(
        store=str(tmp_path / "in.zarr"), shape=HEAD.shape, dtype=HEAD.dtype, chunks=(42, 8, 48)
    )
    plain[:] = HEAD
    out = tmp_path / "out.zarr"
    compress_to_zarr(tmp_path / "in.zarr", out, chunks=CHUNKS, scheduler="synchronous", quality=QUALITY)
    _assert_chunks_are_the_codec_s(out, HEAD, CHUNKS, QUALITY)
    with pytest.raises(OutputExistsError):
        compress_to_zarr(tmp_path / "in.zarr", out, chunks=CHUNKS, scheduler="synchronous")
    compress_to_zarr(tmp_path / "in.zarr", out, chunks=CHUNKS, scheduler="synchronous", quality=4, force=True)
    assert zarr.open_array(str(out)).metadata.codecs == (VolumeZarrCodec(quality=4.0),)
    (tmp_path / "notes").mkdir()
    with pytest.raises(InputError, match="holds no Zarr array"):
        compress_to_zarr(HEAD, tmp_path / "notes", scheduler="synchronous", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr", "notes", "out.zarr"]


def test_bad_input_fails_naming_the_chunk_and_leaves_nothing(tmp_path):
    vol = _smooth_float()
    vol[20, 5, 3] = np.nan
    with pytest.raises(InputError, match=r"chunk at z 16:30, y 0:16, x 0:16: .*NaN"):
        compress_to_zarr(vol, tmp_path / "v.zarr", chunks=(16, 16, 16), scheduler="synchronous")
    with pytest.raises(InputError, match="no setting 'step'"):
        compress_to_zarr(vol, tmp_path / "v.zarr", scheduler="synchronous", step=0.1)
    with pytest.raises(InputError, match="at least 8"):
        compress_to_zarr(vol, tmp_path / "v.zarr", chunks=(4, 16, 16), scheduler="synchronous")
    assert list(tmp_path.iterdir()) == []


# -- the command line ----------------------------------------------------------------------------------
def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_compress_and_decompress_through_zarr(tmp_path, capsys, client):
    src = tmp_path / "head.npy"
    np.save(src, HEAD)
    address = client.scheduler.address
    code, out, err = _run(
        capsys,
        "compress",
        src,
        "-o",
        tmp_path / "head.zarr",
        "--codec",
        "volume",
        "--quality",
        QUALITY,
        "--chunks",
        "24,24,24",
        "--scheduler",
        address,
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["chunk_count"] == 12 and res["zarr_codec"] == "nc3d.volume" and "2 workers" in res["ran_on"]
    _assert_chunks_are_the_codec_s(tmp_path / "head.zarr", HEAD, CHUNKS, QUALITY)
    code, out, err = _run(
        capsys,
        "decompress",
        tmp_path / "head.zarr",
        "-o",
        tmp_path / "back.npy",
        "--scheduler",
        "synchronous",
    )
    assert code == 0 and "back.npy (42×62×48 uint8, 12 chunks)" in out, err
    np.testing.assert_array_equal(
        np.load(tmp_path / "back.npy"), zarr.open_array(str(tmp_path / "head.zarr"))[:]
    )
    code, out, _ = _run(capsys, "info", tmp_path / "head.zarr", "--json")
    info = json.loads(out)
    assert code == 0 and info["codecs"] == [
        {"name": "nc3d.volume", "configuration": {"quality": QUALITY, "target_psnr": None}}
    ]
    assert info["stored_chunks"] == info["chunk_count"] == 12 and info["raw_bytes"] == HEAD.nbytes
    assert info["stored_bytes"] == res["output_bytes"]
    code, _, err = _run(capsys, "compress", tmp_path / "head.zarr", "-o", tmp_path / "x.nc3d")
    assert code == 1 and "give -o OUT.zarr" in err
    code, _, err = _run(capsys, "compress", src, "-o", tmp_path / "x.nc3d", "--chunks", "8,8,8")
    assert code == 1 and "--chunks and --scheduler apply to a Zarr output" in err
    code, _, err = _run(capsys, "compress", src, "-o", tmp_path / "y.zarr", "--codec", "dct", "--step", "0.1")
    assert code == 1 and "codec 'volume'" in err
    code, _, err = _run(capsys, "compress", src, "-o", tmp_path / "head.zarr", "--scheduler", "synchronous")
    assert code == 1 and "use --force" in err
    code, _, err = _run(capsys, "decompress", tmp_path / "head.zarr", "-o", tmp_path / "z.npy", "--only", "a")
    assert code == 1 and "do not apply to a Zarr array" in err
    assert not (tmp_path / "y.zarr").exists() and not (tmp_path / "z.npy").exists()
