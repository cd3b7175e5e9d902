"""The ``shapeset`` codec: a set of meshes → one shared auto-decoder + one small feature per shape (NeCGS).

Encode: each mesh → normalized frame → TSDF-Def volume (cached) → the auto-decoder and the
features are fitted to all volumes together with quantization-aware training → the quantized
decoder weights and each shape's features are entropy-coded. Decode: features → decoder →
TSDF-Def volume → deformable marching cubes → original frame.

With ``mesh_shapes = "auto"`` (the default, since format 3) a shape may instead be stored as a
Draco file of its normalized mesh, where that gives the set more quality for its bytes, and a
set that Draco stores at F@0.01 ≥ :data:`MESHES_ENOUGH` within its budget trains no decoder at
all (:mod:`.meshes`).

File layout:

* header: ``architecture``, ``bits``, ``count``, ``feature_step`` (one quantization step shared
  by all features), ``names_bytes``, ``size``, and — only when a decoder is stored — ``tsdf_def``
  and ``train`` (the settings, for the record; a set of Draco files alone has neither);
* ``index.xz`` and ``names.xz``: each shape's frame, feature bytes and name (:mod:`.index`;
  format 1 held them in the header's ``frames`` and ``feature_bytes`` and a plain ``names``);
* ``decoder_steps``: one float32 quantization step per decoder tensor;
* ``decoder``: all decoder weights, entropy-coded together;
* ``features``: each shape's features entropy-coded on their own, one after the other, so one
  shape decodes without touching the others;
* ``meshes`` (format 3, always present there): the Draco files of the shapes stored as meshes,
  one after the other (a shape has feature bytes or mesh bytes in the index, never both); with
  no neural shape, ``decoder`` and ``decoder_steps`` are empty;
* ``quality`` (files since 2026-12-07, when measured): per shape, float16 little-endian pairs
  (F-score@0.01, Chamfer-p2s) of its decode against its input (:mod:`.check`); the header's
  ``quality`` holds their means, the sample count and how many features were refitted.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ...container import Container, header_get
from ...entropy import decode_symbols, encode_symbols
from ...errors import FormatError, InputError
from ...geometry.normalize import frame_of_mesh
from ...geometry.tsdf import TsdfDefSettings
from ...io.ply import canonical_ply_size
from ...mesh import Mesh, as_mesh
from ...nn import ddp
from ...nn.device import resolve_device
from ...nn.quant import dequantize_tensors, quant_levels, quantize_tensors
from ..base import ADD_SHAPES, DATA_PARALLEL, SHAPE_ACCESS, Codec, Option, register
from ..handles import MeshSetFile, safe_names
from .check import check_and_refit
from .index import INDEX_FORMAT, pack_index, read_index
from .meshes import bytes_for_quality, choose_storage, draco_options_of_set, floor_within
from .model import Architecture, AutoDecoder
from .size import DEFAULT_RATIO, HEADER_BYTES, HEADER_BYTES_PER_SHAPE, choose_size
from .train import TrainSettings, decode_volumes, train_auto_decoder

__all__ = ["ShapeSetCodec", "ShapeSetFile", "safe_names", "training_steps"]

#: Largest grid a file may ask the decoder to produce (memory: 4·K³ floats and the activations).
MAX_DECODE_RESOLUTION = 128
#: Most shapes in one file.
MAX_SHAPES = 1_000_000
#: The default size of a set (mesh_shapes auto, no size given): the fewest bytes at which its
#: shapes, as Draco meshes, reach this mean F@0.01. Measured (BENCHMARKS.md, 2026-12-07): a neural
#: decoder does not reach 0.95 on these sets at any size (38 shared meshes: 0.88 at 51× binary
#: PLY; 200 collection shapes: 0.67 at 21×), so at this quality meshes are both smaller and
#: seconds to make; the decoder is for the sizes a user asks for below Draco's reach.
DEFAULT_F_SCORE = 0.95
#: With a quality asked for (target_f_score), no shape more than this below it (where any of its
#: Draco files gets there): sharing bytes out for the most mean quality otherwise gave one
#: building of 200 collection shapes F 0.32 at the default 0.95 (parts missing) to save ~1 kB
#: (contact sheet, 2026-12-07). A fixed floor would make low targets unreachable.
SHAPE_SHORTFALL = 0.15
#: With a size asked for (target_bytes, target_ratio), no shape more than this below the mean the
#: bytes give, as far as they allow (:func:`.meshes.floor_within`): looser than SHAPE_SHORTFALL
#: because here the floor's cost comes out of every other shape's quality, not more bytes.
SIZE_SHORTFALL = 0.45
#: Mean F@0.01 of a set stored as Draco meshes at which no decoder is trained: above the TSDF-Def
#: volumes' own ceiling at K = 64 (0.966 on 30 collection shapes), so no decoder could beat it.
MESHES_ENOUGH = 0.97
#: Passes over the set a default training makes at least (each shape in ~DEFAULT_EPOCHS batches).
#: A feature learns only when its shape is drawn, so a fixed number of steps spread over more
#: shapes teaches each less: 32,000 steps give 38 shapes ~3,400 passes (mean F@0.01 0.881; 0.863
#: at half), 200 collection shapes 640. Measured on 50 collection shapes (pure neural, 20× binary
#: PLY, 2026-12-07): 160 / 320 / 640 / 1,280 passes → mean F@0.01 0.325 / 0.455 / 0.597 / 0.705,
#: and a 3× or 10× feature learning rate does not make up for passes (0.460 / 0.454 at 320).
#: 1,000 passes: a set of 1,000 shapes trains 250,000 steps (hours on a CPU: BENCHMARKS.md).
DEFAULT_EPOCHS = 1_000
#: Most decoder weights a file may declare per byte of its ``decoder`` section.
_MAX_WEIGHTS_PER_BYTE = 64


class _VolumeStore:
    """``(n, 4, K, K, K)`` float32 TSDF-Def volumes in a temporary ``.npy`` memory map, not in memory.

    A thousand volumes at K = 64 are 4 GB; training reads crops of a few of them per step, so the
    operating system keeps in memory what is used. The file lives in the cache folder (or the
    temporary folder without one) and is removed on exit.
    """

    def __init__(self, n: int, k: int, folder: Path | None):
        self.shape, self.folder = (n, 4, k, k, k), folder

    def __enter__(self) -> np.ndarray:
        folder = self.folder or Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(suffix=".npy", prefix="volumes-", dir=folder)
        os.close(fd)
        self.path = Path(name)
        self.array = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=self.shape)
        return self.array

    def __exit__(self, *exc) -> None:
        del self.array
        self.path.unlink(missing_ok=True)


def training_steps(
    n: int, batch_size: int, *, steps: int | None = None, epochs: int | None = None, processes: int = 1
) -> int:
    """Optimizer steps for a set of ``n`` shapes: ``epochs`` passes over the set if given
    (``epochs × ⌈n / (batch_size · processes)⌉``: under torchrun every process draws its own
    batch each step), else ``steps`` if given, else the default — 32,000 steps
    (:class:`~.train.TrainSettings`) or :data:`DEFAULT_EPOCHS` passes, whichever is more."""
    per_pass = -(-n // (batch_size * processes))
    if epochs is not None:
        return epochs * per_pass
    if steps is not None:
        return steps
    return max(TrainSettings.steps, DEFAULT_EPOCHS * per_pass)


def _model_from_tensors(arch: Architecture, tensors: list[np.ndarray]):
    import torch

    model = AutoDecoder(arch)
    with torch.no_grad():
        for param, value in zip(model.tensors(), tensors):
            param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
    return model.eval()


class ShapeSetFile(MeshSetFile):
    """A parsed shapeset file: names and frames at once; the decoder and features on demand.

    Every header value and section is validated here, before anything is decoded
    (:class:`FormatError`).
    """

    container: Container  # always read from a file (never None, unlike a Keras-built handle)

    def __init__(self, container, codec):
        super().__init__(container, codec)
        h, sec = container.header, container.sections
        for name in ("decoder_steps", "decoder", "features"):
            if name not in sec:
                raise FormatError(f"shapeset file: missing section '{name}'")
        self.arch = Architecture.from_dict(header_get(h, "architecture", dict))
        self.bits = header_get(h, "bits", int, min=2, max=16)
        n = header_get(h, "count", int, min=1, max=MAX_SHAPES)
        self.feature_step = header_get(h, "feature_step", float, min=1e-30, max=1e30)
        index = read_index(h, sec, n)
        sizes, mesh_sizes = index.feature_bytes, index.mesh_bytes
        for label, got, section in (("feature", sizes, "features"), ("mesh", mesh_sizes, "meshes")):
            if int(got.sum()) != len(sec.get(section, b"")):
                raise FormatError(
                    f"shapeset file: {label} sizes add up to {int(got.sum())} bytes, section '{section}' "
                    f"holds {len(sec.get(section, b''))}"
                )
        self.neural = sizes > 0  # (n,) bool: stored as a feature (else as a Draco mesh)
        if self.arch.resolution > MAX_DECODE_RESOLUTION:
            raise FormatError(
                f"shapeset file: resolution {self.arch.resolution} is over the limit of "
                f"{MAX_DECODE_RESOLUTION}"
            )
        if not self.neural.any():  # every shape a mesh: no decoder was trained
            if sec["decoder"] or sec["decoder_steps"]:
                raise FormatError("shapeset file: a decoder but no shape stored as a feature")
        elif self.arch.parameter_count > _MAX_WEIGHTS_PER_BYTE * len(sec["decoder"]) + 4096:
            raise FormatError(
                f"shapeset file: the architecture declares {self.arch.parameter_count} weights "
                f"but section 'decoder' holds only {len(sec['decoder'])} bytes"
            )
        elif (
            math.prod(self.arch.feature_shape) > _MAX_WEIGHTS_PER_BYTE * int(sizes[self.neural].min()) + 4096
        ):
            raise FormatError("shapeset file: features declare more values than their bytes can hold")
        elif len(sec["decoder_steps"]) != 4 * len(self.arch.tensor_shapes()):
            raise FormatError(
                f"shapeset file: section 'decoder_steps' has {len(sec['decoder_steps'])} bytes, "
                f"expected {4 * len(self.arch.tensor_shapes())}"
            )
        self.frames = index.frames
        self._names = index.names
        if "quality" in sec and len(sec["quality"]) != 4 * n:
            raise FormatError(
                f"shapeset file: section 'quality' has {len(sec['quality'])} bytes, expected {4 * n}"
            )
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._mesh_offsets = np.concatenate([[0], np.cumsum(mesh_sizes)]).astype(np.int64)
        self._model = None

    def shape_bytes(self) -> list[int]:
        """Bytes of each shape's own data — its entropy-coded feature or its Draco mesh (the rest
        of the file is shared)."""
        return (np.diff(self._offsets) + np.diff(self._mesh_offsets)).tolist()

    def stored_bytes(self) -> int:
        """Bytes of what stores the shapes — their features or Draco files and the shared decoder:
        the file less its header, index, names and measured quality."""
        sec = self.container.sections
        return int(sum(self.shape_bytes())) + len(sec["decoder"]) + len(sec["decoder_steps"])

    def _neural_only(self, i: int) -> None:
        if not self.neural[i]:
            raise InputError(
                f"shapeset file: shape {self.names[i]!r} is stored as a Draco mesh, not a feature"
            )

    def shape_quality(self) -> list[dict] | None:
        """Per shape, ``{"f_score_0.01", "chamfer_p2s"}`` of its decode against its input as the
        encoder measured it (normalized units; None for files without the measurement)."""
        blob = self.container.sections.get("quality")
        if blob is None:
            return None
        pairs = np.frombuffer(blob, dtype="<f2").astype(np.float64).reshape(-1, 2)
        return [{"f_score_0.01": float(f), "chamfer_p2s": float(c)} for f, c in pairs]

    def model(self):
        """The decoder with the stored (dequantized) weights, decoded once."""
        if not self.neural.any():
            raise InputError("shapeset file: every shape is stored as a Draco mesh; there is no decoder")
        if self._model is None:
            sec = self.container.sections
            steps = np.frombuffer(sec["decoder_steps"], dtype="<f4").astype(np.float32)
            q = decode_symbols(sec["decoder"], count=self.arch.parameter_count)
            tensors = dequantize_tensors(q, steps, self.arch.tensor_shapes(), self.bits)
            self._model = _model_from_tensors(self.arch, tensors)
        return self._model

    def features(self, i: int) -> np.ndarray:
        """``(C, K', K', K')`` float32 stored features of shape ``i`` (only its bytes are decoded)."""
        self._neural_only(i)
        blob = self.container.sections["features"][self._offsets[i] : self._offsets[i + 1]]
        q = decode_symbols(blob, count=math.prod(self.arch.feature_shape))
        if len(q) and np.abs(q).max() > quant_levels(self.bits):
            raise FormatError(f"shapeset file: a feature of shape {i} exceeds the {self.bits}-bit range")
        return (q.astype(np.float32) * np.float32(self.feature_step)).reshape(self.arch.feature_shape)

    def volume(self, name) -> np.ndarray:
        """``(4, K, K, K)`` float32 decoded TSDF-Def volume of one shape stored as a feature."""
        return decode_volumes(self.model(), self.features(self.index(name))[None])[0]

    def decode_shape(self, name) -> Mesh:
        """One shape as a mesh in its original coordinates (empty when it decodes to no surface)."""
        from ...geometry.tsdf import mesh_from_volume

        i = self.index(name)
        if not self.neural[i]:
            from ...io.draco import draco_decode

            blob = self.container.sections["meshes"][self._mesh_offsets[i] : self._mesh_offsets[i + 1]]
            # Draco's connectivity takes at least ~1 bit per triangle: a bound on what it may claim
            return self.frames[i].denormalize_mesh(draco_decode(blob, 8 * len(blob) + 1024))
        vol = self.volume(i)
        if not (vol[0].min() < 0 < vol[0].max()):
            return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64))
        return self.frames[i].denormalize_mesh(mesh_from_volume(vol))

    def decode(self) -> list[tuple[str, Mesh]]:
        return [(name, self.decode_shape(i)) for i, name in enumerate(self.names)]

    def add_shapes(self, named, *, steps: int = 300, progress=None) -> tuple[bytes, dict]:
        """This set with the meshes ``named`` (a list of ``(name, Mesh)``) added, the decoder
        frozen: the new file's bytes and what the new shapes measured (:mod:`.grow`)."""
        from .grow import add_shapes

        return add_shapes(self, named, steps=steps, progress=progress)


