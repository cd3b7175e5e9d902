"""Head to head at equal size: where each nc3d codec wins and where it loses, input by input.

For every nc3d codec setting and every baseline, per input that both ran: the baseline's best
setting (lowest Chamfer-p2s for meshes, highest PSNR for volumes) among those whose file is not
larger than the nc3d file of that input; the nc3d codec *wins* that input when its quality is
strictly better. Inputs where the baseline has no setting that small are counted apart (the nc3d
codec reaches a size the baseline's ladder does not). Set codecs are compared per shape, with
their bytes shared equally (``bytes_per_shape``) and their ``per_shape`` metrics.
"""

from __future__ import annotations

import math

import numpy as np

from .runner import setting_label

__all__ = ["per_input", "head_to_head", "head_to_head_matrix", "head_to_head_markdown"]


def _quality(kind: str, m: dict) -> float:
    """Smaller is better: Chamfer-p2s for meshes, −PSNR for volumes (nan/missing: +∞)."""
    v = m.get("psnr" if kind == "volume" else "chamfer_p2s")
    if not isinstance(v, (int, float)) or math.isnan(v):
        return math.inf
    return -float(v) if kind == "volume" else float(v)


def per_input(rows: list[dict]) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """``{(codec, setting_key): {input: (bytes, quality)}}`` of one dataset's successful rows
    (quality as in :func:`_quality`; a set's rows are split into its shapes)."""
    out: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for r in rows:
        if "error" in r:
            continue
        mine = out.setdefault((r["codec"], r["setting_key"]), {})
        if "per_shape" in r:
            for s in r["per_shape"]:
                mine[s["name"]] = (float(r["bytes_per_shape"]), _quality(r["data_kind"], s))
        else:
            mine[r["input"]] = (float(r["bytes"]), _quality(r["data_kind"], r))
    return out


def head_to_head(rows: list[dict]) -> list[dict]:
    """One line per nc3d codec setting × baseline of one dataset.

    Returns
    -------
    list of dict
        ``codec``, ``label`` (its setting), ``baseline``, ``inputs`` (run by both), ``wins``,
        ``losses``, ``smaller`` (inputs where every baseline file is larger than the nc3d one),
        and the medians over the compared inputs of ``bytes`` / ``quality`` (nc3d) and
        ``baseline_bytes`` / ``baseline_quality`` (Chamfer-p2s, or PSNR for volumes).
    """
    if not rows:
        return []
    kind = rows[0]["data_kind"]
    info = {r["codec"]: (bool(r["baseline"]), r["setting"]) for r in rows}
    settings = {(r["codec"], r["setting_key"]): r["setting"] for r in rows}
    points = per_input(rows)
    baselines = list(dict.fromkeys(c for c, (b, _) in info.items() if b))
    sign = -1.0 if kind == "volume" else 1.0  # back from the sort key to the metric
    out = []
    for (codec, key), mine in points.items():
        if info[codec][0]:
            continue
        for base in baselines:
            theirs = [p for (c, _), p in points.items() if c == base]
            wins = losses = smaller = 0
            ours_b, ours_q, their_b, their_q = [], [], [], []
            for name, (nbytes, q) in mine.items():
                cands = [p[name] for p in theirs if name in p]
                if not cands:
                    continue
                fits = [c for c in cands if c[0] <= nbytes]
                if not fits:
                    smaller += 1
                    continue
                best = min(fits, key=lambda c: c[1])
                wins += q < best[1]
                losses += q >= best[1]
                ours_b.append(nbytes)
                ours_q.append(q)
                their_b.append(best[0])
                their_q.append(best[1])
            med = lambda v: float(np.median(v)) if v else None  # noqa: E731
            out.append(
                {
                    "codec": codec,
                    "label": setting_label(settings[(codec, key)]),
                    "baseline": base,
                    "inputs": wins + losses + smaller,
                    "wins": wins,
                    "losses": losses,
                    "smaller": smaller,
                    "bytes": med(ours_b),
                    "quality": None if not ours_q else sign * float(np.median(ours_q)),
                    "baseline_bytes": med(their_b),
                    "baseline_quality": None if not their_q else sign * float(np.median(their_q)),
                }
            )
    return out


