"""The learned transform of the ``volume-conv`` codec: 3-D analysis/synthesis convolutions with GDN.

A small fully convolutional network after Ballé et al.'s factorized-prior model, in 3-D:

* analysis ``g_a``: three stride-2 convolutions (1 → C → C → M channels, 8× smaller per axis)
  with GDN between them;
* synthesis ``g_s``: three stride-2 transposed convolutions back to one channel, inverse GDN;
* a quality ladder of ``L`` levels in one network (Cui et al.'s gain units): level ``l`` scales
  the latents by a learned per-channel gain ``g_l`` before rounding and by ``1 / g_l`` after,
  and was trained with its own λ_l. Fractional qualities interpolate the log-gains;
* a per-level, per-channel Laplace prior (location, scale) gives the rate term in training.

Training quantizes by additive uniform noise; coding rounds. Weights travel as a ``.npz``
(read with ``allow_pickle=False``): every parameter as float16 plus ``meta``, a JSON string.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...resources import model_path

__all__ = [
    "Architecture",
    "make_net",
    "save_model",
    "load_model",
    "model_digest",
    "default_model_path",
    "STRIDE",
]

#: Downsampling of the analysis transform per axis (three stride-2 layers).
STRIDE = 8
_LN2 = math.log(2.0)


@dataclass(frozen=True)
class Architecture:
    """Sizes of a :class:`TransformNet`.

    Attributes
    ----------
    channels : int
        Hidden channels C.
    latent : int
        Latent channels M.
    lambdas : tuple of float
        λ of each quality level (distortion weight of MSE on [0, 1] against bits per voxel),
        increasing: level 0 is the smallest file.
    """

    channels: int = 24
    latent: int = 48
    lambdas: tuple = (25.0, 72.0, 207.0, 597.0, 1720.0, 4950.0, 14300.0)

    @property
    def levels(self) -> int:
        return len(self.lambdas)


def _torch():
    import torch

    return torch


def _build_gdn():
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class GDN(nn.Module):
        """Generalized divisive normalization (Ballé et al. 2016), or its inverse.

        ``y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)`` over channels; the inverse multiplies.
        β and γ are kept non-negative by taking absolute values (β floored at 1e-6).
        """

        def __init__(self, channels: int, inverse: bool = False):
            super().__init__()
            self.inverse = inverse
            self.beta = nn.Parameter(torch.ones(channels))
            self.gamma = nn.Parameter(0.1 * torch.eye(channels))

        def forward(self, x):
            c = x.shape[1]
            beta = self.beta.abs() + 1e-6
            gamma = self.gamma.abs().view(c, c, 1, 1, 1)
            norm = torch.sqrt(F.conv3d(x * x, gamma, beta))
            return x * norm if self.inverse else x / norm

    return GDN


def _build_net():
    torch = _torch()
    nn = torch.nn
    GDN = _build_gdn()

    class _TransformNet(nn.Module):
        """Analysis/synthesis transforms, gains and priors of the ``volume`` codec.

        Parameters
        ----------
        arch : Architecture
        """

        def __init__(self, arch: Architecture):
            super().__init__()
            self.arch = arch
            c, m, L = arch.channels, arch.latent, arch.levels
            self.g_a = nn.Sequential(
                nn.Conv3d(1, c, 5, 2, 2),
                GDN(c),
                nn.Conv3d(c, c, 3, 2, 1),
                GDN(c),
                nn.Conv3d(c, m, 3, 2, 1),
            )
            self.g_s = nn.Sequential(
                nn.ConvTranspose3d(m, c, 4, 2, 1),
                GDN(c, inverse=True),
                nn.ConvTranspose3d(c, c, 4, 2, 1),
                GDN(c, inverse=True),
                nn.ConvTranspose3d(c, 1, 4, 2, 1),
            )
            # log-gains start spread so that higher levels quantize more finely
            start = torch.linspace(-1.0, 2.0, L).view(L, 1).expand(L, m).clone()
            self.log_gain = nn.Parameter(start)
            self.prior_loc = nn.Parameter(torch.zeros(L, m))
            self.prior_log_scale = nn.Parameter(torch.zeros(L, m))

        # -- gains -------------------------------------------------------------------------
        def gain(self, quality: float):
            """Per-channel gain (M,) at a (fractional) quality in [0, L-1]."""
            L = self.arch.levels
            q = min(max(float(quality), 0.0), L - 1.0)
            lo = min(int(math.floor(q)), L - 2) if L > 1 else 0
            t = q - lo
            lg = self.log_gain[lo] if L == 1 else (1 - t) * self.log_gain[lo] + t * self.log_gain[lo + 1]
            return torch.exp(lg)

        def analyse(self, x):
            """(B, 1, D, H, W) in [0, 1], sizes multiples of 8 → latents (B, M, D/8, H/8, W/8)."""
            return self.g_a(x - 0.5)

        def synthesize(self, y_hat):
            """Latents (B, M, d, h, w) → (B, 1, 8d, 8h, 8w), about [0, 1] (not clipped)."""
            return self.g_s(y_hat) + 0.5

        # -- training -------------------------------------------------------------------------
        def forward(self, x, levels):
            """Noisy-quantization pass for training.

            Parameters
            ----------
            x : (B, 1, D, H, W) float32 in [0, 1]
            levels : (B,) int64 quality levels

            Returns
            -------
            x_hat : (B, 1, D, H, W)
            bits : (B,) estimated bits of each item's latents
            """
            y = self.analyse(x)
            g = torch.exp(self.log_gain[levels]).view(*levels.shape, -1, 1, 1, 1)
            z = y * g + torch.empty_like(y).uniform_(-0.5, 0.5)
            loc = self.prior_loc[levels].view_as(g)
            scale = torch.exp(self.prior_log_scale[levels]).view_as(g) + 1e-3
            p = _laplace_cdf((z - loc + 0.5) / scale) - _laplace_cdf((z - loc - 0.5) / scale)
            bits = -torch.log(p.clamp_min(1e-9)).sum(dim=(1, 2, 3, 4)) / _LN2
            return self.synthesize(z / g), bits

    def _laplace_cdf(t):
        return 0.5 + 0.5 * torch.sign(t) * (1.0 - torch.exp(-t.abs()))

    return _TransformNet


_NET_CLASS = None


def make_net(arch: Architecture):
    """A freshly initialized transform network (a torch module) for ``arch``."""
    global _NET_CLASS
    if _NET_CLASS is None:
        _NET_CLASS = _build_net()
    return _NET_CLASS(arch)


# ----------------------------------------------------------------------------------------------
# Model files
# ----------------------------------------------------------------------------------------------

#: Largest model file read (bytes): shipped models are well under 1 MB.
MAX_MODEL_BYTES = 64 << 20


def default_model_path() -> Path:
    """Where the shipped pretrained model lives inside the package."""
    return model_path("volume-conv.npz")


def save_model(net, path: str | Path | None = None, *, info: dict | None = None) -> bytes:
    """Serialize ``net`` as ``.npz`` bytes (float16 parameters + JSON ``meta``); write if ``path``.

    Parameters
    ----------
    net : torch.nn.Module from :func:`make_net`
    path : path, optional
        Written atomically (an existing file is replaced: this is a build artefact).
    info : dict, optional
        Extra JSON-able facts kept in ``meta`` (training settings, data).
    """
    from ...files import write_bytes_atomic

    meta = {"format": "nc3d-volume-model", "version": 1, "architecture": asdict(net.arch), "info": info or {}}
    # float16 halves the file (measured on the sample head at quality 3: -0.0003 dB)
    arrays = {k: v.detach().cpu().numpy().astype(np.float16) for k, v in net.state_dict().items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    blob = buf.getvalue()
    if path is not None:
        write_bytes_atomic(Path(path), blob, force=True)
    return blob


def model_digest(blob: bytes) -> str:
    """Short content hash of a model file (first 16 hex digits of SHA-256)."""
    return hashlib.sha256(blob).hexdigest()[:16]


def load_model(source: str | Path | bytes | None = None):
    """Read a model written by :func:`save_model` (never unpickles).

    Parameters
    ----------
    source : path, bytes or None
        ``None`` or ``"default"``: the shipped model.

    Returns
    -------
    net : torch.nn.Module from :func:`make_net`, in eval mode
    digest : str
        :func:`model_digest` of the file's bytes.

    Raises
    ------
    InputError
        Missing or unreadable file, wrong format, parameters that do not match the architecture.
    """
    torch = _torch()
    if source is None or (isinstance(source, str) and source == "default"):
        source = default_model_path()
    if isinstance(source, (bytes, bytearray)):
        blob, name = bytes(source), "model bytes"
    else:
        p = Path(source)
        if not p.is_file():
            raise InputError(f"{p}: no such volume model file")
        if p.stat().st_size > MAX_MODEL_BYTES:
            raise InputError(f"{p}: a volume model file is at most {MAX_MODEL_BYTES} bytes")
        blob, name = p.read_bytes(), str(p)
    try:
        buf = io.BytesIO(blob)
        with np.load(buf, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if meta.get("format") != "nc3d-volume-model" or meta.get("version") != 1:
            raise ValueError("not an nc3d volume model (version 1)")
        a = meta["architecture"]
        arch = Architecture(int(a["channels"]), int(a["latent"]), tuple(float(v) for v in a["lambdas"]))
        if not (1 <= arch.channels <= 256 and 1 <= arch.latent <= 512 and 1 <= arch.levels <= 64):
            raise ValueError(f"architecture out of range: {arch}")
        net = make_net(arch)
        state = net.state_dict()
        if set(state) != set(arrays):
            raise ValueError("parameter names do not match the architecture")
        for k, v in arrays.items():
            if (
                tuple(v.shape) != tuple(state[k].shape)
                or v.dtype not in (np.float16, np.float32)
                or not np.isfinite(v).all()
            ):
                raise ValueError(f"parameter {k}: wrong shape, dtype or non-finite values")
        net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{name}: not a readable nc3d volume model ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile and friends
        raise InputError(f"{name}: not a readable nc3d volume model ({exc})") from None
    net.eval()
    return net, model_digest(blob)
