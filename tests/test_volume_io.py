"""Volume I/O: every format round-trips without a transpose; shared volumes match their .npy."""

from __future__ import annotations

import base64
import csv
import struct
import zlib

import numpy as np
import pytest

from conftest import SHARED_DATA
from nc3d.errors import InputError
from nc3d.io.volumes import load_volume, parse_raw_name, raw_name, save_volume

VOLUMES = SHARED_DATA / "volumes"
READABLE = (".nii.gz", ".mhd", ".vti", ".vtk", ".slc")


def _shared_pairs():
    manifest = VOLUMES / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    rows = csv.DictReader(manifest.open(), delimiter="\t")
    pairs = []
    for row in rows:
        rel = row["rel_path"].split(" (")[0]
        if rel.endswith(READABLE) and (VOLUMES / rel).is_file():
            pairs.append(pytest.param(VOLUMES / rel, VOLUMES / row["npy_path"], id=rel))
    return pairs


@pytest.mark.parametrize("path, npy", _shared_pairs())
def test_every_shared_volume_matches_its_npy(path, npy):
    a, b = load_volume(path), np.load(npy)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def test_the_shared_set_covers_each_format():
    found = {p.values[0].name.split(".", 1)[1] for p in _shared_pairs()}
    if VOLUMES.is_dir():
        assert {"nii.gz", "mhd", "vti", "vtk", "slc"} <= found


def _ramp(shape, dtype):
    v = np.arange(np.prod(shape)).reshape(shape)
    if np.dtype(dtype).kind == "f":
        return (v * 0.37 - 3.0).astype(dtype)
    return (v % np.iinfo(dtype).max).astype(dtype)


@pytest.mark.parametrize("ext", [".npy", ".raw", ".nii", ".nii.gz", ".mhd", ".tif"])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "float32"])
def test_save_load_round_trip_never_transposes(tmp_path, ext, dtype):
    v = _ramp((3, 5, 7), dtype)
    written = save_volume(tmp_path / f"vol{ext}", v)
    back = load_volume(written)
    assert back.shape == (3, 5, 7) and back.dtype == v.dtype
    np.testing.assert_array_equal(back, v)


def test_axis_conventions_on_disk(tmp_path):
    v = _ramp((3, 5, 7), "uint8")  # (z, y, x)
    assert save_volume(tmp_path / "a.raw", v).name == "a_7x5x3_uint8.raw"  # name lists x first
    assert parse_raw_name("skull_7x5x3_int16.raw")[0] == (3, 5, 7)
    assert raw_name("b_1x2x3_uint8.raw", v).name == "b_7x5x3_uint8.raw"
    assert (tmp_path / "a_7x5x3_uint8.raw").read_bytes() == v.tobytes()  # x fastest
    header = save_volume(tmp_path / "m.mhd", v).read_text()
    assert "DimSize = 7 5 3" in header and (tmp_path / "m.raw").read_bytes() == v.tobytes()
    import nibabel

    img = nibabel.load(str(save_volume(tmp_path / "n.nii.gz", v)))
    assert img.shape == (7, 5, 3)  # NIfTI (i, j, k) = (x, y, z)
    assert np.asanyarray(img.dataobj)[6, 4, 2] == v[2, 4, 6]


def test_raw_with_explicit_shape_and_errors(tmp_path):
    v = _ramp((4, 3, 2), "int16")
    p = tmp_path / "plain.raw"
    p.write_bytes(v.tobytes())
    np.testing.assert_array_equal(load_volume(p, shape=(4, 3, 2), dtype="int16"), v)
    with pytest.raises(InputError, match="shape and dtype"):
        load_volume(p)
    with pytest.raises(InputError, match="needs 96"):
        load_volume(p, shape=(4, 3, 4), dtype="int16")
    with pytest.raises(InputError, match="unknown or unsupported dtype"):
        load_volume(p, shape=(4, 3, 2), dtype="complex64")
    with pytest.raises(InputError, match="unknown or unsupported dtype"):
        load_volume(p, shape=(4, 3, 2), dtype="int12")
    with pytest.raises(InputError, match="empty"):
        load_volume(p, shape=(0, 3, 2), dtype="int16")
    with pytest.raises(InputError, match="only given for raw"):
        load_volume(save_volume(tmp_path / "x.npy", v), shape=(4, 3, 2))
    nan = np.zeros((2, 2, 2), np.float32)
    nan[1, 1, 1] = np.nan
    (tmp_path / "n_2x2x2_float32.raw").write_bytes(nan.tobytes())
    with pytest.raises(InputError, match="NaN"):
        load_volume(tmp_path / "n_2x2x2_float32.raw")


