"""Train the ``volume-conv`` codec's transform network and write it as a model file (.npz).

(The codec was called ``volume`` until 2026-11-22.) Its shipped model
(``src/nc3d/data/models/volume.npz``) was made with

    .venv/bin/python -m benchmarks.train_volume_model ../shared/data/volumes \\
        -o src/nc3d/data/models/volume.npz

``--exclude NAME`` leaves volumes out (the leave-one-out benchmark trains one model per held-out
volume this way).
"""

from __future__ import annotations

import argparse
import json

from nc3d.codecs.volume.volume_conv_model import Architecture
from nc3d.codecs.volume.volume_conv_train import TrainSettings, train_model_file


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="folder of .npy volumes (searched recursively)")
    ap.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    ap.add_argument(
        "--exclude", action="append", default=[], help="leave out volumes whose file stem is this"
    )
    ap.add_argument("--steps", type=int, default=TrainSettings.steps)
    ap.add_argument("--batch", type=int, default=TrainSettings.batch)
    ap.add_argument("--crop", type=int, default=TrainSettings.crop)
    ap.add_argument("--channels", type=int, default=Architecture.channels)
    ap.add_argument("--latent", type=int, default=Architecture.latent)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    settings = TrainSettings(
        steps=args.steps,
        batch=args.batch,
        crop=args.crop,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
    )
    arch = Architecture(channels=args.channels, latent=args.latent)
    result = train_model_file(
        args.data, args.output, exclude=args.exclude, arch=arch, settings=settings, force=True
    )
    log = result.pop("log")
    for step, loss, bpv, psnr in log[:: max(1, len(log) // 12)] + log[-1:]:
        print(f"step {step:5d}  loss {loss:9.3f}  bits/voxel {bpv:.4f}  PSNR {psnr:5.2f} dB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
