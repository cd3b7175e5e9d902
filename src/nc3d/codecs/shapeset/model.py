"""The shared auto-decoder of the shapeset codec (NeCGS §3.2, App. B.1).

A per-shape embedded feature ``(C, K', K', K')`` goes through a head 3×3×3 convolution raising
the channels to ``width``, ``L = log2(K / K')`` upsampling modules (3×3×3 conv → 3-D pixel shuffle
×2 → GELU) whose channels halve at each level down to ``min_width``, and a last 3×3×3 convolution
to the 4 channels of a TSDF-Def volume ``(4, K, K, K)``. The fine levels are where thin parts and
sharp features are drawn: with 8 channels there (the old default) the mean F@0.01 on the 38
shared meshes stayed near 0.81 whatever the head's width, with 16 it reached 0.86 in a quarter
of the steps (BENCHMARKS.md, shapeset section), so ``min_width`` defaults to 16 and the default
``width`` 16 makes every module 16 channels wide.
With ``bits`` set, weights and features are fake-quantized (straight-through) as they are used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...errors import FormatError, InputError
from ...nn.quant import fake_quantize
from ...nn.upsample import upsample_block

__all__ = ["Architecture", "AutoDecoder"]


@dataclass(frozen=True)
class Architecture:
    """Shape of the auto-decoder and of the features.

    Attributes
    ----------
    resolution : int
        Output grid ``K`` (a power-of-two multiple of ``feature_resolution``).
    feature_resolution : int
        ``K'``.
    channels : int
        Feature channels ``C``.
    width : int
        Channels after the head convolution (halved by each upsampling module).
    min_width : int
        Fewest channels of a module.
    """

    resolution: int = 64
    feature_resolution: int = 4
    channels: int = 16
    width: int = 16
    min_width: int = 16

    def __post_init__(self):
        for name, lo, hi in (
            ("resolution", 8, 256),
            ("feature_resolution", 1, 64),
            ("channels", 1, 256),
            ("width", 1, 1024),
            ("min_width", 1, 1024),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise InputError(f"shapeset: {name} must be an integer in [{lo}, {hi}], got {v!r}")
        ratio = self.resolution // self.feature_resolution
        if ratio * self.feature_resolution != self.resolution or ratio < 2 or ratio & (ratio - 1):
            raise InputError(
                f"shapeset: resolution {self.resolution} must be feature resolution "
                f"{self.feature_resolution} times a power of two ≥ 2"
            )

    @property
    def levels(self) -> int:
        """Number of upsampling modules ``L``."""
        return int(math.log2(self.resolution // self.feature_resolution))

    def widths(self) -> list[int]:
        """Channels after the head and after each module (``L + 1`` values)."""
        w = [self.width]
        for _ in range(self.levels):
            w.append(max(w[-1] // 2, min(self.min_width, self.width)))
        return w

    def tensor_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the weights and biases in storage order."""
        w = self.widths()
        shapes = [(w[0], self.channels, 3, 3, 3), (w[0],)]
        for a, b in zip(w[:-1], w[1:]):
            shapes += [(8 * b, a, 3, 3, 3), (8 * b,)]
        return shapes + [(4, w[-1], 3, 3, 3), (4,)]

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(s) for s in self.tensor_shapes())

    @property
    def feature_shape(self) -> tuple[int, int, int, int]:
        k = self.feature_resolution
        return (self.channels, k, k, k)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> Architecture:
        """From an untrusted header (:class:`FormatError` on anything wrong)."""
        if not isinstance(d, dict) or set(d) != set(cls.__dataclass_fields__):
            raise FormatError(f"shapeset file: bad architecture {d!r}")
        try:
            return cls(**d)
        except InputError as exc:
            raise FormatError(f"shapeset file: {exc}") from None


