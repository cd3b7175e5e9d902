"""A volume larger than a worker's share of memory, compressed and decoded chunk by chunk through
Zarr and Dask (issue 18): throughput with 1 and 2 local worker processes, peak memory, ratio, PSNR.

The volume (default 1024³ uint8 = 1 GiB) is synthetic but made of a real scan: the 1 mm MNI T1
template (197×233×189, the largest shared volume) tiled with mirrored copies (no seams), each
tile with its own intensity gain (0.9–1.1), under a smooth multiplicative bias field (±8 %, as
MR coils give) and Gaussian noise (σ = 1.5 grey levels), rounded to uint8. It is written slab by
slab into a temporary ``.npy`` (never held whole; ``--tmp``, removed at the end), compressed into
a Zarr store of 128³ chunks with the ``volume`` codec (``nc3d.chunked.compress_to_zarr``) in
this process (Dask's synchronous scheduler: the baseline), then by a local Dask cluster of 1,
then 2 worker processes (each started and warmed up first, timed apart), and decoded back into
``.npy`` the same three ways. PSNR is accumulated slab by slab over the data range of the source.

Memory: a thread samples every 0.1 s the resident set of this process and all its descendants
(scheduler, nannies, workers; psutil) and keeps, per phase, the peak of their sum (pages shared
between processes count once per process: an over-estimate) and the peak of the largest single
process; ``ru_maxrss`` of this process and of its reaped children are reported too.

    nice -n 10 .venv/bin/python -m benchmarks.volume_zarr      # 1 GiB, ~15-30 min on 2 shared cores
    nice -n 10 .venv/bin/python -m benchmarks.volume_zarr --edge 256 --no-save   # a quick check
    .venv/bin/python -m benchmarks.volume_zarr --render [--remark TEXT]   # zarr.md again from zarr.json

Results: ``benchmarks/results/volumes/zarr.json`` and ``zarr.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import BIG, RESULTS, volumes_dir

OUT_JSON = RESULTS / "volumes" / "zarr.json"
OUT_MD = RESULTS / "volumes" / "zarr.md"
MIB = 1 << 20


# -- the synthetic volume -------------------------------------------------------------------------
def _mirror(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index (mirrored tiling of a length-``size`` axis) and tile number of 0..n-1."""
    i = np.arange(n)
    t = i % (2 * size)
    return np.where(t < size, t, 2 * size - 1 - t), i // size


def write_source(path: Path, edge: int, seed: int = 0, slab: int = 16) -> dict:
    """Write the ``edge³`` uint8 volume to ``path`` (``.npy``) slab by slab; its min and max."""
    template = np.load(volumes_dir() / BIG).astype(np.float32)
    maps = [_mirror(edge, s) for s in template.shape]
    tiles = [int(m[1].max()) + 1 for m in maps]
    gain = np.random.default_rng(seed).uniform(0.9, 1.1, size=tiles).astype(np.float32)
    g = [np.arange(edge, dtype=np.float32) / edge for _ in range(3)]
    bias_yx = np.cos(2 * np.pi * (0.7 * g[1][:, None] + 0.4 * g[2][None, :]))  # (y, x)
    lo, hi = 255, 0
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|u1", "fortran_order": False, "shape": (edge,) * 3}
        )
        for z0 in range(0, edge, slab):
            zs = slice(z0, min(edge, z0 + slab))
            v = template[np.ix_(maps[0][0][zs], maps[1][0], maps[2][0])]
            v *= gain[np.ix_(maps[0][1][zs], maps[1][1], maps[2][1])]
            v *= 1 + 0.08 * np.sin(2 * np.pi * 1.3 * g[0][zs])[:, None, None] * bias_yx
            v += np.random.default_rng([seed, z0]).normal(0, 1.5, v.shape).astype(np.float32)
            out = np.clip(np.rint(v), 0, 255).astype(np.uint8)
            lo, hi = min(lo, int(out.min())), max(hi, int(out.max()))
            fh.write(out.tobytes())
    return {"min": lo, "max": hi}


def _slabs(path: Path, edge: int, slab: int = 16):
    """The ``.npy`` volume's z-slabs, read with plain file reads (no memory map)."""
    offset = path.stat().st_size - edge**3
    with open(path, "rb") as fh:
        fh.seek(offset)
        for _ in range(0, edge, slab):
            yield np.frombuffer(fh.read(slab * edge * edge), np.uint8)


