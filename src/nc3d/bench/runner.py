"""``nc3d bench``: every codec × ladder setting × input → one JSON line of measurements.

A run over ``INPUT_DIR`` (one *dataset*, named after the folder) finds its meshes or its volumes
(recursively), and for every codec of that kind (sets: codecs of kind ``"meshset"`` get the
whole folder as one input), every setting of ``codec.preset("quick" if quick else "default")``
and every input it

1. encodes (``encode_s``), keeps the ``.nc3d`` bytes under ``RESULTS_DIR/files/``,
2. decodes (``decode_s``),
3. measures the decoded data against the original: meshes with
   :func:`nc3d.metrics.compare_meshes` (DESIGN.md metrics in the normalized frame of the
   original), volumes with :func:`nc3d.metrics.compare_volumes` (MSE, PSNR over the original's
   data range),

and appends one row to ``RESULTS_DIR/results.jsonl``, flushed at once. Rows are keyed by
dataset + codec + setting + input; a second run skips the keys already there (resumable). A
failure is a row with ``error`` (the message), never a crash of the run. Rows run in worker
processes (spawned, one torch thread each), consecutive rows of one input on the same worker.

Row fields: ``dataset``, ``data_kind`` (mesh | volume), ``codec``, ``kind`` (the codec's),
``baseline``, ``setting`` (dict), ``setting_key``, ``input`` (path relative to INPUT_DIR, or
``"<set of N>"``), and on success ``bytes``, ``input_bytes`` (the file(s) as given),
``canonical_bytes`` (binary PLY, float32 xyz + int32 faces; volumes: raw bytes at the input
dtype), ``ratio_input``, ``ratio_canonical``, ``encode_s``, ``decode_s``, ``cpu_s`` (CPU
seconds of the whole row in its process: loading, encoding, decoding, metrics), ``file`` and the
metrics (``chamfer``, ``chamfer_p2s``, ``normal_consistency``, ``f_score_0.005``,
``f_score_0.01``, ``hausdorff``, plus ``samples``; or ``mse``, ``psnr``). A set row also has
``n_shapes``, ``bytes_per_shape`` (bytes apportioned equally) and ``per_shape`` (name +
metrics); its metrics are the medians over its shapes. Non-finite floats (a lossless PSNR) are
written as the strings ``"inf"``/``"-inf"``/``"nan"``.

Rows hold no absolute paths: the input folder of each dataset is recorded once in
``RESULTS_DIR/inputs.json`` (relative to the results folder when it can be), and
:func:`find_source` joins it with a row's ``input``. Rows of older runs carry an absolute
``source``, which is still used when the file is there.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, Nc3dError

__all__ = [
    "RESULTS_NAME",
    "BenchTask",
    "append_rows",
    "find_inputs",
    "select_codecs",
    "plan_tasks",
    "run_task",
    "run_bench",
    "read_results",
    "setting_key",
    "setting_label",
    "row_key",
    "record_input_dir",
    "find_source",
]

RESULTS_NAME = "results.jsonl"
INPUTS_NAME = "inputs.json"
MESH_METRICS = ("chamfer", "chamfer_p2s", "normal_consistency", "f_score_0.005", "f_score_0.01", "hausdorff")
VOLUME_METRICS = ("mse", "psnr")
#: What a shape of a set that decodes to no surface scores: F-scores and normal consistency 0, the
#: distances the diagonal of the normalized frame's [-1, 1]³ box (no decoded point is nearer).
EMPTY_SHAPE_METRICS = {
    "chamfer": 2 * 3**0.5,
    "chamfer_p2s": 2 * 3**0.5,
    "hausdorff": 2 * 3**0.5,
    "normal_consistency": 0.0,
    "f_score_0.005": 0.0,
    "f_score_0.01": 0.0,
}
#: Surface samples per mesh for the metrics: DESIGN.md's 10⁵, and fewer for ``--quick``.
SAMPLES_FULL, SAMPLES_QUICK = 100_000, 20_000


def setting_key(setting: dict) -> str:
    """Canonical JSON of a setting (sorted keys): the setting's part of a row's key."""
    return json.dumps(setting, sort_keys=True, separators=(",", ":"))


def setting_label(setting: dict) -> str:
    """Short human label: ``"bits=8"``, ``"ratio=0.05,bits=10"``, or ``"default"``."""
    return (
        ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items())
        or "default"
    )


def row_key(row: dict) -> tuple[str, str, str, str]:
    """``(dataset, codec, setting_key, input)``: what makes a row unique."""
    return (row["dataset"], row["codec"], row["setting_key"], row["input"])


@dataclass(frozen=True)
class BenchTask:
    """One row to compute (picklable: it crosses into the worker processes).

    Attributes
    ----------
    dataset, data_kind, codec, input : str
        As in the row (see the module docstring).
    setting : dict
        The codec's settings for this ladder step.
    paths : tuple of str
        The input file (one), or every file of a set.
    names : tuple of str
        The shapes' names in a set (paths relative to INPUT_DIR); empty otherwise.
    samples : int
        Surface samples per mesh for the metrics.
    file : str
        Where the encoded bytes are kept (relative to the results folder).
    results_dir : str
        The results folder.
    """

    dataset: str
    data_kind: str
    codec: str
    input: str
    setting: dict = field(hash=False)
    paths: tuple
    names: tuple
    samples: int
    file: str
    results_dir: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.codec, setting_key(self.setting), self.input)


def find_inputs(input_dir, pattern: str = "*") -> tuple[str, list[Path]]:
    """The data kind of a folder and its files, found recursively and sorted.

    Parameters
    ----------
    input_dir : path
        The dataset folder.
    pattern : str
        Glob the file names must match (e.g. ``"*.npy"``), applied recursively.

    Returns
    -------
    kind : str
        ``"mesh"`` or ``"volume"``.
    files : list of Path

    Raises
    ------
    InputError
        Not a folder, no mesh or volume files, or both kinds mixed.
    """
    from ..io import MESH_EXTENSIONS, VOLUME_EXTENSIONS, is_mesh_path, is_volume_path

    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    files = sorted(p for p in root.rglob(pattern) if p.is_file())
    meshes = [p for p in files if is_mesh_path(p)]
    volumes = [p for p in files if is_volume_path(p)]
    if meshes and volumes:
        raise InputError(
            f"{root}: holds both meshes ({len(meshes)}) and volumes ({len(volumes)}); "
            "bench one kind per folder (or narrow it with a file pattern)"
        )
    if not meshes and not volumes:
        raise InputError(
            f"{root}: no mesh ({', '.join(MESH_EXTENSIONS)}) or volume "
            f"({', '.join(VOLUME_EXTENSIONS)}) files matching '{pattern}'"
        )
    return ("mesh", meshes) if meshes else ("volume", _one_format_each(volumes, VOLUME_EXTENSIONS))


#: Which file stands for a volume stored in several formats side by side (a ``.raw`` last: it
#: is usually the data file of an ``.mhd`` header).
_VOLUME_PREFERENCE = (".npy", ".nii.gz", ".nii", ".mhd", ".mha", ".vti", ".vtk", ".tif", ".tiff", ".raw")


def _one_format_each(paths: list[Path], extensions: tuple[str, ...]) -> list[Path]:
    """One file per volume stored in several formats side by side (``x.npy``, ``x.nii.gz``,
    ``x.mhd`` + ``x.raw``), chosen by :data:`_VOLUME_PREFERENCE`."""

    def split(p: Path) -> tuple[str, int]:
        name = p.name.lower()
        ext = max((e for e in extensions if name.endswith(e)), key=len)
        rank = _VOLUME_PREFERENCE.index(ext) if ext in _VOLUME_PREFERENCE else len(_VOLUME_PREFERENCE)
        return str(p)[: len(str(p)) - len(ext)], rank

    best: dict[str, tuple[int, Path]] = {}
    for p in paths:
        stem, rank = split(p)
        if stem not in best or rank < best[stem][0]:
            best[stem] = (rank, p)
    return sorted(p for _, p in best.values())


def select_codecs(names: Iterable[str] | None, data_kind: str) -> list[str]:
    """The codecs to run on data of ``data_kind`` (default: every registered one that takes it).

    Mesh data is benched by codecs of kind ``"mesh"`` (each mesh on its own) and ``"meshset"``
    (the whole folder as one set); volumes by codecs of kind ``"volume"``.

    Raises
    ------
    InputError
        An unknown codec, or one that takes another kind of data.
    """
    from ..codecs.base import codec_names, get_codec

    kinds = ("mesh", "meshset") if data_kind == "mesh" else ("volume",)
    if names is None:
        return [n for n in codec_names() if get_codec(n).kind in kinds]
    out = []
    for n in names:
        c = get_codec(n)
        if c.kind not in kinds:
            raise InputError(f"codec '{n}' takes a {c.kind}; this folder holds {data_kind}s")
        if n not in out:
            out.append(n)
    if not out:
        raise InputError("no codecs given")
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=.,_-]+", "_", text)


def plan_tasks(
    input_dir, results_dir, *, codecs: list[str], quick: bool, samples: int, pattern: str = "*"
) -> list[BenchTask]:
    """Every (codec, setting, input) of a run, set codecs first, then input by input."""
    from ..codecs.base import get_codec

    root = Path(input_dir)
    data_kind, files = find_inputs(root, pattern)
    dataset = root.resolve().name
    rel = [p.relative_to(root).as_posix() for p in files]
    tasks = []
    for name in codecs:  # sets first: one long task that should start early
        c = get_codec(name)
        if c.kind != "meshset":
            continue
        for s in c.preset("quick" if quick else "default"):
            label = f"<set of {len(files)}>"
            tasks.append(
                BenchTask(
                    dataset,
                    data_kind,
                    name,
                    label,
                    dict(s),
                    tuple(map(str, files)),
                    tuple(rel),
                    samples,
                    f"files/{dataset}/{name}/{_slug(setting_label(s))}/set.nc3d",
                    str(results_dir),
                )
            )
    for path, r in zip(files, rel):
        for name in codecs:
            c = get_codec(name)
            if c.kind == "meshset":
                continue
            for s in c.preset("quick" if quick else "default"):
                tasks.append(
                    BenchTask(
                        dataset,
                        data_kind,
                        name,
                        r,
                        dict(s),
                        (str(path),),
                        (),
                        samples,
                        f"files/{dataset}/{name}/{_slug(setting_label(s))}/{r}.nc3d",
                        str(results_dir),
                    )
                )
    return tasks


@functools.lru_cache(maxsize=2)
def _load(paths: tuple, names: tuple):
    from .. import api

    if names:
        return api.load_input(list(zip(names, paths)))
    return api.load_input(paths[0])


def _mesh_metrics(reference, decoded, samples: int) -> dict:
    from ..metrics import compare_meshes

    return compare_meshes(reference, decoded, n_samples=samples, seed=0)


def _measure(task: BenchTask, original, decoded) -> dict:
    """The metrics of one decoded input (a set: medians over shapes, plus ``per_shape``)."""
    from ..metrics import compare_volumes

    if task.data_kind == "volume":
        return compare_volumes(original, decoded)
    if not task.names:
        return {**_mesh_metrics(original, decoded, task.samples), "samples": task.samples}
    if not isinstance(decoded, list) or len(decoded) != len(original):
        raise InputError(
            f"the decoded set holds {len(decoded) if isinstance(decoded, list) else '?'} shapes, "
            f"the original {len(original)}"
        )
    per_shape = []
    for (name, ref), item in zip(original, decoded):
        test = item[1] if isinstance(item, tuple) else item
        if (
            len(test.faces) == 0
        ):  # a set codec may decode a shape to no surface: the worst score, not a failed row
            per_shape.append({"name": name, "empty": True, **EMPTY_SHAPE_METRICS})
        else:
            per_shape.append({"name": name, **_mesh_metrics(ref, test, task.samples)})
    medians = {m: float(np.median([s[m] for s in per_shape])) for m in MESH_METRICS}
    return {**medians, "samples": task.samples, "per_shape": per_shape}


def _base_row(task: BenchTask) -> dict:
    from ..codecs.base import get_codec

    c = get_codec(task.codec)
    return {
        "dataset": task.dataset,
        "data_kind": task.data_kind,
        "codec": task.codec,
        "kind": c.kind,
        "baseline": c.baseline,
        "setting": task.setting,
        "setting_key": setting_key(task.setting),
        "input": task.input,
    }


def run_task(task: BenchTask) -> dict:
    """Encode, decode and measure one row; never raises for a bad input or a failing codec."""
    from ..codecs.base import get_codec
    from ..files import write_bytes_atomic

    row = _base_row(task)
    cpu0 = time.process_time()
    try:
        data = _load(task.paths, task.names)
        codec = get_codec(task.codec)
        t0 = time.perf_counter()
        blob = codec.encode(data.data, **task.setting)
        encode_s = time.perf_counter() - t0
        target = Path(task.results_dir) / task.file
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, blob, force=True)
        t0 = time.perf_counter()
        decoded = codec.decode(blob)
        decode_s = time.perf_counter() - t0
        n = len(blob)
        row.update(
            bytes=n,
            input_bytes=data.input_bytes,
            canonical_bytes=data.canonical_bytes,
            ratio_input=data.input_bytes / n,
            ratio_canonical=data.canonical_bytes / n,
            encode_s=round(encode_s, 4),
            decode_s=round(decode_s, 4),
            file=task.file,
        )
        if task.names:
            row.update(n_shapes=len(task.names), bytes_per_shape=n / len(task.names))
        row.update(_measure(task, data.data, decoded))
        row["cpu_s"] = round(time.process_time() - cpu0, 3)
    except Nc3dError as exc:
        row["error"] = _relative_paths(str(exc), task)
    except Exception as exc:  # noqa: BLE001 - one failing row must not stop a benchmark
        row["error"] = _relative_paths(f"{type(exc).__name__}: {exc}", task)
    return row


def _relative_paths(message: str, task: BenchTask) -> str:
    """An error message with the input files' paths as in the rows (relative to INPUT_DIR)."""
    for path, name in zip(task.paths, task.names or (task.input,)):
        for form in dict.fromkeys((str(Path(path).resolve()), str(path))):  # the longer form first
            message = message.replace(form, name)
    return message


