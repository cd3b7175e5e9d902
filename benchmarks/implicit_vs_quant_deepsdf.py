"""The implicit codec against QuantDeepSDF (NeCGS's neural baseline) at equal bytes (issue 16).

``nc3d bench``'s quant-deepsdf ladder stops at width 128, about 2.4 kB per shape, a third of an
implicit file; this runs it wider, so that its bytes per shape (the set file ÷ the number of
shapes) reach the implicit codec's. All 38 shared meshes are one set, as NeCGS does; each shape
is decoded and compared with its original (:func:`nc3d.metrics.compare_meshes`, 10⁵ samples,
as ``bench_implicit``). One JSON line per (width, mesh) in --out; ``--report`` compares with the
implicit codec's rows (``meshes/implicit_defaults.jsonl``).

    .venv/bin/python -m benchmarks.implicit_vs_quant_deepsdf --width 256
    .venv/bin/python -m benchmarks.implicit_vs_quant_deepsdf --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, mesh_paths

OUT = RESULTS / "meshes" / "quant_deepsdf_wide.jsonl"
IMPLICIT = RESULTS / "meshes" / "implicit_defaults.jsonl"


def run(width: int, out: Path) -> None:
    import torch

    torch.set_num_threads(1)  # one core, as the implicit codec's rows
    import nc3d
    from nc3d.io import load_mesh
    from nc3d.metrics import compare_meshes

    paths = mesh_paths()
    meshes = [(f"{p.parent.name}/{p.name}", load_mesh(p)) for p in paths]
    t0 = time.perf_counter()
    blob = nc3d.compress(meshes, codec="quant-deepsdf", width=width)
    seconds = time.perf_counter() - t0
    decoded = nc3d.decompress(blob)
    with out.open("a") as fh:
        for (name, mesh), (_, test) in zip(meshes, decoded):
            m = compare_meshes(mesh, test) if len(test.faces) else {"f_score_0.01": 0.0, "chamfer_p2s": None}
            row = {
                "width": width,
                "mesh": name,
                "bytes_per_shape": len(blob) / len(meshes),
                "set_bytes": len(blob),
                "encode_s": seconds,
                **m,
            }
            fh.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def report(out: Path) -> None:
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    implicit = {json.loads(line)["mesh"]: json.loads(line) for line in IMPLICIT.read_text().splitlines()}
    for width in sorted({r["width"] for r in rows}):
        rs = [r for r in rows if r["width"] == width]
        cd = [r["chamfer_p2s"] for r in rs if r["chamfer_p2s"] is not None]
        wins = sum(
            1 for r in rs if r["chamfer_p2s"] is None or implicit[r["mesh"]]["chamfer_p2s"] < r["chamfer_p2s"]
        )
        print(
            f"quant-deepsdf width {width}: {rs[0]['bytes_per_shape']:,.0f} B per shape "
            f"(implicit median {np.median([r['bytes'] for r in implicit.values()]):,.0f}), "
            f"median CD-p2s {np.median(cd):.4f}, F@0.01 {np.median([r['f_score_0.01'] for r in rs]):.3f}; "
            f"implicit better CD-p2s on {wins} of {len(rs)}; encode {rs[0]['encode_s']:.0f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, action="append", help="quant-deepsdf width(s) to run")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for width in args.width or ():
        run(width, out)
    if out.exists():
        report(out)


if __name__ == "__main__":
    main()
