"""``bevec`` — the paper's block autoencoder (Bevec 2023), reproduced as a codec.

A volume normalized to [0, 1] is cut into ``b³`` blocks with an ``m``-voxel margin
(:mod:`.blocks`); a dense VAE with one hidden layer (ReLU) maps each ``(b + 2m)³`` block to a
latent mean vector, stored as float32 (the paper's setting: 32 floats per 8³ uint8 block = 4×);
decoding runs the decoder on every latent and merges the blocks by cropping the margin or
blending the overlaps (paper Fig. 2d). Variants of the paper's Table 1: ``8-0-128-32``,
``8-2-128-32``, ``8-2-256-64`` (block-margin-hidden-latent).

File: header ``shape``, ``dtype``, ``range``, ``variant``, ``blend``, ``model`` (``"default"``:
the shipped ``8-0-128-32`` model, checked by ``model_digest``; ``"embedded"``: section
``model``); section ``latents``: (n_blocks, latent) float32, little-endian.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...blocks import BLENDS, block_grid, merge_blocks, split_blocks
from ...errors import FormatError, InputError
from ...io import as_volume
from ...nn.device import torch_threads
from ...resources import model_path
from ..base import Codec, Option, register
from ..volume_header import read_volume_header, restore_values, volume_header
from .volume_conv import MAX_VOXELS
from .volume_conv_model import model_digest
from .volume_conv_train import normalize_volume

__all__ = [
    "BevecArch",
    "VARIANTS",
    "make_bevec_net",
    "train_bevec",
    "encode_blocks",
    "decode_blocks",
    "save_bevec",
    "load_bevec",
    "init_from_pca",
    "BevecCodec",
]


@dataclass(frozen=True)
class BevecArch:
    block: int = 8
    margin: int = 0
    hidden: int = 128
    latent: int = 32

    @property
    def width(self) -> int:
        return self.block + 2 * self.margin

    @property
    def variant(self) -> str:
        return f"{self.block}-{self.margin}-{self.hidden}-{self.latent}"


#: The paper's Table 1.
VARIANTS = {
    a.variant: a for a in (BevecArch(8, 0, 128, 32), BevecArch(8, 2, 128, 32), BevecArch(8, 2, 256, 64))
}


def make_bevec_net(arch: BevecArch):
    """The dense VAE: encoder w³ → hidden → (mean, log-variance); decoder latent → hidden → w³."""
    import torch
    from torch import nn

    class _Vae(nn.Module):
        def __init__(self):
            super().__init__()
            n = arch.width**3
            self.arch = arch
            self.enc = nn.Sequential(
                nn.Linear(n, arch.hidden), nn.ReLU(), nn.Linear(arch.hidden, 2 * arch.latent)
            )
            # linear output (a sigmoid saturates and trains far slower); decoding clips to [0, 1]
            self.dec = nn.Sequential(
                nn.Linear(arch.latent, arch.hidden), nn.ReLU(), nn.Linear(arch.hidden, n)
            )
            with torch.no_grad():  # start with a narrow posterior: unit noise would drown the latents
                self.enc[2].bias[arch.latent :] = -8.0

        def encode(self, x):  # (B, w³) in [0, 1] → means (B, latent)
            return self.enc(x - 0.5)[:, : arch.latent]

        def decode(self, z):  # (B, latent) → (B, w³), about [0, 1]
            return self.dec(z) + 0.5

        def forward(self, x):
            mean, log_var = self.enc(x - 0.5).chunk(2, dim=1)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
            kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(dim=1).mean()
            return self.decode(z), kl

    return _Vae()


def _blocks_of(volumes, arch: BevecArch) -> np.ndarray:
    """All blocks of normalized volumes, flattened: (n, w³) float32."""
    return np.concatenate(
        [split_blocks(v, arch.block, arch.margin)[0].reshape(-1, arch.width**3) for v in volumes]
    ).astype(np.float32)


def init_from_pca(net, blocks: np.ndarray, *, sample: int = 12000, seed: int = 0) -> None:
    """Start the VAE exactly at PCA: the best linear code with ``latent`` components.

    With ``hidden >= 2 · latent`` one ReLU layer passes ``±P(x - μ)`` through unchanged
    (``z = relu(u) - relu(-u)``), so encoder and decoder can both begin as the projection on the
    top principal components ``P`` of the training blocks (the extra hidden units start with zero
    outgoing weights). Training then only has to improve on PCA, which a randomly initialized
    net fails to reach in the few epochs the paper (and this CPU) allows.

    Parameters
    ----------
    net : module from :func:`make_bevec_net`
    blocks : (n, w³) float32 in [0, 1]
    """
    import torch

    a = net.arch
    k = a.latent
    if a.hidden < 2 * k:
        raise InputError(f"PCA initialization needs hidden >= 2 * latent, got {a.hidden} < {2 * k}")
    rng = np.random.default_rng(seed)
    x = blocks[rng.permutation(len(blocks))[:sample]].astype(np.float64) - 0.5
    mu = x.mean(axis=0)
    xc = x - mu
    _, vecs = np.linalg.eigh(xc.T @ xc)  # (w³, w³) covariance: far cheaper than an SVD of the samples
    p = torch.from_numpy(vecs[:, ::-1][:, :k].T.astype(np.float32).copy())  # (k, w³), largest first
    m = torch.from_numpy(mu.astype(np.float32))
    eye = torch.eye(k)
    with torch.no_grad():
        e0, e2, d0, d2 = net.enc[0], net.enc[2], net.dec[0], net.dec[2]
        e0.weight[:k], e0.weight[k : 2 * k] = p, -p
        e0.bias[:k], e0.bias[k : 2 * k] = -(p @ m), p @ m
        e2.weight.zero_()
        e2.weight[:k, :k], e2.weight[:k, k : 2 * k] = eye, -eye
        e2.bias[:k] = 0.0
        d0.weight[:k], d0.weight[k : 2 * k] = eye, -eye
        d0.bias[: 2 * k] = 0.0
        d2.weight.zero_()
        d2.weight[:, :k], d2.weight[:, k : 2 * k] = p.T, -p.T
        d2.bias.copy_(m)


def train_bevec(
    volumes,
    arch: BevecArch,
    *,
    epochs: int = 2,
    batch: int = 64,
    lr: float = 1e-4,
    kl_weight: float = 1e-4,
    pca_init: bool = True,
    augment: bool = False,
    seed: int = 0,
    threads: int = 1,
):
    """Train the VAE on every block of ``volumes`` (each normalized to [0, 1]).

    The paper: Adam, batch 64, lr 1e-4, 8 epochs over 1.7 M blocks. Here the net starts at PCA
    (:func:`init_from_pca`; ``pca_init=False`` for the paper's random start, which needs lr ~1e-3
    and many more steps), then trains with cosine-decayed lr; ``augment`` adds the volumes
    flipped along each axis (4× the blocks). Loss: block MSE + kl_weight · KL / w³.

    Returns
    -------
    net : torch module in eval mode
    final_mse : float
        Mean training MSE of the last epoch.
    """
    import torch

    with torch_threads(threads):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        if augment:
            volumes = list(volumes) + [np.flip(v, axis=a) for v in volumes for a in range(3)]
        data = torch.from_numpy(_blocks_of(volumes, arch))
        net = make_bevec_net(arch)
        if pca_init:
            init_from_pca(net, data.numpy(), seed=seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        last = math.nan
        steps, step = epochs * -(-len(data) // batch), 0
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(data)))
            total = 0.0
            for start in range(0, len(data), batch):  # over mini-batches
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                step += 1
                x = data[order[start : start + batch]]
                x_hat, kl = net(x)
                mse = ((x_hat - x) ** 2).mean()
                loss = mse + kl_weight * kl / x.shape[1]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(mse.detach()) * len(x)
            last = total / len(data)
        return net.eval(), last


def encode_blocks(net, volume01: np.ndarray) -> np.ndarray:
    """Latent means of every block of a [0, 1] volume: (n_blocks, latent) float32."""
    import torch

    a = net.arch
    blocks, _ = split_blocks(volume01.astype(np.float32), a.block, a.margin)
    with torch.no_grad():
        return net.encode(torch.from_numpy(blocks.reshape(len(blocks), -1))).numpy().astype(np.float32)


def decode_blocks(net, latents: np.ndarray, shape, blend: str = "linear") -> np.ndarray:
    """Decoded [0, 1] float32 volume of ``shape`` from (n_blocks, latent) latents."""
    import torch

    a = net.arch
    with torch.no_grad():
        blocks = net.decode(torch.from_numpy(np.array(latents, dtype=np.float32))).clamp(0, 1).numpy()
    w = a.width
    return merge_blocks(blocks.reshape(-1, w, w, w), shape, a.block, a.margin, blend).astype(np.float32)


def save_bevec(net, path: str | Path | None = None) -> bytes:
    """``.npz`` bytes (float16 weights + JSON meta) of a Bevec VAE; written if ``path``."""
    from ...files import write_bytes_atomic

    arrays = {k: v.detach().numpy().astype(np.float16) for k, v in net.state_dict().items()}
    meta = {"format": "nc3d-bevec-model", "version": 1, "architecture": asdict(net.arch)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    if path is not None:
        write_bytes_atomic(Path(path), buf.getvalue(), force=True)
    return buf.getvalue()


def default_bevec_path() -> Path:
    return model_path("bevec-8-0-128-32.npz")


def load_bevec(blob: bytes):
    """(net, digest) from :func:`save_bevec` bytes; :class:`InputError` if unreadable."""
    import torch

    try:
        buf = io.BytesIO(blob)
        with np.load(buf, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if meta.get("format") != "nc3d-bevec-model":
            raise ValueError("not an nc3d Bevec model")
        arch = BevecArch(**{k: int(meta["architecture"][k]) for k in ("block", "margin", "hidden", "latent")})
        if arch.variant not in VARIANTS and not (
            arch.width <= 32 and arch.hidden <= 4096 and arch.latent <= 4096
        ):
            raise ValueError(f"architecture out of range: {arch}")
        net = make_bevec_net(arch)
        state = net.state_dict()
        if set(state) != set(arrays) or any(arrays[k].shape != tuple(state[k].shape) for k in state):
            raise ValueError("parameters do not match the architecture")
        net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    except Exception as exc:  # noqa: BLE001 - zip, JSON, key and shape errors alike
        raise InputError(f"not a readable Bevec model ({exc})") from None
    return net.eval(), model_digest(blob)


@register
class BevecCodec(Codec):
    name = "bevec"
    kind = "volume"
    description = "the paper's dense block VAE (Bevec 2023): float32 latents per 8³ block, margin blending"
    options = (
        Option(
            "model", str, "default", "'default' (shipped 8-0-128-32) or a model file (embedded in the file)"
        ),
        Option("blend", str, "linear", "how block margins are merged", choices=BLENDS),
    )

    def encode_parts(self, data, *, model="default", blend="linear", progress=None):
        volume = as_volume(data)
        if volume.size > MAX_VOXELS:
            raise InputError(f"volume of {volume.size} voxels is over the limit of {MAX_VOXELS}")
        path = default_bevec_path() if model == "default" else Path(model)
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read the Bevec model ({exc})") from None
        net, digest = load_bevec(blob)
        latents = encode_blocks(net, normalize_volume(volume))
        header = volume_header(volume) | {
            "blend": blend,
            "variant": net.arch.variant,
            "model_digest": digest,
            "model": "default" if model == "default" else "embedded",
        }
        sections = {"latents": latents.astype("<f4").tobytes()}
        if model != "default":
            sections["model"] = blob
        return header, sections

    def decode_parts(self, header: dict, sections: dict[str, bytes]):
        shape, dtype, lo, hi = read_volume_header(header)
        if math.prod(shape) > MAX_VOXELS:
            raise FormatError(f"bevec file: shape {list(shape)} is over the limit of {MAX_VOXELS} voxels")
        blend = header.get("blend")
        if blend not in BLENDS:
            raise FormatError(f"bevec file: unknown blend {blend!r}")
        if header.get("model") == "embedded" and "model" in sections:
            blob = bytes(sections["model"])
        elif header.get("model") == "default":
            blob = default_bevec_path().read_bytes()
        else:
            raise FormatError("bevec file: the model is missing")
        try:
            net, digest = load_bevec(blob)
        except InputError as exc:
            raise FormatError(f"bevec file: {exc}") from None
        if digest != header.get("model_digest"):
            raise FormatError(
                f"bevec file was written with model {header.get('model_digest')!r}, not {digest!r}"
            )
        n = math.prod(block_grid(shape, net.arch.block))
        raw = sections.get("latents", b"")
        if len(raw) != 4 * n * net.arch.latent:
            raise FormatError(
                f"bevec file: section 'latents' has {len(raw)} bytes, expected {4 * n * net.arch.latent}"
            )
        latents = np.frombuffer(raw, dtype="<f4").reshape(n, net.arch.latent)
        if not np.isfinite(latents).all():
            raise FormatError("bevec file: non-finite latents")
        x = decode_blocks(net, latents, shape, blend)
        return restore_values(x, dtype, lo, hi, scaled=True)