def test_save_refuses_overwrite_and_unwritable_formats(tmp_path):
    v = _ramp((2, 2, 2), "uint8")
    save_volume(tmp_path / "a.mhd", v)
    with pytest.raises(InputError, match="exists"):
        save_volume(tmp_path / "a.mhd", v)
    save_volume(tmp_path / "a.mhd", v + 1, force=True)
    np.testing.assert_array_equal(load_volume(tmp_path / "a.mhd"), v + 1)
    with pytest.raises(InputError, match="cannot write"):
        save_volume(tmp_path / "a.vti", v)
    with pytest.raises(InputError, match="empty"):
        save_volume(tmp_path / "e.npy", np.zeros((0, 2, 2)))


def _mhd(tmp_path, name, lines, data=None, data_name=None):
    text = "".join(f"{k} = {v}\n" for k, v in lines)
    path = tmp_path / name
    if data_name is None:
        path.write_bytes(text.encode() + (data or b""))
    else:
        path.write_text(text)
        (tmp_path / data_name).write_bytes(data)
    return path


def test_metaimage_variants(tmp_path):
    v = _ramp((3, 4, 5), "uint16")
    base = [("NDims", 3), ("DimSize", "5 4 3"), ("ElementType", "MET_USHORT")]
    p = _mhd(tmp_path, "z.mhd", base + [("CompressedData", "True"), ("ElementDataFile", "z.zraw")],
             zlib.compress(v.tobytes()), "z.zraw")  # fmt: skip
    np.testing.assert_array_equal(load_volume(p), v)
    p = _mhd(tmp_path, "b.mhd", base + [("ElementByteOrderMSB", "True"), ("ElementDataFile", "b.raw")],
             v.astype(">u2").tobytes(), "b.raw")  # fmt: skip
    np.testing.assert_array_equal(load_volume(p), v)
    p = _mhd(tmp_path, "l.mha", base + [("ElementDataFile", "LOCAL")], v.tobytes())
    np.testing.assert_array_equal(load_volume(p), v)


@pytest.mark.parametrize(
    "lines, data, message",
    [
        ([("DimSize", "100000 100000 100000"), ("ElementType", "MET_UCHAR")],
         b"\0" * 8, "more than the limit"),
        ([("DimSize", "2 2 2"), ("ElementType", "MET_LONG")], b"\0" * 8, "ElementType"),
        ([("DimSize", "2 2 2"), ("ElementType", "MET_UCHAR")], b"\0" * 7, "needs 8"),
        ([("DimSize", "2 2"), ("ElementType", "MET_UCHAR")], b"\0" * 8, "NDims"),
        ([("DimSize", "2 2 0"), ("ElementType", "MET_UCHAR")], b"", "empty"),
        ([("DimSize", "2 2 2"), ("ElementType", "MET_UCHAR"), ("CompressedData", "True")],
         zlib.compress(b"\0" * 10**6), "compressed data"),
    ],
)  # fmt: skip
def test_metaimage_bad_headers(tmp_path, lines, data, message):
    p = _mhd(tmp_path, "bad.mhd", [("NDims", 3)] + lines + [("ElementDataFile", "bad.raw")], data, "bad.raw")
    with pytest.raises(InputError, match=message):
        load_volume(p)


# -- VTK XML image data: the writer below follows the VTK file-format spec ----------------------


