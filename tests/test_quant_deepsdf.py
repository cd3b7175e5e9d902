"""QuantDeepSDF baseline: one auto-decoder for a set, a latent per shape, quantized, entropy-coded."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

import nc3d
from nc3d import FormatError, InputError
from nc3d.codecs import codec_names, get_codec
from nc3d.container import unpack
from nc3d.metrics import compare_meshes

SMALL = {"width": 32, "steps": 400, "samples": 3000, "batch_size": 2048, "resolution": 32}


@pytest.fixture(scope="module")
def shapes():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=2.0)
    sphere.apply_translation((5.0, 0.0, 0.0))
    box = trimesh.creation.box(extents=(2.0, 1.0, 0.6))
    return [("sphere", nc3d.as_mesh(sphere)), ("box", nc3d.as_mesh(box))]


@pytest.fixture(scope="module")
def encoded(shapes):
    return get_codec("quant-deepsdf").encode(shapes, **SMALL)


def test_registered_as_a_set_baseline():
    assert "quant-deepsdf" in codec_names("meshset", baselines=True)


def test_round_trip_gives_each_shape_back_in_place(shapes, encoded):
    out = nc3d.decompress(encoded)
    assert [n for n, _ in out] == ["sphere", "box"]
    for (_, ref), (_, dec) in zip(shapes, out):
        m = compare_meshes(ref, dec, n_samples=5000)
        assert m["chamfer_p2s"] < 0.05, m
        assert np.allclose(dec.bounds, ref.bounds, atol=0.15 * np.ptp(ref.bounds, axis=0).max())
    # one network, two latents: the shapes stay distinct (a sphere is not a flat box)
    ext = [np.ptp(dec.vertices, axis=0) for _, dec in out]
    assert ext[0].min() / ext[0].max() > 0.8 and ext[1].min() / ext[1].max() < 0.5


def test_width_sets_the_rate(shapes, encoded):
    small = get_codec("quant-deepsdf").encode(shapes, **{**SMALL, "width": 8, "steps": 20})
    assert len(small) * 3 < len(encoded)
    header = unpack(encoded).header
    assert header["architecture"] == {"layers": 8, "width": 32, "latent": 32} and len(header["frames"]) == 2


def test_hostile_files_are_format_errors(encoded):
    codec = get_codec("quant-deepsdf")
    c = unpack(encoded)
    for section in c.sections:
        for junk in (b"", b"\x00" * 7, c.sections[section][: len(c.sections[section]) // 2]):
            with pytest.raises(FormatError):
                codec.decode_parts(c.header, {**c.sections, section: junk})
    with pytest.raises(FormatError, match="cannot come from"):
        codec.decode_parts(
            {**c.header, "architecture": {"layers": 16, "width": 512, "latent": 256}}, c.sections
        )
    with pytest.raises(FormatError):
        codec.decode_parts({**c.header, "names": ["a"]}, c.sections)
    with pytest.raises(FormatError):
        codec.decode_parts({**c.header, "resolution": 4096}, c.sections)


def test_refuses_what_is_not_a_set():
    with pytest.raises(InputError, match="set of meshes"):
        get_codec("quant-deepsdf").encode(np.zeros((4, 4, 4)), **SMALL)
