"""Tests of entropy coding (integer symbols <-> bytes) and uniform quantization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nc3d import entropy
from nc3d.entropy import (
    MAX_ALPHABET,
    MAX_SYMBOLS,
    decode_symbols,
    encode_symbols,
)
from nc3d.errors import FormatError, InputError

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pinned streams (format version 1): if these change, old files no longer decode.
GOLDEN_SYMBOLS = np.array([0, 1, 1, 2, 0, 0, 3, -1] * 4 + [7], dtype=np.int64)
GOLDEN_SYMBOLS_HEX = "0101090706160e06060500214f3d0de16d882eb6c45ce952"


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def stream(
    offset_zz: int = 0,
    k: int = 1,
    tokens: list[int] | tuple[int, ...] = (0,),
    n: int = 1,
    tail: bytes = b"",
) -> bytes:
    """A hand-made symbol stream (version 1)."""
    return (
        b"\x01"
        + varint(offset_zz)
        + varint(k)
        + varint(len(tokens))
        + b"".join(varint(t) for t in tokens)
        + varint(n)
        + tail
    )


def decode_or_format_error(data: bytes, count: int | None = None) -> np.ndarray | None:
    try:
        out = decode_symbols(data, count)
    except FormatError:
        return None
    assert out.dtype == np.int64 and out.ndim == 1
    if count is not None:
        assert out.size == count
    return out


# ----------------------------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------------------------

rng = np.random.default_rng(1234)

CASES = {
    "empty": np.zeros(0, dtype=np.int64),
    "empty-2d": np.zeros((0, 5), dtype=np.int32),
    "single": np.full(1, 42),
    "constant": np.full(10_000, -7, dtype=np.int16),
    "two": np.array([3, 4]),
    "uniform": rng.integers(0, 256, 20_000),
    "geometric": rng.geometric(0.2, 20_000) - 1,
    "peaky-negative": np.round(rng.laplace(0, 0.7, 20_000)).astype(np.int64) - 1000,
    "sparse-alphabet": np.array([0, 100_000, 0, 0, 100_000, 5]),
    "full-alphabet": np.array([0, MAX_ALPHABET - 1, 1]),
    "int8": rng.integers(-128, 128, 5000).astype(np.int8),
    "uint8-3d": rng.integers(0, 256, (4, 5, 6)).astype(np.uint8),
    "int16": rng.integers(-(2**15), 2**15, 5000).astype(np.int16),
    "uint16": rng.integers(60000, 2**16, 5000).astype(np.uint16),
    "int64-min": np.array([-(2**63), -(2**63) + 5, -(2**63)], dtype=np.int64),
    "int64-max": np.array([2**63 - 1, 2**63 - 2], dtype=np.int64),
    "uint64": np.array([2**63 - 1, 2**63 - 10], dtype=np.uint64),
    "fortran-order": np.asfortranarray(rng.integers(0, 9, (7, 3))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip(name: str) -> None:
    x = CASES[name]
    data = encode_symbols(x)
    out = decode_symbols(data, count=x.size)
    assert out.dtype == np.int64 and out.shape == (x.size,)
    np.testing.assert_array_equal(out, x.ravel(order="C").astype(np.int64))
    assert encode_symbols(x) == data  # deterministic


def test_constant_stores_no_coder_data() -> None:
    assert len(encode_symbols(np.full(1_000_000, 5))) < 16


def test_golden_streams() -> None:
    assert encode_symbols(GOLDEN_SYMBOLS).hex() == GOLDEN_SYMBOLS_HEX
    np.testing.assert_array_equal(decode_symbols(bytes.fromhex(GOLDEN_SYMBOLS_HEX)), GOLDEN_SYMBOLS)


@PROPS
@given(
    st.lists(st.integers(-50, 50), max_size=300),
    st.integers(-(2**62), 2**62),
    st.sampled_from([np.int64, np.int32, np.int16]),
)
def test_round_trip_property(values: list[int], shift: int, dtype: type) -> None:
    x = np.array(values, dtype=np.int64)
    if dtype is np.int64:
        x = x + shift
    else:
        x = x.astype(dtype)
    out = decode_symbols(encode_symbols(x), len(values))
    np.testing.assert_array_equal(out, x.astype(np.int64))


def test_near_empirical_entropy() -> None:
    n = 100_000
    gen = np.random.default_rng(7)
    x = gen.choice(np.arange(-8, 9), size=n, p=np.r_[np.full(8, 0.01), 0.84, np.full(8, 0.01)])
    counts = np.bincount(x + 8)
    p = counts[counts > 0] / n
    ideal_bytes = n * float(-(p * np.log2(p)).sum()) / 8
    size = len(encode_symbols(x))
    table_overhead = 16 + 5 * counts.size
    assert size <= 1.05 * ideal_bytes + table_overhead
    assert size >= 0.99 * ideal_bytes  # no magic


def test_encode_rejects() -> None:
    with pytest.raises(InputError, match="quantize"):
        encode_symbols(np.array([0, MAX_ALPHABET]))
    with pytest.raises(InputError, match="int64"):
        encode_symbols(np.array([2**63], dtype=np.uint64))
    with pytest.raises(InputError, match="integer"):
        encode_symbols(np.array([0.5, 1.0]))
    with pytest.raises(InputError, match="integer"):
        encode_symbols(np.array([True, False]))
    with pytest.raises(InputError, match="integer"):
        encode_symbols(np.array(["a"]))


def test_too_many_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entropy, "MAX_SYMBOLS", 10)
    with pytest.raises(InputError, match="limit"):
        encode_symbols(np.zeros(11, dtype=np.int64))


# ----------------------------------------------------------------------------------------------
# Hostile streams: FormatError, nothing else, and no outsized allocations
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x02", "version 2"),
        (b"\x01", "truncated"),
        (b"\x01\x80\x80", "truncated"),
        (b"\x01" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x01" + b"\xff" * 9 + b"\x7f", "64 bits"),
        (stream(k=MAX_ALPHABET + 1), "alphabet size"),
        (stream(offset_zz=2 * (2**63 - 1), k=2, tokens=[0, 0], n=2, tail=b"\x01\0\0\0"), "int64"),
        (stream(k=2, tokens=[0, 0, 0]), "table tokens"),
        (stream(k=5, tokens=[0] * 5)[:-3], "table declares 5 entries but only 3 bytes remain"),
        (b"\x01\x00\x05\x05" + b"\x80" * 5, "truncated inside the frequency table"),
        (b"\x01\x00\x02\x02" + b"\x80" * 5 + b"\x00\x00", "longer than 5 bytes"),
        (stream(k=3, tokens=[0, 2 * 2**33]), "out of range"),
        (stream(k=3, tokens=[0, 0]), "covers 2 symbols"),
        (stream(k=3, tokens=[1, 0, 0], n=2, tail=b"\1\0\0\0"), "start and end"),
        (stream(k=2, tokens=[0, 0], n=5, tail=b"\1\0\0\0"), "sums to 2"),
        (stream(k=1, tokens=[0], n=MAX_SYMBOLS + 1), "limit"),
        (stream(k=1, tokens=[0], n=1, tail=b"x"), "single-symbol"),
        (stream(k=0, tokens=[], n=0, tail=b"x"), "empty"),
        (stream(k=0, tokens=[], n=3), "empty"),
        (stream(k=2, tokens=[], n=2), "empty frequency table"),
        (stream(k=2, tokens=[0, 0], n=2), "multiple of 4"),
        (stream(k=2, tokens=[0, 0], n=2, tail=b"\1\0\0"), "multiple of 4"),
        (stream(k=2, tokens=[0, 0], n=2, tail=b"\0\0\0\0"), "corrupt"),
        (stream(k=2, tokens=[2, 0], n=3, tail=b"\7\0\0\0"), "corrupt"),
    ],
)
def test_decode_defects(data: bytes, message: str) -> None:
    with pytest.raises(FormatError) as info:
        decode_symbols(data)
    assert message in str(info.value)


def test_count_mismatch() -> None:
    data = encode_symbols(np.arange(10))
    assert decode_symbols(data, 10).size == 10
    with pytest.raises(FormatError, match="holds 10 symbols, expected 11"):
        decode_symbols(data, 11)
    with pytest.raises(InputError):
        decode_symbols(data, count="10")  # type: ignore[arg-type]


def test_huge_declared_count_is_refused_before_decoding() -> None:
    # A few bytes may legitimately declare 2**28 symbols; `count` stops it before allocation.
    data = stream(k=1, tokens=[2 * (MAX_SYMBOLS - 1)], n=MAX_SYMBOLS)
    with pytest.raises(FormatError, match="expected 100"):
        decode_symbols(data, count=100)


def test_rust_panics_become_format_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    PanicException = type("PanicException", (BaseException,), {})  # as pyo3 names it

    class Panicking:
        def __init__(self, words: np.ndarray) -> None:
            raise PanicException("attempt to subtract with overflow")

    class FakeConstriction:
        class stream:  # noqa: N801
            model = entropy.constriction_module().stream.model

            class stack:  # noqa: N801
                AnsCoder = Panicking

    data = encode_symbols(np.array([0, 1, 1, 0]))
    monkeypatch.setattr(entropy, "constriction_module", lambda: FakeConstriction)
    with pytest.raises(FormatError, match="corrupt"):
        decode_symbols(data)

    class Interrupted(Panicking):
        def __init__(self, words: np.ndarray) -> None:
            raise KeyboardInterrupt

    FakeConstriction.stream.stack.AnsCoder = Interrupted
    with pytest.raises(KeyboardInterrupt):
        decode_symbols(data)


VALID = [
    encode_symbols(x)
    for x in (CASES["geometric"][:300], CASES["peaky-negative"][:200], CASES["two"], np.arange(-3, 40))
]


@PROPS
@given(st.sampled_from(VALID), st.data())
def test_mutated_streams(valid: bytes, data: st.DataObject) -> None:
    blob = bytearray(valid)
    kind = data.draw(st.sampled_from(["flip", "overwrite", "truncate", "append", "insert"]))
    pos = data.draw(st.integers(0, len(blob) - 1))
    if kind == "flip":
        blob[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "overwrite":
        blob[pos] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        del blob[pos:]
    elif kind == "append":
        blob += data.draw(st.binary(min_size=1, max_size=8))
    else:
        blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    n_true = decode_symbols(valid).size
    decode_or_format_error(bytes(blob))
    decode_or_format_error(bytes(blob), count=n_true)


@PROPS
@given(st.binary(max_size=64))
def test_arbitrary_streams(tail: bytes) -> None:
    for data in (tail, b"\x01" + tail, stream(k=3, tokens=[0, 0, 0], n=3) + tail):
        decode_or_format_error(data)
        decode_or_format_error(data, count=3)


@pytest.mark.parametrize("values", [[0, -1, 1, -2, 2, 2**40, -(2**40)]])
def test_zigzag_ints_and_arrays_agree(values: list[int]) -> None:
    a = np.array(values, dtype=np.int64)
    z = entropy.zigzag(a)
    assert z.dtype == np.uint64 and z.tolist() == [entropy.zigzag(v) for v in values]
    assert z[:5].tolist() == [0, 1, 2, 3, 4]
    assert entropy.unzigzag(z).tolist() == values == [entropy.unzigzag(int(v)) for v in z]
