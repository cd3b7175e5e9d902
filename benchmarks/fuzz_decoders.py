"""Long decoder fuzzing: N hostile files per codec, each decoded in a bounded worker process.

    nice -n 19 .venv/bin/python -m benchmarks.fuzz_decoders --per-codec 100000 --chunk 1000
    .venv/bin/python -m benchmarks.fuzz_decoders --summary      # the table, from the results

Cases come from :func:`nc3d.testing.fuzz.mutate` (seeded: case ``i`` of codec ``c`` is reproducible
with ``mutate(sample_file(c), seed, i)``) and are checked with :func:`nc3d.testing.fuzz.decode_checked`:
``FormatError`` with a message or a well-formed result, nothing else. Each codec runs in a
worker process whose address space is capped (``RLIMIT_AS`` = its size after start-up plus
``--memory-mb``), so a runaway allocation fails there instead of taking the machine; the parent
waits at most ``--hang-s`` for each decode and kills and restarts a worker that does not answer
(a hang). Decodes over ``--slow-s`` (2 s) of CPU time are counted as slow (CPU time, because a
``nice -n 19`` run on shared cores waits for the CPU far longer than it decodes; the slowest
wall-clock time is reported too). Results are appended per chunk to
a JSON-lines file, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import resource
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import RESULTS

OUT = RESULTS / "synthetic" / "decoder_fuzzing.jsonl"


def _vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(conn, codec: str, seed: int, memory_mb: int) -> None:
    """Decode cases sent as (start, stop) ranges; answer one tuple per case."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    import warnings

    warnings.simplefilter("ignore")  # overflow warnings of hostile values are expected
    from nc3d import container
    from nc3d.codecs.base import codec_names
    from nc3d.testing import fuzz

    names = codec_names()
    blob = fuzz.sample_file(codec)
    headers = [container.unpack(fuzz.sample_file(n)).header for n in names if n != codec]
    fuzz.decode_checked(blob)  # warm up lazy imports before the limit
    limit = _vm_size() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send(("ready", len(blob)))
    while True:
        job = conn.recv()
        if job is None:
            return
        for i in range(*job):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                outcome = fuzz.decode_checked(fuzz.mutate(blob, seed, i, codec_names=names, headers=headers))
                detail = ""
            except BaseException as exc:  # noqa: BLE001 - recording every escape is the point
                outcome = "failure"
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                detail = (
                    f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}: {str(exc)[:160]}"
                )
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            conn.send((i, outcome, time.perf_counter() - t0, time.process_time() - c0, rss, detail))


class Worker:
    def __init__(self, codec: str, seed: int, memory_mb: int, start_s: float = 600.0):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(child, codec, seed, memory_mb), daemon=True)
        self.proc.start()
        if not self.conn.poll(start_s):
            self.kill()
            raise RuntimeError(f"{codec}: worker did not start")
        self.conn.recv()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.kill()


def run_chunk(state: dict, codec: str, start: int, stop: int, args) -> dict:
    counts = collections.Counter()
    failures, slowest, slowest_cpu, peak = [], 0.0, 0.0, 0
    i = start
    while i < stop:
        if state.get("worker") is None:
            state["worker"] = Worker(codec, args.seed, args.memory_mb)
        w = state["worker"]
        w.conn.send((i, stop))
        while i < stop:
            lost = None
            if not w.conn.poll(args.hang_s):
                lost = ("hang", f"no answer in {args.hang_s} s (killed)")
            else:
                try:
                    index, outcome, seconds, cpu, rss, detail = w.conn.recv()
                except EOFError:  # the worker died (e.g. a crash in native code)
                    lost = ("crash", "worker died")
            if lost is not None:  # count the case, replace the worker, go on after it
                counts[lost[0]] += 1
                failures.append({"case": i, "detail": lost[1]})
                w.kill()
                state["worker"] = None
                i += 1
                break
            counts[outcome] += 1
            if cpu > args.slow_s:
                counts["slow"] += 1
                failures.append(
                    {"case": index, "detail": f"decode took {cpu:.2f} s of CPU ({seconds:.2f} s wall)"}
                )
            if detail and len(failures) < 50:
                failures.append({"case": index, "detail": detail})
            slowest, slowest_cpu, peak = max(slowest, seconds), max(slowest_cpu, cpu), max(peak, rss)
            i = index + 1
    return {
        "codec": codec,
        "seed": args.seed,
        "start": start,
        "stop": stop,
        **counts,
        "max_decode_s": round(slowest, 4),
        "max_decode_cpu_s": round(slowest_cpu, 4),
        "peak_rss_mb": round(peak / 2**20, 1),
        "failures": failures[:50],
    }


