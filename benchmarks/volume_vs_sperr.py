"""The ``volume`` codec against SPERR and SZ3 at equal PSNR on the 9 shared volumes.

For each volume (each MANIFEST row's ``.npy``) every setting of a codec's ladder is encoded and
decoded: file bytes (the whole ``.nc3d``), PSNR over the data range of the original
(:func:`nc3d.metrics.volume.psnr`; decoders return the input dtype, integers rounded), encode and
decode wall seconds. Each codec's curve is its Pareto front (PSNR rising with bytes); at the
target PSNRs 30, 35, 40, 45 dB the bytes are interpolated linearly in log(bytes) against PSNR,
never extrapolated, and the table gives ``baseline bytes ÷ codec bytes`` (above 1: the codec's
file is smaller), with the geometric mean over the volumes where both curves reach the target.

Rows are cached in ``benchmarks/results/volumes/volume_vs_sperr.jsonl`` by (volume, label,
settings), so a variant of the codec is compared with the same SPERR/SZ3 curves without
re-running them:

    python -m benchmarks.volume_vs_sperr                       # volume, sperr, sz3: what is missing
    python -m benchmarks.volume_vs_sperr --codec volume --set model=/tmp/m.npz --label volume-m
    python -m benchmarks.volume_vs_sperr --summary [--label volume-m]   # tables + plot, run nothing
    python -m benchmarks.volume_vs_sperr --loo --label volume-loo       # leave-one-out models

``--loo`` (the ``volume`` codec only): each volume is scored with a model fitted by the shipped
model's recipe (:func:`benchmarks.common.fit_wavelet`) on the *other* volumes (plus whatever
extra training data that recipe adds), installed in place of the shipped one for that volume's
files, so the bytes are those of a file written with a shipped model that never saw the volume.

``--set key=value`` (repeatable; the value is JSON if it parses, else a string) is added to every
setting of the codec's ``--preset`` ladder (the baselines run their ``--baseline-preset`` ladder,
``default``: the cached rows); ``--label`` names the variant (default: the codec
name, with the ``--set`` pairs). Outputs: ``volume_vs_sperr.md`` / ``.png`` for the plain
``volume`` codec, ``volume_vs_sperr-<label>.md`` / ``.png`` for other labels. The shipped
``volume`` model was fitted on these same 9 volumes (in-sample; ``bench_volume_codec`` has the
leave-one-out figures). Wall times are taken under ``nice`` on a shared 2-core machine: compare
them within one run only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, volumes, volumes_dir

OUT = RESULTS / "volumes" / "volume_vs_sperr.jsonl"
BASELINES = ("sperr", "sz3")
TARGETS = (30.0, 35.0, 40.0, 45.0)
PRESETS = ("smoke", "quick", "default")


def parse_set(pairs: list[str]) -> dict:
    """``["k=v", ...]`` → ``{k: v}``, each value JSON if it parses, else the string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {pair!r}: write it as key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def settings_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True)


def measure(codec, volume: np.ndarray, settings: dict) -> dict:
    """Bytes, PSNR and wall seconds of one encode/decode of ``volume``."""
    import nc3d
    from nc3d.metrics.volume import psnr

    t0 = time.perf_counter()
    blob = codec.encode(volume, **settings)
    t1 = time.perf_counter()
    out = nc3d.decompress(blob)
    t2 = time.perf_counter()
    if out.shape != volume.shape or out.dtype != volume.dtype:
        raise RuntimeError(f"{codec.name} decoded {out.shape} {out.dtype}, not {volume.shape} {volume.dtype}")
    return {
        "bytes": len(blob),
        "bpv": 8 * len(blob) / volume.size,
        "psnr": psnr(volume, out),
        "encode_s": t1 - t0,
        "decode_s": t2 - t1,
    }


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("hdf5plugin", "h5py", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def run(args, label: str, extra: dict) -> None:
    from nc3d.codecs.base import get_codec
    from nc3d.io import load_volume

    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["volume"], r["label"], settings_key(r["settings"])) for r in read_rows(path)}
    jobs = [(label, args.codec, extra, args.preset)] + [
        (b, b, {}, args.baseline_preset) for b in args.baselines
    ]
    versions = _versions()
    all_paths = [p for _, p in volumes(Path(args.data))]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"python {platform.python_version()}, {versions}",
        flush=True,
    )
    with open(path, "a") as fh:
        for name, vpath in volumes(Path(args.data)):
            v = load_volume(vpath)
            loo_ready = False
            for lab, cname, sets, preset in jobs:
                codec = get_codec(cname)
                if args.loo and cname == "volume" and not loo_ready:
                    if all((name, lab, settings_key({**pt, **sets})) in done for pt in codec.preset(preset)):
                        continue
                    _install_loo_model([p for p in all_paths if p != vpath])
                    loo_ready = True
                for point in codec.preset(preset):
                    settings = {**point, **sets}
                    key = (name, lab, settings_key(settings))
                    if key in done and not args.rerun:
                        continue
                    row = {
                        "volume": name,
                        "shape": list(v.shape),
                        "dtype": v.dtype.name,
                        "label": lab,
                        "codec": cname,
                        "settings": settings,
                    } | measure(codec, v, settings)
                    row["versions"] = versions
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
                    done.add(key)
                    print(
                        f"{name:<62}{lab:<12}{json.dumps(settings):<44}{row['bpv']:>8.3f} b/v"
                        f"{row['psnr']:>8.2f} dB{row['encode_s']:>7.2f} s{row['decode_s']:>7.2f} s",
                        flush=True,
                    )


