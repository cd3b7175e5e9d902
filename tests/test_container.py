"""Tests of the .nc3d container: round trips, the golden file, hostile bytes, atomic writes."""

from __future__ import annotations

import math
import os
import stat
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nc3d.container import (
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_SECTIONS,
    Container,
    header_get,
    pack,
    peek_is_nc3d,
    read_file,
    unpack,
    write_bytes_atomic,
    write_file,
)
from nc3d.errors import FormatError, InputError

GOLDEN = Path(__file__).parent / "golden" / "container_v1.nc3d"

# The content of tests/golden/container_v1.nc3d. Never regenerate that file to make a test
# pass: it pins format version 1, so that files written today keep decoding.
GOLDEN_CONTAINER = Container(
    codec="golden-test",
    header={
        "format": "golden",
        "n": 3,
        "scale": 0.5,
        "name": "ünïcødé ✓",
        "shape": [2, 3],
        "nested": {"ok": True, "none": None},
    },
    sections={"weights": bytes(range(16)), "meta.v1": b"hello nc3d", "empty": b""},
)

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------------------------
# Strategies and a raw writer for hand-crafted (possibly invalid) files
# ----------------------------------------------------------------------------------------------

codec_names = st.from_regex(r"\A[a-z0-9_-]{1,32}\Z")
section_names = st.from_regex(r"\A[a-z0-9_.-]{1,32}\Z")
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
headers = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
containers = st.builds(
    Container,
    codec=codec_names,
    header=headers,
    sections=st.dictionaries(section_names, st.binary(max_size=64), max_size=5),
)


def raw_file(
    *,
    version: int = FORMAT_VERSION,
    codec: bytes = b"test",
    header: bytes = b"{}",
    header_len: int | None = None,
    header_crc: int | None = None,
    sections: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    count: int | None = None,
    trailer: bytes = b"",
    file_crc: int | None = None,
) -> bytes:
    """Assemble .nc3d bytes field by field, with correct CRCs unless overridden."""
    out = [MAGIC, struct.pack("<H", version), bytes([len(codec)]), codec]
    out += [
        struct.pack("<I", len(header) if header_len is None else header_len),
        header,
        struct.pack("<I", zlib.crc32(header) if header_crc is None else header_crc),
        struct.pack("<H", len(sections) if count is None else count),
    ]
    for name, payload in sections:
        record = struct.pack("<QI", len(payload), zlib.crc32(payload))
        out += [bytes([len(name)]), name, record, payload]
    body = b"".join(out)
    return body + struct.pack("<I", zlib.crc32(body) if file_crc is None else file_crc) + trailer


def layout(blob: bytes) -> dict[str, list[tuple[int, int]]]:
    """Byte ranges of a valid file: 'header_len', 'header' (JSON + CRC), 'count',
    'section_len' (each u64) and 'payload' (each payload + its CRC)."""
    pos = len(MAGIC) + 2
    pos += 1 + blob[pos]
    (h,) = struct.unpack_from("<I", blob, pos)
    spans: dict[str, list[tuple[int, int]]] = {
        "header_len": [(pos, pos + 4)],
        "header": [(pos + 4, pos + 8 + h)],
        "section_len": [],
        "payload": [],
    }
    pos += 8 + h
    (n,) = struct.unpack_from("<H", blob, pos)
    spans["count"] = [(pos, pos + 2)]
    pos += 2
    for _ in range(n):
        pos += 1 + blob[pos]
        (size,) = struct.unpack_from("<Q", blob, pos)
        spans["section_len"].append((pos, pos + 8))
        spans["payload"].append((pos + 8, pos + 12 + size))
        pos += 12 + size
    assert pos + 4 == len(blob)  # the closing whole-file CRC32
    return spans


def nested_list(depth: int) -> list:
    """A list nested ``depth`` levels deep: [[[...]]]."""
    out: list = []
    for _ in range(depth - 1):
        out = [out]
    return out


def unpack_or_format_error(blob: bytes) -> Container | None:
    """unpack, allowing only FormatError (any other exception fails the test)."""
    try:
        return unpack(blob)
    except FormatError:
        return None


# ----------------------------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------------------------


def test_round_trip_basic() -> None:
    c = Container("implicit", {"layers": 8, "name": "bunny", "x": [1.5, -2e-9]}, {"weights": b"\x00\x01\x02"})
    blob = pack(c)
    assert blob.startswith(MAGIC)
    back = unpack(blob)
    assert back == c
    assert c.total_bytes == len(blob)
    assert c.section_sizes() == {"weights": 3}
    assert c.header_bytes == len(b'{"layers":8,"name":"bunny","x":[1.5,-2e-09]}')


