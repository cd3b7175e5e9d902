"""The codec protocol all the way through: presets, capabilities, format numbers and handles."""

from __future__ import annotations

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.codecs import base
from nc3d.codecs.base import CAPABILITIES, PRESETS, Codec, codec_names, get_codec
from nc3d.codecs.handles import EncodedFile, MeshFile, MeshSetFile, VolumeFile
from nc3d.errors import FormatError, InputError
from nc3d.testing import fuzz

HANDLES = {"mesh": MeshFile, "meshset": MeshSetFile, "volume": VolumeFile}


@pytest.mark.parametrize("name", codec_names())
def test_every_codec_declares_valid_presets(name):
    codec = get_codec(name)
    for preset in PRESETS:
        ladder = codec.preset(preset)
        assert ladder, f"{name}: preset {preset!r} is empty"
        for settings in ladder:
            codec.resolve_settings(settings)  # every value a valid setting of the codec
    with pytest.raises(InputError, match="unknown preset"):
        codec.preset("fastest")


def test_preset_ladders_are_copies():
    codec = get_codec("dct")
    codec.preset("default")[0]["step"] = 99.0
    assert codec.preset("default")[0]["step"] != 99.0


def test_the_conv_codec_ladder_matches_its_shipped_model():
    from nc3d.codecs.volume.volume_conv import VolumeConvCodec, _model

    levels = _model("default")[0].arch.levels
    assert VolumeConvCodec.LEVELS == levels
    assert max(s["quality"] for s in get_codec("volume-conv").preset("default")) == levels - 1


@pytest.mark.parametrize("name", codec_names())
def test_capabilities_are_known_and_match_what_the_codec_has(name):
    codec = get_codec(name)
    assert codec.capabilities <= CAPABILITIES
    if codec.supports(base.REGION_DECODE):  # block codecs override the decode-then-crop default
        assert type(codec).decode_region is not Codec.decode_region
    if codec.supports(base.SHAPE_ACCESS) or codec.supports(base.FIELD):
        assert codec.handle_type is not None or type(codec).open is not Codec.open
    with pytest.raises(ValueError, match="unknown capability"):
        codec.supports("teleport")


@pytest.mark.parametrize("name", codec_names())
def test_open_returns_the_handle_of_the_codecs_kind(name):
    blob = fuzz.sample_file(name)
    handle = nc3d.open(blob)
    assert isinstance(handle, EncodedFile) and isinstance(handle, HANDLES[handle.kind])
    assert handle.codec == name and handle.capabilities == get_codec(name).capabilities
    assert handle.info()["total_bytes"] == len(blob) == nc3d.info(blob)["total_bytes"]
    if handle.supports(base.FIELD):
        assert handle.sdf(np.zeros((2, 3))).shape == (2,)
        assert len(handle.decode(resolution=fuzz.FUZZ_RESOLUTION).faces) > 0
    elif handle.kind == "meshset":
        assert handle.count == 3 and handle.index(handle.names[-1]) == 2
        assert len(handle.decode_shape(handle.names[0]).vertices) > 0
        assert [n for n, _ in handle.decode()] == handle.names
    else:
        decoded = handle.decode()
        assert (decoded.ndim == 3) if handle.kind == "volume" else len(decoded.faces) > 0


def test_every_new_file_records_its_codecs_format_number():
    blob = nc3d.compress(fuzz.sample_input("volume"), codec="dct")
    assert container.unpack(blob).header["format"] == get_codec("dct").format == 1


@pytest.mark.parametrize("fmt", [2, 0, "1", 1.0, None])
def test_a_format_number_this_nc3d_does_not_read_is_a_format_error(fmt):
    c = container.unpack(nc3d.compress(fuzz.sample_input("volume"), codec="dct"))
    blob = container.pack(container.Container(c.codec, {**c.header, "format": fmt}, c.sections))
    with pytest.raises(FormatError, match="format"):
        nc3d.decompress(blob)
    with pytest.raises(FormatError, match="format"):
        nc3d.open(blob)


def test_files_without_a_format_number_are_format_1():
    c = container.unpack(nc3d.compress(fuzz.sample_input("volume"), codec="dct"))
    header = {k: v for k, v in c.header.items() if k != "format"}
    old = container.pack(container.Container(c.codec, header, c.sections))
    np.testing.assert_array_equal(nc3d.decompress(old), nc3d.decompress(container.pack(c)))


def test_registration_checks_presets_and_capabilities():
    class NoName(Codec):
        kind = "mesh"

    class BadPreset(Codec):
        name, kind = "bad-preset", "mesh"
        presets = {"turbo": ({},)}

    class BadCapability(Codec):
        name, kind = "bad-capability", "mesh"
        capabilities = frozenset({"teleport"})

    for cls in (NoName, BadPreset, BadCapability):
        with pytest.raises(TypeError):
            base.register(cls)
    assert "bad-preset" not in codec_names()


def test_a_set_without_random_access_decodes_once_and_serves_each_shape():
    blob = fuzz.sample_file("quant-deepsdf")
    handle = nc3d.open(blob)
    assert not handle.supports(base.SHAPE_ACCESS) and type(handle) is MeshSetFile
    first = handle.decode_shape(0)
    assert handle.decode_shape(0) is first  # kept, not decoded again
    with pytest.raises(InputError, match="no shape named"):
        handle.decode_shape("nope")
