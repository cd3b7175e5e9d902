"""Decompressing untrusted bytes without letting them choose how much memory they take.

Every zlib or xz stream nc3d reads from a file it did not write itself (a ``.nc3d`` section, a
VTK or MetaImage volume) declares how many bytes it holds somewhere else (a header). The one
helper here inflates to exactly that many and stops there, so a decompression bomb ends at the
declared size instead of filling memory, and a stream that holds more or less is an error.
"""

from __future__ import annotations

import lzma
import zlib

from .errors import FormatError, Nc3dError

__all__ = ["decompress_exact", "METHODS"]

#: The stream formats :func:`decompress_exact` reads: zlib (RFC 1950), xz, and lzma in any of its
#: containers (xz or the legacy ``.lzma``; VTK writes the latter).
METHODS = ("zlib", "xz", "lzma")


def decompress_exact(
    data: bytes,
    expected: int,
    method: str,
    what: str,
    *,
    error: type[Nc3dError] = FormatError,
    max_inflation: float | None = None,
    require_end: bool = True,
) -> bytes:
    """Decompress ``data`` to exactly ``expected`` bytes, never producing more.

    Parameters
    ----------
    data : bytes-like
        The compressed stream (untrusted).
    expected : int
        The size it must decompress to (from an untrusted header too).
    method : {"zlib", "xz", "lzma"}
        The stream format (:data:`METHODS`).
    what : str
        Names the stream in error messages (``"volume-zlib"``, ``"head.vti"``).
    error : type
        The exception raised: :class:`~nc3d.errors.FormatError` for ``.nc3d`` files (the
        default), :class:`~nc3d.errors.InputError` for input files.
    max_inflation : float, optional
        Refuse, before decompressing, an ``expected`` larger than this many times ``len(data)``
        (plus 1 MiB): no honest stream compresses that well.
    require_end : bool
        The stream must also end exactly there (nothing after it). Off for formats that pad.

    Returns
    -------
    bytes
        Exactly ``expected`` bytes.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    if max_inflation is not None and expected > max_inflation * len(data) + (1 << 20):
        raise error(f"{what}: header claims {expected} bytes from a {len(data)}-byte stream")
    try:
        if method == "zlib":
            z = zlib.decompressobj()
            out = z.decompress(data, expected)
            ended = z.eof and not z.unused_data
            left_over = bool(z.unconsumed_tail)
        else:
            x = lzma.LZMADecompressor(format=lzma.FORMAT_XZ if method == "xz" else lzma.FORMAT_AUTO)
            out = x.decompress(data, max_length=expected)
            ended = x.eof and not x.unused_data
            left_over = False
    except (zlib.error, lzma.LZMAError) as exc:
        raise error(f"{what}: corrupt compressed data ({method}: {exc})") from None
    if len(out) != expected or left_over or (require_end and not ended):
        raise error(
            f"{what}: the compressed data ({method}) do not hold the {expected} bytes the header declares"
        )
    return out
