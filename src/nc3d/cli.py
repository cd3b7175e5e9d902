"""The ``nc3d`` command: parses arguments, calls :mod:`nc3d.api`, prints. Nothing else lives here.

Conventions: ``--json`` prints one JSON object on stdout; errors are one line on stderr and a
non-zero exit code; an existing output is kept unless ``--force``; long work shows progress on
stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import api
from .codecs.base import (
    DATA_PARALLEL,
    FIELD,
    KERAS_EXPORT,
    PRESETS,
    SHAPE_ACCESS,
    Option,
    codec_names,
    get_codec,
)
from .errors import InputError, Nc3dError, OutputExistsError
from .files import check_output, write_bytes_atomic
from .nn import ddp

if TYPE_CHECKING:  # pragma: no cover
    from rich.progress import TaskID

    from .codecs.handles import FieldFile, MeshSetFile, VolumeFile

__all__ = ["main", "build_parser"]

#: The figures a codec may report about its own decode (header "quality"), shown by compress.
QUALITY_KEYS = ("f_score_0.01", "chamfer_p2s", "normal_consistency")


def _console():
    from rich.console import Console

    return Console(stderr=True)


class _Progress:
    """A rich progress bar on stderr fed by a codec's ``progress(phase, done, total)`` callback."""

    def __init__(self, title: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn(f"{title}: {{task.description}}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=_console(),
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(phase, total=total)
        self._bar.update(self._tasks[phase], completed=done, total=total)

    def __enter__(self):
        self._bar.start()
        return self

    def __exit__(self, *exc):
        self._bar.stop()
        return False


def _print_json(obj) -> None:
    def default(o):
        if hasattr(o, "item"):
            return o.item()
        return str(o)

    def clean(o):  # JSON has no inf/nan: write them as strings
        if isinstance(o, float) and not math.isfinite(o):
            return str(o)
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    sys.stdout.write(json.dumps(clean(obj), default=default) + "\n")


def _codec_options() -> dict[str, tuple[Option, list[str]]]:
    opts: dict[str, tuple[Option, list[str]]] = {}
    for name in codec_names():
        for opt in get_codec(name).options:
            opts.setdefault(opt.name, (opt, []))[1].append(name)
    return opts


def _counting_bar(title: str, unit: str):
    """A progress bar over items on stderr that leaves stdout to JSON lines: rich re-routes stdout
    only when it is a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn(title),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} " + unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console(),
        transient=True,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )


# -- commands -----------------------------------------------------------------------------------
def _folder_mode(args) -> bool:
    """True for ``nc3d compress DIR -o OUTDIR --codec <single-mesh codec>`` (one file per mesh)."""
    folder = len(args.inputs) == 1 and Path(args.inputs[0]).is_dir()
    batch = folder and args.codec is not None and get_codec(args.codec).kind == "mesh"
    if not batch and args.ray_address is not None:
        raise InputError(
            "--ray-address applies to a folder compressed with a single-mesh codec "
            "(nc3d compress DIR -o OUTDIR --codec implicit); a set codec prepares on Ray with "
            "--prepare-on-ray ADDRESS"
        )
    return batch


def cmd_compress_folder(args) -> int:
    """Folder mode: every mesh of ``DIR`` → ``OUTDIR/<stem>.nc3d`` (see :mod:`nc3d.batch`).

    One JSON line per mesh on stdout, one progress bar over files on stderr. Exit code 0 when
    every mesh was compressed or skipped (its output already there), 1 when any failed.
    """

    from .batch import compress_folder, plan_folder

    out = Path(args.output)
    if ddp.world()[1] > 1:
        raise InputError(
            f"'{args.codec}' compresses each file on its own; run it without torchrun "
            "(--jobs N or --ray-address spread the files)"
        )
    if out.suffix.lower() == ".nc3d" and not out.is_dir():
        raise InputError(
            f"-o {out}: compressing a folder with '{args.codec}' writes one file per mesh; "
            "give a folder as the output"
        )
    codec = get_codec(args.codec)
    own = {o.name for o in codec.options}
    settings = {}
    for name in _codec_options():
        value = getattr(args, name)
        if value is not None:
            if name not in own:
                raise InputError(f"codec '{codec.name}' has no option --{name.replace('_', '-')}")
            settings[name] = value
    t0 = time.perf_counter()
    # JSON lines must stay on stdout: let rich re-route stdout only when it is a terminal.
    bar = _counting_bar(f"compressing with {codec.name}", "files")
    task = bar.add_task("files", total=len(plan_folder(args.inputs[0], out)))

    def on_result(result, done, total):
        _print_json(result)
        sys.stdout.flush()
        bar.update(task, completed=done, total=total)

    with bar:
        results = compress_folder(
            args.inputs[0],
            out,
            codec=codec.name,
            settings=settings,
            jobs=args.jobs,
            ray_address=args.ray_address,
            force=args.force,
            on_result=on_result,
        )
    failed = [r for r in results if "error" in r]
    skipped = sum(1 for r in results if r.get("skipped"))
    _console().print(
        f"{out}: {len(results) - len(failed) - skipped} compressed, {skipped} skipped (already there), "
        f"{len(failed)} failed, in {time.perf_counter() - t0:.1f} s"
    )
    return 1 if failed else 0


def _zarr_mode(args) -> bool:
    """True for ``nc3d compress VOLUME -o OUT.zarr`` (chunk by chunk, on Dask; :mod:`nc3d.chunked`)."""
    from .chunked import is_zarr_path

    zarr_in = any(is_zarr_path(p) for p in args.inputs)
    if not (zarr_in or is_zarr_path(args.output)):
        if args.chunks is not None or args.scheduler is not None:
            raise InputError("--chunks and --scheduler apply to a Zarr output (-o OUT.zarr)")
        return False
    if not is_zarr_path(args.output):
        raise InputError(
            f"-o {args.output}: a Zarr input is compressed chunk by chunk into a Zarr store; give -o OUT.zarr"
        )
    if len(args.inputs) != 1:
        raise InputError("a Zarr output holds one volume; give one input")
    if args.ray_address is not None:
        raise InputError(
            "--ray-address applies to folder mode; a Zarr output runs on Dask (--jobs, --scheduler)"
        )
    return True


def _given_settings(args, codec) -> dict:
    """The codec settings given as flags; a flag the codec does not take is an InputError."""
    settings = {}
    own = {o.name for o in codec.options}
    for name in _codec_options():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in own:
            raise InputError(f"codec '{codec.name}' has no option --{name.replace('_', '-')}")
        settings[name] = value
    return settings


def cmd_compress_zarr(args) -> int:
    """``nc3d compress VOLUME -o OUT.zarr``: every chunk coded on its own by Dask workers."""
    from .chunked import compress_to_zarr

    codec = get_codec(args.codec or "volume")
    if codec.kind != "volume":
        raise InputError(f"codec '{codec.name}' compresses a {codec.kind}; a Zarr output holds a volume")
    with _Progress(f"compressing with {codec.name}") as progress:
        result = compress_to_zarr(
            args.inputs[0],
            args.output,
            codec=codec.name,
            chunks=args.chunks,
            jobs=args.jobs,
            scheduler=args.scheduler,
            force=args.force,
            shape=args.shape,
            dtype=args.dtype,
            progress=progress,
            **_given_settings(args, codec),
        )
    if args.json:
        _print_json(result)
    else:
        print(
            f"{result['output']}: {codec.name} in {result['chunk_count']} chunks of "
            f"{'×'.join(map(str, result['chunks']))}, {result['input_bytes']:,} → {result['output_bytes']:,} "
            f"bytes ({result['ratio']:.1f}× the input, {result['ratio_canonical']:.1f}× the raw samples) "
            f"in {result['seconds']:.1f} s ({result['ran_on']})"
        )
    return 0


def cmd_compress(args) -> int:
    if _zarr_mode(args):
        return cmd_compress_zarr(args)
    if _folder_mode(args):
        return cmd_compress_folder(args)
    out = Path(args.output)
    check_output(out, args.force)
    t0 = time.perf_counter()
    if args.shape is not None or args.dtype is not None:  # a raw volume
        if len(args.inputs) != 1:
            raise InputError("--shape and --dtype describe one raw volume file")
        data = api.load_input(Path(args.inputs[0]), shape=args.shape, dtype=args.dtype)
    else:
        data = api.load_input([Path(p) for p in args.inputs])
    codec = api.choose_codec(data.kind, args.codec)
    if args.jobs is not None and data.kind != "meshset":
        raise InputError(
            "--jobs applies to a folder compressed with a single-mesh codec "
            "(nc3d compress DIR -o OUTDIR --codec implicit), to sets of meshes and to Zarr outputs"
        )
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    rank, processes = ddp.world()
    if processes > 1 and not codec.supports(DATA_PARALLEL):
        trains = ", ".join(n for n in codec_names() if get_codec(n).supports(DATA_PARALLEL))
        raise InputError(
            f"'{codec.name}' does not train across processes (only {trains} do); run it without torchrun"
        )
    settings = _given_settings(args, codec)
    with _Progress(f"compressing with {codec.name}") as progress:
        blob = codec.encode(data.data, progress=progress, **settings)
    if rank:  # under torchrun: every process trained the same model, the first one writes it
        return 0
    write_bytes_atomic(out, blob, force=args.force)
    seconds = time.perf_counter() - t0
    handle = api.open(blob)  # parsed once: who wrote it, what it measured, its shapes
    result: dict[str, Any] = {
        "codec": handle.codec,  # a codec may hand the data to another (volume → volume-labels)
        "input_bytes": data.input_bytes,
        "canonical_bytes": data.canonical_bytes,
        "output_bytes": len(blob),
        "ratio": data.input_bytes / len(blob),
        "ratio_canonical": data.canonical_bytes / len(blob),
        "seconds": seconds,
        "output": str(out),
    }
    # a codec that measured its own decode (two-sided, against this input) says so in its header
    quality = handle.header.get("quality")
    if isinstance(quality, dict):
        result.update({k: v for k, v in quality.items() if k in QUALITY_KEYS})
    meshset = cast("MeshSetFile", handle)  # only read for a set (data.kind)
    per_shape = meshset.shape_quality() if data.kind == "meshset" else None
    if per_shape is not None and not args.no_compare:
        from .bench.classical import compare_set_with_classical

        with _Progress("decimation + Draco at the same bytes") as progress:
            shapes, summary = compare_set_with_classical(
                meshset,
                [m for _, m in data.data],
                jobs=args.jobs or os.cpu_count() or 1,
                cache_dir=settings.get("cache_dir"),
                progress=progress,
            )
        result["shapes"], result["classical"] = shapes, summary
    if args.json:
        _print_json(result)
    else:
        canonical = "the raw samples" if data.kind == "volume" else "binary PLY"
        if "classical" in result:
            _print_weakest_shapes(result["shapes"])
            c = result["classical"]
            _console().print(
                f"decimation + Draco at the same bytes per shape: mean F-score@0.01 "
                f"{c['classical_mean_f_score_0.01']:.3f} against {c['mean_f_score_0.01']:.3f}, better on "
                f"{c['classical_better']} of {c['shapes']} shapes; with the shapes' bytes shared out "
                f"among them: {c['classical_shared_out_f_score_0.01']:.3f}"
            )
            if c["classical_better_choice"]:
                _console().print("[bold]the classical codec is the better choice for this set[/bold]")
        if result.get("chamfer_p2s") is not None:
            _console().print(
                f"decoded against the input: F-score@0.01 {result['f_score_0.01']:.3f}, "
                f"Chamfer-p2s {result['chamfer_p2s']:.4f} (normalized units)"
            )
        elif "f_score_0.01" in result:
            _console().print("warning: the file decodes to no surface (F-score@0.01 0)")
        print(
            f"{out}: {handle.codec}, {data.input_bytes:,} → {len(blob):,} bytes "
            f"({result['ratio']:.1f}× the input, {result['ratio_canonical']:.1f}× {canonical}) "
            f"in {seconds:.1f} s"
        )
    return 0


def _print_weakest_shapes(shapes: list[dict], count: int = 10) -> None:
    """The per-shape table of a compressed set, its weakest shapes first (all of them: ``--json``)."""
    from rich.table import Table

    weakest = sorted(shapes, key=lambda x: x["f_score_0.01"])[:count]
    more = f", {len(shapes) - count} more with --json" if len(shapes) > count else ""
    table = Table(
        "shape",
        "bytes",
        "F@0.01",
        "Chamfer-p2s",
        "D+D F@0.01",
        title=f"weakest shapes (D+D: decimation + Draco at the bytes the shape takes here{more})",
    )
    for x in weakest:
        table.add_row(
            x["name"],
            f"{x['bytes']:,.0f}",
            f"{x['f_score_0.01']:.3f}",
            f"{x['chamfer_p2s']:.4f}",
            f"{x['classical']['f_score_0.01']:.3f}",
        )
    _console().print(table)


def _export_keras(args, handle, out: Path, t0: float) -> int:
    """``nc3d decompress x.nc3d -o y.h5``: write an implicit file's network as Keras weights."""
    if not handle.supports(KERAS_EXPORT):
        can = "/".join(n for n in codec_names() if get_codec(n).supports(KERAS_EXPORT))
        raise InputError(
            f"only {can} files can be written as Keras weights; {args.input} uses codec '{handle.codec}'"
        )
    if args.resolution is not None:
        raise InputError("--resolution does not apply to a .h5 output: the network is written, not a mesh")
    handle.save_keras(out, force=args.force)
    frame = handle.frame
    moved = frame.scale != 1.0 or any(c != 0.0 for c in frame.center)
    if moved:
        _console().print(
            f"note: {out} holds the shape in its normalized frame; the original placement "
            f"(center {list(frame.center)}, scale {frame.scale:.6g}) is not stored in Keras files"
        )
    result = {"outputs": [str(out)], "seconds": time.perf_counter() - t0, "frame_dropped": moved}
    if args.json:
        _print_json(result)
    else:
        print(f"wrote {out} (Keras HDF5 weights) in {result['seconds']:.1f} s")
    return 0


def _decompress_set(args, handle, out: Path, t0: float) -> int:
    """``nc3d decompress SET.nc3d -o OUTDIR/ [--only NAME]``: one ``OUTDIR/<name>.ply`` per shape.

    Names come sanitized from the file (no separators, no leading dot), so every output lands
    directly inside OUTDIR; existing outputs are kept unless ``--force``.
    """
    from .io import save_mesh

    if args.resolution is not None or args.region is not None:
        raise InputError(
            "--resolution and --region do not apply to a set: its grid is fixed when it is compressed"
        )
    if out.suffix.lower() in (".obj", ".ply", ".stl", ".off", ".glb", ".npy", ".h5", ".hdf5", ".nc3d"):
        raise InputError(f"-o {out}: {args.input} holds a set of {handle.count} meshes; give a folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder")
    names = handle.names if args.only is None else [handle.names[handle.index(args.only)]]
    targets = [out / f"{name}.ply" for name in names]
    for path in targets:
        check_output(path, args.force)
    out.mkdir(parents=True, exist_ok=True)
    from .batch import decode_set_to_folder, default_jobs

    # in worker processes when the file is on disk and one shape decodes alone
    parallel = handle.supports(SHAPE_ACCESS) and handle.path is not None and len(names) > 8
    jobs = (args.jobs or default_jobs()) if parallel else 1
    with _Progress(f"decoding {handle.codec}") as progress:
        progress("shapes", 0, len(names))
        if jobs > 1:
            written = decode_set_to_folder(
                handle.path, names, targets, jobs=jobs, force=args.force, progress=progress
            )
        else:
            written = []
            for i, (name, path) in enumerate(zip(names, targets)):
                mesh = handle.decode_shape(name)
                written.append(
                    (name, str(save_mesh(path, mesh, force=args.force)) if len(mesh.faces) else None)
                )
                progress("shapes", i + 1, len(names))
    outputs = [Path(p) for _, p in written if p is not None]
    for name, p in written:
        if p is None:
            _console().print(f"warning: {name} decodes to no surface; nothing written")
    seconds = time.perf_counter() - t0
    return _emit(
        args,
        {"outputs": [str(p) for p in outputs], "seconds": seconds},
        f"wrote {len(outputs)} meshes to {out} in {seconds:.1f} s",
    )


def _emit(args, result: dict, text: str) -> int:
    """Print ``result`` as JSON (``--json``) or ``text``; exit code 0."""
    if args.json:
        _print_json(result)
    else:
        print(text)
    return 0


def cmd_decompress_zarr(args) -> int:
    """``nc3d decompress IN.zarr -o VOLUME``: decoded chunk by chunk by Dask workers."""
    from .chunked import decompress_zarr

    if args.resolution is not None or args.only is not None:
        raise InputError(f"--resolution and --only do not apply to a Zarr array ({args.input})")
    with _Progress("decoding chunks") as progress:
        result = decompress_zarr(
            args.input,
            args.output,
            region=args.region,
            jobs=args.jobs,
            scheduler=args.scheduler,
            force=args.force,
            progress=progress,
        )
    return _emit(
        args,
        {"outputs": [result["output"]], **result},
        f"wrote {result['output']} ({'×'.join(map(str, result['shape']))} {result['dtype']}, "
        f"{result['chunk_count']} chunks) in {result['seconds']:.1f} s ({result['ran_on']})",
    )


def cmd_decompress(args) -> int:
    from .chunked import is_zarr_path
    from .io import save_mesh, save_volume

    if is_zarr_path(args.input):
        return cmd_decompress_zarr(args)
    if args.scheduler is not None:
        raise InputError("--scheduler applies to a Zarr input (nc3d decompress IN.zarr -o ...)")
    out = Path(args.output)
    t0 = time.perf_counter()
    handle = api.open(args.input)
    if handle.kind == "meshset":
        return _decompress_set(args, handle, out, t0)
    if args.only is not None or args.jobs is not None:
        raise InputError(
            f"--only and --jobs apply to sets of meshes (and --jobs to Zarr inputs); {args.input} holds a "
            f"single {handle.kind}"
        )
    check_output(out, args.force)
    if out.suffix.lower() in (".h5", ".hdf5"):  # the network itself, in the Keras layout
        return _export_keras(args, handle, out, t0)
    if args.region is not None and handle.kind != "volume":
        raise InputError(f"--region applies to volume files, not to codec '{handle.codec}'")
    data: Any  # a Mesh or a volume array, as handle.kind says
    with _console().status(f"decoding {handle.codec}…"):
        if args.region is not None:
            data = cast("VolumeFile", handle).decode(region=args.region)  # kind "volume", checked above
        elif args.resolution is not None:
            if not handle.supports(FIELD):
                raise InputError(
                    f"--resolution applies to files holding a distance field, not to codec '{handle.codec}'"
                )
            data = cast("FieldFile", handle).mesh(resolution=args.resolution)
        else:
            data = handle.decode()
    if handle.kind == "mesh":
        outputs = [save_mesh(out, data, force=args.force)]
    elif handle.kind == "volume":
        outputs = [save_volume(out, data, force=args.force)]
    else:
        raise InputError(f"decompressing a {handle.kind} is not supported yet")
    seconds = time.perf_counter() - t0
    return _emit(
        args,
        {"outputs": [str(p) for p in outputs], "seconds": seconds},
        f"wrote {', '.join(map(str, outputs))} in {seconds:.1f} s",
    )


def cmd_add(args) -> int:
    """``nc3d add SET.nc3d MESH… -o SET2.nc3d``: new shapes fitted to a trained set's frozen decoder."""
    out = Path(args.output)
    check_output(out, args.force)
    if out.resolve() == Path(args.set).resolve():
        raise InputError(f"-o {out}: give a new file; the set {args.set} is not overwritten")
    t0 = time.perf_counter()
    with _Progress("adding shapes") as progress:
        blob, report = api.add_shapes(
            args.set, [Path(p) for p in args.inputs], steps=args.steps, progress=progress
        )
    write_bytes_atomic(out, blob, force=args.force)
    report = {"output": str(out), "output_bytes": len(blob), "seconds": time.perf_counter() - t0, **report}
    if args.json:
        _print_json(report)
        return 0
    before = report["set_mean_f_score_0.01"]
    print(
        f"{out}: {len(report['names'])} shapes added, +{report['bytes_added']:,} bytes "
        f"({len(blob):,} in all) in {report['seconds']:.1f} s; new shapes mean F-score@0.01 "
        f"{report['mean_f_score_0.01']:.3f}"
        + (f" against {before:.3f} for the shapes trained with the decoder" if before is not None else "")
    )
    return 0


def _zarr_info(args) -> int:
    from .chunked import zarr_info

    result = zarr_info(args.input)
    if args.json:
        _print_json(result)
        return 0
    print(
        f"{args.input}: Zarr {result['zarr_format']} array {'×'.join(map(str, result['shape']))} "
        f"{result['dtype']}, chunks {'×'.join(map(str, result['chunks']))} ({result['stored_chunks']} of "
        f"{result['chunk_count']} stored), {result['stored_bytes']:,} bytes "
        f"({result['ratio']:.1f}× the raw samples)"
    )
    print(json.dumps(result["codecs"], indent=2))
    return 0


def cmd_info(args) -> int:
    from .chunked import is_zarr_path

    if is_zarr_path(args.input):
        return _zarr_info(args)
    result = api.info(args.input)
    if args.json:
        _print_json(result)
        return 0
    from rich.table import Table

    print(
        f"{args.input}: codec {result['codec']}, format version {result['version']}, "
        f"{result['total_bytes']:,} bytes"
    )
    table = Table("part", "bytes")
    table.add_row("header (JSON)", f"{result['header_bytes']:,}")
    for name, size in result["sections"].items():
        table.add_row(name, f"{size:,}")
    from rich.console import Console

    Console().print(table)
    print(json.dumps(result["header"], indent=2))
    if result.get("details"):
        print("details: " + json.dumps(result["details"]))
    return 0


def _load_for_eval(path: str):
    p = Path(path)
    if p.suffix.lower() == ".nc3d":
        return api.open(p).decode()
    return api.load_input(p).data


def cmd_eval(args) -> int:
    ref, test = _load_for_eval(args.reference), _load_for_eval(args.test)
    t0 = time.perf_counter()
    import numpy as np

    if isinstance(ref, np.ndarray) and isinstance(test, np.ndarray):
        from .metrics import compare_volumes

        result = compare_volumes(ref, test)
    elif isinstance(ref, np.ndarray) or isinstance(test, np.ndarray):
        raise InputError("eval compares two meshes or two volumes, not a mesh with a volume")
    else:
        from .metrics import compare_meshes

        result = compare_meshes(ref, test, n_samples=args.samples, seed=args.seed)
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json(result)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("metric", "value", title=f"{args.test} vs {args.reference} ({seconds:.1f} s)")
        for k, v in result.items():
            table.add_row(k, f"{v:.6g}")
        Console().print(table)
    return 0


def cmd_train_volume(args) -> int:
    """Train a custom model for the ``volume-conv`` codec on a folder of ``.npy`` volumes."""
    from .codecs.volume.volume_conv_train import TrainSettings, train_model_file

    settings = TrainSettings(steps=args.steps, threads=args.threads, device=args.device)
    result = train_model_file(args.data, args.output, settings=settings, force=args.force)
    result.pop("log")
    return _emit(
        args,
        result,
        f"wrote {result['output']} ({result['bytes']} bytes, {len(result['volumes'])} volumes, "
        f"{result['train_seconds']} s); use it with: "
        f"nc3d compress VOLUME --codec volume-conv --model {result['output']}",
    )


def _option_range(opt: Option) -> str:
    """``"8..64"``, ``"relu | siren"`` or ``""``: what values an option takes."""
    if opt.choices is not None:
        return " | ".join(map(str, opt.choices))
    if opt.low is not None or opt.high is not None:
        return f"{'' if opt.low is None else f'{opt.low:g}'}..{'' if opt.high is None else f'{opt.high:g}'}"
    return ""


def _describe_codec(name: str) -> dict:
    c = get_codec(name)
    return {
        "name": name,
        "kind": c.kind,
        "baseline": c.baseline,
        "description": c.description,
        "capabilities": sorted(c.capabilities),
        "presets": {p: c.preset(p) for p in PRESETS},
        "options": [
            {
                "name": o.name,
                "type": o.type.__name__,
                "default": o.default,
                "range": _option_range(o),
                "help": o.help,
            }
            for o in c.options
        ],
    }


def cmd_codecs(args) -> int:
    """``nc3d codecs [NAME]``: every codec on a line, or one codec's options, presets and capabilities."""
    names = [args.name] if args.name else codec_names()
    rows = [_describe_codec(n) for n in names]  # an unknown name is an InputError listing them
    if args.json:
        _print_json(rows[0] if args.name else {"codecs": rows})
        return 0
    if not args.name:
        for r in rows:
            kind = "baseline" if r["baseline"] else "nc3d"
            print(f"{r['name']:<14} {r['kind']:<8} {kind:<9} {r['description']}")
        print("\nnc3d codecs NAME: a codec's options, presets and capabilities")
        return 0
    r = rows[0]
    print(f"{r['name']} ({r['kind']}, {'baseline' if r['baseline'] else 'nc3d'}): {r['description']}")
    print(f"capabilities: {', '.join(r['capabilities']) or 'none'}")
    print("options (nc3d compress --codec " + r["name"] + " --NAME VALUE):")
    for o in r["options"]:
        extra = f"; {o['range']}" if o["range"] else ""
        print(
            f"  --{o['name'].replace('_', '-'):<16} {o['type']:<5} default {o['default']}{extra}: {o['help']}"
        )
    print("presets (the settings nc3d bench sweeps):")
    for p, ladder in r["presets"].items():
        print(
            f"  {p:<8} "
            + "; ".join(", ".join(f"{k}={v}" for k, v in s.items()) or "defaults" for s in ladder)
        )
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    codecs = [c for c in args.codecs.split(",") if c] if args.codecs else None
    result = run_demo(Path(args.output), force=args.force, codecs=codecs)
    if args.json:
        _print_json(result)
    return 0


def cmd_bench(args) -> int:
    """Run (or resume) a benchmark into ``-o DIR`` and write its report; one JSON line per new row
    with ``--json``. Exit code 0 even when rows failed: failures are results (see the report)."""

    from .bench import run_bench, write_report

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()] if args.codecs else None
    t0 = time.perf_counter()
    bar = _counting_bar("nc3d bench: {task.description}", "rows")
    task = bar.add_task("starting", total=None)

    def on_row(row, done, total):
        if args.json:
            _print_json(row)
            sys.stdout.flush()
        bar.update(task, completed=done, total=total, description=f"{row['codec']} {row['input']}")

    with bar:
        rows = run_bench(
            args.input,
            args.output,
            codecs=codecs,
            quick=args.quick,
            jobs=args.jobs,
            samples=args.samples,
            pattern=args.pattern,
            retry_failed=args.retry_failed,
            on_row=on_row,
        )
    failed = sum(1 for r in rows if "error" in r)
    report = (
        None
        if args.no_report
        else write_report(
            args.output,
            budget=args.budget,
            render_input=args.render_input,
            interactive=not args.no_interactive,
        )
    )
    _console().print(
        f"{args.output}: {len(rows)} rows ({failed} failed) in {time.perf_counter() - t0:.1f} s"
        + (f"; report: {report}" if report else "")
    )
    return 0


def cmd_report(args) -> int:
    from .bench import write_report

    if args.markdown:
        from .bench.report import markdown_tables

        print(markdown_tables(args.results, budget=args.budget))
        return 0
    report = write_report(
        args.results, budget=args.budget, render_input=args.render_input, interactive=not args.no_interactive
    )
    if args.json:
        _print_json({"report": str(report)})
    else:
        print(f"wrote {report}")
    return 0


def _open_implicit(path: str, command: str, what: str):
    """An implicit ``.nc3d`` file as a shape (``.sdf``, ``.frame``), or a one-line InputError."""
    handle = api.open(path)
    if not handle.supports(FIELD):
        raise InputError(f"{command}: {path} is a {handle.codec} file; only {what}")
    return handle


def cmd_render(args) -> int:
    from .io import is_mesh_path, is_volume_path, load_mesh
    from .render import image_size, render_mesh, save_png

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise InputError(f"render: the output must be a .png file, got {out}")
    check_output(out, args.force)
    image_size(args.size)
    t0 = time.perf_counter()
    view = {"size": args.size, "azimuth": args.azimuth, "elevation": args.elevation}
    handle = api.open(args.input) if Path(args.input).suffix.lower() == ".nc3d" else None
    if (
        args.compare is not None
        or is_volume_path(args.input)
        or (handle is not None and handle.kind == "volume")
    ):
        image = _render_volume(args, handle)
    elif handle is not None:
        image = _open_implicit(args.input, "render", "implicit files and meshes can be rendered").render(
            **view
        )
    elif is_mesh_path(args.input):
        image = render_mesh(load_mesh(args.input), **view)
    else:
        raise InputError(f"render: {args.input} is neither a .nc3d file, a mesh file nor a volume file")
    save_png(out, image, force=args.force)
    result = {
        "output": str(out),
        "seconds": time.perf_counter() - t0,
        "size": [image.shape[1], image.shape[0]],
    }
    if args.json:
        _print_json(result)
    else:
        print(f"wrote {out} ({image.shape[1]}×{image.shape[0]}) in {result['seconds']:.1f} s")
    return 0


def _render_volume(args, handle):
    """Three middle slices of a volume (file or volume .nc3d), over those of ``--compare`` if given."""
    from .render import render_volume_slices

    volume = handle.decode() if handle is not None else _load_for_eval(args.input)
    if not hasattr(volume, "ndim"):
        raise InputError(f"render: {args.input} is not a volume, so --compare does not apply")
    other = None
    if args.compare is not None:
        other = _load_for_eval(args.compare)
        if not hasattr(other, "ndim"):
            raise InputError(f"render: --compare {args.compare} is not a volume")
    return render_volume_slices(volume, other, size=args.size)


def cmd_csg(args) -> int:
    from .csg import csg
    from .io import save_mesh
    from .render import image_size, save_png

    out = Path(args.output)
    ext = out.suffix.lower()
    if ext not in (".png", ".obj", ".ply", ".stl", ".off", ".glb"):
        raise InputError(
            f"csg: the output must be .png (an image) or .obj/.ply/.stl/.off/.glb (a mesh), got {out}"
        )
    check_output(out, args.force)
    image_size(args.size)
    t0 = time.perf_counter()
    what = "implicit .nc3d files can be combined"
    shape = csg(
        _open_implicit(args.a, "csg", what),
        _open_implicit(args.b, "csg", what),
        args.operation,
        smooth=args.smooth,
    )
    result: dict[str, Any] = {"output": str(out)}
    with _console().status(f"{args.operation}…"):
        if ext == ".png":
            image = shape.render(size=args.size, azimuth=args.azimuth, elevation=args.elevation)
            save_png(out, image, force=args.force)
            result["size"] = [image.shape[1], image.shape[0]]
        else:
            mesh = shape.mesh(args.resolution)
            save_mesh(out, mesh, force=args.force)
            result.update(vertices=len(mesh.vertices), faces=len(mesh.faces))
    result["seconds"] = time.perf_counter() - t0
    if args.json:
        _print_json(result)
    else:
        print(f"wrote {out} in {result['seconds']:.1f} s")
    return 0


def cmd_view(args) -> int:
    from .view import write_page

    summary = write_page(
        args.output,
        args.inputs,
        compare=args.compare if args.compare else None,
        force=args.force,
        samples=args.samples,
        resolution=args.resolution,
        max_voxels=args.max_voxels,
    )
    result = {
        "output": str(summary.output),
        "bytes": summary.bytes,
        "seconds": summary.seconds,
        "items": summary.items,
    }
    if args.json:
        _print_json(result)
    else:
        kinds = ", ".join(f"{it['file']} ({it['kind']})" for it in summary.items)
        print(f"wrote {summary.output} ({summary.bytes / 1e6:.1f} MB: {kinds}) in {summary.seconds:.1f} s")
    return 0


# -- parser ---------------------------------------------------------------------------------------
def _help_codec(argv: list[str]) -> str | None:
    """The codec of ``nc3d compress --codec NAME --help`` (its help lists only that codec's options)."""
    if "compress" not in argv or not ({"-h", "--help"} & set(argv)):
        return None
    for i, a in enumerate(argv):
        if a == "--codec" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--codec="):
            return a.split("=", 1)[1]
    return None


def build_parser(help_codec: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``help_codec``, ``compress``'s settings are only that codec's."""
    parser = argparse.ArgumentParser(
        prog="nc3d",
        description="Neural compression of 3D meshes and volumes, measured against classical codecs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return p

    p = add(
        "compress",
        cmd_compress,
        "compress a mesh, a set of meshes or a volume into a .nc3d file "
        "(or each mesh of a folder into its own file: DIR -o OUTDIR --codec implicit)",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="mesh file(s), a folder of meshes, or a volume")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="the .nc3d file to write (a folder when a folder is compressed with a single-mesh codec)",
    )
    p.add_argument("--codec", help="codec name (see `nc3d codecs`); default by input kind")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes: a folder compressed file by file (one torch thread each), a set's "
        "comparison with decimation + Draco, or a Zarr output's local Dask workers (default: one per core)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a Zarr output: code the chunks on this Dask distributed scheduler (HOST:PORT), or "
        "'synchronous' (in this process, one chunk at a time)",
    )
    p.add_argument(
        "--chunks",
        type=_parse_shape,
        default=None,
        metavar="Z,Y,X",
        help="a Zarr output: the chunk shape, each chunk coded on its own (default 128,128,128)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="folder mode: run on Ray: 'local' (start one here), 'auto' (this cluster) or HOST:PORT",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--no-compare",
        action="store_true",
        help="sets: skip measuring what decimation + Draco reaches on each shape at the same bytes",
    )
    p.add_argument(
        "--shape",
        type=_parse_shape,
        default=None,
        metavar="Z,Y,X",
        help="a raw volume's shape, slowest axis first (or name it name_XxYxZ_dtype.raw)",
    )
    p.add_argument("--dtype", default=None, help="a raw volume's sample type: uint8, int16, float32, ...")
    if help_codec is not None:
        one = get_codec(help_codec)  # an unknown name is an InputError listing the codecs
        opts = p.add_argument_group(f"settings of the {one.name} codec ({one.kind}: {one.description})")
        options = {o.name: (o, [one.name]) for o in one.options}
    else:
        opts = p.add_argument_group(
            "codec settings (each applies to the codecs named; --codec NAME --help lists one codec's)"
        )
        options = _codec_options()
    for name, (opt, users) in options.items():
        # a bool setting is a switch pair: --name / --no-name (unset: the codec decides)
        kw: dict = {"type": opt.type, "choices": opt.choices}
        if opt.type is bool:
            kw = {"action": argparse.BooleanOptionalAction}
        helps: dict[tuple, list[str]] = {}  # codecs sharing a name may mean different things by it
        for u in users:
            o = next(o for o in get_codec(u).options if o.name == name)
            helps.setdefault((o.help, o.default, _option_range(o)), []).append(u)
        text = "; ".join(
            f"{h} (default {d}{f', {r}' if r and help_codec else ''}"
            f"{'' if help_codec else '; ' + ', '.join(us)})"
            for (h, d, r), us in helps.items()
        )
        opts.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            help=text.replace("%", "%%"),
            **kw,
        )

    p = add("decompress", cmd_decompress, "decode a .nc3d file back to a mesh or volume (a set: to a folder)")
    p.add_argument(
        "input", metavar="FILE", help="a .nc3d file, or a Zarr array (IN.zarr, decoded chunk by chunk)"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (.obj/.ply/.stl/.off/.glb; a volume: .npy/.raw/.nii/.nii.gz/.mhd/.tif, "
        "or .zarr from a Zarr input; or .h5: an implicit file's network as Keras weights; a folder "
        "for a set of meshes)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="a Zarr input: local Dask worker processes; a set file: processes decoding shapes "
        "(default: one per core)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a Zarr input: decode on this Dask distributed scheduler (HOST:PORT), or 'synchronous'",
    )
    p.add_argument(
        "--region",
        default=None,
        metavar="Z0:Z1,Y0:Y1,X0:X1",
        help="volumes: decode only this sub-box (voxel indices, end exclusive; empty = to the edge)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--resolution", type=int, default=None, help="marching-cubes grid for implicit files (default 256)"
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="NAME",
        help="a set file: decode only this shape (the others' features are not decoded)",
    )

    p = add(
        "add",
        cmd_add,
        "add meshes to a trained set file: their features are fitted to its frozen decoder (NeCGS v4)",
    )
    p.add_argument("set", metavar="SET.nc3d")
    p.add_argument("inputs", nargs="+", metavar="MESH", help="mesh files or folders to add")
    p.add_argument("-o", "--output", required=True, help="the new set file")
    p.add_argument(
        "--steps", type=int, default=300, help="optimizer steps fitting each new shape (default 300)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")

    p = add(
        "info",
        cmd_info,
        "show a .nc3d file's codec, settings and the bytes of each part (a Zarr array: shape, chunks, "
        "codecs)",
    )
    p.add_argument("input", metavar="FILE")

    p = add("eval", cmd_eval, "compare a test mesh (or volume, or .nc3d) with a reference")
    p.add_argument("reference", metavar="REFERENCE")
    p.add_argument("test", metavar="TEST")
    p.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")

    p = add(
        "codecs", cmd_codecs, "list the available codecs, or one codec's options, presets and capabilities"
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a codec (see the list)")

    p = add(
        "train-volume",
        cmd_train_volume,
        "train a custom model for the volume-conv codec on a folder of .npy volumes",
    )
    p.add_argument("data", metavar="DIR", help="folder of .npy volumes (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.npz)")
    p.add_argument(
        "--steps", type=int, default=1500, help="training steps (default 1500: minutes on one core)"
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--force", action="store_true", help="overwrite an existing output")

    p = add("demo", cmd_demo, "compress, decode and evaluate the built-in sample data")
    p.add_argument("-o", "--output", default="demo-out", help="folder for the demo's outputs")
    p.add_argument("--force", action="store_true", help="overwrite outputs of an earlier demo")
    p.add_argument("--codecs", default=None, help="comma-separated mesh codecs (default: all registered)")

    p = add(
        "bench",
        cmd_bench,
        "run every codec's ladder on a folder of meshes or volumes against the originals: "
        "results.jsonl (resumable), plots and report.html",
    )
    p.add_argument(
        "input", metavar="INPUT_DIR", help="a folder of meshes or of volumes (searched recursively)"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="RESULTS_DIR", help="folder for results and the report"
    )
    p.add_argument(
        "--codecs", default=None, help="comma-separated codec names (default: every codec for this data)"
    )
    p.add_argument("--quick", action="store_true", help="each codec's small ladder and 2·10⁴ surface samples")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        help="surface samples per mesh for the metrics (default 100000, --quick 20000)",
    )
    p.add_argument("--pattern", default="*", help="glob of the input files to take (default: all)")
    p.add_argument("--retry-failed", action="store_true", help="recompute rows that failed in an earlier run")
    p.add_argument("--no-report", action="store_true", help="only the results, no report.html")
    for q in (
        p,
        add("report", cmd_report, "write RESULTS_DIR/report.html from an nc3d bench results folder"),
    ):
        if q is not p:
            q.add_argument("results", metavar="RESULTS_DIR")
            q.add_argument("--markdown", action="store_true", help="print the tables as Markdown instead")
        q.add_argument(
            "--budget",
            type=float,
            default=None,
            help="bytes per input for the best-setting tables and the renders (default: the median "
            "size of the nc3d codecs at their default setting)",
        )
        q.add_argument(
            "--render-input", default=None, help="the input to render (file name or relative path)"
        )
        q.add_argument(
            "--no-interactive",
            action="store_true",
            help="no report_views/ page (the interactive view of the rendered input) beside the report",
        )

    def add_view(p):
        p.add_argument("--size", type=int, default=512, help="image width and height in pixels (default 512)")
        p.add_argument("--azimuth", type=float, default=30.0, help="camera azimuth in degrees (default 30)")
        p.add_argument(
            "--elevation", type=float, default=20.0, help="camera elevation in degrees (default 20)"
        )
        p.add_argument("--force", action="store_true", help="overwrite an existing output")

    p = add(
        "render",
        cmd_render,
        "render an implicit .nc3d file (sphere tracing) or a mesh file to a PNG; "
        "for a volume, its three middle slices",
    )
    p.add_argument(
        "input", metavar="FILE", help="an implicit .nc3d file, a mesh file, or a volume (file or .nc3d)"
    )
    p.add_argument("-o", "--output", required=True, help="the .png file to write")
    p.add_argument(
        "--compare",
        default=None,
        metavar="FILE",
        help="volumes: a second volume (e.g. the .nc3d) drawn under the first, same gray window",
    )
    add_view(p)

    p = add(
        "view",
        cmd_view,
        "write one self-contained HTML page (no network) to look at .nc3d files in a browser: meshes "
        "and sets beside their originals, implicit files drawn live from the network, volume slices",
    )
    p.add_argument("inputs", nargs="+", metavar="FILE", help=".nc3d file(s), one tab each")
    p.add_argument("-o", "--output", required=True, metavar="VIEW.html", help="the .html page to write")
    p.add_argument(
        "--compare",
        action="append",
        default=None,
        metavar="ORIGINAL",
        help="the original of a FILE (repeat once per FILE, in order): a mesh file, a folder of meshes "
        "for a set, a volume file; adds the numbers (Chamfer-p2s, F-score; PSNR) and the side-by-side views",
    )
    p.add_argument(
        "--samples", type=int, default=20_000, help="surface samples per mesh for the numbers (default 20000)"
    )
    p.add_argument(
        "--resolution",
        type=int,
        default=256,
        help="implicit files with --compare: marching-cubes grid of the surface measured (default 256)",
    )
    p.add_argument(
        "--max-voxels",
        type=int,
        default=1 << 21,
        help="volumes: most voxels put in the page, every s-th voxel beyond (default 2097152)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")

    p = add("csg", cmd_csg, "combine two implicit .nc3d files by union, intersection or difference")
    p.add_argument(
        "operation",
        choices=("union", "intersection", "difference"),
        metavar="OPERATION",
        help="union, intersection or difference (A minus B)",
    )
    p.add_argument("a", metavar="A", help="implicit .nc3d file")
    p.add_argument("b", metavar="B", help="implicit .nc3d file")
    p.add_argument(
        "--smooth", type=float, default=0.0, help="blend radius in original units (default 0: hard)"
    )
    p.add_argument("-o", "--output", required=True, help="a .png image, or a mesh (.obj/.ply/.stl/.off/.glb)")
    p.add_argument(
        "--resolution", type=int, default=256, help="marching-cubes grid for mesh outputs (default 256)"
    )
    add_view(p)
    return parser


def _parse_shape(s: str) -> tuple[int, int, int]:
    try:
        dims = tuple(int(v) for v in s.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3:
        raise argparse.ArgumentTypeError(f"expected Z,Y,X (three integers), got {s!r}")
    return dims


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nc3d`` console script; returns the exit code."""
    try:
        from ._optional import import_deferring_ctrl_c

        import_deferring_ctrl_c("trimesh")  # it swallows a Ctrl-C during its own import
        args = build_parser(_help_codec(sys.argv[1:] if argv is None else argv)).parse_args(argv)
        code = args.func(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except OutputExistsError as exc:  # the library says force=True; the command says how
        print(f"nc3d: error: {exc.path} {exc.what}; use --force to overwrite it", file=sys.stderr)
        return 1
    except Nc3dError as exc:
        print(f"nc3d: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nc3d: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`nc3d info x | head`): stop quietly, as Unix tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)  # nothing more can reach the pipe, not even at exit
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
