"""Fitting the shared auto-decoder and the per-shape features to a set of TSDF-Def volumes.

Loss (NeCGS Eq. 3): ``L1 + λ1 · L1 over near-surface cells (|TSDF| < 1) + λ2 · (1 − SSIM-3D)``
with λ1 = 5, λ2 = 10, on all four channels. Adam with a linear warm-up over the first 5% of the
steps, then cosine decay; the per-shape features get their own, higher learning rate
(``feature_lr``): each feature is updated only when its shape is in the batch, i.e. once every
``n / batch`` steps, and would otherwise lag far behind the shared decoder. Training is counted in
optimizer steps; the codec gives a larger set more of them (:func:`~.codec.training_steps`: a
feature learns only when its shape is drawn, and a larger feature learning rate does not make up
for fewer draws).
Features and weights are fake-quantized at ``bits`` (straight-through gradients) over the last
``1 - qat_start`` of the steps, so what is stored is what was fine-tuned; quantizing from the first
step only adds noise while the network is still far from any solution.

Under ``torchrun`` (:mod:`nc3d.nn.ddp`) every process draws its own batches and crops and
DistributedDataParallel averages the gradients, so ``N`` processes train on ``N × batch_size``
crops per step; process 0's draws are those of a single-process run.

On a CPU the finest level costs most, so each step computes only a ``crop³`` box of each
volume in the batch (``crop = 0``: the whole grid). Most volumes are almost all far field (on
the 38 shared meshes at K = 64, 11% of the cells are within the truncation band), so a box
placed uniformly would mostly teach "+1 everywhere": a ``surface_crops`` share of the boxes is
centred on a random near-surface cell, the rest are placed anywhere (the far field must stay
empty too). With ``surface_power = p > 0`` (default 0.5) a batch's shapes are drawn in
proportion to (near-surface cells)^p, so that a shape with much surface (a gear, a lattice) gets
more of the crops than a sphere; ``p = 0`` draws every shape equally often (once per pass).

Defaults, measured on the 38 shared meshes as one set (BENCHMARKS.md, shapeset section): the
near-surface weight λ1 = 20 rather than the paper's 5 (at 16,000 steps, width 16: mean F@0.01
0.863 against 0.832 with the 16-channel fine levels, 0.785 against 0.760 with 8; λ1 = 50 gave
0.777, λ1 = 20 with λ2 = 3 instead of 10 gave 0.776); 32,000 steps (mean F@0.01 0.881 at 110×
with the default :class:`~.model.Architecture`; 0.863 at 16,000 steps); ``surface_power`` 0.5
(0.819 vs 0.813 with the old 8-channel fine levels: within one seed's noise). A higher learning
rate does not shorten training: 3·10⁻³ gave 0.596 against 0.785 at 16,000 steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...nn.quant import fake_quantize
from ...nn.schedule import warmup_cosine_lr
from ...nn.ssim3d import ssim3d
from .model import Architecture, AutoDecoder

__all__ = [
    "TrainSettings",
    "train_auto_decoder",
    "decode_volumes",
    "sign_error",
    "pick_crop",
    "draw_batches",
    "initial_features",
    "refit_features",
    "closest_features",
]


@dataclass(frozen=True)
class TrainSettings:
    """Training settings (see the module docstring)."""

    steps: int = 32000
    lr: float = 1e-3
    feature_lr: float = 2e-2
    batch_size: int = 4
    crop: int = 16
    surface_crops: float = 0.9
    surface_power: float = 0.5
    qat_start: float = 0.8
    bits: int = 8
    near_weight: float = 20.0
    ssim_weight: float = 10.0
    feature_init: str = "tsdf"
    feature_scale: float = 0.1
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def volume_loss(pred, target, near_weight: float, ssim_weight: float):
    """NeCGS Eq. 3 for ``(n, 4, K, K, K)`` tensors, the mean of each volume's loss.

    The near-surface mask comes from the target TSDF; the near-surface L1 is each volume's own
    mean over its near cells (0 for a volume with none).
    """
    diff = (pred - target).abs()
    near = (target[:, :1].abs() < 1).to(diff.dtype)
    dims = tuple(range(1, diff.ndim))
    near_l1 = ((diff * near).sum(dims) / (near.sum(dims) * diff.shape[1]).clamp_min(1.0)).mean()
    return diff.mean() + near_weight * near_l1 + ssim_weight * (1 - ssim3d(pred, target))


def sign_error(pred: np.ndarray, target: np.ndarray) -> float:
    """Share of the near-surface cells (``|target TSDF| < 1``) whose decoded TSDF has the wrong sign.

    Parameters
    ----------
    pred, target : (n, 4, K, K, K) float32
        Decoded and target volumes.
    """
    p, t = np.asarray(pred)[:, 0], np.asarray(target)[:, 0]
    near = np.abs(t) < 1
    return float(((p >= 0) != (t >= 0))[near].mean()) if near.any() else 0.0


def train_auto_decoder(
    volumes: np.ndarray, arch: Architecture, settings: TrainSettings, progress=None, on_step=None
):
    """Fit features and decoder.

    Parameters
    ----------
    volumes : (n, 4, K, K, K) float32
        TSDF-Def volumes of the set (:func:`nc3d.geometry.tsdf.prepare_tsdf_def`); a writable
        ``numpy.memmap`` is used in place (crops are read from it, the set is never copied).
    arch : Architecture
    settings : TrainSettings
    progress : callable, optional
        ``progress("training", step, steps)``, every 1% of the steps.
    on_step : callable, optional
        ``on_step(step, loss, model, features)`` after every step (diagnostics).

    Returns
    -------
    model : AutoDecoder (on the CPU, float weights)
    features : (n, C, K', K', K') float32 ndarray (before quantization)
    """
    import torch

    from ...nn import ddp
    from ...nn.device import resolve_device, torch_threads

    device = resolve_device(settings.device)
    rank, processes = ddp.join(device)
    device = ddp.local_device(device)
    if rank:
        progress = None
    with torch_threads(settings.threads):
        torch.manual_seed(settings.seed)
        n = len(volumes)
        gen = torch.Generator().manual_seed(settings.seed)
        net = _SetNet(AutoDecoder(arch, settings.seed), initial_features(volumes, arch, settings, gen)).to(
            device
        )
        step_net: torch.nn.Module = net
        if processes > 1:  # the same start everywhere; DDP averages the gradients of every backward
            step_net = torch.nn.parallel.DistributedDataParallel(net)
        target = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))
        opt = torch.optim.Adam(
            [
                {"params": list(net.decoder.parameters()), "peak": settings.lr},
                {"params": [net.features], "peak": settings.feature_lr},
            ]
        )
        batch, total = min(settings.batch_size, n), settings.steps
        warmup = max(1, total // 20)
        qat_from = int(round(settings.qat_start * total))
        rng = np.random.default_rng(
            settings.seed if rank == 0 else [settings.seed, rank]
        )  # own batches, crops
        k = arch.resolution
        size = settings.crop if 0 < settings.crop < k else 0
        # near-surface cells per shape, only used with crops
        near = [np.flatnonzero(np.abs(v[0]) < 1).astype(np.int32) for v in volumes] if size else []
        weights = None
        if size and settings.surface_power > 0:  # shapes with more surface are drawn more often
            weights = np.array([len(c) for c in near], np.float64)
        batches = draw_batches(rng, n, batch, weights, settings.surface_power)
        every = max(1, total // 100)
        if progress:
            progress("training", 0, total)
        for step in range(total):
            idx = next(batches)
            for g in opt.param_groups:
                g["lr"] = warmup_cosine_lr(step, total, g["peak"], warmup)
            bits = settings.bits if step >= qat_from else None
            if size:
                boxes = [pick_crop(rng, near[int(i)], k, size, settings.surface_crops)[0] for i in idx]
                tgt = torch.stack(
                    [
                        target[int(i), :, z : z + size, y : y + size, x : x + size]
                        for i, (z, y, x) in zip(idx, boxes)
                    ]
                )
            else:
                boxes, tgt = None, target[torch.from_numpy(idx)]
            pred = step_net(torch.from_numpy(idx), bits, boxes, size)
            loss = volume_loss(pred, tgt.to(device), settings.near_weight, settings.ssim_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if on_step:
                on_step(step, float(loss.detach()), net.decoder, net.features)
            if progress and ((step + 1) % every == 0 or step + 1 == total):
                progress("training", step + 1, total)
        return net.decoder.cpu().eval(), net.features.detach().cpu().numpy()


class _SetNet(torch.nn.Module):
    """The shared decoder and every shape's feature as one module (what DDP wraps)."""

    def __init__(self, decoder, features):
        import torch

        super().__init__()
        self.decoder = decoder
        self.features = torch.nn.Parameter(features)

    def forward(self, idx, bits, boxes, size):
        """Volumes of shapes ``idx`` (``size³`` boxes at ``boxes`` if ``size``) fake-quantized at ``bits``."""
        feats = fake_quantize(self.features, bits) if bits else self.features
        return self.decoder(feats[idx.to(feats.device)], bits, crop=(boxes, size) if size else None)


def draw_batches(rng, n: int, batch: int, surface=None, power: float = 0.0):
    """Endless ``(batch,)`` int arrays of distinct shape indices in ``[0, n)``.

    Without ``surface`` (or ``power = 0``): each shape once per pass over the set, in a fresh
    order each pass. With ``surface (n,)`` (near-surface cells per shape) and ``power > 0``: each
    batch drawn without replacement with probabilities ∝ ``max(surface, 1) ** power``.
    """
    if surface is not None and power > 0:
        p = np.maximum(np.asarray(surface, np.float64), 1.0) ** power
        p /= p.sum()
        while True:
            yield rng.choice(n, batch, replace=False, p=p)
    order, pos = rng.permutation(n), 0
    while True:
        if pos + batch > n:
            order, pos = rng.permutation(n), 0
        yield order[pos : pos + batch]
        pos += batch


def initial_features(volumes: np.ndarray, arch: Architecture, settings: TrainSettings, gen):
    """``(n, C, K', K', K')`` starting features: noise, or each shape's coarse TSDF plus noise.

    ``feature_init = "tsdf"``: the TSDF channel averaged down to ``(f·K')³`` cells and folded
    into the first ``f³`` feature channels (the inverse of the 3-D pixel shuffle), ``f`` the
    largest power of two with ``f³ ≤ C``; a head start that already tells the shapes apart and
    says where each one is solid. The other channels, and all of them with ``"noise"``, are
    Gaussian noise; everything is scaled by ``feature_scale``.
    """
    import torch
    import torch.nn.functional as F

    if settings.feature_init not in ("noise", "tsdf"):
        raise ValueError(f"feature_init must be 'noise' or 'tsdf', got {settings.feature_init!r}")
    n, (c, k, _, _) = len(volumes), arch.feature_shape
    feats = torch.randn((n, c, k, k, k), generator=gen)
    f = 1
    while (2 * f) ** 3 <= c and 2 * f * k <= arch.resolution:
        f *= 2
    if settings.feature_init == "tsdf" and n:
        # a chunk of shapes at a time: volumes may be a memory map of thousands
        coarse = torch.cat(
            [
                F.adaptive_avg_pool3d(
                    torch.from_numpy(np.ascontiguousarray(volumes[i : i + 64, :1], np.float32)), f * k
                )
                for i in range(0, n, 64)
            ]
        )
        folded = coarse.reshape(n, f * k, f * k, f * k)[:, None]
        folded = (
            folded.reshape(n, 1, k, f, k, f, k, f).permute(0, 1, 3, 5, 7, 2, 4, 6).reshape(n, f**3, k, k, k)
        )
        feats[:, : f**3] = folded
    return feats * settings.feature_scale


def pick_crop(
    rng, near: np.ndarray, k: int, size: int, surface: float = 0.9
) -> tuple[tuple[int, int, int], int]:
    """An even ``size³`` box inside the ``k³`` grid.

    With probability ``surface`` (and when there are any) centred on one of the ``near`` cells
    (flat indices into the ``k³`` grid), otherwise anywhere.
    """
    if len(near) and rng.random() < surface:
        centre = np.array(np.unravel_index(near[rng.integers(len(near))], (k, k, k)))
    else:
        centre = rng.integers(0, k, 3)
    corner = np.clip(centre - size // 2, 0, k - size) // 2 * 2
    return (int(corner[0]), int(corner[1]), int(corner[2])), size


def decode_volumes(model, features: np.ndarray) -> np.ndarray:
    """``(n, 4, K, K, K)`` float32 volumes from ``(n, C, K', K', K')`` features (weights as given)."""
    import torch

    with torch.no_grad():
        out = [
            model(torch.from_numpy(np.ascontiguousarray(f[None], dtype=np.float32)))[0].numpy()
            for f in features
        ]
    return np.stack(out) if out else np.zeros((0, 4, *(model.arch.resolution,) * 3), np.float32)


def closest_features(
    model, candidates: np.ndarray, volumes: np.ndarray, *, most: int = 256, seed: int = 0
) -> np.ndarray:
    """For each target volume, the candidate feature whose decoded volume is closest to it.

    Where a refit starts (a new shape added to a trained set, or a shape of the set that decoded
    to nothing): the decoder was trained on the set's own features, and a feature folded from a
    new shape's coarse TSDF is, for it, out of distribution — on the 10 held-back collection
    shapes added to a 200-shape set, 6 of 10 came back empty from that start and none from the
    closest stored feature (mean F@0.01 0.58, set 0.60). "Closest": the mean absolute difference
    of the TSDF channels clipped to ±1 (the truncation band: sign and near-surface distance).

    Parameters
    ----------
    model : AutoDecoder
        The stored (dequantized) decoder.
    candidates : (m, C, K', K', K') float32
        Features to choose from (at most ``most`` of them, drawn with ``seed``, are decoded).
    volumes : (n, 4, K, K, K) float32
        Target TSDF-Def volumes.

    Returns
    -------
    (n, C, K', K', K') float32
        A copy of the chosen candidate for each target.
    """
    if len(candidates) == 0:
        raise ValueError("closest_features: no candidates")
    pool = np.arange(len(candidates))
    if len(pool) > most:
        pool = np.sort(np.random.default_rng(seed).choice(pool, most, replace=False))
    target = np.clip(np.stack([np.asarray(v[0], np.float32) for v in volumes]), -1, 1)
    best, best_d = np.zeros(len(target), np.int64), np.full(len(target), np.inf)
    for i in range(0, len(pool), 8):  # a few decoded volumes at a time: each is 4·K³ floats
        chunk = pool[i : i + 8]
        decoded = np.clip(decode_volumes(model, candidates[chunk])[:, 0], -1, 1)
        d = np.stack([np.abs(target - one).mean(axis=(1, 2, 3)) for one in decoded], 1)  # (n, chunk)
        j = d.argmin(1)
        closer = d[np.arange(len(target)), j] < best_d
        best[closer], best_d[closer] = chunk[j[closer]], d[np.arange(len(target)), j][closer]
    return np.array(candidates[best], np.float32)


def refit_features(
    model,
    volumes: np.ndarray,
    features: np.ndarray,
    step: float,
    bits: int,
    *,
    steps: int = 200,
    lr: float = 2e-2,
    near_weight: float = TrainSettings.near_weight,
    ssim_weight: float = TrainSettings.ssim_weight,
    threads: int = 1,
) -> np.ndarray:
    """Fit the features of some shapes to their volumes with the decoder frozen.

    What NeCGS's later version does to add shapes to a trained set, and what the encoder does for
    a shape that decodes empty or far worse than the rest. The features are fake-quantized with
    the file's fixed ``step`` (straight-through), so the stored integers are what was fitted.

    Parameters
    ----------
    model : AutoDecoder
        With the stored (dequantized) weights; not changed.
    volumes : (n, 4, K, K, K) float32
        Target TSDF-Def volumes.
    features : (n, C, K', K', K') float32
        Starting features.
    step : float
        Quantization step of the file's features; values are clipped to ``±quant_levels(bits)``
        steps.
    bits : int
    steps, lr : int, float
        Adam steps (warm-up then cosine) and peak learning rate.

    Returns
    -------
    (n, C, K', K', K') float32
        The fitted features, on the quantization grid (``step`` × integers).
    """
    from ...nn.device import torch_threads
    from ...nn.quant import quant_levels

    levels = quant_levels(bits)
    if len(features) == 0:
        return np.asarray(features, np.float32)
    with torch_threads(threads):
        for p in model.parameters():
            p.requires_grad_(False)
        target = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))
        f = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).clone())
        opt = torch.optim.Adam([f], lr=lr)

        def on_grid(x):
            return torch.clamp(torch.round(x / step), -levels, levels) * step

        for i in range(steps):
            for g in opt.param_groups:
                g["lr"] = warmup_cosine_lr(i, steps, lr, max(1, steps // 20))
            fq = f + (on_grid(f) - f).detach()
            loss = volume_loss(model(fq), target, near_weight, ssim_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for p in model.parameters():
            p.requires_grad_(True)
        with torch.no_grad():
            return on_grid(f).numpy().astype(np.float32)
