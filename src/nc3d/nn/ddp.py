"""Data-parallel training across processes started by ``torchrun`` (PyTorch DistributedDataParallel).

    torchrun --nproc-per-node 2 -m nc3d compress meshes/ -o set.nc3d --codec shapeset

Every process holds the whole model and trains it on its own batches; DDP averages the
gradients after each backward, so all processes take the same optimizer steps and end with
the same weights: ``N`` processes see ``N × batch`` crops per step in about the time one
process takes for ``batch``. The backend is gloo on the CPU and NCCL on CUDA (one GPU per
process, ``LOCAL_RANK``). Rank 0 writes the output; the others return without writing.

torchrun tells each process its place through the environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); a process started any other way is rank 0
of a world of 1, and nothing here touches ``torch.distributed``.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from ..errors import InputError

__all__ = ["world", "join", "local_device", "gather_pieces", "barrier"]


def world() -> tuple[int, int]:
    """``(rank, world size)`` of this process: ``(0, 1)`` unless started by torchrun with several."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise InputError("WORLD_SIZE and RANK must be integers (they are set by torchrun)") from None
    if size < 1 or not 0 <= rank < size:
        raise InputError(f"RANK {rank} and WORLD_SIZE {size} do not make sense (they are set by torchrun)")
    return rank, size


def join(device) -> tuple[int, int]:
    """Join torchrun's process group once (gloo, or NCCL for a CUDA device); ``(rank, world size)``."""
    rank, size = world()
    if size == 1:
        return rank, size
    import torch.distributed as dist

    if not dist.is_available():
        raise InputError("this PyTorch build has no torch.distributed: train in one process")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave)
    return rank, size


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        # every process arrives before any tears its connections down: a gloo group destroyed
        # while the peer is already gone aborted the process at exit about 1 run in 6 (2 CPUs)
        try:
            dist.barrier()
        except RuntimeError:  # a peer that already failed: nothing to wait for
            pass
        dist.destroy_process_group()


def local_device(device):
    """The device this process trains on: ``cuda:LOCAL_RANK`` for CUDA under torchrun, else ``device``."""
    import torch

    if device.type == "cuda" and world()[1] > 1:
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def gather_pieces(mine: dict, count: int) -> list:
    """Every process's ``{index: item}`` merged into the list of ``count`` items (each index in one piece).

    One process: ``mine`` must already hold every index. Several: an ``all_gather_object`` over the
    group joined by :func:`join` (items are pickled; fine for the few MB of a TSDF-Def volume).
    """
    if world()[1] > 1:
        import torch.distributed as dist

        pieces: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(pieces, mine)
        merged: dict = {}
        for piece in pieces:
            merged.update(piece)
    else:
        merged = mine
    missing = sorted(set(range(count)) - set(merged))
    if missing:
        raise RuntimeError(f"gather_pieces: no process made items {missing[:5]}")
    return [merged[i] for i in range(count)]


def barrier() -> None:
    """Wait until every process of the group reaches this point (nothing with one process)."""
    if world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()
