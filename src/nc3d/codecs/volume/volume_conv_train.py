"""Training the ``volume-conv`` codec's transform on a set of volumes, with augmentation.

Each step draws a batch of random crops — volumes picked uniformly (so one big scan does not
drown the small ones), then a random axis permutation, random flips and a random intensity
window (``clip((x - a) / (b - a), 0, 1)``, sometimes with a gamma) — and a random quality level
per crop, and minimizes ``bits per voxel + λ_level · MSE`` (values in [0, 1]).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...files import check_output
from .volume_conv_model import Architecture, make_net

__all__ = [
    "TrainSettings",
    "normalize_volume",
    "load_training_volumes",
    "train_transform",
    "train_model_file",
]


@dataclass(frozen=True)
class TrainSettings:
    """How to train; defaults fit a few minutes of one CPU core."""

    steps: int = 1500
    batch: int = 6
    crop: int = 40
    lr: float = 2e-3
    seed: int = 0
    threads: int = 1
    device: str = "cpu"


def normalize_volume(volume: np.ndarray) -> np.ndarray:
    """Values mapped linearly onto [0, 1] by the volume's own min and max; (z, y, x) float32."""
    from ..volume_header import normalized

    v = np.asarray(volume)
    return normalized(v, float(v.min()), float(v.max()))


def load_training_volumes(paths, crop: int) -> list[np.ndarray]:
    """Normalized volumes from ``.npy`` paths (or a folder of them), edge-padded to ≥ ``crop``."""
    from ...io import load_volume

    files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        p = Path(p)
        files += sorted(p.rglob("*.npy")) if p.is_dir() else [p]
    if not files:
        raise InputError(f"no .npy volumes found in {paths}")
    out = []
    for f in files:
        v = normalize_volume(load_volume(f))
        pad = [(0, max(0, crop - s)) for s in v.shape]
        out.append(np.pad(v, pad, mode="edge"))
    return out


def _batch(volumes, rng: np.random.Generator, batch: int, crop: int) -> np.ndarray:
    """(batch, 1, crop, crop, crop) float32 augmented crops."""
    items = []
    for k in rng.integers(len(volumes), size=batch):  # over batch items, not voxels
        v = volumes[k]
        start = [int(rng.integers(s - crop + 1)) for s in v.shape]
        x = v[start[0] : start[0] + crop, start[1] : start[1] + crop, start[2] : start[2] + crop]
        x = np.transpose(x, rng.permutation(3))
        flips = tuple(i for i in range(3) if rng.random() < 0.5)
        if flips:
            x = np.flip(x, flips)
        if rng.random() < 0.5:  # intensity window
            a = rng.uniform(0.0, 0.3)
            b = rng.uniform(max(a + 0.2, 0.6), 1.0)
            x = np.clip((x - a) / (b - a), 0.0, 1.0)
        if rng.random() < 0.3:
            x = x ** rng.uniform(0.5, 2.0)
        if rng.random() < 0.2:
            x = 1.0 - x
        items.append(np.ascontiguousarray(x, dtype=np.float32))
    return np.stack(items)[:, None]


def train_transform(
    volumes,
    arch: Architecture = Architecture(),
    settings: TrainSettings = TrainSettings(),
    *,
    net=None,
    progress=None,
):
    """Train the transform network on normalized volumes.

    Parameters
    ----------
    volumes : list of (z, y, x) float32 in [0, 1]
        Each at least ``settings.crop`` voxels along every axis (see :func:`load_training_volumes`).
    arch : Architecture
    settings : TrainSettings
    net : torch module, optional
        Continue training this network instead of a fresh one.
    progress : callable(phase, done, total), optional

    Returns
    -------
    net : the trained network, in eval mode, on the CPU
    log : list of (step, loss, bits per voxel, PSNR) every 50 steps
    """
    import torch

    from ...nn.device import resolve_device, torch_threads

    if settings.crop % 8:
        raise InputError(f"crop must be a multiple of 8, got {settings.crop}")
    for i, v in enumerate(volumes):
        if min(v.shape) < settings.crop:
            raise InputError(
                f"training volume {i} has shape {v.shape}, smaller than the crop {settings.crop}"
            )
    with torch_threads(settings.threads):
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        device = resolve_device(settings.device)
        net = (net or make_net(arch)).to(device).train()
        lambdas = torch.tensor(net.arch.lambdas, dtype=torch.float32, device=device)
        opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
        voxels = settings.crop**3
        log = []
        for step in range(settings.steps):
            lr = settings.lr * 0.5 * (1 + math.cos(math.pi * step / settings.steps))
            for group in opt.param_groups:
                group["lr"] = lr
            x = torch.from_numpy(_batch(volumes, rng, settings.batch, settings.crop)).to(device)
            levels = torch.from_numpy(rng.integers(net.arch.levels, size=settings.batch)).to(device)
            x_hat, bits = net(x, levels)
            mse = ((x_hat - x) ** 2).mean(dim=(1, 2, 3, 4))
            bpv = bits / voxels
            loss = (bpv + lambdas[levels] * mse).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            if step % 50 == 0 or step == settings.steps - 1:
                psnr = float((-10 * torch.log10(mse.detach().clamp_min(1e-12))).mean())
                log.append((step, float(loss.detach()), float(bpv.detach().mean()), psnr))
            if progress is not None:
                progress("training", step + 1, settings.steps)
        return net.cpu().eval(), log


def train_model_file(
    data,
    output,
    *,
    exclude=(),
    arch: Architecture = Architecture(),
    settings: TrainSettings = TrainSettings(),
    force: bool = False,
    progress=None,
) -> dict:
    """Train on the ``.npy`` volumes under ``data`` (minus stems in ``exclude``) and write a model file.

    Returns
    -------
    dict
        ``output``, ``bytes``, ``volumes`` (stems used), ``settings``, ``train_seconds``, ``log``.
    """
    import time

    from .volume_conv_model import save_model

    output = Path(output)
    check_output(output, force)
    root = Path(data)
    files = sorted(
        p for p in (root.rglob("*.npy") if root.is_dir() else [root]) if p.stem not in set(exclude)
    )
    volumes = load_training_volumes(files, settings.crop)
    t0 = time.perf_counter()
    net, log = train_transform(volumes, arch, settings, progress=progress)
    info = {
        "volumes": [p.stem for p in files],
        "settings": settings.__dict__,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    save_model(net, output, info=info)
    return {"output": str(output), "bytes": output.stat().st_size, **info, "log": log}