def load_results(path: Path) -> list[dict]:
    """The rows of the results file, each chunk once (two runs side by side may repeat one)."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    unique = {(r["codec"], r["seed"], r["start"], r["stop"]): r for r in reversed(rows)}
    return list(reversed(list(unique.values())))


def summary(rows: list[dict]) -> str:
    by = collections.defaultdict(lambda: collections.Counter())
    worst = collections.defaultdict(float)
    worst_wall = collections.defaultdict(float)
    peak = collections.defaultdict(float)
    for r in rows:
        c = by[r["codec"]]
        c["cases"] += r["stop"] - r["start"]
        for k in ("ok", "format_error", "failure", "hang", "crash", "slow"):
            c[k] += r.get(k, 0)
        worst[r["codec"]] = max(worst[r["codec"]], r["max_decode_cpu_s"])
        worst_wall[r["codec"]] = max(worst_wall[r["codec"]], r["max_decode_s"])
        peak[r["codec"]] = max(peak[r["codec"]], r["peak_rss_mb"])
    lines = [
        "| codec | mutated files | decoded (ok) | FormatError | other exception | hang / crash | "
        "slow (> 2 s CPU) | slowest decode: CPU / wall | worker peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in by.items():
        lines.append(
            f"| {name} | {c['cases']:,} | {c['ok']:,} | {c['format_error']:,} | {c['failure']} | "
            f"{c['hang']} / {c['crash']} | {c['slow']} | "
            f"{worst[name]:.3f} s / {worst_wall[name]:.2f} s | {peak[name]:.0f} MB |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--per-codec", type=int, default=100_000)
    p.add_argument("--codecs", nargs="*", help="default: every registered codec")
    p.add_argument("--chunk", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--memory-mb", type=int, default=1024, help="address space a worker may add after start-up"
    )
    p.add_argument(
        "--hang-s", type=float, default=30.0, help="kill a worker that answers nothing for this long"
    )
    p.add_argument("--slow-s", type=float, default=2.0)
    p.add_argument("--results", type=Path, default=OUT)
    p.add_argument("--summary", action="store_true", help="print the table of the results file and exit")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(load_results(args.results)))
        return 0
    from nc3d.codecs.base import codec_names

    done: dict[str, set[int]] = collections.defaultdict(set)  # cases already run, per codec
    for r in load_results(args.results):
        if r["seed"] == args.seed:
            done[r["codec"]].update(range(r["start"], r["stop"]))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for codec in args.codecs or codec_names():
        state: dict = {}
        try:
            for start in range(0, args.per_codec, args.chunk):
                stop = min(start + args.chunk, args.per_codec)
                todo = [i for i in range(start, stop) if i not in done[codec]]
                if not todo:
                    continue
                start = todo[0]  # chunks of earlier runs may have had another size
                stop = next((i for i in range(start, stop) if i in done[codec]), stop)
                t0 = time.perf_counter()
                row = run_chunk(state, codec, start, stop, args)
                row["seconds"] = round(time.perf_counter() - t0, 1)
                with open(args.results, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                bad = sum(row.get(k, 0) for k in ("failure", "hang", "crash", "slow"))
                print(
                    f"{codec} {row['start']}..{row['stop']}: {row.get('ok', 0)} ok, "
                    f"{row.get('format_error', 0)} FormatError, {bad} bad, {row['seconds']} s, "
                    f"peak {row['peak_rss_mb']} MB",
                    flush=True,
                )
        finally:
            if state.get("worker") is not None:
                state["worker"].close()
    print(summary(load_results(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
