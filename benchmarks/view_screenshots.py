"""The README's screenshots of ``nc3d view`` pages: ``docs/screenshots/{mesh,set,implicit,volume}.png``.

The files (made once in ``--work``, reused after):

* mesh: Bob (the packaged sample, 10,688 triangles) through ``decimate-draco`` at ratio 0.1,
  beside the original, wireframe on;
* set: the 200 synthetic shapes of :mod:`benchmarks.view_page` (``common.make_view_set``, the
  same ``--work`` folder), beside their originals, shape 11 (a torus) open;
* implicit: Spot through the ``implicit`` codec at its default settings (about a minute on one
  core), beside the original, the network drawn live;
* volume: the packaged MR head through the ``volume`` codec at quality 6, beside the original.

Each page is opened in headless Chromium (SwiftShader) at 1100 × 660 and the screenshot saved as
a 256-colour PNG (a few tens of kB).

    .venv/bin/python -m benchmarks.view_screenshots [--work /tmp/nc3d-view-bench] [--kinds set,volume]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np

from .common import ROOT, make_view_set


def make_files(work: Path) -> dict[str, tuple[Path, Path]]:
    import torch

    import nc3d
    from nc3d.io import load_mesh
    from nc3d.resources import data_dir

    torch.set_num_threads(2)
    data = data_dir()
    work.mkdir(parents=True, exist_ok=True)
    jobs = {
        "mesh": (data / "meshes" / "bob_tri.obj", {"codec": "decimate-draco", "ratio": 0.1}),
        "implicit": (data / "meshes" / "spot.obj", {"codec": "implicit"}),
        "volume": (data / "volumes" / "HeadMRVolume.npy", {"codec": "volume", "quality": 6.0}),
    }
    out = {}
    for kind, (source, settings) in jobs.items():
        path = work / f"{kind}.nc3d"
        if not path.exists():
            t0 = time.perf_counter()
            data_in = np.load(source) if source.suffix == ".npy" else load_mesh(source)
            path.write_bytes(nc3d.compress(data_in, **settings))
            print(f"{path.name}: {path.stat().st_size:,} bytes in {time.perf_counter() - t0:.0f} s")
        out[kind] = (path, source)
    out["set"] = make_view_set(work)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/nc3d-view-bench"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--kinds", default="mesh,set,implicit,volume", help="comma-separated: which screenshots")
    args = ap.parse_args(argv)
    from PIL import Image

    from nc3d.testing.browser import Browser
    from nc3d.view import write_page

    files = make_files(args.work)
    args.out.mkdir(parents=True, exist_ok=True)
    actions = {
        "mesh": "document.getElementById('wireframe').click()",
        "set": "nc3dView.openShape(11)",
        "implicit": "",
        "volume": "",
    }
    with Browser() as browser:
        for kind in args.kinds.split(","):
            path, original = files[kind]
            page_path = args.work / f"{kind}.html"
            write_page(page_path, path, compare=original, samples=20_000, force=True)
            page = browser.open(page_path.resolve().as_uri(), width=1100, height=660)
            status = page.wait_for(
                "window.nc3dView && nc3dView.status.state !== 'loading' && nc3dView.status", timeout=300
            )
            if status["state"] != "ready" or page.errors():
                raise SystemExit(f"{kind}: {status['errors']} {page.errors()}")
            if actions[kind]:
                page.evaluate(actions[kind])
            page.evaluate(
                "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", timeout=300
            )
            if kind == "implicit":  # let the live network finish its frame
                page.evaluate("new Promise(r => setTimeout(r, 500))")
            shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
            target = args.out / f"{kind}.png"
            shot.quantize(256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
            print(f"{target}: {target.stat().st_size / 1e3:.0f} kB")
            page.close()


if __name__ == "__main__":
    main()
