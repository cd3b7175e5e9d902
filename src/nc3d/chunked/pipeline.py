"""Compressing and decoding volumes chunk by chunk: a lazy source → Dask → a Zarr array.

``compress_to_zarr("ct.npy", "ct.zarr", quality=12)`` reads the source one chunk at a time
(:func:`open_lazy`: a Zarr array, a ``.npy`` or raw file read box by box, or a small volume file
read whole), and each Dask task encodes one chunk with the ``volume`` codec and writes it into a
Zarr 3 array whose serializer is :class:`~nc3d.chunked.zarr_codec.VolumeZarrCodec`.
``decompress_zarr("ct.zarr", "ct.npy")`` runs the other way, into ``.npy``, raw or plain Zarr
(``.zarr``), again one chunk per task. Memory stays bounded by a few chunks per worker, whatever
the size of the volume.

Where the tasks run (``scheduler``):

* ``None`` (default): a local Dask cluster of ``jobs`` worker processes (default: one per core),
  one thread each, started for the call and closed after it;
* ``"synchronous"``: in this process, one chunk after the other;
* ``"HOST:PORT"`` (``tcp://…``): an existing Dask distributed scheduler — every worker needs the
  same nc3d installed and must see the input and output paths (a shared file system);
* a :class:`distributed.Client`: that client's cluster (left open).

Outputs are written like every nc3d output: into a hidden ``.<name>.*.partial`` sibling that is
renamed into place when every chunk is written, so an interrupted run leaves no half-written
output under the final name; an existing output is replaced only with ``force`` (and only when
it is a Zarr store or a file).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import require
from ..errors import FormatError, InputError, Nc3dError, OutputExistsError

__all__ = [
    "DEFAULT_CHUNKS",
    "MIN_CHUNK",
    "is_zarr_path",
    "open_lazy",
    "compress_to_zarr",
    "decompress_zarr",
    "parse_chunks",
    "zarr_info",
    "local_cluster",
    "LOCAL_CLUSTER_CONFIG",
]

#: Chunk shape ``(z, y, x)`` of the Zarr arrays written when none is given (2 MiB of uint8).
DEFAULT_CHUNKS = (128, 128, 128)
#: The smallest chunk side accepted: the codec works on 8³ blocks.
MIN_CHUNK = 8
#: Chunked outputs by extension (any other volume extension is decoded whole, in memory).
CHUNKED_OUTPUTS = (".zarr", ".npy", ".raw")

Progress = Callable[[str, int, int], None]


# -- paths -------------------------------------------------------------------------------------------
def is_zarr_path(path: str | os.PathLike) -> bool:
    """True for a path named ``*.zarr`` or a folder holding Zarr array metadata."""
    p = Path(path)
    if p.name.lower().endswith(".zarr"):
        return True
    return p.is_dir() and ((p / "zarr.json").is_file() or (p / ".zarray").is_file())


def parse_chunks(chunks, shape=None) -> tuple[int, int, int]:
    """A chunk shape ``(z, y, x)`` from three ints or ``"Z,Y,X"``; sides clipped to ``shape``.

    Raises
    ------
    InputError
        Not three integers, or a side below :data:`MIN_CHUNK` (unless the volume is thinner).
    """
    if isinstance(chunks, str):
        try:
            chunks = tuple(int(v) for v in chunks.split(","))
        except ValueError:
            raise InputError(f"chunks {chunks!r}: write them as Z,Y,X (three integers)") from None
    try:
        sides = tuple(int(c) for c in chunks)
    except (TypeError, ValueError):
        raise InputError(f"chunks {chunks!r}: expected three integers (z, y, x)") from None
    if len(sides) != 3:
        raise InputError(f"chunks {chunks!r}: expected three integers (z, y, x)")
    if shape is not None:
        sides = tuple(min(c, s) for c, s in zip(sides, shape))
    for c, axis, s in zip(sides, "zyx", shape or (None,) * 3):
        if c < MIN_CHUNK and (s is None or c < s):
            raise InputError(f"chunks along {axis}: {c} voxels; a chunk side needs at least {MIN_CHUNK}")
    return sides  # type: ignore[return-value]


# -- reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileSamples:
    """A volume stored as plain samples in a file (``.npy`` or raw), read box by box.

    Each read maps the file, copies the box out and unmaps it: a memory map kept open while a
    large file is read would count every page read in the process's resident memory. Picklable
    (it holds the path, not the data), so Dask ships it to workers.

    Attributes
    ----------
    path : str
    shape : (z, y, x) ints
    stored : str
        The dtype as stored (with its byte order), e.g. ``"<u2"``.
    offset : int
        Bytes before the first sample.
    fortran : bool
        Samples stored in Fortran order (``.npy`` only).
    """

    path: str
    shape: tuple[int, int, int]
    stored: str
    offset: int = 0
    fortran: bool = False

    @property
    def dtype(self) -> np.dtype:
        """The native-order dtype the boxes come back in."""
        return np.dtype(self.stored).newbyteorder("=")

    @property
    def ndim(self) -> int:
        return 3

    def __getitem__(self, key) -> np.ndarray:
        m = np.memmap(
            self.path,
            dtype=np.dtype(self.stored),
            mode="r",
            offset=self.offset,
            shape=self.shape,
            order="F" if self.fortran else "C",
        )
        return np.array(m[key], dtype=self.dtype)  # a copy: no view keeps the map alive


def _npy_samples(path: Path) -> FileSamples:
    try:
        m = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy's parser fails in many ways on a damaged header
        raise InputError(f"{path}: cannot read as .npy ({type(exc).__name__}: {exc})") from None
    try:
        if m.ndim != 3:
            raise InputError(f"{path}: a volume must be 3-D, got shape {m.shape}")
        _check_dtype(m.dtype, str(path))
        fortran = bool(m.flags.f_contiguous and not m.flags.c_contiguous)
        return FileSamples(str(path), _dims(m.shape, str(path)), m.dtype.str, int(m.offset), fortran)
    finally:
        del m


def _raw_samples(path: Path, shape, dtype) -> FileSamples:
    from ..io.volumes import raw_layout

    native = None if dtype is None else np.dtype(dtype).newbyteorder("=")
    dims, dt = raw_layout(path, shape, native, max_voxels=None)
    return FileSamples(str(path), dims, dt.newbyteorder("<").str)


def _check_dtype(dtype, what: str) -> np.dtype:
    from ..io.volume_arrays import check_dtype

    return check_dtype(np.dtype(dtype).newbyteorder("="), what)


def _dims(shape, what: str) -> tuple[int, int, int]:
    from ..io.volume_arrays import check_dims

    return check_dims(shape, what, max_voxels=None)


def open_lazy(source, *, chunks=None, shape=None, dtype=None):
    """A volume as a lazy Dask array, read chunk by chunk when computed.

    Parameters
    ----------
    source : path, dask array, or array-like
        A Zarr array (``*.zarr``, or a folder with Zarr metadata; any codecs); a ``.npy`` or raw
        file (read box by box, never whole); another volume file (``.nii``, ``.tif``, …: read
        whole, so only as large as memory allows, :data:`nc3d.io.MAX_VOXELS`); a Dask array; or
        any 3-D array-like (numpy, ``zarr.Array``, ``h5py.Dataset``).
    chunks : (z, y, x) ints, optional
        The chunking of the returned array (default: a Zarr source's own, else
        :data:`DEFAULT_CHUNKS`).
    shape, dtype : optional
        A raw file's ``(z, y, x)`` shape and sample type (see :func:`nc3d.io.load_volume`).

    Returns
    -------
    dask.array.Array
        3-D, of a volume dtype (:data:`nc3d.io.volume_arrays.VOLUME_DTYPES`), native byte order.
    """
    da = require("dask.array", "reading volumes chunk by chunk")
    if (shape is not None or dtype is not None) and not (
        isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".raw")
    ):
        raise InputError("shape and dtype describe a raw volume file; the input is not one")
    if isinstance(source, (str, os.PathLike)):
        arr = _open_path(Path(source), chunks, shape, dtype, da)
    elif hasattr(source, "dask") and hasattr(source, "chunks"):  # a dask array already
        arr = source
    else:
        a = source if hasattr(source, "shape") and hasattr(source, "dtype") else np.asarray(source)
        arr = da.from_array(a, chunks=chunks or DEFAULT_CHUNKS)
    if arr.ndim != 3:
        raise InputError(f"a volume must be 3-D, got shape {arr.shape}")
    _dims(arr.shape, "volume")
    dt = _check_dtype(arr.dtype, "volume")
    if arr.dtype != dt:
        arr = arr.astype(dt)
    if chunks is not None:
        arr = arr.rechunk(parse_chunks(chunks, arr.shape))
    return arr


def _open_path(path: Path, chunks, shape, dtype, da):
    from ..io.volumes import is_volume_path, load_volume, volume_format

    if is_zarr_path(path):
        zarr = require("zarr", "reading Zarr arrays")
        from . import zarr_codec  # noqa: F401 - registers nc3d.volume with zarr

        if not path.exists():
            raise InputError(f"{path}: no such Zarr store")
        try:
            z = zarr.open_array(str(path), mode="r")
        except Exception as exc:  # noqa: BLE001 - zarr raises many types for a folder it cannot read
            raise InputError(
                f"{path}: cannot open as a Zarr array ({type(exc).__name__}: {exc}); "
                "for an array inside a group, give its path (store.zarr/NAME)"
            ) from None
        if z.ndim != 3:
            raise InputError(f"{path}: a volume must be 3-D, got a Zarr array of shape {z.shape}")
        return da.from_zarr(z, chunks=z.chunks if chunks is None else parse_chunks(chunks, z.shape))
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = volume_format(path)
    sizes = parse_chunks(chunks or DEFAULT_CHUNKS)
    if fmt in (".npy", ".raw"):
        if fmt == ".npy" and (shape is not None or dtype is not None):
            raise InputError(
                f"{path}: shape and dtype are only given for raw files; a .npy file states its own"
            )
        samples = _npy_samples(path) if fmt == ".npy" else _raw_samples(path, shape, dtype)
        stat = path.stat()
        from dask.base import tokenize

        name = "nc3d-read-" + tokenize(samples, stat.st_mtime_ns, stat.st_size)
        return da.from_array(
            samples,
            chunks=parse_chunks(sizes, samples.shape),
            name=name,
            meta=np.empty((0, 0, 0), samples.dtype),
        )
    if not is_volume_path(path):
        raise InputError(f"{path}: not a volume (a Zarr store, .npy, raw or another volume file)")
    volume = load_volume(path)  # formats with headers or compression: read whole
    return da.from_array(volume, chunks=parse_chunks(sizes, volume.shape))


def _source_bytes(source) -> int | None:
    """Bytes the source takes on disk (a file, or every file of a Zarr store), if it is a path."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    p = Path(source)
    if p.is_dir():
        return _tree_bytes(p)
    from ..io.volumes import volume_file_bytes

    return volume_file_bytes(p)


