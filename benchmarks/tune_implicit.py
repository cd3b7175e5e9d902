"""Find the implicit codec's training recipe: surface error vs wall time on a few real meshes.

Each configuration overrides fields of ``FitSettings``; reports seconds (sampling + training)
and the surface error (mean |f| over 10^5 surface points, normalized frame) after the float
phase + QAT, evaluated with the weights rounded to 8 bits as they are stored.

    .venv/bin/python benchmarks/tune_implicit.py --meshes spot.obj,bob_tri.obj --configs '{"epochs":20}' '{"epochs":40}'
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nc3d.codecs.implicit.fit import FitSettings, fit_sdf, surface_error
from nc3d.geometry.normalize import frame_of_mesh
from nc3d.io import load_mesh
from nc3d.nn.mlp import Architecture
from nc3d.nn.quant import dequantize_tensors, quantize_tensors

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"


def quantized_copy(model, bits):
    import torch

    tensors = [t.detach().numpy() for t in model.tensors()]
    q, steps = quantize_tensors(tensors, bits)
    deq = dequantize_tensors(q, steps, [t.shape for t in tensors], bits)
    with torch.no_grad():
        for t, d in zip(model.tensors(), deq):
            t.copy_(torch.from_numpy(d))
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshes", default="spot.obj,bob_tri.obj,thingi10k_520644.stl,cycloidal.ply")
    ap.add_argument("--configs", nargs="+", default=["{}"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    paths = {p.name: p for p in DATA.rglob("*")}
    rows = []
    for cfg_text in args.configs:
        cfg = json.loads(cfg_text)
        arch = Architecture(**{k: cfg.pop(k) for k in list(cfg) if k in Architecture.__dataclass_fields__})
        settings = FitSettings(**cfg)
        errs, secs = [], []
        for name in args.meshes.split(","):
            mesh = load_mesh(paths[name])
            mesh = frame_of_mesh(mesh).normalize_mesh(mesh)
            t0 = time.perf_counter()
            model, info = fit_sdf(mesh, arch, settings)
            secs.append(time.perf_counter() - t0)
            err = surface_error(quantized_copy(model, settings.bits), mesh)
            errs.append(err)
            rows.append({"config": cfg_text, "mesh": name, "seconds": secs[-1], "surface_error": err, **info})
            print(f"  {name:<28} {secs[-1]:6.1f} s  err {err:.5f}  (sample {info['sample_seconds']:.1f} s)", flush=True)
        print(f"{cfg_text}: median err {np.median(errs):.5f}, median s {np.median(secs):.1f}", flush=True)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
