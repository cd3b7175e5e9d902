"""Pictures of a benchmark: rate–distortion curves and side-by-side reconstructions (matplotlib, Agg).

Both return PNG bytes; the report embeds them and also writes them next to ``results.jsonl``.
"""

from __future__ import annotations

import io

import numpy as np

from .._optional import require

__all__ = ["is_lossless", "plot_rate_distortion", "plot_reconstructions", "CURVES"]

#: (metric, axis label, log y) per data kind: what the curves show against the compression ratio.
CURVES = {
    "mesh": (
        ("chamfer_p2s", "Chamfer-p2s (normalized units, lower is better)", True),
        ("f_score_0.01", "F-score@0.01 (higher is better)", False),
        ("normal_consistency", "normal consistency (higher is better)", False),
    ),
    "volume": (("psnr", "PSNR over the data range, dB (higher is better)", False),),
}


def _figure(width: float, height: float):
    require("matplotlib", "benchmark plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _style(codecs: list[str], baseline: dict[str, bool]) -> dict[str, dict]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {
        c: {
            "color": cmap(i % 10),
            "linestyle": "--" if baseline[c] else "-",
            "marker": "s" if baseline[c] else "o",
            "linewidth": 1.3 if baseline[c] else 2.4,
            "markersize": 4 if baseline[c] else 6,
        }
        for i, c in enumerate(codecs)
    }


def _series(point: dict) -> str:
    """One curve per codec and per value of its text settings (zfp's ``mode=rate`` and
    ``mode=accuracy`` are two curves; a ladder over numbers is one)."""
    modes = [f"{k}={v}" for k, v in point["setting"].items() if isinstance(v, str)]
    return point["codec"] + (f" ({', '.join(modes)})" if modes else "")


def is_lossless(point: dict) -> bool:
    """True when a point reproduces its inputs up to float32 rounding: Chamfer-p2s < 10⁻⁶
    (normalized units) for meshes, MSE = 0 for volumes."""
    if point["data_kind"] == "volume":
        return point.get("mse") == 0.0
    return point.get("chamfer_p2s") is not None and point["chamfer_p2s"] < 1e-6


def plot_rate_distortion(points: list[dict], data_kind: str, title: str) -> bytes:
    """Quality against compression ratio, one curve per codec over its ladder.

    Parameters
    ----------
    points : list of dict
        Aggregated points (:func:`nc3d.bench.report.aggregate`) of one dataset: ``codec``,
        ``baseline``, ``ratio_canonical`` and the medians of the metrics.
    data_kind : str
        ``"mesh"`` (Chamfer-p2s, F@0.01, NC) or ``"volume"`` (PSNR).
    title : str

    Returns
    -------
    bytes
        A PNG. A codec whose error is exactly zero (lossless) is drawn as a vertical dotted line
        at its ratio: what any lossy codec has to beat to be worth its error.
    """
    curves = CURVES[data_kind]
    fig = _figure(5.0 * len(curves), 4.2)
    from matplotlib.ticker import NullFormatter

    codecs = list(dict.fromkeys(_series(p) for p in points))
    style = _style(codecs, {_series(p): p["baseline"] for p in points})
    for i, (metric, label, log_y) in enumerate(curves):
        ax = fig.add_subplot(1, len(curves), i + 1)
        for c in codecs:
            pts = sorted(
                (
                    p
                    for p in points
                    if _series(p) == c and p.get(metric) is not None and p.get("ratio_canonical") is not None
                ),
                key=lambda p: p["ratio_canonical"],
            )
            if not pts:
                continue
            x = np.array([p["ratio_canonical"] for p in pts], dtype=float)
            if all(is_lossless(p) for p in pts):
                ax.axvline(
                    float(np.median(x)),
                    color=style[c]["color"],
                    linestyle=":",
                    linewidth=1.5,
                    label=f"{c} (lossless)",
                )
                continue
            y = np.array([p[metric] for p in pts], dtype=float)
            keep = np.isfinite(y) & ((y > 0) if log_y else True)
            if keep.any():
                ax.plot(x[keep], y[keep], label=f"{c} · baseline" if pts[0]["baseline"] else c, **style[c])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(
            "compression ratio vs binary PLY (log)"
            if data_kind == "mesh"
            else "compression ratio vs raw bytes (log)"
        )
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def _volume_slice(volume: np.ndarray) -> np.ndarray:
    return np.asarray(volume[volume.shape[0] // 2], dtype=np.float64)


def plot_reconstructions(
    original, panels: list[dict], data_kind: str, title: str, *, size: int = 256
) -> bytes:
    """The original next to each codec's reconstruction, with the numbers under each picture.

    Parameters
    ----------
    original : Mesh or (z, y, x) ndarray
        The input (meshes are ray cast in their own normalized frame, volumes show the middle
        ``z`` slice on the original's gray range).
    panels : list of dict
        ``{"data": decoded mesh or volume, "caption": str}`` per codec.
    data_kind : str
        ``"mesh"`` or ``"volume"``.
    title : str
    size : int
        Pixels per mesh picture.

    Returns
    -------
    bytes
        A PNG.
    """
    items = [{"data": original, "caption": "original"}, *panels]
    fig = _figure(2.6 * len(items), 3.6)
    if data_kind == "mesh":
        from ..geometry.normalize import frame_of_mesh
        from ..render import render_mesh

        frame = frame_of_mesh(original)
        images = [render_mesh(it["data"], frame=frame, size=size) for it in items]
        kw = {}
    else:
        ref = _volume_slice(original)
        images = [_volume_slice(it["data"]) for it in items]
        kw = {
            "cmap": "gray",
            "vmin": float(ref.min()),
            "vmax": float(ref.max()) if ref.max() > ref.min() else 1.0,
        }
    for i, (it, im) in enumerate(zip(items, images)):
        ax = fig.add_subplot(1, len(items), i + 1)
        ax.imshow(im, **kw)
        ax.set_axis_off()
        ax.set_title(it["caption"], fontsize=7.5)
    fig.suptitle(title, fontsize=10)
    return _png(fig)
