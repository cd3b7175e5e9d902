"""The ``nc3d`` command: parses arguments, calls :mod:`nc3d.api`, prints. Nothing else lives here.

Conventions: ``--json`` prints one JSON object on stdout; errors are one line on stderr and a
non-zero exit code; an existing output is kept unless ``--force``; long work shows progress on
stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from . import api
from .codecs.base import Option, codec_names, get_codec
from .errors import InputError, Nc3dError

__all__ = ["main", "build_parser"]


def _console():
    from rich.console import Console

    return Console(stderr=True)


class _progress:
    """A rich progress bar on stderr fed by a codec's ``progress(phase, done, total)`` callback."""

    def __init__(self, title: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn(f"{title}: {{task.description}}"), BarColumn(),
                             TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                             TimeRemainingColumn(), console=_console(), transient=True)
        self._tasks: dict[str, int] = {}

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


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise InputError(f"{path} exists; use --force to overwrite it")


def _codec_options() -> dict[str, tuple[Option, list[str]]]:
    opts: dict[str, tuple[Option, list[str]]] = {}
    for name in codec_names():
        for opt in get_codec(name).options:
            opts.setdefault(opt.name, (opt, []))[1].append(name)
    return opts


# -- commands -----------------------------------------------------------------------------------
def cmd_compress(args) -> int:
    out = Path(args.output)
    _check_output(out, args.force)
    t0 = time.perf_counter()
    data = api.load_input([Path(p) for p in args.inputs])
    codec = api._resolve_codec(data.kind, args.codec)
    settings = {}
    for name, (opt, _) in _codec_options().items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in {o.name for o in codec.options}:
            raise InputError(f"codec '{codec.name}' has no option --{name.replace('_', '-')}")
        settings[name] = value
    with _progress(f"compressing with {codec.name}") as progress:
        blob = codec.encode(data.data, progress=progress, **settings)
    from .container import write_bytes_atomic

    write_bytes_atomic(out, blob, force=args.force)
    seconds = time.perf_counter() - t0
    result = {
        "codec": codec.name,
        "input_bytes": data.input_bytes,
        "canonical_bytes": data.canonical_bytes,
        "output_bytes": len(blob),
        "ratio": data.input_bytes / len(blob),
        "ratio_canonical": data.canonical_bytes / len(blob),
        "seconds": seconds,
        "output": str(out),
    }
    if args.json:
        _print_json(result)
    else:
        print(
            f"{out}: {codec.name}, {data.input_bytes:,} → {len(blob):,} bytes "
            f"({result['ratio']:.1f}× the input, {result['ratio_canonical']:.1f}× binary PLY) in {seconds:.1f} s"
        )
    return 0


def cmd_decompress(args) -> int:
    from .io import save_mesh, save_volume

    out = Path(args.output)
    _check_output(out, args.force)
    t0 = time.perf_counter()
    handle = api.open(args.input)
    with _console().status(f"decoding {handle.codec}…"):
        if args.resolution is not None:
            if not hasattr(handle, "mesh"):
                raise InputError(f"--resolution applies to implicit files, not to codec '{handle.codec}'")
            data = handle.mesh(resolution=args.resolution)
        else:
            data = handle.decode()
    if handle.kind == "mesh":
        outputs = [save_mesh(out, data, force=args.force)]
    elif handle.kind == "volume":
        outputs = [save_volume(out, data, force=args.force)]
    else:
        raise InputError(f"decompressing a {handle.kind} is not supported yet")
    result = {"outputs": [str(p) for p in outputs], "seconds": time.perf_counter() - t0}
    if args.json:
        _print_json(result)
    else:
        print(f"wrote {', '.join(result['outputs'])} in {result['seconds']:.1f} s")
    return 0


def cmd_info(args) -> int:
    result = api.info(args.input)
    if args.json:
        _print_json(result)
        return 0
    from rich.table import Table

    print(f"{args.input}: codec {result['codec']}, format version {result['version']}, {result['total_bytes']:,} bytes")
    table = Table("part", "bytes")
    table.add_row("header (JSON)", f"{result['header_bytes']:,}")
    for name, size in result["sections"].items():
        table.add_row(name, f"{size:,}")
    from rich.console import Console

    Console().print(table)
    print(json.dumps(result["header"], indent=2))
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


def cmd_codecs(args) -> int:
    rows = [
        {"name": n, "kind": (c := get_codec(n)).kind, "baseline": c.baseline, "description": c.description}
        for n in codec_names()
    ]
    if args.json:
        _print_json({"codecs": rows})
    else:
        for r in rows:
            print(f"{r['name']:<14} {r['kind']:<8} {'baseline' if r['baseline'] else 'nc3d':<9} {r['description']}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    result = run_demo(Path(args.output), force=args.force)
    if args.json:
        _print_json(result)
    return 0


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nc3d", description="Neural compression of 3D meshes and volumes, measured against classical codecs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return p

    p = add("compress", cmd_compress, "compress a mesh, a set of meshes or a volume into a .nc3d file")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="mesh file(s), a folder of meshes, or a volume")
    p.add_argument("-o", "--output", required=True, help="the .nc3d file to write")
    p.add_argument("--codec", help="codec name (see `nc3d codecs`); default by input kind")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    opts = p.add_argument_group("codec settings (each applies to the codecs named)")
    for name, (opt, users) in _codec_options().items():
        kw = {"type": opt.type} if opt.type is not bool else {"type": _parse_bool}
        opts.add_argument(
            "--" + name.replace("_", "-"), dest=name, default=None, choices=opt.choices,
            help=f"{opt.help} (default {opt.default}; {', '.join(users)})", **kw,
        )

    p = add("decompress", cmd_decompress, "decode a .nc3d file back to a mesh or volume")
    p.add_argument("input", metavar="FILE")
    p.add_argument("-o", "--output", required=True, help="output file (.obj/.ply/.stl/.off/.glb, or .npy)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--resolution", type=int, default=None, help="marching-cubes grid for implicit files (default 256)")

    p = add("info", cmd_info, "show a .nc3d file's codec, settings and the bytes of each part")
    p.add_argument("input", metavar="FILE")

    p = add("eval", cmd_eval, "compare a test mesh (or volume, or .nc3d) with a reference")
    p.add_argument("reference", metavar="REFERENCE")
    p.add_argument("test", metavar="TEST")
    p.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")

    add("codecs", cmd_codecs, "list the available codecs")

    p = add("demo", cmd_demo, "compress, decode and evaluate the built-in sample data")
    p.add_argument("-o", "--output", default="demo-out", help="folder for the demo's outputs")
    p.add_argument("--force", action="store_true", help="overwrite outputs of an earlier demo")
    return parser


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nc3d`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Nc3dError as exc:
        print(f"nc3d: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nc3d: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
