"""The shapeset codec on whole mesh collections (issue 17): rate–distortion against decimation +
Draco, per category, with wall time and peak memory per stage.

The sets (``--subset``): ``collections`` (every mesh of ``$NC3D_DATA/collections`` except
:data:`HELD_BACK` shapes drawn with a fixed seed, kept for ``add``), ``collections:N`` (N of
those, fixed seed), ``meshes`` (the 38 shared meshes) and ``meshes:12`` (12 of them, fixed seed).
Category of a collection shape: its top folder — ``kaykit-*``/``kenney-*`` are game props, the
robot sets CAD.

    .venv/bin/python -m benchmarks.shapeset_collection ladder  [--subset S] [--jobs 2]
    .venv/bin/python -m benchmarks.shapeset_collection prepare [--subset S] [--jobs 2]
    .venv/bin/python -m benchmarks.shapeset_collection run     [--subset S] [--set key=value …] [--keep DIR]
    .venv/bin/python -m benchmarks.shapeset_collection add     --file SET.nc3d
    .venv/bin/python -m benchmarks.shapeset_collection report  [--subset S]
    .venv/bin/python -m benchmarks.shapeset_collection sheet   --file SET.nc3d --png OUT.png
    .venv/bin/python -m benchmarks.shapeset_collection decode  --file SET.nc3d

* ``ladder``: every shape through decimation + Draco at level 10 for each (ratio, bits) of
  :data:`RATIOS` × :data:`BITS` — bytes and F@0.01 / Chamfer-p2s against the input (10⁴ samples,
  as the encoder's own check) — resumable, to ``results/collections/decimate_draco_ladder.jsonl``;
* ``prepare``: the TSDF-Def cache filled at the codec's defaults, timed (the preparation stage);
* ``run``: ``nc3d``'s shapeset encode of the set (TSDF-Def cache as ``--cache-dir``), timed per
  stage (preparation, training, the encoder's check) with the peak resident memory of the process
  tree (this process and its workers) in each; the per-shape quality is the encoder's own
  measurement (decoded as a reader will); one JSON line to ``shapeset_runs.jsonl``;
* ``add``: the held-back shapes added to a kept set file with the decoder frozen (``nc3d add``):
  their mean F@0.01 against the set's, and the file growth;
* ``report``: per run, decimation + Draco at the same total bytes — each shape's budget in
  proportion to its binary-PLY size, per shape the best F@0.01 of the ladder settings within the
  budget (0 when none fits) — overall and per category.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, data_root, mesh_paths, meshes_dir

OUT = RESULTS / "collections"
LADDER = OUT / "decimate_draco_ladder.jsonl"
RUNS = OUT / "shapeset_runs.jsonl"
ADDS = OUT / "shapeset_add.jsonl"
#: Shapes of the collections kept out of the set, for ``add``.
HELD_BACK = 10
#: The decimation + Draco ladder: fraction of faces kept × position quantization bits.
RATIOS = (1.0, 0.5, 0.25, 0.1, 0.05)
BITS = (14, 12, 10, 8, 6)
SAMPLES = 10_000
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _append(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def collection_split() -> tuple[list[Path], list[Path]]:
    """(the set, the held-back shapes) of ``$NC3D_DATA/collections``, split with a fixed seed."""
    root = data_root() / "collections"
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    held = set(random.Random(17).sample(range(len(paths)), HELD_BACK))
    return [p for i, p in enumerate(paths) if i not in held], [paths[i] for i in sorted(held)]


def subset_paths(subset: str) -> tuple[Path, list[Path]]:
    """(root the names are relative to, the paths) of a ``--subset``."""
    kind, _, n = subset.partition(":")
    if kind == "collections":
        root, paths = data_root() / "collections", collection_split()[0]
    elif kind == "meshes":
        root, paths = meshes_dir(), mesh_paths()
    else:
        raise SystemExit(f"unknown subset {subset!r}")
    if n:
        paths = sorted(random.Random(0).sample(paths, int(n)))
    return root, paths


def category(name: str) -> str:
    top = name.split("/")[0]
    if top.startswith(("kaykit", "kenney")):
        return "game props"
    if top in ("ros-industrial-fanuc", "metaworld", "example-robot-data"):
        return "CAD"
    return "shared meshes"


def load_named(subset: str):
    """``[(name, Mesh)]`` of a subset (names: paths relative to its root) and their input bytes."""
    from nc3d.api import load_input

    root, paths = subset_paths(subset)
    data = load_input([(str(p.relative_to(root)), p) for p in paths])
    return data.data, data.input_bytes


class TreeMemory:
    """Wall time and peak resident memory of this process and its descendants, per named stage.

    A thread samples ``/proc`` every ``interval`` s, summing over the process tree (spawn workers
    are separate processes) the anonymous resident memory (``RssAnon`` + ``RssShmem``: what the
    processes hold) and, apart, all of it (``VmRSS``, which also counts the pages of memory-mapped
    files — the on-disk volume store — that the kernel may drop at any time); :meth:`stage`
    switches the stage the samples and the time count for (a stage entered twice adds both).
    """

    def __init__(self, interval: float = 0.5):
        self.interval, self.peaks, self.current = interval, {}, "start"
        self.peaks_all: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss() -> tuple[int, int]:
        parents, rss, anon = {}, {}, {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
                parents[int(d)] = int(fields["PPid"])
                rss[int(d)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
                anon[int(d)] = sum(
                    int(fields.get(k, "0 kB").split()[0]) * 1024 for k in ("RssAnon", "RssShmem")
                )
            except (OSError, KeyError, ValueError):
                continue
        tree, grew = {os.getpid()}, True
        while grew:
            new = {p for p, pp in parents.items() if pp in tree and p not in tree}
            tree |= new
            grew = bool(new)
        return sum(anon.get(p, 0) for p in tree), sum(rss.get(p, 0) for p in tree)

    def _run(self):
        while not self._stop.is_set():
            a, r = self._tree_rss()
            self.peaks[self.current] = max(self.peaks.get(self.current, 0), a)
            self.peaks_all[self.current] = max(self.peaks_all.get(self.current, 0), r)
            self._stop.wait(self.interval)

    def stage(self, name: str) -> None:
        if name != self.current:
            now = time.perf_counter()
            self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self._since
            self.current, self._since = name, now

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stage("end")
        self._stop.set()
        self._thread.join()

    def table(self) -> dict:
        return {
            k: {
                "wall_s": round(t, 1),
                "peak_rss_mb": round(self.peaks.get(k, 0) / 2**20),
                "peak_rss_with_mapped_files_mb": round(self.peaks_all.get(k, 0) / 2**20),
            }
            for k, t in self.seconds.items()
            if k != "start"
        }


def _ladder_one(item):
    from nc3d.baselines.draco import decimate_mesh, draco_decode, draco_encode
    from nc3d.errors import InputError
    from nc3d.metrics import compare_meshes

    name, mesh = item
    rows = []
    for ratio in RATIOS:
        try:
            small = decimate_mesh(mesh, ratio)
        except InputError:
            break
        for bits in BITS:
            data = draco_encode(small, bits, 10)
            decoded = draco_decode(data, max(1, len(small.faces)))
            m = compare_meshes(mesh, decoded, n_samples=SAMPLES, taus=(0.01,))
            rows.append(
                {
                    "mesh": name,
                    "ratio": ratio,
                    "bits": bits,
                    "bytes": len(data),
                    "f_score_0.01": m["f_score_0.01"],
                    "chamfer_p2s": m["chamfer_p2s"],
                }
            )
    return rows


def cmd_ladder(args) -> None:
    from concurrent.futures import ProcessPoolExecutor

    done = {r["mesh"] for r in _rows(LADDER)}
    named, _ = load_named(args.subset)
    todo = [(n, m) for n, m in named if n not in done][:: -1 if args.reverse else 1]
    print(f"{len(todo)} of {len(named)} shapes to measure", flush=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        for i, rows in enumerate(pool.map(_ladder_one, todo, chunksize=4)):
            for r in rows:
                _append(LADDER, r)
            if i % 50 == 0:
                print(f"{i + 1}/{len(todo)}", flush=True)


def cmd_prepare(args) -> None:
    """Fill the TSDF-Def cache for a subset at the codec's default settings, timed (cold cache:
    the preparation stage's cost; warm: its reading back)."""
    import nc3d
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.geometry.tsdf import TsdfDefSettings, prepare_tsdf_defs

    defaults = {o.name: o.default for o in nc3d.get_codec("shapeset").options}
    prep = TsdfDefSettings(
        resolution=defaults["resolution"], steps=defaults["deform_steps"], open_shell=defaults["open_shell"]
    )
    t0 = time.perf_counter()
    with TreeMemory() as memory:
        memory.stage("load")
        named, _ = load_named(args.subset)
        memory.stage("TSDF-Def volumes")
        k = prep.resolution
        out = np.lib.format.open_memmap(
            args.cache_dir.parent / "prepare-scratch.npy", "w+", np.float32, (len(named), 4, k, k, k)
        )
        last = [t0]

        def progress(phase, done, total):
            if time.perf_counter() - last[0] > 60 or done == total:
                last[0] = time.perf_counter()
                print(f"{phase} {done}/{total} at {last[0] - t0:.0f} s", flush=True)

        prepare_tsdf_defs(
            [frame_of_mesh(m).normalize_mesh(m) for _, m in named],
            prep,
            args.cache_dir,
            out,
            names=[n for n, _ in named],
            workers=args.jobs,
            ray_address=args.ray_address,
            progress=progress,
        )
        del out
    (args.cache_dir.parent / "prepare-scratch.npy").unlink()
    row = {"subset": args.subset, "shapes": len(named), "resolution": k, "stages": memory.table()}
    row |= {"jobs": args.jobs, "ray_address": args.ray_address}
    print(row, flush=True)
    _append(OUT / "shapeset_prepare.jsonl", row)


