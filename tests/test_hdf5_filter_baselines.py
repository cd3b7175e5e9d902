"""The sperr and sz3 volume baselines (HDF5 filters of hdf5plugin)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.baselines.hdf5_filters import _digest
from nc3d.codecs.base import codec_names, get_codec
from nc3d.errors import FormatError, MissingDependencyError
from nc3d.metrics.volume import psnr

pytest.importorskip("hdf5plugin")

CODECS = ("sperr", "sz3")


def _blob(shape=(37, 24, 15), dtype="int16", noise=0.02, seed=0):
    """A smooth anisotropic blob plus a little noise, scaled to the dtype."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    f = np.exp(-3 * (x**2 + 2 * y**2 + 0.5 * z**2)) + np.sin(4 * x + 2 * z)
    f = f + noise * np.random.default_rng(seed).normal(size=shape)
    f = (f - f.min()) / (f.max() - f.min())
    if dtype == "uint8":
        return np.rint(f * 255).astype(np.uint8)
    if dtype == "int16":
        return np.rint(f * 3000 - 1000).astype(np.int16)
    return (f * 7.5 - 2).astype(dtype)


def _repacked(blob: bytes, header=None, chunk=None) -> bytes:
    c = container.unpack(blob)
    c.header.update(header or {})
    if chunk is not None:
        c.sections["chunk"] = chunk
    return container.pack(c)


def test_registered_as_volume_baselines():
    assert set(CODECS) <= set(codec_names("volume", baselines=True))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64"])
def test_round_trip_keeps_shape_dtype_and_range(codec, dtype):
    v = _blob(dtype=dtype)
    out = nc3d.decompress(nc3d.compress(v, codec=codec))
    assert out.shape == v.shape and out.dtype == v.dtype
    assert out.min() >= v.min() and out.max() <= v.max()
    assert 30 < psnr(v, out) < 90


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 7), (3, 40, 2), (20, 1, 30)])
def test_edges_shorter_than_the_filters_minimum_are_padded_and_cropped(codec, shape):
    v = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    settings = {"rate": 8.0} if codec == "sperr" else {}
    out = nc3d.decompress(nc3d.compress(v, codec=codec, **settings))
    assert out.shape == v.shape and out.dtype == v.dtype
    if v.size > 1:
        assert psnr(v, out) > 35


@pytest.mark.parametrize(
    ("codec", "ladder"),
    [
        ("sperr", [{"rate": r} for r in (0.1, 0.4, 1.6, 6.4)]),
        ("sperr", [{"mode": "accuracy", "tolerance": t} for t in (0.1, 0.01, 0.001)]),
        ("sperr", [{"mode": "psnr", "psnr": p} for p in (30.0, 45.0, 60.0)]),
        ("sz3", [{"tolerance": t} for t in (0.1, 0.01, 0.001)]),
    ],
)
def test_more_bits_give_a_higher_psnr(codec, ladder):
    v = _blob(shape=(48, 40, 32), dtype="float32")
    c = get_codec(codec)
    results = []
    for settings in ladder:
        blob = c.encode(v, **settings)
        results.append((len(blob), psnr(v, c.decode(blob))))
    sizes, quality = zip(*results)
    assert list(sizes) == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert list(quality) == sorted(quality)
    assert quality[-1] - quality[0] > 15


def test_sperr_rate_mode_sizes_follow_the_rate():
    v = _blob(shape=(48, 40, 32), dtype="float32")
    small, large = (len(nc3d.compress(v, codec="sperr", rate=r)) for r in (0.5, 4.0))
    assert 7 < large / small < 9
    assert abs(large * 8 / v.size - 4.0) < 0.2  # bits per voxel, container included


@pytest.mark.parametrize("codec", CODECS)
def test_presets_span_the_benchmark_range(codec):
    c = get_codec(codec)
    assert len(c.preset("default")) >= 15 and len(c.preset("quick")) >= 3
    for name in ("smoke", "quick", "default"):
        for settings in c.preset(name):
            c.resolve_settings(settings)  # every preset setting is valid


def _naive_sperr_psnr(v: np.ndarray, rate: float) -> float:
    """PSNR of SPERR run on ``v`` under its own (z, y, x) shape, the way the filter misreads it."""
    import h5py
    import hdf5plugin

    x = v.astype(np.float32)
    with h5py.File(io.BytesIO(), "w") as f:
        d = f.create_dataset("v", data=x, chunks=x.shape, compression=hdf5plugin.Sperr(rate=rate))
        _, chunk = d.id.read_direct_chunk((0, 0, 0))
        d2 = f.create_dataset(
            "w", shape=x.shape, dtype=x.dtype, chunks=x.shape, compression=hdf5plugin.Sperr()
        )
        d2.id.write_direct_chunk((0, 0, 0), chunk)
        return psnr(x, d2[...])


