"""``nc3d demo``: the main job on the built-in data — compress, decode, measure, tabulate.

Every registered mesh codec runs on every sample mesh, and every volume codec on the sample
volume, with its default settings — what a user gets; each codec joins the demo by registering
itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .codecs.base import codec_names, get_codec
from .errors import OutputExistsError
from .files import write_bytes_atomic
from .io import canonical_ply_size, load_mesh, load_volume, save_mesh
from .metrics import compare_meshes
from .metrics.volume import compare_volumes
from .samples import sample_mesh_paths, sample_volume_path

__all__ = ["run_demo"]


def _round_trip(name: str, data):
    """Encode ``data`` with codec ``name`` at its defaults, decode it: (blob, decoded, encode s, decode s)."""
    codec = get_codec(name)
    t0 = time.perf_counter()
    blob = codec.encode(data)
    t1 = time.perf_counter()
    decoded = codec.decode(blob)
    return blob, decoded, t1 - t0, time.perf_counter() - t1


def run_demo(out_dir: Path, *, force: bool = False, codecs: list[str] | None = None) -> dict:
    """Run the demo, writing ``.nc3d`` files, decoded meshes and ``summary.json`` into ``out_dir``.

    Returns
    -------
    dict
        ``{"rows": [...]}`` with one row per codec × sample: bytes, ratios, seconds, metrics.
    """
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise OutputExistsError(out_dir, "exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in codecs or ():
        get_codec(name)  # an unknown name is an InputError listing the codecs
    names = [n for n in codecs if n in codec_names("mesh")] if codecs else codec_names("mesh")
    rows = []
    for path in sample_mesh_paths():
        mesh = load_mesh(path)
        canonical = canonical_ply_size(len(mesh.vertices), len(mesh.faces))
        for name in names:
            with console.status(f"{path.name}: {name}…"):
                blob, decoded, encode_s, decode_s = _round_trip(name, mesh)
                metrics = compare_meshes(mesh, decoded)
            stem = f"{path.stem}.{name}"
            write_bytes_atomic(out_dir / f"{stem}.nc3d", blob, force=True)
            save_mesh(out_dir / f"{stem}.obj", decoded, force=True)
            rows.append(
                {
                    "shape": path.name,
                    "codec": name,
                    "bytes": len(blob),
                    "ratio_file": path.stat().st_size / len(blob),
                    "ratio_ply": canonical / len(blob),
                    "encode_s": encode_s,
                    "decode_s": decode_s,
                    **metrics,
                }
            )
    volume = load_volume(sample_volume_path())
    volume_rows = []
    for name in [n for n in codecs if n in codec_names("volume")] if codecs else codec_names("volume"):
        with console.status(f"{sample_volume_path().name}: {name}…"):
            blob, decoded, encode_s, decode_s = _round_trip(name, volume)
        write_bytes_atomic(out_dir / f"{sample_volume_path().stem}.{name}.nc3d", blob, force=True)
        volume_rows.append(
            {
                "volume": sample_volume_path().name,
                "codec": name,
                "bytes": len(blob),
                "ratio_raw": volume.nbytes / len(blob),
                "encode_s": encode_s,
                "decode_s": decode_s,
                **compare_volumes(volume, decoded),
            }
        )
    summary: dict[str, Any] = {
        "rows": rows,
        "volume": {
            "file": sample_volume_path().name,
            "shape": list(volume.shape),
            "dtype": str(volume.dtype),
        },
        "volume_rows": volume_rows,
    }
    write_bytes_atomic(out_dir / "summary.json", json.dumps(summary, indent=2).encode(), force=True)

    table = Table(
        title="nc3d demo — built-in samples (ratio vs canonical binary PLY; metrics in normalized units)"
    )
    for col in ("shape", "codec", "bytes", "ratio", "chamfer_p2s", "f@0.01", "NC", "enc s", "dec s"):
        table.add_column(col, justify="left" if col in ("shape", "codec") else "right")
    for r in rows:
        table.add_row(
            r["shape"],
            r["codec"],
            f"{r['bytes']:,}",
            f"{r['ratio_ply']:.1f}×",
            f"{r['chamfer_p2s']:.2e}",
            f"{r['f_score_0.01']:.3f}",
            f"{r['normal_consistency']:.3f}",
            f"{r['encode_s']:.1f}",
            f"{r['decode_s']:.1f}",
        )
    import sys

    Console(width=None if sys.stdout.isatty() else 150).print(table)
    if volume_rows:
        vtable = Table(
            title=f"volume sample {summary['volume']['file']} {tuple(volume.shape)} {volume.dtype}",
            caption="ratio vs the raw bytes; PSNR over the data range",
        )
        for col in ("codec", "bytes", "ratio", "PSNR dB", "enc s", "dec s"):
            vtable.add_column(col, justify="left" if col == "codec" else "right")
        for r in volume_rows:
            vtable.add_row(
                r["codec"],
                f"{r['bytes']:,}",
                f"{r['ratio_raw']:.1f}×",
                "lossless" if r["mse"] == 0 else f"{r['psnr']:.1f}",
                f"{r['encode_s']:.1f}",
                f"{r['decode_s']:.1f}",
            )
        Console(width=None if sys.stdout.isatty() else 150).print(vtable)
    print(f"outputs in {out_dir}/")
    return summary
