"""3-D DCT baseline for volumes: 8³ blocks, orthonormal DCT-II, uniform quantization, entropy coding.

The classical transform codec that the neural volume codec must beat (JPEG's recipe in 3-D):
values are scaled to ``[0, 1]`` over the data range, cut into 8³ blocks (the last ones
edge-padded), transformed with ``scipy.fft.dctn`` over all blocks at once, divided by a step
that grows mildly with frequency (``step · (1 + tilt · (u + v + w) / 21)``), rounded with a small
dead zone, and coded
with nc3d's order-0 ANS coder in 22 streams, one per frequency band ``u + v + w`` (each band has
its own statistics, so its own table helps the order-0 coder). The DC coefficients are coded as
differences along the block order.

Region decoding (:meth:`Dct.decode_region`) entropy-decodes all symbols (the ANS streams are not
seekable) but dequantizes and inverse-transforms only the blocks that intersect the region.
"""

from __future__ import annotations

import numpy as np

from ..blocks import block_grid, merge_blocks, split_blocks
from ..codecs.base import REGION_DECODE, Codec, Option, register
from ..codecs.volume_header import check_region, normalized, read_volume_header, restore_values, volume_header
from ..container import header_get
from ..dct import BAND, BAND_EDGES, BANDS, BLOCK, BY_BAND, UNSORT_BY_BAND, dct_blocks
from ..entropy import decode_symbols, encode_symbols
from ..errors import FormatError
from ..io.volumes import as_volume

__all__ = ["Dct"]

#: Rounding offset towards zero for the AC coefficients (0: plain rounding).
_DEAD_ZONE = 0.15
#: Most voxels a file may declare per stored byte (an all-zero band costs a few bytes).
_MAX_VOXELS_PER_BYTE = 1e5


def _steps(step: float, tilt: float) -> np.ndarray:
    """(512,) float32 quantization step of each coefficient."""
    return (step * (1.0 + tilt * BAND / (BANDS - 1))).astype(np.float32)


@register
class Dct(Codec):
    name = "dct"
    kind = "volume"
    baseline = True
    description = "8³-block orthonormal 3-D DCT, uniform quantization, per-band entropy coding"
    options = (
        Option("step", float, 0.02, "quantization step as a fraction of the data range", low=1e-4, high=1.0),
        Option(
            "tilt", float, 1.0, "step growth towards the highest frequency band (0: flat)", low=0.0, high=8.0
        ),
    )

    capabilities = frozenset({REGION_DECODE})
    presets = {
        "smoke": ({},),
        "quick": tuple({"step": s} for s in (0.005, 0.02, 0.08)),
        "default": tuple({"step": s} for s in (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)),
    }

    def encode_parts(self, data, *, step, tilt, progress=None):
        v = as_volume(data)
        header = volume_header(v) | {"block": BLOCK, "step": step, "tilt": tilt}
        lo, hi = header["range"]
        if lo == hi:
            return header, {}
        blocks, _ = split_blocks(normalized(v, lo, hi), BLOCK, 0)
        scaled = dct_blocks(blocks).reshape(len(blocks), -1)
        scaled /= _steps(step, tilt)
        dc = np.rint(scaled[:, 0]).astype(np.int64)
        # Dead-zone rounding of the AC coefficients (round half away from zero shifted by
        # _DEAD_ZONE): small coefficients go to zero, +0.3-0.6 dB at equal ratio on the MNI scans.
        magnitude = np.abs(scaled)
        np.floor(magnitude + np.float32(0.5 - _DEAD_ZONE), out=magnitude)
        q = np.copysign(magnitude, scaled).astype(np.int32)[:, BY_BAND]
        q[:, 0] = np.diff(dc, prepend=0)  # column 0 is the DC in band order too
        edges = BAND_EDGES
        return header, {f"band{k:02d}": encode_symbols(q[:, edges[k] : edges[k + 1]]) for k in range(BANDS)}

    def _symbols(self, header, sections):
        shape, dtype, lo, hi = read_volume_header(
            header, max_voxels_per_byte=_MAX_VOXELS_PER_BYTE, stored_bytes=sum(map(len, sections.values()))
        )
        header_get(header, "block", int, choices=(BLOCK,))
        step = header_get(header, "step", float, min=1e-4, max=1.0)
        tilt = header_get(header, "tilt", float, min=0.0, max=8.0)
        if lo == hi:
            return shape, dtype, lo, hi, None, None
        n = int(np.prod(block_grid(shape, BLOCK)))
        # Values in [0, 1] give |coefficient| <= 8**1.5 (DC differences twice that): larger
        # symbols only come from a hostile file, and refusing them keeps int32 exact.
        bound = int(2 * BLOCK**1.5 / step) + 2
        q = np.empty((n, BLOCK**3), dtype=np.int32)
        for k in range(BANDS):  # 22 streams
            name = f"band{k:02d}"
            if name not in sections:
                raise FormatError(f"dct: section {name!r} is missing")
            a, b = BAND_EDGES[k], BAND_EDGES[k + 1]
            symbols = decode_symbols(sections[name], count=n * int(b - a))
            if symbols.size and max(-int(symbols.min()), int(symbols.max())) > bound:
                raise FormatError(f"dct: section {name!r} holds coefficients out of range")
            q[:, a:b] = symbols.reshape(n, -1)
        dc = np.cumsum(q[:, 0], dtype=np.int64)
        if np.abs(dc).max() > bound:
            raise FormatError("dct: DC coefficients out of range")
        q[:, 0] = dc
        return shape, dtype, lo, hi, q[:, UNSORT_BY_BAND], _steps(step, tilt)

    def decode_parts(self, header, sections):
        shape, dtype, lo, hi, q, steps = self._symbols(header, sections)
        if q is None:
            return np.full(shape, lo).astype(dtype)
        blocks = dct_blocks((q.astype(np.float32) * steps).reshape(-1, BLOCK, BLOCK, BLOCK), inverse=True)
        return restore_values(merge_blocks(blocks, shape, BLOCK, 0), dtype, lo, hi, scaled=True)

    def decode_region(self, header, sections, region):
        """Decode only the blocks meeting ``region`` ((z0, z1), (y0, y1), (x0, x1)), half-open."""
        shape, dtype, lo, hi, q, steps = self._symbols(header, sections)
        region = check_region(region, shape)
        out_shape = tuple(b - a for a, b in region)
        if q is None:
            return np.full(out_shape, lo).astype(dtype)
        grid = block_grid(shape, BLOCK)
        first = [a // BLOCK for a, _ in region]
        last = [-(-b // BLOCK) for _, b in region]
        idx = np.ravel_multi_index(np.ix_(*[np.arange(f, e) for f, e in zip(first, last)]), grid).ravel()
        blocks = dct_blocks(
            (q[idx].astype(np.float32) * steps).reshape(-1, BLOCK, BLOCK, BLOCK), inverse=True
        )
        sub = merge_blocks(blocks, [(e - f) * BLOCK for f, e in zip(first, last)], BLOCK, 0)
        crop = tuple(slice(a - f * BLOCK, b - f * BLOCK) for (a, b), f in zip(region, first))
        return restore_values(sub[crop], dtype, lo, hi, scaled=True)