def cmd_run(args) -> None:
    import torch

    import nc3d
    from nc3d.io import canonical_ply_size

    torch.set_num_threads(1)
    settings: dict = {"cache_dir": str(args.cache_dir), "workers": args.jobs}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value)
    if not any(k in settings for k in ("target_ratio", "target_bytes", "target_f_score")):
        settings["target_f_score"] = 0.95  # the codec's default size, said in the record
    codec = nc3d.get_codec("shapeset")
    t0 = time.perf_counter()
    with TreeMemory() as memory:
        memory.stage("load")
        named, input_bytes = load_named(args.subset)
        last = [0.0]

        def progress(phase, done, total):
            memory.stage(phase)
            now = time.perf_counter()
            if now - last[0] > 60 or done == total:
                last[0] = now
                print(f"{phase} {done}/{total} at {now - t0:.0f} s", flush=True)

        blob = codec.encode(named, progress=progress, **settings)
    handle = codec.open(nc3d.container.unpack(blob))
    info = nc3d.info(blob)
    quality = handle.shape_quality()
    ply = [canonical_ply_size(len(m.vertices), len(m.faces)) for _, m in named]
    kept = None
    if args.keep:
        from nc3d.files import write_bytes_atomic

        tag = "-".join(f"{k}{v}" for k, v in sorted(settings.items()) if k not in ("cache_dir", "workers"))
        kept = args.keep / f"{args.subset.replace(':', '')}-{tag or 'default'}.nc3d"
        args.keep.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(kept, blob, force=True)
    header = info["header"]
    row = {
        "subset": args.subset,
        "settings": {k: v for k, v in settings.items() if k != "cache_dir"},
        "shapes": len(named),
        "bytes": len(blob),
        "sections": info["sections"],
        "input_bytes": input_bytes,
        "ply_bytes": int(sum(ply)),
        "architecture": header["architecture"],
        "bits": header["bits"],
        # a file without a decoder keeps no training settings, even when one was trained and
        # measured worse than meshes: the steps the codec ran, from the stages
        "steps": header["train"]["steps"]
        if "train" in header
        else _trained_steps(settings, len(named), memory),
        "refitted": header["quality"]["refitted"],
        "meshes": int(header["size"].get("meshes", 0)),  # shapes stored as Draco meshes
        "format": int(handle.container.header.get("format", 1)),
        "stages": memory.table(),
        "encode_s": round(time.perf_counter() - t0, 1),
        "per_shape": [
            {"name": n, "ply_bytes": p, "feature_bytes": fb, "neural": bool(nn), **q}
            for (n, _), p, fb, nn, q in zip(named, ply, handle.shape_bytes(), handle.neural, quality)
        ],
        **({"file": str(kept)} if kept else {}),
    }
    f = np.array([q["f_score_0.01"] for q in quality])
    print(
        f"{len(blob):,} B = {row['ply_bytes'] / len(blob):.1f}x binary PLY, mean F@0.01 {f.mean():.3f}, "
        f"empty {int((f == 0).sum())}, {row['meshes']} as Draco meshes; stages {row['stages']}",
        flush=True,
    )
    _append(args.out, row)


