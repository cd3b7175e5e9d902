"""Bevec (2023) reproduced: the paper's dense block VAE variants, scored leave-one-out.

For every shared volume (``$NC3D_DATA/volumes``) and every variant of the paper's Table 1, train
on the other eight volumes, encode the held-out one (float32 latents: 4× against uint8 for 32
latents per 8³ block, 2× for 64) and report the whole-volume MSE on [0, 1] data, for margin
blending and cropping, and the seam measure (mean |jump| across block faces vs inside blocks,
on the error). Results go to ``benchmarks/results/volumes/bevec_loo.jsonl``.

    .venv/bin/python -m benchmarks.bench_bevec [--epochs 1] [--variants 8-0-128-32 ...]

The shipped model of the ``bevec`` codec (8-0-128-32, all nine volumes, 2 epochs) comes from

    .venv/bin/python -m benchmarks.bench_bevec --ship src/nc3d/data/models/bevec-8-0-128-32.npz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, volumes_dir
from nc3d.blocks import seam_jump
from nc3d.codecs.volume.bevec import VARIANTS, decode_blocks, encode_blocks, save_bevec, train_bevec
from nc3d.codecs.volume.volume_conv_train import normalize_volume
from nc3d.io import load_volume


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(volumes_dir()))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--pca-init", choices=("yes", "no"), default="yes")
    ap.add_argument("--out", default=str(RESULTS / "volumes" / "bevec_loo.jsonl"))
    ap.add_argument(
        "--ship", metavar="MODEL", help="instead: train 8-0-128-32 on all volumes and save it here"
    )
    args = ap.parse_args(argv)

    files = sorted(Path(args.data).rglob("*.npy"))
    vols = [normalize_volume(load_volume(f)) for f in files]
    if args.ship:
        net, mse = train_bevec(vols, VARIANTS["8-0-128-32"], epochs=2)
        save_bevec(net, args.ship)
        print(json.dumps({"model": args.ship, "train_mse": mse, "bytes": Path(args.ship).stat().st_size}))
        return
    rows = []
    for name in args.variants:
        arch = VARIANTS[name]
        for i, f in enumerate(files):
            t0 = time.perf_counter()
            net, _ = train_bevec(
                [v for j, v in enumerate(vols) if j != i],
                arch,
                epochs=args.epochs,
                pca_init=args.pca_init == "yes",
            )
            train_s = time.perf_counter() - t0
            v = vols[i]
            lat = encode_blocks(net, v)
            # float32 latents per block vs the raw bytes at uint8 (the paper's 4× / 2×)
            ratio = (arch.block**3) / (4 * arch.latent)
            row = {
                "variant": name,
                "volume": f.stem,
                "shape": list(v.shape),
                "ratio_vs_uint8": ratio,
                "latent_bytes": int(lat.nbytes),
                "epochs": args.epochs,
                "pca_init": args.pca_init,
                "train_s": round(train_s, 1),
            }
            for blend in ("linear", "crop") if arch.margin else ("crop",):
                x = decode_blocks(net, lat, v.shape, blend)
                seam, interior = seam_jump(x, arch.block, reference=v)
                row[f"mse_{blend}"] = float(np.mean((x.astype(np.float64) - v) ** 2))
                row[f"seam_{blend}"] = [round(seam, 5), round(interior, 5)]
            rows.append(row)
            print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print("\n| variant | " + " | ".join(f.stem[:12] for f in files) + " | mean |")
    print("|---|" + "---|" * (len(files) + 1))
    for name in args.variants:
        for blend in ("linear", "crop"):
            vals = [r.get(f"mse_{blend}") for r in rows if r["variant"] == name]
            if None in vals:
                continue
            print(f"| {name} {blend} | " + " | ".join(f"{v:.5f}" for v in vals) + f" | {np.mean(vals):.5f} |")


if __name__ == "__main__":
    main()
