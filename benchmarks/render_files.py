"""Re-encode the files the renders of an ``nc3d bench`` report read (the encoded files are not in git).

``nc3d report`` draws one input per dataset, each codec at its setting closest to the budget (on
a log scale), from the encoded file its row names; a codec whose file is missing is left out of
the picture (not of the tables and curves). For each input NAME given (its path relative to the
dataset folder), this re-encodes, per codec, the file of exactly that row when it is missing —
the same load and ``codec.encode(data, **setting)`` as ``nc3d bench``. It says when the new file's
size is not the row's ``bytes``: a codec whose floating-point results differ between machines or
library versions (``volume-conv``) then draws a file like the one measured, not that file; the
caption keeps the row's measurements.

Left out, because re-making them means training: imported rows (``implicit``: re-encoded by
``import_results implicit --encode NAME``; ``shapeset``: the kept set files of its runs) and the
set codecs run by ``nc3d bench`` (``quant-deepsdf``: ~10 CPU-minutes for the 38 shapes).

    .venv/bin/python -m benchmarks.render_files benchmarks/report \\
        common-3d-test-models/spot.obj vtk-data/carotid.npy
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import nc3d
from nc3d.api import load_input
from nc3d.bench.report import aggregate, default_budget
from nc3d.bench.runner import RESULTS_NAME, find_source, read_results
from nc3d.files import write_bytes_atomic


def rendered_rows(rows: list[dict], name: str, budget: float) -> list[dict]:
    """Per codec, the row of input ``name`` that the report renders (closest to ``budget``)."""
    picked = []
    for codec in dict.fromkeys(r["codec"] for r in rows):
        cands = [r for r in rows if r["codec"] == codec and r["input"] == name and "error" not in r]
        if cands:
            picked.append(min(cands, key=lambda r: abs(math.log(max(r["bytes"], 1) / budget))))
    return picked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir")
    ap.add_argument(
        "inputs", nargs="+", metavar="NAME", help="an input to render (path relative to its dataset folder)"
    )
    args = ap.parse_args()
    out = Path(args.results_dir)
    rows = read_results(out / RESULTS_NAME)
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ds_rows = [r for r in rows if r["dataset"] == dataset]
        budget = default_budget(aggregate(ds_rows))
        for name in (n for n in args.inputs if any(r["input"] == n for r in ds_rows)):
            for r in rendered_rows(ds_rows, name, budget):
                what = f"{dataset}/{r['codec']} {r['setting_key']} {name}"
                if not r.get("file") or (out / r["file"]).is_file():
                    continue
                if r.get("imported_from") or r.get("n_shapes"):
                    print(f"{what}: not re-encoded (an imported or set codec's file)")
                    continue
                source = find_source(r, out)
                if source is None:
                    print(f"{what}: the input is not where {out}/inputs.json says")
                    continue
                blob = nc3d.get_codec(r["codec"]).encode(load_input(source).data, **r["setting"])
                (out / r["file"]).parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(out / r["file"], blob, force=True)
                same = "as measured" if len(blob) == r["bytes"] else f"the row measured {r['bytes']:,}"
                print(f"{what}: {r['file']} ({len(blob):,} bytes, {same})")


if __name__ == "__main__":
    main()
