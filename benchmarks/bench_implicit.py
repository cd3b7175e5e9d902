"""The implicit codec on every shared mesh (``$NC3D_DATA/meshes``) with default settings (issue 3).

Per mesh: wall time from loading the file to the .nc3d written, file size, surface error
(mean |f(p)| over 10^5 points on the original surface, normalized frame, on the stored 8-bit
weights), decode of a 256³ mesh (time) and its metrics against the original, a 512×512
render (time), and the agreement of the sphere tracer with the decoded mesh (IoU of their
silhouettes from the same camera). One JSON line per mesh in --out (resumable: meshes already
there are skipped); per mesh, a picture of the original, the decoded mesh and the sphere-traced
field side by side in --workdir, which --contact-sheet tiles into one image.

    .venv/bin/python -m benchmarks.bench_implicit [--jobs 2]
        # --out benchmarks/results/meshes/implicit_defaults.jsonl
    .venv/bin/python -m benchmarks.bench_implicit --retime-decodes
    .venv/bin/python -m benchmarks.bench_implicit --report
    .venv/bin/python -m benchmarks.bench_implicit --contact-sheet \
        benchmarks/results/meshes/implicit_contact_sheet.png

``--jobs 2`` fits two meshes at once, one per core (as ``nc3d compress DIR/`` does): the compress
times are then those of one core each; ``--retime-decodes`` re-times decode and render alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, mesh_paths, meshes_dir

OUT = RESULTS / "meshes" / "implicit_defaults.jsonl"


def run_one(path: Path, workdir: Path) -> dict:
    import nc3d
    from nc3d.codecs.implicit.fit import surface_error
    from nc3d.files import write_bytes_atomic
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.io import canonical_ply_size, load_mesh
    from nc3d.metrics import compare_meshes

    out = workdir / f"{path.stem}.nc3d"
    t0, c0 = time.perf_counter(), time.process_time()
    mesh = load_mesh(path)
    blob = nc3d.compress(mesh, codec="implicit")
    write_bytes_atomic(out, blob, force=True)
    t_compress, c_compress = time.perf_counter() - t0, time.process_time() - c0
    shape = nc3d.open(out)
    normalized = frame_of_mesh(mesh).normalize_mesh(mesh)
    err = surface_error(shape.model, normalized)  # re-measured from the file as written
    t1 = time.perf_counter()
    decoded = shape.mesh(resolution=256)
    t_decode = time.perf_counter() - t1
    t2 = time.perf_counter()
    shape.render(size=512)
    t_render = time.perf_counter() - t2
    metrics = compare_meshes(mesh, decoded)
    agreement = save_views(mesh, decoded, shape, workdir / f"{path.stem}.png")
    return {
        "mesh": f"{path.parent.name}/{path.name}",
        "faces": len(mesh.faces),
        "bytes": len(blob),
        "input_bytes": path.stat().st_size,
        "ratio_ply": canonical_ply_size(len(mesh.vertices), len(mesh.faces)) / len(blob),
        "compress_s": t_compress,
        "compress_cpu_s": c_compress,
        "surface_error": err,
        "surface_error_header": nc3d.info(blob)["header"]["surface_error"],
        "decode_256_s": t_decode,
        "render_512_s": t_render,
        "tracer_mesh_iou": agreement,
        **metrics,
    }


#: Pixels per view in the per-mesh pictures and the contact sheet.
VIEW = 192


def save_views(original, decoded, shape, out: Path) -> float:
    """original | decoded mesh | sphere-traced field, one camera, written to ``out``; returns the
    IoU of the decoded mesh's and the tracer's silhouettes (1: they show the same shape)."""
    from nc3d.render import render_mesh, save_png
    from nc3d.render.shading import DEFAULT_BACKGROUND

    frame = shape.frame
    views = [render_mesh(original, frame=frame, size=VIEW), render_mesh(decoded, frame=frame, size=VIEW)]
    views.append(shape.render(size=VIEW))
    save_png(out, np.concatenate(views, axis=1), force=True)
    mesh_hit, traced_hit = (np.any(v != np.asarray(DEFAULT_BACKGROUND, np.uint8), axis=2) for v in views[1:])
    union = np.logical_or(mesh_hit, traced_hit).sum()
    return float(np.logical_and(mesh_hit, traced_hit).sum() / union) if union else 1.0


def contact_sheet(rows: list[dict], workdir: Path, out: Path, columns: int = 3) -> None:
    """Tile every mesh's picture (original | decoded | traced) with its name and figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(
        (r for r in rows if (workdir / f"{Path(r['mesh']).stem}.png").exists()), key=lambda r: r["mesh"]
    )
    n_rows = -(-len(rows) // columns)
    fig, axes = plt.subplots(
        n_rows,
        columns,
        figsize=(columns * 3 * VIEW / 100, n_rows * (VIEW + 34) / 100),
        dpi=100,
        squeeze=False,
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), rows):
        ax.imshow(plt.imread(workdir / f"{Path(r['mesh']).stem}.png"))
        ax.set_title(
            f"{r['mesh']}\n{r['bytes']:,} B  F@0.01 {r['f_score_0.01']:.3f}  CD-p2s {r['chamfer_p2s']:.4f}",
            fontsize=8,
        )
    fig.suptitle(
        "implicit codec, default settings: original | decoded mesh (256³) | sphere-traced field", fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the title
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    print(f"wrote {out} ({len(rows)} meshes)")


def retime_decodes(rows: list[dict], workdir: Path) -> None:
    """Re-time the 256³ decode and the 512² render of every row's file, one at a time on all
    cores (a ``--jobs 2`` run times them with one core each, beside another mesh's training)."""
    import nc3d

    for r in rows:
        path = workdir / f"{Path(r['mesh']).stem}.nc3d"
        if "error" in r or not path.exists():
            continue
        shape = nc3d.open(path)
        t0 = time.perf_counter()
        shape.mesh(resolution=256)
        t1 = time.perf_counter()
        shape.render(size=512)
        r.update(decode_256_s=t1 - t0, render_512_s=time.perf_counter() - t1, decode_timed="alone")
        print(
            f"{r['mesh']}: decode 256³ {r['decode_256_s']:.1f} s, render 512² {r['render_512_s']:.1f} s",
            flush=True,
        )


def _share_cores(jobs: int) -> None:
    """Each worker's torch (decode, render) gets its share of the cores, as in `nc3d compress DIR/`."""
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))


