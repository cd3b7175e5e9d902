"""The ``implicit`` codec: one mesh → one small quantized, entropy-coded neural SDF.

File layout (header + two sections):

* header: ``architecture`` (layers, width, activation, encoding, frequencies), ``bits``,
  ``frame`` (normalized ↔ original), ``surface_error`` (measured on the stored, quantized
  weights), ``fit`` (the training settings, for the record);
* ``steps``: one float32 quantization step per tensor;
* ``weights``: all quantized weights, entropy-coded against their stored frequency table.
"""

from __future__ import annotations

import numpy as np

from ...container import Container, header_get
from ...entropy import decode_symbols, encode_symbols
from ...errors import FormatError, InputError
from ...geometry.normalize import Frame, frame_of_mesh
from ...mesh import Mesh, as_mesh
from ...nn.mlp import Architecture, SdfMLP, mlp_from_tensors
from ...nn.quant import dequantize_tensors, quant_levels, quantize_tensors
from ..base import FIELD, KERAS_EXPORT, Codec, Option, register
from .fit import (
    QUALITY_RESOLUTION,
    FitSettings,
    decoded_quality,
    distill_quantized,
    evaluate_mlp,
    fit_sdf,
    surface_error,
    zero_set_mesh,
    zero_set_points,
)
from .keras import save_keras_h5
from .shape import ImplicitShape

__all__ = ["ImplicitCodec", "GROWTH_LADDER", "encode_model", "decode_model"]

#: Most weights a file may declare per byte of its entropy-coded weights section.
_MAX_WEIGHTS_PER_BYTE = 64

#: The network families of ``--architecture``: Davies et al.'s plain ReLU MLP (``mlp``, their
#: 8×32, the layout of their Keras files) and the default, the same MLP over a positional
#: encoding of 4 octaves with one layer fewer (about the same bytes): on 10 shared meshes at the
#: same training budget its decoded median F@0.01 is 0.998 against 0.80 (BENCHMARKS.md).
ARCHITECTURES = {
    "positional": {
        "layers": 7,
        "width": 32,
        "activation": "relu",
        "encoding": "positional",
        "frequencies": 4,
    },
    "mlp": {"layers": 8, "width": 32, "activation": "relu", "encoding": "none", "frequencies": 6},
}

#: Architectures tried in order by ``--target-error`` (paper App. A.2: grow until good enough).
GROWTH_LADDER = ((4, 16), (6, 24), (8, 32), (8, 48), (8, 64), (10, 96), (12, 128))


def encode_model(model: SdfMLP, bits: int) -> tuple[dict[str, bytes], SdfMLP]:
    """Quantize and entropy-code a model; also return the model as the decoder will see it."""
    tensors = [t.detach().cpu().numpy() for t in model.tensors()]
    q, steps = quantize_tensors(tensors, bits)
    sections = {"steps": steps.astype("<f4").tobytes(), "weights": encode_symbols(q)}
    decoded = dequantize_tensors(q, steps, model.arch.tensor_shapes(), bits)
    return sections, mlp_from_tensors(model.arch, decoded)


def decode_model(arch: Architecture, bits: int, sections: dict[str, bytes]) -> SdfMLP:
    """Inverse of :func:`encode_model` over untrusted sections (:class:`FormatError`)."""
    for name in ("steps", "weights"):
        if name not in sections:
            raise FormatError(f"implicit file: missing section '{name}'")
    shapes = arch.tensor_shapes()
    raw = sections["steps"]
    if len(raw) != 4 * len(shapes):
        raise FormatError(f"implicit file: section 'steps' has {len(raw)} bytes, expected {4 * len(shapes)}")
    steps = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    # A hostile header could declare a huge network over a tiny section; real weights never
    # take less than ~1 bit each, so refuse before allocating anything in proportion to it.
    if arch.parameter_count > _MAX_WEIGHTS_PER_BYTE * len(sections["weights"]) + 4096:
        raise FormatError(
            f"implicit file: the architecture declares {arch.parameter_count} weights but section "
            f"'weights' holds only {len(sections['weights'])} bytes"
        )
    q = decode_symbols(sections["weights"], count=arch.parameter_count)
    return mlp_from_tensors(arch, dequantize_tensors(q, steps, shapes, bits))


