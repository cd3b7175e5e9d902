"""Volume baselines: dct, zfp, volume-zlib, volume-lzma; region decoding."""

from __future__ import annotations

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.codecs.base import get_codec
from nc3d.errors import FormatError, InputError
from nc3d.metrics.volume import psnr

LOSSY = ("dct", "zfp")
LOSSLESS = ("volume-zlib", "volume-lzma")


def _blob(shape=(19, 17, 13), dtype="uint8", seed=0, noise=0.05):
    """A smooth blob plus a little noise, scaled to the dtype."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    f = np.exp(-3 * (x**2 + 2 * y**2 + 0.5 * z**2)) + noise * np.random.default_rng(seed).normal(size=shape)
    f = (f - f.min()) / (f.max() - f.min())
    if dtype == "uint8":
        return np.rint(f * 255).astype(np.uint8)
    if dtype == "int16":
        return np.rint(f * 3000 - 1000).astype(np.int16)
    return (f * 7.5 - 2).astype(dtype)


@pytest.mark.parametrize("codec", LOSSY + LOSSLESS)
@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32"])
def test_round_trip_keeps_shape_dtype_and_range(codec, dtype):
    v = _blob(dtype=dtype)
    out = nc3d.decompress(nc3d.compress(v, codec=codec))
    assert out.shape == v.shape and out.dtype == v.dtype
    assert out.min() >= v.min() and out.max() <= v.max()
    if codec in LOSSLESS:
        np.testing.assert_array_equal(out, v)
    else:
        assert psnr(v, out) > 30


@pytest.mark.parametrize("codec", LOSSY)
def test_quality_rises_along_the_ladder(codec):
    v = _blob(shape=(32, 24, 20), dtype="int16")
    c = get_codec(codec)
    steps = [s for s in c.preset("quick") if s.get("mode", "accuracy") == "accuracy"]
    assert len(steps) >= 3
    results = []
    for settings in steps:
        blob = c.encode(v, **settings)
        results.append((len(blob), psnr(v, c.decode(blob))))
    sizes, quality = zip(*results)
    assert list(sizes) == sorted(sizes, reverse=True)  # the ladder goes from fine to coarse
    assert list(quality) == sorted(quality, reverse=True)
    assert quality[0] - quality[-1] > 6


def test_dct_reaches_its_design_point_on_a_smooth_volume():
    v = _blob(shape=(48, 40, 32), dtype="uint8", noise=0.0)
    blob = nc3d.compress(v, codec="dct", step=0.02)
    assert v.nbytes / len(blob) > 20 and psnr(v, nc3d.decompress(blob)) > 40


def test_zfp_rate_mode_sizes_follow_the_rate():
    v = _blob(shape=(32, 32, 32), dtype="float32")
    small = nc3d.compress(v, codec="zfp", mode="rate", rate=1.0)
    large = nc3d.compress(v, codec="zfp", mode="rate", rate=8.0)
    assert 6 < len(large) / len(small) < 9
    assert psnr(v, nc3d.decompress(large)) > psnr(v, nc3d.decompress(small))


@pytest.mark.parametrize("codec", LOSSY + LOSSLESS)
def test_constant_volume(codec):
    v = np.full((5, 6, 7), 42, dtype=np.int16)
    np.testing.assert_array_equal(nc3d.decompress(nc3d.compress(v, codec=codec)), v)


@pytest.mark.parametrize(
    "region", [((0, 19), (0, 17), (0, 13)), ((3, 11), (8, 17), (5, 6)), ((16, 19), (0, 1), (8, 13))]
)
def test_dct_region_decodes_only_what_is_asked_and_matches_the_full_decode(region):
    v = _blob(dtype="int16")
    blob = nc3d.compress(v, codec="dct")
    full = nc3d.decompress(blob)
    part = nc3d.decompress(blob, region=region)
    box = tuple(slice(a, b) for a, b in region)
    np.testing.assert_array_equal(part, full[box])
    # The box (3:11, 8:17, 5:6) needs 2 x 2 x 1 of the 3 x 3 x 2 blocks: the rest is never transformed.
    c = container.unpack(blob)
    dct = get_codec("dct")
    calls = []
    original = dct.decode_region.__globals__["dct_blocks"]
    dct.decode_region.__globals__["dct_blocks"] = lambda b, inverse=False: (
        calls.append(len(b)) or original(b, inverse)
    )
    try:
        dct.decode_region(c.header, c.sections, region)
    finally:
        dct.decode_region.__globals__["dct_blocks"] = original
    blocks = np.prod([-(-b // 8) - a // 8 for a, b in region])
    assert calls == [blocks]


def test_region_fallback_and_errors():
    v = _blob(dtype="float32")
    blob = nc3d.compress(v, codec="volume-zlib")
    np.testing.assert_array_equal(nc3d.decompress(blob, region="2:5,:,10:"), v[2:5, :, 10:])
    for bad in ("0:20,:,:", "5:5,:,:", "1:2,3:4", "a:b,:,:"):
        with pytest.raises(InputError):
            nc3d.decompress(blob, region=bad)


def _tamper(blob, header=None, sections=None):
    c = container.unpack(blob)
    return container.pack(
        container.Container(c.codec, {**c.header, **(header or {})}, {**c.sections, **(sections or {})})
    )


@pytest.mark.parametrize("codec", LOSSY + LOSSLESS)
def test_hostile_headers_raise_format_error(codec):
    blob = nc3d.compress(_blob(), codec=codec)
    for header in (
        {"shape": [4096, 4096, 4096]},
        {"shape": [19, 17]},
        {"dtype": "complex64"},
        {"range": [3, 1]},
    ):
        with pytest.raises(FormatError):
            nc3d.decompress(_tamper(blob, header=header))
    with pytest.raises(FormatError):
        nc3d.decompress(_tamper(blob, header={"shape": [19, 17, 25]}))
    name = next(iter(container.unpack(blob).sections))
    with pytest.raises(FormatError):
        nc3d.decompress(_tamper(blob, sections={name: b"\x01\x02\x03"}))


def test_dct_refuses_coefficients_its_step_cannot_produce():
    blob = nc3d.compress(_blob(), codec="dct", step=0.005)
    with pytest.raises(FormatError, match="out of range"):
        nc3d.decompress(_tamper(blob, header={"step": 1.0}))
