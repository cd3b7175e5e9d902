"""Volume baselines without a transform of nc3d's own: ZFP (zfpy), and lossless zlib / lzma.

``zfp`` runs the zfp library on the data as float32 (float64 stays float64), in its fixed-accuracy
mode (``tolerance``: the largest absolute error, as a fraction of the data range) or fixed-rate mode
(``rate``: bits per value). ``volume-zlib`` and ``volume-lzma`` compress the raw little-endian
samples losslessly: the floor any lossy codec has to beat to be worth its error.
"""

from __future__ import annotations

import lzma
import math
import zlib

import numpy as np

from .._optional import require
from ..bounded import decompress_exact
from ..codecs.base import Codec, Option, register
from ..codecs.volume_header import read_volume_header, restore_values, volume_header
from ..container import header_get
from ..errors import FormatError
from ..io.volumes import as_volume

__all__ = ["Zfp", "VolumeZlib", "VolumeLzma"]


def _zfp_read_bound(shape, dtype: np.dtype) -> int:
    """Most bytes zfp can read while decoding ``shape``: it does not bound reads by the buffer.

    Per 4³ block zfp reads an exponent (≤ 12 bits) and at most ``intprec`` bit planes of
    ≤ 64 value bits + ≤ 64 group-test bits, so a crafted stream is padded to this length.
    """
    blocks = math.prod(-(-s // 4) for s in shape)
    planes = 32 if dtype == np.float32 else 64
    return blocks * (planes * 128 + 64) // 8 + 64


@register
class Zfp(Codec):
    name = "zfp"
    kind = "volume"
    baseline = True
    description = "zfp (zfpy) in fixed-accuracy or fixed-rate mode on the float32/float64 samples"
    options = (
        Option("mode", str, "accuracy", "zfp mode", choices=("accuracy", "rate")),
        Option(
            "tolerance",
            float,
            0.1,
            "accuracy mode: largest error as a fraction of the range "
            "(0.1: 51–62 dB on the shared volumes; zfp stays well inside its bound)",
            low=1e-7,
            high=1.0,
        ),
        Option("rate", float, 2.0, "rate mode: bits per value", low=0.0625, high=64.0),
    )

    presets = {
        "smoke": ({},),
        "quick": (
            *({"mode": "accuracy", "tolerance": t} for t in (0.001, 0.01, 0.1)),
            *({"mode": "rate", "rate": r} for r in (1.0, 4.0)),
        ),
        "default": (
            *(
                {"mode": "accuracy", "tolerance": t}
                for t in (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
            ),
            *({"mode": "rate", "rate": r} for r in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)),
        ),
    }

    def encode_parts(self, data, *, mode, tolerance, rate, progress=None):
        zfpy = require("zfpy", "the zfp baseline")
        v = as_volume(data)
        header = volume_header(v) | {"mode": mode}
        lo, hi = header["range"]
        x = np.ascontiguousarray(v, dtype=np.float64 if v.dtype == np.float64 else np.float32)
        if mode == "accuracy":
            stream = zfpy.compress_numpy(x, tolerance=tolerance * (hi - lo)) if hi > lo else b""
        else:
            stream = zfpy.compress_numpy(x, rate=rate)
        return header, {"zfp": stream}

    def decode_parts(self, header, sections):
        zfpy = require("zfpy", "the zfp baseline")
        shape, dtype, lo, hi = read_volume_header(header)
        header_get(header, "mode", str, choices=("accuracy", "rate"))
        if "zfp" not in sections:
            raise FormatError("zfp: section 'zfp' is missing")
        stream = bytes(sections["zfp"])
        if not stream:
            if lo != hi:
                raise FormatError("zfp: empty stream for a non-constant volume")
            return np.full(shape, lo).astype(dtype)
        want = np.float64 if dtype == np.float64 else np.float32
        try:
            info = zfpy.header(stream)
        except (ValueError, RuntimeError) as exc:
            raise FormatError(f"zfp: invalid stream header ({exc})") from None
        if (info["nz"], info["ny"], info["nx"]) != shape or info["nw"] != 0 or info["type"] is not want:
            raise FormatError(
                f"zfp: the stream describes {info['nz']}x{info['ny']}x{info['nx']} {info['type']}, "
                f"not {shape}"
            )
        bound = _zfp_read_bound(shape, np.dtype(want))
        try:
            x = zfpy.decompress_numpy(stream + bytes(max(0, bound - len(stream))))
        except (ValueError, RuntimeError) as exc:
            raise FormatError(f"zfp: corrupt stream ({exc})") from None
        return restore_values(x, dtype, lo, hi)


class _Lossless(Codec):
    kind = "volume"
    baseline = True
    method = ""

    def encode_parts(self, data, *, progress=None):
        v = as_volume(data)
        raw = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<"), copy=False).tobytes()
        if self.method == "zlib":
            packed = zlib.compress(raw, 9)
        else:
            packed = lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
        return volume_header(v), {"samples": packed}

    def decode_parts(self, header, sections):
        shape, dtype, _, _ = read_volume_header(header)
        if "samples" not in sections:
            raise FormatError(f"{self.name}: section 'samples' is missing")
        raw = decompress_exact(
            bytes(sections["samples"]),
            math.prod(shape) * dtype.itemsize,
            "zlib" if self.method == "zlib" else "xz",
            f"volume-{self.method}",
        )
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


@register
class VolumeZlib(_Lossless):
    name = "volume-zlib"
    method = "zlib"
    description = "lossless: the raw little-endian samples compressed with zlib (level 9)"


@register
class VolumeLzma(_Lossless):
    name = "volume-lzma"
    method = "lzma"
    description = "lossless: the raw little-endian samples compressed with xz (preset 9e)"
