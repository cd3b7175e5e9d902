"""Integer symbols <-> bytes: order-0 ANS coding with stored integer frequency tables, and varints.

Entropy coding uses ``constriction``'s ANS coder (``constriction.stream.stack.AnsCoder``) with a
categorical model built from an integer frequency table that is stored in the byte string. The
decoder rebuilds the model from those stored integers only (probabilities = counts / total,
computed in float64), so decoding is deterministic and never depends on floats of the data.

Symbol stream layout (version 1; "varint" is unsigned LEB128, little-endian base-128)::

    u8      stream version (1)
    varint  zigzag(offset): the smallest symbol, a signed 64-bit integer
    varint  K: alphabet size (max - min + 1), 0 for an empty array, <= 2**20
    varint  T: number of frequency-table tokens
    T x varint  tokens; even t: one symbol with count t//2 + 1,
                        odd t:  a run of t//2 + 1 symbols with count 0
    varint  N: number of symbols (= sum of the counts), <= 2**28
    rest    ANS compressed data, uint32 words, little-endian (none when K <= 1)

The tokens expand to exactly K counts whose first and last are nonzero. A single distinct
symbol carries no information and stores no ANS data at all.

Array layout (:func:`compress_array`, version 1)::

    u8 version (1) | u8 bits | f64 lo | f64 hi | symbol stream of the quantized values
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import FormatError, InputError

__all__ = [
    "MAX_ALPHABET",
    "MAX_SYMBOLS",
    "encode_symbols",
    "decode_symbols",
    "pack_varints",
    "unpack_varints",
    "encode_with_tables",
    "decode_with_tables",
    "zigzag",
    "unzigzag",
    "constriction_module",
    "categorical_model",
    "guarded",
]

#: Largest alphabet (max - min + 1) that :func:`encode_symbols` accepts.
MAX_ALPHABET = 2**20
#: Largest number of symbols in one stream.
MAX_SYMBOLS = 2**28

_STREAM_VERSION = 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_TOKEN_BYTES = 5  # a token is < 2 * MAX_SYMBOLS < 2**35


# ----------------------------------------------------------------------------------------------
# constriction, imported lazily (only entropy coding needs it)
# ----------------------------------------------------------------------------------------------


def constriction_module() -> Any:
    """The ``constriction`` package (a core dependency; imported on first use)."""
    try:
        import constriction
    except ImportError as exc:  # a core dependency: this is a broken install
        raise ImportError("nc3d needs the 'constriction' package: pip install constriction") from exc
    return constriction


def categorical_model(counts: np.ndarray) -> Any:
    """Categorical model over 0..K-1 from integer counts (K >= 2), identical on both ends."""
    probabilities = counts.astype(np.float64) / float(int(counts.sum()))
    return constriction_module().stream.model.Categorical(probabilities, perfect=False)


# ----------------------------------------------------------------------------------------------
# Varints
# ----------------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    """Unsigned LEB128 of one non-negative Python int."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 of each value, vectorized.

    Parameters
    ----------
    values : (n,) uint64
        Values to encode.

    Returns
    -------
    bytes
        The concatenated varints (1..10 bytes each).
    """
    v = np.asarray(values, dtype=np.uint64).ravel()
    if v.size == 0:
        return b""
    lengths = np.ones(v.size, dtype=np.int64)
    for k in range(1, 10):  # over byte positions, not elements
        lengths += v >= np.uint64(1 << (7 * k))
    owner = np.repeat(np.arange(v.size), lengths)
    starts = np.cumsum(lengths) - lengths
    j = np.arange(owner.size, dtype=np.int64) - starts[owner]
    out = (v[owner] >> (7 * j).astype(np.uint64)) & np.uint64(0x7F)
    out |= np.where(j < lengths[owner] - 1, np.uint64(0x80), np.uint64(0))
    return out.astype(np.uint8).tobytes()


def _read_varint(buf: np.ndarray, pos: int, what: str) -> tuple[int, int]:
    """Read one varint (<= 10 bytes, < 2**64) at ``pos``; return (value, new position)."""
    value = 0
    for shift in range(0, 70, 7):  # at most 10 bytes
        if pos >= buf.size:
            raise FormatError(f"symbol stream is truncated inside {what}")
        byte = int(buf[pos])
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >= 2**64:
                raise FormatError(f"symbol stream: {what} does not fit in 64 bits")
            return value, pos
    raise FormatError(f"symbol stream: {what} is longer than 10 bytes")


def _read_varints(buf: np.ndarray, pos: int, n: int, max_len: int, what: str) -> tuple[np.ndarray, int]:
    """Read ``n`` varints of at most ``max_len`` bytes each, vectorized.

    Parameters
    ----------
    buf : (m,) uint8
        The stream.
    pos : int
        Where the first varint starts.
    n : int
        How many to read; the caller has checked ``n <= buf.size - pos``.
    max_len : int
        Longest varint accepted (<= 9, so values fit in uint64 without overflow).
    what : str
        Name used in error messages.

    Returns
    -------
    values : (n,) uint64
    pos : int
        Position after the last varint.
    """
    if n == 0:
        return np.zeros(0, dtype=np.uint64), pos
    window = buf[pos : pos + n * max_len]
    ends = np.flatnonzero(window < 0x80)[:n]
    if ends.size < n:
        raise FormatError(f"symbol stream is truncated inside {what}")
    lengths = np.diff(ends, prepend=-1)
    if int(lengths.max()) > max_len:
        raise FormatError(f"symbol stream: a varint in {what} is longer than {max_len} bytes")
    used = window[: int(ends[-1]) + 1].astype(np.uint64)
    starts = ends - lengths + 1
    j = np.arange(used.size, dtype=np.int64) - np.repeat(starts, lengths)
    parts = (used & np.uint64(0x7F)) << (7 * j).astype(np.uint64)
    values = np.add.reduceat(parts, starts)
    return values, pos + used.size


# ----------------------------------------------------------------------------------------------
# Symbols <-> bytes
# ----------------------------------------------------------------------------------------------


def zigzag(value):
    """Signed integers → unsigned: 0, -1, 1, -2, … → 0, 1, 2, 3, … (an int, or an int array → uint64)."""
    if isinstance(value, np.ndarray):
        return np.where(value >= 0, 2 * value, -2 * value - 1).astype(np.uint64)
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value):
    """The inverse of :func:`zigzag` (an int, or an unsigned int array → int64)."""
    if isinstance(value, np.ndarray):
        v = value.astype(np.int64)  # values < 2**63 (unsigned negation would wrap)
        return np.where(v % 2 == 0, v // 2, -(v + 1) // 2)
    return value >> 1 if value % 2 == 0 else -((value + 1) >> 1)


def _table_tokens(counts: np.ndarray) -> np.ndarray:
    """Run-length tokens of a count table (see module docstring); (K,) int64 -> (T,) uint64."""
    zero = counts == 0
    starts_run = zero & ~np.concatenate(([False], zero[:-1]))
    token_start = np.flatnonzero(~zero | starts_run)
    token_len = np.diff(token_start, append=counts.size)
    is_run = zero[token_start]
    nonzero_token = 2 * (counts[token_start] - 1)
    run_token = 2 * (token_len - 1) + 1
    return np.where(is_run, run_token, nonzero_token).astype(np.uint64)


def encode_symbols(symbols: np.ndarray) -> bytes:
    """Entropy-code an integer array with its own stored frequency table.

    Parameters
    ----------
    symbols : array_like of int, any shape
        Signed or unsigned integers (flattened in C order). Values must fit in int64 and span
        at most ``MAX_ALPHABET`` (2**20) consecutive integers (quantize first); at most
        ``MAX_SYMBOLS`` (2**28) of them.

    Returns
    -------
    bytes
        Self-describing stream (see the module docstring); :func:`decode_symbols` returns the
        flattened symbols as int64.

    Raises
    ------
    InputError
        Non-integer dtype, values outside int64, alphabet or length over the limits.
    """
    x = np.asarray(symbols)
    if x.dtype.kind not in "iu":
        raise InputError(f"symbols must be an integer array, not dtype {x.dtype}")
    x = x.ravel(order="C")
    n = int(x.size)
    if n > MAX_SYMBOLS:
        raise InputError(f"{n} symbols is more than the limit of {MAX_SYMBOLS}; split the array")
    if n == 0:
        return bytes([_STREAM_VERSION]) + _varint(0) + _varint(0) + _varint(0) + _varint(0)
    lo, hi = int(x.min()), int(x.max())
    if hi > _INT64_MAX:
        raise InputError(f"symbol {hi} does not fit in int64")
    k = hi - lo + 1
    if k > MAX_ALPHABET:
        raise InputError(
            f"symbols span {k} values ({lo}..{hi}), more than the limit of {MAX_ALPHABET}; "
            "quantize them first"
        )
    index = x.astype(np.int64) - np.int64(lo)  # 0..k-1, no overflow since k is small
    counts = np.bincount(index, minlength=k).astype(np.int64)
    tokens = _table_tokens(counts)
    head = (
        bytes([_STREAM_VERSION])
        + _varint(zigzag(lo))
        + _varint(k)
        + _varint(int(tokens.size))
        + _varints(tokens)
        + _varint(n)
    )
    if k == 1:
        return head
    coder = constriction_module().stream.stack.AnsCoder()
    coder.encode_reverse(index.astype(np.int32), categorical_model(counts))
    words = np.asarray(coder.get_compressed(), dtype=np.uint32)
    return head + words.astype("<u4").tobytes()


def _is_rust_panic(exc: BaseException) -> bool:
    """Whether ``exc`` is pyo3's PanicException (a BaseException raised by Rust panics)."""
    return type(exc).__name__ == "PanicException"


