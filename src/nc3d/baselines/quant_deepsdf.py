"""QuantDeepSDF (NeCGS paper, App. C.2): one MLP auto-decoder for a whole set of meshes.

DeepSDF's auto-decoder (Park et al.) with quantized parameters, the NeCGS authors' neural
baseline: a single MLP ``f(x, z_i)`` takes a point ``x`` (normalized frame of shape ``i``) and
that shape's latent vector ``z_i`` and returns its truncated signed distance. The decoder
weights and the latents are trained together (auto-decoding: the latents are free parameters),
fine-tuned with fake quantization, then stored as ``bits``-bit integers, entropy-coded. Decoding
evaluates each shape's field on a ``resolution³`` grid and runs marching cubes.

Kept CPU-sane on purpose (this is a baseline, not nc3d's set codec): a few thousand
near-surface samples per shape (Davies' importance distribution with exact winding-number
signed distances, as the implicit codec uses, instead of TSDF-Def volumes), an L1 loss on
distances clamped to ±``truncation`` (DeepSDF), one training thread.
"""

from __future__ import annotations

import numpy as np

from ..codecs.base import Codec, Option, register
from ..container import header_get
from ..entropy import decode_symbols, encode_symbols
from ..errors import FormatError, InputError
from ..geometry.marching import grid_points, marching_cubes_sdf
from ..geometry.normalize import Frame, frame_of_mesh
from ..geometry.sampling import sample_near_surface
from ..mesh import Mesh, as_mesh
from ..nn.device import torch_threads
from ..nn.quant import dequantize_tensors, fake_quantize, quant_levels, quantize_tensors
from ..nn.schedule import warmup_cosine_lr

__all__ = ["QuantDeepSdf", "decoder_shapes"]

#: Most parameters a file may declare per byte of its weights section (see the implicit codec).
_MAX_PARAMS_PER_BYTE = 64
_MAX_SHAPES = 100_000


def decoder_shapes(layers: int, width: int, latent: int, n_shapes: int) -> list[tuple[int, ...]]:
    """Storage order of the tensors: ``(W, b)`` of each linear map, then the latents ``(n, latent)``."""
    dims = [3 + latent] + [width] * (layers - 1) + [1]
    shapes: list[tuple[int, ...]] = []
    for a, b in zip(dims[:-1], dims[1:]):
        shapes += [(b, a), (b,)]
    return shapes + [(n_shapes, latent)]


def _forward(tensors, x, z):
    """``(k,)`` field values at points ``x (k, 3)`` with latents ``z (k, latent)`` (torch)."""
    import torch
    import torch.nn.functional as F

    h = torch.cat([x, z], dim=1)
    n_maps = len(tensors) // 2
    for i in range(n_maps):
        h = F.linear(h, tensors[2 * i], tensors[2 * i + 1])
        if i < n_maps - 1:
            h = torch.relu(h)
    return h[:, 0]


def _init(shapes, seed: int):
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in shapes[:-1]:
        if len(s) == 2:  # Kaiming-uniform like torch.nn.Linear
            bound = 1.0 / np.sqrt(s[1])
            out.append((torch.rand(s, generator=gen) * 2 - 1) * bound * np.sqrt(6.0 / 2))
        else:
            out.append(torch.zeros(s))
    out.append(torch.randn(shapes[-1], generator=gen) * 0.01)
    return [t.requires_grad_(True) for t in out]


