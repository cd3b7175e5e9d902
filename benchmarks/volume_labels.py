"""Lossless label volumes: ``volume-labels`` against lzma, zstd and SZ3's lossless mode.

The label maps are made here from the shared data (``$NC3D_DATA``), none tuned for:

* scans → classes: multi-level Otsu thresholds (scikit-image) into 3–5 classes; a t-map into
  −1/0/+1 at |t| > 2.3; the smooth hydrogen density and the 1 mm MNI template quantized
  uniformly into 16 and 29 levels (integer-class volumes); connected components of one Otsu
  class (int32); SLIC supervoxels (scikit-image, ~500 segments, uint16);
* meshes → voxels: inside/outside masks (generalized winding number > ½ at the voxel centres,
  128³ over the bounding box) of five shared meshes, and one multi-part map: eight shared meshes
  placed in the eight octants of a 160³ grid, voxel label = the mesh it lies inside (0 outside).

Per map: bytes of each method, the factor of the best of lzma/zstd/SZ3 over ``volume-labels``
(its whole ``.nc3d`` file; the baselines' raw streams, no container), encode and decode
seconds, and the ``volume`` codec's default lossy file for scale. lzma: xz preset 9e; zstd:
level 22 (``zstandard``); SZ3 (``hdf5plugin`` 7.1, HDF5 filter, one chunk): absolute error bound
0 (SZ3's lossless path) and, for integer dtypes, 0.49 (exact on integers), the smaller kept —
each checked to decode exactly. Then the 256³ decode timing (the MNI Otsu map padded to 256³),
median of 3, with lzma's decode in the same run for scale.

    .venv/bin/python -m benchmarks.volume_labels            # writes --out and the .md next to it
    .venv/bin/python -m benchmarks.volume_labels --summary  # the table from --out
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import nc3d
from benchmarks.common import RESULTS, data_root, meshes_dir, to_256, volumes_dir
from nc3d import container

OUT = RESULTS / "volumes" / "labels.jsonl"
SCENE = (
    "common-3d-test-models/spot.obj",
    "nvdiffrec/bob_tri.obj",
    "trimesh/rabbit.obj",
    "trimesh/fuze.obj",
    "trimesh/quadknot.obj",
    "vtk-data/footbones.ply",
    "quartet/joint.obj",
    "vtk-data/Vase.stl",
)
MASKS = SCENE[:4] + ("vtk-data/turbineblade.ply",)


# ----------------------------------------------------------------------------------------------
# Label maps
# ----------------------------------------------------------------------------------------------


def _scan(name: str) -> np.ndarray:
    return np.load(next(volumes_dir().rglob(name)))


def _otsu(v: np.ndarray, k: int) -> np.ndarray:
    from skimage.filters import threshold_multiotsu

    return np.digitize(v, threshold_multiotsu(v, classes=k)).astype(np.uint8)


def _inside(mesh, points: np.ndarray) -> np.ndarray:
    from nc3d.geometry.sdf import winding_number

    return np.abs(winding_number(points, mesh)) > 0.5


def _grid_points(lo, hi, n: int) -> np.ndarray:
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")  # (z, y, x) volume, x fastest
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def _mesh_mask(rel: str, n: int = 128) -> np.ndarray:
    from nc3d.io import load_mesh

    mesh = load_mesh(meshes_dir() / rel)
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    pad = (hi - lo).max() * 2.0 / n
    return _inside(mesh, _grid_points(lo - pad, hi + pad, n)).reshape(n, n, n).astype(np.uint8)


def _scene(n: int = 160) -> np.ndarray:
    """Eight meshes in the eight octants of an n³ grid; label i + 1 inside mesh i."""
    from nc3d.geometry.normalize import frame_of_mesh
    from nc3d.io import load_mesh

    half = n // 2
    out = np.zeros((n, n, n), dtype=np.uint8)
    pts = _grid_points((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0), half)  # the normalized frame, [-1, 1]³
    for i, rel in enumerate(SCENE):
        mesh = load_mesh(meshes_dir() / rel)
        frame = frame_of_mesh(mesh)
        inside = _inside(mesh, frame.to_original(pts))
        z, y, x = (i >> 2) & 1, (i >> 1) & 1, i & 1
        box = out[z * half : (z + 1) * half, y * half : (y + 1) * half, x * half : (x + 1) * half]
        box[inside.reshape(half, half, half)] = i + 1
    return out


def label_maps(quick: bool = False):
    """Yield (name, how it was made, volume) for every label map of the benchmark."""
    from skimage.measure import label as components
    from skimage.segmentation import slic

    mni = _scan("mni_icbm152_t1_tal_nlin_sym_09a_converted.npy")
    avg = _scan("avg152T1_RL_nifti.npy")
    yield "mni-otsu4", "1 mm MNI T1 template, multi-Otsu 4 classes", _otsu(mni, 4)
    yield "avg152-otsu5", "2 mm MNI avg152 T1, multi-Otsu 5 classes", _otsu(avg, 5)
    yield (
        "headsq-otsu3",
        "CT head (quarter), multi-Otsu 3 classes, int16",
        _otsu(_scan("quarter.npy"), 3).astype(np.int16),
    )
    yield "mrhead-otsu4", "MR head (HeadMRVolume), multi-Otsu 4 classes", _otsu(_scan("HeadMRVolume.npy"), 4)
    yield "neghip-otsu3", "neghip potential, multi-Otsu 3 classes", _otsu(_scan("neghip.npy"), 3)
    yield "carotid-otsu3", "carotid flow (float32), multi-Otsu 3 classes", _otsu(_scan("carotid.npy"), 3)
    t = _scan("image_10426.npy")
    yield (
        "tmap-3class",
        "NeuroVault t-map: -1 / 0 / +1 at |t| > 2.3, int8",
        (np.sign(t) * (np.abs(t) > 2.3)).astype(np.int8),
    )
    h = _scan("hydrogen.npy")
    yield (
        "hydrogen-quant16",
        "hydrogen density, 16 uniform levels",
        np.minimum(h / h.max() * 16, 15).astype(np.uint8),
    )
    lo, hi = np.percentile(mni, [0.5, 99.5])
    yield (
        "mni-quant29",
        "1 mm MNI T1, 29 uniform levels (0.5–99.5 % range)",
        np.clip((mni - lo) / (hi - lo) * 29, 0, 28).astype(np.uint8),
    )
    yield (
        "mni-components",
        "connected components of the MNI Otsu class 2, int32",
        components(_otsu(mni, 4) == 2).astype(np.int32),
    )
    seg = slic(avg.astype(np.float64), n_segments=500, compactness=0.1, channel_axis=None, start_label=0)
    yield "avg152-slic", "avg152 SLIC supervoxels (~500), uint16", seg.astype(np.uint16)
    if quick:
        return
    for rel in MASKS:
        yield f"mask-{Path(rel).stem}", f"inside of {rel}, 128³ over its bounds", _mesh_mask(rel)
    yield "scene-8", "8 shared meshes in the octants of 160³, label = mesh", _scene()


# ----------------------------------------------------------------------------------------------
# Methods
# ----------------------------------------------------------------------------------------------


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _lzma(v: np.ndarray) -> dict:
    raw = np.ascontiguousarray(v).tobytes()
    blob, enc = _timed(lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), raw)
    back, dec = _timed(lzma.decompress, blob)
    assert back == raw
    return {"bytes": len(blob), "encode_s": enc, "decode_s": dec}


def _zstd(v: np.ndarray) -> dict:
    import zstandard

    raw = np.ascontiguousarray(v).tobytes()
    blob, enc = _timed(zstandard.ZstdCompressor(level=22).compress, raw)
    back, dec = _timed(zstandard.ZstdDecompressor().decompress, blob)
    assert back == raw
    return {"bytes": len(blob), "encode_s": enc, "decode_s": dec}


def _sz3_once(v: np.ndarray, bound: float) -> dict | None:
    import h5py
    import hdf5plugin

    buf = io.BytesIO()
    t0 = time.perf_counter()
    with h5py.File(buf, "w") as f:
        d = f.create_dataset("v", data=v, chunks=v.shape, **hdf5plugin.SZ3(absolute=bound))
        size = d.id.get_storage_size()
    t1 = time.perf_counter()
    with h5py.File(io.BytesIO(buf.getvalue()), "r") as f:
        back = f["v"][...]
    t2 = time.perf_counter()
    if not np.array_equal(back, v):
        return None
    return {"bytes": int(size), "encode_s": t1 - t0, "decode_s": t2 - t1, "absolute": bound}


def _sz3(v: np.ndarray) -> dict:
    tries = [_sz3_once(v, 0.0)] + ([_sz3_once(v, 0.49)] if v.dtype.kind in "iu" else [])
    exact = [r for r in tries if r is not None]
    return min(exact, key=lambda r: r["bytes"]) if exact else {"bytes": None}


def _nc3d(v: np.ndarray, codec: str, **settings) -> dict:
    blob, enc = _timed(lambda: nc3d.compress(v, codec=codec, **settings))
    cpu = time.process_time()
    back, dec = _timed(nc3d.decompress, blob)
    cpu = time.process_time() - cpu
    return {
        "bytes": len(blob),
        "encode_s": enc,
        "decode_s": dec,
        "decode_cpu_s": cpu,
        "exact": bool(np.array_equal(back, v)),
        "file_codec": nc3d.info(blob)["codec"],
        "max_error": float(np.abs(back.astype(np.float64) - v).max()),
    }


def _without_mirror(v: np.ndarray, row: dict) -> int | None:
    """Bytes of the volume-labels file had the volume's mirror symmetry not been used (None: none)."""
    from nc3d.codecs.volume.volume_labels import encode_indices, palette_indices

    c = container.unpack(nc3d.compress(v, codec="volume-labels"))
    if "mirror" not in c.header:
        return None
    values, indices = palette_indices(v)
    return row["bytes"] - len(c.sections["labels"]) + len(encode_indices(indices, len(values)))