def _trained_steps(settings: dict, n: int, memory: TreeMemory) -> int:
    """Steps the codec trained (0: none) when the file does not say (no decoder kept)."""
    from nc3d.codecs.shapeset.codec import training_steps
    from nc3d.codecs.shapeset.train import TrainSettings

    if "training" not in memory.seconds:
        return 0
    return training_steps(
        n,
        settings.get("batch_size", TrainSettings.batch_size),
        steps=settings.get("steps"),
        epochs=settings.get("epochs"),
    )


def classical_at(ladder: dict[str, list[dict]], name: str, budget: float) -> dict:
    """The best ladder setting of ``name`` within ``budget`` bytes (F 0 when none fits)."""
    fitting = [r for r in ladder.get(name, ()) if r["bytes"] <= budget]
    return max(fitting, key=lambda r: r["f_score_0.01"]) if fitting else {"f_score_0.01": 0.0, "bytes": 0}


def set_vs_classical(row: dict, ladder: dict[str, list[dict]]) -> list[dict]:
    """Per shape of a run: its F@0.01 and decimation + Draco's at its share of the file's bytes
    (budgets ∝ binary-PLY size; the whole file is shared out, features included)."""
    ply = np.array([s["ply_bytes"] for s in row["per_shape"]], np.float64)
    budgets = row["bytes"] * ply / ply.sum()
    return [
        {
            "name": s["name"],
            "category": category(s["name"]),
            "f": s["f_score_0.01"],
            "classical_f": classical_at(ladder, s["name"], b)["f_score_0.01"],
            "budget": float(b),
        }
        for s, b in zip(row["per_shape"], budgets)
    ]