def test_round_trip_empty_and_unicode() -> None:
    c = Container("x", {}, {})
    assert unpack(pack(c)) == c
    header = {"名前": "メッシュ 🐇", "ε": {"ü": ["\u0000", '\n\t"\\']}}
    c = Container("a-b_9", header, {"e": b"", "f.0": b""})
    back = unpack(pack(c))
    assert back == c
    assert back.section_sizes() == {"e": 0, "f.0": 0}


def test_pack_is_canonical() -> None:
    a = Container("c", {"b": 1, "a": 2}, {"s": b"1"})
    b = Container("c", {"a": 2, "b": 1}, {"s": bytearray(b"1")})
    assert pack(a) == pack(b)


def test_accepts_bytes_like() -> None:
    blob = pack(Container("c", {"k": 1}, {"s": memoryview(b"xyz")}))
    assert unpack(bytearray(blob)).sections == {"s": b"xyz"}
    assert unpack(memoryview(blob)).sections == {"s": b"xyz"}


@PROPS
@given(containers)
def test_round_trip_property(c: Container) -> None:
    blob = pack(c)
    back = unpack(blob)
    assert back == c
    assert list(back.sections) == list(c.sections)  # order kept
    assert all(type(p) is bytes for p in back.sections.values())
    assert c.total_bytes == len(blob)


# ----------------------------------------------------------------------------------------------
# Golden file: old files keep decoding, and today's writer still writes them byte for byte
# ----------------------------------------------------------------------------------------------


def test_golden_bytes_unchanged() -> None:
    golden = GOLDEN.read_bytes()
    assert len(golden) < 1024
    assert pack(GOLDEN_CONTAINER) == golden


def test_golden_decodes() -> None:
    c = read_file(GOLDEN)
    assert c == GOLDEN_CONTAINER
    assert list(c.sections) == ["weights", "meta.v1", "empty"]
    assert peek_is_nc3d(GOLDEN)


# ----------------------------------------------------------------------------------------------
# pack rejects what unpack would reject
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "container",
    [
        Container("", {}, {}),
        Container("Upper", {}, {}),
        Container("x" * 33, {}, {}),
        Container("a b", {}, {}),
        Container("c", {}, {"": b""}),
        Container("c", {}, {"bad/name": b""}),
        Container("c", {}, {"ü": b""}),
        Container("c", {"x": math.nan}, {}),
        Container("c", {"x": math.inf}, {}),
        Container("c", {"x": object()}, {}),
        Container("c", ["not", "a", "dict"], {}),  # type: ignore[arg-type]
        Container("c", {"deep": nested_list(70)}, {}),
        Container("c", {}, {"s": "text is not bytes"}),  # type: ignore[dict-item]
        Container("c", {}, {f"s{i}": b"" for i in range(MAX_SECTIONS + 1)}),
        Container("c", {"big": "x" * MAX_HEADER_BYTES}, {}),
    ],
)
def test_pack_rejects(container: Container) -> None:
    with pytest.raises(InputError):
        pack(container)


def test_pack_limits_are_inclusive() -> None:
    c = Container("x" * 32, {"d": nested_list(63)}, {f"s{i}": b"" for i in range(MAX_SECTIONS)})
    assert unpack(pack(c)) == c


# ----------------------------------------------------------------------------------------------
# unpack: specific defects, with messages that say what is wrong
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not an .nc3d file"),
        (b"PK\x03\x04 a zip file", "not an .nc3d file"),
        (MAGIC, "truncated"),
        (raw_file(version=2), "written by a newer nc3d"),
        (raw_file(version=0), "version 0"),
        (raw_file(codec=b""), "codec-name length 0"),
        (raw_file(codec=b"x" * 33), "codec-name length 33"),
        (raw_file(codec=b"Bad"), "codec name"),
        (raw_file(header_len=MAX_HEADER_BYTES + 1), "limit"),
        (raw_file(header_len=2**32 - 1), "limit"),
        (raw_file(header_len=1000), "header: declares 1000 bytes but only"),
        (raw_file(header_crc=0), "header is corrupt (CRC32 mismatch)"),
        (raw_file(header=b"[1, 2]"), "must be a JSON object"),
        (raw_file(header=b'{"a": NaN}'), "not valid JSON"),
        (raw_file(header=b'{"a": -Infinity}'), "not valid JSON"),
        (raw_file(header=b'{"a": 1e999}'), "not valid JSON"),
        (raw_file(header=b'{"a": 1, "a": 2}'), "duplicate key"),
        (raw_file(header=b'{"a": "\xff"}'), "not valid JSON"),
        (raw_file(header=b'{"a": ' + b"1" * 5000 + b"}"), "not valid JSON"),
        (raw_file(header=b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}"), "nested too deeply"),
        (raw_file(header=b'{"a": ' + b"[" * 200000 + b"]" * 200000 + b"}"), "nested too deeply"),
        (raw_file(header=b"{"), "not valid JSON"),
        (raw_file(count=MAX_SECTIONS + 1), "sections; the limit is 256"),
        (raw_file(count=1)[:-4], "truncated"),
        (raw_file(sections=[(b"", b"x")]), "name length 0"),
        (raw_file(sections=[(b"A", b"x")]), "name"),
        (raw_file(sections=[(b"s", b"1"), (b"s", b"2")]), "section 's' appears twice"),
        (raw_file(sections=[(b"s", b"1")], trailer=b"\x00"), "1 unexpected trailing bytes"),
        (raw_file(trailer=b"junk"), "trailing"),
    ],
)
def test_unpack_defects(blob: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=None) as info:
        unpack(blob)
    assert message in str(info.value)


