"""The ``volume`` codec's format 3 (the default): CDF 9/7 wavelet + adaptive context coding."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.codecs import get_codec
from nc3d.codecs.volume import volume_wavelet as vw
from nc3d.codecs.volume.volume_model import quality_step
from nc3d.codecs.volume_header import pack_volume_header, unpack_volume_header
from nc3d.errors import FormatError, InputError
from nc3d.metrics.volume import psnr
from nc3d.samples import sample_volume_path
from nc3d.wavelet import forward_cdf97, inverse_cdf97, split_axes

GOLDEN = Path(__file__).parent / "golden"
SHAPES = [(1, 1, 1), (1, 5, 9), (2, 2, 16), (9, 9, 9), (45, 49, 76), (3, 200, 7), (66, 66, 66)]


@pytest.fixture(scope="module")
def head():
    return np.load(sample_volume_path())  # (42, 62, 48) uint8


@pytest.fixture(scope="module")
def codec():
    return get_codec("volume")


def _model():
    from nc3d.codecs.volume.volume import _load_wavelet

    return _load_wavelet("default")[0]


@pytest.mark.parametrize("shape", SHAPES)
def test_transform_restores_any_shape_and_matches_the_decoder_s_layout(shape):
    x = np.random.default_rng(0).random(shape)
    keep = x.copy()
    low, bands = forward_cdf97(x)
    assert np.array_equal(x, keep)  # the input is not modified
    assert np.abs(inverse_cdf97(low, bands) - x).max() < 1e-12
    shapes, low_shape, axes = vw._shapes_for(shape)  # what the decoder allocates from the shape alone
    assert low.shape == low_shape and axes == split_axes(shape)
    assert [{n: a.shape for n, a in level.items()} for level in bands] == shapes


def test_one_unit_of_error_on_any_coefficient_costs_about_one_unit_in_the_volume():
    # the gains make the transform nearly orthonormal, so one quantization step serves every band
    # (bands at least 8 long; on the last few samples of the coarsest levels the mirrored edges
    # change the basis norms, which only reweighs a handful of coefficients)
    rng = np.random.default_rng(1)
    low, bands = forward_cdf97(np.zeros((40, 40, 40)))
    for level in (0, 1, 2):
        for name in ("LLH", "HHH"):
            hit = [{n: a.copy() for n, a in lv.items()} for lv in bands]
            idx = tuple(int(rng.integers(1, s - 1)) if s > 2 else 0 for s in hit[level][name].shape)
            hit[level][name][idx] = 1.0
            energy = float(np.sum(inverse_cdf97(low, hit) ** 2))
            assert 0.7 < energy < 1.4, (level, name, energy)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_round_trip_keeps_shape_and_dtype(codec, dtype):
    z, y, x = np.mgrid[0:13, 0:9, 0:21]
    vol = (np.sin(x / 3.0) * np.cos(y / 4.0) * 100 + z * 7 + 120).astype(dtype)
    out = codec.decode(codec.encode(vol, quality=18))
    assert out.dtype == vol.dtype and out.shape == vol.shape and psnr(vol, out) > 45


def test_files_are_one_small_section_and_grow_with_quality(codec, head):
    sizes, quality = [], []
    for q in (4.0, 10.0, 16.0):
        blob = codec.encode(head, quality=q)
        c = container.unpack(blob)
        assert c.header == {"format": 3} and list(c.sections) == ["w"]
        sizes.append(len(blob))
        quality.append(psnr(head, codec.decode(blob)))
    assert sizes[0] < sizes[1] < sizes[2] and quality[0] + 5 < quality[1] < quality[2] - 5
    flat = np.full((9, 10, 11), 7.5, np.float32)
    constant = codec.encode(flat)
    assert len(constant) < 100 and np.array_equal(codec.decode(constant), flat)


def test_info_shows_what_section_w_packs(codec, head):
    blob = codec.encode(head, quality=9.5)
    details = nc3d.info(blob)["details"]
    assert details["shape"] == list(head.shape) and details["dtype"] == "uint8"
    assert details["range"] == [int(head.min()), int(head.max())] and details["quality"] == 9.5
    broken = _repacked(blob, w=b"\x05")
    assert "error" in nc3d.info(broken)["details"]


def test_smaller_than_the_dct_format_at_the_same_psnr(codec, head):
    wavelet = codec.encode(head, target_psnr=40.0)
    dct = codec.encode(head, target_psnr=40.0, model="dct")
    assert "ac" in container.unpack(dct).header  # the DCT format is still written on request
    assert psnr(head, codec.decode(wavelet)) >= 40.0 and psnr(head, codec.decode(dct)) >= 40.0
    assert len(wavelet) < 0.9 * len(dct)


def test_target_psnr_picks_the_smallest_quality_reaching_it(codec, head):
    blob = codec.encode(head, target_psnr=38.0)
    c = container.unpack(blob)
    quality = vw.unpack_payload(c.sections["w"])[1]
    assert c.header["psnr"] >= 38.0
    assert psnr(head, codec.decode(codec.encode(head, quality=quality - 0.25))) < 38.0


def test_region_is_the_crop_of_the_whole_decode(codec, head):
    blob = codec.encode(head, quality=12)
    region = ((3, 20), (0, 9), (17, 40))
    part = nc3d.decompress(blob, region="3:20,0:9,17:40")
    assert np.array_equal(part, codec.decode(blob)[tuple(slice(a, b) for a, b in region)])


@pytest.mark.parametrize("quality", [0.0, 14.0, 32.0])
def test_coefficient_coding_is_exact_with_large_magnitudes_and_quiet_rows(quality, monkeypatch):
    rng = np.random.default_rng(2)
    z, y, x = np.mgrid[0:64, 0:64, 0:64] / 64.0
    smooth = np.exp(-((x - 0.5) ** 2 + (y - 0.4) ** 2 + (z - 0.6) ** 2) * 20)  # zeros far from the blob
    vol = (smooth + 0.02 * rng.standard_normal(smooth.shape) * (smooth > 0.5)).astype(np.float32)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    flags = []
    monkeypatch.setattr(vw, "_flag_model", lambda *a, f=vw._flag_model: flags.append(1) or f(*a))
    model = _model()
    ql, qbands = vw.quantize_wavelet(*forward_cdf97(vol), quality_step(quality), model["rounding"])
    streams = vw.encode_wavelet(ql, qbands, split_axes(vol.shape), model)
    got_low, got = vw.decode_wavelet(streams, vol.shape, model, vw.coefficient_bound(quality_step(quality)))
    assert np.array_equal(got_low, ql)
    for want_level, got_level in zip(qbands, got):
        for name in want_level:
            assert np.array_equal(want_level[name], got_level[name])
    biggest = max(int(np.abs(q).max()) for level in qbands for q in level.values())
    if quality == 32.0:
        assert biggest > 1 << 16 and len(streams["bits"]) > 0  # classes with many remainder bits
    if quality == 0.0:
        assert flags  # rows of near-certain zeros went by groups of 16


def test_volume_header_packs_every_dtype_in_a_few_bytes():
    for dtype, rng in (("uint8", [0, 255]), ("int16", [-3, 3926]), ("float32", [-7.5, 0.25])):
        header = {"shape": [189, 233, 197], "dtype": dtype, "range": rng}
        blob = pack_volume_header(header)
        assert len(blob) <= 15 and unpack_volume_header(blob + b"xyz") == (header, len(blob))
    wide = {"shape": [1, 2, 3], "dtype": "float64", "range": [1e-300, 1e300]}
    assert unpack_volume_header(pack_volume_header(wide))[0] == wide
    for bad in (b"", b"\x05\x05", b"\x05\x05\x05\x09", b"\x05\x05\x05\x07\x00"):
        with pytest.raises(FormatError):
            unpack_volume_header(bad)


def _repacked(blob: bytes, *, header=None, w=None, extra=None) -> bytes:
    c = container.unpack(blob)
    sections = dict(c.sections) | ({"w": w} if w is not None else {}) | (extra or {})
    return container.pack(container.Container("volume", header or c.header, sections))


def test_hostile_files_raise_format_error(codec, head):
    blob = codec.encode(head, quality=10)
    w = container.unpack(blob).sections["w"]
    fields, quality, digest, streams = vw.unpack_payload(w)
    good = vw.pack_payload(fields, quality, digest, streams)
    assert good == w
    bad = [
        _repacked(blob, w=w[:5]),  # truncated header
        _repacked(blob, w=w[: len(w) // 2]),  # truncated streams
        _repacked(blob, w=w + b"\x00" * 8),  # trailing words
        _repacked(blob, w=vw.pack_payload(fields, 33.0, digest, streams)),  # quality past the maximum
        _repacked(blob, w=vw.pack_payload(fields, quality, "00" * 8, streams)),  # another model
        _repacked(blob, w=vw.pack_payload(fields, quality, "", streams)),  # "embedded" without a model
        _repacked(blob, w=vw.pack_payload(fields | {"shape": [420, 620, 480]}, quality, digest, streams)),
        _repacked(blob, w=vw.pack_payload(fields, quality, digest, streams | {"bits": b"\xff" * 9})),
        _repacked(blob, w=vw.pack_payload(fields, quality, digest, streams | {"detail": b"\x01" * 64})),
        _repacked(blob, header={"format": 4}),  # written by a newer nc3d
        _repacked(blob, w=b""),
    ]
    for b in bad:
        with pytest.raises(FormatError):
            codec.decode(b)


def test_an_embedded_wavelet_model_travels_with_the_file(codec, head, tmp_path):
    z, y, x = np.mgrid[0:24, 0:24, 0:24] / 24.0
    field = (np.sin(6 * x) * np.cos(5 * y) + z).astype(np.float32)
    field = (field - field.min()) / (field.max() - field.min())
    ql, qbands = vw.quantize_wavelet(*forward_cdf97(field), quality_step(10), 0.3)
    hist = vw.wavelet_histogram(ql, qbands, split_axes(field.shape))
    model = {"prior": vw.fit_prior(hist), "rounding": 0.3, "offset": 0.15, "alpha": 64}
    path = tmp_path / "m.npz"
    path.write_bytes(vw.wavelet_model_bytes(model))
    blob = codec.encode(head, quality=10, model=str(path))
    c = container.unpack(blob)
    assert set(c.sections) == {"w", "model"} and vw.unpack_payload(c.sections["w"])[2] == ""
    assert psnr(head, codec.decode(blob)) > 35
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a volume model"):
        codec.encode(head, model=str(tmp_path / "bad.npz"))


@pytest.mark.parametrize("key", ["volume-wavelet", "volume-wavelet-large"])
def test_golden_files_of_format_3_decode_as_recorded(key):
    # written with the shipped wavelet model (its digest is in section w): a small sample and a
    # 40³ field at quality 26 (magnitude classes, quiet rows)
    from nc3d.testing import fuzz
    from test_golden import _close

    want = json.loads((GOLDEN / "expected.json").read_text())[key]
    blob = (GOLDEN / want["file"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == want["file_sha256"]
    assert container.unpack(blob).header.get("format") == 3 and "w" in container.unpack(blob).sections
    kind, result = fuzz.decode_quick(blob)
    _close(fuzz.describe_result(kind, result), want["decoded"])