def guarded(run, message: str):
    """``run()``, with constriction's errors on hostile data (Rust panics included) as FormatError.

    For decoders that drive constriction themselves: ``message`` starts the error's text.
    """
    try:
        return run()
    except (ValueError, KeyError, TypeError, AssertionError, RuntimeError, OverflowError) as exc:
        raise FormatError(f"{message}: {exc}") from None
    except BaseException as exc:
        if _is_rust_panic(exc):
            raise FormatError(f"{message}: {exc}") from None
        raise


def decode_symbols(data: bytes | bytearray | memoryview, count: int | None = None) -> np.ndarray:
    """Decode a stream written by :func:`encode_symbols`.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The stream (untrusted).
    count : int, optional
        Expected number of symbols. Give it whenever the caller knows the shape: it bounds
        the output size before anything is decoded.

    Returns
    -------
    (n,) int64
        The symbols, flattened.

    Raises
    ------
    FormatError
        Any malformed, truncated or inconsistent stream (alphabet over 2**20, more than
        2**28 symbols, ``n != count``, counts not matching the decoded symbols, ...). No other
        exception escapes for any byte content.
    InputError
        ``count`` is not an int or None.
    """
    if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer))):
        raise InputError(f"count must be an int or None, not {type(count).__name__}")
    try:
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except TypeError:
        raise FormatError(f"symbol stream must be bytes, not {type(data).__name__}") from None

    if buf.size == 0:
        raise FormatError("symbol stream is empty")
    if int(buf[0]) != _STREAM_VERSION:
        raise FormatError(f"symbol stream version {int(buf[0])} is not supported")
    pos = 1
    zz, pos = _read_varint(buf, pos, "the symbol offset")
    offset = unzigzag(zz)
    k, pos = _read_varint(buf, pos, "the alphabet size")
    if k > MAX_ALPHABET:
        raise FormatError(f"symbol stream: alphabet size {k} exceeds the limit of {MAX_ALPHABET}")
    if k and offset + k - 1 > _INT64_MAX:
        raise FormatError("symbol stream: symbol range does not fit in int64")
    t, pos = _read_varint(buf, pos, "the table size")
    if t > k:
        raise FormatError(f"symbol stream: {t} table tokens for an alphabet of {k}")
    if t > buf.size - pos:
        raise FormatError(f"symbol stream: table declares {t} entries but only {buf.size - pos} bytes remain")
    tokens, pos = _read_varints(buf, pos, t, _MAX_TOKEN_BYTES, "the frequency table")
    n, pos = _read_varint(buf, pos, "the symbol count")
    if n > MAX_SYMBOLS:
        raise FormatError(f"symbol stream declares {n} symbols; the limit is {MAX_SYMBOLS}")
    if count is not None and n != int(count):
        raise FormatError(f"symbol stream holds {n} symbols, expected {int(count)}")
    rest = buf[pos:]

    if n == 0 or k == 0:
        if n or k or t or offset or rest.size:
            raise FormatError("symbol stream: inconsistent empty stream")
        return np.zeros(0, dtype=np.int64)

    # Expand the run-length table, checking sizes before allocating.
    if t == 0:
        raise FormatError(f"symbol stream: empty frequency table for an alphabet of {k}")
    is_run = (tokens & np.uint64(1)).astype(bool)
    half = (tokens >> np.uint64(1)).astype(np.int64)  # < 2**34: safe
    if int(half.max()) >= max(MAX_ALPHABET, MAX_SYMBOLS):
        raise FormatError("symbol stream: frequency table entry out of range")
    lengths = np.where(is_run, half + 1, 1)
    if int(lengths.sum()) != k:
        raise FormatError(f"symbol stream: frequency table covers {int(lengths.sum())} symbols, expected {k}")
    counts = np.repeat(np.where(is_run, 0, half + 1), lengths)
    if counts[0] == 0 or counts[-1] == 0:
        raise FormatError("symbol stream: frequency table must start and end with used symbols")
    if int(counts.sum()) != n:
        raise FormatError(
            f"symbol stream: frequency table sums to {int(counts.sum())}, but {n} symbols declared"
        )

    if k == 1:
        if rest.size:
            raise FormatError("symbol stream: unexpected data after a single-symbol table")
        return np.full(n, offset, dtype=np.int64)

    if rest.size == 0 or rest.size % 4:
        raise FormatError(
            f"symbol stream: compressed data is {rest.size} bytes, not a positive multiple of 4"
        )
    words = rest.view("<u4").astype(np.uint32)

    def run():
        coder = constriction_module().stream.stack.AnsCoder(words)
        return np.asarray(coder.decode(categorical_model(counts), n)), not coder.is_empty()

    decoded, leftover = guarded(run, "symbol stream is corrupt")
    if leftover:
        raise FormatError("symbol stream is corrupt: unused compressed data after the symbols")
    if decoded.shape != (n,) or decoded.dtype.kind not in "iu":
        raise FormatError("symbol stream is corrupt: wrong number of symbols decoded")
    if (
        int(decoded.min()) < 0
        or int(decoded.max()) >= k
        or not np.array_equal(np.bincount(decoded, minlength=k), counts)
    ):
        raise FormatError("symbol stream is corrupt: symbols do not match the frequency table")
    return decoded.astype(np.int64) + np.int64(offset)