@register
class ImplicitCodec(Codec):
    name = "implicit"
    kind = "mesh"
    description = "one mesh → one small neural SDF (Davies et al.), quantized and entropy-coded"
    _fit = FitSettings()
    options = (
        Option(
            "architecture",
            str,
            "positional",
            "network family: 'positional' (a ReLU MLP over a 4-octave positional encoding, 7×32) or "
            "'mlp' (the paper's plain ReLU MLP, 8×32, Keras-compatible); the options below override it",
            choices=tuple(ARCHITECTURES),
        ),
        Option("layers", int, None, "hidden layers of the MLP (default: the architecture's)", low=1, high=64),
        Option("width", int, None, "hidden size of the MLP (default: the architecture's)", low=1, high=1024),
        Option("activation", str, None, "hidden activation (default relu)", choices=("relu", "siren")),
        Option(
            "encoding",
            str,
            None,
            "input encoding (default: the architecture's)",
            choices=("none", "positional"),
        ),
        Option("frequencies", int, None, "octaves of the positional encoding", low=1, high=16),
        Option("bits", int, _fit.bits, "bits per stored weight", low=2, high=16),
        Option("samples", int, _fit.samples, "training points", low=1000, high=50_000_000),
        Option("epochs", int, _fit.epochs, "training passes over the points", low=1, high=10_000),
        Option("batch_size", int, _fit.batch_size, "points per training step", low=16, high=1 << 22),
        Option("lr", float, _fit.lr, "peak learning rate (Adam, cosine decay)", low=1e-6, high=1.0),
        Option("beta", float, _fit.beta, "importance-sampling concentration β", low=0.0, high=1e4),
        Option("sampler", str, _fit.sampler, "how training points are drawn", choices=("surface", "pool")),
        Option(
            "init",
            str,
            _fit.init,
            "initial network: 'sphere' (geometric init) or 'default'",
            choices=("default", "sphere"),
        ),
        Option(
            "qat_epochs",
            float,
            _fit.qat_epochs,
            "quantization-aware fine-tuning passes",
            low=0.0,
            high=1000.0,
        ),
        Option("seed", int, _fit.seed, "random seed", low=0, high=2**31 - 1),
        Option("device", str, _fit.device, "where to train", choices=("auto", "cpu", "cuda")),
        Option(
            "threads",
            int,
            _fit.threads,
            "CPU threads for training (1: one process per core scales better)",
            low=1,
            high=256,
        ),
        Option(
            "target_error",
            float,
            None,
            "grow the network until the surface error ≤ this (App. A.2)",
            low=0.0,
            high=1.0,
        ),
        Option(
            "measure_resolution",
            int,
            QUALITY_RESOLUTION,
            "grid of the decode the encoder measures against the input (as nc3d decompress meshes it)",
            low=16,
            high=512,
        ),
        Option(
            "target_f_score",
            float,
            None,
            "grow the network until the decoded mesh's F-score@0.01 against the input ≥ this",
            low=0.0,
            high=1.0,
        ),
    )

    def encode_parts(
        self, data, *, target_error=None, target_f_score=None, measure_resolution, progress=None, **settings
    ):
        if isinstance(data, ImplicitShape):  # already trained (e.g. a Keras file): quantize only
            if target_error is not None or target_f_score is not None:
                raise InputError("a target needs a mesh to fit; the input is an already trained network")
            return self._encode_trained(data, settings["bits"])
        mesh = as_mesh(data)
        frame = frame_of_mesh(mesh)
        normalized = frame.normalize_mesh(mesh)
        family = ARCHITECTURES[settings.pop("architecture")]
        arch_keys = tuple(family)
        fit = FitSettings(**{k: v for k, v in settings.items() if k not in arch_keys})
        base = Architecture(**{k: family[k] if settings[k] is None else settings[k] for k in arch_keys})
        targeted = target_error is not None or target_f_score is not None
        if not targeted:
            candidates = [base]
        else:  # grow: every ladder step not smaller than nothing, capped by the requested size
            cap = base.parameter_count
            candidates = [
                a
                for a in (
                    Architecture(n, w, base.activation, base.encoding, base.frequencies)
                    for n, w in GROWTH_LADDER
                )
                if a.parameter_count <= cap
            ] or [base]
        tried = []  # nothing time-dependent goes into the header: same input → same bytes
        for arch in candidates:
            model, _ = fit_sdf(normalized, arch, fit, progress=progress)
            sections, stored = encode_model(model, fit.bits)
            err = surface_error(stored, normalized)
            quality = decoded_quality(stored, normalized, resolution=measure_resolution)
            reached = (target_error is None or err <= target_error) and (
                target_f_score is None or quality["f_score_0.01"] >= target_f_score
            )
            tried.append(
                {
                    "layers": arch.layers,
                    "width": arch.width,
                    "surface_error": err,
                    "f_score_0.01": quality["f_score_0.01"],
                }
            )
            if reached:
                break
        if quality["chamfer_p2s"] is None:  # a file that decodes to nothing is data loss, not a result
            raise InputError(
                f"the fitted network has no surface inside its cube (at {measure_resolution}³): the file "
                "would decode to nothing; train longer (epochs, samples) or a larger network (width, layers)"
            )
        header = {
            "architecture": arch.to_dict(),
            "bits": fit.bits,
            "frame": frame.to_dict(),
            "surface_error": err,
            "quality": quality,
            "fit": {k: v for k, v in fit.to_dict().items() if k not in ("device", "threads")},
        }
        if targeted:
            header["target"] = {
                "surface_error": target_error,
                "f_score_0.01": target_f_score,
                "reached": reached,
                "tried": tried,
            }
        return header, sections

    def _encode_trained(self, shape: ImplicitShape, bits: int) -> tuple[dict, dict[str, bytes]]:
        """Header and sections for an already trained network: no mesh to fit, its frame kept.

        Rounding the weights would move the network's surface, so they are first fine-tuned to
        keep it (:func:`.fit.distill_quantized`). There is no mesh to measure against, so
        ``surface_error`` is ``null``; instead ``zero_set_error`` is the median |f_stored| on
        2·10⁴ points of the original network's zero level set and ``quantization_error`` mean
        |f_stored − f| over 10⁵ uniform points of [-1, 1]³ (normalized units). The architecture
        settings are ignored (the network's own is kept).
        """
        zero_set = zero_set_mesh(shape.model)  # meshed once: the fine-tuning's samples and the check's
        if shape.architecture.activation != "relu":  # rescaling and STE fine-tuning assume ReLU
            sections, stored = encode_model(shape.model, bits)
        else:
            sections, stored = encode_model(distill_quantized(shape.model, bits, zero_set=zero_set), bits)
        points = np.random.default_rng(12345).uniform(-1.0, 1.0, (100_000, 3)).astype(np.float32)
        q_err = float(np.abs(evaluate_mlp(stored, points) - evaluate_mlp(shape.model, points)).mean())
        on_surface = zero_set_points(zero_set, 20_000, seed=12345)
        zero_err = float(np.median(np.abs(evaluate_mlp(stored, on_surface)))) if len(on_surface) else None
        header = {
            "architecture": shape.architecture.to_dict(),
            "bits": bits,
            "frame": shape.frame.to_dict(),
            "surface_error": None,
            "zero_set_error": zero_err,
            "quantization_error": q_err,
            "source": shape.header.get("source", "nc3d"),
        }
        return header, sections

    def open(self, c) -> ImplicitShape:
        h = self.check_container(c)
        arch = Architecture.from_dict(header_get(h, "architecture", dict))
        bits = header_get(h, "bits", int, min=2, max=16)
        quant_levels(bits)
        frame = Frame.from_dict(header_get(h, "frame", dict))
        return ImplicitShape(decode_model(arch, bits, c.sections), frame, container=c)

    @staticmethod
    def save_keras(shape: ImplicitShape, path, *, force: bool = False):
        """Write ``shape``'s network as Keras HDF5 weights (:func:`.keras.save_keras_h5`)."""
        return save_keras_h5(shape, path, force=force)

    def decode_parts(self, header, sections) -> Mesh:
        return self.open(Container(self.name, header, sections)).decode()

    capabilities = frozenset({FIELD, KERAS_EXPORT})
    presets = {
        "smoke": (
            {
                "layers": 1,
                "width": 8,
                "samples": 2000,
                "epochs": 1,
                "qat_epochs": 0.0,
                "measure_resolution": 32,
            },
        ),
        # quick: ≈ 2,800 steps of 1,024 points (defaults: ≈ 5,400 of 4,096); see BENCHMARKS.md
        "quick": ({"samples": 100_000, "epochs": 25, "batch_size": 1024},),
        "default": ({"width": 16, "layers": 6}, {}, {"width": 48}, {"width": 64}),
    }