def _vti(v, fmt, *, compress=False, encoding="raw", joint=True, header="UInt32"):
    hs = "<I" if header == "UInt32" else "<Q"
    raw = v.tobytes()
    if compress:
        blocks = [raw[i : i + 64] for i in range(0, len(raw), 64)]  # small blocks: several of them
        comp = [zlib.compress(b) for b in blocks]
        head = struct.pack(f"<{3 + len(comp)}{hs[1]}", len(comp), 64, len(blocks[-1]) % 64, *map(len, comp))
        parts = (head, b"".join(comp))
    else:
        parts = (struct.pack(hs, len(raw)), raw)
    b64 = (base64.b64encode(parts[0] + parts[1]) if joint and not compress
           else base64.b64encode(parts[0]) + base64.b64encode(parts[1]))  # fmt: skip
    z, y, x = v.shape
    ext = f"0 {x - 1} 0 {y - 1} 0 {z - 1}"
    vtype = {"uint8": "UInt8", "float32": "Float32", "int16": "Int16"}[v.dtype.name]
    attrs = f'type="{vtype}" Name="s" format="{fmt}"'
    body, appended = "", b""
    if fmt == "ascii":
        body = " ".join(map(str, v.ravel().tolist()))
    elif fmt == "binary":
        body = b64.decode()
    else:
        attrs += ' offset="0"'
        appended = (b'<AppendedData encoding="%s">_' % encoding.encode()
                    + (b64 if encoding == "base64" else parts[0] + parts[1])
                    + b"</AppendedData>")  # fmt: skip
    comp = ' compressor="vtkZLibDataCompressor"' if compress else ""
    xml = (f'<?xml version="1.0"?><VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" '
           f'header_type="{header}"{comp}><ImageData WholeExtent="{ext}" Origin="0 0 0" Spacing="1 1 1">'
           f'<Piece Extent="{ext}"><PointData Scalars="s"><DataArray {attrs}>{body}</DataArray>'
           f"</PointData></Piece></ImageData>")  # fmt: skip
    return xml.encode() + appended + b"</VTKFile>"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(fmt="ascii"),
        dict(fmt="binary"),
        dict(fmt="binary", joint=False),
        dict(fmt="binary", header="UInt64"),
        dict(fmt="binary", compress=True),
        dict(fmt="appended"),
        dict(fmt="appended", compress=True),
        dict(fmt="appended", encoding="base64"),
        dict(fmt="appended", encoding="base64", compress=True, header="UInt64"),
    ],
    ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()),
)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_vti_variants(tmp_path, kwargs, dtype):
    v = _ramp((3, 4, 5), dtype)
    p = tmp_path / "v.vti"
    p.write_bytes(_vti(v, **kwargs))
    back = load_volume(p)
    assert back.dtype == v.dtype
    np.testing.assert_array_equal(back, v)


def test_vti_and_vtk_bad_files(tmp_path):
    v = _ramp((3, 4, 5), "int16")
    good = _vti(v, "binary", compress=True)
    for bad, message in [
        (good.replace(b'WholeExtent="0 4', b'WholeExtent="0 99999999'), "limit|Extent"),
        (good.replace(b'Extent="0 4 0 3 0 2"', b'Extent="0 99999 0 99999 0 99999"'), "limit"),
        (good[:300] + good[340:], "base64|truncated|corrupt|XML"),
        (b"<VTKFile><!ENTITY x>", "DOCTYPE|entities"),
        (b"not xml at all", "not a VTK XML"),
    ]:
        (tmp_path / "b.vti").write_bytes(bad)
        with pytest.raises(InputError, match=message):
            load_volume(tmp_path / "b.vti")
    legacy = b"# vtk DataFile Version 3.0\nt\nBINARY\nDATASET STRUCTURED_POINTS\nDIMENSIONS 5 4 3\n"
    legacy += b"POINT_DATA 60\nSCALARS s short 1\nLOOKUP_TABLE default\n"
    (tmp_path / "l.vtk").write_bytes(legacy + v.astype(">i2").tobytes())
    np.testing.assert_array_equal(load_volume(tmp_path / "l.vtk"), v)
    (tmp_path / "l.vtk").write_bytes(legacy + v.astype(">i2").tobytes()[:-1])
    with pytest.raises(InputError, match="needs 120"):
        load_volume(tmp_path / "l.vtk")
    ascii_ = legacy.replace(b"BINARY", b"ASCII") + " ".join(map(str, v.ravel())).encode()
    (tmp_path / "a.vtk").write_bytes(ascii_)
    np.testing.assert_array_equal(load_volume(tmp_path / "a.vtk"), v)


