"""Add measurements made by the per-codec benchmark scripts to an ``nc3d bench`` folder.

Two codecs are too slow to re-run inside a full ``nc3d bench``, so the full run imports the
measurements of their own scripts instead (each row marked ``imported_from``):

* ``implicit``: ``bench_implicit``'s JSON lines, one mesh per line at the default setting
  (~30 s a mesh, 27 CPU-minutes for the 38 shared meshes). Metrics with 10⁵ samples per surface;
  ``encode_s`` is load → file written, ``decode_s`` the 256³ decode. ``--encode NAME`` also
  encodes that one mesh (unless its file is already there), so the report's renders can show it.
* ``shapeset``: ``bench_shapeset run --keep DIR``'s JSON lines, one whole-set run per line
  (tens of CPU-minutes each). The kept set file is copied into the report (when it is on this
  machine: the row is imported without it otherwise); ``decode_s`` is the
  sum of the shapes' one-at-a-time decodes; the row's metrics are the medians over the shapes,
  a shape decoded to no surface scoring :data:`EMPTY_SHAPE_METRICS`, as ``nc3d bench`` does.

Rows already in the results are kept, unless ``--replace``: the new rows then supersede those with
the same key, and ``results.jsonl`` is rewritten with one row per key.

    .venv/bin/python -m benchmarks.import_results implicit \\
        benchmarks/results/meshes/implicit_defaults.jsonl \\
        ../shared/data/meshes RESULTS_DIR [--replace] [--encode common-3d-test-models/spot.obj]
    .venv/bin/python -m benchmarks.import_results shapeset \\
        benchmarks/results/meshes/shapeset_rate_distortion.jsonl \\
        ../shared/data/meshes RESULTS_DIR [--replace]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np

import nc3d
from nc3d.bench.runner import (
    EMPTY_SHAPE_METRICS,
    MESH_METRICS,
    RESULTS_NAME,
    append_rows,
    read_results,
    record_input_dir,
    row_key,
    setting_key,
    setting_label,
)
from nc3d.files import write_bytes_atomic


def _base(dataset: str, codec: str, kind: str, setting: dict, source: str) -> dict:
    return {
        "dataset": dataset,
        "data_kind": "mesh",
        "codec": codec,
        "kind": kind,
        "baseline": False,
        "setting": setting,
        "setting_key": setting_key(setting),
        "imported_from": source,
    }


def implicit_rows(args, root: Path, out: Path, dataset: str) -> list[dict]:
    rows = []
    for line in Path(args.jsonl).read_text().splitlines():
        r = json.loads(line)
        if "error" in r:
            continue
        row = {
            **_base(dataset, "implicit", "mesh", {}, args.jsonl),
            "input": r["mesh"],
            "bytes": r["bytes"],
            "input_bytes": r["input_bytes"],
            "canonical_bytes": round(r["ratio_ply"] * r["bytes"]),
            "ratio_input": r["input_bytes"] / r["bytes"],
            "ratio_canonical": r["ratio_ply"],
            "encode_s": r["compress_s"],
            "decode_s": r["decode_256_s"],
            "samples": 100_000,
            "surface_error": r["surface_error"],
            **{m: r[m] for m in MESH_METRICS},
        }
        if r["mesh"] in args.encode:
            row["file"] = f"files/{dataset}/implicit/{setting_label({})}/{r['mesh']}.nc3d"
            if (out / row["file"]).is_file():
                print(f"{r['mesh']}: {row['file']} is already there")
            else:
                blob = nc3d.compress(root / r["mesh"], codec="implicit")
                (out / row["file"]).parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(out / row["file"], blob, force=True)
                print(f"encoded {r['mesh']}: {len(blob)} bytes (the run measured {r['bytes']})")
        rows.append(row)
    return rows


def shapeset_rows(args, root: Path, out: Path, dataset: str) -> list[dict]:
    # bench_shapeset.py names a shape "<folder>__<stem>"; nc3d bench by its path under INPUT_DIR
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".obj", ".ply", ".stl", ".off"))
    relative = {f"{p.parent.name}__{p.stem}": p.relative_to(root).as_posix() for p in paths}
    rows = []
    for line in Path(args.jsonl).read_text().splitlines():
        r = json.loads(line)
        if (
            "file" not in r
            or any(s.get("hausdorff", 0) is None and s["f_score_0.01"] is not None for s in r["per_shape"])
            or "hausdorff" not in r["per_shape"][0]
        ):
            continue  # runs made before --keep (no file) or before hausdorff was measured
        setting = {k: v for k, v in r["settings"].items() if not (k == "resolution" and v == 64)}
        setting["steps"] = int(r["training"].split()[0])
        per_shape = []
        for s in r["per_shape"]:
            name = relative[s["name"]]
            if s["f_score_0.01"] is None:
                per_shape.append({"name": name, "empty": True, **EMPTY_SHAPE_METRICS})
            else:
                per_shape.append({"name": name, **{m: s[m] for m in MESH_METRICS}})
        label = f"files/{dataset}/shapeset/{setting_label(setting)}/set.nc3d"
        if Path(r["file"]).is_file():
            (out / label).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r["file"], out / label)
        else:  # kept on another machine: the row's figures still count, the renders lack it
            print(
                f"shapeset {setting_label(setting)}: kept file {r['file']} is not here; "
                "row imported without it"
            )
            label = None
        n = r["bytes"]
        rows.append(
            {
                **_base(dataset, "shapeset", "meshset", setting, args.jsonl),
                "input": f"<set of {r['shapes']}>",
                "bytes": n,
                "input_bytes": r["input_bytes"],
                "canonical_bytes": r["canonical_bytes"],
                "ratio_input": r["input_bytes"] / n,
                "ratio_canonical": r["canonical_bytes"] / n,
                "encode_s": r["encode_s"],
                "decode_s": sum(s["decode_s"] for s in r["per_shape"]),
                **({"file": label} if label else {}),
                "n_shapes": r["shapes"],
                "bytes_per_shape": n / r["shapes"],
                "samples": r["samples"],
                **{m: float(np.median([s[m] for s in per_shape])) for m in MESH_METRICS},
                "per_shape": per_shape,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("codec", choices=("implicit", "shapeset"))
    ap.add_argument("jsonl", help="the JSON lines of bench_implicit / bench_shapeset run")
    ap.add_argument("input_dir", help="the dataset folder the run was made on")
    ap.add_argument("results_dir")
    ap.add_argument(
        "--encode",
        action="append",
        default=[],
        metavar="NAME",
        help="implicit: also encode this mesh (path relative to input_dir) and keep the file",
    )
    ap.add_argument("--replace", action="store_true", help="supersede rows already in the results")
    args = ap.parse_args()
    root = Path(args.input_dir)
    dataset = root.resolve().name
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS_NAME
    rows = (implicit_rows if args.codec == "implicit" else shapeset_rows)(args, root, out, dataset)
    old = read_results(results)
    if args.replace:  # rewrite with one row per key, the new rows superseding
        new = {row_key(r) for r in rows}
        tmp = results.with_name(RESULTS_NAME + ".tmp")
        tmp.unlink(missing_ok=True)
        for _ in append_rows(tmp, (r for r in old if row_key(r) not in new)):
            pass
        os.replace(tmp, results)
    else:
        have = {row_key(r) for r in old}
        rows = [r for r in rows if row_key(r) not in have]
    record_input_dir(out, dataset, root)
    added = list(append_rows(results, rows))
    print(f"{results}: {len(added)} {args.codec} rows added")


if __name__ == "__main__":
    main()