def _install_loo_model(paths: list[Path]) -> None:
    """Fit the ``volume`` model on ``paths`` (the shipped recipe) and use it as the ``default`` one."""
    from benchmarks.common import fit_wavelet
    from nc3d.codecs.volume import volume as volume_module
    from nc3d.codecs.volume.volume_wavelet import load_wavelet_model, wavelet_model_bytes

    t0 = time.perf_counter()
    fitted = load_wavelet_model(wavelet_model_bytes(fit_wavelet(paths)))
    volume_module._MODEL[("wavelet", "default")] = fitted
    seconds = time.perf_counter() - t0
    print(f"leave-one-out model fitted on {len(paths)} volumes ({seconds:.0f} s)", flush=True)


# ----------------------------------------------------------------------------------------------
# Curves and tables
# ----------------------------------------------------------------------------------------------


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The Pareto front of (bytes, PSNR) points: by bytes, each point better than all smaller ones."""
    out: list[tuple[float, float]] = []
    for b, p in sorted((b, p) for b, p in points if math.isfinite(p)):
        if not out or p > out[-1][1]:
            if out and b == out[-1][0]:
                out[-1] = (b, p)
            else:
                out.append((b, p))
    return out


def bytes_at(points: list[tuple[float, float]], target: float) -> float:
    """Bytes at PSNR ``target`` on the front of ``points``: linear in log(bytes); NaN outside it."""
    f = front(points)
    for (b0, p0), (b1, p1) in zip(f, f[1:]):
        if p0 <= target <= p1:
            return math.exp(math.log(b0) + (math.log(b1) - math.log(b0)) * (target - p0) / (p1 - p0))
    if f and f[0][1] == target:
        return f[0][0]
    return math.nan


def geomean(values: list[float]) -> float:
    ok = [v for v in values if math.isfinite(v) and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in ok)) if ok else math.nan


def ratios(rows: list[dict], label: str, baseline: str) -> dict[str, list[float]]:
    """Per volume: baseline bytes ÷ ``label`` bytes at each of :data:`TARGETS`."""
    out = {}
    for name in dict.fromkeys(r["volume"] for r in rows):
        mine = [(r["bytes"], r["psnr"]) for r in rows if r["volume"] == name and r["label"] == label]
        theirs = [(r["bytes"], r["psnr"]) for r in rows if r["volume"] == name and r["label"] == baseline]
        if mine and theirs:
            out[name] = [bytes_at(theirs, t) / bytes_at(mine, t) for t in TARGETS]
    return out


def _cell(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.2f}"


def tables(rows: list[dict], label: str, baselines: list[str]) -> list[str]:
    lines = [
        f"# `{label}` against {', '.join(f'`{b}`' for b in baselines)} at equal PSNR",
        "",
        "Baseline bytes ÷ "
        f"`{label}` bytes at the same PSNR (above 1: `{label}` is smaller), bytes interpolated in "
        "log(bytes) along each codec's Pareto front, never extrapolated (–: a curve does not reach "
        "that PSNR). Bytes are whole `.nc3d` files; PSNR over the data range, decoded at the input dtype.",
        "",
    ]
    for base in baselines:
        per = ratios(rows, label, base)
        if not per:
            continue
        head = " | ".join(f"{t:g} dB" for t in TARGETS)
        lines += [f"## vs `{base}`", "", f"| volume | {head} |", "|---|" + "---|" * len(TARGETS)]
        for name, vals in per.items():
            lines.append(f"| {name.split('/')[-1]} | " + " | ".join(map(_cell, vals)) + " |")
        cols = list(zip(*per.values()))
        gm = [geomean(list(c)) for c in cols]
        n = [sum(math.isfinite(x) for x in c) for c in cols]
        lines.append(
            "| **geometric mean** | " + " | ".join(f"**{_cell(g)}** ({k})" for g, k in zip(gm, n)) + " |"
        )
        lines.append("")
    lines += [
        "## Wall seconds per file (median over each codec's ladder; shared machine, under nice)",
        "",
        "| volume | voxels | " + " | ".join(f"{c} enc / dec" for c in [label, *baselines]) + " |",
        "|---|---|" + "---|" * (1 + len(baselines)),
    ]
    for name in dict.fromkeys(r["volume"] for r in rows):
        cells = []
        size = next(math.prod(r["shape"]) for r in rows if r["volume"] == name)
        for c in [label, *baselines]:
            mine = [r for r in rows if r["volume"] == name and r["label"] == c]
            cells.append(
                f"{statistics.median(r['encode_s'] for r in mine):.3f} / "
                f"{statistics.median(r['decode_s'] for r in mine):.3f}"
                if mine
                else "–"
            )
        lines.append(f"| {name.split('/')[-1]} | {size:,} | " + " | ".join(cells) + " |")
    lines += ["", "## PSNR range of each ladder (dB, finite points)", ""]
    lines += ["| volume | " + " | ".join([label, *baselines]) + " |", "|---|" + "---|" * (1 + len(baselines))]
    for name in dict.fromkeys(r["volume"] for r in rows):
        cells = []
        for c in [label, *baselines]:
            ps = [
                r["psnr"]
                for r in rows
                if r["volume"] == name and r["label"] == c and math.isfinite(r["psnr"])
            ]
            cells.append(f"{min(ps):.1f}–{max(ps):.1f}" if ps else "–")
        lines.append(f"| {name.split('/')[-1]} | " + " | ".join(cells) + " |")
    return lines


def plot(rows: list[dict], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["volume"] for r in rows))
    cols = 3
    fig, axes = plt.subplots(
        math.ceil(len(names) / cols), cols, figsize=(13, 3.6 * math.ceil(len(names) / cols))
    )
    for ax, name in zip(np.ravel(axes), names):
        size = next(math.prod(r["shape"]) for r in rows if r["volume"] == name)
        for lab in labels:
            pts = [(r["bytes"], r["psnr"]) for r in rows if r["volume"] == name and r["label"] == lab]
            if not pts:
                continue
            fin = [(b, p) for b, p in pts if math.isfinite(p)]
            f = front(pts)
            (line,) = ax.plot([8 * b / size for b, _ in f], [p for _, p in f], "-", label=lab, linewidth=1.6)
            ax.plot(
                [8 * b / size for b, _ in fin], [p for _, p in fin], ".", color=line.get_color(), alpha=0.5
            )
        for t in TARGETS:
            ax.axhline(t, color="0.85", linewidth=0.6, zorder=0)
        ax.set_xscale("log")
        ax.set_ylim(20, 70)
        ax.set_title(name.split("/")[-1], fontsize=9)
        ax.set_xlabel("bits / voxel (whole file)", fontsize=8)
        ax.set_ylabel("PSNR dB", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.2)
    for ax in np.ravel(axes)[len(names) :]:
        ax.axis("off")
    np.ravel(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(volumes_dir()))
    ap.add_argument("--out", default=str(OUT), help="the results (.jsonl, appended; also the cache)")
    ap.add_argument("--codec", default="volume", help="the codec compared with the baselines")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="added to every setting")
    ap.add_argument("--label", help="name of this variant in the results (default: codec and --set)")
    ap.add_argument("--preset", default="default", choices=PRESETS, help="the codec's ladder")
    ap.add_argument("--baseline-preset", default="default", choices=PRESETS, help="the baselines' ladder")
    ap.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated baseline codecs")
    ap.add_argument(
        "--loo", action="store_true", help="score each volume with a volume model fitted on the others"
    )
    ap.add_argument("--rerun", action="store_true", help="measure again rows already in --out")
    ap.add_argument("--summary", action="store_true", help="tables and plot from --out, run nothing")
    args = ap.parse_args(argv)
    args.baselines = [b for b in args.baselines.split(",") if b]
    extra = parse_set(args.set)
    label = args.label or (
        args.codec + ("[" + ",".join(f"{k}={v}" for k, v in extra.items()) + "]" if extra else "")
    )
    if label in args.baselines:
        raise SystemExit(f"--label {label!r} is the name of a baseline")
    if not args.summary:
        run(args, label, extra)
    rows = read_rows(Path(args.out))
    versions = next((r["versions"] for r in reversed(rows) if r.get("versions")), {})
    lines = tables(rows, label, args.baselines)
    command = " ".join(a for a in (sys.argv[1:] if argv is None else argv) if a != "--summary")
    made = ", ".join(f"{k} {v}" for k, v in versions.items())
    lines[1:1] = ["", f"`python -m benchmarks.volume_vs_sperr {command}`".replace(" `", "`") + f" ({made})."]
    print("\n".join(lines))
    stem = Path(args.out).with_suffix("")
    stem = stem if label == "volume" else stem.with_name(f"{stem.name}-{_slug(label)}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(rows, [label, *args.baselines], stem.with_suffix(".png"))
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.png')}")


if __name__ == "__main__":
    main()
