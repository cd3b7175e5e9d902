"""Fitting one mesh's signed distance field with a small MLP (Davies et al. §2), on CPU or GPU.

The recipe (defaults chosen on the shared meshes, 2 cores, by the decoded mesh measured two-sided:
``benchmarks/implicit_screen.py``; the earlier surface-error tuning is in docs/history.md):
importance-distributed samples around the surface with exact winding-number-signed distances,
L1 loss, Adam with a short warm-up and cosine decay, then hidden units rescaled to balanced
ranges and a short quantization-aware fine-tune so that the weights survive rounding to
``bits`` bits, keeping the snapshot with the lowest loss on held-out samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from ...errors import InputError
from ...geometry.sampling import sample_importance, sample_near_surface, sample_surface
from ...mesh import Mesh
from ...nn.device import resolve_device, torch_threads
from ...nn.mlp import Architecture, SdfMLP
from ...nn.quant import fake_quantize
from ...nn.schedule import warmup_cosine_lr

__all__ = [
    "FitSettings",
    "fit_sdf",
    "distill_quantized",
    "surface_error",
    "decoded_quality",
    "evaluate_mlp",
    "zero_set_mesh",
    "zero_set_points",
    "QUALITY_RESOLUTION",
]

#: The marching-cubes grid of the decode the encoder measures (what ``nc3d decompress`` gives).
QUALITY_RESOLUTION = 256
#: Surface samples per mesh for that measurement.
QUALITY_SAMPLES = 20_000


@dataclass(frozen=True)
class FitSettings:
    """How to train; every field is a ``nc3d compress`` option of the implicit codec.

    Attributes
    ----------
    samples : int
        Training points (drawn once).
    epochs : int
        Passes over the training points (float phase).
    batch_size : int
        Points per step.
    lr : float
        Peak Adam learning rate (cosine decay to ``lr / 100``).
    beta : float
        Concentration of the importance distribution (1/normalized length). 100 by default,
        not the paper's 30: on spot (2 cores, same budget) β = 30 / 100 / 250 / 500 gave surface
        errors 0.0045 / 0.0032 / 0.0013 / 0.0002 but decoded Chamfer-p2s 0.0056 / 0.0061 /
        0.016 / 0.024 — past ~100 the fit hugs the surface and loses the field around it
        (spurious sheets), which the surface error cannot see. See BENCHMARKS.md.
    sampler : str
        ``"surface"``: the importance distribution drawn directly (surface point + Laplace
        offset along the normal, plus 10% uniform); ``"pool"``: Davies' rejection from a uniform
        pool 10× larger. Same target distribution; "surface" is ~10× cheaper to draw.
    init : str
        ``"default"``: PyTorch's initialization; ``"sphere"``: the network starts as the signed
        distance of a sphere (geometric initialization, Atzmon & Lipman 2020).
    qat_epochs : float
        Quantization-aware fine-tuning passes (fraction allowed).
    bits : int
        Weight precision for the fake quantization (the stored precision).
    seed : int
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    threads : int
        CPU threads for training. One by default: a 7.5k-parameter network gains only ~40%
        from a second thread on an idle machine, and PyTorch's spinning worker threads slow
        down 5–100× as soon as another process competes for the cores (measured on 2 cores).
        Parallelism comes from one process per core instead (``nc3d compress DIR/``).
    """

    samples: int = 500_000
    epochs: int = 30
    batch_size: int = 4096
    lr: float = 2e-3
    beta: float = 100.0
    sampler: str = "surface"
    init: str = "default"
    qat_epochs: float = 4.0
    bits: int = 8
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def draw_training_samples(mesh: Mesh, settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    """Training points ``(n, 3)`` and their signed distances ``(n,)`` (normalized frame)."""
    if settings.sampler == "surface":
        return sample_near_surface(mesh, settings.samples, beta=settings.beta, seed=settings.seed)
    if settings.sampler == "pool":
        return sample_importance(mesh, settings.samples, beta=settings.beta, seed=settings.seed)
    raise InputError(f"sampler must be 'surface' or 'pool', got {settings.sampler!r}")


def _train(model, x, y, *, steps, batch, peak_lr, bits, generator, on_step, held_out=None, check_every=25):
    """Adam on the L1 loss; with ``bits``, on the fake-quantized weights (QAT).

    With ``held_out = (x_val, y_val)``, the weights are checked every ``check_every`` steps
    (quantized, when ``bits``) and the snapshot with the lowest held-out L1 is kept. The end
    point of a QAT run is noisy — rounding makes the loss jump from step to step — and over
    6 meshes × 2 seeds the last snapshot's stored surface error was up to 20% worse than the
    best one's; the held-out loss picked the best snapshot (or one within 3%) every time
    (correlation 0.84–0.99 with the surface error). It is the training objective on points the
    training never saw, not the benchmark's metric.
    """
    import torch

    params = model.tensors()
    opt = torch.optim.Adam(params, lr=peak_lr)
    n = len(x)
    warmup = min(200, steps // 10) if bits is None else 0
    perm = torch.randperm(n, generator=generator, device="cpu").to(x.device)
    cursor = 0
    best = (float("inf"), None)
    for step in range(steps):
        if cursor + batch > n:
            perm = torch.randperm(n, generator=generator, device="cpu").to(x.device)
            cursor = 0
        idx = perm[cursor : cursor + batch]
        cursor += batch
        for g in opt.param_groups:
            g["lr"] = warmup_cosine_lr(step, steps, peak_lr, warmup)
        qparams = None if bits is None else [fake_quantize(p, bits) for p in params]
        loss = (model(x[idx], qparams) - y[idx]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        on_step(float(loss.detach()) if step % 50 == 0 or step == steps - 1 else None)
        if held_out is not None and (step % check_every == check_every - 1 or step == steps - 1):
            with torch.no_grad():
                qparams = None if bits is None else [fake_quantize(p, bits) for p in params]
                val = float((model(held_out[0], qparams) - held_out[1]).abs().mean())
                if val < best[0]:
                    best = (val, [p.detach().clone() for p in params])
    if held_out is not None and best[1] is not None:
        with torch.no_grad():
            for p, b in zip(params, best[1]):
                p.copy_(b)


def fit_sdf(
    mesh: Mesh,
    arch: Architecture = Architecture(),
    settings: FitSettings = FitSettings(),
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[SdfMLP, dict]:
    """Fit an :class:`SdfMLP` to a mesh that is already in the normalized frame.

    Parameters
    ----------
    mesh : Mesh
        The shape, normalized (see :mod:`nc3d.geometry.normalize`).
    arch : Architecture
    settings : FitSettings
    progress : callable, optional
        ``progress(phase, done, total)`` called as training advances.

    Returns
    -------
    model : SdfMLP
        Trained (on the CPU, float32, eval mode), weights fine-tuned for ``settings.bits``.
    info : dict
        Seconds per phase and the final training loss.
    """
    device = resolve_device(settings.device)
    with torch_threads(settings.threads):
        return _fit(mesh, arch, settings, device, progress)


def _fit(mesh, arch, settings, device, progress):
    import torch

    torch.manual_seed(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    t0 = time.perf_counter()
    n_val = min(20_000, max(500, settings.samples // 25))  # held out, to pick the QAT snapshot
    points, sdf = draw_training_samples(mesh, replace(settings, samples=settings.samples + n_val))
    t_sample = time.perf_counter() - t0

    order = torch.randperm(len(points), generator=gen)  # the uniform share comes last: mix first
    x_all = torch.as_tensor(points, dtype=torch.float32)[order].to(device)
    y_all = torch.as_tensor(np.clip(sdf, -0.999, 0.999), dtype=torch.float32)[order].to(device)
    x, y, held_out = x_all[n_val:], y_all[n_val:], (x_all[:n_val], y_all[:n_val])
    model = SdfMLP(arch)
    if settings.init == "sphere":
        model.geometric_init()
    model = model.to(device)
    steps = max(1, settings.epochs * len(x) // settings.batch_size)
    qat_steps = int(settings.qat_epochs * len(x) / settings.batch_size)
    total = steps + qat_steps
    state = {"done": 0, "loss": float("nan")}

    def on_step(loss):
        state["done"] += 1
        if loss is not None:
            state["loss"] = loss
        if progress is not None and (state["done"] % 20 == 0 or state["done"] == total):
            progress("training", state["done"], total)

    t1 = time.perf_counter()
    model.train()
    _train(
        model,
        x,
        y,
        steps=steps,
        batch=settings.batch_size,
        peak_lr=settings.lr,
        bits=None,
        generator=gen,
        on_step=on_step,
    )
    model.equalize_ranges()  # same function, ranges that survive one step per tensor
    if qat_steps:
        _train(
            model,
            x,
            y,
            steps=qat_steps,
            batch=settings.batch_size,
            peak_lr=settings.lr / 20,
            bits=settings.bits,
            generator=gen,
            on_step=on_step,
            held_out=held_out,
        )
    model = model.cpu().eval()
    info = {
        "sample_seconds": round(t_sample, 3),
        "train_seconds": round(time.perf_counter() - t1, 3),
        "steps": total,
        "final_loss": state["loss"],
        "device": str(device),
    }
    return model, info


def evaluate_mlp(model: SdfMLP, points: np.ndarray, *, chunk: int = 32768) -> np.ndarray:
    """``model`` at ``points (n, 3)`` (normalized frame) → ``(n,) float32``, in chunks (cache-friendly)."""
    import torch

    out = np.empty(len(points), dtype=np.float32)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for s in range(0, len(points), chunk):
            xb = torch.as_tensor(np.asarray(points[s : s + chunk], dtype=np.float32), device=device)
            out[s : s + chunk] = model(xb).cpu().numpy()
    return out


def surface_error(model: SdfMLP, mesh: Mesh, *, n: int = 100_000, seed: int = 12345) -> float:
    """Davies' surface error: mean |f(p)| over ``n`` area-uniform points p on the (normalized) mesh."""
    points = sample_surface(mesh, n, seed=seed)[0]
    return float(np.abs(evaluate_mlp(model, points)).mean())


