"""Plain TSDF vs TSDF-Def (issue 7, Deliver 1) on every shared mesh (``$NC3D_DATA/meshes``), K = 64.

Fits each mesh's TSDF-Def volume into the shared cache (the one ``--codec shapeset`` reads, so the
sweep in ``bench_shapeset.py`` does not redo it), then compares the DMC surfaces of the plain
TSDF (no deformation, TSDF untouched) and of the fitted TSDF-Def with the original mesh.
One JSON line per mesh in --out (resumable).

    .venv/bin/python -m benchmarks.prepare_shapeset            \
# --out benchmarks/results/meshes/tsdf_def_vs_tsdf.jsonl
    .venv/bin/python -m benchmarks.prepare_shapeset --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, mesh_paths

OUT = RESULTS / "meshes" / "tsdf_def_vs_tsdf.jsonl"
KEYS = ("chamfer", "chamfer_p2s", "f_score_0.005", "f_score_0.01", "normal_consistency")


def run_one(path: Path, resolution: int) -> dict:
    from nc3d.errors import InputError
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.geometry.tsdf import TsdfDefSettings, cached_tsdf_def, default_cache_dir, mesh_from_volume
    from nc3d.io import load_mesh
    from nc3d.metrics import compare_meshes

    mesh = load_mesh(path)
    normalized = frame_of_mesh(mesh).normalize_mesh(mesh)
    t0 = time.perf_counter()
    fitted, hit = cached_tsdf_def(normalized, TsdfDefSettings(resolution=resolution), default_cache_dir())
    t_fit = time.perf_counter() - t0
    plain = fitted.copy()
    t1 = time.perf_counter()
    from nc3d.geometry.tsdf import tsdf_volume

    plain[0] = tsdf_volume(normalized, resolution)
    plain[1:] = 0
    t_plain = time.perf_counter() - t1
    row = {
        "mesh": f"{path.parent.name}/{path.name}",
        "faces": len(mesh.faces),
        "resolution": resolution,
        "prepare_s": None if hit else t_fit,
        "plain_tsdf_s": t_plain,
    }
    for label, vol in (("plain", plain), ("def", fitted)):
        try:
            metrics = compare_meshes(normalized, mesh_from_volume(vol), n_samples=100_000)
        except InputError:  # no sign change at this resolution: no surface at all
            metrics = {k: None for k in KEYS}
        row.update({f"{label}_{k}": metrics[k] for k in KEYS})
    return row


def report(rows: list[dict]) -> None:
    print(f"{len(rows)} meshes, K = {rows[0]['resolution']}")
    for label in ("plain", "def"):
        empty = [r["mesh"] for r in rows if r[f"{label}_chamfer"] is None]
        if empty:
            print(f"{label}: no surface at this resolution: {', '.join(empty)}")
    everywhere = np.mean([r["def_f_score_0.01"] or 0.0 for r in rows])
    print(
        f"TSDF-Def mean F@0.01 over all {len(rows)} meshes (no surface: 0): {everywhere:.4f} — the ceiling "
        "of the shapeset codec at this resolution"
    )
    rows = [r for r in rows if r["plain_chamfer"] is not None and r["def_chamfer"] is not None]
    print(f"below: the {len(rows)} meshes with a surface in both")
    print("| | plain TSDF | TSDF-Def |\n|---|---:|---:|")
    for k in KEYS:
        a = np.array([r[f"plain_{k}"] for r in rows])
        b = np.array([r[f"def_{k}"] for r in rows])
        print(
            f"| {k} mean (median) | {a.mean():.5f} ({np.median(a):.5f}) | "
            f"{b.mean():.5f} ({np.median(b):.5f}) |"
        )
    better = sum(r["def_chamfer_p2s"] < r["plain_chamfer_p2s"] for r in rows)
    print(f"TSDF-Def lower Chamfer-p2s on {better}/{len(rows)} meshes")
    t = [r["prepare_s"] for r in rows if r["prepare_s"] is not None]
    if t:
        print(
            f"TSDF-Def preparation per shape: median {np.median(t):.1f} s, mean {np.mean(t):.1f} s, "
            f"max {max(t):.1f} s ({len(t)} timed)"
        )


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    if not args.report:
        seen = {r["mesh"] for r in done}
        for path in mesh_paths():
            name = f"{path.parent.name}/{path.name}"
            if name in seen:
                continue
            row = run_one(path, args.resolution)
            done.append(row)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                name,
                f"prep {row['prepare_s']}",
                f"CD-p2s {row['plain_chamfer_p2s']} -> {row['def_chamfer_p2s']}",
                flush=True,
            )
    report(done)


if __name__ == "__main__":
    main()
