"""The ``volume`` codec (default for volumes): a 3-D wavelet with an adaptive, learned-prior context model.

Format 3 (the default since 2026-12-07; :mod:`.volume_wavelet`): values → [0, 1] by the volume's
min/max → 3-D CDF 9/7 wavelet (:mod:`nc3d.wavelet`) → one dead-zone quantizer step for every band,
``step = 2.56 · 2^(−quality/2)`` → the low-pass box and the bands coded coarse to fine against the
rows of an integer table indexed by each coefficient's parent, its earlier sibling bands and its
neighbours; the table starts from the shipped prior (``volume-wavelet.npz``, fixed by digest) and
adapts to the file pass by pass. The file's header is ``{"format": 3}`` (and ``psnr`` when a target
was given); everything else is one section ``w`` (:func:`.volume_wavelet.pack_payload`: shape,
dtype, range, quality, model digest in ~20 bytes, then the streams) — small files matter (a
smooth 64³ float32 field, 1 MB, is 252 bytes at 40 dB). A region decodes the whole volume and crops.

Formats 1–2 (still written with ``model="dct"`` or a DCT model file, and always decoded): 8³ blocks
(the last ones edge-padded) → orthonormal DCT → divided by ``step · (1 + tilt · band / 21)`` with
dead-zone rounding → DC by 3-D Lorenzo or x-difference prediction (order-0 ANS), block activity
``z`` (order-0 ANS), AC band by band against the model's (band, z row, parents) tables
(:mod:`.volume_ctx`; format 1: the (band, z) tables of :mod:`.volume_model`); decoded at the
learned centroids, then the learned deblocking filter (:mod:`.deblock`). Header ``shape``,
``dtype``, ``range``, ``quality``, ``dc_pred``, ``model`` / ``model_digest`` (``volume-ctx.npz``
when the header has ``ac: "ctx"``, ``volume.npz`` without it), optionally ``zshift`` (21 ints: the
table-row shift of bands 1..21, absent = 0); sections ``dc``, ``z``, ``ac``, ``esc``. A constant
volume stores no sections. Region decoding entropy-decodes every symbol and inverse-transforms only
the blocks under the region plus a one-block halo. Files of the conv codec (``volume-conv``, called
``volume`` before 2026-11-22: their header has ``latent_shape``) still decode.

Label volumes (:func:`.volume_labels.looks_like_labels`: integer values, ≤ 256 of them,
piecewise constant) are handed to the lossless ``volume-labels`` codec, whose file it is — unless
a lossy setting (``quality``, ``target_psnr``, ``model``) is given or ``lossless=False``;
``lossless=True`` codes any volume with ≤ 65536 distinct values that way.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ...blocks import block_grid, merge_blocks, split_blocks
from ...container import header_get
from ...dct import dct_blocks as _dct
from ...entropy import decode_symbols, encode_symbols
from ...errors import FormatError, InputError
from ...io.volumes import as_volume
from ...metrics.volume import psnr
from ...wavelet import forward_cdf97, split_axes
from ..base import REGION_DECODE, Codec, Option, register
from ..volume_header import (
    check_region,
    decoder_model,
    normalized,
    read_volume_header,
    restore_values,
    smallest_level_reaching,
    volume_header,
)
from .deblock import deblock
from .volume_ctx import choose_zshift_ctx, decode_ac_ctx, encode_ac_ctx
from .volume_labels import VolumeLabelsCodec, looks_like_labels
from .volume_model import (
    AC_BAND,
    QUALITY_MAX,
    Z_LEVELS,
    ZSHIFT_MAX,
    block_activity,
    choose_zshift,
    deblock_bucket,
    decode_ac,
    decode_grid,
    default_ldct_path,
    encode_ac,
    load_ldct_model,
    quality_step,
    quantize_blocks,
    steps_for,
    v1_ldct_path,
)
from .volume_wavelet import (
    QUALITY_UNITS,
    coefficient_bound,
    decode_wavelet,
    default_wavelet_path,
    dequantize_wavelet,
    encode_wavelet,
    load_wavelet_model,
    lorenzo_residuals,
    lorenzo_restore,
    pack_payload,
    quantize_wavelet,
    unpack_payload,
)

__all__ = ["VolumeCodec", "quality_step", "QUALITY_MAX"]  # the last two re-exported from .ldct

_MODEL: dict = {}
#: The encoder tries a per-band table shift (a second AC coding) only when it estimates a saving
#: above this many bytes.
ZSHIFT_MIN_SAVING = 32
#: The qualities a ``target_psnr`` search chooses from (both formats): a 0.25 grid.
_TARGET_LEVELS = np.arange(0.0, QUALITY_MAX + 1e-9, 0.25).round(2).tolist()


def _load(source):
    """(model, digest) of ``"default"`` (shipped), ``"v1"`` (the shipped model of the files
    without the ``ac`` header key), a path or bytes; cached."""
    key = source if isinstance(source, (str, bytes)) else str(source)
    if key not in _MODEL:
        shipped = {"default": default_ldct_path, "v1": v1_ldct_path}
        _MODEL[key] = load_ldct_model(shipped[source]() if key in shipped else source)
    return _MODEL[key]


def _load_wavelet(source):
    """(model, digest) of the wavelet model ``"default"`` (shipped), a path or bytes; cached."""
    key = ("wavelet", source if isinstance(source, (str, bytes)) else str(source))
    if key not in _MODEL:
        _MODEL[key] = load_wavelet_model(default_wavelet_path() if source == "default" else source)
    return _MODEL[key]


def _load_any(blob: bytes) -> tuple[dict, bool]:
    """A model file's bytes → (model, is_wavelet): a wavelet model, or a DCT one (format-2 files)."""
    try:
        return _load_wavelet(blob)[0], True
    except InputError:
        pass
    try:
        return _load(blob)[0], False
    except InputError:
        raise InputError("not a volume model (neither a wavelet nor a DCT model file)") from None


