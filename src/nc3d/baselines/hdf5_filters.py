"""Volume baselines run through HDF5 compression filters (hdf5plugin): SPERR and SZ3.

``sperr`` is SPERR (wavelets + SPECK bit-plane coding) in its fixed-rate (``rate``: bits per value),
fixed-PSNR (``psnr``: SPERR's own target) or point-wise error mode (``accuracy``: SPERR's PWE,
``tolerance`` × the data range); ``sz3`` is SZ3 (interpolation / Lorenzo prediction, error-bounded
quantization, Huffman + zstd) with an absolute error bound of ``tolerance`` × the data range. Both
code the samples as float32 (float64 stays float64) in the original units, like ``zfp``.

How the filters are run: the volume is written as one h5py dataset whose single chunk is the whole
volume, in an in-memory HDF5 file, with the filter as its compression; the compressed chunk is read
back raw (``read_direct_chunk``) and only those bytes are stored (section ``chunk``), not the HDF5
file. Decoding builds an in-memory HDF5 file with a dataset of the same shape, dtype and filter,
writes the chunk (``write_direct_chunk``) and reads the dataset, which runs the filter's decoder.

Two quirks of the filters, handled here:

* H5Z-SPERR hands the chunk's dimensions to SPERR in reverse order (it treats the slowest HDF5
  axis as SPERR's fastest, x), so a C-order ``(z, y, x)`` array coded naively is coded as if its
  axes were transposed: on a 93×64×64 CT volume, 26 dB where the correct order gives 46 dB at
  the same rate. The array is therefore handed to SPERR under the reversed shape ``(x, y, z)``
  (the same memory: ``a.reshape(a.shape[::-1])``), which SPERR then reads as x fastest; SZ3's
  filter reads the dimensions correctly.
* H5Z-SPERR refuses a chunk with an edge shorter than 9 samples (other than 1), and H5Z-SZ3
  stores fewer than 20 values uncompressed. Every edge shorter than 9 is therefore padded to 9
  by repeating the last sample (the coded shape follows from the stored shape), and cropped on
  decode.

File: header ``shape``, ``dtype``, ``range`` (:mod:`..codecs.volume_header`), ``mode`` and
``digest``; section ``chunk`` (empty for a constant volume).

Safety. The decoders are C/C++ code that trusts its input (H5Z-SPERR copies as many bytes as the
*chunk* holds from a buffer sized by the *stream's* own dimensions; SZ3 sizes buffers from the
stream, aborts the process on some C++ exceptions and calls ``exit(0)`` on a stream of more than
four dimensions). A corrupt or mutated file never reaches them: the header's digest of the chunk
(:func:`_digest`) is checked first, then the stream's framing (``_check_stream``: SPERR's
dimensions and length, SZ3's payload size and zstd magic). A file *forged on purpose*, its
digest recomputed, does reach them, so they run in a child process
(:func:`..sandbox.run_isolated`: forked on Linux, its address space capped at
``DECODE_MEMORY_*``, its time at ``DECODE_CPU_*`` and ``DECODE_WALL_FACTOR``), and whatever the
decoder does to that process — a segfault, an abort, an exit, a runaway allocation, a hang — is
a :class:`FormatError` naming it. Before, in a trial of 60 such files with mutated stream bytes
(2026-12), SZ3 crashed the Python process on 38 and SPERR on 1; in a rerun with the isolation
(60 other forged files per codec), 29–30 SZ3 decoders (it varies from run to run: the memory
layout is randomized) and 1 SPERR decoder died in the child (segfault, ``std::bad_alloc`` or
``length_error`` abort, SZ3's ``exit(0)``), each a ``FormatError``, and the rest decoded to a
volume of the declared shape or were refused. The child costs a fork and
a copy of the decoded array: measured by ``python -m benchmarks.isolation_overhead``.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import uuid

import numpy as np

from .._optional import require
from ..codecs.base import Codec, Option, register
from ..codecs.volume_header import read_volume_header, restore_values, volume_header
from ..container import header_get
from ..errors import FormatError
from ..io.volumes import as_volume
from ..sandbox import run_isolated

__all__ = ["Sperr", "Sz3", "MIN_EDGE"]

#: Shortest edge handed to a filter (H5Z-SPERR's minimum); shorter edges are padded.
MIN_EDGE = 9
#: Bytes of the digest of the compressed chunk kept in the header.
_DIGEST_BYTES = 8
#: Bounds of the child process a chunk is decoded in (:func:`..sandbox.run_isolated`). Memory: its
#: address space may grow by BASE + PER_VALUE × the decoded values + 4 × the chunk's bytes (SPERR
#: needs ~39 bytes per value, float32 or float64: 611 MiB at 256³; SZ3 8–12). CPU time:
#: BASE + PER_VALUE × the values (the slowest decode measured, SPERR at 32 bits per value, takes
#: ~190 ns per value). Wall time: WALL_FACTOR × the CPU limit, for a machine busy with other work
#: (a runaway loop is stopped by the CPU limit; the wall limit only catches a decoder that waits).
DECODE_MEMORY_BASE = 256 << 20
DECODE_MEMORY_PER_VALUE = 64
DECODE_CPU_BASE = 30.0
DECODE_CPU_PER_VALUE = 2e-6
DECODE_WALL_FACTOR = 10.0
#: The zstd frame magic number (little-endian bytes), which begins SZ3's payload.
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _work_dtype(dtype) -> np.dtype:
    """The float type the filters code: float64 for float64 volumes, float32 for the rest."""
    return np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)


def _coded_shape(shape) -> tuple[int, int, int]:
    """``shape`` with every edge shorter than :data:`MIN_EDGE` padded to it."""
    z, y, x = (max(int(s), MIN_EDGE) for s in shape)
    return z, y, x


def _digest(codec: str, shape, dtype: str, chunk: bytes) -> str:
    """Hex digest binding the compressed chunk to the codec, shape and dtype it is decoded as.

    Why a digest: the filters' decoders are C/C++ code that trusts its input (see the module
    docstring), and the container's CRCs do not protect them — a writer (or the fuzzer) that
    changes a section or the header rewrites those CRCs with it. The digest in the header ties
    the chunk to the shape and dtype the decoder is handed, so a file whose chunk, shape or dtype
    was changed after encoding (corruption, a mutated or spliced file) is a :class:`FormatError`
    before any byte reaches the C decoder. It is a checksum, not a signature: a file forged on
    purpose with a recomputed digest still reaches the decoder, past the structural checks of
    ``_check_stream`` only — in a bounded child process (module docstring).
    """
    meta = json.dumps([codec, [int(s) for s in shape], dtype], separators=(",", ":")).encode()
    return hashlib.blake2b(meta + bytes(chunk), digest_size=_DIGEST_BYTES).hexdigest()


def _h5py_locks(h5py) -> tuple:
    """h5py's global lock, held across the fork so that no other thread holds it in the child.

    h5py 3.16 takes it around every ``os.fork`` itself (``os.register_at_fork``, h5py PR #2585);
    older releases, which the extras allow (≥ 3.8), may not.
    """
    objects = getattr(h5py, "_objects", None)
    lock = getattr(objects, "phil", None)
    return (lock,) if lock is not None else ()


def _decode_chunk(out: np.ndarray, cls: type, chunk: bytes, dims: tuple[int, ...], work: str) -> None:
    """Decode one filter chunk into ``out`` (``dims``, dtype ``work``); runs in the child process.

    ``cls`` is the codec class (pickled by name for a spawned child). The HDF5 file is in memory;
    the filter's decoder runs when the dataset is read.
    """
    codec = cls()
    assert isinstance(codec, _Hdf5Filter)
    h5py, hdf5plugin = codec._modules()
    filt = codec._decode_filter(hdf5plugin)
    with h5py.File(f"nc3d-{uuid.uuid4().hex}.h5", "w", driver="core", backing_store=False) as f:
        d = f.create_dataset("v", shape=dims, dtype=np.dtype(work), chunks=dims, compression=filt)
        d.id.write_direct_chunk((0,) * len(dims), chunk)
        d.read_direct(out)


class _Hdf5Filter(Codec):
    """A volume coded by one HDF5 filter of hdf5plugin (subclasses pick the filter)."""

    kind = "volume"
    baseline = True
    #: Hand the filter the array under its reversed shape (H5Z-SPERR reads dims in reverse).
    reverse_dims = False
    #: Most compressed bytes per coded sample of the work dtype (a bound on the section length).
    max_bytes_per_value = 2.0

    # -- for subclasses ----------------------------------------------------------------------
    def _filter(self, hdf5plugin, settings: dict, span: float):
        """The hdf5plugin filter object that encodes with ``settings`` (``span``: hi - lo)."""
        raise NotImplementedError

    def _decode_filter(self, hdf5plugin):
        """A filter object of the same HDF5 filter id (its decoder ignores the settings)."""
        raise NotImplementedError

    def _check_stream(self, chunk: bytes, dims: tuple[int, ...], dtype: np.dtype) -> str | None:
        """What is wrong with the structure of ``chunk`` for ``dims``/``dtype`` (None: nothing seen)."""
        raise NotImplementedError

    # -- the protocol ------------------------------------------------------------------------
    def _modules(self):
        hdf5plugin = require("hdf5plugin", f"the {self.name} baseline")  # imports h5py itself
        return require("h5py", f"the {self.name} baseline"), hdf5plugin

    def _oversized(self, chunk: bytes, dims, work) -> str | None:
        """Why ``chunk`` is too long for a volume of ``dims`` samples of ``work`` (None: it is not)."""
        limit = int(math.prod(dims) * work.itemsize * self.max_bytes_per_value) + 1024
        return f"chunk of {len(chunk)} bytes is over the bound {limit}" if len(chunk) > limit else None

    def _dims(self, shape) -> tuple[int, ...]:
        coded = _coded_shape(shape)
        return coded[::-1] if self.reverse_dims else coded

    def encode_parts(self, data, *, progress=None, mode="accuracy", **settings):
        h5py, hdf5plugin = self._modules()
        v = as_volume(data)
        header = volume_header(v) | {"mode": mode}
        lo, hi = header["range"]
        if hi == lo:
            chunk = b""
        else:
            work = _work_dtype(v.dtype)
            x = np.ascontiguousarray(v, dtype=work)
            coded = _coded_shape(v.shape)
            if coded != v.shape:
                x = np.pad(x, [(0, c - s) for c, s in zip(coded, v.shape)], mode="edge")
            dims = self._dims(v.shape)
            x = x.reshape(dims)  # the same memory; reversed dims for SPERR (module docstring)
            filt = self._filter(hdf5plugin, {"mode": mode, **settings}, hi - lo)
            with h5py.File(f"nc3d-{uuid.uuid4().hex}.h5", "w", driver="core", backing_store=False) as f:
                d = f.create_dataset("v", data=x, chunks=dims, compression=filt)
                mask, chunk = d.id.read_direct_chunk((0,) * len(dims))
            chunk = bytes(chunk)
            problem = (
                "the filter was skipped"
                if mask
                else self._oversized(chunk, dims, work) or self._check_stream(chunk, dims, work)
            )
            if problem:  # the decoder would refuse this file: never write it
                raise RuntimeError(
                    f"{self.name}: hdf5plugin {hdf5plugin.version} wrote a stream this nc3d does not "
                    f"recognise ({problem})"
                )
        header["digest"] = _digest(self.name, header["shape"], header["dtype"], chunk)
        return header, {"chunk": chunk}

    def decode_parts(self, header, sections):
        shape, dtype, lo, hi = read_volume_header(header)
        header_get(header, "mode", str, choices=self._modes())
        digest = header_get(header, "digest", str)
        if "chunk" not in sections:
            raise FormatError(f"{self.name}: section 'chunk' is missing")
        chunk = bytes(sections["chunk"])
        work = _work_dtype(dtype)
        dims = self._dims(shape)
        problem = self._oversized(chunk, dims, work)
        if problem:
            raise FormatError(f"{self.name}: {problem} for {shape}")
        # the digest before anything else looks at the bytes (why: _digest)
        if digest != _digest(self.name, list(shape), dtype.name, chunk):
            raise FormatError(f"{self.name}: the chunk does not match the header's digest (corrupt file)")
        if not chunk:
            if lo != hi:
                raise FormatError(f"{self.name}: empty chunk for a non-constant volume")
            return np.full(shape, lo).astype(dtype)
        problem = self._check_stream(chunk, dims, work)
        if problem:
            raise FormatError(f"{self.name}: invalid stream ({problem})")
        h5py, _ = self._modules()  # imported here: a forked child finds them loaded
        values = math.prod(dims)
        cpu = DECODE_CPU_BASE + DECODE_CPU_PER_VALUE * values
        x = run_isolated(
            _decode_chunk,
            (type(self), chunk, dims, work.str),
            shape=dims,
            dtype=work,
            what=f"{self.name}: the filter's decoder",
            memory=DECODE_MEMORY_BASE + DECODE_MEMORY_PER_VALUE * values + 4 * len(chunk),
            timeout=DECODE_WALL_FACTOR * cpu,
            cpu=cpu,
            hold=_h5py_locks(h5py),
            preload=("h5py", "hdf5plugin"),
        )
        x = x.reshape(_coded_shape(shape))[: shape[0], : shape[1], : shape[2]]
        if not np.all(np.isfinite(x)):
            raise FormatError(f"{self.name}: the decoded values are not finite")
        return restore_values(x, dtype, lo, hi)

    def _modes(self) -> tuple[str, ...]:
        return next(o.choices for o in self.options if o.name == "mode") or ()


#: ``sperr`` rate ladder: 0.01 · √2^k bits per value, k = -7 .. 18 (0.00088 .. 5.1; the smooth
#: hydrogen volume needs 0.001 for 30 dB).
_SPERR_RATES = tuple(float(f"{0.01 * 2 ** (k / 2):.3g}") for k in range(-7, 19))
#: ``sz3`` tolerance ladder: 0.3 / √2^k of the range, k = 0 .. 18 (0.3 .. 0.0006).
_SZ3_TOLERANCES = tuple(float(f"{0.3 * 2 ** (-k / 2):.3g}") for k in range(19))


@register
class Sperr(_Hdf5Filter):
    name = "sperr"
    description = "SPERR (hdf5plugin) in fixed-rate, fixed-PSNR or point-wise error mode on float32/float64"
    reverse_dims = True
    max_bytes_per_value = 8.0  # rate ≤ 32 bits per value, plus SPERR's own bookkeeping
    options = (
        Option("mode", str, "rate", "SPERR mode", choices=("rate", "psnr", "accuracy")),
        Option("rate", float, 1.0, "rate mode: bits per value", low=0.0005, high=32.0),
        Option(
            "psnr",
            float,
            40.0,
            "psnr mode: SPERR's own PSNR target in dB (on the shared volumes it overshoots nc3d's "
            "PSNR: target 25 gives 34–48 dB, 55 gives 57–69 dB)",
            low=1.0,
            high=300.0,
        ),
        Option(
            "tolerance",
            float,
            0.01,
            "accuracy mode (SPERR's PWE): largest error as a fraction of the range",
            low=1e-7,
            high=1.0,
        ),
    )
    presets = {
        "smoke": ({},),
        "quick": tuple({"mode": "rate", "rate": r} for r in (0.1, 0.4, 1.6)),
        "default": (
            *({"mode": "rate", "rate": r} for r in _SPERR_RATES),
            *({"mode": "accuracy", "tolerance": t} for t in (0.1, 0.03, 0.01, 0.003, 0.001)),
        ),
    }

    def _filter(self, hdf5plugin, settings, span):
        if settings["mode"] == "rate":
            return hdf5plugin.Sperr(rate=settings["rate"])
        if settings["mode"] == "psnr":
            return hdf5plugin.Sperr(peak_signal_to_noise_ratio=settings["psnr"])
        return hdf5plugin.Sperr(absolute=settings["tolerance"] * span)

    def _decode_filter(self, hdf5plugin):
        return hdf5plugin.Sperr(rate=1.0)

    def _check_stream(self, chunk, dims, dtype):
        # Layout written by hdf5plugin 7.1's H5Z-SPERR for one 3-D chunk without missing values:
        # 3 bytes (the last one 0x60 for float32, 0x40 for float64), the dims as 3 uint32 in the
        # dataset's order, then one uint32: the length of SPERR's single chunk stream, the rest.
        if len(chunk) < 19:
            return f"{len(chunk)} bytes, shorter than the stream header"
        lead = b"\x00\x00\x60" if dtype == np.float32 else b"\x00\x00\x40"
        if chunk[:3] != lead:
            return f"header bytes {chunk[:3].hex()}, expected {lead.hex()} for {dtype.name}"
        stream_dims = struct.unpack("<3I", chunk[3:15])
        if stream_dims != tuple(dims):
            return f"the stream holds {stream_dims}, the file {tuple(dims)}"
        (length,) = struct.unpack("<I", chunk[15:19])
        if length != len(chunk) - 19:
            return f"the stream declares {length} bytes, {len(chunk) - 19} follow"
        return None


@register
class Sz3(_Hdf5Filter):
    name = "sz3"
    description = "SZ3 (hdf5plugin) with an absolute error bound on the float32/float64 samples"
    max_bytes_per_value = 4.0  # noise at a tight bound: ~2.03× the samples (test_sz3_keeps_tight_bounds…)
    options = (
        Option("mode", str, "accuracy", "SZ3 mode (its absolute error bound)", choices=("accuracy",)),
        Option(
            "tolerance",
            float,
            0.01,
            "largest error as a fraction of the range (SZ3's absolute bound = tolerance × range)",
            low=1e-7,
            high=1.0,
        ),
    )
    presets = {
        "smoke": ({},),
        "quick": tuple({"tolerance": t} for t in (0.001, 0.01, 0.1)),
        "default": tuple({"tolerance": t} for t in reversed(_SZ3_TOLERANCES)),
    }

    def _filter(self, hdf5plugin, settings, span):
        return hdf5plugin.SZ3(absolute=settings["tolerance"] * span)

    def _decode_filter(self, hdf5plugin):
        return hdf5plugin.SZ3(absolute=1.0)

    def _check_stream(self, chunk, dims, dtype):
        # Layout written by hdf5plugin 7.1's H5Z-SZ3: a uint64, the size SZ3 allocates for its
        # payload, then that payload as one zstd frame.
        if len(chunk) < 12:
            return f"{len(chunk)} bytes, shorter than the stream header"
        (payload,) = struct.unpack("<Q", chunk[:8])
        # SZ3 sizes this buffer generously: 3.1× the samples for white noise at a 1e-5 bound (its
        # unpredictable values stored whole plus the quantization bins); the decode runs in a
        # bounded child process anyway, so this only keeps the declared size sane
        bound = 8 * math.prod(dims) * dtype.itemsize + (1 << 20)
        if payload > bound:
            return f"the stream declares a payload of {payload} bytes, over the bound {bound}"
        if chunk[8:12] != _ZSTD_MAGIC:
            return "the payload is not a zstd frame"
        return None
