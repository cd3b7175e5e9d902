"""Choosing the size of a set's file from the set: decoder width, feature channels and bits.

A shapeset file is one shared decoder, one feature per shape and a header with each shape's
frame and name. A fixed decoder is 93% of the file for a dozen meshes and a sliver of it for a
thousand, where the features dominate. So unless the user fixes them, the decoder width, the
feature channels and the bits are chosen to fill a byte budget — the binary-PLY size of the set
divided by ``target_ratio`` (:data:`DEFAULT_RATIO` with ``mesh_shapes = "off"``; by default the
codec aims at a quality instead, ``target_f_score``, see :mod:`.meshes`), or ``target_bytes`` — in
this order:

1. the header: :data:`HEADER_BYTES_PER_SHAPE` per shape;
2. the features get at most half of what is left: 16 channels at 8 bits when they fit, else
   fewer channels (down to 4), else 6 bits;
3. the decoder gets the rest: the widest (8 bits, then 6 bits) whose predicted bytes fit, at
   least width 8 at 6 bits.

Predicted bytes come from the entropy-coded sizes measured on the 38 shared meshes as one set
(BENCHMARKS.md, shapeset): 0.81 bytes per decoder weight at 8 bits and 0.55 at 6; 0.96 bytes per
feature value at 8 bits and 0.61 at 6. Per shape, the index (frame, feature size, name: xz,
:mod:`.index`) and the measured quality take ~22 bytes on the 1,097 collection meshes (format 1
spent ~180 in its header). A file lands near its budget, not on it: the entropy of trained
weights varies from set to set.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Architecture

__all__ = ["DEFAULT_RATIO", "SizeChoice", "choose_size", "predicted_bytes"]

#: Default budget: the set's binary-PLY bytes over this (the 38 shared meshes' file at 51×, F 0.88).
DEFAULT_RATIO = 50.0
#: Bytes per stored value after entropy coding, by bits: (decoder weight, feature value).
BYTES_PER_VALUE = {8: (0.81, 0.96), 6: (0.55, 0.61)}
#: Bytes per shape besides its feature: index (frame, feature size, name) and quality.
HEADER_BYTES_PER_SHAPE = 24
#: Header bytes of the file itself (architecture, settings, container).
HEADER_BYTES = 600
#: Decoder widths tried, widest first.
WIDTHS = (48, 40, 32, 24, 20, 16, 14, 12, 10, 8)
#: Feature channels tried, most first.
CHANNELS = (16, 12, 8, 6, 4)


@dataclass(frozen=True)
class SizeChoice:
    """What :func:`choose_size` picked, and the bytes it expects."""

    width: int
    channels: int
    bits: int
    target_bytes: int
    predicted_bytes: int

    def to_dict(self) -> dict:
        return {"target_bytes": self.target_bytes, "predicted_bytes": self.predicted_bytes}


def predicted_bytes(arch: Architecture, bits: int, shapes: int) -> int:
    """Expected bytes of a file of ``shapes`` shapes with ``arch`` at ``bits`` (6 or 8; others
    interpolate linearly between them)."""
    lo, hi = BYTES_PER_VALUE[6], BYTES_PER_VALUE[8]
    t = (bits - 6) / 2
    per_weight, per_value = (lo[0] + t * (hi[0] - lo[0]), lo[1] + t * (hi[1] - lo[1]))
    features = shapes * per_value * arch.channels * arch.feature_resolution**3
    return int(HEADER_BYTES + shapes * HEADER_BYTES_PER_SHAPE + features + per_weight * arch.parameter_count)


def choose_size(
    shapes: int,
    target_bytes: int,
    *,
    resolution: int,
    feature_resolution: int,
    min_width: int,
    width: int | None = None,
    channels: int | None = None,
    bits: int | None = None,
) -> SizeChoice:
    """Decoder width, feature channels and bits for a set of ``shapes`` in ``target_bytes``.

    Any of ``width``, ``channels`` and ``bits`` given is kept as it is; the others are chosen
    (see the module docstring).
    """

    def arch(w, c):
        return Architecture(
            resolution=resolution,
            feature_resolution=feature_resolution,
            channels=c,
            width=w,
            min_width=min_width,
        )

    left = target_bytes - HEADER_BYTES - shapes * HEADER_BYTES_PER_SHAPE
    values = feature_resolution**3
    c, b = channels, bits
    if c is None or b is None:  # the features: at most half of what is left
        for bits_try in (8, 6) if b is None else (b,):
            fits = [
                ch
                for ch in ((c,) if c is not None else CHANNELS)
                if shapes * BYTES_PER_VALUE.get(bits_try, BYTES_PER_VALUE[8])[1] * ch * values <= left / 2
            ]
            if fits:
                c, b = fits[0], bits_try
                break
        else:  # nothing fits: the smallest
            c, b = (c if c is not None else CHANNELS[-1]), (b if b is not None else 6)
    w = width
    if w is None:  # the decoder: the widest that fits the rest (at 6 bits if none fits at 8)
        fitting = [wide for wide in WIDTHS if predicted_bytes(arch(wide, c), b, shapes) <= target_bytes]
        if not fitting and bits is None and b == 8:
            b = 6
            fitting = [wide for wide in WIDTHS if predicted_bytes(arch(wide, c), b, shapes) <= target_bytes]
        w = fitting[0] if fitting else WIDTHS[-1]
    return SizeChoice(w, c, b, int(target_bytes), predicted_bytes(arch(w, c), b, shapes))