def _tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def zarr_info(path: str | os.PathLike) -> dict:
    """What a Zarr array holds: shape, dtype, chunks, codecs, stored bytes and the ratio.

    Returns
    -------
    dict
        ``path``, ``zarr_format``, ``shape``, ``dtype``, ``chunks``, ``codecs`` (the metadata's
        codec entries), ``chunk_count``, ``stored_chunks`` (absent ones read as the fill value),
        ``stored_bytes`` (every file of the store), ``raw_bytes`` and ``ratio`` (raw ÷ stored).
    """
    zarr = require("zarr", "reading Zarr arrays")
    from . import zarr_codec  # noqa: F401 - registers nc3d.volume with zarr

    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p}: no such Zarr store")
    try:
        z = zarr.open_array(str(p), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises many types for a folder it cannot read
        raise InputError(f"{p}: cannot open as a Zarr array ({type(exc).__name__}: {exc})") from None
    meta = z.metadata.to_dict()
    codecs = meta.get("codecs") or [c for c in (meta.get("filters") or []) + [meta.get("compressor")] if c]
    stored = _tree_bytes(p)
    return {
        "path": str(p),
        "zarr_format": int(meta.get("zarr_format", 0)),
        "shape": list(z.shape),
        "dtype": str(z.dtype),
        "chunks": list(z.chunks),
        "codecs": codecs,
        "chunk_count": int(z.nchunks),
        "stored_chunks": int(z.nchunks_initialized),
        "stored_bytes": stored,
        "raw_bytes": int(z.nbytes),
        "ratio": z.nbytes / stored if stored else math.inf,
    }


# -- running the tasks -------------------------------------------------------------------------------
@contextlib.contextmanager
def _client(scheduler, jobs: int | None) -> Iterator[Any]:
    """The distributed client to run on (None: synchronous, in this process)."""
    if scheduler == "synchronous":
        if jobs is not None:
            raise InputError("jobs applies to a local cluster, not to the synchronous scheduler")
        yield None
        return
    distributed = require("distributed", "running chunks on a Dask cluster")
    if scheduler is not None and not isinstance(scheduler, str):  # a Client given by the caller
        if jobs is not None:
            raise InputError("jobs applies to a local cluster, not to an existing one")
        yield scheduler
        return
    if isinstance(scheduler, str):
        if jobs is not None:
            raise InputError("jobs applies to a local cluster, not to the one at a scheduler address")
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with local_cluster(jobs) as client:
        yield client


#: Dask settings of the local clusters nc3d starts. Distributed starts its workers with
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which also pins glibc's mmap threshold, so every array of a
#: chunk's working set is mapped afresh and page-faulted on each use: compressing and decoding a
#: 384³ volume took 1.6× the CPU of a plain process. Without it, freed memory stays in glibc's
#: per-thread arenas (zarr runs codecs in a thread pool): ``MALLOC_ARENA_MAX=2`` keeps the peak at
#: 420 MiB instead of 646 (one process, 128³ chunks, same CPU). The statistical profiler (a
#: stack sample every 10 ms per worker) is off too.
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.nanny.pre-spawn-environ.MALLOC_ARENA_MAX": 2,
    "distributed.worker.profile.enabled": False,
}


