"""Errors between two scalar volumes (or any two arrays of the same shape): MSE and PSNR.

Everything is computed in float64 whatever the input dtype, so integer volumes do not wrap
around and float16/float32 volumes do not lose precision in the sums.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = ["mse", "psnr", "compare_volumes"]


def _as_volume(volume, name: str) -> np.ndarray:
    arr = np.asarray(volume)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{name}: the volume is empty (shape {arr.shape})")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputError(f"{name}: {bad} values are NaN or infinite")
    return arr


def _as_pair(reference, test) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_volume(reference, "reference")
    tst = _as_volume(test, "test")
    if ref.shape != tst.shape:
        raise InputError(f"volume shapes differ: reference {ref.shape} vs test {tst.shape}")
    return ref, tst


def _mse(ref: np.ndarray, tst: np.ndarray) -> float:
    return float(np.mean(np.square(ref - tst)))


def _psnr(ref: np.ndarray, mse_value: float, data_range) -> float:
    if data_range is None:
        peak = float(ref.max() - ref.min())
    else:
        try:
            peak = float(data_range)
        except (TypeError, ValueError):
            raise InputError(f"data_range must be a number, got {data_range!r}") from None
        if not (math.isfinite(peak) and peak > 0):
            raise InputError(f"data_range must be finite and > 0, got {data_range!r}")
    if mse_value == 0.0:
        return math.inf
    if peak == 0.0:
        return -math.inf
    return 10.0 * math.log10(peak * peak / mse_value)


def mse(reference, test) -> float:
    """Mean squared error ``MSE = 1/n Σ_i (reference_i − test_i)²`` over all ``n`` voxels.

    Parameters
    ----------
    reference, test : array_like, same shape
        Real-valued volumes (any number of dimensions), finite; computed in float64.

    Returns
    -------
    float
        MSE ≥ 0, in squared units of the values.

    Raises
    ------
    InputError
        Shapes differ (both are named), empty or non-numeric arrays, NaN or inf values.
    """
    return _mse(*_as_pair(reference, test))


def psnr(reference, test, *, data_range=None) -> float:
    """Peak signal-to-noise ratio in decibels over the data range of the reference.

    ::

        PSNR = 10 · log10(R² / MSE) = 20 · log10(R / sqrt(MSE))

    with ``R = max(reference) − min(reference)`` unless ``data_range`` is given. A constant
    offset ``c`` on a volume of range ``R`` gives ``20 · log10(R / |c|)``.

    Edge cases: identical volumes (MSE = 0) give ``+inf``. A constant reference has ``R = 0``;
    the formula is then followed literally: ``+inf`` when the test volume equals it, ``-inf``
    (no signal, any error) otherwise. Pass ``data_range`` (e.g. the dtype's range) to get a
    finite number for such volumes.

    Parameters
    ----------
    reference, test : array_like, same shape
        Real-valued volumes, finite; computed in float64.
    data_range : float, optional
        ``R`` to use instead of the reference's range; finite and > 0.

    Returns
    -------
    float
        PSNR in dB, possibly ``±inf`` as described.

    Raises
    ------
    InputError
        As :func:`mse`, or a ``data_range`` that is not a finite positive number.
    """
    ref, tst = _as_pair(reference, test)
    return _psnr(ref, _mse(ref, tst), data_range)


def compare_volumes(reference, test, *, data_range=None) -> dict[str, float]:
    """Both volume metrics at once: ``{"mse": mse(...), "psnr": psnr(...)}``.

    Parameters
    ----------
    reference, test : array_like, same shape
        Real-valued volumes, finite.
    data_range : float, optional
        Passed to :func:`psnr`.

    Returns
    -------
    dict of str to float
        Keys ``mse`` and ``psnr`` (definitions in :func:`mse` and :func:`psnr`).
    """
    ref, tst = _as_pair(reference, test)
    error = _mse(ref, tst)
    return {"mse": error, "psnr": _psnr(ref, error, data_range)}
