"""Middle slices of volumes decoded by ``volume``, SPERR and SZ3 at the same bytes: to look at.

For each volume: ``volume`` at ``--psnr`` (its ``target_psnr``), then SPERR (rate mode, bits per
value) and SZ3 (absolute error bound) searched by bisection for the file closest to the same
bytes without going over; one PNG per volume, rows original / volume / SPERR / SZ3, each caption
with bytes and PSNR (data range), gray window of the original:

    python -m benchmarks.volume_slices [--psnr 35] [--names hydrogen carotid ...]

Writes ``benchmarks/results/volumes/slices/<volume>-<psnr>dB.png``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, volumes, volumes_dir

OUT = RESULTS / "volumes" / "slices"


def at_bytes(codec, volume, key: str, lo: float, hi: float, budget: int, fixed: dict, steps: int = 14):
    """The file of ``codec`` whose size is the largest ≤ ``budget`` over ``key`` in [lo, hi]
    (bisection in log scale; ``lo`` is the end that gives the smaller file)."""
    best = None
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        blob = codec.encode(volume, **fixed, **{key: mid})
        if len(blob) <= budget:
            best, lo = blob, mid
        else:
            hi = mid
    return best if best is not None else codec.encode(volume, **fixed, **{key: lo})


def main() -> None:
    import nc3d
    from nc3d.codecs import get_codec
    from nc3d.metrics.volume import psnr
    from nc3d.render.image import save_png
    from nc3d.render.volume import render_volume_slices

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--psnr", type=float, default=35.0, help="the volume codec's target PSNR (dB)")
    ap.add_argument("--names", nargs="*", default=None, help="volume file stems (default: all)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, path in volumes(volumes_dir()):
        if args.names and Path(path).stem not in args.names:
            continue
        v = np.load(path)
        ours = get_codec("volume").encode(v, target_psnr=args.psnr)
        sperr = at_bytes(get_codec("sperr"), v, "rate", 1e-3, 16.0, len(ours), {"mode": "rate"})
        sz3 = at_bytes(get_codec("sz3"), v, "tolerance", 0.5, 1e-6, len(ours), {})  # of the range
        rows, labels = [], ["original"]
        for label, blob in (("volume", ours), ("SPERR", sperr), ("SZ3", sz3)):
            out = nc3d.decompress(blob)
            rows.append(out)
            labels.append(f"{label} {len(blob):,} B {psnr(v, out):.1f} dB")
        image = render_volume_slices(v, rows, size=300, labels=labels)
        target = OUT / f"{Path(path).stem}-{args.psnr:g}dB.png"
        save_png(target, image, force=True)
        print(f"{name}: " + "; ".join(labels[1:]) + f" → {target}")


if __name__ == "__main__":
    main()
