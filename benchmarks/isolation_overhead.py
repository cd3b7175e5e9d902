"""What decoding ``sperr``/``sz3`` in a bounded child process costs: isolated vs in-process.

    python -m benchmarks.isolation_overhead                  # 64³ and 256³ uint8, both codecs
    python -m benchmarks.isolation_overhead --torch --ballast-mb 2048   # a busy, big caller

For each volume and codec: one file (the codec's default settings), then ``--repeats`` rounds,
each timing, in turn, (1) ``codec.decode`` as shipped — the filter runs in a child process
(:func:`nc3d.sandbox.run_isolated`, ``fork``); (2) the same decode with the child replaced by a
plain call in this process (what decoding cost before the isolation; benchmark only); (3) the
child alone: ``run_isolated`` of a function that does nothing, with the same output size
(fork, limits, wait, and copying the result into the caller). Medians of wall time and of CPU
time (this process and its children: on shared, loaded cores the CPU time is the steadier
figure), and their minima (the least disturbed run); the overhead is (1) − (2). nc3d's codec
registry imports PyTorch, so the caller is a PyTorch process (~0.6 GB of address space);
``--torch`` also runs multi-threaded matrix products first (its thread pools are alive when
the process forks), and ``--ballast-mb`` allocates and touches that much memory first, since a
fork copies the caller's page tables. The table goes to stdout and a JSON line per row is
appended to ``benchmarks/results/synthetic/isolation_overhead.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import time
from functools import partial

import numpy as np

from benchmarks.common import RESULTS

OUT = RESULTS / "synthetic" / "isolation_overhead.jsonl"


def _volume(n: int) -> np.ndarray:
    """An ``n³`` uint8 volume: smooth structure plus a little noise."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32)] * 3, indexing="ij")
    f = np.sin(5 * x) * np.cos(3 * y) + z + 0.05 * np.random.default_rng(0).normal(size=(n,) * 3)
    f = (f - f.min()) / (f.max() - f.min())
    return np.rint(f * 255).astype(np.uint8)


def _in_process(func, args=(), *, shape, dtype, **_):
    """``run_isolated`` without the child: what decoding did before the isolation."""
    out = np.zeros(tuple(shape), np.dtype(dtype))
    func(out, *args)
    return out


def _without_child(codec, blob):
    """``codec.decode(blob)`` with the filter run in this process (as before the isolation)."""
    from nc3d.baselines import hdf5_filters

    real = hdf5_filters.run_isolated
    hdf5_filters.run_isolated = _in_process  # type: ignore[assignment]
    try:
        return codec.decode(blob)
    finally:
        hdf5_filters.run_isolated = real


def _nothing(out) -> None:
    return None


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its reaped children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn) -> tuple[float, float]:
    """(wall s, CPU s of this process and its children) of one call."""
    c, t = _cpu_s(), time.perf_counter()
    fn()
    return time.perf_counter() - t, _cpu_s() - c


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[64, 256])
    p.add_argument("--codecs", nargs="*", default=["sperr", "sz3"])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--torch", action="store_true", help="use PyTorch's thread pools first")
    p.add_argument("--ballast-mb", type=int, default=0, help="touch this much memory first")
    p.add_argument("--results", default=str(OUT))
    a = p.parse_args(argv)

    import nc3d
    from nc3d import sandbox

    ballast = None
    if a.ballast_mb:
        ballast = np.ones(a.ballast_mb << 20, np.uint8)  # touched: resident, in the page tables
    if a.torch:
        import torch

        torch.set_num_threads(max(2, os.cpu_count() or 2))
        m = torch.randn(512, 512)
        for _ in range(20):
            m = torch.tanh(m @ m)
    rows = []
    for n in a.sizes:
        v = _volume(n)
        for name in a.codecs:
            codec = nc3d.get_codec(name)
            blob = codec.encode(v)
            assert np.array_equal(codec.decode(blob), _without_child(codec, blob)), "not the same decode"
            dims = codec._dims(v.shape)
            runs = {
                "isolated": partial(codec.decode, blob),
                "in_process": partial(_without_child, codec, blob),
                "child_alone": partial(
                    sandbox.run_isolated,
                    _nothing,
                    shape=dims,
                    dtype=np.float32,
                    what="nothing",
                    memory=1 << 30,
                    timeout=60,
                ),
            }
            wall: dict[str, list[float]] = {k: [] for k in runs}
            cpu: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(a.repeats):  # interleaved, so that a change in load hits all three
                for k, fn in runs.items():
                    w, c = _timed(fn)
                    wall[k].append(w)
                    cpu[k].append(c)
            med = {f"{k}_ms": 1000 * statistics.median(t) for k, t in wall.items()}
            med |= {f"{k}_cpu_ms": 1000 * statistics.median(t) for k, t in cpu.items()}
            med |= {f"{k}_min_ms": 1000 * min(t) for k, t in wall.items()}
            med |= {f"{k}_cpu_min_ms": 1000 * min(t) for k, t in cpu.items()}
            row = {
                "codec": name,
                "shape": [n] * 3,
                "dtype": "uint8",
                "bytes": len(blob),
                "decoded_mb": math.prod(dims) * 4 / 2**20,
                "repeats": a.repeats,
                "torch": a.torch,
                "ballast_mb": a.ballast_mb,
                **med,
                "overhead_ms": med["isolated_ms"] - med["in_process_ms"],
                "overhead_cpu_ms": med["isolated_cpu_ms"] - med["in_process_cpu_ms"],
                "overhead_min_ms": med["isolated_min_ms"] - med["in_process_min_ms"],
                "overhead_cpu_min_ms": med["isolated_cpu_min_ms"] - med["in_process_cpu_min_ms"],
                "load": os.getloadavg()[0],
            }
            rows.append(row)
            print(
                f"{name:6s} {n:4d}³  wall: isolated {row['isolated_ms']:7.1f} ms, in-process "
                f"{row['in_process_ms']:7.1f} ms, overhead {row['overhead_ms']:+6.1f} ms, child alone "
                f"{row['child_alone_ms']:5.1f} ms | CPU: isolated {row['isolated_cpu_ms']:7.1f} ms, "
                f"in-process {row['in_process_cpu_ms']:7.1f} ms, overhead {row['overhead_cpu_ms']:+6.1f} ms, "
                f"child alone {row['child_alone_cpu_ms']:5.1f} ms | minima: wall overhead "
                f"{row['overhead_min_ms']:+6.1f} ms, CPU overhead {row['overhead_cpu_min_ms']:+6.1f} ms | "
                f"load {row['load']:.1f}",
                flush=True,
            )
    del ballast
    os.makedirs(os.path.dirname(a.results), exist_ok=True)
    with open(a.results, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
