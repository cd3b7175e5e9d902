"""Add the implicit codec's full run (``bench_implicit.py``'s JSON lines) to an ``nc3d bench`` folder.

The implicit codec at its default settings takes ~30 s per mesh (27 CPU-minutes for the 38
shared meshes), so a full ``nc3d bench`` reuses those measurements instead of re-running them:
each line becomes a bench row (codec ``implicit``, setting ``{}``; metrics with 10⁵ samples per
surface; ``encode_s`` is bench_implicit's load → file written, ``decode_s`` its 256³ decode),
marked ``imported_from``. Rows already in the results are kept, unless ``--replace`` (a newer
run of bench_implicit.py: its rows are appended and supersede the old ones). ``--encode NAME``
also encodes that one mesh (so the report's renders can show the implicit reconstruction).

    .venv/bin/python benchmarks/import_implicit_results.py benchmarks/results/implicit.jsonl \\
        ../shared/data/meshes RESULTS_DIR [--replace] [--encode common-3d-test-models/spot.obj]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nc3d
from nc3d.bench.runner import (MESH_METRICS, RESULTS_NAME, append_rows, read_results, record_input_dir, row_key,
                               setting_key, setting_label)
from nc3d.container import write_bytes_atomic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("implicit_jsonl")
    ap.add_argument("input_dir", help="the dataset folder the run was made on")
    ap.add_argument("results_dir")
    ap.add_argument("--encode", action="append", default=[], metavar="NAME",
                    help="also encode this mesh (path relative to input_dir) and keep the file")
    ap.add_argument("--replace", action="store_true", help="supersede implicit rows already in the results")
    args = ap.parse_args()
    root = Path(args.input_dir)
    dataset = root.resolve().name
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    have = {row_key(r) for r in read_results(out / RESULTS_NAME)}
    rows = []
    for line in Path(args.implicit_jsonl).read_text().splitlines():
        r = json.loads(line)
        if "error" in r:
            continue
        row = {"dataset": dataset, "data_kind": "mesh", "codec": "implicit", "kind": "mesh", "baseline": False,
               "setting": {}, "setting_key": setting_key({}), "input": r["mesh"],
               "bytes": r["bytes"], "input_bytes": r["input_bytes"],
               "canonical_bytes": round(r["ratio_ply"] * r["bytes"]),
               "ratio_input": r["input_bytes"] / r["bytes"], "ratio_canonical": r["ratio_ply"],
               "encode_s": r["compress_s"], "decode_s": r["decode_256_s"],
               "samples": 100_000,
               "surface_error": r["surface_error"], "imported_from": args.implicit_jsonl,
               **{m: r[m] for m in MESH_METRICS}}
        if r["mesh"] in args.encode:
            blob = nc3d.compress(root / r["mesh"], codec="implicit")
            row["file"] = f"files/{dataset}/implicit/{setting_label({})}/{r['mesh']}.nc3d"
            (out / row["file"]).parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(out / row["file"], blob, force=True)
            print(f"encoded {r['mesh']}: {len(blob)} bytes (the run measured {r['bytes']})")
        if args.replace or row_key(row) not in have:
            rows.append(row)
    record_input_dir(out, dataset, root)
    added = list(append_rows(out / RESULTS_NAME, rows))
    print(f"{out / RESULTS_NAME}: {len(added)} implicit rows added")


if __name__ == "__main__":
    main()