def classical_curve(names: list[str], ply: np.ndarray, ladder, totals) -> list[float]:
    """Decimation + Draco's mean F@0.01 over ``names`` at each total of ``totals`` bytes."""
    out = []
    for total in totals:
        budgets = total * ply / ply.sum()
        out.append(
            float(np.mean([classical_at(ladder, n, b)["f_score_0.01"] for n, b in zip(names, budgets)]))
        )
    return out


def classical_allocated(names: list[str], ladder, total: float) -> float:
    """Decimation + Draco's mean F@0.01 over ``names`` when ``total`` bytes are shared out to
    get the most mean quality (:func:`nc3d.rate.allocate_bytes`, every shape stored) instead of
    in proportion to each shape's size."""
    from nc3d.rate import allocate_bytes

    m = max(len(ladder[n]) for n in names)
    b, q = np.full((len(names), m), np.inf), np.full((len(names), m), np.nan)
    for i, n in enumerate(names):
        b[i, : len(ladder[n])] = [r["bytes"] for r in ladder[n]]
        q[i, : len(ladder[n])] = [r["f_score_0.01"] for r in ladder[n]]
    pick = allocate_bytes(b, q, total)
    return float(q[np.arange(len(names)), pick].mean())


def bytes_for_classical(names, ply, ladder, target_f: float) -> float:
    """The fewest total bytes at which decimation + Draco's mean F@0.01 reaches ``target_f``
    (bisection in log bytes; inf if never)."""
    lo, hi = 1e2, float(ply.sum()) * 4
    if classical_curve(names, ply, ladder, [hi])[0] < target_f:
        return float("inf")
    for _ in range(30):
        mid = (lo * hi) ** 0.5
        if classical_curve(names, ply, ladder, [mid])[0] >= target_f:
            hi = mid
        else:
            lo = mid
    return hi


