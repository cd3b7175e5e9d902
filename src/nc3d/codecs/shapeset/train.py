"""Fitting the shared auto-decoder and the per-shape features to a set of TSDF-Def volumes.

Loss (NeCGS Eq. 3): ``L1 + λ1 · L1 over near-surface cells (|TSDF| < 1) + λ2 · (1 − SSIM-3D)``
with λ1 = 5, λ2 = 10, on all four channels. Features and weights are fake-quantized at ``bits``
throughout (straight-through gradients), so what is trained is what is stored. Adam at ``lr``
with a linear warm-up over the first 5% of the steps, then cosine decay.

On a CPU the finest level costs most, so each step computes only a ``crop³`` box of each
volume (``crop = 0``: the whole grid): three times in four centred on a random near-surface
cell, otherwise anywhere (the far field must stay empty too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ...nn.quant import fake_quantize
from ...nn.ssim3d import ssim3d
from ..implicit.fit import _lr_at
from .model import Architecture, AutoDecoder

__all__ = ["TrainSettings", "train_auto_decoder", "decode_volumes"]


@dataclass(frozen=True)
class TrainSettings:
    """Training settings (see the module docstring)."""

    epochs: int = 40
    lr: float = 1e-3
    batch_size: int = 1
    crop: int = 32
    bits: int = 8
    near_weight: float = 5.0
    ssim_weight: float = 10.0
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def volume_loss(pred, target, near_weight: float, ssim_weight: float):
    """NeCGS Eq. 3 for ``(n, 4, K, K, K)`` tensors; the near-surface mask comes from the target TSDF."""
    diff = (pred - target).abs()
    near = (target[:, :1].abs() < 1).to(diff.dtype)
    near_l1 = (diff * near).sum() / (near.sum() * diff.shape[1]).clamp_min(1.0)
    return diff.mean() + near_weight * near_l1 + ssim_weight * (1 - ssim3d(pred, target))


def train_auto_decoder(volumes: np.ndarray, arch: Architecture, settings: TrainSettings, progress=None):
    """Fit features and decoder.

    Parameters
    ----------
    volumes : (n, 4, K, K, K) float32
        TSDF-Def volumes of the set (:func:`nc3d.geometry.tsdf.prepare_tsdf_def`).
    arch : Architecture
    settings : TrainSettings
    progress : callable, optional
        ``progress("training", epoch, epochs)``.

    Returns
    -------
    model : AutoDecoder (on the CPU, float weights)
    features : (n, C, K', K', K') float32 ndarray (before quantization)
    """
    import torch

    from ...nn.device import resolve_device, torch_threads

    device = resolve_device(settings.device)
    with torch_threads(settings.threads):
        torch.manual_seed(settings.seed)
        n = len(volumes)
        model = AutoDecoder(arch, settings.seed).to(device)
        gen = torch.Generator().manual_seed(settings.seed)
        features = torch.nn.Parameter((torch.randn((n, *arch.feature_shape), generator=gen) * 0.1).to(device))
        target = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))
        opt = torch.optim.Adam([*model.parameters(), features], lr=settings.lr)
        batch = min(settings.batch_size, n)
        per_epoch = -(-n // batch)
        total = settings.epochs * per_epoch
        warmup = max(1, total // 20)
        rng = np.random.default_rng(settings.seed)
        k = arch.resolution
        size = settings.crop if 0 < settings.crop < k else 0
        near = [np.flatnonzero(np.abs(v[0]) < 1) for v in volumes] if size else None
        step = 0
        if progress:
            progress("training", 0, settings.epochs)
        for epoch in range(settings.epochs):
            order = rng.permutation(n)
            for start in range(0, n, batch):
                idx = torch.from_numpy(order[start:start + batch])
                for g in opt.param_groups:
                    g["lr"] = _lr_at(step, total, settings.lr, warmup)
                box, tgt = None, target[idx]
                if size:
                    box = _pick_crop(rng, near[int(idx[0])], k, size)
                    (z, y, x), _ = box
                    tgt = tgt[..., z:z + size, y:y + size, x:x + size]
                pred = model(fake_quantize(features, settings.bits)[idx.to(device)], settings.bits, crop=box)
                loss = volume_loss(pred, tgt.to(device), settings.near_weight, settings.ssim_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
            if progress:
                progress("training", epoch + 1, settings.epochs)
        return model.cpu().eval(), features.detach().cpu().numpy()


def _pick_crop(rng, near: np.ndarray, k: int, size: int) -> tuple[tuple[int, int, int], int]:
    """An even ``size³`` box inside the ``k³`` grid, usually centred on one of the ``near`` cells."""
    if len(near) and rng.random() < 0.75:
        centre = np.array(np.unravel_index(near[rng.integers(len(near))], (k, k, k)))
    else:
        centre = rng.integers(0, k, 3)
    corner = np.clip(centre - size // 2, 0, k - size) // 2 * 2
    return (int(corner[0]), int(corner[1]), int(corner[2])), size


def decode_volumes(model, features: np.ndarray) -> np.ndarray:
    """``(n, 4, K, K, K)`` float32 volumes from ``(n, C, K', K', K')`` features (weights as given)."""
    import torch

    with torch.no_grad():
        out = [model(torch.from_numpy(np.ascontiguousarray(f[None], dtype=np.float32)))[0].numpy() for f in features]
    return np.stack(out) if out else np.zeros((0, 4, *(model.arch.resolution,) * 3), np.float32)
