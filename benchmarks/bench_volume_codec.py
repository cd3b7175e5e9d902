"""The ``volume`` codec's rate–distortion on the 9 shared volumes, cross-validated, \
against DCT and ZFP.

No model sees the volume it is scored on: the volumes are split into ``--folds`` groups (9 =
leave-one-out) and the learned entropy model / dequantizer is fitted per group on all the other
volumes (:func:`benchmarks.common.fit_ldct`, the shipped model's recipe; seconds). Each volume
is then encoded at every quality 0, 1, …, ``QUALITY_MAX`` (32) with its fold's model. Bytes are
the ``.nc3d`` file without the model section (the model plays the part of the shipped one and
is not counted, as for the shipped model). The paper's setting (``bevec`` 8-0-128-32 with
float32 latents, trained in the same folds, 1 epoch from PCA) adds one point (``--no-bevec``:
taken from the conv codec's results). DCT and ZFP come from
``benchmarks/results/volumes/baselines_rate_distortion.jsonl`` (``bench_volume_baselines``); the conv
transform codec (``volume-conv``, the previous default) from
``benchmarks/results/volumes/volume_conv_codec_3fold.jsonl``.
Then encode/decode seconds of the shipped model on a 256³ uint8 volume (the 1 mm MNI template
cropped/zero-padded to 256³, as for the DCT), median of 3.

    .venv/bin/python -m benchmarks.bench_volume_codec [--folds 9] [--tilt 1] [--dead-zone 0.15]
    .venv/bin/python -m benchmarks.bench_volume_codec --summary
        # tables + plot (--out with .png) from the results
    .venv/bin/python -m benchmarks.bench_volume_codec --parts     # gain of each learned part
    .venv/bin/python -m benchmarks.bench_volume_codec --timing    # the 256³ timing rows only
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.common import BIG, RESULTS, db_cell, fit_ldct, psnr_at, to_256, volumes, volumes_dir
from nc3d import container
from nc3d.codecs import get_codec
from nc3d.codecs.volume.bevec import VARIANTS, decode_blocks, encode_blocks, train_bevec
from nc3d.codecs.volume.volume_conv_train import normalize_volume
from nc3d.codecs.volume.volume_model import QUALITY_MAX, load_ldct_model, quality_step, save_ldct_model
from nc3d.io import load_volume

OUT = RESULTS / "volumes" / "volume_codec_loo.jsonl"
BASELINES = RESULTS / "volumes" / "baselines_rate_distortion.jsonl"
CONV = RESULTS / "volumes" / "volume_conv_codec_3fold.jsonl"


def _psnr(ref: np.ndarray, out: np.ndarray) -> float:
    ref64 = ref.astype(np.float64)
    err = float(np.mean((ref64 - out.astype(np.float64)) ** 2))
    return math.inf if err == 0 else 10 * math.log10(float(ref64.max() - ref64.min()) ** 2 / err)


def _bytes_without_model(blob: bytes) -> int:
    c = container.unpack(blob)
    sections = {k: v for k, v in c.sections.items() if k != "model"}
    return len(container.pack(container.Container(c.codec, c.header, sections)))


def run(args) -> None:
    items = volumes(Path(args.data))
    folds = [items[i :: args.folds] for i in range(args.folds)]
    codec = get_codec("volume")
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, fold in enumerate(folds):
        stems = [Path(p).stem for _, p in fold]
        model = model_dir / f"ldct_fold{k}of{args.folds}_{args.tilt}_{args.dead_zone}.npz"
        t0 = time.perf_counter()
        save_ldct_model(
            fit_ldct([p for _, p in items if Path(p).stem not in stems], args.tilt, args.dead_zone), model
        )
        print(f"fold {k}: held out {stems}, model {model} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if not args.no_bevec:
            others = [normalize_volume(load_volume(p)) for _, p in items if Path(p).stem not in stems]
            bevec, _ = train_bevec(others, VARIANTS["8-0-128-32"], epochs=1)
        for name, path in fold:
            v = load_volume(path)
            base = {"volume": name, "shape": list(v.shape), "dtype": v.dtype.name, "fold": k}
            for q in np.arange(0.0, QUALITY_MAX + 0.01, 1.0).round(2).tolist():
                blob = codec.encode(v, quality=q, model=str(model))
                size = _bytes_without_model(blob)
                row = base | {
                    "codec": "volume",
                    "settings": {"quality": q},
                    "bytes": size,
                    "ratio": v.nbytes / size,
                    "psnr": _psnr(v, codec.decode(blob)),
                }
                rows.append(row)
                print(f"{name:<60} volume q={q:<4} {row['ratio']:8.1f}× {row['psnr']:6.2f} dB", flush=True)
            if args.no_bevec:
                continue
            x = decode_blocks(bevec, encode_blocks(bevec, normalize_volume(v)), v.shape)
            lo, hi = float(v.min()), float(v.max())
            lat_bytes = 4 * 32 * math.prod(-(-s // 8) for s in v.shape)
            rows.append(
                base
                | {
                    "codec": "bevec",
                    "settings": {"variant": "8-0-128-32"},
                    "bytes": lat_bytes,
                    "ratio": v.nbytes / lat_bytes,
                    "psnr": _psnr(v, lo + x * (hi - lo)),
                }
            )
    rows += timing(args, codec)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"wrote {args.out}")


def parts(args) -> None:
    """Each learned part's gain, per volume, with its fold's model (run ``run`` first for the models).

    entropy model: bytes of the DCT baseline at the very same quantizer (step, tilt; its dead zone
    0.15 equals the model's default) ÷ our bytes, both decoding to the same symbols;
    dequantizer: PSNR with the learned per-band offsets minus PSNR with none (same bytes);
    deblocking: PSNR with the learned filter minus PSNR without (same bytes);
    table shift: bytes with the encoder's per-band table-row shift turned off ÷ bytes with it
    (same symbols).
    """
    from nc3d.codecs.volume import volume as learned

    items = volumes(Path(args.data))
    folds = [items[i :: args.folds] for i in range(args.folds)]
    codec, dct = get_codec("volume"), get_codec("dct")
    print(
        "| volume | quality | DCT bytes ÷ ours (same symbols) | dequantizer dB | deblocking dB "
        "| no shift ÷ shift |\n"
        "|---|---|---|---|---|---|"
    )
    for k, fold in enumerate(folds):
        path = Path(args.model_dir) / f"ldct_fold{k}of{args.folds}_{args.tilt}_{args.dead_zone}.npz"
        model, _ = load_ldct_model(path)
        flat = Path(args.model_dir) / f"ldct_fold{k}_no_offsets.npz"
        save_ldct_model(model | {"offsets": model["offsets"] * 0}, flat)
        blocky = Path(args.model_dir) / f"ldct_fold{k}_no_deblock.npz"
        save_ldct_model(model | {"deblock": model["deblock"] * 0}, blocky)
        for name, p in fold:
            v = load_volume(p)
            for q in (8.0, 14.0, 20.0, 28.0):
                ours = codec.encode(v, quality=q, model=str(path))
                plain = codec.encode(v, quality=q, model=str(flat))
                raw = codec.encode(v, quality=q, model=str(blocky))
                base = dct.encode(v, step=quality_step(q), tilt=model["tilt"])
                best = _psnr(v, codec.decode(ours))
                saving, learned.ZSHIFT_MIN_SAVING = learned.ZSHIFT_MIN_SAVING, math.inf
                unshifted = codec.encode(v, quality=q, model=str(path))
                learned.ZSHIFT_MIN_SAVING = saving
                print(
                    f"| {name.split('/')[-1]} | {q:g} | {len(base) / _bytes_without_model(ours):.2f} | "
                    f"{best - _psnr(v, codec.decode(plain)):+.2f} | "
                    f"{best - _psnr(v, codec.decode(raw)):+.2f} | "
                    f"{_bytes_without_model(unshifted) / _bytes_without_model(ours):.3f} |",
                    flush=True,
                )


#: PSNRs (dB) whose qualities the 256³ timing runs at: issue 18's table.
TIMING_PSNR = (30.0, 35.0, 40.0, 45.0)


def timing(args, codec) -> list[dict]:
    """Encode/decode seconds (wall and this process's CPU) of the shipped model on 256³ uint8, median
    of 3, at the qualities reaching :data:`TIMING_PSNR` on it (found once by ``target_psnr``)."""
    from nc3d.codecs.volume.volume_wavelet import unpack_payload

    big = to_256(load_volume(Path(args.data) / BIG))
    rows = []
    for target in TIMING_PSNR:
        q = unpack_payload(container.unpack(codec.encode(big, target_psnr=target)).sections["w"])[1]
        runs = []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            blob = codec.encode(big, quality=q)
            t1, c1 = time.perf_counter(), time.process_time()
            out = codec.decode(blob)
            runs.append((t1 - t0, time.perf_counter() - t1, c1 - c0, time.process_time() - c1))
        enc, dec, enc_cpu, dec_cpu = (statistics.median(r[i] for r in runs) for i in range(4))
        rows.append(
            {
                "volume": f"{BIG} → 256³",
                "timing": True,
                "codec": "volume",
                "settings": {"quality": q},
                "target_psnr": target,
                "bytes": len(blob),
                "ratio": big.nbytes / len(blob),
                "psnr": _psnr(big, out),
                "encode_s": enc,
                "decode_s": dec,
                "encode_cpu_s": enc_cpu,
                "decode_cpu_s": dec_cpu,
                "threads": __import__("torch").get_num_threads(),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(args) -> None:
    rows = [json.loads(line) for line in open(args.out)]
    base = [json.loads(line) for line in open(BASELINES)] if BASELINES.is_file() else []
    base += [json.loads(line) for line in open(CONV)] if CONV.is_file() else []
    names = list(dict.fromkeys(r["volume"] for r in rows if not r.get("timing")))
    ratios = (20, 50, 100, 200)

    def curve(src, name, codec, mode=None):
        return [
            (r["ratio"], r["psnr"])
            for r in src
            if r["volume"] == name
            and r["codec"] == codec
            and not r.get("timing")
            and (mode is None or r["settings"].get("mode") == mode)
        ]

    print("| volume | codec | " + " | ".join(f"@{x}×" for x in ratios) + " |")
    print("|---|---|" + "---|" * len(ratios))
    wins = losses = 0
    margins = []  # per volume: (name, min and median dB over DCT, min over ZFP) on a dense 20–200× grid
    dense = np.geomspace(20, 200, 41)
    for n in names:
        curves = {
            "volume": curve(rows, n, "volume"),
            "volume-conv": curve(base, n, "volume-conv"),
            "dct": curve(base, n, "dct"),
            "zfp-acc": curve(base, n, "zfp", "accuracy"),
            "zfp-rate": curve(base, n, "zfp", "rate"),
        }
        for cname, pts in curves.items():
            print(
                f"| {n.split('/')[-1]} | {cname} | "
                + " | ".join(db_cell(psnr_at(pts, x)) for x in ratios)
                + " |"
            )
        for x in ratios:
            ours = psnr_at(curves["volume"], x)
            for other in ("dct", "zfp-acc", "zfp-rate"):
                theirs = psnr_at(curves[other], x)
                if not (math.isnan(ours) or math.isnan(theirs)):
                    wins += ours > theirs
                    losses += ours <= theirs
        gap = {
            o: [psnr_at(curves["volume"], x) - psnr_at(curves[o], x) for x in dense]
            for o in curves
            if o != "volume"
        }
        gap = {o: [g for g in v if not math.isnan(g)] for o, v in gap.items()}
        zfp = gap["zfp-acc"] + gap["zfp-rate"]
        margins.append(
            (
                n.split("/")[-1],
                min(gap["dct"], default=math.nan),
                statistics.median(gap["dct"] or [math.nan]),
                min(zfp, default=math.nan),
                len(gap["dct"]),
            )
        )
        bev = [r for r in rows + base if r["volume"] == n and r["codec"] == "bevec"]
        if bev:
            r = bev[0]
            print(
                f"| {n.split('/')[-1]} | bevec (paper, float32) | "
                f"{r['ratio']:.1f}× at {r['psnr']:.1f} dB | | | |"
            )
    print(
        f"\nvolume vs dct/zfp at 20–200× (where both curves reach): better in {wins}, not better in {losses}"
    )
    print(
        "\n| volume | min dB over DCT, 20–200× | median dB over DCT | min dB over ZFP | grid points (of 41) |"
    )
    print("|---|---|---|---|---|")
    for name, lo, med, zmin, k in margins:
        print(f"| {name} | {lo:+.2f} | {med:+.2f} | {zmin:+.2f} | {k} |")
    for r in rows:
        if r.get("timing"):
            print(
                f"256³ uint8, quality {r['settings']['quality']}: {r['ratio']:.1f}× {r['psnr']:.2f} dB, "
                f"encode {r['encode_s']:.2f} s, decode {r['decode_s']:.2f} s wall; CPU "
                f"{r.get('encode_cpu_s', math.nan):.2f} s / {r.get('decode_cpu_s', math.nan):.2f} s "
                f"({r.get('threads', '?')} threads; median of 3)"
            )
    plot(rows, base, names, Path(args.out).with_suffix(".png"))


def plot(rows, base, names, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(13, 11))
    for ax, n in zip(axes.ravel(), names):
        for src, codec, mode, style in (
            (rows, "volume", None, "o-"),
            (base, "volume-conv", None, "x-"),
            (base, "dct", None, "s--"),
            (base, "zfp", "accuracy", "^:"),
            (base, "zfp", "rate", "v:"),
        ):
            pts = sorted(
                (r["ratio"], r["psnr"])
                for r in src
                if r["volume"] == n
                and r["codec"] == codec
                and not r.get("timing")
                and (mode is None or r["settings"].get("mode") == mode)
            )
            if pts:
                ax.plot(*zip(*pts), style, ms=3, label=codec + (f"-{mode}" if mode else ""))
        for r in [r for r in rows + base if r["volume"] == n and r["codec"] == "bevec"][:1]:
            ax.plot([r["ratio"]], [r["psnr"]], "k*", ms=9, label="bevec (paper)")
        ax.set_xscale("log")
        ax.set_xlim(2, 1000)
        ax.axvspan(20, 200, color="0.93")
        ax.set_title(n.split("/")[-1][:40], fontsize=9)
        ax.set_xlabel("compression ratio (raw bytes / file)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"plot: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(volumes_dir()))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--folds", type=int, default=9, help="9 = leave-one-out")
    ap.add_argument("--tilt", type=float, default=1.0, help="quantizer tilt the fold models are fitted for")
    ap.add_argument("--dead-zone", type=float, default=0.15, help="quantizer dead zone of the fold models")
    ap.add_argument("--no-bevec", action="store_true", help="skip the paper's setting (bevec) point")
    ap.add_argument("--model-dir", default="/tmp/nc3d-volume-folds")
    ap.add_argument("--summary", action="store_true")
    ap.add_argument(
        "--parts", action="store_true", help="each learned part's gain (needs the fold models of a run)"
    )
    ap.add_argument(
        "--timing", action="store_true", help="only the 256³ timing; its rows replace those in --out"
    )
    args = ap.parse_args()
    if args.timing:
        rows = (
            [r for r in map(json.loads, open(args.out)) if not r.get("timing")]
            if Path(args.out).is_file()
            else []
        )
        rows += timing(args, get_codec("volume"))
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif args.parts:
        parts(args)
    else:
        summary(args) if args.summary else run(args)


if __name__ == "__main__":
    main()
