"""Volume baselines (dct, zfp, volume-zlib, volume-lzma) on every shared volume (``$NC3D_DATA/volumes``).

For each volume (the ``.npy`` of each MANIFEST row) and each codec's full ladder: compression
ratio against the raw bytes at the input dtype, PSNR over the data range, MSE on [0, 1]-scaled
data, encode and decode seconds, and for the block codec the mean absolute jump of the error
across block faces vs interior faces. Then DCT encode/decode timing on a 256³ uint8 volume: the
1 mm MNI template (197 × 233 × 189) cropped/zero-padded to 256³, median of 3 runs.

    .venv/bin/python -m benchmarks.bench_volume_baselines            # runs, writes --out
    .venv/bin/python -m benchmarks.bench_volume_baselines --summary  # tables from --out
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import nc3d
from benchmarks.common import BIG, RESULTS, db_cell, psnr_at, to_256, volumes, volumes_dir
from nc3d.blocks import seam_jump
from nc3d.codecs.base import get_codec
from nc3d.io import load_volume
from nc3d.metrics.volume import compare_volumes

OUT = RESULTS / "volumes" / "baselines_rate_distortion.jsonl"
CODECS = ("dct", "zfp", "volume-zlib", "volume-lzma")


def measure(codec, volume: np.ndarray, settings: dict) -> dict:
    t0 = time.perf_counter()
    blob = codec.encode(volume, **settings)
    t1 = time.perf_counter()
    out = nc3d.decompress(blob)
    t2 = time.perf_counter()
    lo, hi = float(volume.min()), float(volume.max())
    m = compare_volumes(volume, out)
    row = {
        "codec": codec.name,
        "settings": settings,
        "bytes": len(blob),
        "ratio": volume.nbytes / len(blob),
        "psnr": m["psnr"],
        "mse01": m["mse"] / (hi - lo) ** 2,
        "encode_s": t1 - t0,
        "decode_s": t2 - t1,
    }
    if codec.name == "dct":
        row["seam_block"], row["seam_interior"] = seam_jump(out, 8, reference=volume)
    return row


def run(args) -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, path in volumes(Path(args.data)):
        v = load_volume(path)
        for cname in args.codecs.split(","):
            codec = get_codec(cname)
            for settings in codec.preset("quick" if args.quick else "default"):
                row = {"volume": name, "shape": list(v.shape), "dtype": v.dtype.name} | measure(
                    codec, v, settings
                )
                rows.append(row)
                print(
                    f"{name:<62}{cname:<12}{json.dumps(settings):<42}"
                    f"{row['ratio']:>9.1f}×{row['psnr']:>8.2f} dB"
                    f"{row['encode_s']:>8.2f} s{row['decode_s']:>7.2f} s",
                    flush=True,
                )
    big = to_256(load_volume(Path(args.data) / BIG))
    dct = get_codec("dct")
    for step in (0.02, 0.04, 0.08):
        runs = [measure(dct, big, {"step": step}) for _ in range(3)]
        row = {"volume": f"{BIG} → 256³", "shape": [256] * 3, "dtype": "uint8", "timing": True} | runs[0]
        row["encode_s"] = statistics.median(r["encode_s"] for r in runs)
        row["decode_s"] = statistics.median(r["decode_s"] for r in runs)
        rows.append(row)
        print(
            f"256³ dct step {step}: {row['ratio']:.1f}× {row['psnr']:.2f} dB, "
            f"encode {row['encode_s']:.2f} s, "
            f"decode {row['decode_s']:.2f} s (median of 3)",
            flush=True,
        )
    with open(args.out, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    print(f"wrote {args.out}")


def summary(args) -> None:
    rows = [json.loads(line) for line in open(args.out)]
    names = list(dict.fromkeys(r["volume"] for r in rows if not r.get("timing")))
    print(
        "| volume | shape, dtype | zlib | lzma | DCT @20× | DCT @50× | DCT @100× "
        "| ZFP-acc @20× | ZFP-rate @20× |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        mine = [r for r in rows if r["volume"] == n]

        def curve(codec, mode=None, mine=mine):
            return [
                (r["ratio"], r["psnr"])
                for r in mine
                if r["codec"] == codec and (mode is None or r["settings"].get("mode") == mode)
            ]

        lossless = {r["codec"]: r["ratio"] for r in mine if r["codec"].startswith("volume-")}
        cells = [db_cell(psnr_at(curve("dct"), x)) for x in (20, 50, 100)]
        cells += [db_cell(psnr_at(curve("zfp", m), 20)) for m in ("accuracy", "rate")]
        shape = "×".join(map(str, mine[0]["shape"]))
        print(
            f"| {n.split('/')[-1]} | {shape} {mine[0]['dtype']} | "
            f"{lossless.get('volume-zlib', math.nan):.2f}× "
            f"| {lossless.get('volume-lzma', math.nan):.2f}× | " + " | ".join(cells) + " |"
        )
    print("\n| 256³ uint8 (MNI 1 mm, padded) | ratio | PSNR | encode s | decode s |\n|---|---|---|---|---|")
    for r in rows:
        if r.get("timing"):
            print(
                f"| dct step {r['settings']['step']} | {r['ratio']:.1f}× | {r['psnr']:.2f} dB "
                f"| {r['encode_s']:.2f} | {r['decode_s']:.2f} |"
            )
    dct = [r for r in rows if r["codec"] == "dct" and not r.get("timing") and r["settings"]["step"] == 0.02]
    print("\nDCT step 0.02, error jump across block faces vs interior faces (seams, no margin):")
    for r in dct:
        print(f"  {r['volume'].split('/')[-1]}: {r['seam_block']:.3g} vs {r['seam_interior']:.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(volumes_dir()))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--quick", action="store_true", help="each codec's short ladder")
    ap.add_argument("--summary", action="store_true", help="print the tables from --out, run nothing")
    args = ap.parse_args()
    summary(args) if args.summary else run(args)


if __name__ == "__main__":
    main()