@register
class ShapeSetCodec(Codec):
    name = "shapeset"
    kind = "meshset"
    description = "a set of meshes → one shared quantized auto-decoder + a small feature per shape (NeCGS)"
    _train = TrainSettings()
    options = (
        Option(
            "resolution",
            int,
            64,
            "TSDF-Def grid K (power-of-two multiple of the feature grid)",
            low=8,
            high=MAX_DECODE_RESOLUTION,
        ),
        Option(
            "target_ratio",
            float,
            None,
            "size of the file: the set's binary-PLY bytes over this (default: target_f_score; "
            f"{DEFAULT_RATIO:g} with mesh_shapes off); sets decoder_width, feature_channels and bits "
            "unless they are given",
            low=1.0,
            high=1e6,
        ),
        Option(
            "target_f_score",
            float,
            None,
            "size of the file: the fewest bytes at which the set's mean F@0.01 reaches this, every "
            "shape a Draco mesh with the bytes shared out among them (no decoder is trained); "
            f"the default ({DEFAULT_F_SCORE:g}) when no size is given and mesh_shapes is auto",
            low=0.0,
            high=1.0,
        ),
        Option(
            "target_bytes",
            int,
            None,
            "size of the file in bytes (instead of target_ratio)",
            low=1000,
            high=1 << 40,
        ),
        Option(
            "decoder_width",
            int,
            None,
            "channels after the decoder's head (default: from the size of the set, see target_ratio)",
            low=8,
            high=512,
        ),
        Option(
            "decoder_min_width",
            int,
            Architecture.min_width,
            "fewest channels of an upsampling module "
            "(the width of the fine levels, where thin parts are drawn)",
            low=1,
            high=512,
        ),
        Option(
            "feature_channels",
            int,
            None,
            "channels C of each shape's feature (default: from the size of the set, see target_ratio)",
            low=1,
            high=128,
        ),
        Option("feature_resolution", int, 4, "feature grid K'", low=2, high=32),
        Option(
            "bits",
            int,
            None,
            "bits per stored weight and feature (default: 8, or 6 for a small target)",
            low=2,
            high=16,
        ),
        Option(
            "steps",
            int,
            None,
            f"optimizer steps of training (default: {_train.steps:,}, or {DEFAULT_EPOCHS:,} passes over "
            "a set of more shapes, see --epochs)",
            low=1,
            high=10_000_000,
        ),
        Option(
            "epochs",
            int,
            None,
            "passes over the set, each shape once per pass (instead of --steps: "
            "steps = epochs × ⌈shapes / batch size⌉)",
            low=1,
            high=1_000_000,
        ),
        Option(
            "lr",
            float,
            _train.lr,
            "peak learning rate of the decoder (Adam, warm-up then cosine)",
            low=1e-6,
            high=1.0,
        ),
        Option(
            "feature_lr",
            float,
            _train.feature_lr,
            "peak learning rate of the per-shape features",
            low=1e-6,
            high=10.0,
        ),
        Option(
            "feature_init",
            str,
            _train.feature_init,
            "start of each shape's feature: its coarse TSDF (a head start) or noise",
            choices=("tsdf", "noise"),
        ),
        Option(
            "surface_power",
            float,
            _train.surface_power,
            "draw shapes for training in proportion to (near-surface cells)^p (0: each shape equally often)",
            low=0.0,
            high=2.0,
        ),
        Option("batch_size", int, _train.batch_size, "shapes per training step", low=1, high=4096),
        Option(
            "crop",
            int,
            _train.crop,
            "train on boxes of crop³ cells of each volume (0: whole volumes; even)",
            low=0,
            high=MAX_DECODE_RESOLUTION,
        ),
        Option(
            "near_weight",
            float,
            _train.near_weight,
            "λ1 of the loss: weight of the L1 on near-surface cells (NeCGS Eq. 3)",
            low=0.0,
            high=1000.0,
        ),
        Option(
            "ssim_weight",
            float,
            _train.ssim_weight,
            "λ2 of the loss: weight of 1 − SSIM-3D (NeCGS Eq. 3)",
            low=0.0,
            high=1000.0,
        ),
        Option(
            "qat_start",
            float,
            _train.qat_start,
            "share of the steps before quantization-aware training starts (0: from the first step)",
            low=0.0,
            high=1.0,
        ),
        Option(
            "deform_steps",
            int,
            40,
            "Adam steps fitting each TSDF-Def volume (0: plain TSDF)",
            low=0,
            high=10_000,
        ),
        Option(
            "open_shell",
            float,
            TsdfDefSettings.open_shell,
            "half-thickness, in cells, of the closed shell put round faces that bound no solid "
            "(open sheets, leaves, flat outlines), so they come back (0: such faces are dropped)",
            low=0.0,
            high=2.0,
        ),
        Option(
            "workers",
            int,
            0,
            "processes preparing the TSDF-Def volumes (0: one per core)",
            low=0,
            high=1024,
        ),
        Option(
            "prepare_on_ray",
            str,
            None,
            "prepare the TSDF-Def volumes as Ray tasks instead: 'local' (start Ray here), 'auto' "
            "(this machine's cluster) or HOST:PORT; volumes in the cache are not recomputed",
        ),
        Option(
            "check_samples",
            int,
            10_000,
            "surface samples per shape when the encoder measures each decoded shape against its "
            "input (0: only check that every shape has a surface)",
            low=0,
            high=1_000_000,
        ),
        Option(
            "refit_steps",
            int,
            200,
            "Adam steps refitting the feature of a shape that decodes empty or far below the rest "
            "(decoder frozen; 0: no refit, an empty shape fails the encode); with mesh_shapes auto "
            "no refit: such a shape is stored as a mesh where that measures better",
            low=0,
            high=100_000,
        ),
        Option(
            "mesh_shapes",
            str,
            "auto",
            "store a shape as a Draco mesh where that gives the set more quality for its bytes "
            "(auto; needs check_samples > 0), or every shape as a neural feature (off)",
            choices=("auto", "off"),
        ),
        Option("seed", int, _train.seed, "random seed", low=0, high=2**31 - 1),
        Option("device", str, _train.device, "where to train", choices=("auto", "cpu", "cuda")),
        Option("threads", int, _train.threads, "CPU threads for training", low=1, high=256),
        Option(
            "cache_dir",
            str,
            None,
            "folder of prepared TSDF-Def volumes ('off': no cache; default "
            "$NC3D_CACHE_DIR/tsdf-def or ~/.cache/nc3d/tsdf-def)",
        ),
    )

    def encode_parts(self, data, *, progress=None, **s):
        from pathlib import Path

        from ...geometry.tsdf import cached_tsdf_def, default_cache_dir, prepare_tsdf_defs

        if not isinstance(data, (list, tuple)) or not data:
            raise InputError("shapeset: the input must be a non-empty list of (name, mesh)")
        if len(data) > MAX_SHAPES:
            raise InputError(f"shapeset: at most {MAX_SHAPES} shapes per file, got {len(data)}")
        names, meshes = [], []
        for i, item in enumerate(data):
            name, mesh = item if isinstance(item, tuple) and len(item) == 2 else (f"shape_{i:04d}", item)
            names.append(name)
            meshes.append(as_mesh(mesh, name=str(name)))
        given = [k for k in ("target_bytes", "target_ratio", "target_f_score") if s[k] is not None]
        if len(given) > 1:
            raise InputError(
                f"shapeset: give one of target_bytes, target_ratio and target_f_score, not {given}"
            )
        auto = s["mesh_shapes"] == "auto" and s["check_samples"] > 0
        if s["target_f_score"] is not None and not auto:
            raise InputError("shapeset: target_f_score needs mesh_shapes = auto and check_samples > 0")
        cache = s["cache_dir"]
        cache = None if cache == "off" else Path(cache) if cache else default_cache_dir()
        frames = [frame_of_mesh(mesh) for mesh in meshes]
        normalized = [f.normalize_mesh(m) for f, m in zip(frames, meshes)]
        workers = min(s["workers"] or os.cpu_count() or 1, max(1, len(meshes) // 4))
        overhead = HEADER_BYTES + len(meshes) * HEADER_BYTES_PER_SHAPE
        options = None
        if auto:
            options = draco_options_of_set(
                normalized, s["check_samples"], workers, progress, None if cache is None else cache / "draco"
            )
        ply = sum(canonical_ply_size(len(m.vertices), len(m.faces)) for m in meshes)
        if auto and not given:  # the default: a quality, and the fewest bytes that reach it
            s = s | {"target_f_score": DEFAULT_F_SCORE}
        # with a quality asked for, no shape far below it (where it can get there)
        floor = 0.0 if s["target_f_score"] is None else max(0.0, s["target_f_score"] - SHAPE_SHORTFALL)
        if s["target_f_score"] is not None:
            target = int(bytes_for_quality(options, s["target_f_score"], floor)) + overhead
        else:
            target = s["target_bytes"] or int(ply / (s["target_ratio"] or DEFAULT_RATIO))
        size = choose_size(
            len(meshes),
            target,
            resolution=s["resolution"],
            feature_resolution=s["feature_resolution"],
            min_width=s["decoder_min_width"],
            width=s["decoder_width"],
            channels=s["feature_channels"],
            bits=s["bits"],
        )
        arch = Architecture(
            resolution=s["resolution"],
            feature_resolution=s["feature_resolution"],
            channels=size.channels,
            width=size.width,
            min_width=s["decoder_min_width"],
        )
        if s["crop"] % 2:
            raise InputError(f"shapeset: crop must be even, got {s['crop']}")
        steps = training_steps(
            len(meshes), s["batch_size"], steps=s["steps"], epochs=s["epochs"], processes=ddp.world()[1]
        )
        train = TrainSettings(
            steps=steps,
            lr=s["lr"],
            feature_lr=s["feature_lr"],
            batch_size=s["batch_size"],
            crop=s["crop"],
            surface_power=s["surface_power"],
            qat_start=s["qat_start"],
            near_weight=s["near_weight"],
            ssim_weight=s["ssim_weight"],
            feature_init=s["feature_init"],
            bits=size.bits,
            seed=s["seed"],
            device=s["device"],
            threads=s["threads"],
        )
        prep = TsdfDefSettings(
            resolution=s["resolution"], steps=s["deform_steps"], seed=s["seed"], open_shell=s["open_shell"]
        )
        if s["target_f_score"] is not None:  # the fewest bytes that reach it as meshes: no decoder
            s = s | {"size": size, "budget": target - overhead}
        else:  # never less than the all-neural file the size chooser predicts (meshes where better)
            s = s | {"size": size, "budget": max(target, size.predicted_bytes) - overhead}
        if options is not None:
            if s["target_f_score"] is None:  # a size: no shape crumpled where the bytes allow
                floor = floor_within(options, s["budget"], SIZE_SHORTFALL)
            _, choice, mean_f = choose_storage(options, s["budget"], floor=floor)
            if mean_f >= MESHES_ENOUGH or s["target_f_score"] is not None:  # no decoder could do better
                return self._pack(names, frames, arch, prep, train, 1, s, choice, options, [], None)
            s["options"], s["floor"] = options, floor
        rank, processes = ddp.join(resolve_device(train.device))
        with _VolumeStore(len(meshes), arch.resolution, cache) as volumes:
            if processes > 1 and cache is not None:
                # under torchrun each process prepares every N-th shape into the cache (a folder
                # every process sees), then reads them all back into its own on-disk store
                for i in range(rank, len(meshes), processes):
                    cached_tsdf_def(normalized[i], prep, cache)
                ddp.barrier()
                for i, mesh in enumerate(normalized):
                    volumes[i] = cached_tsdf_def(mesh, prep, cache)[0]
            elif processes > 1:  # no cache: the volumes travel between processes (in memory)
                mine = {
                    i: cached_tsdf_def(normalized[i], prep, cache)[0]
                    for i in range(rank, len(meshes), processes)
                }
                for i, v in enumerate(ddp.gather_pieces(mine, len(meshes))):
                    volumes[i] = v
            else:
                # a worker process costs seconds to start (torch): worth it from a few shapes each
                prepare_tsdf_defs(
                    normalized,
                    prep,
                    cache,
                    volumes,
                    names=names,
                    workers=workers,
                    ray_address=s["prepare_on_ray"],
                    progress=progress,
                )
            return self._train_and_pack(
                names, normalized, frames, volumes, arch, train, prep, processes, s, progress
            )

    def _train_and_pack(self, names, meshes, frames, volumes, arch, train, prep, processes, s, progress):
        """Everything after the volumes: refusal of empty shapes, training, the check, the file
        (``meshes``: the inputs in their normalized frames)."""
        # A shape whose TSDF-Def volume still has no surface (degenerate faces only, or open sheets
        # with open_shell = 0) would decode to nothing: refuse the set before training rather than
        # report a success with a shape missing.
        empty = [str(n) for n, v in zip(names, volumes) if not (v[0].min() < 0 < v[0].max())]
        if empty:
            shown = ", ".join(empty[:20]) + (f" and {len(empty) - 20} more" if len(empty) > 20 else "")
            why = "open sheets with open_shell = 0, or" if prep.open_shell <= 0 else "e.g."
            raise InputError(
                f"shapeset: {len(empty)} of {len(meshes)} shapes have no inside at {arch.resolution}³ "
                f"({why} faces of zero area only) and would decode to nothing: {shown}; "
                "compress them with a single-mesh codec (draco) or remove them from the set"
            )
        model, features = train_auto_decoder(volumes, arch, train, progress)
        q, steps = quantize_tensors([t.detach().numpy() for t in model.tensors()], train.bits)
        fq, (fstep,) = quantize_tensors([features], train.bits)
        # decode every shape as a reader will (quantized decoder and features), measure it against
        # its input, refit the empty and weak ones; a shape still empty fails the encode
        stored = _model_from_tensors(arch, dequantize_tensors(q, steps, arch.tensor_shapes(), train.bits))
        refit, quality = check_and_refit(
            stored,
            fq.reshape(len(meshes), *arch.feature_shape).astype(np.float32) * np.float32(fstep),
            float(fstep),
            train.bits,
            volumes,
            meshes,
            [str(n) for n in names],
            samples=s["check_samples"],
            # with Draco files to fall back on, a weak or empty shape costs no refit (each refit
            # decodes whole volumes: ~80 s per 4 shapes at K = 64 on 2 cores; 15 of them after
            # training 1,097 shapes): the allocation below stores it as a mesh where better
            refit_steps=0 if "options" in s else s["refit_steps"],
            refit_lr=train.feature_lr,
            threads=train.threads,
            progress=progress,
            fail_on_empty="options" not in s,  # an empty shape can still be stored as a mesh
        )
        fq = np.round(refit / np.float32(fstep)).astype(np.int64)
        per_shape = [encode_symbols(f) for f in fq.reshape(len(meshes), -1)]
        decoder = (steps.astype("<f4").tobytes(), encode_symbols(q))
        choice = np.full(len(meshes), -1)
        options = s.get("options")
        if options is not None:
            sizes = np.array([len(b) for b in per_shape], np.float64)
            decoder_bytes = sum(len(b) for b in decoder)
            with_decoder, choice, _ = choose_storage(
                options,
                max(s["budget"], decoder_bytes + sizes.sum()),  # as large as the all-neural file
                neural_bytes=np.where(quality.empty, np.inf, sizes),
                neural_f=quality.f_score,
                decoder_bytes=decoder_bytes,
                floor=s["floor"],
            )
            if not with_decoder:
                decoder, per_shape = None, []
        return self._pack(
            names,
            frames,
            arch,
            prep,
            train,
            processes,
            s,
            choice,
            options or [],
            per_shape,
            decoder,
            quality=quality,
            feature_step=float(fstep),
        )

    def _pack(
        self,
        names,
        frames,
        arch,
        prep,
        train,
        processes,
        s,
        choice,
        options,
        per_shape,
        decoder,
        *,
        quality=None,
        feature_step=1.0,
    ):
        """Header and sections of a set: shape ``i`` as its feature ``per_shape[i]`` where
        ``choice[i] == -1``, else as its Draco file ``options[i][choice[i]]``; ``decoder``
        (steps, weights) or None when no shape is neural."""
        n = len(names)
        neural = choice < 0
        f_score = np.zeros(n)
        chamfer = np.zeros(n)
        if quality is not None:
            f_score[neural], chamfer[neural] = quality.f_score[neural], quality.chamfer_p2s[neural]
        meshes = [options[i][c] if c >= 0 else None for i, c in enumerate(choice)]
        for i, m in enumerate(meshes):
            if m is not None:
                f_score[i], chamfer[i] = m.f_score, m.chamfer_p2s
        header: dict = {
            "architecture": arch.to_dict(),
            "bits": train.bits,
            "count": n,
            "feature_step": feature_step,
            "tsdf_def": {
                "resolution": prep.resolution,
                "steps": prep.steps,
                "lr": prep.lr,
                "samples": prep.samples,
                "deform_weight": prep.deform_weight,
                "thin_parts": prep.thin_parts,
                "open_shell": prep.open_shell,
            },
            "train": {
                **{k: v for k, v in train.to_dict().items() if k not in ("device", "threads")},
                "processes": processes,
            },
            "size": {**s["size"].to_dict(), "meshes": int((~neural).sum())},
            "mesh_shapes": s["mesh_shapes"] if s["check_samples"] else "off",
        }
        if decoder is None:  # no neural shape: how a decoder would have been trained is noise
            # (~550 of a 2-mesh file's 3,000 bytes); nc3d add reads them only from sets with one
            del header["tsdf_def"], header["train"]
            header["size"] = {"target_bytes": s["size"].target_bytes, "meshes": n}
        feature_bytes = [len(per_shape[i]) if neural[i] else 0 for i in range(n)]
        sections = {
            "decoder_steps": decoder[0] if decoder else b"",
            "decoder": decoder[1] if decoder else b"",
            "features": b"".join(per_shape[i] for i in range(n) if neural[i]),
            "meshes": b"".join(m.blob for m in meshes if m is not None),
        }
        index_header, index_sections = pack_index(
            frames, feature_bytes, names, [len(m.blob) if m is not None else 0 for m in meshes]
        )
        header.update(index_header)
        sections.update(index_sections)
        if s["check_samples"]:
            header["quality"] = {
                "f_score_0.01": float(np.mean(f_score)),
                "chamfer_p2s": float(np.mean(chamfer)),
                "samples": s["check_samples"],
                "refitted": len(quality.refitted) if quality is not None else 0,
            }
            sections["quality"] = np.stack([f_score, chamfer], axis=1).astype("<f2").tobytes()
        return header, sections

    def decode_parts(self, header, sections) -> list[tuple[str, Mesh]]:
        return self.open(Container(self.name, header, sections)).decode()

    capabilities = frozenset({SHAPE_ACCESS, DATA_PARALLEL, ADD_SHAPES})
    #: 2: the per-shape index in xz sections instead of the header (:mod:`.index`), 2026-12-07;
    #: 3: shapes stored as Draco meshes (section ``meshes``, mesh sizes in the index), 2026-12-07
    format = INDEX_FORMAT
    handle_type = ShapeSetFile
    presets = {
        # smoke: a decoder trained 10 steps still says "outside everywhere" (its first phase), so
        # 100 steps at a high feature rate, for surfaces
        "smoke": (
            {
                "resolution": 16,
                "decoder_width": 8,
                "feature_channels": 2,
                "steps": 100,
                "epochs": 1,
                "crop": 0,
                "deform_steps": 0,
                "feature_lr": 0.1,
                "check_samples": 1000,
                "refit_steps": 20,
            },
        ),
        # quick: K = 40 (the smallest grid at which all 38 shared meshes have an inside; 32 misses one)
        # and few deformation steps: its own TSDF-Def cache entries, so the K = 64 ones stay untouched
        "quick": (
            {"resolution": 40, "feature_resolution": 5, "deform_steps": 5, "steps": 200, "decoder_width": 16},
        ),
        # sizes in proportion to the set (size.py): 200×, 100× and the default 50× its binary PLY
        "default": ({"target_ratio": 200.0}, {"target_ratio": 100.0}, {}),
    }