def psnr(a: Path, b: Path, edge: int, data_range: float) -> tuple[float, float]:
    """(PSNR dB over ``data_range``, max abs error) of two ``.npy`` volumes, slab by slab."""
    sse, worst = 0.0, 0
    for x, y in zip(_slabs(a, edge), _slabs(b, edge)):
        d = x.astype(np.int16) - y.astype(np.int16)
        sse += float(np.square(d, dtype=np.int32).sum(dtype=np.int64))
        worst = max(worst, int(np.abs(d).max()))
    mse = sse / edge**3
    return (math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)), worst


def _generate(path: Path, edge: int) -> dict:
    """:func:`write_source` in a child process, so that its memory is not left in this one's."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(write_source, (path, edge))


def same_volume(a: Path, b: Path, edge: int) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(_slabs(a, edge), _slabs(b, edge)))


# -- memory ---------------------------------------------------------------------------------------
class TreeRSS:
    """Peak resident memory and CPU time of this process and its descendants while the block runs.

    Sampled with psutil every ``interval`` seconds: the peak of the sum over all processes, of this
    (the driver's) process, of the sum over the others (scheduler, nannies, workers) and of the
    largest other; CPU seconds (user + system) used by all of them during the block.
    """

    def __init__(self, interval: float = 0.1):
        import psutil

        self._psutil = psutil
        self._interval = interval
        self._me = psutil.Process()
        self.peaks = {"tree": 0, "driver": 0, "others": 0, "largest_other": 0, "processes": 0}
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}

    def _processes(self):
        return [self._me, *self._me.children(recursive=True)]

    def _sample(self) -> None:
        driver, others = 0, []
        for p in self._processes():
            try:
                with p.oneshot():
                    rss = p.memory_info().rss
                    t = p.cpu_times()
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
            self._cpu_last[p.pid] = t.user + t.system
            if p.pid == self._me.pid:
                driver = rss
            else:
                others.append(rss)
        now = {
            "tree": driver + sum(others),
            "driver": driver,
            "others": sum(others),
            "largest_other": max(others, default=0),
            "processes": 1 + len(others),
        }
        self.peaks = {k: max(v, now[k]) for k, v in self.peaks.items()}

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def __enter__(self):
        self._sample()
        self._cpu_start = dict(self._cpu_last)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        return False

    def figures(self) -> dict:
        cpu = sum(t - self._cpu_start.get(pid, 0.0) for pid, t in self._cpu_last.items())
        return {
            "peak_rss_tree_mib": round(self.peaks["tree"] / MIB, 1),
            "peak_rss_driver_mib": round(self.peaks["driver"] / MIB, 1),
            "peak_rss_others_mib": round(self.peaks["others"] / MIB, 1),
            "peak_rss_largest_other_mib": round(self.peaks["largest_other"] / MIB, 1),
            "processes": self.peaks["processes"],
            "cpu_seconds": round(cpu, 1),
        }


def _phase(name: str, fn, nbytes: int) -> tuple[dict, dict]:
    import psutil

    before = psutil.Process().memory_info().rss
    with TreeRSS() as mem:
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
    row = {
        "phase": name,
        "seconds": round(seconds, 2),
        "mb_per_s": round(nbytes / 1e6 / seconds, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    row |= mem.figures() | {"rss_driver_before_mib": round(before / MIB, 1)}
    print(json.dumps(row), flush=True)
    return row, result


# -- the run --------------------------------------------------------------------------------------
def _label(n: int) -> str:
    return "in this process (synchronous)" if n == 0 else f"{n} worker{'s' * (n > 1)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--edge", type=int, default=1024, help="volume edge in voxels (default 1024: 1 GiB uint8)"
    )
    ap.add_argument("--chunks", type=int, default=128, help="chunk edge (default 128)")
    ap.add_argument("--quality", type=float, default=14.0, help="the volume codec's quality (default 14)")
    ap.add_argument(
        "--workers",
        default="1,2,0",
        help="local worker processes to time, in this order; 0: this process (default 1,2,0: the driver "
        "process stays lean for the clusters)",
    )
    ap.add_argument("--tmp", default=None, help="folder for the temporary files (default: the system's)")
    ap.add_argument("--no-save", action="store_true", help="print only; do not write the results files")
    ap.add_argument(
        "--render", action="store_true", help="only rewrite zarr.md from zarr.json (with --remark, if given)"
    )
    ap.add_argument(
        "--remark", default=None, help="with --render: a paragraph added to zarr.json and zarr.md"
    )
    args = ap.parse_args()
    if args.render:
        summary = json.loads(OUT_JSON.read_text())
        if args.remark:
            summary["remark"] = args.remark
            OUT_JSON.write_text(json.dumps(summary, indent=1) + "\n")
        OUT_MD.write_text(markdown(summary))
        print(f"wrote {OUT_MD}")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still removes the temporary files

    from nc3d.bench.machine import machine_info
    from nc3d.chunked import compress_to_zarr, decompress_zarr, local_cluster
    from nc3d.chunked.numcodec import VolumeNumcodec

    edge, nbytes = args.edge, args.edge**3
    workers = [int(w) for w in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="nc3d-zarr-bench-", dir=args.tmp))
    need = 3 * nbytes + nbytes // 2  # the source, two decoded copies at a time, the stores
    free = shutil.disk_usage(tmp).free
    if free < need:
        shutil.rmtree(tmp)
        raise SystemExit(f"{tmp}: {free / 2**30:.1f} GiB free, the run needs {need / 2**30:.1f} GiB")
    warm_chunk = np.zeros((16, 16, 16), np.uint8) + np.arange(16, dtype=np.uint8)
    numcodec = VolumeNumcodec(quality=args.quality)
    rows: list[dict] = []
    try:
        src = tmp / "source.npy"
        row, stats = _phase("generate the source (a child process)", lambda: _generate(src, edge), nbytes)
        rows.append(row)
        stores: dict[int, tuple[Path, dict]] = {}
        first_decode: Path | None = None
        identical, decodes_agree = True, True
        for n in workers:
            cluster = client = None
            if n == 0:
                numcodec.encode(warm_chunk)  # imports and the model, as the workers' warm-up does
                scheduler: object = "synchronous"
            else:
                t0 = time.perf_counter()
                cluster = local_cluster(n)  # as compress_to_zarr(..., jobs=n) starts it
                client = cluster.__enter__()
                client.run(numcodec.encode, warm_chunk)  # every worker imports nc3d and loads the model
                row = {
                    "phase": f"start a local cluster, {_label(n)}",
                    "seconds": round(time.perf_counter() - t0, 2),
                }
                print(json.dumps(row), flush=True)
                rows.append(row | {"workers": n})
                scheduler = client
            try:
                store = tmp / f"w{n}.zarr"
                row, res = _phase(
                    f"compress, {_label(n)}",
                    lambda store=store, scheduler=scheduler: compress_to_zarr(
                        src, store, chunks=(args.chunks,) * 3, scheduler=scheduler, quality=args.quality
                    ),
                    nbytes,
                )
                rows.append(row | {"workers": n, "output_bytes": res["output_bytes"]})
                stores[n] = (store, res)
                out = tmp / f"decoded_w{n}.npy"
                row, _ = _phase(
                    f"decode, {_label(n)}",
                    lambda out=out, store=store, scheduler=scheduler: decompress_zarr(
                        store, out, scheduler=scheduler
                    ),
                    nbytes,
                )
                rows.append(row | {"workers": n})
            finally:
                if cluster is not None:
                    cluster.__exit__(None, None, None)
            base = stores[workers[0]][0]
            identical &= all(
                (base / f.relative_to(store)).read_bytes() == f.read_bytes()
                for f in store.rglob("*")
                if f.is_file()
            )
            if first_decode is None:
                first_decode = out
            else:
                decodes_agree &= same_volume(first_decode, out, edge)
                out.unlink()
        value, worst = psnr(src, first_decode, edge, float(stats["max"] - stats["min"]))
        speedup = {}
        for what in ("compress", "decode"):
            secs = {
                r["workers"]: r["seconds"] for r in rows if r["phase"].startswith(what) and "workers" in r
            }
            if 1 in secs and 2 in secs:
                speedup[f"{what}_2_workers_vs_1"] = round(secs[1] / secs[2], 2)
        res = stores[workers[0]][1]
        summary = {
            "volume": {
                "shape": [edge] * 3,
                "dtype": "uint8",
                "bytes": nbytes,
                "made_of": f"{BIG} tiled (mirrored), per-tile gain 0.9-1.1, bias field ±8 %, noise σ 1.5",
                "range": [stats["min"], stats["max"]],
            },
            "codec": "volume",
            "quality": args.quality,
            "chunks": [args.chunks] * 3,
            "chunk_count": res["chunk_count"],
            "output_bytes": res["output_bytes"],
            "ratio": round(nbytes / res["output_bytes"], 2),
            "psnr_db": round(value, 2),
            "max_abs_error": worst,
            "speedup": speedup,
            "stores_identical_across_runs": identical,
            "decodes_identical_across_runs": decodes_agree,
            "ru_maxrss_self_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "ru_maxrss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "phases": rows,
            "machine": machine_info(),
            "note": "timings on 2 CPU cores shared with other jobs, under nice: indicative only",
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("phases", "machine")}, indent=1))
    if not args.no_save:
        OUT_JSON.write_text(json.dumps(summary, indent=1) + "\n")
        OUT_MD.write_text(markdown(summary))
        print(f"wrote {OUT_JSON} and {OUT_MD}")


def markdown(s: dict) -> str:
    v = s["volume"]
    lines = [
        "# A 1 GiB volume through Zarr + Dask, chunk by chunk",
        "",
        "`nice -n 10 .venv/bin/python -m benchmarks.volume_zarr` "
        f"({s['machine']['date']}, nc3d {s['machine']['nc3d_commit']}).",
        "",
        f"Volume: {'×'.join(map(str, v['shape']))} {v['dtype']} ({v['bytes'] / 2**30:.2f} GiB), "
        f"{v['made_of']}; values {v['range'][0]}–{v['range'][1]}. Codec `{s['codec']}` at quality "
        f"{s['quality']:g}, chunks {'×'.join(map(str, s['chunks']))} ({s['chunk_count']} chunks, each a "
        f".nc3d file), Zarr 3 codec `nc3d.volume`.",
        "",
        f"- **Ratio {s['ratio']:.2f}×** ({s['output_bytes']:,} bytes for the store), "
        f"**PSNR {s['psnr_db']:.2f} dB** over the data range (max abs error {s['max_abs_error']}).",
        "- Wall-time speed-up of 2 workers over 1: "
        + (", ".join(f"{k.split('_')[0]} {v:.2f}×" for k, v in s["speedup"].items()) or "not measured")
        + " (same run, 2 shared cores).",
        f"- Stores written in this process and by 1 and 2 workers byte-identical: "
        f"{s['stores_identical_across_runs']}; decodes identical: {s['decodes_identical_across_runs']}.",
        "",
        "| phase | seconds | MB/s | CPU s | MB per CPU s | load after | peak RSS, all processes (MiB) "
        "| driver: at start → peak (MiB) | others: peak sum / largest (MiB) | processes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s["phases"]:
        if "mb_per_s" not in r:  # a cluster's start: time only
            lines.append(f"| {r['phase']} | {r['seconds']:.1f} | | | | | | | | |")
            continue
        per_cpu = s["volume"]["bytes"] / 1e6 / r["cpu_seconds"] if r["cpu_seconds"] else math.nan
        load = f"{r['load_avg_1m_after']:.1f}" if "load_avg_1m_after" in r else "–"
        lines.append(
            f"| {r['phase']} | {r['seconds']:.1f} | {r['mb_per_s']:.1f} | {r['cpu_seconds']:.0f} | "
            f"{per_cpu:.1f} | {load} | {r['peak_rss_tree_mib']:.0f} | "
            f"{r['rss_driver_before_mib']:.0f} → {r['peak_rss_driver_mib']:.0f} | "
            f"{r['peak_rss_others_mib']:.0f} / {r['peak_rss_largest_other_mib']:.0f} | {r['processes']} |"
        )
    lines += [
        "",
        "MB/s = 10⁶ bytes of raw samples per second of wall time; a local cluster is started (and its "
        "workers import nc3d and load the model) before its two phases, timed apart. "
        "CPU s: user + system seconds of all the processes during the phase (Dask workers run with one "
        "BLAS thread; the driver, in the synchronous runs, with the libraries' defaults, so it may use "
        "both cores). Peak RSS sums the resident sets of the driver (this process) and all its "
        "descendants (in the cluster runs the nannies and workers; the scheduler runs in the driver), "
        "sampled every 0.1 s; "
        "shared pages count once per process. Driver at start: nc3d and its imports, before any chunk. "
        f"`ru_maxrss`: this process {s['ru_maxrss_self_mib']:.0f} MiB, largest reaped child "
        f"{s['ru_maxrss_children_mib']:.0f} MiB.",
        "",
        f"Machine: {s['machine']['platform']}, {s['machine']['cpu_count']} CPUs. {s['note']}.",
        *([""] + [s["remark"]] if s.get("remark") else []),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