def test_section_length_beyond_data() -> None:
    blob = bytearray(raw_file(sections=[(b"weights", b"x" * 12)]))
    spans = layout(bytes(blob))
    a, b = spans["section_len"][0]
    blob[a:b] = struct.pack("<Q", 1_000_000)
    expected = r"section 'weights': declares 1000000 bytes but only 16 remain"  # 12 + the file CRC32
    with pytest.raises(FormatError, match=expected):
        unpack(bytes(blob))
    blob[a:b] = struct.pack("<Q", 2**64 - 1)
    with pytest.raises(FormatError, match="section 'weights': declares"):
        unpack(bytes(blob))


def test_section_crc_names_section() -> None:
    blob = bytearray(raw_file(sections=[(b"a", b"fine"), (b"weights", b"payload")]))
    blob[-5] ^= 0x01  # last payload byte (the file CRC32 follows)
    with pytest.raises(FormatError, match=r"section 'weights' is corrupt \(CRC32 mismatch\)"):
        unpack(bytes(blob))


def test_max_bytes() -> None:
    blob = pack(GOLDEN_CONTAINER)
    assert unpack(blob, max_bytes=len(blob)) == GOLDEN_CONTAINER
    with pytest.raises(FormatError, match="limit"):
        unpack(blob, max_bytes=len(blob) - 1)


def test_unpack_wrong_argument_types() -> None:
    with pytest.raises(InputError):
        unpack("NC3D")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        unpack(b"", max_bytes=-1)


# ----------------------------------------------------------------------------------------------
# Hostile bytes (property-based): only FormatError, never anything else
# ----------------------------------------------------------------------------------------------


def test_every_truncation_fails() -> None:
    blob = GOLDEN.read_bytes()
    for i in range(len(blob)):
        with pytest.raises(FormatError):
            unpack(blob[:i])


@PROPS
@given(containers, st.data())
def test_truncation_property(c: Container, data: st.DataObject) -> None:
    blob = pack(c)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(FormatError):
        unpack(blob[:cut])


@PROPS
@given(containers, st.data())
def test_bit_flip_property(c: Container, data: st.DataObject) -> None:
    blob = bytearray(pack(c))
    pos = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    blob[pos] ^= 1 << bit
    # the part CRCs and the closing whole-file CRC32 detect every single-bit error, anywhere
    with pytest.raises(FormatError):
        unpack(bytes(blob))


@PROPS
@given(containers, st.data())
def test_byte_overwrite_property(c: Container, data: st.DataObject) -> None:
    blob = bytearray(pack(c))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    result = unpack_or_format_error(bytes(blob))
    assert result is None or isinstance(result, Container)


@PROPS
@given(st.binary(max_size=200))
def test_arbitrary_bytes(tail: bytes) -> None:
    for blob in (tail, MAGIC + tail, MAGIC + b"\x01\x00" + tail):
        result = unpack_or_format_error(blob)
        assert result is None or isinstance(result, Container)


huge_or_zero = st.sampled_from([0, 1, 2**8 - 1, 2**16 - 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]) | st.integers(
    0, 2**64 - 1
)


@PROPS
@given(containers, huge_or_zero, st.data())
def test_rewritten_lengths_property(c: Container, value: int, data: st.DataObject) -> None:
    blob = pack(c)
    spans = layout(blob)
    choices = ["header_len", "count"] + (["section_len"] if c.sections else [])
    field = data.draw(st.sampled_from(choices))
    a, b = data.draw(st.sampled_from(spans[field]))
    width = b - a
    value %= 1 << (8 * width)
    old = int.from_bytes(blob[a:b], "little")
    assume(value != old)
    mutated = blob[:a] + value.to_bytes(width, "little") + blob[b:]
    with pytest.raises(FormatError):
        unpack(mutated)


# ----------------------------------------------------------------------------------------------
# Files: atomic writes, reads, peeks
# ----------------------------------------------------------------------------------------------


def partials(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(".partial")]