def _run_or_record(path: Path, workdir: Path) -> dict:
    try:
        return run_one(path, workdir)
    except Exception as exc:  # noqa: BLE001 - record and go on: one bad mesh must not stop the run
        return {"mesh": f"{path.parent.name}/{path.name}", "error": f"{type(exc).__name__}: {exc}"}


def report(rows: list[dict]) -> None:
    err = np.array([r["surface_error"] for r in rows])
    size = np.array([r["bytes"] for r in rows])
    secs = np.array([r["compress_s"] for r in rows])
    print(
        "| mesh | faces | bytes | ratio (PLY) | compress s | surface err | CD-p2s | F@0.005 | F@0.01 | NC "
        "| decode 256³ s | render 512² s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: r["surface_error"]):
        print(
            f"| {r['mesh']} | {r['faces']:,} | {r['bytes']:,} | {r['ratio_ply']:.0f} | "
            f"{r['compress_s']:.1f} | {r['surface_error']:.4f} | {r['chamfer_p2s']:.4f} | "
            f"{r['f_score_0.005']:.3f} | {r['f_score_0.01']:.3f} | {r['normal_consistency']:.3f} | "
            f"{r['decode_256_s']:.1f} | {r['render_512_s']:.1f} |"
        )
    print(
        f"\n{len(rows)} meshes: surface error median {np.median(err):.4f}, "
        f"{np.mean(err <= 0.003):.0%} ≤ 0.003, "
        f"max {err.max():.4f}; bytes median {np.median(size):,.0f}, max {size.max():,}; compress s median "
        f"{np.median(secs):.1f}, max {secs.max():.1f}; decode 256³ s max "
        f"{max(r['decode_256_s'] for r in rows):.1f}; render 512² s max "
        f"{max(r['render_512_s'] for r in rows):.1f}"
    )
    for key in ("chamfer", "chamfer_p2s", "f_score_0.005", "f_score_0.01", "normal_consistency", "hausdorff"):
        print(f"  {key}: median {np.median([r[key] for r in rows]):.4g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(meshes_dir()))
    ap.add_argument("--out", default=str(OUT), help="JSON lines, appended (resumable)")
    ap.add_argument("--workdir", default="/tmp/nc3d-bench-implicit")
    ap.add_argument("--report", action="store_true", help="only print the table of what --out holds")
    ap.add_argument("--contact-sheet", metavar="PNG", help="tile the per-mesh pictures of --workdir into PNG")
    ap.add_argument(
        "--retime-decodes",
        action="store_true",
        help="re-time decode and render of the files in --workdir one at a time, rewrite --out",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="meshes at a time, one process each (2 on 2 cores: one per core, as `nc3d compress DIR/`)",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if args.contact_sheet:
        contact_sheet(rows, Path(args.workdir), Path(args.contact_sheet))
        return
    if args.retime_decodes:
        retime_decodes(rows, Path(args.workdir))
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif not args.report:
        done = {r["mesh"] for r in rows}
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        paths = mesh_paths(Path(args.data))
        todo = [p for p in paths if f"{p.parent.name}/{p.name}" not in done]
        with ProcessPoolExecutor(
            args.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_share_cores,
            initargs=(args.jobs,),
        ) as pool:
            for future in as_completed([pool.submit(_run_or_record, p, work) for p in todo]):
                row = future.result()
                print(json.dumps(row), flush=True)
                with out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                rows.append(row)
    report([r for r in rows if "error" not in r])
    for r in rows:
        if "error" in r:
            print(f"FAILED {r['mesh']}: {r['error']}")


if __name__ == "__main__":
    main()
