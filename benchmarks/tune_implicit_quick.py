"""Choose the implicit codec's ``--quick`` ladder setting: decoded quality vs CPU seconds.

Runs ``nc3d bench``'s own row (:func:`nc3d.bench.runner.run_task`: encode, decode at 256³,
DESIGN.md metrics with the quick run's 2·10⁴ samples) for each training setting on a few meshes,
including the five that the old quick setting (10⁵ samples × 8 epochs) decoded to no surface,
and prints one JSON line per row plus the medians per setting.

    PYTHONPATH=src .venv/bin/python benchmarks/tune_implicit_quick.py \\
        --configs '{"samples":100000,"epochs":8}' '{"samples":100000,"epochs":30}'
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nc3d.bench.runner import SAMPLES_QUICK, BenchTask, run_task

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"
MESHES = ("thingi10k/thingi10k_502009.stl", "thingi10k/thingi10k_520644.stl", "thingi10k/thingi10k_65004.stl",
          "thingi10k/thingi10k_72214.stl", "vtk-data/trumpet.obj", "common-3d-test-models/spot.obj",
          "trimesh/fuze.obj", "vtk-data/footbones.ply")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--meshes", default=",".join(MESHES))
    ap.add_argument("--configs", nargs="+", default=['{"samples":100000,"epochs":8}'])
    ap.add_argument("--out", default="out/tune_implicit_quick")
    args = ap.parse_args()
    summary = []
    for config in args.configs:
        setting = json.loads(config)
        rows = []
        for name in args.meshes.split(","):
            task = BenchTask("meshes", "mesh", "implicit", name, setting, (str(Path(args.data) / name),), (),
                             SAMPLES_QUICK, f"files/{name}.nc3d", args.out)
            row = run_task(task)
            rows.append(row)
            print(json.dumps({k: row.get(k) for k in ("setting", "input", "bytes", "cpu_s", "encode_s", "decode_s",
                                                      "chamfer_p2s", "f_score_0.01", "error")}), flush=True)
        ok = [r for r in rows if "error" not in r]
        med = lambda k: float(np.median([r[k] for r in ok])) if ok else None  # noqa: E731
        summary.append({"setting": setting, "ok": f"{len(ok)}/{len(rows)}", "cpu_s": med("cpu_s"),
                        "encode_s": med("encode_s"), "chamfer_p2s": med("chamfer_p2s"),
                        "f_score_0.01": med("f_score_0.01")})
    for s in summary:
        print("SUMMARY", json.dumps(s))


if __name__ == "__main__":
    main()