def test_write_and_read_file(tmp_path: Path) -> None:
    target = tmp_path / "shape.nc3d"
    assert write_file(target, GOLDEN_CONTAINER) == target
    assert read_file(target) == GOLDEN_CONTAINER
    assert read_file(str(target)) == GOLDEN_CONTAINER
    assert target.read_bytes() == GOLDEN.read_bytes()
    assert partials(tmp_path) == []


def test_write_refuses_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "out.ply"
    write_bytes_atomic(target, b"first")
    with pytest.raises(InputError, match="exists; not overwritten"):
        write_bytes_atomic(target, b"second")
    assert target.read_bytes() == b"first"
    write_bytes_atomic(target, b"second", force=True)
    assert target.read_bytes() == b"second"
    assert partials(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_file_mode_follows_umask(tmp_path: Path) -> None:
    target = tmp_path / "m.bin"
    old = os.umask(0o022)
    try:
        write_bytes_atomic(target, b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), RuntimeError("boom")])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception, existing: bool
) -> None:
    target = tmp_path / "out.nc3d"
    if existing:
        target.write_bytes(b"old")

    def failing_replace(src: object, dst: object) -> None:
        raise exc

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(InputError if isinstance(exc, OSError) else RuntimeError):
        write_bytes_atomic(target, b"new content", force=True)
    monkeypatch.undo()
    assert partials(tmp_path) == []
    if existing:
        assert target.read_bytes() == b"old"
    else:
        assert not target.exists()


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_bytes_atomic(tmp_path / "missing" / "f.nc3d", b"x")
    with pytest.raises(InputError, match="is a directory"):
        write_bytes_atomic(tmp_path, b"x", force=True)
    with pytest.raises(InputError, match="bytes-like"):
        write_bytes_atomic(tmp_path / "f", "text")  # type: ignore[arg-type]


def test_read_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.nc3d"
    with pytest.raises(InputError, match="nope.nc3d"):
        read_file(missing)
    with pytest.raises(InputError, match="directory"):
        read_file(tmp_path)
    text = tmp_path / "mesh.obj"
    text.write_bytes(b"v 0 0 0\n")
    with pytest.raises(FormatError, match="not an .nc3d file"):
        read_file(text)
    big = tmp_path / "big.nc3d"
    big.write_bytes(GOLDEN.read_bytes())
    with pytest.raises(FormatError, match="limit"):
        read_file(big, max_bytes=100)
    corrupt = tmp_path / "corrupt.nc3d"
    corrupt.write_bytes(GOLDEN.read_bytes()[:-3])
    with pytest.raises(FormatError, match="corrupt.nc3d"):
        read_file(corrupt)


def test_peek(tmp_path: Path) -> None:
    assert peek_is_nc3d(GOLDEN)
    assert not peek_is_nc3d(tmp_path / "missing")
    assert not peek_is_nc3d(tmp_path)
    short = tmp_path / "short"
    short.write_bytes(MAGIC[:4])
    assert not peek_is_nc3d(short)


# ----------------------------------------------------------------------------------------------
# header_get
# ----------------------------------------------------------------------------------------------


def test_header_get() -> None:
    h = {
        "bits": 8,
        "flag": True,
        "scale": 2,
        "eps": 1e-3,
        "mode": "fast",
        "shape": [4, 4],
        "bad": math.nan,
    }
    assert header_get(h, "bits", int, min=1, max=16) == 8
    assert header_get(h, "flag", bool) is True
    scale = header_get(h, "scale", float, min=0)
    assert scale == 2.0 and type(scale) is float
    assert header_get(h, "eps", float, max=1) == 1e-3
    assert header_get(h, "mode", str, choices=("fast", "slow")) == "fast"
    assert header_get(h, "shape", list) == [4, 4]
    assert header_get(h, "bits", (int, str)) == 8
    assert header_get(h, "absent", int, default=None) is None

    with pytest.raises(FormatError, match="'absent' is missing"):
        header_get(h, "absent", int)
    with pytest.raises(FormatError, match="'flag' must be int, got bool"):
        header_get(h, "flag", int)
    with pytest.raises(FormatError, match="'mode' must be int"):
        header_get(h, "mode", int)
    with pytest.raises(FormatError, match="'bits' = 8 is outside"):
        header_get(h, "bits", int, max=4)
    with pytest.raises(FormatError, match="'bits'"):
        header_get(h, "bits", int, min=9)
    with pytest.raises(FormatError, match="'bad' must be finite"):
        header_get(h, "bad", float)
    with pytest.raises(FormatError, match="'mode' = 'fast' is not one of"):
        header_get(h, "mode", str, choices={"slow"})
    with pytest.raises(FormatError, match="'eps' must be int"):
        header_get(h, "eps", int)
    with pytest.raises(FormatError, match="JSON object"):
        header_get([], "x", int)  # type: ignore[arg-type]
