"""`nc3d eval` on every shared mesh (``$NC3D_DATA/meshes``): against itself and against a decimated copy.

Times the metric computation (``compare_meshes``, 10^5 samples per surface, what ``nc3d eval``
runs) per pair, and checks the self-comparison is exact. Decimation: fast-simplification to
50% of the faces.

    .venv/bin/python -m benchmarks.bench_eval [--out results.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks.common import mesh_paths, meshes_dir
from nc3d.io import load_mesh
from nc3d.mesh import Mesh
from nc3d.metrics import compare_meshes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(meshes_dir()))
    ap.add_argument("--out", default=None, help="also write one JSON line per mesh here")
    args = ap.parse_args()
    import fast_simplification

    paths = mesh_paths(Path(args.data))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(
        f"{'mesh':<36}{'faces':>9}{'self s':>8}{'self CD-p2s':>13}"
        f"{'decim s':>9}{'decim CD-p2s':>14}{'F@0.01':>8}"
    )
    rows = []
    for path in paths:
        mesh = load_mesh(path)
        t0 = time.perf_counter()
        same = compare_meshes(mesh, mesh)
        t1 = time.perf_counter()
        v, f = fast_simplification.simplify(mesh.vertices, mesh.faces, target_reduction=0.5)
        dec = Mesh(np.asarray(v, np.float64), np.asarray(f, np.int64))
        t2 = time.perf_counter()
        other = compare_meshes(mesh, dec)
        t3 = time.perf_counter()
        row = {
            "mesh": path.name,
            "faces": len(mesh.faces),
            "self_s": t1 - t0,
            "self": same,
            "decimated_faces": len(dec.faces),
            "decimated_s": t3 - t2,
            "decimated": other,
        }
        rows.append(row)
        print(
            f"{path.name:<36}{len(mesh.faces):>9,}{t1 - t0:>8.2f}{same['chamfer_p2s']:>13.1e}"
            f"{t3 - t2:>9.2f}{other['chamfer_p2s']:>14.2e}{other['f_score_0.01']:>8.3f}"
        )
    times = np.array([[r["self_s"], r["decimated_s"]] for r in rows])
    print(
        f"pairs: {times.size}; seconds per pair: median {np.median(times):.2f}, max {times.max():.2f} "
        f"(largest mesh {max(r['faces'] for r in rows):,} faces)"
    )
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