def decoded_quality(
    model: SdfMLP, mesh: Mesh, *, resolution: int = QUALITY_RESOLUTION, samples: int = QUALITY_SAMPLES
) -> dict:
    """What the user gets back, two-sided: the decoded mesh against the original.

    The zero level set of ``model`` is meshed at ``resolution³`` (as :meth:`ImplicitShape.mesh`
    does) and compared with ``mesh`` (both in the normalized frame) by
    :func:`nc3d.metrics.compare_meshes` with ``samples`` seeded points per surface. Unlike the
    surface error, this sees surfaces that should not be there (sheets, blobs) as well as parts
    that are missing.

    Returns
    -------
    dict
        ``f_score_0.01`` (share of points within 0.01 of the other surface, both ways: F-score),
        ``chamfer_p2s`` (mean point-to-surface distance, averaged both ways; normalized units),
        ``normal_consistency``; ``resolution`` and ``samples``. A network with no surface in
        the cube scores F 0, Chamfer-p2s and normal consistency ``None`` (JSON has no infinity).
    """
    from ...geometry.marching import mesh_from_sdf
    from ...metrics.mesh import compare_meshes

    out: dict = {"resolution": resolution, "samples": samples}
    try:
        decoded = mesh_from_sdf(lambda p: evaluate_mlp(model, p), resolution)
    except InputError:  # no surface, or non-finite values
        return out | {"f_score_0.01": 0.0, "chamfer_p2s": None, "normal_consistency": None}
    m = compare_meshes(mesh, decoded, n_samples=samples, seed=0)
    return out | {k: round(float(m[k]), 6) for k in ("f_score_0.01", "chamfer_p2s", "normal_consistency")}


