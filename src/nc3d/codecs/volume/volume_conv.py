"""The ``volume-conv`` codec: learned conv 3-D transform coding of a scalar volume (GDN autoencoder).

encode: values → [0, 1] by the volume's min/max → edge-padded to a multiple of 8 → analysis
transform → latents × gain(quality), rounded → per-channel discrete Laplace tables + ANS.
decode: the inverse, then crop, clip to [min, max] and cast back to the input dtype (integers
rounded).

File layout: header ``shape``, ``dtype``, ``range`` [min, max], ``quality``, ``latent_shape``,
``model`` (``"default"`` = the shipped model, whose ``model_digest`` must match, or
``"embedded"``: the model file travels in section ``model`` and counts toward the size);
section ``latents`` (see :mod:`.volume_conv_latents`). A constant volume stores no latents.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import FormatError, InputError
from ...io import as_volume
from ...metrics.volume import psnr
from ..base import Codec, Option, register
from ..volume_header import (
    check_region,
    decoder_model,
    normalized,
    read_volume_header,
    restore_values,
    smallest_level_reaching,
    volume_header,
)
from .volume_conv_latents import decode_latents, encode_latents
from .volume_conv_model import STRIDE, default_model_path, load_model

__all__ = ["VolumeConvCodec", "MAX_VOXELS"]

#: Largest volume (voxels) encoded or decoded in one piece (~645³): the transforms hold a few
#: float32 copies of it.
MAX_VOXELS = 1 << 28
#: Halo of latents around a decoded region: the synthesis reaches < 2 latents (1 + 1/2 + 1/4).
_HALO = 2

_MODELS: dict = {}


def _model(source):
    """Load (and cache) a model by ``"default"``, a path or bytes → (net, digest)."""
    key = source if isinstance(source, (str, bytes)) else str(source)
    if key not in _MODELS:
        _MODELS[key] = load_model(source)
    return _MODELS[key]


def _padded(x: np.ndarray) -> np.ndarray:
    pad = [(0, -s % STRIDE) for s in x.shape]
    return np.pad(x, pad, mode="edge")


class _Analysed:
    """A volume through the analysis transform once; quantize/decode at any quality."""

    def __init__(self, net, volume: np.ndarray, device):
        import torch

        self.net, self.device = net, device
        self.lo, self.hi = float(volume.min()), float(volume.max())
        self.shape, self.dtype = volume.shape, volume.dtype
        x = normalized(volume, self.lo, self.hi)
        with torch.no_grad():
            t = torch.from_numpy(_padded(x))[None, None].to(device)
            self.y = net.analyse(t)[0]

    def symbols(self, quality: float) -> np.ndarray:
        import torch

        with torch.no_grad():
            g = self.net.gain(quality).to(self.device).view(-1, 1, 1, 1)
            return torch.round(self.y * g).cpu().numpy().astype(np.int64)


def _synthesize(net, symbols: np.ndarray, quality: float, shape, device) -> np.ndarray:
    """Integer latents (M, d, h, w) → [0, 1] float32 volume of ``shape`` (cropped from the start)."""
    import torch

    with torch.no_grad():
        g = net.gain(quality).to(device).view(-1, 1, 1, 1)
        y_hat = torch.from_numpy(symbols.astype(np.float32)).to(device) / g
        x = net.synthesize(y_hat[None])[0, 0].clamp(0, 1).cpu().numpy()
    return x[: shape[0], : shape[1], : shape[2]]


def _region_latents(box, latent_shape):
    """Latent sub-box (with halo) covering a voxel ``box``, and the voxel offset of its first latent."""
    lat = [
        slice(max(0, a // STRIDE - _HALO), min(n, -(-b // STRIDE) + _HALO))
        for (a, b), n in zip(box, latent_shape)
    ]
    return lat, [s.start * STRIDE for s in lat]


@register
class VolumeConvCodec(Codec):
    name = "volume-conv"
    kind = "volume"
    description = "learned conv 3-D transform coding (conv analysis/synthesis, GDN, Laplace tables, ANS)"
    options = (
        Option(
            "quality",
            float,
            3.0,
            "rate knob: 0 (smallest) .. levels-1 (best); fractions interpolate",
            low=0.0,
            high=63.0,
        ),
        Option(
            "target_psnr",
            float,
            None,
            "pick the smallest quality whose PSNR (dB, data range) reaches this",
            low=0.0,
            high=200.0,
        ),
        Option(
            "model",
            str,
            "default",
            "'default' (shipped) or a model file from train-volume (embedded in the file)",
        ),
        Option("device", str, "auto", "where the transforms run", choices=("auto", "cpu", "cuda")),
    )

    #: Quality levels of the shipped model (checked against it by the tests).
    LEVELS = 7
    presets = {
        "smoke": ({},),
        "quick": tuple({"quality": float(q)} for q in range(LEVELS)),
        "default": tuple({"quality": q / 2} for q in range(2 * LEVELS - 1)),
    }

    def encode_parts(self, data, *, quality, target_psnr=None, model="default", device="auto", progress=None):
        from ...nn.device import resolve_device

        volume = as_volume(data)
        if volume.size > MAX_VOXELS:
            raise InputError(
                f"volume of {volume.size} voxels is over the limit of {MAX_VOXELS}; split it first"
            )
        embedded = model != "default"
        if embedded:
            path = model
            try:
                blob = open(path, "rb").read()
            except OSError as exc:
                raise InputError(f"{path}: cannot read the volume model ({exc})") from None
            net, digest = _model(blob)
        else:
            net, digest = _model("default")
        levels = net.arch.levels
        if quality > levels - 1:
            raise InputError(f"volume: quality must be in [0, {levels - 1}] for this model, got {quality}")
        dev = resolve_device(device)
        header = volume_header(volume) | {
            "model": "embedded" if embedded else "default",
            "model_digest": digest,
        }
        sections = {"model": blob} if embedded else {}
        lo, hi = header["range"]
        if hi == lo:  # constant: nothing else to store
            header.update(quality=quality, latent_shape=[0, 0, 0, 0])
            return header, sections
        net = net.to(dev)
        a = _Analysed(net, volume, dev)
        if target_psnr is not None:
            quality, psnr = self._search(a, volume, target_psnr, levels, progress)
            header["psnr"] = round(psnr, 3)
        q = a.symbols(quality)
        header.update(quality=quality, latent_shape=list(q.shape))
        sections["latents"] = encode_latents(q.reshape(q.shape[0], -1))
        return header, sections

    @staticmethod
    def _search(a: _Analysed, volume, target: float, levels: int, progress) -> tuple[float, float]:
        """Smallest quality on a 0.25 grid whose decoded PSNR reaches ``target``."""

        def psnr_at(q: float) -> float:
            x = _synthesize(a.net, a.symbols(q), q, a.shape, a.device)
            return psnr(volume, restore_values(x, a.dtype, a.lo, a.hi, scaled=True), data_range=a.hi - a.lo)

        grid = np.arange(0.0, levels - 1 + 1e-9, 0.25).round(2).tolist()
        return smallest_level_reaching(grid, psnr_at, target, progress)

    def decode_parts(self, header: dict, sections: dict[str, bytes]):
        return self.decode_region(header, sections, None)

    def decode_region(self, header: dict, sections: dict[str, bytes], region):
        """Decode the whole volume, or only the latents (plus a halo) under ``region``."""
        from ...nn.device import resolve_device

        shape, dtype, lo, hi = read_volume_header(header)
        if math.prod(shape) > MAX_VOXELS:
            raise FormatError(f"volume file: shape {list(shape)} is over the limit of {MAX_VOXELS} voxels")
        box = check_region(region, shape) if region is not None else [(0, s) for s in shape]
        out_shape = tuple(b - a for a, b in box)
        if lo == hi:
            return np.full(out_shape, lo).astype(dtype)
        net = self._decoder_model(header, sections)
        quality = header.get("quality")
        if (
            not isinstance(quality, (int, float))
            or isinstance(quality, bool)
            or not 0 <= quality <= net.arch.levels - 1
        ):
            raise FormatError(f"volume file: invalid quality {quality!r}")
        expect = [net.arch.latent] + [-(-s // STRIDE) for s in shape]
        if header.get("latent_shape") != expect:
            raise FormatError(f"volume file: latent shape {header.get('latent_shape')!r}, expected {expect}")
        if "latents" not in sections:
            raise FormatError("volume file: section 'latents' is missing")
        q = decode_latents(sections["latents"], expect[0], math.prod(expect[1:])).reshape(expect)
        lat, origin = _region_latents(box, expect[1:])
        index = (slice(None), *lat)  # a separate tuple: mypy reads q[(a, *b)] as 3.11-only q[a, *b]
        sub = q[index]
        dev = resolve_device("auto")
        x = _synthesize(net.to(dev), sub, float(quality), [STRIDE * n for n in sub.shape[1:]], dev)
        x = x[tuple(slice(a - o, b - o) for (a, b), o in zip(box, origin))]
        return restore_values(np.ascontiguousarray(x), dtype, lo, hi, scaled=True)

    @staticmethod
    def _decoder_model(header: dict, sections: dict[str, bytes]):
        return decoder_model(header, sections, _model, default_model_path().name)