def test_sperr_reads_a_non_cubic_volume_in_the_right_axis_order():
    # smooth along every axis but with different extents: coding it with the axes mixed up
    # (H5Z-SPERR's reversed dims, uncorrected) shears the data and costs many dB
    v = _blob(shape=(93, 40, 24), dtype="float32", noise=0.0)
    rate = 1.0
    good = psnr(v, nc3d.decompress(nc3d.compress(v, codec="sperr", rate=rate)))
    naive = _naive_sperr_psnr(v, rate)
    assert good > naive + 10, (good, naive)
    # and the decode is the volume itself, not a transposed or sheared copy of it
    out = nc3d.decompress(nc3d.compress(v, codec="sperr", rate=8.0))
    assert psnr(v, out) > 60


@pytest.mark.parametrize("codec", CODECS)
def test_constant_volume_round_trips_exactly(codec):
    v = np.full((5, 6, 7), 42, dtype=np.int16)
    blob = nc3d.compress(v, codec=codec)
    assert container.unpack(blob).sections["chunk"] == b""
    np.testing.assert_array_equal(nc3d.decompress(blob), v)


@pytest.mark.parametrize("codec", CODECS)
def test_a_changed_chunk_is_refused_before_the_filter_sees_it(codec):
    blob = nc3d.compress(_blob(), codec=codec)
    chunk = bytearray(container.unpack(blob).sections["chunk"])
    chunk[len(chunk) // 2] ^= 0x10
    with pytest.raises(FormatError, match="digest"):
        nc3d.decompress(_repacked(blob, chunk=bytes(chunk)))  # container CRCs are valid
    with pytest.raises(FormatError, match="digest"):
        nc3d.decompress(_repacked(blob, chunk=bytes(chunk[:-7])))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "header",
    [
        {"shape": [15, 24, 37]},
        {"shape": [37, 24, 16]},
        {"dtype": "float64"},
        {"digest": "0" * 16},
        {"digest": 7},
        {"mode": "lossless"},
        {"shape": [2**20, 2**20, 2**20]},
    ],
)
def test_a_changed_header_is_a_format_error(codec, header):
    blob = nc3d.compress(_blob(), codec=codec)
    with pytest.raises(FormatError):
        nc3d.decompress(_repacked(blob, header=header))


@pytest.mark.parametrize("codec", CODECS)
def test_missing_or_oversized_chunk_is_a_format_error(codec):
    blob = nc3d.compress(_blob(), codec=codec)
    c = container.unpack(blob)
    del c.sections["chunk"]
    with pytest.raises(FormatError, match="missing"):
        nc3d.decompress(container.pack(c))
    huge = bytes(37 * 24 * 15 * 4 * 8 + 2048)
    with pytest.raises(FormatError, match="bound"):
        nc3d.decompress(_repacked(blob, chunk=huge))


@pytest.mark.parametrize("codec", CODECS)
def test_a_stream_for_another_shape_is_refused_even_with_a_matching_digest(codec):
    # a forged file (digest recomputed) whose stream was written for another shape: the
    # structural check stops it before the C decoder, which would read past its buffer
    v = _blob()
    blob = nc3d.compress(v, codec=codec)
    other = container.unpack(nc3d.compress(_blob(shape=(37, 24, 16)), codec=codec)).sections["chunk"]
    h = container.unpack(blob).header
    forged = _repacked(blob, header={"digest": _digest(codec, h["shape"], h["dtype"], other)}, chunk=other)
    if codec == "sperr":
        with pytest.raises(FormatError, match="stream holds"):
            nc3d.decompress(forged)
    else:  # SZ3's dims are inside its zstd payload: only the framing is checked
        truncated = other[:11]
        digest = _digest(codec, h["shape"], h["dtype"], truncated)
        forged = _repacked(blob, header={"digest": digest}, chunk=truncated)
        with pytest.raises(FormatError, match="shorter"):
            nc3d.decompress(forged)


@pytest.mark.parametrize("codec", CODECS)
def test_missing_hdf5plugin_names_the_extra(codec, monkeypatch):
    import importlib

    import nc3d._optional as optional

    blob = nc3d.compress(_blob(), codec=codec)
    real = importlib.import_module

    def fake(name, *a, **kw):
        if name == "hdf5plugin":
            raise ImportError("No module named 'hdf5plugin'")
        return real(name, *a, **kw)

    monkeypatch.setattr(optional.importlib, "import_module", fake)
    assert codec in codec_names("volume")  # listing codecs needs no optional package
    with pytest.raises(MissingDependencyError, match=r"hdf5plugin.*nc3d\[baselines\]"):
        nc3d.compress(_blob(), codec=codec)
    with pytest.raises(MissingDependencyError, match=r"nc3d\[baselines\]"):
        nc3d.decompress(blob)