def zero_set_mesh(model: SdfMLP, resolution: int = 128) -> Mesh | None:
    """The marching-cubes mesh of ``model``'s zero level set at ``resolution³`` (normalized
    frame), or None when it has no surface in the cube."""
    from ...geometry.marching import mesh_from_sdf

    try:
        return mesh_from_sdf(lambda p: evaluate_mlp(model, p), resolution)
    except InputError:
        return None


def zero_set_points(model: SdfMLP | Mesh | None, n: int, *, seed: int = 0) -> np.ndarray:
    """``(≤ n, 3) float32`` area-uniform points on the zero level set of ``model`` (normalized
    frame; or on a mesh :func:`zero_set_mesh` already made of it); empty when it has no surface."""
    mesh = zero_set_mesh(model) if isinstance(model, SdfMLP) else model
    if mesh is None:
        return np.zeros((0, 3), dtype=np.float32)
    return sample_surface(mesh, n, seed=seed)[0].astype(np.float32)


def distill_quantized(
    teacher: SdfMLP,
    bits: int,
    *,
    zero_set: Mesh | None = None,
    steps: int = 600,
    batch: int = 4096,
    lr: float = 2e-4,
    seed: int = 0,
) -> SdfMLP:
    """A copy of an already trained network whose ``bits``-bit weights keep the teacher's zero set.

    Used when there is no mesh to fit, only a network (Davies et al.'s Keras files): rounding
    its weights moves its surface. The copy's hidden units are balanced first (exact for ReLU,
    :meth:`SdfMLP.equalize_ranges`), then fine-tuned quantization-aware (straight-through) to
    reproduce the teacher's values — L1, on points near the teacher's zero level set (its
    marching-cubes surface, offset along a Laplace distribution of scale 0.01, as the training
    samples of :func:`fit_sdf`) and 10% uniform in the cube — keeping the snapshot with the
    lowest held-out error. The teacher is not changed.

    ``zero_set``: the teacher's :func:`zero_set_mesh`, when the caller already has it.

    Returns
    -------
    SdfMLP
        The fine-tuned float network (quantize it with :func:`encode_model` to store it).
    """
    import copy

    import torch

    student = copy.deepcopy(teacher).cpu().eval()
    student.equalize_ranges()
    rng = np.random.default_rng(seed)
    surface = zero_set_points(zero_set_mesh(teacher) if zero_set is None else zero_set, 200_000, seed=seed)
    n = steps * batch // 4 + 20_000
    if len(surface):
        base = surface[rng.integers(0, len(surface), int(0.9 * n))]
        near = base + rng.laplace(0.0, 0.01, base.shape).astype(np.float32)
    else:
        near = np.zeros((0, 3), np.float32)
    points = np.concatenate([near, rng.uniform(-1, 1, (n - len(near), 3)).astype(np.float32)])
    points = np.clip(points, -1.0, 1.0)[rng.permutation(n)]
    targets = evaluate_mlp(teacher, points)
    x, y = torch.from_numpy(points), torch.from_numpy(targets)
    held_out = (x[:20_000], y[:20_000])
    with torch_threads(1):
        torch.manual_seed(seed)
        _train(
            student,
            x[20_000:],
            y[20_000:],
            steps=steps,
            batch=batch,
            peak_lr=lr,
            bits=bits,
            generator=torch.Generator().manual_seed(seed),
            on_step=lambda loss: None,
            held_out=held_out,
        )
    return student.eval()
