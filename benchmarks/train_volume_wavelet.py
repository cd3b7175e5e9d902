"""Fit the ``volume`` codec's wavelet model (format 3: the prior of its adaptive context tables).

Every volume is scaled to [0, 1], transformed (CDF 9/7) and quantized at the steps of the codec's
ladder; the counts of (context row, magnitude) over all of them, with a few synthetic smooth fields
(:func:`benchmarks.common.synthetic_fields`), give the prior (:func:`benchmarks.common.fit_wavelet`).
The shipped model ``src/nc3d/data/models/volume-wavelet.npz`` is made by

    .venv/bin/python -m benchmarks.train_volume_wavelet ../shared/data/volumes \\
        -o src/nc3d/data/models/volume-wavelet.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import fit_wavelet, volumes
from nc3d.codecs.volume.volume_wavelet import wavelet_model_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="folder of volumes with a MANIFEST.tsv")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument(
        "--exclude", action="append", default=[], help="volume file stem to leave out (repeatable)"
    )
    args = ap.parse_args()
    paths = [p for _, p in volumes(Path(args.data)) if Path(p).stem not in args.exclude]
    t0 = time.perf_counter()
    Path(args.output).write_bytes(wavelet_model_bytes(fit_wavelet(paths)))
    print(f"fitted on {len(paths)} volumes in {time.perf_counter() - t0:.0f} s → {args.output}")


if __name__ == "__main__":
    main()
