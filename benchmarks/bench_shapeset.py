"""The shapeset codec on all shared meshes (``$NC3D_DATA/meshes``) as one set (issue 7), \
against decimation + Draco.

Three steps, each resumable (JSON lines appended to --out):

* ``baselines``: every mesh through a ladder of decimate-draco settings (QEM decimation ratio ×
  Draco quantization bits, compression level 10): bytes and metrics (2·10⁴ samples per surface);
* ``run --decoder-width W [--steps S]``: the whole set compressed into one file (TSDF-Def
  volumes from the shared cache, see ``prepare_shapeset.py``), then every shape decoded alone
  (timed) and compared with its original (10⁵ samples per surface). Under ``torchrun
  --standalone --nproc-per-node N -m benchmarks.bench_shapeset run …`` the training is
  data-parallel (N processes, each its own batches); process 0 measures and writes;
* ``evaluate --rows R --out F``: the kept files of the rows in R decoded and measured again
  (after a decode-side change), rows otherwise copied;
* ``report``: the rate–distortion table, and decimation + Draco at the same total bytes (each
  mesh's budget in proportion to its input file; per mesh the best F@0.01 among the ladder's
  settings that fit the budget; a mesh with no fitting setting scores 0).

    .venv/bin/python -m benchmarks.bench_shapeset baselines   \
# --out benchmarks/results/meshes/decimate_draco_ladder.jsonl
    .venv/bin/python -m benchmarks.bench_shapeset run --decoder-width 16 --keep DIR --out RUNS.jsonl
    .venv/bin/python -m benchmarks.bench_shapeset report --out RUNS.jsonl   # --baselines: the ladder above
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, mesh_paths

BASELINES = RESULTS / "meshes" / "decimate_draco_ladder.jsonl"
KEYS = ("chamfer", "chamfer_p2s", "f_score_0.005", "f_score_0.01", "normal_consistency", "hausdorff")
LADDER = [{"ratio": r, "bits": b} for r in (0.3, 0.1, 0.05, 0.02, 0.01, 0.005) for b in (8, 10)]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _append(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def cmd_baselines(args) -> None:
    import nc3d
    from nc3d.io import load_mesh
    from nc3d.metrics import compare_meshes

    done = {(r["mesh"], r["ratio"], r["bits"]) for r in _rows(args.out)}
    for path in mesh_paths():
        name = f"{path.parent.name}/{path.name}"
        mesh = load_mesh(path)
        for s in LADDER:
            if (name, s["ratio"], s["bits"]) in done:
                continue
            row = {"mesh": name, **s, "input_bytes": path.stat().st_size}
            try:
                blob = nc3d.compress(mesh, codec="decimate-draco", level=10, **s)
                m = compare_meshes(mesh, nc3d.decompress(blob), n_samples=20_000)
                row.update(bytes=len(blob), **{k: m[k] for k in KEYS})
            except nc3d.Nc3dError as exc:
                row["error"] = str(exc)
            _append(args.out, row)
        print(name, flush=True)


def cmd_run(args) -> None:
    import torch

    import nc3d
    from nc3d.api import load_input
    from nc3d.io import canonical_ply_size

    torch.set_num_threads(1)
    paths = mesh_paths()
    data = load_input([(f"{p.parent.name}__{p.stem}", p) for p in paths])
    settings = {"decoder_width": args.decoder_width, "resolution": args.resolution}
    for key in ("steps", "batch_size", "bits"):
        if getattr(args, key):
            settings[key] = getattr(args, key)
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value)
    codec = nc3d.get_codec("shapeset")
    marks = {}

    def progress(phase, done, total):
        if done == total:
            marks[phase] = time.perf_counter()
        if phase == "training":
            print(f"step {done}/{total} at {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    blob = codec.encode(data.data, progress=progress, **settings)
    t_total = time.perf_counter() - t0
    t_prep = marks.get("TSDF-Def volumes", t0) - t0
    from nc3d.nn import ddp

    rank, processes = ddp.world()
    if rank:  # under torchrun: the same model in every process, the first one measures it
        return
    if processes > 1:
        settings["processes"] = processes  # (for the row only: not a codec option)
    handle = codec.open(nc3d.container.unpack(blob))
    print(
        f"encoded: {len(blob):,} bytes, {data.input_bytes / len(blob):.0f}x the input files, "
        f"{nc3d.info(blob)['sections']}",
        flush=True,
    )
    shapes = _measure(handle, data.data, args.samples)
    info = nc3d.info(blob)
    kept = None
    if args.keep:
        from nc3d.files import write_bytes_atomic

        kept = args.keep / f"shapeset-{'-'.join(f'{k}{v}' for k, v in sorted(settings.items()))}.nc3d"
        args.keep.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(kept, blob, force=True)
    row = {
        "settings": settings,
        "shapes": len(paths),
        "bytes": len(blob),
        "sections": info["sections"],
        "header_bytes": info["header_bytes"],
        "input_bytes": data.input_bytes,
        "canonical_bytes": sum(canonical_ply_size(len(m.vertices), len(m.faces)) for _, m in data.data),
        "processes": processes,
        "encode_s": t_total,
        "prepare_s": t_prep,
        "train_s": t_total - t_prep,
        "per_shape": shapes,
        # a set stored as Draco files alone (the default size) trained nothing: no settings
        "training": _training(info["header"]["train"]) if "train" in info["header"] else None,
        "parameters": handle.arch.parameter_count,
        "samples": args.samples,
        **({"file": str(kept)} if kept else {}),
    }
    _append(args.out, row)


def _measure(handle, meshes, samples: int) -> list[dict]:
    """Every shape of an opened set file decoded alone (timed) and compared with its original."""
    from nc3d.metrics import compare_meshes

    shapes = []
    for i, (name, mesh) in enumerate(meshes):
        t1 = time.perf_counter()
        decoded = handle.decode_shape(i)
        t_dec = time.perf_counter() - t1
        m = (
            compare_meshes(mesh, decoded, n_samples=samples)
            if len(decoded.faces)
            else {k: None for k in KEYS}
        )
        shapes.append({"name": name, "decode_s": t_dec, **{k: m[k] for k in KEYS}})
        print(name, {k: shapes[-1][k] for k in ("f_score_0.01", "chamfer_p2s")}, flush=True)
    return shapes


def cmd_evaluate(args) -> None:
    """Re-measure the kept file of each row of --rows with today's decoder (after a decode-side fix)."""
    import nc3d
    from nc3d.api import load_input

    paths = mesh_paths()
    data = load_input([(f"{p.parent.name}__{p.stem}", p) for p in paths])
    for row in _rows(args.rows):
        if not row.get("file") or not Path(row["file"]).exists():
            print(f"skipped (no kept file): {row['settings']}", flush=True)
            continue
        handle = nc3d.open(row["file"])
        _append(
            args.out,
            {
                **row,
                "per_shape": _measure(handle, data.data, row["samples"]),
                "re_evaluated": time.strftime("%Y-%m-%d"),
            },
        )


