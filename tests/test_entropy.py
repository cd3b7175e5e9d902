"""Tests of entropy coding (integer symbols <-> bytes) and uniform quantization."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nc3d import entropy
from nc3d.entropy import (
    MAX_ALPHABET,
    MAX_SYMBOLS,
    compress_array,
    decode_symbols,
    decompress_array,
    dequantize_uniform,
    encode_symbols,
    quantize_uniform,
)
from nc3d.errors import FormatError, InputError

PROPS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Pinned streams (format version 1): if these change, old files no longer decode.
GOLDEN_SYMBOLS = np.array([0, 1, 1, 2, 0, 0, 3, -1] * 4 + [7], dtype=np.int64)
GOLDEN_SYMBOLS_HEX = "0101090706160e06060500214f3d0de16d882eb6c45ce952"
GOLDEN_ARRAY = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
GOLDEN_ARRAY_HEX = (
    "0104000000000000f0bf000000000000f03f01001010000001000000010000010000000100000c2e0108f9b6de8eab"
)


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
        b"\x01" + varint(offset_zz) + varint(k) + varint(len(tokens))
        + b"".join(varint(t) for t in tokens) + varint(n) + tail
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
    assert compress_array(GOLDEN_ARRAY, 4).hex() == GOLDEN_ARRAY_HEX
    out = decompress_array(bytes.fromhex(GOLDEN_ARRAY_HEX), (3, 4))
    assert np.abs(out - GOLDEN_ARRAY).max() <= 2 / 15 / 2 + 1e-6


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
            model = entropy._constriction().stream.model

            class stack:  # noqa: N801
                AnsCoder = Panicking

    data = encode_symbols(np.array([0, 1, 1, 0]))
    monkeypatch.setattr(entropy, "_constriction", lambda: FakeConstriction)
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
    for x in (
        CASES["geometric"][:300], CASES["peaky-negative"][:200], CASES["two"], np.arange(-3, 40)
    )
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


# ----------------------------------------------------------------------------------------------
# Quantization
# ----------------------------------------------------------------------------------------------

finite_arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=8),
    elements=st.floats(-1e6, 1e6, allow_nan=False),
)


@PROPS
@given(finite_arrays, st.integers(1, 16))
def test_quantize_error_at_most_half_step(x: np.ndarray, bits: int) -> None:
    q, lo, hi = quantize_uniform(x, bits)
    assert q.dtype == np.int64 and q.shape == x.shape
    levels = 2**bits - 1
    assert q.size == 0 or (q.min() >= 0 and q.max() <= levels)
    y = dequantize_uniform(q, bits, lo, hi)
    assert y.dtype == np.float32 and y.shape == x.shape
    step = (hi - lo) / levels
    f32 = np.finfo(np.float32).eps * max(abs(lo), abs(hi))
    tol = step / 2 * (1 + 1e-9) + f32 + 1e-44  # 1e-44: float32 underflow of tiny values
    assert np.all(np.abs(y.astype(np.float64) - x) <= tol)


def test_quantize_explicit_range_and_clipping() -> None:
    q, lo, hi = quantize_uniform(np.array([-5.0, 0.0, 0.5, 1.0, 7.0]), 2, lo=0.0, hi=1.0)
    np.testing.assert_array_equal(q, [0, 0, 2, 3, 3])  # 0.5 * 3 = 1.5 rounds to even
    assert (lo, hi) == (0.0, 1.0)
    y = dequantize_uniform(np.array([0, 1, 2, 3]), 2, 0.0, 1.0)
    np.testing.assert_allclose(y, [0, 1 / 3, 2 / 3, 1])


def test_quantize_constant_and_empty() -> None:
    q, lo, hi = quantize_uniform(np.full((2, 3), 2.5), 8)
    assert (lo, hi) == (2.5, 2.5) and not q.any()
    y = dequantize_uniform(q, 8, lo, hi)
    np.testing.assert_array_equal(y, np.full((2, 3), 2.5, np.float32))
    q, lo, hi = quantize_uniform(np.zeros(0), 8)
    assert q.shape == (0,) and (lo, hi) == (0.0, 0.0)


@pytest.mark.parametrize("bits", [0, 17, -1, True, 2.5, "8"])
def test_bits_validation(bits: object) -> None:
    with pytest.raises(InputError, match="bits"):
        quantize_uniform(np.zeros(3), bits)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="bits"):
        dequantize_uniform(np.zeros(3, np.int64), bits, 0.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="bits"):
        compress_array(np.zeros(3), bits)  # type: ignore[arg-type]


def test_quantize_rejects() -> None:
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(InputError, match="NaN or infinite"):
            quantize_uniform(np.array([0.0, bad]), 8)
        with pytest.raises(InputError, match="NaN or infinite"):
            compress_array(np.array([0.0, bad]), 8)
        with pytest.raises(InputError, match="finite"):
            quantize_uniform(np.zeros(2), 8, lo=bad, hi=1.0)
    with pytest.raises(InputError, match="must not exceed"):
        quantize_uniform(np.zeros(2), 8, lo=1.0, hi=0.0)
    with pytest.raises(InputError, match="too wide"):
        quantize_uniform(np.zeros(2), 8, lo=-1e308, hi=1e308)
    with pytest.raises(InputError, match="outside"):
        dequantize_uniform(np.array([0, 4]), 2, 0.0, 1.0)
    with pytest.raises(InputError, match="integer"):
        dequantize_uniform(np.array([0.0]), 2, 0.0, 1.0)
    with pytest.raises(InputError, match="float32"):
        compress_array(np.array([0.0, 1e39]), 8)


# ----------------------------------------------------------------------------------------------
# Float arrays <-> bytes
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 4, 8, 12, 16])
@pytest.mark.parametrize("shape", [(0,), (1,), (17,), (32, 33), (2, 3, 4, 5)])
def test_compress_array_round_trip(bits: int, shape: tuple[int, ...]) -> None:
    gen = np.random.default_rng(bits * 100 + len(shape))
    x = (gen.standard_normal(shape) * 0.05).astype(np.float32)
    data = compress_array(x, bits)
    y = decompress_array(data, shape)
    assert y.dtype == np.float32 and y.shape == shape
    if x.size:
        lo, hi = float(x.min()), float(x.max())
        bound = (hi - lo) / (2**bits - 1) / 2 + 1e-7
        assert np.abs(y.astype(np.float64) - x).max() <= bound
    assert decompress_array(bytearray(data), list(shape)).shape == shape


def test_compress_array_compresses_weights() -> None:
    gen = np.random.default_rng(0)
    w = (gen.standard_normal(100_000) * 0.02).astype(np.float32)
    data = compress_array(w, 8)
    assert len(data) * 8 / w.size < 7.2  # Gaussian at 8 bits: entropy about 6.9 bits


def head(bits: int = 8, lo: float = 0.0, hi: float = 1.0, version: int = 1) -> bytes:
    return struct.pack("<BBdd", version, bits, lo, hi)


GOOD = compress_array(np.linspace(0, 1, 6).reshape(2, 3), 8)


@pytest.mark.parametrize(
    ("data", "shape", "message"),
    [
        (GOOD, (7,), "expected 7"),
        (GOOD, (3, 3), "expected 9"),
        (GOOD, (-2, -3), "invalid array shape"),
        (GOOD, (2.0, 3), "invalid array shape"),
        (GOOD, (True, 6), "invalid array shape"),
        (GOOD, "23", "invalid array shape"),
        (GOOD, (2**20, 2**20), "more than"),
        (GOOD[:10], (2, 3), "truncated"),
        (GOOD[:-1], (2, 3), "multiple of 4"),
        (head(version=2) + GOOD[18:], (2, 3), "version 2"),
        (head(bits=0) + GOOD[18:], (2, 3), "bits = 0"),
        (head(bits=17) + GOOD[18:], (2, 3), "bits = 17"),
        (head(lo=float("nan")) + GOOD[18:], (2, 3), "invalid range"),
        (head(hi=float("inf")) + GOOD[18:], (2, 3), "invalid range"),
        (head(lo=2.0, hi=1.0) + GOOD[18:], (2, 3), "invalid range"),
        (head(lo=-1e300, hi=1e300) + GOOD[18:], (2, 3), "float32"),
        (head(bits=2) + GOOD[18:], (2, 3), "levels outside 0..3"),
        (head(lo=1.0, hi=1.0) + GOOD[18:], (2, 3), "empty range"),
    ],
)
def test_decompress_array_defects(data: bytes, shape: object, message: str) -> None:
    with pytest.raises(FormatError) as info:
        decompress_array(data, shape)  # type: ignore[arg-type]
    assert message in str(info.value)


@PROPS
@given(st.data())
def test_decompress_array_mutations(data: st.DataObject) -> None:
    blob = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 3))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        out = decompress_array(bytes(blob), (2, 3))
    except FormatError:
        return
    assert out.shape == (2, 3) and out.dtype == np.float32 and np.isfinite(out).all()