def measure(name: str, how: str, v: np.ndarray) -> dict:
    from nc3d.codecs.volume.volume_labels import looks_like_labels

    row = {
        "map": name,
        "made": how,
        "shape": list(v.shape),
        "dtype": v.dtype.name,
        "labels": int(np.unique(v).size),
        "raw_bytes": int(v.nbytes),
        "auto_lossless": bool(looks_like_labels(v)),
        "volume-labels": _nc3d(v, "volume-labels"),
        "lzma": _lzma(v),
        "zstd": _zstd(v),
        "sz3": _sz3(v),
        "volume (lossy default)": _nc3d(v, "volume", lossless=False),
    }
    assert row["volume-labels"]["exact"], name
    row["volume-labels"]["without_mirror_bytes"] = _without_mirror(v, row["volume-labels"])
    best = min((row[k]["bytes"] for k in ("lzma", "zstd", "sz3") if row[k]["bytes"]), default=None)
    row["best_baseline_bytes"] = best
    row["factor"] = best / row["volume-labels"]["bytes"] if best else None
    plain = row["volume-labels"]["without_mirror_bytes"]
    row["factor_without_mirror"] = best / plain if best and plain else row["factor"]
    return row


def timing_256(repeats: int = 3) -> dict:
    """Decode seconds of a 256³ label map, median of ``repeats``, with lzma's for scale."""
    v = to_256(_otsu(_scan("mni_icbm152_t1_tal_nlin_sym_09a_converted.npy"), 4))
    blob, enc = _timed(lambda: nc3d.compress(v, codec="volume-labels"))
    raw = v.tobytes()
    xz = lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)
    ours, theirs, cpu = [], [], []
    for _ in range(repeats):
        c0 = time.process_time()
        back, dt = _timed(nc3d.decompress, blob)
        cpu.append(time.process_time() - c0)
        assert np.array_equal(back, v)
        ours.append(dt)
        theirs.append(_timed(lzma.decompress, xz)[1])
    return {
        "map": "mni-otsu4 padded to 256³",
        "bytes": len(blob),
        "lzma_bytes": len(xz),
        "encode_s": enc,
        "decode_s": statistics.median(ours),
        "decode_cpu_s": statistics.median(cpu),
        "lzma_decode_s": statistics.median(theirs),
        "load_average": os.getloadavg()[0],
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def _kb(n) -> str:
    return "–" if n is None else f"{n / 1000:,.1f}"


def summary(rows: list[dict], timing: dict | None) -> str:
    lines = [
        "# Lossless label volumes: volume-labels vs lzma, zstd, SZ3 (lossless)",
        "",
        "`python -m benchmarks.volume_labels` (the maps and methods: the script's docstring). Bytes: the",
        "whole `.nc3d` file for volume-labels, the raw streams for lzma (xz -9e), zstd (-22) and SZ3",
        "(hdf5plugin 7.1, absolute bound 0 = its lossless path, or 0.49 on integers where smaller; each",
        "checked exact). `volume (lossy)`: the `volume` codec at its default quality, `(lossy)` where",
        "its decode is not exact. Seconds are wall time on a shared 2-core machine under load (see the",
        "load average below): the CPU column is the decoder's own CPU time.",
        "",
        "| label map | shape | dtype | labels | auto | volume-labels kB | lzma kB | zstd kB | SZ3 kB | "
        "factor vs best | no mirror | volume (lossy) kB | enc s | dec s | dec CPU s | lzma dec s |",
        "|---|---|---|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ours = r["volume-labels"]
        lossy = r["volume (lossy default)"]
        no_mirror = "" if ours["without_mirror_bytes"] is None else f"{r['factor_without_mirror']:.2f}×"
        lines.append(
            f"| {r['map']} | {'×'.join(map(str, r['shape']))} | {r['dtype']} | {r['labels']} | "
            f"{'L' if r['auto_lossless'] else '–'} | {_kb(ours['bytes'])} | {_kb(r['lzma']['bytes'])} | "
            f"{_kb(r['zstd']['bytes'])} | {_kb(r['sz3']['bytes'])} | **{r['factor']:.2f}×** | "
            f"{no_mirror} | "
            f"{_kb(lossy['bytes'])}{'' if lossy['exact'] else ' (lossy)'} | {ours['encode_s']:.2f} | "
            f"{ours['decode_s']:.2f} | {ours['decode_cpu_s']:.2f} | {r['lzma']['decode_s']:.3f} |"
        )
    factors = [r["factor"] for r in rows]
    plain = [r["factor_without_mirror"] for r in rows]
    lines += [
        "",
        f"Without the mirror mode (maps that are their own mirror image, coded by one half: the "
        f"`no mirror` column gives the factor had it not been used): smallest factor {min(plain):.2f}×, "
        f"geometric mean {float(np.exp(np.log(plain).mean())):.2f}×.",
        "",
        f"Smallest factor {min(factors):.2f}×, geometric mean {float(np.exp(np.log(factors).mean())):.2f}×, "
        f"over {len(rows)} maps (factor = best of lzma/zstd/SZ3 bytes ÷ volume-labels file bytes). "
        "auto: L when the `volume` codec picks lossless by itself.",
    ]
    if timing:
        lines += [
            "",
            f"256³ decode ({timing['map']}, {timing['bytes']:,} bytes; lzma {timing['lzma_bytes']:,}): "
            f"{timing['decode_s']:.2f} s wall, {timing['decode_cpu_s']:.2f} s CPU (median of 3), lzma's "
            f"decode {timing['lzma_decode_s']:.2f} s wall in the same run; encode {timing['encode_s']:.2f} s "
            f"(load average {timing['load_average']:.1f} on 2 cores while it ran).",
        ]
    return "\n".join(lines) + "\n"


ABLATION_MAPS = ("avg152-otsu5", "headsq-otsu3", "mrhead-otsu4", "tmap-3class", "mni-quant29")


def ablation(out: Path) -> str:
    """What the context choices buy: bytes of the index stream (no mirror mode) with parts switched off.

    The variants patch :mod:`nc3d.codecs.volume.volume_labels` in this process only: the chain of
    contexts cut after its first 1, 2 or 3 members; counts updated between chunks taken in scan
    order instead of strided ones.
    """
    import nc3d.codecs.volume.volume_labels as vl

    maps = {n: v for n, _, v in label_maps(quick=True) if n in ABLATION_MAPS}
    maps["mask-turbineblade"] = _mesh_mask("vtk-data/turbineblade.ply")
    contexts, chunks = vl._contexts, vl._chunks

    def cut(k):
        return lambda *a: (lambda c, cand, spread: (c[:k], cand, spread))(*contexts(*a))

    def scan_order(m):
        edges = [0]
        while edges[-1] < m:
            edges.append(min(m, edges[-1] + vl.CHUNK * 2 ** (len(edges) - 1)))
        return [slice(a, b) for a, b in zip(edges, edges[1:])] or [slice(0, 0)]

    variants = {
        "vote share + ordinal flags only (root)": {"_contexts": cut(1)},
        "+ class, level, first value (coarse)": {"_contexts": cut(2)},
        "+ reflection-canonical bit pattern (mid)": {"_contexts": cut(3)},
        "+ farther neighbours' share (fine): the codec": {},
        "the codec, chunks in scan order": {"_chunks": scan_order},
    }
    rows = []
    for label, patch in variants.items():
        vl._contexts, vl._chunks = patch.get("_contexts", contexts), patch.get("_chunks", chunks)
        try:
            sizes = {}
            for name, v in maps.items():
                values, indices = vl.palette_indices(v)
                sizes[name] = len(vl.encode_indices(indices, len(values)))
        finally:
            vl._contexts, vl._chunks = contexts, chunks
        rows.append({"variant": label, "bytes": sizes})
    with open(out, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    names = list(maps)
    lines = ["| variant | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for r in rows:
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r['bytes'][n]:,}" for n in names) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--summary", action="store_true", help="only print the table from --out")
    p.add_argument("--quick", action="store_true", help="the scan maps only (no mesh voxelization)")
    p.add_argument("--ablation", action="store_true", help="only the context ablation (labels_ablation.*)")
    args = p.parse_args(argv)
    if args.ablation:
        table = ablation(args.out.with_name("labels_ablation.jsonl"))
        args.out.with_name("labels_ablation.md").write_text(table)
        print(table)
        return 0
    if not args.summary:
        rows = []
        for name, how, v in label_maps(args.quick):
            row = measure(name, how, v)
            rows.append(row)
            ours, best = row["volume-labels"]["bytes"], row["best_baseline_bytes"]
            print(f"{name}: {ours:,} B, best baseline {best:,} B, {row['factor']:.2f}×", flush=True)
        timing = timing_256()
        meta = {"machine": platform.machine(), "python": platform.python_version(), "data": str(data_root())}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
            fh.write(json.dumps({"timing_256": timing, "meta": meta}) + "\n")
    lines = [json.loads(x) for x in open(args.out)]
    rows = [r for r in lines if "map" in r]
    timing = next((r["timing_256"] for r in lines if "timing_256" in r), None)
    text = summary(rows, timing)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
