"""Dataset scale: every mesh of a folder → one ``.nc3d`` file each, in parallel.

``nc3d compress DIR/ -o OUTDIR/ --codec implicit`` (any single-mesh codec) lands here. Each
mesh file of ``DIR`` (not recursive, sorted by name, :func:`nc3d.io.is_mesh_path`) becomes
``OUTDIR/<stem>.nc3d``:

* **resumable** — an output that already exists is not recomputed (reported with
  ``"skipped": true``) unless ``force``;
* **atomic** — every output goes through :func:`nc3d.files.write_bytes_atomic`, so an
  interrupted run leaves whole files or none;
* **fault tolerant** — a mesh that cannot be read or compressed gives a result with
  ``"error"`` and the run carries on;
* **parallel** — one worker process per core (:class:`concurrent.futures.ProcessPoolExecutor`,
  ``spawn`` start method, because forking a process that already runs torch threads can
  deadlock), each limited to one torch thread; or, with ``ray_address``, the same per-file
  function as Ray tasks of one CPU each (:mod:`nc3d.distributed`).

Every result is a JSON-ready dict: ``name``, ``input``, ``output``, then ``bytes``,
``input_bytes``, ``seconds``, ``surface_error`` (``null`` for codecs that do not measure it)
on success, ``skipped: true`` (with ``bytes``) for an existing output, or ``error`` (the message)
on failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import InputError, Nc3dError
from .nn.device import limit_threads

if TYPE_CHECKING:  # pragma: no cover
    from .codecs.handles import MeshSetFile

__all__ = [
    "BatchItem",
    "plan_folder",
    "compress_file",
    "compress_folder",
    "default_jobs",
    "limit_threads",
    "init_worker",
    "compress_in_worker",
    "decode_set_to_folder",
]


@dataclass(frozen=True)
class BatchItem:
    """One mesh file and the ``.nc3d`` file it becomes.

    Attributes
    ----------
    name : str
        The input's stem (also the output's).
    source : str
        The mesh file.
    output : str
        ``OUTDIR/<stem>.nc3d``.
    conflict : str or None
        The name of an earlier file with the same stem (``a.obj`` vs ``a.ply``); such an item is
        reported as an error instead of overwriting the other's output.
    """

    name: str
    source: str
    output: str
    conflict: str | None = None


def default_jobs() -> int:
    """Cores this process may use (its CPU affinity where the OS tells, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_worker_ready = False


def init_worker() -> None:
    """Worker start-up (idempotent): one thread, and the imports done once so that a result's
    ``seconds`` times the work only."""
    global _worker_ready
    if _worker_ready:
        return
    _worker_ready = True
    limit_threads()
    import importlib

    from .codecs.base import codec_names

    codec_names()
    # modules the first file would otherwise import (torch.optim pulls in torch._dynamo lazily)
    for name in ("nc3d.api", "trimesh", "nc3d.geometry.sampling", "torch._dynamo"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def plan_folder(input_dir: str | os.PathLike, output_dir: str | os.PathLike) -> list[BatchItem]:
    """The work for a folder: its mesh files (sorted, not recursive) and their outputs.

    Raises
    ------
    InputError
        ``input_dir`` is not a folder or holds no mesh files.
    """
    from .io import MESH_EXTENSIONS, is_mesh_path

    src = Path(input_dir)
    if not src.is_dir():
        raise InputError(f"{src}: not a folder")
    files = sorted(p for p in src.iterdir() if p.is_file() and is_mesh_path(p))
    if not files:
        raise InputError(f"{src}: no mesh files ({', '.join(MESH_EXTENSIONS)}) in this folder")
    seen: dict[str, str] = {}
    items = []
    for p in files:
        out = Path(output_dir) / f"{p.stem}.nc3d"
        items.append(BatchItem(p.stem, str(p), str(out), seen.get(p.stem)))
        seen.setdefault(p.stem, p.name)
    return items


def compress_file(source: str, output: str, codec: str, settings: dict, force: bool = False) -> dict:
    """Compress one mesh file into one ``.nc3d`` file; never raises for a bad mesh.

    This is the per-file function the worker processes and Ray tasks run (importable at module
    level, so it pickles by reference).

    Parameters
    ----------
    source : str
        The mesh file.
    output : str
        The ``.nc3d`` file to write (atomically).
    codec : str
        Registry name of a single-mesh codec.
    settings : dict
        The codec's settings.
    force : bool
        Overwrite an existing output.

    Returns
    -------
    dict
        ``name``, ``input``, ``output`` and either ``bytes``, ``input_bytes``, ``seconds``,
        ``surface_error`` or ``error`` (the message; for an unexpected exception prefixed with
        its type).
    """
    from . import api
    from .container import unpack
    from .files import write_bytes_atomic

    t0 = time.perf_counter()
    result: dict[str, Any] = {"name": Path(source).stem, "input": source, "output": output}
    try:
        data = api.load_input(source)
        blob = api.choose_codec(data.kind, codec).encode(data.data, **settings)
        write_bytes_atomic(output, blob, force=force)
        header = unpack(blob).header
        result.update(
            bytes=len(blob),
            input_bytes=data.input_bytes,
            seconds=round(time.perf_counter() - t0, 3),
            surface_error=header.get("surface_error"),
        )
    except Nc3dError as exc:
        result["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad mesh must not stop a dataset run
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


def compress_in_worker(source: str, output: str, codec: str, settings: dict, force: bool) -> dict:
    """:func:`compress_file` in a fresh worker (a Ray task): :func:`init_worker` first (one thread)."""
    init_worker()
    return compress_file(source, output, codec, settings, force)


def _error(item: BatchItem, message: str) -> dict:
    return {"name": item.name, "input": item.source, "output": item.output, "error": message}


def _skipped(item: BatchItem) -> dict:
    return {
        "name": item.name,
        "input": item.source,
        "output": item.output,
        "skipped": True,
        "bytes": Path(item.output).stat().st_size,
    }


def _run_local(items: list[BatchItem], codec: str, settings: dict, force: bool, jobs: int) -> Iterable[dict]:
    if jobs <= 1 or len(items) <= 1:  # in this process, with all of its threads
        for it in items:
            yield compress_file(it.source, it.output, codec, settings, force)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(items)), mp_context=ctx, initializer=init_worker
    ) as pool:
        futures = {
            pool.submit(compress_file, it.source, it.output, codec, settings, force): it for it in items
        }
        try:
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (out of memory, killed, …)
                    yield _error(futures[fut], f"worker failed: {type(exc).__name__}: {exc}")
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def compress_folder(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    codec: str = "implicit",
    settings: dict | None = None,
    jobs: int | None = None,
    ray_address: str | None = None,
    force: bool = False,
    on_result: Callable[[dict, int, int], None] | None = None,
) -> list[dict]:
    """Compress every mesh file of a folder into ``output_dir/<stem>.nc3d``.

    Parameters
    ----------
    input_dir : path
        The folder (not recursive; files sorted by name).
    output_dir : path
        Where the ``.nc3d`` files go; created if missing.
    codec : str
        A single-mesh codec (kind ``"mesh"``).
    settings : dict, optional
        The codec's settings; validated once here, before any work starts.
    jobs : int, optional
        Worker processes (default: one per core, :func:`default_jobs`); with ``ray_address``,
        the CPUs of a local Ray (``"local"``). 1 runs everything in this process.
    ray_address : str, optional
        Run the files as Ray tasks: ``"local"`` starts a Ray on this machine, ``"auto"`` joins
        the running cluster, ``"HOST:PORT"`` a given one (see :func:`nc3d.distributed.ray_map`).
    force : bool
        Recompute and overwrite existing outputs (default: skip them, so a run can resume).
    on_result : callable, optional
        ``on_result(result, done, total)`` after each file, as results arrive (skipped ones first).

    Returns
    -------
    list of dict
        One result per mesh file, in the folder's (sorted) order; see the module docstring.

    Raises
    ------
    InputError
        No mesh files, a codec that does not take single meshes, bad settings, ``jobs < 1``, or
        an output path that is a file.
    """
    from .codecs.base import get_codec
    from .files import remove_stale_partials

    settings = dict(settings or {})
    c = get_codec(codec)
    if c.kind != "mesh":
        raise InputError(f"folder mode compresses each mesh on its own; codec '{codec}' takes a {c.kind}")
    c.resolve_settings(settings)  # fail on a typo before spending hours
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; folder mode writes one .nc3d per mesh into a folder")
    items = plan_folder(input_dir, out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out, [Path(it.output).name for it in items])  # left by a killed run

    total = len(items)
    results: dict[str, dict] = {}
    pending: list[BatchItem] = []

    def report(item_source: str, result: dict) -> None:
        results[item_source] = result
        if on_result is not None:
            on_result(result, len(results), total)

    for it in items:
        if it.conflict is not None:
            report(
                it.source,
                _error(
                    it,
                    f"{Path(it.source).name}: same name as {it.conflict}, whose output is "
                    f"{Path(it.output).name}; rename one of them",
                ),
            )
        elif not force and Path(it.output).exists():
            report(it.source, _skipped(it))
        else:
            pending.append(it)

    if ray_address is not None:
        from .distributed import ray_map

        # absolute paths: a task's working directory is not the caller's on every cluster
        stream: Iterable[dict] = (
            result | {"name": result.get("name", it.name), "input": it.source, "output": it.output}
            for it, result in ray_map(
                compress_in_worker,
                pending,
                lambda it: (os.path.abspath(it.source), os.path.abspath(it.output), codec, settings, force),
                address=ray_address,
                num_cpus=jobs,
            )
        )
    else:
        stream = _run_local(pending, codec, settings, force, jobs)
    for result in stream:
        report(result["input"], result)
    return [results[it.source] for it in items]


def _decode_shapes(
    path: str, names: list[str], targets: list[str], force: bool
) -> list[tuple[str, str | None]]:
    """In a worker: open the set file, decode ``names`` one by one and write each to its target.

    Returns ``(name, written path or None when the shape decodes to no surface)`` per shape.
    """
    from .api import open as open_file
    from .io import save_mesh

    handle = cast("MeshSetFile", open_file(path))
    done = []
    for name, target in zip(names, targets):
        mesh = handle.decode_shape(name)
        done.append((name, str(save_mesh(target, mesh, force=force)) if len(mesh.faces) else None))
    return done


def decode_set_to_folder(
    path: str | os.PathLike,
    names: list[str],
    targets: list[Path],
    *,
    jobs: int = 1,
    force: bool = False,
    progress=None,
) -> list[tuple[str, str | None]]:
    """Decode shapes of a set file straight to mesh files, in ``jobs`` processes.

    Each worker opens the file itself and decodes its share of the shapes one at a time (a set
    whose codec has ``shape-access`` decodes one shape without the others), writing each as it
    comes: memory stays at a few shapes, whatever the size of the set.

    Parameters
    ----------
    path : path
        The set file.
    names, targets : lists of equal length
        Shapes to decode and the mesh file each is written to.
    jobs : int
        Processes (1: this one).
    progress : callable, optional
        ``progress("shapes", done, total)``.

    Returns
    -------
    list of (name, written path or None)
        In the order of ``names``; None for a shape that decodes to no surface.
    """
    work = [str(t) for t in targets]
    n = len(names)
    if jobs <= 1 or n <= 1:
        out = []
        for i in range(n):
            out += _decode_shapes(str(path), names[i : i + 1], work[i : i + 1], force)
            if progress:
                progress("shapes", i + 1, n)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = max(1, min(32, n // (4 * jobs)))  # small chunks: progress, and a slow shape does not stall
    chunks = [(names[i : i + size], work[i : i + size]) for i in range(0, n, size)]
    results: list[tuple[str, str | None]] = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(chunks)), mp_context=ctx, initializer=init_worker) as pool:
        for part in pool.map(_decode_shapes, [str(path)] * len(chunks), *zip(*chunks), [force] * len(chunks)):
            results += part
            if progress:
                progress("shapes", len(results), n)
    return results
