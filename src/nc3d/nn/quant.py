"""Uniform symmetric quantization of network weights, and its fake-quantized (STE) twin.

Each tensor ``t`` gets one step ``s = max|t| / (2^(b-1) - 1)`` and is stored as the integers
``q = round(t / s)`` in ``[-(2^(b-1) - 1), 2^(b-1) - 1]``; zero stays exactly representable,
so the many near-zero weights pile up on one symbol, which the entropy coder then makes cheap.
Training sees ``t + (s·q - t).detach()`` (straight-through estimator), so the fine-tuned
weights are the ones that survive rounding.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import FormatError, InputError

__all__ = ["quant_levels", "fake_quantize", "quantize_tensors", "dequantize_tensors"]


def quant_levels(bits: int) -> int:
    """Largest integer magnitude used at ``bits`` bits (``2^(bits-1) - 1``)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise InputError(f"bits must be an integer in [2, 16], got {bits!r}")
    return 2 ** (bits - 1) - 1


def fake_quantize(t, bits: int):
    """Quantize-dequantize a torch tensor with a straight-through gradient."""
    import torch

    levels = quant_levels(bits)
    step = (t.detach().abs().max() / levels).clamp_min(1e-12).to(torch.float32)
    return t + (torch.round(t / step) * step - t).detach()


def quantize_tensors(tensors: list[np.ndarray], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantize each tensor with its own step.

    Parameters
    ----------
    tensors : list of float arrays
        In storage order.
    bits : int
        2..16.

    Returns
    -------
    q : (total,) int64
        All integers, tensors concatenated (C order).
    steps : (len(tensors),) float32
        The step of each tensor; ``t ≈ steps[i] * q_i``.
    """
    levels = quant_levels(bits)
    steps = np.array([max(float(np.abs(t).max()) / levels, 1e-12) for t in tensors], dtype=np.float32)
    q = [np.clip(np.round(np.asarray(t, np.float32) / s), -levels, levels) for t, s in zip(tensors, steps)]
    return np.concatenate([x.ravel() for x in q]).astype(np.int64), steps


def dequantize_tensors(
    q: np.ndarray, steps: np.ndarray, shapes: list[tuple[int, ...]], bits: int
) -> list[np.ndarray]:
    """Inverse of :func:`quantize_tensors` (float32 tensors); :class:`FormatError` on bad data."""
    levels = quant_levels(bits)
    sizes = [math.prod(s) for s in shapes]
    if len(steps) != len(shapes) or len(q) != sum(sizes):
        raise FormatError(
            f"weights: {len(q)} values and {len(steps)} steps for {len(shapes)} tensors of {sum(sizes)}"
        )
    if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise FormatError("weights: a quantization step is not a positive finite number")
    if len(steps) and float(np.max(steps)) * levels > float(np.finfo(np.float32).max):
        raise FormatError("weights: a quantization step overflows float32 weights")
    if len(q) and np.abs(q).max() > levels:
        raise FormatError(f"weights: a value exceeds the {bits}-bit range")
    out, start = [], 0
    for shape, size, step in zip(shapes, sizes, steps):
        out.append((q[start : start + size].astype(np.float32) * np.float32(step)).reshape(shape))
        start += size
    return out
