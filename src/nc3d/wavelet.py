"""The 3-D CDF 9/7 wavelet transform (lifting, symmetric extension, any size) of the ``volume`` codec.

The Cohen–Daubechies–Feauveau 9/7 biorthogonal wavelet (the lossy JPEG 2000 filter, also SPERR's)
computed by its four lifting steps (Daubechies & Sweldens 1998) along one axis at a time, with
whole-sample symmetric extension at both ends, so a signal of any length ``n ≥ 1`` gives
``⌈n/2⌉`` low-pass and ``⌊n/2⌋`` high-pass coefficients and is restored to rounding error. The
two outputs are scaled so that a unit error on any coefficient costs about a unit of squared
error in the signal (:data:`LOW_GAIN`, :data:`HIGH_GAIN`: the measured norms of the synthesis
basis functions), which lets one quantization step serve every band.

A level splits the current low-pass box along each axis still at least :data:`MIN_LENGTH` long;
:func:`wavelet_levels` counts the levels. The bands of a level are named by one letter per axis,
``"L"`` or ``"H"`` (``"HLL"`` is high-pass along z, low-pass along y and x); an axis that was not
split at a level is ``"L"`` in all of its bands.

Written here rather than taken from PyWavelets: its symmetric modes grow the coefficient arrays
past ``n`` (``pywt.dwt_coeff_len``) and its periodization mode wraps the volume's far face onto its
near face; the codec needs exactly ``n`` coefficients with mirrored edges. Each lifting step is a
few whole-array numpy operations per axis (no loop over voxels).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MIN_LENGTH",
    "MAX_LEVELS",
    "wavelet_levels",
    "split_axes",
    "forward_cdf97",
    "inverse_cdf97",
    "band_names",
]

# Lifting coefficients of the CDF 9/7 wavelet (Daubechies & Sweldens 1998, §7.8).
_ALPHA = -1.586134342059924
_BETA = -0.052980118572961
_GAMMA = 0.882911075530934
_DELTA = 0.443506852043971
#: Scale of the low-pass / high-pass outputs: the norm of their synthesis basis functions
#: with unscaled lifting (measured), so that both have unit norm.
LOW_GAIN = 1.1397640076546418
HIGH_GAIN = 0.8872770756359072

#: An axis is split at a level while its low-pass length is at least this.
MIN_LENGTH = 2
#: Most levels.
MAX_LEVELS = 6


def _lift(s: np.ndarray, d: np.ndarray, sign: float) -> None:
    """The four lifting steps in place along axis 0 (``sign`` +1: analysis; −1: synthesis, reversed).

    ``s`` (even samples, ``ns``) and ``d`` (odd samples, ``nd = ns`` or ``ns − 1``); the samples
    past either end are mirrored: ``x[−1] = x[1]``, ``x[n] = x[n − 2]``.
    """
    nd, ns = d.shape[0], s.shape[0]
    steps = ((_ALPHA, "d"), (_BETA, "s"), (_GAMMA, "d"), (_DELTA, "s"))
    tmp = np.empty_like(d)
    for coef, target in steps if sign > 0 else steps[::-1]:
        c = s.dtype.type(sign * coef)
        if target == "d":  # d[i] += c (s[i] + s[i + 1])
            m = ns - 1
            t = tmp[:m]
            np.add(s[:m], s[1:], out=t)
            t *= c
            d[:m] += t
            if nd > m:  # the last odd sample's right neighbour is mirrored onto s[ns - 1]
                d[m] += (2 * c) * s[m]
        else:  # s[i] += c (d[i - 1] + d[i])
            t = tmp[: nd - 1]
            np.add(d[:-1], d[1:], out=t)
            t *= c
            s[1:nd] += t
            s[0] += (2 * c) * d[0]
            if ns > nd:  # the last even sample's right neighbour is mirrored onto d[nd - 1]
                s[nd] += (2 * c) * d[nd - 1]


def _forward_axis(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    v = np.moveaxis(x, axis, 0)
    s, d = v[0::2].copy(), v[1::2].copy()
    if d.shape[0]:
        _lift(s, d, +1.0)
    s *= s.dtype.type(LOW_GAIN)
    d *= d.dtype.type(HIGH_GAIN)
    return np.moveaxis(s, 0, axis), np.moveaxis(d, 0, axis)


def _inverse_axis(s: np.ndarray, d: np.ndarray, axis: int) -> np.ndarray:
    s = np.moveaxis(s, axis, 0) * s.dtype.type(1 / LOW_GAIN)
    d = np.moveaxis(d, axis, 0) * d.dtype.type(1 / HIGH_GAIN)
    if d.shape[0]:
        _lift(s, d, -1.0)
    out = np.empty((s.shape[0] + d.shape[0],) + s.shape[1:], dtype=s.dtype)
    out[0::2], out[1::2] = s, d
    return np.moveaxis(out, 0, axis)


def split_axes(shape) -> list[tuple[bool, bool, bool]]:
    """Per level (finest first), which of the 3 axes are split, for a volume of ``shape``."""
    out = []
    size = list(shape)
    while len(out) < MAX_LEVELS:
        axes = tuple(n >= MIN_LENGTH for n in size)
        if not any(axes):
            break
        out.append(axes)
        size = [(n + 1) // 2 if a else n for n, a in zip(size, axes)]
    return out


def wavelet_levels(shape) -> int:
    """Number of levels for a volume of ``shape`` (0 when every axis is shorter than :data:`MIN_LENGTH`)."""
    return len(split_axes(shape))


def band_names(axes: tuple[bool, bool, bool]) -> list[str]:
    """The detail bands of a level splitting ``axes``, in coding order (fewest ``"H"`` first)."""
    names = [""]
    for split in axes:
        names = [n + c for n in names for c in ("LH" if split else "L")]
    names.remove("LLL")
    return sorted(names, key=lambda n: (n.count("H"), n[::-1]))


def forward_cdf97(x: np.ndarray) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """Multi-level 3-D CDF 9/7 analysis.

    Parameters
    ----------
    x : (z, y, x) float32 or float64 array

    Returns
    -------
    low : array
        The coarsest low-pass box ``"LLL"``.
    bands : list of dict
        Per level, finest first: band name → coefficients.
    """
    low = x
    bands = []
    for axes in split_axes(x.shape):
        parts = {"": low}
        for axis, split in enumerate(axes):
            nxt = {}
            for name, arr in parts.items():
                if split:
                    nxt[name + "L"], nxt[name + "H"] = _forward_axis(arr, axis)
                else:
                    nxt[name + "L"] = arr
            parts = nxt
        low = parts.pop("LLL")
        bands.append(parts)
    return low, bands


def inverse_cdf97(low: np.ndarray, bands: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Invert :func:`forward_cdf97` (``bands`` as it returned them, finest first)."""
    for parts in reversed(bands):
        parts = dict(parts, LLL=low)
        for axis in (2, 1, 0):
            merged = {}
            for name in {n[:axis] for n in parts}:
                lo, hi = parts[name + "L"], parts.get(name + "H")
                merged[name] = lo if hi is None else _inverse_axis(lo, hi, axis)
            parts = merged
        low = parts[""]
    return low