def test_tiff_stack_and_unknown_format(tmp_path):
    import tifffile

    v = _ramp((4, 3, 2), "uint16")
    tifffile.imwrite(tmp_path / "pages.tif", v, photometric="minisblack")  # one page per z slice
    with tifffile.TiffFile(tmp_path / "pages.tif") as tif:
        assert len(tif.pages) == 4
    np.testing.assert_array_equal(load_volume(tmp_path / "pages.tif"), v)
    with tifffile.TiffFile(save_volume(tmp_path / "ours.tif", v)) as tif:  # nc3d writes the same
        assert len(tif.pages) == 4
    (tmp_path / "x.dat").write_bytes(b"\0")
    with pytest.raises(InputError, match="unknown volume format"):
        load_volume(tmp_path / "x.dat")
    (tmp_path / "bad.nii.gz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="NIfTI"):
        load_volume(tmp_path / "bad.nii.gz")


@pytest.mark.parametrize(
    "name", ["a.nii.gz", "a.nii", "a.tif", "a.npy", "a.mhd", "a.vti", "b.vti", "a.vtk", "a.slc"]
)
def test_damaged_files_raise_input_error_quietly(tmp_path, capfd, name):
    """Truncated and byte-flipped files: a volume or InputError, and nothing printed by the libraries."""
    v = _ramp((6, 5, 4), "int16")
    if name.endswith(".vti"):
        (tmp_path / name).write_bytes(_vti(v, "appended" if name == "a.vti" else "binary", compress=True))
    elif name.endswith(".slc"):
        (tmp_path / name).write_bytes(_slc(v.astype(np.uint8)))
    elif name.endswith(".vtk"):
        head = b"# vtk DataFile Version 3.0\nt\nBINARY\nDATASET STRUCTURED_POINTS\nDIMENSIONS 4 5 6\n"
        (tmp_path / name).write_bytes(head + b"POINT_DATA 120\nSCALARS s short\nLOOKUP_TABLE default\n"
                                      + v.astype(">i2").tobytes())  # fmt: skip
    else:
        save_volume(tmp_path / name, v)
    data = (tmp_path / name).read_bytes()
    rng = np.random.default_rng(0)
    for i in range(40):
        b = bytearray(data[: rng.integers(len(data))] if i % 4 == 0 else data)
        for _ in range(i % 4):
            b[rng.integers(min(len(b), 400))] = ord("7") if i % 8 == 3 else rng.integers(256)
        (tmp_path / name).write_bytes(bytes(b))
        try:
            load_volume(tmp_path / name)
        except InputError:
            pass
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_huge_declared_sizes_are_refused_before_reading(tmp_path):
    import nibabel

    img = nibabel.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    img.header.set_data_shape((5000, 5000, 5000))
    raw = img.header.binaryblock + b"\0" * (352 - 348) + b"\0" * 8
    (tmp_path / "big.nii").write_bytes(raw)
    with pytest.raises(InputError, match="more than the limit"):
        load_volume(tmp_path / "big.nii")
    np.save(tmp_path / "big.npy", np.zeros((2, 2, 2), np.uint8))
    data = (tmp_path / "big.npy").read_bytes().replace(b"(2, 2, 2)", b"(5000, 5000, 5000)")
    (tmp_path / "big.npy").write_bytes(data)
    with pytest.raises(InputError):
        load_volume(tmp_path / "big.npy")


def _slc(v):
    """An SLC file (per the VolVis spec): one repeat run and literal runs per slice."""
    z, y, x = v.shape
    out = [b"11111\n%d %d %d 8\n1.0 1.0 1.0\n1 6 0 1\n0 0 X" % (x, y, z)]
    for plane in v.reshape(z, -1):
        head = bytes([3, int(plane[0])]) if len(set(plane[:3].tolist())) == 1 else None
        rest = plane[3:] if head else plane
        body = (head or b"") + b"".join(
            bytes([0x80 | len(c)]) + c.tobytes() for c in np.array_split(rest, -(-rest.size // 100))
        )
        body += b"\0"
        out.append(b"%d X" % len(body) + body)
    return b"".join(out)


def test_slc_round_trip_and_damage(tmp_path):
    v = _ramp((4, 5, 6), "uint8")
    v[:, 0, :3] = 9  # a repeat run at the start of each slice
    (tmp_path / "v.slc").write_bytes(_slc(v))
    np.testing.assert_array_equal(load_volume(tmp_path / "v.slc"), v)
    good = (tmp_path / "v.slc").read_bytes()
    for bad, message in [(good[:-5], "truncated"), (good.replace(b"11111", b"22222"), "not an SLC"),
                         (good.replace(b"6 5 4 8", b"6 5 4 16"), "8-bit"),
                         (good.replace(b"6 5 4 8", b"6 5 5 8"), "slice 4")]:  # fmt: skip
        (tmp_path / "b.slc").write_bytes(bad)
        with pytest.raises(InputError, match=message):
            load_volume(tmp_path / "b.slc")
