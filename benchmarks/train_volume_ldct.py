"""Fit the ``volume`` codec's shipped model on a folder of volumes: the wavelet prior (format 3, the
default) or the 8³ DCT tables (formats 1–2, ``--format 2``).

Format 3: every volume is scaled to [0, 1], transformed (CDF 9/7) and quantized at the steps of
the codec's ladder; the counts of (context row, magnitude) over all of them, with a few synthetic
smooth fields (:func:`benchmarks.common.synthetic_fields`), give the prior of the adaptive tables
(:func:`benchmarks.common.fit_wavelet`). The shipped ``src/nc3d/data/models/volume-wavelet.npz``:

    .venv/bin/python -m benchmarks.train_volume_ldct ../shared/data/volumes \\
        -o src/nc3d/data/models/volume-wavelet.npz

Format 2: the (band, block activity, parents) tables and per-band reconstruction offsets
(:func:`nc3d.codecs.volume.volume_model.fit_model`) for the quantizer ``--tilt`` / ``--dead-zone``,
then the deblocking matrices (:func:`~nc3d.codecs.volume.volume_model.fit_deblock`); the recipe is
:func:`benchmarks.common.fit_ldct`. The shipped ``volume-ctx.npz`` (``volume.npz``, the model of
format-1 files, was made the same way before the context table):

    .venv/bin/python -m benchmarks.train_volume_ldct ../shared/data/volumes --format 2 \\
        -o src/nc3d/data/models/volume-ctx.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import fit_ldct, fit_wavelet, volumes
from nc3d.codecs.volume.volume_model import save_ldct_model
from nc3d.codecs.volume.volume_wavelet import wavelet_model_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="folder of volumes with a MANIFEST.tsv")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--format", type=int, choices=(2, 3), default=3, help="3: wavelet prior; 2: DCT tables")
    ap.add_argument("--exclude", action="append", default=[], help="a volume file stem to leave out")
    ap.add_argument("--tilt", type=float, default=1.0, help="format 2 only")
    ap.add_argument("--dead-zone", type=float, default=0.15, help="format 2 only")
    args = ap.parse_args()
    paths = [p for _, p in volumes(Path(args.data)) if Path(p).stem not in args.exclude]
    t0 = time.perf_counter()
    if args.format == 3:
        Path(args.output).write_bytes(wavelet_model_bytes(fit_wavelet(paths)))
    else:
        save_ldct_model(fit_ldct(paths, args.tilt, args.dead_zone), args.output)
    print(f"fitted on {len(paths)} volumes in {time.perf_counter() - t0:.0f} s → {args.output}")


if __name__ == "__main__":
    main()
