"""Fit the ``volume`` codec's learned entropy model and dequantizer on a folder of volumes.

Every volume is scaled to [0, 1] and quantized at the steps of the codec's ladder; the (band,
block activity) tables and per-band reconstruction offsets are fitted to those symbols
(:func:`nc3d.codecs.volume.ldct.fit_model`), for the quantizer ``--tilt`` / ``--dead-zone``, then
the deblocking matrices to the decoded volumes (:func:`~nc3d.codecs.volume.ldct.fit_deblock`).
The shipped model ``src/nc3d/data/models/volume-ldct.npz`` is made by

    PYTHONPATH=src python benchmarks/train_volume_ldct.py ../shared/data/volumes -o src/nc3d/data/models/volume-ldct.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_volume_baselines import volumes  # noqa: E402

from nc3d.codecs.volume.ldct import fit_deblock, fit_model, quality_step, save_ldct_model  # noqa: E402
from nc3d.io import load_volume  # noqa: E402
from nc3d.volume import normalized  # noqa: E402

#: Largest edge of a training volume: bigger ones are cropped around their centre (fitting cost).
FIT_EDGE = 96
#: Qualities the model is fitted at (every other ladder level: steps 2.56 .. 0.00016).
FIT_QUALITIES = tuple(range(0, 29, 2))


def fit_on(paths, tilt: float, dead_zone: float) -> dict:
    """Model fitted on the volumes at ``paths`` at every quality of :data:`FIT_QUALITIES`."""
    scaled = []
    for p in paths:
        v = load_volume(p)
        lo, hi = float(v.min()), float(v.max())
        if hi > lo:
            box = tuple(slice(max(0, (s - FIT_EDGE) // 2), max(0, (s - FIT_EDGE) // 2) + FIT_EDGE) for s in v.shape)
            scaled.append(normalized(v, lo, hi)[box])
    model = fit_model(((x, quality_step(q)) for x in scaled for q in FIT_QUALITIES), tilt=tilt, dead_zone=dead_zone)
    model["deblock"] = fit_deblock(model, scaled, FIT_QUALITIES)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="folder of volumes (searched recursively for .npy)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--exclude", action="append", default=[], help="volume file stem to leave out (repeatable)")
    ap.add_argument("--tilt", type=float, default=1.0)
    ap.add_argument("--dead-zone", type=float, default=0.15)
    args = ap.parse_args()
    paths = [p for _, p in volumes(Path(args.data)) if Path(p).stem not in args.exclude]
    save_ldct_model(fit_on(paths, args.tilt, args.dead_zone), args.output)
    print(f"fitted on {len(paths)} volumes → {args.output}")


if __name__ == "__main__":
    main()