@contextlib.contextmanager
def local_cluster(jobs: int | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` on a local cluster of ``jobs`` worker processes (default: one
    per core), one thread each, with :data:`LOCAL_CLUSTER_CONFIG`; closed on exit."""
    import dask

    distributed = require("distributed", "running chunks on a Dask cluster")
    from ..batch import default_jobs

    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=jobs or default_jobs(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # e.g. heartbeats failing as it closes; task errors are raised
        )
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _run(tasks: list, scheduler, jobs, progress: Progress | None, phase: str) -> str:
    """Compute every delayed task (each writes one chunk); returns where they ran, in words."""
    total = len(tasks)
    if progress:
        progress(phase, 0, total)
    with _client(scheduler, jobs) as client:
        if client is None:
            for i, task in enumerate(tasks):
                task.compute(scheduler="synchronous")
                if progress:
                    progress(phase, i + 1, total)
            return "synchronous"
        from distributed import as_completed

        futures = client.compute(tasks)
        try:
            for i, future in enumerate(as_completed(futures)):
                future.result()  # re-raises a task's error here
                if progress:
                    progress(phase, i + 1, total)
        finally:
            client.cancel(futures)
        threads = client.nthreads()
        return f"dask: {len(threads)} workers, {sum(threads.values())} threads"


def _block_tasks(arr, write: Callable, **kwargs) -> list:
    """One delayed task per chunk of ``arr``: ``write(block, **kwargs, block_info=...)``."""
    da = require("dask.array", "writing volumes chunk by chunk")
    out = da.map_blocks(
        write,
        arr,
        dtype=np.int64,
        chunks=tuple((1,) * len(c) for c in arr.chunks),
        meta=np.empty((0, 0, 0), np.int64),
        **kwargs,
    )
    return list(out.to_delayed().ravel())


def _region(block_info) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in block_info[0]["array-location"])


def _named(exc: Nc3dError, region) -> Nc3dError:
    """The error with the chunk it happened in (an input or format error; others as they are)."""
    if type(exc) not in (InputError, FormatError):
        return exc
    where = ", ".join(f"{axis} {s.start}:{s.stop}" for axis, s in zip("zyx", region))
    return type(exc)(f"chunk at {where}: {exc}")


def _write_zarr_block(block: np.ndarray, store: str, block_info=None) -> np.ndarray:
    """Write one chunk into the Zarr array at ``store`` (a Dask task; the array chunk-aligned)."""
    zarr = require("zarr", "writing Zarr arrays")
    from . import zarr_codec  # noqa: F401 - registers nc3d.volume with zarr in a fresh worker

    region = _region(block_info)
    try:
        zarr.open_array(store, mode="r+")[region] = block
    except Nc3dError as exc:
        raise _named(exc, region) from None
    return np.ones((1, 1, 1), np.int64)


def _write_file_block(block: np.ndarray, target: FileSamples, block_info=None) -> np.ndarray:
    """Write one box into a ``.npy``/raw file through a short-lived memory map (a Dask task)."""
    m = np.memmap(
        target.path, dtype=np.dtype(target.stored), mode="r+", offset=target.offset, shape=target.shape
    )
    m[_region(block_info)] = block
    m.flush()
    del m
    return np.ones((1, 1, 1), np.int64)


# -- outputs -----------------------------------------------------------------------------------------
def _check_output(out: Path, force: bool) -> None:
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: directory {out.parent} does not exist")
    if out.exists() or out.is_symlink():
        if not force:
            raise OutputExistsError(out)
        if out.is_dir() and not is_zarr_path(out):
            raise InputError(f"{out} is a folder that holds no Zarr array; not replaced (remove it yourself)")


def _partial(out: Path, folder: bool) -> Path:
    prefix, suffix = f".{out.name}.", ".partial"
    if folder:
        return Path(tempfile.mkdtemp(dir=out.parent, prefix=prefix, suffix=suffix))
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _move_into_place(partial: Path, out: Path, force: bool) -> None:
    """Rename the finished ``partial`` to ``out`` (an existing ``out`` goes only with ``force``)."""
    if out.exists() or out.is_symlink():
        if not force:
            raise OutputExistsError(out)
        if out.is_dir() and not out.is_symlink():  # a folder cannot be renamed over: move it aside first
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, old / out.name)
            os.replace(partial, out)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(partial, out)


# -- compress ----------------------------------------------------------------------------------------
def compress_to_zarr(
    source,
    output: str | os.PathLike,
    *,
    codec: str = "volume",
    chunks=None,
    jobs: int | None = None,
    scheduler=None,
    force: bool = False,
    shape=None,
    dtype=None,
    progress: Progress | None = None,
    **settings,
) -> dict:
    """Compress a volume of any size into a Zarr 3 array whose chunks are ``.nc3d`` files.

    Parameters
    ----------
    source : path or array
        See :func:`open_lazy` (Zarr store, ``.npy``/raw read box by box, a Dask or numpy array).
    output : path
        The Zarr store (a folder, conventionally ``*.zarr``) to write.
    codec : str
        The nc3d codec of the chunks; ``"volume"`` (Zarr codec ``nc3d.volume``) is the one.
    chunks : (z, y, x) ints or "Z,Y,X", optional
        Chunk shape of the output (default :data:`DEFAULT_CHUNKS`, clipped to the volume). Each
        chunk is coded on its own; zarr pads the last chunk along each axis with 0.
    jobs, scheduler
        Where the chunks are coded (module notes): a local cluster of ``jobs`` processes by default.
    force : bool
        Replace an existing output (a Zarr store or a file).
    shape, dtype : optional
        A raw source's shape and sample type.
    progress : callable, optional
        ``progress(phase, done, total)`` as chunks finish.
    **settings
        The codec's chunk settings: ``quality``, ``target_psnr``.

    Returns
    -------
    dict
        ``codec``, ``zarr_codec``, ``output``, ``shape``, ``dtype``, ``chunks``, ``chunk_count``,
        ``input_bytes`` (the source on disk; the raw samples for an array), ``canonical_bytes``
        (the raw samples), ``output_bytes`` (every file of the store), ``ratio``,
        ``ratio_canonical``, ``seconds``, ``ran_on``.
    """
    require("numcodecs", "the nc3d.volume chunk codec")
    from .numcodec import CODEC_ID, NC3D_CODEC, VolumeNumcodec

    t0 = time.perf_counter()
    if codec != NC3D_CODEC:
        raise InputError(f"chunked (Zarr) output is written with codec '{NC3D_CODEC}', not '{codec}'")
    given = {k: v for k, v in settings.items() if v is not None}
    numcodec = VolumeNumcodec.from_config(given)  # unknown or bad settings: InputError, before any work
    zarr = require("zarr", "writing Zarr arrays")
    from .zarr_codec import VolumeZarrCodec

    out = Path(output)
    _check_output(out, force)
    arr = open_lazy(source, shape=shape, dtype=dtype)
    sizes = parse_chunks(DEFAULT_CHUNKS if chunks is None else chunks, arr.shape)
    arr = arr.rechunk(sizes)
    partial = _partial(out, folder=True)
    try:
        zarr.create_array(
            store=str(partial),
            shape=arr.shape,
            dtype=arr.dtype,
            chunks=sizes,
            serializer=VolumeZarrCodec(quality=numcodec.quality, target_psnr=numcodec.target_psnr),
            compressors=None,
            filters=None,
            fill_value=0,
            attributes={"nc3d": {"codec": NC3D_CODEC, **numcodec.settings}},
            overwrite=True,
        )
        tasks = _block_tasks(arr, _write_zarr_block, store=str(partial))
        ran_on = _run(tasks, scheduler, jobs, progress, "chunks")
        output_bytes = _tree_bytes(partial)
        _move_into_place(partial, out, force)
    except BaseException:
        _remove(partial)
        raise
    raw = int(arr.nbytes)
    input_bytes = _source_bytes(source) or raw
    return {
        "codec": NC3D_CODEC,
        "zarr_codec": CODEC_ID,
        "output": str(out),
        "shape": list(arr.shape),
        "dtype": arr.dtype.name,
        "chunks": list(sizes),
        "chunk_count": len(tasks),
        "input_bytes": input_bytes,
        "canonical_bytes": raw,
        "output_bytes": output_bytes,
        "ratio": input_bytes / output_bytes,
        "ratio_canonical": raw / output_bytes,
        "seconds": time.perf_counter() - t0,
        "ran_on": ran_on,
    }


# -- decompress --------------------------------------------------------------------------------------
def decompress_zarr(
    source,
    output: str | os.PathLike,
    *,
    region=None,
    jobs: int | None = None,
    scheduler=None,
    force: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Decode a Zarr array (e.g. one written by :func:`compress_to_zarr`) chunk by chunk into a file.

    Parameters
    ----------
    source : path or array
        A Zarr store (any codecs Zarr can read) or anything :func:`open_lazy` takes.
    output : path
        ``.npy`` or ``.raw`` (written box by box into a file of the final size; a raw name gets
        the ``_XxYxZ_dtype.raw`` pattern), ``.zarr`` (plain Zarr 3, Zarr's default compressor,
        the source's chunking), or another volume format of :func:`nc3d.io.save_volume` (decoded
        whole in memory: up to :data:`nc3d.io.MAX_VOXELS`).
    region : str or three (start, stop) pairs, optional
        Decode only this sub-box ``z0:z1,y0:y1,x0:x1`` (only the chunks it meets are read).
    jobs, scheduler, force, progress
        As for :func:`compress_to_zarr`.

    Returns
    -------
    dict
        ``output`` (the path written), ``shape``, ``dtype``, ``chunk_count``, ``seconds``, ``ran_on``.
    """
    from ..codecs.volume_header import check_region
    from ..io.volumes import raw_name, save_volume, volume_format

    t0 = time.perf_counter()
    arr = open_lazy(source)
    if region is not None:
        box = check_region(region, arr.shape)
        arr = arr[tuple(slice(a, b) for a, b in box)]
    out = Path(output)
    ext = ".zarr" if is_zarr_path(out) else volume_format(out)
    if ext == ".raw":  # the name tells the shape and dtype: a zero-size stand-in carries them
        out = raw_name(out, np.broadcast_to(np.zeros((), arr.dtype), arr.shape))
    _check_output(out, force)
    if ext not in CHUNKED_OUTPUTS:
        from ..io.volume_arrays import MAX_VOXELS

        if ext is None:
            raise InputError(f"{out}: write a volume as .zarr, .npy, .raw, or a volume file format")
        if arr.size > MAX_VOXELS:
            raise InputError(
                f"{out}: a {ext} file is written whole, and {arr.shape} is over the limit of "
                f"{MAX_VOXELS} voxels; write .zarr, .npy or .raw (chunk by chunk)"
            )
        with _client(scheduler, jobs) as client:
            volume = arr.compute(scheduler="synchronous") if client is None else client.compute(arr).result()
        written = save_volume(out, volume, force=force)
        return {
            "output": str(written),
            "shape": list(arr.shape),
            "dtype": arr.dtype.name,
            "chunk_count": int(np.prod(arr.numblocks)),
            "seconds": time.perf_counter() - t0,
            "ran_on": "in memory",
        }
    partial = _partial(out, folder=ext == ".zarr")
    try:
        if ext == ".zarr":
            zarr = require("zarr", "writing Zarr arrays")
            sizes = tuple(max(c) for c in arr.chunks)
            arr = arr.rechunk(sizes)
            zarr.create_array(
                store=str(partial),
                shape=arr.shape,
                dtype=arr.dtype,
                chunks=sizes,
                fill_value=0,
                overwrite=True,
            )
            tasks = _block_tasks(arr, _write_zarr_block, store=str(partial))
        else:
            target = _empty_file(partial, arr.shape, arr.dtype, npy=ext == ".npy")
            tasks = _block_tasks(arr, _write_file_block, target=target)
        ran_on = _run(tasks, scheduler, jobs, progress, "chunks")
        if ext != ".zarr":
            _fsync(partial)
        _move_into_place(partial, out, force)
    except BaseException:
        _remove(partial)
        raise
    return {
        "output": str(out),
        "shape": list(arr.shape),
        "dtype": arr.dtype.name,
        "chunk_count": len(tasks),
        "seconds": time.perf_counter() - t0,
        "ran_on": ran_on,
    }


def _empty_file(path: Path, shape, dtype, *, npy: bool) -> FileSamples:
    """Size ``path`` for ``shape`` samples (a ``.npy`` header first, if ``npy``); return its target."""
    dt = np.dtype(dtype)
    if npy:
        m = np.lib.format.open_memmap(path, mode="w+", dtype=dt, shape=tuple(shape))
        offset = int(m.offset)
        del m
        return FileSamples(str(path), tuple(shape), dt.str, offset)
    stored = dt.newbyteorder("<")
    with open(path, "r+b") as fh:
        fh.truncate(math.prod(shape) * dt.itemsize)
    return FileSamples(str(path), tuple(shape), stored.str)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
