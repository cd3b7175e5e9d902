"""How fast an ``nc3d view`` page of a 200-shape set opens in headless Chromium, and what it weighs.

Issue 20's acceptance: a page for a set of 200 shapes opens in ≤ 3 s and stays under 50 MB.

The set: 200 synthetic meshes (ellipsoids with a bumpy surface, boxes, capsules, cylinders, cones
and tori, randomly sized and turned; 96–1,920 triangles each, seed 0) compressed by the
``shapeset`` codec at K = 32 (a small decoder, 600 steps: the point is the page, not the
quality). Two pages are built with :func:`nc3d.view.write_page`: the decoded shapes alone, and
beside their originals with the numbers (``--compare``, 5,000 samples per surface).

Each page is opened ``--runs`` times in a fresh tab of one headless Chromium (WebGL on
SwiftShader: the CPU does the GPU's work, a stricter setting than a real GPU), window 1280 × 800.
Per run:

* ``ready_s``: the page's own clock (``performance.now()``, from the navigation's start) when it
  says it is ready: data parsed, the first shape drawn in both views, the thumbnails in view
  drawn (the GPU finished: a pixel is read back);
* ``wall_s``: the same seen from here (navigation command → ready reported);
* ``js_heap_mb``: ``JSHeapUsedSize`` at ready, and after every thumbnail has been drawn
  (``js_heap_all_mb``; the gallery scrolled to its end) and 20 shapes opened one after the other
  (``js_heap_after_mb``);
* ``renderer_mb`` / ``gpu_mb``: proportional set size (Pss) of Chromium's renderer processes /
  GPU process (SwiftShader: the GPU's memory is there) at ready, less the same with only the
  ``about:blank`` tab that stays open beside it (measured once): what this page adds;
* ``all_thumbnails_s``: from ready until the 200th thumbnail is drawn; ``open_shape_ms``: mean
  time to open one shape (decode, upload, draw) over 20.

    .venv/bin/python -m benchmarks.view_page                   # ~5 min on 2 cores, mostly training
    .venv/bin/python -m benchmarks.view_page --work /tmp/vb    # keeps the set for a rerun

A third page, one small mesh of the set (``ply-lzma``), measures what the viewer itself costs
(three.js, WebGL contexts) before any set data. Writes
``benchmarks/results/synthetic/view_page.jsonl`` (one row per page and run, then one summary row
per page) and prints the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from .common import RESULTS, make_view_set


def measure(browser, page_path: Path, runs: int, blank_mb: dict) -> list[dict]:
    rows = []
    for run in range(runs):
        t0 = time.perf_counter()
        page = browser.open(None, width=1280, height=800)
        page.navigate(page_path.resolve().as_uri(), timeout=120)
        status = page.wait_for(
            "window.nc3dView && nc3dView.status.state !== 'loading' && nc3dView.status",
            timeout=120,
            interval=0.01,
        )
        wall = time.perf_counter() - t0
        if status["state"] != "ready" or page.errors():
            raise SystemExit(f"{page_path.name}: {status['state']}: {status['errors']} {page.errors()}")
        heap = page.metrics()["JSHeapUsedSize"]
        mem = browser.process_memory()
        renderer = mem.get("renderer", 0) / 1e6 - blank_mb["renderer"]
        gpu = mem.get("gpu-process", 0) / 1e6 - blank_mb["gpu-process"]
        # every thumbnail: scroll the gallery to its end, step by step
        t1 = time.perf_counter()
        count = page.evaluate("document.querySelectorAll('.card').length")  # 0 on a one-mesh page
        while page.evaluate("nc3dView.status.thumbnails") < count:
            page.evaluate(
                "(s => { s.scrollTop = s.scrollTop + s.clientHeight; })(document.getElementById('side'))"
            )
            time.sleep(0.05)
            if time.perf_counter() - t1 > 300:
                raise SystemExit("the thumbnails did not all come")
        all_thumbs = time.perf_counter() - t1
        heap_all = page.metrics()["JSHeapUsedSize"]
        t2 = time.perf_counter()
        opens = 20 if count >= 200 else 0
        for k in range(opens):
            page.evaluate(f"nc3dView.openShape({10 * k})")
        open_ms = (time.perf_counter() - t2) / opens * 1e3 if opens else None
        heap_after = page.metrics()["JSHeapUsedSize"]
        rows.append(
            {
                "page": page_path.name,
                "page_mb": page_path.stat().st_size / 1e6,
                "run": run,
                "ready_s": status["readyMs"] / 1e3,
                "wall_s": wall,
                "thumbnails_at_ready": status["thumbnails"],
                "js_heap_mb": heap / 1e6,
                "renderer_mb": renderer,
                "gpu_mb": gpu,
                "all_thumbnails_s": all_thumbs,
                "js_heap_all_mb": heap_all / 1e6,
                "open_shape_ms": open_ms,
                "js_heap_after_mb": heap_after / 1e6,
                "errors": len(page.errors()),
                "load_average": os.getloadavg()[0],
            }
        )
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}))
        page.close()
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--work", type=Path, default=Path("/tmp/nc3d-view-bench"), help="folder for the set and pages"
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS / "synthetic" / "view_page.jsonl")
    args = ap.parse_args(argv)
    from nc3d.testing.browser import Browser
    from nc3d.view import write_page

    args.work.mkdir(parents=True, exist_ok=True)
    set_path, originals = make_view_set(args.work)
    import nc3d
    from nc3d.io import load_mesh

    one = args.work / "one.nc3d"  # the viewer's own cost: a page of one small mesh
    one.write_bytes(nc3d.compress(load_mesh(originals / "blob_000.ply"), codec="ply-lzma"))
    pages = []
    for name, source, compare in (
        ("one_mesh.html", one, None),
        ("set200.html", set_path, None),
        ("set200_compare.html", set_path, originals),
    ):
        t0 = time.perf_counter()
        s = write_page(args.work / name, source, compare=compare, samples=5000, force=True)
        print(f"{name}: {s.bytes / 1e6:.1f} MB built in {time.perf_counter() - t0:.1f} s")
        pages.append((args.work / name, time.perf_counter() - t0))
    rows = []
    with Browser() as browser:
        blank = browser.open("about:blank")
        time.sleep(1.0)
        mem = browser.process_memory()
        blank_mb = {k: mem.get(k, 0) / 1e6 for k in ("renderer", "gpu-process")}
        print(f"about:blank: {blank_mb}")
        for path, build_s in pages:
            got = measure(browser, path, args.runs, blank_mb)
            for r in got:
                r["build_s"] = build_s
            rows += got
        blank.close()
        version = browser.version.get("product", "")
    meta = {"chromium": version, "machine": platform.machine(), "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        for r in rows:
            fh.write(json.dumps({**r, **meta}) + "\n")
        for path, _ in pages:
            mine = [r for r in rows if r["page"] == path.name]
            summary = {
                "page": path.name,
                "summary": "median of runs",
                "runs": len(mine),
                **{
                    k: statistics.median(r[k] for r in mine)
                    for k in mine[0]
                    if isinstance(mine[0][k], float) and k != "page_mb" and None not in (r[k] for r in mine)
                },
                "page_mb": mine[0]["page_mb"],
                "max_ready_s": max(r["ready_s"] for r in mine),
                **meta,
            }
            fh.write(json.dumps(summary) + "\n")
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items()}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