def _training(train: dict) -> str:
    """``"3000 steps × 4"`` (or ``"15 epochs"`` for the runs made before training counted steps)."""
    if "steps" in train:
        return f"{train['steps']} steps × {train['batch_size']}"
    return f"{train['epochs']} epochs"


def _baseline_at(rows: list[dict], total: float) -> tuple[float, float, int]:
    """Mean F@0.01 and CD-p2s of decimate-draco with ``total`` bytes shared in proportion to input sizes."""
    by_mesh: dict[str, list[dict]] = {}
    for r in rows:
        by_mesh.setdefault(r["mesh"], []).append(r)
    inputs = {m: rs[0]["input_bytes"] for m, rs in by_mesh.items()}
    whole = sum(inputs.values())
    f, cd, used = [], [], 0
    for m, rs in by_mesh.items():
        budget = total * inputs[m] / whole
        fit = [r for r in rs if "error" not in r and r["bytes"] <= budget]
        if fit:
            best = max(fit, key=lambda r: r["f_score_0.01"])
            f.append(best["f_score_0.01"])
            cd.append(best["chamfer_p2s"])
            used += best["bytes"]
        else:
            f.append(0.0)
    return float(np.mean(f)), float(np.mean(cd)) if cd else float("nan"), used


def _mean_over_surfaces(per_shape: list[dict], key: str) -> float:
    """Mean of ``key`` over the shapes that decoded to a surface (nan when none has it)."""
    vals = [x[key] for x in per_shape if x.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def cmd_report(args) -> None:
    runs = _rows(args.out)
    base = _rows(args.baselines) if args.baselines else []
    print(
        "| decoder width | training | other settings | parameters "
        "| bytes (decoder / features / names+header) | "
        "ratio (input) | ratio (binary PLY) | mean CD* | mean CD-p2s* | mean F@0.005 "
        "| mean F@0.01 (median) | "
        "mean NC* | decimate+Draco mean F@0.01 at equal bytes |"
    )
    print("|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(runs, key=lambda r: r["bytes"]):
        s = r["sections"]
        vals = {k: _mean_over_surfaces(r["per_shape"], k) for k in KEYS}
        other = (
            ", ".join(
                f"{k}={v}"
                for k, v in r["settings"].items()
                if k not in ("decoder_width", "resolution", "steps", "epochs")
            )
            or "—"
        )
        median_f = np.median([x["f_score_0.01"] or 0.0 for x in r["per_shape"]])
        empty = sum(x["f_score_0.01"] is None for x in r["per_shape"])
        for k in ("f_score_0.005", "f_score_0.01"):  # an empty decode scores 0
            vals[k] = np.mean([x[k] or 0.0 for x in r["per_shape"]])
        b = _baseline_at(base, r["bytes"]) if base else None
        against = f"{b[0]:.3f} ({b[2]:,} B)" if b else "— (no --baselines)"
        print(
            f"| {r['settings']['decoder_width']} "
            f"| {r.get('training') or str(r['epochs']) + ' epochs'} | {other} | "
            f"{r['parameters']:,} | {r['bytes']:,} "
            f"({s['decoder'] + s['decoder_steps']:,} / {s['features']:,} / "
            f"{s['names'] + r['header_bytes']:,}) | "
            f"{r['input_bytes'] / r['bytes']:.0f} | {r['canonical_bytes'] / r['bytes']:.0f} | "
            f"{vals['chamfer']:.4f} | {vals['chamfer_p2s']:.4f} | {vals['f_score_0.005']:.3f} | "
            f"{vals['f_score_0.01']:.3f} ({median_f:.3f}) | {vals['normal_consistency']:.3f} | {against} |"
            + (f" {empty} of {len(r['per_shape'])} shapes decode to no surface |" if empty else "")
        )
    print("* over the shapes that decode to a surface; F-scores count an empty decode as 0")
    for r in runs:
        dec = [x["decode_s"] for x in r["per_shape"]]
        print(
            f"width {r['settings']['decoder_width']}: TSDF-Def preparation {r['prepare_s']:.0f} s "
            f"(from cache where present), training {r['train_s']:.0f} s, decode per shape median "
            f"{np.median(dec):.2f} s (max {max(dec):.2f} s)"
        )
    if base:
        whole = sum({r["mesh"]: r["input_bytes"] for r in base}.values())
        print(
            "\ndecimate + Draco alone: | ratio | total bytes used | mean F@0.01 "
            "| mean CD-p2s (meshes that fit) |"
        )
        for ratio in (30, 100, 300, 600, 1000):
            f, cd, used = _baseline_at(base, whole / ratio)
            print(f"| {ratio} | {used:,} | {f:.3f} | {cd:.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("baselines")
    p.add_argument("--out", type=Path, default=BASELINES)
    p.set_defaults(func=cmd_baselines)
    p = sub.add_parser("run")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--decoder-width", type=int, default=16)
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the codec's)")
    p.add_argument("--batch-size", type=int, default=None, help="shapes per step (default: the codec's)")
    p.add_argument(
        "--bits", type=int, default=None, help="bits per weight and feature (default: the codec's)"
    )
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--samples", type=int, default=100_000, help="surface samples per mesh for the metrics")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other codec setting (VALUE as JSON), e.g. --set surface_power=0.5",
    )
    p.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the encoded set in DIR (import_results.py shapeset puts it in an nc3d bench report)",
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("evaluate", help="re-measure the kept files of earlier rows with today's decoder")
    p.add_argument("--rows", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("report")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--baselines",
        type=Path,
        default=BASELINES,
        help="the decimate-draco ladder (default: the committed one)",
    )
    p.set_defaults(func=cmd_report)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
