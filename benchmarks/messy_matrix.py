"""Messy-input matrix: every shared mesh and every generated messy case × every codec of its kind.

    nice -n 19 .venv/bin/python -m benchmarks.messy_matrix            # resumable
    .venv/bin/python -m benchmarks.messy_matrix --table               # Markdown from the results

Inputs: the shared meshes and volumes (``$NC3D_DATA``) and nc3d's generated messy cases;
results in ``benchmarks/results/messy/inputs_x_codecs.jsonl``.

A cell loads the input (``nc3d.load_input``), compresses it with the codec, decodes the bytes
and checks the result (:func:`nc3d.testing.fuzz.check_result`). It passes when that works or when
an :class:`nc3d.Nc3dError` with a message stops it; any other exception, a crash of the worker
process or a timeout fails it. Cells run in one worker process (restarted after a crash).

Cheap settings, to keep ~60 inputs × 9 codecs feasible on 2 shared cores: ``implicit`` with a
4×16 network, 20 000 samples, 3 epochs + 1 QAT epoch; ``sdf-grid`` at 32³; the set codecs
(``shapeset``, ``quant-deepsdf``) at their quick preset, each mesh as a set of one, and a shape
that decodes to nothing fails the cell (data loss); every other codec at its defaults. The
5-million-face mesh runs the load column and the classical mesh baselines (draco, decimate,
decimate-draco, ply-lzma) only.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import multiprocessing as mp
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, data_root

OUT = RESULTS / "messy" / "inputs_x_codecs.jsonl"
CHEAP = {
    "implicit": {"layers": 4, "width": 16, "samples": 20_000, "epochs": 3, "qat_epochs": 1.0},
    "sdf-grid": {"resolution": 32},
}
BIG_FACES = 5_000_000
BIG_CODECS = ("draco", "decimate", "decimate-draco", "ply-lzma")


def _init() -> None:
    from nc3d.batch import limit_threads

    limit_threads()


def run_cell(path: str, codec: str | None) -> dict:
    """One cell in the worker: ``codec`` None is the load column."""
    import warnings

    import nc3d
    from nc3d.testing.fuzz import BadResult, check_result

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    try:
        data = nc3d.load_input(path)
        out = {"kind": data.kind}
        if codec is not None:
            chosen = nc3d.get_codec(codec)
            if chosen.kind == "meshset" and data.kind == "mesh":  # a set of one
                blob = nc3d.compress([(Path(path).stem, data.data)], codec=codec, **chosen.preset("quick")[0])
                decoded = nc3d.decompress(blob)
                check_result("meshset", decoded)
                if not all(len(mesh.faces) for _, mesh in decoded):
                    raise BadResult(f"{codec}: the shape decodes to nothing (data loss)")
            else:
                blob = nc3d.compress(data, codec=codec, **CHEAP.get(codec, {}))
                check_result(data.kind, nc3d.decompress(blob))
            out["bytes"] = len(blob)
        out["status"] = "ok"
    except nc3d.Nc3dError as exc:
        out = {"status": "error", "type": type(exc).__name__, "message": str(exc)}
        if not str(exc).strip():
            out["status"] = "fail"
    except Exception as exc:  # noqa: BLE001 - a traceback for a user: the thing this finds
        out = {"status": "fail", "type": type(exc).__name__, "message": str(exc)[:300]}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def inputs(workdir: Path) -> list[tuple[str, str, str]]:
    """``(group, case name, path)`` of every input: shared meshes, generated cases, shared volumes."""
    from nc3d.testing import messy

    rows = []
    shared = data_root()
    for p in sorted((shared / "meshes").rglob("*")):
        if p.is_file() and p.suffix.lower() in (".obj", ".ply", ".stl", ".off", ".glb", ".gltf"):
            rows.append(("shared mesh", str(p.relative_to(shared / "meshes")), str(p)))
    for name in messy.MESH_CASES:
        rows.append(("generated mesh", name, str(messy.write_case(name, workdir))))
    big = workdir / "five_million_faces.ply"
    if not big.exists():
        big.write_bytes(messy.big_mesh_ply(BIG_FACES))
    rows.append(("generated mesh", f"{BIG_FACES // 10**6}-million-face mesh", str(big)))
    for name in messy.VOLUME_CASES:
        rows.append(("generated volume", name, str(messy.write_case(name, workdir))))
    for p in sorted((shared / "volumes").rglob("*.npy")):
        rows.append(("shared volume", str(p.relative_to(shared / "volumes")), str(p)))
    return rows


def codecs_for(case: str, kind: str | None) -> list[str]:
    from nc3d.codecs.base import codec_names

    if "million-face" in case:
        return [c for c in codec_names("mesh") if c in BIG_CODECS]
    return codec_names(kind) + (codec_names("meshset") if kind == "mesh" else [])


def _run(pool, ctx, path: str, codec: str | None, timeout: float):
    """One cell in the worker; a timeout or a crash replaces the worker."""
    try:
        return pool.submit(run_cell, path, codec).result(timeout=timeout), pool
    except cf.TimeoutError:
        r = {"status": "fail", "type": "Timeout", "message": f"more than {timeout} s"}
    except cf.process.BrokenProcessPool:
        r = {"status": "fail", "type": "Crash", "message": "the worker process died"}
    for proc in list(pool._processes.values()):  # no public way to stop a stuck worker
        proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    return r, cf.ProcessPoolExecutor(1, mp_context=ctx, initializer=_init)


def load_results(path: Path) -> dict[tuple[str, str], dict]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["case"], r["codec"]): r for r in rows}


def table(results: dict[tuple[str, str], dict]) -> str:
    """Markdown: a table for mesh inputs and one for volumes (one column per codec); errors as notes."""
    from nc3d.codecs.base import codec_names

    notes: dict[str, int] = {}

    def cell(r: dict | None) -> str:
        if r is None:
            return "·"
        if r["status"] == "ok":
            return f"✔ {r['bytes']:,} B" if "bytes" in r else "✔"
        text = re.sub(r"/\S+/", "", f"{r['type']}: {r['message']}")[:160]
        n = notes.setdefault(text, len(notes) + 1)
        return f"{'✗' if r['status'] == 'error' else '**FAIL**'} [{n}]"

    lines = []
    for kind in ("mesh", "volume"):
        keys = [k for k in results if (kind == "volume") == ("volume" in results[k].get("group", ""))]
        if not keys:
            continue
        columns = ["load"] + [c for c in codec_names() if any(k[1] == c for k in keys)]
        cases = list(dict.fromkeys(k[0] for k in keys))
        lines += ["| input | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for case in cases:
            group = results.get((case, "load"), {}).get("group", "")
            label = f"{case}" + (" (generated)" if group.startswith("generated") else "")
            lines.append(f"| {label} | " + " | ".join(cell(results.get((case, c))) for c in columns) + " |")
        lines.append("")
    counts = collections.Counter(r["status"] for r in results.values())
    lines += [
        f"{len(results)} cells: {counts['ok']} ✔ compressed (or loaded) and decoded, with the file size; "
        f"{counts['error']} ✗ a clear nc3d error [n]; {counts['fail']} failures; · not applicable "
        "(the input did not load, or another kind).",
        "",
    ]
    lines += [f"[{n}] {text}  " for text, n in notes.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, default=OUT)
    p.add_argument("--table", action="store_true", help="print the Markdown table of the results and exit")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per cell")
    p.add_argument("--only", help="regex: run only inputs whose name matches")
    args = p.parse_args(argv)
    if args.table:
        print(table(load_results(args.results)))
        return 0
    done = load_results(args.results)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    pool = cf.ProcessPoolExecutor(1, mp_context=ctx, initializer=_init)
    with tempfile.TemporaryDirectory(prefix="nc3d-messy-") as tmp:
        for group, case, path in inputs(Path(tmp)):
            if args.only and not re.search(args.only, case):
                continue
            codecs: list[str | None] = [None]
            while codecs:
                codec = codecs.pop(0)
                key = (case, codec or "load")
                r = done.get(key)
                if r is None:
                    r, pool = _run(pool, ctx, path, codec, args.timeout)
                    r.update({"group": group, "case": case, "codec": codec or "load"})
                    done[key] = r
                    with open(args.results, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
                    print(
                        f"{case} × {codec or 'load'}: {r['status']} {r.get('type', '')} "
                        f"{r.get('message', '')[:100]} ({r.get('seconds', '-')} s)",
                        flush=True,
                    )
                if codec is None and r["status"] == "ok":  # loaded: every codec of its kind
                    codecs = codecs_for(case, r["kind"])
    pool.shutdown()
    print(table(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