# ----------------------------------------------------------------------------------------------
# Rows of symbols against given integer tables (the caller stores or derives the tables)
# ----------------------------------------------------------------------------------------------


def pack_varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 of each value of a (n,) non-negative integer array."""
    return _varints(values)


def unpack_varints(
    data: bytes | bytearray | memoryview, n: int, what: str = "varints"
) -> tuple[np.ndarray, int]:
    """Read ``n`` varints (each < 2**63) from the start of ``data``; (values (n,) int64, bytes used).

    Raises :class:`FormatError` when truncated or a value is too long.
    """
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if n > buf.size:
        raise FormatError(f"{what}: {n} values declared but only {buf.size} bytes")
    values, pos = _read_varints(buf, 0, int(n), 9, what)
    return values.astype(np.int64), pos


def encode_with_tables(symbols: np.ndarray, counts: np.ndarray) -> bytes:
    """ANS-code each row of ``symbols`` against its own integer frequency table.

    Parameters
    ----------
    symbols : (k, n) int
        Row ``i`` holds indices into ``counts[i]`` (``0 <= s < K``).
    counts : (k, K) int
        Positive integer counts (probabilities ∝ counts). Not stored: the decoder must get the
        very same table from elsewhere (stored parameters, a shipped model).

    Returns
    -------
    bytes
        uint32 words, little-endian (empty when ``K == 1``).
    """
    x = np.asarray(symbols, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[0] != c.shape[0]:
        raise InputError(f"symbols (k, n) and counts (k, K) must agree, got {x.shape} and {c.shape}")
    if c.size and int(c.min()) < 1:
        raise InputError("counts must be positive")
    if x.size and (int(x.min()) < 0 or int(x.max()) >= c.shape[1]):
        raise InputError(f"symbols must lie in 0..{c.shape[1] - 1}")
    if c.shape[1] <= 1 or x.size == 0:
        return b""
    coder = constriction_module().stream.stack.AnsCoder()
    for i in range(x.shape[0] - 1, -1, -1):  # over rows (channels), last first: a stack
        coder.encode_reverse(x[i].astype(np.int32), categorical_model(c[i]))
    return np.asarray(coder.get_compressed(), dtype=np.uint32).astype("<u4").tobytes()


def decode_with_tables(data: bytes | bytearray | memoryview, counts: np.ndarray, n: int) -> np.ndarray:
    """Invert :func:`encode_with_tables` over untrusted ``data``; (k, n) int64.

    Raises
    ------
    FormatError
        Data not a whole number of words, corrupt or with bytes left over.
    """
    c = np.asarray(counts, dtype=np.int64)
    k, big_k = c.shape
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if big_k <= 1 or k * n == 0:
        if buf.size:
            raise FormatError("coded rows: unexpected data for a single-symbol alphabet")
        return np.zeros((k, n), dtype=np.int64)
    if buf.size == 0 or buf.size % 4:
        raise FormatError(f"coded rows: {buf.size} bytes is not a positive multiple of 4")
    out = np.empty((k, n), dtype=np.int64)

    def run():
        coder = constriction_module().stream.stack.AnsCoder(buf.view("<u4").astype(np.uint32))
        for i in range(k):  # over rows (channels)
            out[i] = np.asarray(coder.decode(categorical_model(c[i]), n))
        return not coder.is_empty()

    leftover = guarded(run, "coded rows are corrupt")
    if leftover:
        raise FormatError("coded rows are corrupt: unused data after the symbols")
    return out