class AutoDecoder(torch.nn.Module):
    """The decoder's tensors as parameters; ``forward(features) -> (n, 4, K, K, K)``."""

    def __init__(self, arch: Architecture, seed: int = 0):
        import torch

        super().__init__()
        self.arch = arch
        gen = torch.Generator().manual_seed(seed)
        params = []
        for shape in arch.tensor_shapes():
            if len(shape) == 5:
                # uniform fan-in init, as torch.nn.Conv3d's default. It shrinks the signal ~4× per
                # module (at the start the features move the output by ~1e-4), but He init, which
                # keeps it at ~1, made training collapse to "outside everywhere" on the shared
                # meshes within 100 steps, while this one learns steadily (BENCHMARKS.md).
                bound = 1.0 / math.sqrt(shape[1] * 27)
                params.append(torch.nn.Parameter((torch.rand(shape, generator=gen) * 2 - 1) * bound))
            else:
                params.append(torch.nn.Parameter(torch.zeros(shape)))
        self.params = torch.nn.ParameterList(params)

    def tensors(self) -> list:
        """The weights and biases in storage order (:meth:`Architecture.tensor_shapes`)."""
        return list(self.params)

    def forward(self, features, bits: int | None = None, crop: tuple | None = None):
        """``(n, C, K', K', K')`` features → ``(n, 4, K, K, K)``.

        Parameters
        ----------
        features : (n, C, K', K', K') torch.Tensor
        bits : int, optional
            Fake-quantize the weights at this many bits (straight-through).
        crop : (corners, size), optional
            Compute only an output box of ``size³`` cells per shape, ``corners`` its first cell
            ``(z, y, x)`` (one for all shapes) or ``(n, 3)`` (one per shape); boxes inside the
            grid. Every module after the head runs only on the receptive field of the box (the
            cells the 3×3×3 kernels reach, level by level) instead of the whole grid, all shapes
            in one batch. Returns ``(n, 4, size, size, size)``, equal to cropping the full output.
        """
        import torch
        import torch.nn.functional as F

        p = [fake_quantize(t, bits) if bits else t for t in self.params]
        x = F.conv3d(features, p[0], p[1], padding=1)
        if crop is None:
            for i in range(self.arch.levels):
                x = upsample_block(x, p[2 + 2 * i], p[3 + 2 * i])
            return F.conv3d(x, p[-2], p[-1], padding=1)
        corners, size = crop
        corners = np.broadcast_to(np.asarray(corners, dtype=np.int64).reshape(-1, 3), (len(x), 3))
        k = self.arch.resolution
        if size < 1 or corners.min() < 0 or corners.max() + size > k:
            raise ValueError(f"crop {crop} is not a box inside the {k}³ grid")
        # per level and shape, the first cell (per axis) of the box its output must hold and the
        # box's side: the last convolution needs one more cell per side; a module's output
        # [lo, hi) needs its input [⌊lo/2⌋ - 1, ⌈hi/2⌉ + 1) (the shuffle halves, the kernel adds a
        # cell per side); boxes are padded to one side per level so the shapes batch together
        los, sides = [corners - 1], [size + 2]
        for _ in range(self.arch.levels):
            lo, hi = los[-1] // 2 - 1, -(-(los[-1] + sides[-1]) // 2) + 1
            los.append(lo)
            sides.append(int((hi - lo).max()))
        los.reverse()
        sides.reverse()  # [0]: the head's output ... [-1]: the last module's output
        x = torch.cat([_take_box(x[j : j + 1], 0, los[0][j], sides[0]) for j in range(len(x))])
        for i in range(self.arch.levels):
            # a valid convolution on cells [lo, lo + side) gives [lo + 1, …), doubled by the shuffle
            x = upsample_block(x, p[2 + 2 * i], p[3 + 2 * i], pad=0)
            grid = self.arch.feature_resolution << (i + 1)
            x = torch.cat(
                [
                    _take_box(x[j : j + 1], 2 * los[i][j] + 2, los[i + 1][j], sides[i + 1], grid)
                    for j in range(len(x))
                ]
            )
        return F.conv3d(x, p[-2], p[-1])


def _take_box(x, origin, lo, side: int, grid: int | None = None):
    """The ``side³`` cells from ``lo`` (3 ints) of ``x``, whose first cell is ``origin`` (int or 3 ints).

    Cells outside ``x`` become zeros (``x`` covering the whole grid: the convolutions' zero
    padding); with ``grid``, cells outside ``[0, grid)`` are zeroed too (a module's output there
    is GELU(bias), not the zero the padded convolution of the whole grid sees).
    """
    import torch
    import torch.nn.functional as F

    origin = [origin] * 3 if isinstance(origin, int) else [int(o) for o in origin]
    lo = [int(v) for v in lo]
    pads, cuts = [], []
    for axis, (a, o) in enumerate(zip(lo, origin)):
        pads.append((max(0, o - a), max(0, a + side - o - x.shape[2 + axis])))
        cuts.append(slice(a - o + pads[-1][0], a + side - o + pads[-1][0]))
    if any(a or b for a, b in pads):
        x = F.pad(x, [v for pair in reversed(pads) for v in pair])
    x = x[..., cuts[0], cuts[1], cuts[2]]
    if grid is not None and any(a < 0 or a + side > grid for a in lo):
        inside = [
            ((r >= 0) & (r < grid)).to(x.dtype)
            for r in (torch.arange(a, a + side, device=x.device) for a in lo)
        ]
        x = x * inside[0][:, None, None] * inside[1][None, :, None] * inside[2][None, None, :]
    return x
