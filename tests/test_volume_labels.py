"""Lossless label volumes: the volume-labels codec, the volume codec's choice, the CLI switch."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.cli import main
from nc3d.codecs.base import get_codec
from nc3d.codecs.volume.volume_labels import (
    MAX_PALETTE,
    decode_indices,
    encode_indices,
    looks_like_labels,
    palette_indices,
)
from nc3d.errors import FormatError, InputError
from nc3d.io import load_volume
from nc3d.samples import sample_volume_path

HEAD = sample_volume_path()  # 42 x 62 x 48 uint8 MR head


def _balls(shape, n=6, labels=5, seed=0) -> np.ndarray:
    """Overlapping balls of random labels on a 0 background (a structured label map)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    out = np.zeros(shape, dtype=np.int64)
    for _ in range(n):
        c = rng.uniform(0, shape)
        r = rng.uniform(0.2, 0.5) * max(shape)
        out[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r * r] = rng.integers(1, labels + 1)
    return out


def _head_classes() -> np.ndarray:
    from skimage.filters import threshold_multiotsu

    head = load_volume(HEAD)
    return np.digitize(head, threshold_multiotsu(head, classes=4)).astype(np.uint8)


def _roundtrip(v, codec="volume-labels", **settings):
    blob = nc3d.compress(v, codec=codec, **settings)
    out = nc3d.decompress(blob)
    assert out.dtype == v.dtype and out.shape == v.shape
    np.testing.assert_array_equal(out, v)
    return blob


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
)
@pytest.mark.parametrize("kind", ["random", "balls"])
def test_exact_roundtrip_for_every_dtype(dtype, kind):
    shape = (13, 7, 22)  # not cubic, odd and even sizes
    base = np.random.default_rng(3).integers(0, 6, shape) if kind == "random" else _balls(shape)
    low = 0 if dtype.startswith("u") else -3  # negative labels for the signed types
    v = (base * 5 + low).astype(dtype)
    blob = _roundtrip(v)
    assert container.unpack(blob).codec == "volume-labels"


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (1, 1, 40), (1, 9, 1), (17, 1, 1), (1, 6, 7), (5, 1, 9), (2, 2, 2), (3, 1, 2), (33, 17, 9)],
)
def test_thin_and_tiny_volumes(shape):
    v = np.random.default_rng(sum(shape)).integers(0, 3, shape).astype(np.uint8)
    _roundtrip(v)
    _roundtrip((_balls(shape, labels=3) * 7).astype(np.int16))


def test_a_single_label_and_a_constant_volume_stay_small():
    v = np.full((64, 64, 64), 9, dtype=np.uint16)
    blob = _roundtrip(v)
    assert len(blob) < 400
    c = container.unpack(blob)
    assert "labels" not in c.sections and c.header["labels"] == 1
    _roundtrip(np.full((1, 1, 1), -7, dtype=np.int8))


def test_many_labels_wide_values_and_fractional_palettes():
    rng = np.random.default_rng(5)
    big = _balls((20, 21, 22), n=40, labels=300) + rng.integers(0, 2, (20, 21, 22)) * 400
    _roundtrip(big.astype(np.uint16))  # > 256 labels: uint16 indices
    _roundtrip((_balls((9, 10, 11)) * 100_000_000 - 2**31 + 1).astype(np.int32))  # span beyond a lookup table
    _roundtrip((_balls((9, 10, 11)) * 0.25 - 0.125).astype(np.float32))  # a palette of non-integers
    _roundtrip(np.array([0.0, 1e30, -3.5], dtype=np.float64).reshape(1, 1, 3))


@pytest.mark.parametrize("shape", [(5, 4, 3), (1, 6, 7), (8, 8, 8), (9, 2, 1)])
def test_mirror_symmetric_volumes_code_one_half(shape):
    a = np.random.default_rng(1).integers(0, 4, shape)
    z_only = a + a[::-1]
    sym = z_only + z_only[:, ::-1]
    sym = sym + sym[:, :, ::-1]  # its own mirror image along z, y and x
    blob = _roundtrip(sym.astype(np.uint8))
    assert container.unpack(blob).header["mirror"] == [n > 1 for n in shape]
    header = container.unpack(_roundtrip(z_only.astype(np.int16))).header
    assert header.get("mirror", [False] * 3) == [shape[0] > 1, False, False]
    with pytest.raises(FormatError, match="mirror"):
        nc3d.decompress(_edit(blob, mirror=[1, 0, 0]))


def test_index_coder_directly_and_labels_beat_the_raw_bytes():
    v = _balls((40, 41, 42), labels=4).astype(np.uint8)
    values, idx = palette_indices(v)
    assert values.tolist() == sorted(set(v.ravel().tolist()))
    data = encode_indices(idx, len(values))
    np.testing.assert_array_equal(decode_indices(data, idx.shape, len(values)), idx)
    assert len(data) < v.size / 50  # smooth balls: a few hundred bytes for 70k voxels


def test_too_many_values_are_refused_clearly():
    v = np.arange(MAX_PALETTE + 1, dtype=np.float32).reshape(1, 1, -1) * 0.5
    with pytest.raises(InputError, match=f"{MAX_PALETTE + 1} distinct values"):
        nc3d.compress(v, codec="volume-labels")
    with pytest.raises(InputError, match="distinct values"):
        nc3d.compress(v, codec="volume", lossless=True)


# -- the volume codec's choice ----------------------------------------------------------------