def cmd_report(args) -> None:
    ladder: dict[str, list[dict]] = {}
    for r in _rows(LADDER):
        ladder.setdefault(r["mesh"], []).append(r)
    runs = [r for r in _rows(args.out) if r["subset"] == args.subset]
    if not runs:
        raise SystemExit(f"no runs of {args.subset} in {args.out}")
    print(
        "| settings | shapes | as meshes | bytes | × binary PLY | × input | mean F@0.01 | median | empty | "
        "decimation + Draco at equal bytes | better on | bytes D+D needs for our F | "
        "D+D, bytes allocated across the set | by category (ours / D+D) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in sorted(runs, key=lambda r: r["bytes"]):
        missing = [s["name"] for s in row["per_shape"] if s["name"] not in ladder]
        if missing:
            print(f"({len(missing)} shapes not in the ladder yet, e.g. {missing[0]}: run `ladder` first)")
            continue
        cmp = set_vs_classical(row, ladder)
        f = np.array([c["f"] for c in cmp])
        cf = np.array([c["classical_f"] for c in cmp])
        names = [c["name"] for c in cmp]
        ply = np.array([s["ply_bytes"] for s in row["per_shape"]], np.float64)
        need = bytes_for_classical(names, ply, ladder, float(f.mean()))
        cats = []
        for cat in sorted({c["category"] for c in cmp}):
            sel = np.array([c["category"] == cat for c in cmp])
            cats.append(f"{cat} ({int(sel.sum())}): {f[sel].mean():.3f} / {cf[sel].mean():.3f}")
        print(
            f"| {json.dumps(row['settings'])} (format {row.get('format', 2)}) | {row['shapes']} | "
            f"{row.get('meshes', 0)} | "
            f"{row['bytes']:,} | "
            f"{row['ply_bytes'] / row['bytes']:.1f} | {row['input_bytes'] / row['bytes']:.1f} | "
            f"**{f.mean():.3f}** | {np.median(f):.3f} | {int((f == 0).sum())} | {cf.mean():.3f} | "
            f"{int((f > cf).sum())} of {len(f)} | {need / row['bytes']:.2f}× | "
            f"{classical_allocated(names, ladder, row['bytes']):.3f} | {'; '.join(cats)} |"
        )
    print()
    for row in runs:
        trained = row.get("meshes", 0) < row["shapes"] or "training" in row["stages"]
        steps = f"steps {row['steps']}" if trained else "no decoder trained"
        print(f"{json.dumps(row['settings'])}: {steps}, stages " + json.dumps(row["stages"]))


def cmd_add(args) -> None:
    import nc3d
    from nc3d.api import load_input

    root = data_root() / "collections"
    held = collection_split()[1]
    named = load_input([(str(p.relative_to(root)), p) for p in held]).data
    handle = nc3d.open(args.file)
    t0 = time.perf_counter()
    blob, measured = handle.add_shapes(named, steps=args.steps)
    row = {
        "file": str(args.file),
        "set_bytes": Path(args.file).stat().st_size,
        "new_bytes": len(blob),
        "added": len(named),
        "add_s": round(time.perf_counter() - t0, 1),
        "set_mean_f": float(np.mean([q["f_score_0.01"] for q in handle.shape_quality()])),
        "measured": measured,
    }
    print(json.dumps(row, indent=1))
    _append(ADDS, row)


def cmd_decode(args) -> None:
    """One shape by name, timed: the file opened afresh and the shape decoded (cold: the shared
    decoder's weights entropy-decoded too), and again on the open handle (warm), for ``--count``
    random shapes; then the whole set decoded to a folder with ``--jobs`` processes."""
    import tempfile

    import torch

    import nc3d
    from nc3d.batch import decode_set_to_folder

    torch.set_num_threads(args.threads)
    names = nc3d.open(args.file).names
    picks = random.Random(1).sample(names, min(args.count, len(names)))
    nc3d.open(args.file).decode_shape(picks[0])  # imports and first-call costs out of the way
    cold, warm = [], []
    for name in picks:
        t0 = time.perf_counter()
        handle = nc3d.open(args.file)
        handle.decode_shape(name)
        t1 = time.perf_counter()
        handle.decode_shape(name)
        cold.append(t1 - t0)
        warm.append(time.perf_counter() - t1)
    with tempfile.TemporaryDirectory() as tmp, TreeMemory() as memory:
        memory.stage("whole set")
        t0 = time.perf_counter()
        decode_set_to_folder(args.file, names, [Path(tmp) / f"{n}.ply" for n in names], jobs=args.jobs)
        whole = time.perf_counter() - t0
    row = {
        "file": str(args.file),
        "threads": args.threads,
        "one_shape_cold_s": {"median": float(np.median(cold)), "max": float(np.max(cold))},
        "one_shape_warm_s": {"median": float(np.median(warm)), "max": float(np.max(warm))},
        "whole_set_s": round(whole, 1),
        "whole_set_jobs": args.jobs,
        "whole_set_peak_rss_mb": memory.table()["whole set"]["peak_rss_mb"],
        "shapes": len(names),
    }
    print(json.dumps(row), flush=True)
    _append(OUT / "shapeset_decode.jsonl", row)


#: Pixels per view on the contact sheet.
VIEW = 160


def cmd_sheet(args) -> None:
    """A contact sheet of ``--count`` random shapes of a kept run's file: original | decoded |
    decimation + Draco at the same bytes (its best ladder setting within the shape's budget)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import nc3d
    from nc3d.api import load_input
    from nc3d.baselines.draco import decimate_mesh, draco_decode, draco_encode
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.render import render_mesh

    row = next(r for r in _rows(args.out) if r.get("file") == str(args.file))
    ladder: dict[str, list[dict]] = {}
    for r in _rows(LADDER):
        ladder.setdefault(r["mesh"], []).append(r)
    cmp = {c["name"]: c for c in set_vs_classical(row, ladder)}
    handle = nc3d.open(args.file)
    root = subset_paths(row["subset"])[0]
    picks = sorted(random.Random(args.seed).sample(range(handle.count), min(args.count, handle.count)))
    columns = 4
    fig, axes = plt.subplots(
        -(-len(picks) // columns),
        columns,
        figsize=(columns * 3 * VIEW / 100, -(-len(picks) // columns) * (VIEW + 40) / 100),
        dpi=100,
        squeeze=False,
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), picks):
        name = row["per_shape"][i]["name"]
        original = load_input(root / name).data
        frame = frame_of_mesh(original)
        c = classical_at(ladder, name, cmp[name]["budget"])
        views = [
            render_mesh(original, frame=frame, size=VIEW),
            render_mesh(handle.decode_shape(i), frame=frame, size=VIEW),
        ]
        if c.get("ratio"):
            small = decimate_mesh(original, c["ratio"])
            views.append(
                render_mesh(
                    draco_decode(draco_encode(small, c["bits"], 10), len(small.faces)), frame=frame, size=VIEW
                )
            )
        else:
            views.append(np.full_like(views[0], 255))
        ax.imshow(np.concatenate(views, axis=1))
        own = row["per_shape"][i]
        kind = "feature" if own.get("neural", True) else "mesh"
        ax.set_title(
            f"{name[-48:]}\n{kind} {own['feature_bytes']} B: F {cmp[name]['f']:.2f} | "
            f"D+D at {cmp[name]['budget']:.0f} B: {c['f_score_0.01']:.2f}",
            fontsize=7,
        )
    fig.suptitle(
        f"shapeset, {row['shapes']} shapes at {row['ply_bytes'] / row['bytes']:.0f}× binary PLY: "
        "original | decoded | decimation + Draco at the shape's share of the bytes (∝ its size; blank: "
        "nothing fits)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png)
    print(f"wrote {args.png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("ladder", "prepare", "run", "report"):
        p = sub.add_parser(name)
        p.add_argument("--subset", default="collections")
        p.add_argument("--jobs", type=int, default=2)
        p.add_argument("--out", type=Path, default=RUNS)
    sub.choices["ladder"].add_argument(
        "--reverse", action="store_true", help="last shapes first (a second process beside a first)"
    )
    run = sub.choices["run"]
    run.add_argument("--set", action="append", default=[], help="codec option key=JSON value")
    run.add_argument("--keep", type=Path)
    for name in ("run", "prepare"):
        sub.choices[name].add_argument(
            "--cache-dir", type=Path, default=Path.home() / ".cache" / "nc3d" / "tsdf-def"
        )
    sub.choices["prepare"].add_argument(
        "--ray-address", help="prepare as Ray tasks ('local', 'auto', HOST:PORT) instead of --jobs processes"
    )
    add = sub.add_parser("add")
    add.add_argument("--file", type=Path, required=True)
    add.add_argument("--steps", type=int, default=300)
    dec = sub.add_parser("decode")
    dec.add_argument("--file", type=Path, required=True)
    dec.add_argument("--count", type=int, default=20)
    dec.add_argument("--threads", type=int, default=2)
    dec.add_argument("--jobs", type=int, default=2)
    sheet = sub.add_parser("sheet")
    sheet.add_argument("--file", type=Path, required=True)
    sheet.add_argument("--png", type=Path, required=True)
    sheet.add_argument("--count", type=int, default=40)
    sheet.add_argument("--seed", type=int, default=0)
    sheet.add_argument("--out", type=Path, default=RUNS)
    args = ap.parse_args()
    commands = {"ladder": cmd_ladder, "prepare": cmd_prepare, "run": cmd_run, "report": cmd_report}
    {**commands, "add": cmd_add, "sheet": cmd_sheet, "decode": cmd_decode}[args.cmd](args)


if __name__ == "__main__":
    main()