def head_to_head_matrix(lines: list[dict]) -> dict:
    """:func:`head_to_head`'s lines summed per nc3d codec × baseline (over the codec's settings).

    Parameters
    ----------
    lines : list of dict
        :func:`head_to_head` of one dataset.

    Returns
    -------
    dict
        ``codecs`` and ``baselines`` (in order of appearance), and ``cells``: ``{(codec,
        baseline): {"wins", "losses", "smaller", "lines"}}`` where ``wins``/``losses``/``smaller``
        are summed over the codec's settings (one count per setting × input) and ``lines`` are the
        pair's lines that compared at least one input (the rows of the long table). A pair none of
        whose inputs could be compared has a cell with zero wins and losses.
    """
    codecs = list(dict.fromkeys(h["codec"] for h in lines))
    baselines = list(dict.fromkeys(h["baseline"] for h in lines))
    cells: dict[tuple[str, str], dict] = {}
    for h in lines:
        c = cells.setdefault((h["codec"], h["baseline"]), {"wins": 0, "losses": 0, "smaller": 0, "lines": []})
        c["wins"] += h["wins"]
        c["losses"] += h["losses"]
        c["smaller"] += h["smaller"]
        if h["wins"] + h["losses"]:
            c["lines"].append(h)
    return {"codecs": codecs, "baselines": baselines, "cells": cells}


def head_to_head_markdown(rows: list[dict]) -> list[str]:
    """:func:`head_to_head` as Markdown lines (empty when there is no nc3d codec or baseline)."""
    lines = [h for h in head_to_head(rows) if h["wins"] + h["losses"]]
    if not lines:
        return []
    metric = "PSNR dB" if rows[0]["data_kind"] == "volume" else "CD-p2s"

    def fmt(v, f):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return ("∞" if v > 0 else "−∞") if math.isinf(v) else format(v, f)

    matrix = head_to_head_matrix(head_to_head(rows))
    out = [
        "Head to head at equal size, wins–losses of each nc3d codec against each baseline (summed over the "
        "codec's settings, one count per setting × input; the per-setting lines follow):",
        "",
        "| nc3d codec | " + " | ".join(matrix["baselines"]) + " |",
        "|---|" + "---:|" * len(matrix["baselines"]),
    ]
    for codec in matrix["codecs"]:
        cells = [matrix["cells"].get((codec, b)) for b in matrix["baselines"]]
        out.append(
            f"| {codec} | "
            + " | ".join(
                "—" if c is None or not c["wins"] + c["losses"] else f"{c['wins']}–{c['losses']}"
                for c in cells
            )
            + " |"
        )
    out += [
        "",
        "<details><summary>Per setting</summary>",
        "",
        f"Head to head at equal size (per input: the baseline's best setting not larger than the nc3d "
        f"file; medians over the inputs compared; {metric}; pairs where the baseline has no file that small "
        f"on any input are left out):",
        "",
        f"| nc3d codec | setting | baseline | nc3d better | baseline better | no baseline file that small "
        f"| bytes nc3d / baseline | {metric} nc3d / baseline |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for h in lines:
        q = ".2f" if metric == "PSNR dB" else ".4g"
        out.append(
            f"| {h['codec']} | {h['label']} | {h['baseline']} | {h['wins']} | {h['losses']} | {h['smaller']} "
            f"| {fmt(h['bytes'], ',.0f')} / {fmt(h['baseline_bytes'], ',.0f')} "
            f"| {fmt(h['quality'], q)} / {fmt(h['baseline_quality'], q)} |"
        )
    return out + ["", "</details>", ""]
