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


@pytest.mark.parametrize("tolerance", [1e-5, 1e-7])
def test_sz3_keeps_tight_bounds_on_noise(tolerance):
    # white noise at a tight bound: SZ3 expands it (its payload buffer is ~3× the samples at
    # 1e-5), which the stream check must accept rather than call it a foreign stream
    v = np.random.default_rng(0).normal(size=(24, 24, 24)).astype(np.float32)
    out = nc3d.decompress(nc3d.compress(v, codec="sz3", tolerance=tolerance))
    assert np.abs(out - v).max() <= tolerance * np.ptp(v) * 1.0001


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


#: Bytes at the start of each codec's chunk that ``_check_stream`` checks (the framing); a forger
#: mutates the bytes after them, which only the C decoder reads.
FRAMING = {"sperr": 19, "sz3": 12}


def _forged(blob: bytes, seed: int) -> bytes:
    """``blob`` with 1–8 bytes of its stream (past the framing) replaced and its digest recomputed.

    What a hostile writer can do: the container's CRCs and the header's digest are right, the
    framing checks pass, and the mutated stream reaches the filter's C decoder.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    c = container.unpack(blob)
    chunk = bytearray(c.sections["chunk"])
    for _ in range(int(rng.integers(1, 9))):
        chunk[int(rng.integers(FRAMING[c.codec], len(chunk)))] = int(rng.integers(0, 256))
    c.sections["chunk"] = bytes(chunk)
    c.header["digest"] = _digest(c.codec, c.header["shape"], c.header["dtype"], bytes(chunk))
    return container.pack(c)


@pytest.fixture(scope="module")
def valid_files() -> dict[str, tuple[np.ndarray, bytes]]:
    v = _blob(shape=(37, 24, 15), dtype="float32")
    return {codec: (v, nc3d.compress(v, codec=codec)) for codec in CODECS}


@pytest.mark.parametrize("codec", CODECS)
def test_forged_streams_are_format_errors_never_crashes(codec, valid_files):
    # Before the decoders ran in a child process, 38 of 60 such SZ3 files (and 1 of 60 SPERR
    # files) killed the Python process: segfaults, std::bad_alloc aborts, SZ3's exit(0).
    v, blob = valid_files[codec]
    outcomes = []
    for seed in range(20):
        forged = _forged(blob, seed)
        assert forged != blob
        try:
            out = nc3d.decompress(forged)
        except FormatError as exc:
            assert str(exc).startswith(f"{codec}: ")
            outcomes.append(str(exc))
        else:  # the decoder did not notice: a well-formed volume of the declared shape and range
            assert out.shape == v.shape and out.dtype == v.dtype
            assert np.isfinite(out).all() and out.min() >= v.min() and out.max() <= v.max()
            outcomes.append("decoded")
    died = [o for o in outcomes if "the filter's decoder" in o]
    if codec == "sz3":  # most of these kill the decoder: the test does exercise the isolation
        assert len(died) >= 2, outcomes
    assert any("crashed (SIGSEGV)" in o or "aborted (SIGABRT)" in o for o in died) or codec == "sperr"
    # and the decoder still works in this process
    assert psnr(v, nc3d.decompress(blob)) > 30


@pytest.mark.parametrize("codec", CODECS)
def test_decoding_works_after_torch_used_its_threads(codec, valid_files):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        m = torch.randn(256, 256)
        for _ in range(5):
            m = torch.tanh(m @ m)
        v, blob = valid_files[codec]
        first = nc3d.decompress(blob)
        assert psnr(v, first) > 30
        np.testing.assert_array_equal(nc3d.decompress(blob), first)
    finally:
        torch.set_num_threads(threads)


def test_threads_decoding_at_once_each_get_their_own_volume(valid_files):
    from concurrent.futures import ThreadPoolExecutor

    blobs = [valid_files[c][1] for c in CODECS] * 4
    want = [nc3d.decompress(b) for b in blobs[: len(CODECS)]] * 4
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(nc3d.decompress, blobs))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_decoding_waits_for_h5py_held_by_another_thread(valid_files):
    # h5py's global lock is held across the fork: a child forked while another thread is
    # inside h5py would otherwise wait for it forever (until the timeout)
    import threading

    import h5py

    taken, release = threading.Event(), threading.Event()

    def inside_h5py():
        with h5py._objects.phil:
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=inside_h5py)
    thread.start()
    taken.wait(10)
    threading.Timer(0.3, release.set).start()
    v, blob = valid_files["sz3"]
    assert psnr(v, nc3d.decompress(blob)) > 30
    thread.join()


@pytest.mark.parametrize("codec", CODECS)
def test_the_spawn_fallback_decodes_and_survives_a_forged_file(codec, valid_files, monkeypatch):
    from nc3d import sandbox

    v, blob = valid_files[codec]
    crashing = _forged(blob, _first_crashing_seed(blob)) if codec == "sz3" else None  # found forked
    monkeypatch.setattr(sandbox, "default_method", lambda: "spawn")
    np.testing.assert_array_equal(nc3d.decompress(blob), _decoded_in_process(blob))
    if crashing is not None:
        with pytest.raises(FormatError, match="the filter's decoder (crashed|aborted)"):
            nc3d.decompress(crashing)


def _decoded_in_process(blob: bytes) -> np.ndarray:
    """The decode of a trusted file with the filter run in this process (for comparison)."""
    from nc3d.baselines import hdf5_filters

    real = hdf5_filters.run_isolated

    def here(func, args, *, shape, dtype, **_):
        out = np.zeros(shape, dtype)
        func(out, *args)
        return out

    hdf5_filters.run_isolated = here
    try:
        return nc3d.decompress(blob)
    finally:
        hdf5_filters.run_isolated = real


def _first_crashing_seed(blob: bytes) -> int:
    for seed in range(40):
        try:
            nc3d.decompress(_forged(blob, seed))
        except FormatError as exc:
            if "crashed" in str(exc) or "aborted" in str(exc):
                return seed
    raise AssertionError("no forged file crashed the decoder")


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
