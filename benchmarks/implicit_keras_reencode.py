"""Re-encoding Davies et al.'s Keras files: how far the stored network's surface moves (issue 16).

The authors' release is not in the shared data, so the same kind of file is made here: a plain
8×32 ReLU network fitted in float32 (no quantization, as the authors trained) to each mesh, written
as Keras HDF5 weights. Each is then compressed as a user would (``nc3d compress x.h5``) and, for
comparison, quantized to 8 bits the way nc3d did before 2026-12-06 (balanced, rounded, nothing
else). Per file: bytes, and the median |f_stored| on 2·10⁴ points of the original network's zero
level set (normalized units; 0 = the surface did not move). One JSON line per mesh in --out.

    .venv/bin/python -m benchmarks.implicit_keras_reencode --jobs 2 \\
        --meshes spot,bob_tri,block,joint,rabbit,Vase,teapot,fandisk_quads,thingi10k_72214,trumpet
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, mesh_paths

OUT = RESULTS / "meshes" / "implicit_keras_reencode.jsonl"


def run_one(path: str) -> dict:
    import torch

    torch.set_num_threads(1)
    import nc3d
    from nc3d.codecs.implicit.codec import encode_model
    from nc3d.codecs.implicit.fit import FitSettings, evaluate_mlp, fit_sdf, zero_set_points
    from nc3d.codecs.implicit.keras import save_keras_h5
    from nc3d.codecs.implicit.shape import ImplicitShape
    from nc3d.geometry.normalize import Frame, frame_of_mesh
    from nc3d.io import load_mesh
    from nc3d.nn.mlp import Architecture

    mesh = load_mesh(path)
    normalized = frame_of_mesh(mesh).normalize_mesh(mesh)
    model, _ = fit_sdf(normalized, Architecture(8, 32), FitSettings(qat_epochs=0.0, epochs=30))
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / f"{Path(path).stem}.h5"
        save_keras_h5(ImplicitShape(model, Frame.identity()), h5)
        teacher = nc3d.open(h5).model  # what the file holds (float32)
        blob = nc3d.compress(h5)
    header = nc3d.info(blob)["header"]
    surface = zero_set_points(teacher, 20_000, seed=12345)
    sections, rounded = encode_model(copy.deepcopy(teacher).equalize_ranges(), 8)
    return {
        "mesh": Path(path).stem,
        "bytes": len(blob),
        "zero_set_error": header["zero_set_error"],
        "rounded_bytes": sum(len(v) for v in sections.values()),
        "rounded_zero_set_error": float(np.median(np.abs(evaluate_mlp(rounded, surface)))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meshes", default="spot,bob_tri,block,joint,rabbit,Vase,teapot,fandisk_quads")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    if not args.report:
        wanted = set(args.meshes.split(","))
        paths = [str(p) for p in mesh_paths() if p.stem in wanted]
        out.parent.mkdir(parents=True, exist_ok=True)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool, out.open("w") as fh:
            for f in as_completed([pool.submit(run_one, p) for p in paths]):
                row = f.result()
                fh.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for key in ("bytes", "zero_set_error", "rounded_bytes", "rounded_zero_set_error"):
        values = [r[key] for r in rows]
        print(f"{key}: median {np.median(values):.6g}, max {np.max(values):.6g} ({len(rows)} files)")


if __name__ == "__main__":
    main()
