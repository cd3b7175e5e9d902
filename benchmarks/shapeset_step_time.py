"""Time of one shapeset training step on the CPU (issue 7), optionally with a torch profile.

Eight synthetic 64³ volumes (spheres of different radii; the step's cost does not depend on
the shapes), the codec's default training settings (width 16 with 16-channel fine levels, batch
4 × 16³ crops), QAT on from the first step so every step pays for it. Prints the median and mean
wall time per step after two warm-up steps. Under ``torchrun --standalone --nproc-per-node N``
each process prints its own (data-parallel training: N × batch crops per step).

    .venv/bin/python -m benchmarks.shapeset_step_time --threads 1 --steps 300
    .venv/bin/python -m benchmarks.shapeset_step_time --threads 1 --steps 20 --profile
    .venv/bin/torchrun --standalone --nproc-per-node 2 -m benchmarks.shapeset_step_time --steps 300
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def sphere_volumes(k: int = 64, count: int = 8) -> np.ndarray:
    """``(count, 4, k, k, k)`` float32 TSDF volumes of centred spheres, no deformation."""
    g = np.linspace(-1, 1, k, dtype=np.float32)
    r = np.sqrt(sum(a * a for a in np.meshgrid(g, g, g, indexing="ij")))
    vols = np.zeros((count, 4, k, k, k), np.float32)
    for i, radius in enumerate(np.linspace(0.3, 0.8, count)):
        vols[i, 0] = np.clip((r - radius) / (2 * 2 / (k - 1)), -1, 1)
    return vols


def main() -> None:
    import torch

    from nc3d.codecs.shapeset.model import Architecture
    from nc3d.codecs.shapeset.train import TrainSettings, train_auto_decoder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--width", type=int, default=Architecture.width)
    ap.add_argument("--min-width", type=int, default=Architecture.min_width)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--crop", type=int, default=16)
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's table of the run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = TrainSettings(
        steps=args.steps,
        threads=args.threads,
        device="cpu",
        qat_start=0.0,
        batch_size=args.batch_size,
        crop=args.crop,
    )
    arch = Architecture(resolution=64, width=args.width, min_width=args.min_width)
    stamps = [time.perf_counter()]

    def run():
        return train_auto_decoder(
            sphere_volumes(),
            arch,
            settings,
            on_step=lambda *_: stamps.append(time.perf_counter()),
        )

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    else:
        run()
    per_step = np.diff(stamps)[2:]
    from nc3d.nn import ddp

    rank, processes = ddp.world()
    print(
        f"process {rank + 1}/{processes}, width {arch.widths()}, threads {args.threads}: "
        f"per step median {np.median(per_step) * 1e3:.0f} ms, "
        f"mean {per_step.mean() * 1e3:.0f} ms over {len(per_step)} steps"
    )


if __name__ == "__main__":
    main()