def _fit(
    meshes: list[Mesh],
    *,
    layers,
    width,
    latent,
    samples,
    steps,
    batch,
    lr,
    truncation,
    bits,
    seed,
    progress=None,
):
    """Train decoder + latents on normalized meshes; returns the float tensors (storage order)."""
    import torch

    xs, ys, ids = [], [], []
    for i, m in enumerate(meshes):
        p, d = sample_near_surface(m, samples, beta=30.0, uniform_fraction=0.2, seed=seed + i)
        xs.append(p)
        ys.append(d)
        ids.append(np.full(len(p), i))
        if progress is not None:
            progress("sampling", i + 1, len(meshes))
    x = torch.as_tensor(np.concatenate(xs), dtype=torch.float32)
    y = torch.as_tensor(np.clip(np.concatenate(ys), -truncation, truncation), dtype=torch.float32)
    idx = torch.as_tensor(np.concatenate(ids), dtype=torch.int64)
    tensors = _init(decoder_shapes(layers, width, latent, len(meshes)), seed)
    opt = torch.optim.Adam([{"params": tensors[:-1], "lr": lr}, {"params": tensors[-1:], "lr": 2 * lr}])
    gen = torch.Generator().manual_seed(seed)
    qat_from = int(steps * 0.8)
    for step in range(steps):
        pick = torch.randint(len(x), (batch,), generator=gen)
        scale = warmup_cosine_lr(step, steps, 1.0, min(100, steps // 10))
        opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = lr * scale, 2 * lr * scale
        used = [fake_quantize(t, bits) for t in tensors] if step >= qat_from else tensors
        pred = _forward(used, x[pick], used[-1][idx[pick]])
        loss = (pred.clamp(-truncation, truncation) - y[pick]).abs().mean() + 1e-4 * used[-1].pow(2).sum(
            1
        ).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None and (step % 50 == 0 or step == steps - 1):
            progress("training", step + 1, steps)
    return [t.detach().numpy() for t in tensors]


def _placeholder(frame: Frame) -> Mesh:
    """What a shape whose decoded field has no surface becomes: one tiny triangle at its center."""
    tri = np.array([[0.0, 0.0, 0.0], [1e-3, 0.0, 0.0], [0.0, 1e-3, 0.0]])
    return frame.denormalize_mesh(Mesh(tri, np.array([[0, 1, 2]], dtype=np.int64)))


@register
class QuantDeepSdf(Codec):
    name = "quant-deepsdf"
    kind = "meshset"
    baseline = True
    description = (
        "QuantDeepSDF (NeCGS App. C.2): one MLP auto-decoder + a latent per shape, quantized, entropy-coded"
    )
    options = (
        Option("layers", int, 8, "linear maps of the decoder MLP", low=2, high=16),
        Option("width", int, 64, "hidden size of the decoder (sets the rate)", low=4, high=512),
        Option("latent", int, 32, "latent vector size per shape", low=1, high=256),
        Option("bits", int, 8, "bits per stored weight and latent", low=2, high=16),
        Option("samples", int, 16_000, "training points per shape", low=100, high=10_000_000),
        Option(
            "steps", int, 3000, "training steps (the last 20% quantization-aware)", low=1, high=10_000_000
        ),
        Option("batch_size", int, 4096, "points per step", low=16, high=1 << 20),
        Option("lr", float, 2e-3, "peak learning rate (Adam; latents twice that)", low=1e-6, high=1.0),
        Option(
            "truncation", float, 0.1, "distances clamped to ± this (normalized units)", low=1e-3, high=2.0
        ),
        Option("resolution", int, 64, "marching-cubes grid per shape on decode", low=16, high=128),
        Option("seed", int, 0, "random seed", low=0, high=2**31 - 1),
    )

    def encode_parts(
        self,
        data,
        *,
        progress=None,
        layers,
        width,
        latent,
        bits,
        samples,
        steps,
        batch_size,
        lr,
        truncation,
        resolution,
        seed,
    ):
        if not isinstance(data, list) or not data:
            raise InputError("quant-deepsdf compresses a set of meshes: a non-empty list of (name, mesh)")
        names = [str(n) for n, _ in data]
        meshes = [as_mesh(m, name=n) for n, m in data]
        frames = [frame_of_mesh(m) for m in meshes]
        with torch_threads(1):
            tensors = _fit(
                [f.normalize_mesh(m) for f, m in zip(frames, meshes)],
                layers=layers,
                width=width,
                latent=latent,
                samples=samples,
                steps=steps,
                batch=batch_size,
                lr=lr,
                truncation=truncation,
                bits=bits,
                seed=seed,
                progress=progress,
            )
        q, qsteps = quantize_tensors(tensors, bits)
        header = {
            "architecture": {"layers": layers, "width": width, "latent": latent},
            "bits": bits,
            "truncation": truncation,
            "resolution": resolution,
            "names": names,
            "frames": [f.to_dict() for f in frames],
        }
        return header, {"steps": qsteps.astype("<f4").tobytes(), "weights": encode_symbols(q)}

    def decode_parts(self, header, sections):
        import torch

        arch = header_get(header, "architecture", dict)
        layers = header_get(arch, "layers", int, min=2, max=16)
        width = header_get(arch, "width", int, min=4, max=512)
        latent = header_get(arch, "latent", int, min=1, max=256)
        bits = header_get(header, "bits", int, min=2, max=16)
        quant_levels(bits)
        resolution = header_get(header, "resolution", int, min=16, max=128)
        names = header_get(header, "names", list)
        frames_raw = header_get(header, "frames", list)
        if not 1 <= len(names) <= _MAX_SHAPES or len(frames_raw) != len(names):
            raise FormatError(f"quant-deepsdf file: {len(names)} names and {len(frames_raw)} frames")
        if not all(isinstance(n, str) for n in names):
            raise FormatError("quant-deepsdf file: shape names must be strings")
        frames = [Frame.from_dict(f) for f in frames_raw]
        for key in ("steps", "weights"):
            if key not in sections:
                raise FormatError(f"quant-deepsdf file: missing section '{key}'")
        shapes = decoder_shapes(layers, width, latent, len(names))
        count = sum(int(np.prod(s)) for s in shapes)
        if count > _MAX_PARAMS_PER_BYTE * len(sections["weights"]) + 4096:
            raise FormatError(
                f"quant-deepsdf file: {count} parameters cannot come from {len(sections['weights'])} bytes"
            )
        if len(sections["steps"]) != 4 * len(shapes):
            raise FormatError(
                f"quant-deepsdf file: section 'steps' has {len(sections['steps'])} bytes, "
                f"expected {4 * len(shapes)}"
            )
        steps = np.frombuffer(sections["steps"], dtype="<f4").astype(np.float32)
        q = decode_symbols(sections["weights"], count=count)
        tensors = [torch.from_numpy(t) for t in dequantize_tensors(q, steps, shapes, bits)]
        grid = torch.from_numpy(grid_points(resolution))
        out = []
        with torch.inference_mode():
            for i, (name, frame) in enumerate(zip(names, frames)):
                values = np.empty(len(grid), dtype=np.float32)
                for s in range(0, len(grid), 65536):
                    g = grid[s : s + 65536]
                    values[s : s + 65536] = _forward(tensors, g, tensors[-1][i].expand(len(g), -1)).numpy()
                try:
                    mesh = frame.denormalize_mesh(marching_cubes_sdf(values.reshape((resolution,) * 3)))
                except InputError:  # the decoded field has no surface: a legitimate (bad) result
                    mesh = _placeholder(frame)
                out.append((name, mesh))
        return out

    presets = {
        "smoke": ({"layers": 2, "width": 8, "latent": 8, "samples": 2000, "steps": 10, "resolution": 16},),
        "quick": ({"width": 32, "steps": 600, "samples": 4000, "resolution": 48},),
        "default": ({"width": 32}, {"width": 64}, {"width": 128}),
    }
