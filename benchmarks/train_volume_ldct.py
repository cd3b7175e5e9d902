"""Fit the ``volume`` codec's learned entropy model and dequantizer on a folder of volumes.

Every volume is scaled to [0, 1] and quantized at the steps of the codec's ladder; the (band,
block activity) tables and per-band reconstruction offsets are fitted to those symbols
(:func:`nc3d.codecs.volume.volume_model.fit_model`), for the quantizer ``--tilt`` /
``--dead-zone``, then the deblocking matrices to the decoded volumes
(:func:`~nc3d.codecs.volume.volume_model.fit_deblock`); the recipe is
:func:`benchmarks.common.fit_ldct`. The shipped model
``src/nc3d/data/models/volume-ctx.npz`` (with the parent-context table of format-2 files) is made by

    .venv/bin/python -m benchmarks.train_volume_ldct ../shared/data/volumes \\
        -o src/nc3d/data/models/volume-ctx.npz

(``volume.npz``, the model of format-1 files, was made the same way before the context table.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import fit_ldct, volumes
from nc3d.codecs.volume.volume_model import save_ldct_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="folder of volumes (searched recursively for .npy)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument(
        "--exclude", action="append", default=[], help="volume file stem to leave out (repeatable)"
    )
    ap.add_argument("--tilt", type=float, default=1.0)
    ap.add_argument("--dead-zone", type=float, default=0.15)
    args = ap.parse_args()
    paths = [p for _, p in volumes(Path(args.data)) if Path(p).stem not in args.exclude]
    save_ldct_model(fit_ldct(paths, args.tilt, args.dead_zone), args.output)
    print(f"fitted on {len(paths)} volumes → {args.output}")


if __name__ == "__main__":
    main()
