"""Picking the torch device: ``auto`` uses CUDA when present, the CPU otherwise."""

from __future__ import annotations

from ..errors import InputError

__all__ = ["resolve_device"]


def resolve_device(device: str = "auto"):
    """``"auto"`` → CUDA if available else CPU; ``"cpu"``; ``"cuda"`` (an error if absent)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but PyTorch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise InputError(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(device)