def test_detection_tells_labels_from_scans():
    labels = _head_classes()
    assert looks_like_labels(labels)
    assert looks_like_labels(_balls((20, 20, 20)).astype(np.int32))
    assert looks_like_labels(labels.astype(np.float32))  # integer-valued floats count
    assert not looks_like_labels(load_volume(HEAD))  # uint8 scan: ≤ 256 values, neighbours differ
    z, y, x = np.mgrid[-1:1:24j, -1:1:24j, -1:1:24j]
    ct = (1000 * np.exp(-(x * x + y * y + z * z)) + np.random.default_rng(0).normal(0, 5, x.shape)).astype(
        np.float32
    )
    assert not looks_like_labels(ct)  # CT-like floats
    assert not looks_like_labels(np.rint(ct).astype(np.int16))  # integers, but far more than 256 values
    assert not looks_like_labels(labels + 0.5)  # not integers


def test_volume_codec_picks_lossless_for_labels_and_forcing_works_both_ways():
    labels, head = _head_classes(), load_volume(HEAD)
    auto = _roundtrip(labels, codec=None)  # the default volume codec
    assert container.unpack(auto).codec == "volume-labels"
    lossy = nc3d.compress(labels, codec="volume", lossless=False)
    assert container.unpack(lossy).codec == "volume" and len(lossy) > 2 * len(auto)
    assert container.unpack(nc3d.compress(labels, codec="volume", quality=10.0)).codec == "volume"
    assert container.unpack(nc3d.compress(head)).codec == "volume"  # a scan stays lossy
    forced = _roundtrip(head, codec="volume", lossless=True)  # 255 values: exact on request
    assert container.unpack(forced).codec == "volume-labels"
    with pytest.raises(InputError, match="lossless=True does not take quality"):
        nc3d.compress(labels, codec="volume", lossless=True, quality=3.0)
    volume = get_codec("volume")  # the codec object decodes what it handed over
    np.testing.assert_array_equal(volume.decode(volume.encode(labels)), labels)
    np.testing.assert_array_equal(
        volume.decode_container(container.unpack(auto), region="1:3,:,5:9"), labels[1:3, :, 5:9]
    )


# -- hostile files --------------------------------------------------------------------------------


def _edit(blob: bytes, sections=None, **header) -> bytes:
    c = container.unpack(blob)
    c.header.update(header)
    if sections is not None:
        c.sections.update(sections)
    return container.pack(c)


def test_corrupt_files_raise_format_error():
    v = _balls((24, 25, 26), labels=4).astype(np.uint8)
    blob = nc3d.compress(v, codec="volume-labels")
    c = container.unpack(blob)
    data = c.sections["labels"]
    bad = [
        _edit(blob, shape=[24, 250, 2**16]),  # a huge volume declared by a small file
        _edit(blob, shape=[24, 25, 27]),
        _edit(blob, labels=3),
        _edit(blob, labels=0),
        _edit(blob, palette="text"),
        _edit(blob, range=[0.0, 7.0]),
        _edit(blob, dtype="int8", range=[0.0, 400.0]),
        _edit(blob, sections={"labels": data[:-4]}),
        _edit(blob, sections={"labels": data[:-1]}),
        _edit(blob, sections={"labels": data + b"\x00" * 4}),
        _edit(blob, sections={"labels": bytes(len(data))}),
        _edit(blob, sections={"palette": c.sections["palette"][:-1]}),
        _edit(blob, sections={"palette": c.sections["palette"] + b"\x01"}),
        _edit(blob, sections={"pad": b"\x01"}),
    ]
    no_labels = container.unpack(blob)
    del no_labels.sections["labels"]
    bad.append(container.pack(no_labels))
    for i, b in enumerate(bad):
        try:
            out = nc3d.decompress(b)
        except FormatError as exc:
            assert str(exc), i
        else:  # a damaged stream may still decode: then to a well-formed volume of the header's shape
            assert out.shape == tuple(container.unpack(b).header["shape"]), i
    with pytest.raises(FormatError, match="out of proportion"):
        nc3d.decompress(bad[0])
    with pytest.raises(FormatError):
        nc3d.decompress(bad[-1])


def test_a_big_declared_shape_fails_before_the_big_allocation():
    v = _balls((24, 25, 26), labels=4).astype(np.uint8)
    blob = nc3d.compress(v, codec="volume-labels")
    c = container.unpack(blob)
    c.sections["pad"] = bytes(40_000)  # enough bytes to pass the size guard for 2**31 / 2**16 voxels...
    c.header["shape"] = [1024, 1024, 1000]
    with pytest.raises(
        FormatError, match="check word|corrupt|palette"
    ):  # ...but not the coarse levels' checks
        nc3d.decompress(container.pack(c))


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_switch_and_the_reported_codec(tmp_path, capsys):
    labels = tmp_path / "labels.npy"
    np.save(labels, _head_classes())
    out = tmp_path / "x.nc3d"

    def compress(*flags):
        code = main(["compress", str(labels), "-o", str(out), "--force", "--json", *flags])
        assert code == 0
        return json.loads(capsys.readouterr().out)

    assert compress()["codec"] == "volume-labels"
    assert compress("--no-lossless")["codec"] == "volume"
    assert compress("--lossless")["codec"] == "volume-labels"
    np.testing.assert_array_equal(nc3d.decompress(out.read_bytes()), np.load(labels))
    code = main(["compress", str(HEAD), "-o", str(out), "--force", "--json", "--lossless"])
    assert code == 0 and json.loads(capsys.readouterr().out)["codec"] == "volume-labels"
    np.testing.assert_array_equal(nc3d.decompress(out.read_bytes()), load_volume(HEAD))
