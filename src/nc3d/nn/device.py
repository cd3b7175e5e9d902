"""Picking the torch device: ``auto`` uses CUDA when present, the CPU otherwise."""

from __future__ import annotations

import os
from contextlib import contextmanager

from ..errors import InputError

__all__ = ["resolve_device", "torch_threads", "limit_threads"]


def resolve_device(device: str = "auto"):
    """``"auto"`` → CUDA if available else CPU; ``"cpu"``; ``"cuda"`` (an error if absent)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for, but PyTorch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise InputError(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(device)


@contextmanager
def torch_threads(threads: int):
    """Run the body with ``torch.set_num_threads(threads)``, restoring the previous count after.

    torch's thread count is process-wide; leaving it changed makes later matrix products in the
    same process (a decode, a test) take other summation orders, so their last bits differ from
    a fresh process.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def limit_threads() -> None:
    """Make this process use one thread for torch and the BLAS/OpenMP libraries (worker start-up)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started in this process
        pass
