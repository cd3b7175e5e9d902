"""Learning-rate schedules shared by the trained codecs."""

from __future__ import annotations

import math

__all__ = ["warmup_cosine_lr"]


def warmup_cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Learning rate at ``step`` of ``total``: linear warm-up over ``warmup`` steps to ``peak``, then
    a cosine decay to 1% of ``peak`` at the last step.

    Parameters
    ----------
    step : int
        Current step, 0-based.
    total : int
        Number of steps of the run.
    peak : float
        Learning rate at the end of the warm-up.
    warmup : int
        Warm-up steps (> 0 when ``step`` can be below it).
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))
