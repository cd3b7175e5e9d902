"""Screen implicit-codec settings by what the user gets back: the decoded mesh, two-sided.

Per mesh and setting: wall and CPU time of the encode (load → bytes, one torch thread), file
size, and the metrics of the mesh the file decodes to (marching cubes at ``--resolution``)
against the original (:func:`nc3d.metrics.compare_meshes`: Chamfer-p2s, F-score@0.01, normal
consistency; ``--samples`` points per surface). One JSON line per (label, mesh) in ``--out``
(resumable: rows already there are skipped).

    .venv/bin/python -m benchmarks.implicit_screen --label base --jobs 2 \\
        --meshes spot,bob_tri,block,thingi10k_520644
    .venv/bin/python -m benchmarks.implicit_screen --label pe6 --set encoding=positional ...
    .venv/bin/python -m benchmarks.implicit_screen --report

``--meshes`` takes file stems (or ``all`` for every shared mesh, ``collections:N`` for N meshes
drawn with a fixed seed from ``$NC3D_DATA/collections``, data the defaults were not tuned on).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, data_root, mesh_paths

OUT = RESULTS / "meshes" / "implicit_screen.jsonl"
METRICS = ("chamfer_p2s", "f_score_0.01", "normal_consistency")


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def collection_paths(n: int, seed: int = 0) -> list[Path]:
    """``n`` meshes drawn (fixed seed) from the shared collections: data nothing was tuned on."""
    root = data_root() / "collections"
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".obj", ".stl", ".glb", ".ply", ".off"))
    return sorted(random.Random(seed).sample(files, n))


def run_one(path: str, settings: dict, resolution: int, samples: int) -> dict:
    import torch

    torch.set_num_threads(1)
    import nc3d
    from nc3d.io import load_mesh
    from nc3d.metrics import compare_meshes

    t0, c0 = time.perf_counter(), time.process_time()
    mesh = load_mesh(path)
    blob = nc3d.compress(mesh, codec="implicit", **settings)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    shape = nc3d.open(blob)
    try:
        decoded = shape.mesh(resolution=resolution)
        metrics = compare_meshes(mesh, decoded, n_samples=samples)
    except nc3d.Nc3dError as exc:
        metrics = {"error": str(exc), "f_score_0.01": 0.0}
    header = nc3d.info(blob)["header"]
    return {
        "mesh": Path(path).stem,
        "bytes": len(blob),
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu, 2),
        "surface_error": header.get("surface_error"),
        "codec_estimate": {k: v for k, v in header.get("quality", {}).items() if k in METRICS},
        **{k: v for k, v in metrics.items() if k in METRICS or k == "error"},
    }


def report(rows: list[dict]) -> None:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    heads = ("n", "bytes", "wall s", "CD-p2s", "F@0.01", "F<0.8", "NC")
    print(f"{'label':<28} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, (3, 7, 7, 8, 7, 5, 6))))
    for label in labels:
        rs = [r for r in rows if r["label"] == label]
        med = {k: float(np.median([r.get(k, np.nan) for r in rs])) for k in ("bytes", "seconds", *METRICS)}
        low = sum(1 for r in rs if r.get("f_score_0.01", 0) < 0.8)
        print(
            f"{label:<28} {len(rs):>3} {med['bytes']:>7.0f} {med['seconds']:>7.1f} "
            f"{med['chamfer_p2s']:>8.4f} {med['f_score_0.01']:>7.3f} {low:>5} "
            f"{med['normal_consistency']:>6.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", help="name of this setting in the results")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a codec setting")
    ap.add_argument("--meshes", default="all", help="comma-separated stems, 'all', or 'collections:N'")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=256, help="marching cubes of the decode")
    ap.add_argument("--samples", type=int, default=20_000, help="surface samples for the metrics")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--report", action="store_true", help="only print the medians per label")
    args = ap.parse_args()
    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if args.report:
        report(rows)
        return
    if not args.label:
        ap.error("--label is required to run")
    settings = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.meshes == "all":
        paths = mesh_paths()
    elif args.meshes.startswith("collections:"):
        paths = collection_paths(int(args.meshes.split(":")[1]))
    else:
        wanted = set(args.meshes.split(","))
        paths = [p for p in mesh_paths() if p.stem in wanted]
    done = {r["mesh"] for r in rows if r["label"] == args.label}
    todo = [p for p in paths if p.stem not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool, out.open("a") as fh:
        futures = {pool.submit(run_one, str(p), settings, args.resolution, args.samples): p for p in todo}
        for f in as_completed(futures):
            row = {"label": args.label, "settings": settings, **f.result()}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    report([r for r in rows if r["label"] == args.label])


if __name__ == "__main__":
    main()
