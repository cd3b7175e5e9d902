"""Rendering and decoding speed of an implicit file: sphere tracing vs marching cubes vs the mesh.

Trains an implicit file of a mesh (the implicit codec's default settings; ``--quick`` uses small
ones), then times a sphere-traced render of it, a marching-cubes decode (``.mesh(resolution)``),
and ray casting of the original mesh and of the decoded mesh with the same camera, and saves the
three images side by side.

    .venv/bin/python benchmarks/bench_render.py --out render.png [--quick] [--size 512] [--resolution 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import nc3d
from nc3d.container import unpack
from nc3d.io import load_mesh
from nc3d.render import render_mesh, render_sdf, save_png, side_by_side

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"
QUICK = {"samples": 20000, "epochs": 30, "batch_size": 1024, "qat_epochs": 2}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", default=str(DATA / "common-3d-test-models" / "spot.obj"))
    ap.add_argument("--out", required=True, help="side-by-side PNG to write")
    ap.add_argument("--quick", action="store_true", help=f"train with small settings {QUICK}")
    ap.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    ap.add_argument("--resolution", type=int, default=256, help="marching-cubes grid (default 256)")
    ap.add_argument("--azimuth", type=float, default=30.0)
    ap.add_argument("--elevation", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--force", action="store_true", help="overwrite --out")
    args = ap.parse_args()
    if Path(args.out).exists() and not args.force:
        raise SystemExit(f"{args.out} exists; use --force")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    mesh = load_mesh(args.mesh)
    settings = QUICK if args.quick else {}
    t_train, blob = timed(lambda: nc3d.compress(mesh, codec="implicit", **settings))
    shape = nc3d.get_codec("implicit").open(unpack(blob))  # what nc3d.open(path) returns

    view = {"size": args.size, "azimuth": args.azimuth, "elevation": args.elevation}
    calls = []

    def counted(points):
        calls.append(len(points))
        return shape.sdf_normalized(points)

    shape.render(size=16)  # warm-up (torch first-call overhead)
    t_trace, img_sdf = timed(lambda: render_sdf(counted, **view))
    t_mc, decoded = timed(lambda: shape.mesh(args.resolution))
    t_mesh, img_mesh = timed(lambda: render_mesh(mesh, **view))
    t_dec, img_dec = timed(lambda: render_mesh(decoded, frame=shape.frame, **view))

    image = side_by_side(
        [img_mesh, img_sdf, img_dec],
        [f"original, {len(mesh.faces):,} faces", f"sphere traced, {t_trace:.2f} s",
         f"marching cubes {args.resolution}³, {t_mc:.2f} s"],
    )
    save_png(args.out, image, force=args.force)
    result = {
        "mesh": str(args.mesh),
        "faces": len(mesh.faces),
        "settings": settings or "default",
        "file_bytes": len(blob),
        "train_s": t_train,
        "size": args.size,
        "sphere_trace_s": t_trace,
        "sdf_points": sum(calls[:-1]),
        "normal_points": calls[-1] if calls else 0,
        "batches": len(calls) - 1,
        "marching_cubes_s": t_mc,
        "resolution": args.resolution,
        "decoded_faces": len(decoded.faces),
        "render_original_mesh_s": t_mesh,
        "render_decoded_mesh_s": t_dec,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "output": str(args.out),
    }
    for k, v in result.items():
        print(f"{k:>24}: {v:.3f}" if isinstance(v, float) else f"{k:>24}: {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