def _clean(o):
    """JSON-ready: non-finite floats as strings, numpy scalars as Python numbers."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return o


_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _restore(row: dict) -> dict:
    for k, v in row.items():
        if isinstance(v, str) and v in _NONFINITE and k != "input":
            row[k] = _NONFINITE[v]
    return row


def read_results(path) -> list[dict]:
    """The rows of a ``results.jsonl``, one per key (a later line replaces an earlier one with the
    same key: a retried failure, a re-imported result); a torn last line, from a killed run, is
    skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows: dict[tuple, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and all(k in row for k in ("dataset", "codec", "setting_key", "input")):
            rows.pop(row_key(row), None)  # a replaced row moves to where its replacement was written
            rows[row_key(row)] = _restore(row)
    return list(rows.values())


def _run_rows(tasks: list[BenchTask], jobs: int) -> Iterable[dict]:
    if jobs <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield run_task(t)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from ..batch import init_worker

    ctx = multiprocessing.get_context("spawn")  # forking a process that runs torch threads can deadlock
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=init_worker
    ) as pool:
        futures = {pool.submit(run_task, t): t for t in tasks}
        try:
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (out of memory, killed, …)
                    yield {**_base_row(futures[fut]), "error": f"worker failed: {type(exc).__name__}: {exc}"}
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def run_bench(
    input_dir,
    results_dir,
    *,
    codecs: list[str] | None = None,
    quick: bool = False,
    jobs: int | None = None,
    samples: int | None = None,
    pattern: str = "*",
    retry_failed: bool = False,
    on_row: Callable[[dict, int, int], None] | None = None,
) -> list[dict]:
    """Run (or resume) a benchmark; see the module docstring.

    Parameters
    ----------
    input_dir : path
        A folder of meshes or of volumes (searched recursively).
    results_dir : path
        Where ``results.jsonl``, ``machine.json`` and the encoded files go (created).
    codecs : list of str, optional
        Codec names (default: every registered codec for this kind of data).
    quick : bool
        Each codec's quick ladder and 2·10⁴ surface samples instead of 10⁵.
    jobs : int, optional
        Worker processes (default: one per core); 1 runs in this process.
    samples : int, optional
        Surface samples per mesh for the metrics.
    pattern : str
        Glob of the files to take.
    retry_failed : bool
        Recompute rows that failed before (default: keep them, like every existing row).
    on_row : callable, optional
        ``on_row(row, done, total)`` after each new row.

    Returns
    -------
    list of dict
        The rows of this run's plan: existing ones and new ones.
    """
    from ..batch import default_jobs
    from .machine import write_machine

    names = select_codecs(codecs, find_inputs(input_dir, pattern)[0])
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    samples = (SAMPLES_QUICK if quick else SAMPLES_FULL) if samples is None else samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 100:
        raise InputError(f"samples must be an integer ≥ 100, got {samples!r}")
    out = Path(results_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; the benchmark writes a folder")
    tasks = plan_tasks(input_dir, out, codecs=names, quick=quick, samples=samples, pattern=pattern)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS_NAME
    have = {row_key(r): r for r in read_results(results)}
    pending = [t for t in tasks if t.key not in have or (retry_failed and "error" in have[t.key])]
    write_machine(out)
    record_input_dir(out, tasks[0].dataset if tasks else Path(input_dir).resolve().name, input_dir)
    done = {t.key: have[t.key] for t in tasks if t.key in have}
    if pending:
        for i, row in enumerate(append_rows(results, _run_rows(pending, jobs)), 1):
            done[row_key(row)] = row
            if on_row is not None:
                on_row(row, i, len(pending))
    return [done[t.key] for t in tasks if t.key in done]


def _read_inputs(results_dir) -> dict:
    try:
        info = json.loads((Path(results_dir) / INPUTS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in info.items() if isinstance(v, str)} if isinstance(info, dict) else {}


def record_input_dir(results_dir, dataset: str, input_dir) -> Path:
    """Record where a dataset's inputs are (``RESULTS_DIR/inputs.json``, one entry per dataset).

    The folder is stored relative to the results folder (so that both can move together, e.g.
    in a repository) unless they lie on different drives.
    """
    from ..files import write_bytes_atomic

    out = Path(results_dir)
    try:  # lexically, links not resolved: "../shared/data" stays that, wherever the link points
        where = Path(os.path.relpath(os.path.abspath(input_dir), os.path.abspath(out))).as_posix()
    except ValueError:  # another drive (Windows)
        where = os.path.abspath(input_dir)
    info = _read_inputs(out) | {dataset: where}
    return write_bytes_atomic(
        out / INPUTS_NAME, (json.dumps(info, indent=1, sort_keys=True) + "\n").encode(), force=True
    )


def find_source(row: dict, results_dir) -> Path | None:
    """The original file of a per-input row: the dataset's recorded input folder + ``input``
    (or an older row's absolute ``source``), or None when it cannot be found."""
    old = row.get("source")
    if isinstance(old, str) and Path(old).is_file():
        return Path(old)
    where = _read_inputs(results_dir).get(row.get("dataset"))
    if where is None or str(row.get("input", "")).startswith("<set"):
        return None
    path = Path(results_dir) / where / row["input"]  # an absolute `where` replaces the prefix
    return path if path.is_file() else None


def append_rows(path, rows: Iterable[dict]) -> Iterable[dict]:
    """Append each row to a ``results.jsonl`` as it comes (one line, flushed), and pass it on."""
    with open(path, "a+", encoding="utf-8") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:  # a killed run may have left a torn last line: start a fresh one
            fh.seek(fh.tell() - 1)
            if fh.read(1) != "\n":
                fh.write("\n")
        for row in rows:
            fh.write(json.dumps(_clean(row), allow_nan=False) + "\n")
            fh.flush()
            yield row