def _load_v1(source):
    return _load("v1" if source == "default" else source)


def _conv():
    from .volume_conv import VolumeConvCodec

    return VolumeConvCodec()


@register
class VolumeCodec(Codec):
    name = "volume"
    kind = "volume"
    baseline = False
    description = (
        "3-D CDF 9/7 wavelet + adaptive context model with a learned prior (8³ DCT files on request)"
    )
    options = (
        Option(
            "quality",
            float,
            14.0,
            f"rate knob: 0 (smallest) .. {QUALITY_MAX:g} (best); +2 halves the step",
            low=0.0,
            high=QUALITY_MAX,
        ),
        Option(
            "target_psnr",
            float,
            None,
            "pick the smallest quality (0.25 grid) whose PSNR (dB, data range) reaches this",
            low=0.0,
            high=200.0,
        ),
        Option(
            "model",
            str,
            "default",
            "'default' (the shipped wavelet model), 'dct' (the shipped 8³ DCT model: format-2 files, "
            "regions decoded block by block) or a model file (embedded in the file)",
        ),
        Option(
            "lossless",
            bool,
            None,
            "true: code exactly (volume-labels; ≤ 65536 distinct values); false: lossy; "
            "unset: lossless for label volumes (integers, ≤ 256 values, piecewise constant) "
            "unless a lossy setting is given",
        ),
    )
    #: The settings that ask for a lossy file.
    LOSSY_SETTINGS = ("quality", "target_psnr", "model")

    capabilities = frozenset({REGION_DECODE})
    #: 2: context-coded AC (header ``ac: "ctx"``), 2026-12-07; 3: the CDF 9/7 wavelet in one
    #: section ``w`` (the default since 2026-12-07, :mod:`.volume_wavelet`); files of formats 1
    #: and 2 (DCT, still written with ``model="dct"``) decode
    format = 3
    presets = {
        "smoke": ({},),
        "quick": ({"quality": 8.0}, {"quality": 12.0}, {"quality": 16.0}),
        "default": tuple({"quality": float(q)} for q in range(int(QUALITY_MAX) + 1)),
    }

    def encode(self, data, *, progress=None, **settings) -> bytes:
        """Lossy (this codec's file) or, for label volumes, lossless (a ``volume-labels`` file)."""
        resolved = self.resolve_settings(settings)
        lossy = [k for k in self.LOSSY_SETTINGS if settings.get(k) is not None]
        lossless = resolved["lossless"]
        if lossless and lossy:
            raise InputError(f"volume: lossless=True does not take {', '.join(lossy)} (lossy settings)")
        if lossless is None and not lossy:
            lossless = looks_like_labels(data)
        if lossless:
            return VolumeLabelsCodec().encode(data, progress=progress)
        return super().encode(data, progress=progress, **settings)

    def decode_container(self, c, region=None):
        """Decode a file of this codec, or the ``volume-labels`` file :meth:`encode` handed over."""
        if c.codec == VolumeLabelsCodec.name:
            return VolumeLabelsCodec().decode_container(c, region=region)
        return super().decode_container(c, region=region)

    def encode_parts(self, data, *, quality, target_psnr=None, model="default", lossless=None, progress=None):
        v = as_volume(data)
        sections = {}
        wavelet = model == "default"
        if wavelet:
            model, digest = _load_wavelet("default")
            header = {}
        elif model == "dct":
            model, digest = _load("default")
            header = volume_header(v) | {"model": "default", "model_digest": digest}
        else:
            try:
                blob = open(model, "rb").read()
            except OSError as exc:
                raise InputError(f"{model}: cannot read the volume model ({exc})") from None
            model, wavelet = _load_any(blob)
            header = {} if wavelet else volume_header(v) | {"model": "embedded"}
            digest = ""
            sections["model"] = blob
        if wavelet:
            return header, sections | self._encode_wavelet(
                v, header, model, digest, quality, target_psnr, progress
            )
        return self._encode_dct(v, header, sections, model, quality, target_psnr, progress)

    @staticmethod
    def _encode_wavelet(v, header, model, digest, quality, target_psnr, progress) -> dict[str, bytes]:
        """Format 3: CDF 9/7 wavelet, adaptive context-coded coefficients (:mod:`.volume_wavelet`),
        everything in one section ``w`` (:func:`.volume_wavelet.pack_payload`); ``header`` gets the
        PSNR reached when a target was given."""
        fields = volume_header(v)
        lo, hi = fields["range"]
        if lo == hi:
            return {"w": pack_payload(fields, quality, digest, {"bits": b"", "detail": b""})}
        x = normalized(v, lo, hi)
        low, bands = forward_cdf97(x)

        def quantized(q: float):
            return quantize_wavelet(low, bands, quality_step(q), model["rounding"])

        if target_psnr is not None:

            def psnr_at(q: float) -> float:
                ql, qbands = quantized(q)
                y = dequantize_wavelet(ql, qbands, quality_step(q), model["offset"])
                return psnr(x, np.clip(y, 0, 1), data_range=1.0)

            quality, reached = smallest_level_reaching(_TARGET_LEVELS, psnr_at, target_psnr, progress)
            header["psnr"] = round(reached, 3)
        quality = round(quality * QUALITY_UNITS) / QUALITY_UNITS  # quantize at the step the file stores
        ql, qbands = quantized(quality)
        streams = encode_wavelet(ql, qbands, split_axes(x.shape), model)
        return {"w": pack_payload(fields, quality, digest, streams)}

    def _encode_dct(self, v, header, sections, model, quality, target_psnr, progress):
        """Format 2 (and 1, for models without the context table): 8³ DCT (files written with a DCT model)."""
        if "ctx" in model:  # AC coded band by band against (band, activity, parents) cells
            header["ac"] = "ctx"
        lo, hi = header["range"]
        if lo == hi:
            return header | {"quality": quality, "dc_pred": "x"}, sections
        x = normalized(v, lo, hi)
        blocks, grid = split_blocks(x, 8, 0)
        if target_psnr is not None:
            quality, psnr = self._search(model, x, blocks, grid, target_psnr, progress)
            header["psnr"] = round(psnr, 3)
        q, _ = quantize_blocks(blocks, steps_for(quality_step(quality), model["tilt"]), model["dead_zone"])
        z = block_activity(q)
        dc = {
            "lorenzo": encode_symbols(lorenzo_residuals(q[:, 0].reshape(grid))),
            "x": encode_symbols(np.diff(q[:, 0], prepend=0)),
        }
        pred = min(dc, key=lambda k: len(dc[k]))
        if "ctx" in model:
            coder, chooser = encode_ac_ctx, choose_zshift_ctx
        else:
            coder, chooser = encode_ac, choose_zshift
        ac, esc = coder(q, z, model)
        shift, saved = chooser(q, z, model)
        if saved > ZSHIFT_MIN_SAVING:  # the estimate ignores escapes: keep the shift only if it codes smaller
            field = shift[1:].tolist()
            ac2, esc2 = coder(q, z, model, shift)
            if len(ac2) + len(esc2) + len(json.dumps({"zshift": field})) < len(ac) + len(esc):
                header["zshift"], ac, esc = field, ac2, esc2
        header.update(quality=quality, dc_pred=pred)
        return header, sections | {"dc": dc[pred], "z": encode_symbols(z), "ac": ac, "esc": esc}

    @staticmethod
    def _search(model, x, blocks, grid, target: float, progress) -> tuple[float, float]:
        """Smallest quality on a 0.25 grid whose decoded PSNR reaches ``target``."""

        def psnr_at(quality: float) -> float:
            steps = steps_for(quality_step(quality), model["tilt"])
            q, _ = quantize_blocks(blocks, steps, model["dead_zone"])
            y = deblock(
                decode_grid(q, steps, model["offsets"], grid), model["deblock"][deblock_bucket(quality)]
            )
            return psnr(x, np.clip(y[: x.shape[0], : x.shape[1], : x.shape[2]], 0, 1), data_range=1.0)

        return smallest_level_reaching(_TARGET_LEVELS, psnr_at, target, progress)

    def decode_parts(self, header, sections):
        if "latent_shape" in header:  # written by the conv codec, named "volume" until 2026-11-22
            return _conv().decode_parts(header, sections)
        return self.decode_region(header, sections, None)

    def decode_region(self, header, sections, region):
        """Decode the blocks under ``region`` plus a one-block halo (for the deblocking), then crop."""
        if "latent_shape" in header:
            return _conv().decode_region(header, sections, region)
        if "w" in sections:  # format 3
            return self._decode_wavelet(header, sections, region)
        shape, dtype, lo, hi, coef, steps, weights = self._symbols(header, sections)
        box = check_region(region, shape) if region is not None else [(0, s) for s in shape]
        if coef is None:
            return np.full(tuple(b - a for a, b in box), lo).astype(dtype)
        grid = block_grid(shape, 8)
        first = [max(0, a // 8 - 1) for a, _ in box]
        last = [min(g, -(-b // 8) + 1) for (_, b), g in zip(box, grid)]
        idx = np.ravel_multi_index(np.ix_(*[np.arange(f, e) for f, e in zip(first, last)]), grid).ravel()
        if idx.size == len(coef):  # the whole volume: scale in place, no gathered copy
            coef *= steps
            scaled = coef
        else:
            scaled = coef[idx] * steps
        blocks = _dct(scaled.reshape(-1, 8, 8, 8), inverse=True).astype(np.float32, copy=False)
        sub = deblock(merge_blocks(blocks, [(e - f) * 8 for f, e in zip(first, last)], 8, 0), weights)
        crop = tuple(slice(a - f * 8, b - f * 8) for (a, b), f in zip(box, first))
        return restore_values(np.ascontiguousarray(sub[crop]), dtype, lo, hi, scaled=True)

    def describe_file(self, header: dict, sections: dict) -> dict:
        """Format 3 keeps shape, dtype, range, quality and the model in section ``w``."""
        if "w" not in sections:
            return {}
        fields, quality, digest, _ = unpack_payload(sections["w"])
        return fields | {"quality": quality, "model": f"default ({digest})" if digest else "embedded"}

    def _decode_wavelet(self, header, sections, region):
        """Format 3: the whole volume is decoded (the wavelet is not blockwise), then cropped."""
        fields, quality, digest, streams = unpack_payload(sections["w"])
        shape, dtype, lo, hi = read_volume_header(
            fields, max_voxels_per_byte=1e5, stored_bytes=sum(map(len, sections.values()))
        )
        if not 0 <= quality <= QUALITY_MAX:
            raise FormatError(f"volume file: quality {quality} is outside 0..{QUALITY_MAX:g}")
        kind = {"model": "default" if digest else "embedded", "model_digest": digest}
        model = decoder_model(kind, sections, _load_wavelet, default_wavelet_path().name)
        box = check_region(region, shape) if region is not None else [(0, s) for s in shape]
        if lo == hi:
            return np.full(tuple(b - a for a, b in box), lo).astype(dtype)
        step = quality_step(quality)
        ql, qbands = decode_wavelet(streams, shape, model, coefficient_bound(step))
        y = dequantize_wavelet(ql, qbands, step, model["offset"])
        crop = tuple(slice(a, b) for a, b in box)
        return restore_values(np.ascontiguousarray(y[crop]), dtype, lo, hi, scaled=True)

    def _symbols(self, header, sections):
        """Entropy-decode → (shape, dtype, lo, hi, coefficients (n, 512) float32 in step units, steps,
        deblocking weights)."""
        shape, dtype, lo, hi = read_volume_header(
            header, max_voxels_per_byte=1e5, stored_bytes=sum(map(len, sections.values()))
        )
        model = self._decoder_model(header, sections)
        quality = header_get(header, "quality", float, min=0.0, max=QUALITY_MAX)
        pred = header_get(header, "dc_pred", str, choices=("lorenzo", "x"))
        context = header_get(header, "ac", str, choices=("ctx",), default=None)
        if lo == hi:
            return shape, dtype, lo, hi, None, None, None
        for name in ("dc", "z", "ac", "esc"):  # the four coded streams
            if name not in sections:
                raise FormatError(f"volume file: section {name!r} is missing")
        grid = block_grid(shape, 8)
        n = math.prod(grid)
        steps = steps_for(quality_step(quality), model["tilt"])
        # Values in [0, 1] give |coefficient| <= 8**1.5 (DC residuals 8x that): larger symbols
        # only come from a hostile file, and refusing them keeps int32 exact.
        bound = int(8 * 8**1.5 / float(steps[0])) + 2
        z = decode_symbols(sections["z"], count=n)
        if z.size and (int(z.min()) < 0 or int(z.max()) >= Z_LEVELS):
            raise FormatError("volume file: block activity out of range")
        res = decode_symbols(sections["dc"], count=n)
        if res.size and int(np.abs(res).max()) > bound:
            raise FormatError("volume file: DC residuals out of range")
        dc = lorenzo_restore(res, grid).ravel() if pred == "lorenzo" else np.cumsum(res)
        if np.abs(dc).max() > bound:
            raise FormatError("volume file: DC coefficients out of range")
        if context is not None:
            if "ctx" not in model:
                raise FormatError("volume file: context-coded, but its model has no context table")
            ac = decode_ac_ctx(sections["ac"], sections["esc"], z, model, bound, _zshift(header))
        else:
            ac = decode_ac(sections["ac"], sections["esc"], z, model, bound, _zshift(header))
        if np.any(block_activity(np.concatenate([dc[:, None].astype(np.int32), ac], axis=1)) != z):
            raise FormatError("volume file: block activity does not match the coefficients")
        coef = np.empty((n, 512), dtype=np.float32)
        coef[:, 0] = dc
        f = ac.astype(np.float32)
        f -= np.sign(f) * model["offsets"][AC_BAND]
        coef[:, 1:] = f
        return shape, dtype, lo, hi, coef, steps, model["deblock"][deblock_bucket(quality)]

    @staticmethod
    def _decoder_model(header: dict, sections: dict) -> dict:
        if "ac" in header:
            return decoder_model(header, sections, _load, default_ldct_path().name)
        return decoder_model(header, sections, _load_v1, v1_ldct_path().name)


def _zshift(header: dict) -> np.ndarray | None:
    """(22,) int64 per-band table shift from the untrusted header (None when absent)."""
    value = header_get(header, "zshift", list, default=None)
    if value is None:
        return None
    if len(value) != int(AC_BAND.max()) or not all(type(v) is int and abs(v) <= ZSHIFT_MAX for v in value):
        raise FormatError(
            f"volume file: zshift must be {int(AC_BAND.max())} integers in -{ZSHIFT_MAX}..{ZSHIFT_MAX}"
        )
    return np.array([0, *value], dtype=np.int64)
