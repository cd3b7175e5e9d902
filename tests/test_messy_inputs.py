"""Messy inputs (nc3d.testing.messy): every case loads and compresses, or stops with a clear nc3d error.

The full matrix (every shared mesh × every codec, and a 5-million-face mesh) is
benchmarks/messy_matrix.py; here each generated case meets every baseline codec of its kind,
and the neural codecs meet a few cases (their encoding trains a network); decoded files are
meshed at a low resolution (:func:`nc3d.testing.fuzz.decode_checked`).
"""

from __future__ import annotations

import warnings

import pytest

import nc3d
from nc3d.codecs.base import codec_names, get_codec
from nc3d.testing import fuzz, messy

# cases the (slow to encode) non-baseline codecs also meet
NEURAL_CASES = {"1e8-scale coordinates", "constant volume", "1×1×N volume"}

# what a case must say when it is refused (a word of the message), where it must be refused
EXPECTED_ERRORS = {
    "empty file": "empty",
    "all faces degenerate": "degenerate",
    "NaN vertex": "NaN",
    "inf vertex": "infinite",
    "point cloud (PLY, no faces)": "no faces",
    "wrong extension (OBJ named .stl)": "no faces",
    "face index out of range": "out of range",
    "unknown extension": "unknown mesh format",
    # with charset-normalizer installed (requests, Ray) trimesh reads garbage as text with no faces
    "binary garbage .obj": ("cannot read", "not really OBJ"),
    "binary garbage .ply": "cannot read",
    "binary garbage .stl": ("cannot read", "not really STL"),
    "binary garbage .glb": "cannot read",
    "truncated binary PLY": "cannot read",
    "binary STL with a huge triangle count": ("cannot read", "not really STL"),
    "raw file of the wrong size": "bytes",
    "NaN voxels": "NaN",
    "inf voxels": "infinite",
    "2-D array": "3-D",
    "object array (pickle)": "cannot read",
    "huge dims in a MetaImage header": "limit",
    "huge dims in a .npy header": "cannot read",
    "binary garbage .nii": "cannot read",
}


def _outcome(call):
    """'ok' or the Nc3dError; any other exception fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return "ok", call()
    except nc3d.Nc3dError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return "error", exc


@pytest.mark.parametrize("case", [*messy.MESH_CASES, *messy.VOLUME_CASES])
def test_messy_case_loads_or_fails_clearly(case, tmp_path):
    path = messy.write_case(case, tmp_path)
    status, loaded = _outcome(lambda: nc3d.load_input(path))
    if case in EXPECTED_ERRORS:
        assert status == "error", f"{case}: loaded, expected an error about {EXPECTED_ERRORS[case]!r}"
        assert isinstance(loaded, nc3d.InputError)
        expected = EXPECTED_ERRORS[case]
        expected = (expected,) if isinstance(expected, str) else expected
        assert any(e in str(loaded) for e in expected) and path.name in str(loaded), str(loaded)
        return
    assert status == "ok", f"{case}: {loaded}"
    for name in codec_names(loaded.kind):
        codec = get_codec(name)
        if not codec.baseline and case not in NEURAL_CASES:
            continue
        status, blob = _outcome(
            lambda name=name, codec=codec: nc3d.compress(loaded, codec=name, **fuzz.fast_settings(codec))
        )
        if status == "error":  # refused at compression: a clear InputError, never a FormatError
            assert isinstance(blob, nc3d.InputError), f"{case} × {name}: {type(blob).__name__}: {blob}"
            continue
        assert fuzz.decode_checked(blob) == "ok", f"{case} × {name}: its own file does not decode"


def test_big_mesh_generator_has_the_requested_faces():
    from nc3d.io.ply import parse_canonical_ply

    mesh = parse_canonical_ply(messy.big_mesh_ply(5000))
    assert len(mesh.faces) >= 5000 and mesh.area > 0


def test_sdf_grid_refuses_at_encode_what_it_could_not_decode(tmp_path):
    # a flat mesh has no inside: the grid would have no sign change (was: a file that failed to decode)
    flat = nc3d.load_input(messy.write_case("flat 2-D mesh", tmp_path))
    with pytest.raises(nc3d.InputError, match="resolution"):
        nc3d.compress(flat, codec="sdf-grid", resolution=16)


def test_decimation_to_nothing_says_raise_the_ratio(tmp_path):
    one = nc3d.load_input(messy.write_case("one triangle", tmp_path))
    with pytest.raises(nc3d.InputError, match="ratio"):
        nc3d.compress(one, codec="decimate")


def test_messy_meshes_as_one_set_all_come_back_with_every_set_codec(tmp_path):
    """The loadable messy meshes (one triangle, a flat 2-D outline, duplicated faces, 1e8-scale
    coordinates, quads …) as one set: each set codec gives every one of them back as a surface,
    or refuses the set with a clear error — never a file with a shape missing."""
    shapes = []
    for i, case in enumerate(messy.MESH_CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        status, loaded = _outcome(
            lambda case=case, folder=folder: nc3d.load_input(messy.write_case(case, folder))
        )
        if status == "ok":
            shapes.append((case, loaded.data))
    assert {"flat 2-D mesh", "one triangle"} <= {name for name, _ in shapes}
    for name in codec_names("meshset"):
        codec = get_codec(name)
        status, blob = _outcome(
            lambda name=name, codec=codec: nc3d.compress(shapes, codec=name, **fuzz.fast_settings(codec))
        )
        if status == "error":
            assert isinstance(blob, (nc3d.InputError, nc3d.EncodeError)), (
                f"{name}: {type(blob).__name__}: {blob}"
            )
            continue
        decoded = nc3d.decompress(blob)
        assert len(decoded) == len(shapes)
        empty = [shape for shape, mesh in decoded if len(mesh.faces) == 0]
        assert not empty, f"{name}: {empty} decode to nothing"
