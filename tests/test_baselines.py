"""The classical baselines in the codec protocol: round trips, rate knobs, hostile input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

import nc3d
from nc3d import FormatError
from nc3d.codecs import codec_names, get_codec
from nc3d.metrics import compare_meshes

MESH_BASELINES = ["draco", "decimate", "decimate-draco", "sdf-grid", "ply-lzma"]


@pytest.fixture(scope="module")
def torus():
    m = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=96, minor_sections=48)
    m.apply_translation((3.0, 1.0, -2.0))
    return nc3d.as_mesh(m)


def test_registry_lists_the_baselines():
    names = codec_names("mesh", baselines=True)
    assert set(MESH_BASELINES) <= set(names)
    assert "implicit" in codec_names("mesh", baselines=False)


@pytest.mark.parametrize("name", MESH_BASELINES)
def test_round_trip_at_each_ladder_step(torus, name):
    codec = get_codec(name)
    for settings in codec.preset("quick"):
        blob = codec.encode(torus, **settings)
        back = nc3d.decompress(blob)
        m = compare_meshes(torus, back, n_samples=20_000)
        assert m["chamfer_p2s"] < 0.02, (name, settings, m)
        assert m["normal_consistency"] > 0.85
        assert back.signed_volume > 0  # faces still outward, original coordinates
        assert np.allclose(back.bounds, torus.bounds, atol=0.1)


@pytest.mark.parametrize(
    "name, knob, values",
    [
        ("draco", "bits", (8, 14)),
        ("decimate", "ratio", (0.05, 0.5)),
        ("decimate-draco", "ratio", (0.05, 0.5)),
        ("sdf-grid", "resolution", (24, 64)),
    ],
)
def test_rate_knob_moves_size_and_error(torus, name, knob, values):
    small, large = (nc3d.compress(torus, codec=name, **{knob: v}) for v in values)
    assert len(small) < len(large)
    e_small, e_large = (
        compare_meshes(torus, nc3d.decompress(b), n_samples=20_000)["chamfer_p2s"] for b in (small, large)
    )
    assert e_large < e_small


def test_draco_beats_lossless_by_far(torus):
    assert len(nc3d.compress(torus, codec="draco", bits=11)) * 4 < len(nc3d.compress(torus, codec="ply-lzma"))


@pytest.mark.parametrize("name", ["draco", "decimate", "decimate-draco", "sdf-grid"])
def test_garbage_sections_are_format_errors(torus, name):
    codec = get_codec(name)
    c = nc3d.container.unpack(codec.encode(torus, **codec.preset("quick")[0]))
    rng = np.random.default_rng(0)
    for section in c.sections:
        for junk in (b"", rng.bytes(17), c.sections[section][: len(c.sections[section]) // 2]):
            with pytest.raises(FormatError):
                codec.decode_parts(c.header, {**c.sections, section: junk})
    with pytest.raises(FormatError):
        codec.decode_parts({**c.header, "faces": -1, "resolution": 10**6}, c.sections)


def test_sdf_grid_refuses_huge_claims_before_allocating(torus):
    codec = get_codec("sdf-grid")
    c = nc3d.container.unpack(codec.encode(torus, resolution=16))
    with pytest.raises(FormatError, match="cannot come from"):
        codec.decode_parts({**c.header, "resolution": 512}, c.sections)
