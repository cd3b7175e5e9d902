"""The implicit codec against classical baselines at (about) the same file size, per mesh.

Reads the implicit results of ``bench_implicit.py`` and, for each mesh, encodes it with a small
ladder of each baseline, keeps the largest setting whose file is not larger than the implicit
file (or the smallest setting if none is), and compares Chamfer-p2s and F-score@0.01
(2·10⁴ samples per surface; same definitions as everywhere in nc3d).

    .venv/bin/python benchmarks/compare_implicit_baselines.py benchmarks/results/implicit.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import nc3d
from nc3d.io import load_mesh
from nc3d.metrics import compare_meshes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"
LADDERS = {
    "draco": [{"bits": b} for b in (5, 6, 7, 8, 10)],
    "decimate-draco": [{"ratio": r, "bits": 10} for r in (0.01, 0.02, 0.05, 0.1, 0.2)],
    "sdf-grid": [{"resolution": k} for k in (16, 24, 32, 40)],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("implicit_jsonl")
    args = ap.parse_args()
    rows = [json.loads(line) for line in Path(args.implicit_jsonl).read_text().splitlines()]
    rows = [r for r in rows if "error" not in r]
    table = {name: [] for name in LADDERS}
    for r in rows:
        mesh = load_mesh(DATA / r["mesh"])
        for name, ladder in LADDERS.items():
            tried = []
            for settings in ladder:
                try:
                    blob = nc3d.compress(mesh, codec=name, **settings)
                except nc3d.Nc3dError:
                    continue
                tried.append((len(blob), settings, blob))
            fitting = [t for t in tried if t[0] <= r["bytes"]] or sorted(tried, key=lambda t: t[0])[:1]
            if not fitting:
                continue
            size, settings, blob = max(fitting, key=lambda t: t[0])
            try:
                m = compare_meshes(mesh, nc3d.decompress(blob), n_samples=20_000)
            except nc3d.Nc3dError:
                continue
            table[name].append({"mesh": r["mesh"], "bytes": size, "settings": settings, "implicit_bytes": r["bytes"],
                                "cd": m["chamfer_p2s"], "f": m["f_score_0.01"],
                                "implicit_cd": r["chamfer_p2s"], "implicit_f": r["f_score_0.01"]})
    print("| baseline | meshes | median bytes (implicit) | median CD-p2s (implicit) | median F@0.01 (implicit) | implicit better CD on |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, res in table.items():
        if not res:
            continue
        b = np.median([x["bytes"] for x in res]); ib = np.median([x["implicit_bytes"] for x in res])
        cd = np.median([x["cd"] for x in res]); icd = np.median([x["implicit_cd"] for x in res])
        f = np.median([x["f"] for x in res]); i_f = np.median([x["implicit_f"] for x in res])
        wins = sum(x["implicit_cd"] < x["cd"] for x in res)
        print(f"| {name} | {len(res)} | {b:,.0f} ({ib:,.0f}) | {cd:.4f} ({icd:.4f}) | {f:.3f} ({i_f:.3f}) | {wins}/{len(res)} |")
    out = Path(args.implicit_jsonl).with_name("implicit_vs_baselines.jsonl")
    out.write_text("".join(json.dumps(x) + "\n" for res in table.values() for x in res))


if __name__ == "__main__":
    main()
