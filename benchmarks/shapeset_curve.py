"""Learning curve of the shapeset codec's training: quality against steps and CPU time (issue 7).

Trains the auto-decoder on the cached K = 64 TSDF-Def volumes of ../shared/data/meshes (all
38 or an evenly spread subset) and, at the given steps, scores what the codec would store if
training stopped there (weights and features quantized at ``bits``): the wrong-sign share of
the near-surface cells, the near-surface L1 of the TSDF channel, and the mean F@0.01 of the
decoded surfaces against the meshes (an empty decode scores 0). One JSON line per evaluation,
with the training's CPU seconds so far (evaluation excluded). A checkpoint (decoder and features)
is written at every evaluation, so a long run can be inspected while it goes on.

    .venv/bin/python benchmarks/shapeset_curve.py --steps 16000 --eval 500,1000,2000,4000,8000,12000,16000 \\
        --out benchmarks/results/shapeset_curve.jsonl --label all38-w32
    .venv/bin/python benchmarks/shapeset_curve.py --subset 8 --steps 1500 --eval 500,1000,1500 \\
        --set feature_init=tsdf --out benchmarks/results/shapeset_subset.jsonl --label tsdf-init
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"


def load_set(subset: int):
    """Names, meshes (normalized frame) and cached TSDF-Def volumes ``(n, 4, 64, 64, 64)``."""
    from nc3d.api import load_input
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.geometry.tsdf import TsdfDefSettings, cached_tsdf_def, default_cache_dir

    paths = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".obj", ".ply", ".stl", ".off"))
    if subset:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, subset).round().astype(int)]
    data = load_input([(f"{p.parent.name}__{p.stem}", p) for p in paths]).data
    names, meshes, volumes = [], [], []
    for name, mesh in data:
        normalized = frame_of_mesh(mesh).normalize_mesh(mesh)
        vol, hit = cached_tsdf_def(normalized, TsdfDefSettings(), default_cache_dir())
        if not hit:
            print(f"{name}: TSDF-Def volume was not cached (prepared now)", flush=True)
        names.append(name)
        meshes.append(normalized)
        volumes.append(vol)
    return names, meshes, np.stack(volumes)


def evaluate(model, features, volumes, meshes, bits: int, samples: int, surfaces: bool) -> dict:
    """Scores of the decoded volumes with weights and features quantized at ``bits``."""
    import torch

    from nc3d.codecs.shapeset.train import sign_error
    from nc3d.geometry.tsdf import mesh_from_volume
    from nc3d.metrics import compare_meshes
    from nc3d.nn.quant import fake_quantize

    with torch.inference_mode():
        feats = fake_quantize(features.detach().cpu(), bits)
        model = model.cpu()
        pred = np.stack([model(feats[i:i + 1], bits)[0].numpy() for i in range(len(feats))])
    near = np.abs(volumes[:, 0]) < 1
    row = {"wrong_sign": sign_error(pred, volumes),
           "near_l1": float(np.abs(pred[:, 0] - volumes[:, 0])[near].mean()),
           "l1": float(np.abs(pred - volumes).mean())}
    if surfaces:
        f = []
        for vol, mesh in zip(pred, meshes):
            if not vol[0].min() < 0 < vol[0].max():
                f.append(0.0)
                continue
            f.append(float(compare_meshes(mesh, mesh_from_volume(vol), n_samples=samples)["f_score_0.01"]))
        row.update(f_score_0_01=float(np.mean(f)), empty=int(sum(v == 0.0 for v in f)), per_shape_f=f)
    return row


def main() -> None:
    import torch

    from nc3d.codecs.shapeset.model import Architecture
    from nc3d.codecs.shapeset.train import TrainSettings, train_auto_decoder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--subset", type=int, default=0, help="this many meshes spread over the sorted list (0: all)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval", default="", help="comma-separated steps to evaluate at (the last step always)")
    ap.add_argument("--decoder-width", type=int, default=32)
    ap.add_argument("--samples", type=int, default=20_000, help="surface samples per mesh for F@0.01")
    ap.add_argument("--no-surfaces", action="store_true", help="skip the meshes (volume scores only)")
    ap.add_argument("--set", action="append", default=[], help="a TrainSettings field, name=value")
    ap.add_argument("--checkpoint", type=Path, default=None, help="torch.save the state here at each evaluation")
    args = ap.parse_args()
    torch.set_num_threads(1)

    names, meshes, volumes = load_set(args.subset)
    fields = {f.name: f.type for f in dataclasses.fields(TrainSettings)}
    over = {}
    for item in args.set:
        key, value = item.split("=", 1)
        kind = {"int": int, "float": float, "str": str}[fields[key] if isinstance(fields[key], str) else fields[key].__name__]
        over[key] = kind(value)
    settings = TrainSettings(steps=args.steps, device="cpu", threads=1, **over)
    arch = Architecture(resolution=volumes.shape[-1], width=args.decoder_width)
    marks = sorted({int(s) for s in args.eval.split(",") if s} | {args.steps})
    cpu = {"train": 0.0, "last": time.process_time()}
    t0 = time.perf_counter()

    def on_step(step, loss, model, features):
        if step + 1 not in marks:
            return
        now = time.process_time()
        cpu["train"] += now - cpu["last"]
        row = {"label": args.label, "shapes": len(names), "step": step + 1, "steps": args.steps,
               "width": args.decoder_width, "settings": {k: v for k, v in settings.to_dict().items()
                                                         if k not in ("device", "threads")},
               "train_cpu_s": round(cpu["train"], 1), "wall_s": round(time.perf_counter() - t0, 1), "loss": loss}
        row.update(evaluate(model, features, volumes, meshes, settings.bits, args.samples, not args.no_surfaces))
        if args.checkpoint:
            torch.save({"step": step + 1, "model": model.state_dict(), "features": features.detach().cpu(),
                        "arch": arch.to_dict(), "names": names}, args.checkpoint)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print({k: row[k] for k in row if k not in ("per_shape_f", "settings")}, flush=True)
        model.train()
        cpu["last"] = time.process_time()

    train_auto_decoder(volumes, arch, settings, on_step=on_step)


if __name__ == "__main__":
    main()
