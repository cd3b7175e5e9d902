"""From ``results.jsonl`` to ``report.html``: aggregates, tables, curves, renders, machine.

* **Aggregate** (:func:`aggregate`): per dataset × codec × setting, the median over inputs of
  every number of the successful rows. A set codec's row is one input; its ``bytes`` are the
  bytes per shape (the set's file apportioned equally), its metrics the medians over its shapes.
* **Budget** (:func:`default_budget`): bytes per input. Unless given, the median bytes of the
  nc3d (non-baseline) codecs at their default setting, else of all their points, else of all.
* **Best under budget** (:func:`best_under_budget`): per codec, the setting with median bytes
  ≤ budget and the best quality (meshes: lowest Chamfer-p2s; volumes: highest PSNR); a codec
  without any such setting shows its smallest one, marked over budget.
* **Renders**: one input (``render_input``, or the median-sized one that every codec decoded)
  and, per codec, the setting whose bytes are closest to the budget (on a log scale).

The HTML is one self-contained file: every picture is a base64 ``data:`` URI. Beside it,
``report_views/<dataset>.html`` (unless ``interactive=False``): an :mod:`nc3d.view` page of the
rendered input, each codec's file beside the original (one tab per codec; a set codec's file,
which holds every shape, is left out), embedded in the report by an ``<iframe>`` above the static
picture. That page is self-contained too (three.js inside), so the folder opens from ``file://``.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .compare import head_to_head, head_to_head_markdown, head_to_head_matrix
from .machine import read_machine
from .plots import plot_rate_distortion, plot_reconstructions
from .runner import (
    INPUTS_NAME,
    MESH_METRICS,
    RESULTS_NAME,
    VOLUME_METRICS,
    find_source,
    read_results,
    setting_label,
)

__all__ = [
    "aggregate",
    "cpu_by_codec",
    "default_budget",
    "best_under_budget",
    "write_report",
    "markdown_tables",
    "REPORT_NAME",
    "format_value",
    "TABLE_FIELDS",
]

REPORT_NAME = "report.html"
#: The folder beside ``report.html`` of its interactive views (one ``nc3d view`` page per dataset).
VIEWS_DIR = "report_views"
#: Surface samples per mesh of those views' numbers, and the grid an implicit file is meshed on
#: to measure it (the report's own metrics are the benchmark's; these only label the view).
VIEW_SAMPLES = 20_000
VIEW_RESOLUTION = 128
_NUMBERS = ("bytes", "ratio_canonical", "ratio_input", "encode_s", "decode_s")

#: Columns of the tables: (field, heading) per data kind.
TABLE_FIELDS = {
    "mesh": (
        ("bytes", "bytes"),
        ("ratio_canonical", "ratio (PLY)"),
        ("ratio_input", "ratio (file)"),
        ("chamfer_p2s", "CD-p2s"),
        ("chamfer", "Chamfer"),
        ("f_score_0.005", "F@0.005"),
        ("f_score_0.01", "F@0.01"),
        ("normal_consistency", "NC"),
        ("hausdorff", "Hausdorff"),
        ("encode_s", "encode s"),
        ("decode_s", "decode s"),
    ),
    "volume": (
        ("bytes", "bytes"),
        ("ratio_canonical", "ratio (raw)"),
        ("ratio_input", "ratio (file)"),
        ("mse", "MSE"),
        ("psnr", "PSNR dB"),
        ("encode_s", "encode s"),
        ("decode_s", "decode s"),
    ),
}


def _row_bytes(row: dict) -> float:
    return float(row["bytes_per_shape"] if "bytes_per_shape" in row else row["bytes"])


def _median(values) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None
    return float(np.median(vals))


def aggregate(rows: list[dict]) -> list[dict]:
    """One point per dataset × codec × setting: medians over the successful inputs.

    Returns
    -------
    list of dict
        ``dataset``, ``data_kind``, ``codec``, ``kind``, ``baseline``, ``setting``, ``label``,
        ``setting_key``, ``n`` (rows), ``n_ok`` (rows without error), and the medians of
        ``bytes`` (per input; per shape for a set), ``ratio_canonical``, ``ratio_input``,
        ``encode_s``, ``decode_s`` and the metrics (None when no row succeeded). nc3d codecs
        first, then the baselines, each in the order its rows first appear.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["codec"], r["setting_key"]), []).append(r)
    points = []
    for (dataset, codec, key), rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        first = rs[0]
        metrics = MESH_METRICS if first["data_kind"] == "mesh" else VOLUME_METRICS
        p = {
            "dataset": dataset,
            "data_kind": first["data_kind"],
            "codec": codec,
            "kind": first["kind"],
            "baseline": bool(first["baseline"]),
            "setting": first["setting"],
            "setting_key": key,
            "label": setting_label(first["setting"]),
            "n": len(rs),
            "n_ok": len(ok),
        }
        p["bytes"] = _median(_row_bytes(r) for r in ok)
        for f in _NUMBERS[1:] + metrics:
            p[f] = _median(r.get(f) for r in ok)
        points.append(p)
    points.sort(key=lambda p: p["baseline"])  # nc3d codecs first, each in order of appearance
    return points


def default_budget(points: list[dict]) -> float | None:
    """Bytes per input for the tables and renders (see the module docstring)."""
    ok = [p for p in points if p["bytes"] is not None]
    ours = [p for p in ok if not p["baseline"]]
    for chosen in ([p for p in ours if not p["setting"]], ours, ok):
        if chosen:
            return float(np.median([p["bytes"] for p in chosen]))
    return None


def _quality(p: dict) -> float:
    """Sort key, smaller is better: Chamfer-p2s for meshes, −PSNR for volumes."""
    if p["data_kind"] == "volume":
        return -p["psnr"] if p.get("psnr") is not None else math.inf
    return p["chamfer_p2s"] if p.get("chamfer_p2s") is not None else math.inf


def best_under_budget(points: list[dict], budget: float) -> list[dict]:
    """Per codec (in order of appearance), its best point within ``budget`` bytes per input.

    Each returned point gets ``within_budget`` (False: no setting fits; the smallest is shown).
    """
    out = []
    for codec in dict.fromkeys(p["codec"] for p in points):
        mine = [p for p in points if p["codec"] == codec and p["bytes"] is not None]
        if not mine:
            continue
        fits = [p for p in mine if p["bytes"] <= budget]
        best = min(fits, key=_quality) if fits else min(mine, key=lambda p: p["bytes"])
        out.append({**best, "within_budget": bool(fits)})
    return out


def format_value(field: str, value) -> str:
    """How a number appears in the report's tables (the test parses these back)."""
    if value is None:
        return "—"
    value = float(value)
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if field == "bytes":
        return f"{value:,.0f}"
    if field.startswith("ratio") or field.endswith("_s") or field == "psnr":
        return f"{value:.4g}"
    return f"{value:.4g}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(points: list[dict], data_kind: str, table_id: str, *, mark_budget: bool) -> str:
    fields = TABLE_FIELDS[data_kind]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in fields)
    lines = [
        f'<table id="{html.escape(table_id)}"><thead><tr><th>codec</th><th>type</th><th>setting</th>'
        f"<th>inputs ok</th>{head}</tr></thead><tbody>"
    ]
    for p in points:
        over = mark_budget and not p.get("within_budget", True)
        cells = "".join(
            f'<td data-field="{f}">{html.escape(format_value(f, p.get(f)))}</td>' for f, _ in fields
        )
        lines.append(
            f'<tr data-codec="{html.escape(p["codec"])}" data-setting="{html.escape(p["setting_key"])}"'
            f"{' class=over' if over else ''}><td>{html.escape(p['codec'])}</td>"
            f"<td>{'baseline' if p['baseline'] else 'nc3d'}</td>"
            f"<td>{html.escape(p['label'])}{' (over budget)' if over else ''}</td>"
            f"<td>{p['n_ok']}/{p['n']}</td>{cells}</tr>"
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _caption(codec: str, label: str, nbytes: float, m: dict, data_kind: str) -> str:
    head = f"{codec}\n{label}\n{nbytes:,.0f} B"  # long ladder labels get their own line
    if data_kind == "volume":
        return f"{head} · PSNR {format_value('psnr', m.get('psnr'))} dB"
    return (
        f"{head} · CD-p2s {format_value('chamfer_p2s', m.get('chamfer_p2s'))}\n"
        f"F@0.01 {format_value('f', m.get('f_score_0.01'))} · "
        f"NC {format_value('nc', m.get('normal_consistency'))}"
    )


def _pick_render_input(
    rows: list[dict], render_input: str | None, results_dir: Path
) -> tuple[dict, Path] | None:
    """A per-input row (any codec) of the input to render and its original file: given by name
    (when this dataset has it), else the median-sized one among those every per-input codec decoded."""
    single = [
        r for r in rows if "n_shapes" not in r and "error" not in r and not r["input"].startswith("<set")
    ]
    sources: dict[str, Path | None] = {}
    for r in single:  # one look-up per input, not per row
        if r["input"] not in sources:
            sources[r["input"]] = find_source(r, results_dir)
    found = {name: path for name, path in sources.items() if path is not None}
    single = [r for r in single if r["input"] in found]
    if render_input is not None:
        for r in single:
            if r["input"] == render_input or Path(r["input"]).name == render_input:
                return r, found[r["input"]]
        # not an input of this dataset (e.g. a mesh named for a results folder with volumes too)
    codecs = {r["codec"] for r in rows if r["kind"] != "meshset"}
    by_input: dict[str, list[dict]] = {}
    for r in single:
        by_input.setdefault(r["input"], []).append(r)
    full = [rs for rs in by_input.values() if {r["codec"] for r in rs} >= codecs] or list(by_input.values())
    if not full:
        return None
    full.sort(key=lambda rs: (rs[0]["canonical_bytes"], rs[0]["input"]))
    pick = full[len(full) // 2][0]
    return pick, found[pick["input"]]


def _renders(
    rows: list[dict], results_dir: Path, budget: float, render_input: str | None, dataset: str
) -> tuple[bytes | None, str, list[tuple[str, Path, Path]]]:
    """The side-by-side picture of one input, a line saying what it shows (or why not), and what
    an interactive view of it can show: ``(label, .nc3d file, original)`` per codec of one file
    per input (a set codec's file holds every shape: left out of the view)."""
    from .. import api

    picked = _pick_render_input(rows, render_input, results_dir)
    if picked is None:
        return (
            None,
            (
                f"no input to render (none decoded by every codec, or the inputs are not where "
                f"{results_dir / INPUTS_NAME} says)"
            ),
            [],
        )
    pick, source = picked
    name, kind = pick["input"], pick["data_kind"]
    try:
        original = api.load_input(source).data
    except Exception as exc:  # noqa: BLE001 - the data may have moved since the run
        return None, f"cannot read {source} to render it ({exc})", []
    panels, views = [], []
    ours = {r["codec"] for r in rows if not r["baseline"]}
    for codec in sorted(dict.fromkeys(r["codec"] for r in rows), key=lambda c: c not in ours):
        cands = []
        for r in rows:
            if r["codec"] != codec or "error" in r:
                continue
            if r.get("n_shapes"):
                shape = next((s for s in r.get("per_shape", []) if s["name"] == name), None)
                if shape is not None:
                    cands.append((r, r["bytes_per_shape"], shape))
            elif r["input"] == name:
                cands.append((r, r["bytes"], r))
        if not cands:
            continue
        r, nbytes, m = min(cands, key=lambda c: abs(math.log(max(c[1], 1) / budget)))
        try:
            decoded = api.decompress((results_dir / r["file"]).read_bytes())
            if r.get("n_shapes"):
                names = [s["name"] for s in r["per_shape"]]
                item = decoded[names.index(name)]
                decoded = item[1] if isinstance(item, tuple) else item
        except Exception:  # noqa: BLE001 - a missing or unreadable kept file: leave the codec out
            continue
        panels.append(
            {"data": decoded, "caption": _caption(codec, setting_label(r["setting"]), nbytes, m, kind)}
        )
        if not r.get("n_shapes"):
            views.append((f"{codec} {setting_label(r['setting'])}", results_dir / r["file"], source))
    if not panels:
        return None, f"no reconstruction of {name} could be read back", []
    title = f"{dataset}: {name}, each codec at the setting closest to {budget:,.0f} B"
    try:
        return plot_reconstructions(original, panels, kind, title), title, views
    except Exception as exc:  # noqa: BLE001 - a render failure must not lose the rest of the report
        return None, f"rendering failed ({type(exc).__name__}: {exc})", views


def _view_section(out: Path, dataset: str, title: str, views: list[tuple[str, Path, Path]]) -> str:
    """Write ``out/report_views/<dataset>.html`` (:mod:`nc3d.view`: one tab per codec, the decoded
    file beside the original) and return the HTML that embeds it; "" when there is nothing to show
    or the page cannot be built (the static picture stays either way)."""
    from ..view import write_page

    if not views:
        return ""
    page = out / VIEWS_DIR / (_safe_name(dataset) + ".html")
    try:
        page.parent.mkdir(exist_ok=True)
        write_page(
            page,
            [f for _, f, _ in views],
            compare=[s for _, _, s in views],
            labels=[label for label, _, _ in views],
            title=title,
            force=True,
            samples=VIEW_SAMPLES,
            resolution=VIEW_RESOLUTION,
        )
    except Exception as exc:  # noqa: BLE001 - the view is an extra: its failure must not lose the report
        return f"<p>No interactive view ({html.escape(type(exc).__name__)}: {html.escape(str(exc))}).</p>"
    rel = html.escape(f"{VIEWS_DIR}/{page.name}")
    return (
        f'<iframe class="view" src="{rel}" title="interactive view of {html.escape(title)}" loading="lazy">'
        f'</iframe><p class="note">Interactive view (<a href="{rel}">{rel}</a>, a page beside this report; '
        "WebGL 2): one tab per codec, the decoded file beside the original with one shared camera (drag: "
        "orbit, wheel: zoom). The picture below is the same comparison, drawn when the report was "
        "written.</p>"
    )


def _safe_name(text: str) -> str:
    """``text`` as a file name: letters, digits, ``-``, ``_`` and ``.`` kept, anything else ``_``."""
    out = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text).lstrip(".")
    return out or "_"


def _h2h_matrix(rows: list[dict], dataset: str, kind: str) -> list[str]:
    """The head-to-head section: nc3d codec × baseline, each cell wins–losses (coloured by who
    leads) that opens to the pair's per-setting lines (a ``<details>``; no script)."""
    matrix = head_to_head_matrix(head_to_head(rows))
    if not any(c["wins"] + c["losses"] for c in matrix["cells"].values()):
        return []
    metric = "PSNR dB" if kind == "volume" else "CD-p2s"
    e, fv = html.escape, format_value
    out = [
        "<h3>Head to head at equal size</h3><p>Per input, each baseline's best setting whose file is not "
        "larger than the nc3d file. A cell is <b>wins–losses</b> of the nc3d codec (row) against the "
        "baseline (column), summed over the codec's settings (one count per setting × input; green: nc3d "
        "leads, red: the baseline leads); click it for the settings, with medians over the inputs compared "
        f"({metric}). Inputs where the baseline has no file that small are counted apart.</p>",
        f'<table id="h2h-{e(dataset)}" class="h2h"><thead><tr><th>nc3d codec</th>'
        + "".join(f"<th>{e(b)}</th>" for b in matrix["baselines"])
        + "</tr></thead><tbody>",
    ]
    for codec in matrix["codecs"]:
        tds = []
        for base in matrix["baselines"]:
            c = matrix["cells"].get((codec, base))
            if c is None or not c["wins"] + c["losses"]:
                smaller = c["smaller"] if c else 0
                tds.append(
                    f'<td class="none" data-baseline="{e(base)}" title="no input compared'
                    f'{f"; {smaller} without a baseline file that small" if smaller else ""}">—</td>'
                )
                continue
            lead = "win" if c["wins"] > c["losses"] else "loss" if c["losses"] > c["wins"] else "even"
            lines = "".join(
                f"<tr><td>{e(h['label'])}</td><td>{h['wins']}</td><td>{h['losses']}</td><td>{h['smaller']}</td>"
                f"<td>{fv('bytes', h['bytes'])} / {fv('bytes', h['baseline_bytes'])}</td>"
                f"<td>{fv('q', h['quality'])} / {fv('q', h['baseline_quality'])}</td></tr>"
                for h in c["lines"]
            )
            tds.append(
                f'<td class="{lead}" data-baseline="{e(base)}" data-wins="{c["wins"]}" '
                f'data-losses="{c["losses"]}" data-smaller="{c["smaller"]}"><details><summary>'
                f"{c['wins']}–{c['losses']}</summary><table><tr><th>setting</th><th>nc3d better</th>"
                "<th>baseline better</th><th>no baseline file that small</th><th>bytes nc3d / baseline</th>"
                f"<th>{metric} nc3d / baseline</th></tr>{lines}</table></details></td>"
            )
        out.append(f'<tr data-h2h-codec="{e(codec)}"><th>{e(codec)}</th>{"".join(tds)}</tr>')
    out.append("</tbody></table>")
    return out


def cpu_by_codec(rows: list[dict]) -> list[dict]:
    """What each codec cost: rows, summed ``cpu_s`` (load + encode + decode + metrics, CPU seconds)
    and its share of the total, most expensive first; rows without ``cpu_s`` (older runs, imported
    or failed rows) are counted in ``untimed``."""
    out: dict[str, dict] = {}
    for r in rows:
        c = out.setdefault(r["codec"], {"codec": r["codec"], "rows": 0, "cpu_s": 0.0, "untimed": 0})
        c["rows"] += 1
        if isinstance(r.get("cpu_s"), (int, float)):
            c["cpu_s"] += r["cpu_s"]
        else:
            c["untimed"] += 1
    total = sum(c["cpu_s"] for c in out.values()) or 1.0
    return sorted(({**c, "share": c["cpu_s"] / total} for c in out.values()), key=lambda c: -c["cpu_s"])


def _cpu_markdown(rows: list[dict]) -> list[str]:
    costs = cpu_by_codec(rows)
    return [
        "CPU seconds per codec (whole rows: load, encode, decode, metrics):",
        "",
        "| codec | rows | CPU s | share | rows without CPU time |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {c['codec']} | {c['rows']} | {c['cpu_s']:,.1f} | {100 * c['share']:.0f}% | {c['untimed']} |"
            for c in costs
        ),
        f"| all | {sum(c['rows'] for c in costs)} | {sum(c['cpu_s'] for c in costs):,.1f} | | |",
        "",
    ]


def markdown_tables(results_dir, *, budget: float | None = None) -> str:
    """The report's tables as Markdown (for BENCHMARKS.md): per dataset, the best setting of each
    codec within the budget, then every setting."""
    rows = read_results(Path(results_dir) / RESULTS_NAME)
    if not rows:
        raise InputError(f"{Path(results_dir) / RESULTS_NAME}: no results to report")
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ds_rows = [r for r in rows if r["dataset"] == dataset]
        kind = ds_rows[0]["data_kind"]
        points = aggregate(ds_rows)
        b = budget if budget is not None else default_budget(points)
        fields = TABLE_FIELDS[kind]
        head = "| codec | type | setting | inputs ok | " + " | ".join(h for _, h in fields) + " |"
        rule = "|---|---|---|---:|" + "---:|" * len(fields)

        def line(p, over=False, fields=fields):
            cells = " | ".join(format_value(f, p.get(f)) for f, _ in fields)
            return (
                f"| {p['codec']} | {'baseline' if p['baseline'] else 'nc3d'} | {p['label']}"
                f"{' (over budget)' if over else ''} | {p['n_ok']}/{p['n']} | {cells} |"
            )

        if b is not None:
            out += [
                f"**{dataset}** — best setting of each codec within {b:,.0f} bytes per input "
                f"({'lowest Chamfer-p2s' if kind == 'mesh' else 'highest PSNR'}; medians over inputs):",
                "",
                head,
                rule,
                *(line(p, not p["within_budget"]) for p in best_under_budget(points, b)),
                "",
            ]
        out += [f"**{dataset}** — every setting:", "", head, rule, *(line(p) for p in points), ""]
        out += head_to_head_markdown(ds_rows)
        out += _cpu_markdown(ds_rows)
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1500px;color:#222}\n"
    "table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:3px 7px;\n"
    "text-align:right}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}tr.over{color:#999}"
    "thead{background:#f3f3f3}\n"
    "iframe.view{width:100%;height:640px;border:1px solid #ccc}p.note{font-size:13px;color:#555}\n"
    "img{max-width:100%;display:block;margin:0.5em 0}code{background:#f3f3f3;padding:1px 4px}\n"
    "table.h2h>*>tr>td,table.h2h>thead th{text-align:center;vertical-align:top}\n"
    "table.h2h>tbody>tr>th{text-align:left}table.h2h td.win{background:#d7efd7}\n"
    "table.h2h td.loss{background:#f5d6d6}table.h2h td.even{background:#f3ecc8}\n"
    "table.h2h td.none{color:#999}"
    "table.h2h summary{cursor:pointer;font-weight:600;white-space:nowrap}\n"
    "table.h2h details table{margin:4px 0;font-size:12px;background:#fff}"
    "table.h2h details td{text-align:right}table.h2h details td:first-child{text-align:left}"
)


def write_report(
    results_dir,
    *,
    budget: float | None = None,
    render_input: str | None = None,
    save_images: bool = True,
    interactive: bool = True,
) -> Path:
    """Write ``results_dir/report.html`` from its ``results.jsonl`` (and the PNGs next to it).

    Parameters
    ----------
    results_dir : path
        A folder written by :func:`nc3d.bench.run_bench`.
    budget : float, optional
        Bytes per input for the best-setting tables and the renders (default
        :func:`default_budget`, per dataset).
    render_input : str, optional
        The input to render (its path relative to the dataset folder, or its file name).
    save_images : bool
        Also write ``rd_<dataset>.png`` and ``renders_<dataset>.png``.
    interactive : bool
        Also write ``report_views/<dataset>.html``, an :mod:`nc3d.view` page of the rendered
        input (each codec's file of one input beside the original, one tab per codec) and embed
        it in the report (an ``<iframe>``; the static picture stays below it).

    Returns
    -------
    Path
        The report.

    Raises
    ------
    InputError
        No results in the folder.
    """
    from ..files import write_bytes_atomic

    out = Path(results_dir)
    rows = read_results(out / RESULTS_NAME)
    if not rows:
        raise InputError(f"{out / RESULTS_NAME}: no results to report")
    machine = read_machine(out)
    body = [
        "<h1>nc3d benchmark</h1>",
        "<p>Every codec over its ladder of settings on every input; metrics of the decoded data against "
        "the original (meshes in the normalized frame of the original, DESIGN.md; volumes over the "
        "original's data range). Points are medians over inputs. nc3d codecs are solid lines, baselines "
        "dashed.</p>",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ds_rows = [r for r in rows if r["dataset"] == dataset]
        kind = ds_rows[0]["data_kind"]
        points = aggregate(ds_rows)
        b = budget if budget is not None else default_budget(points)
        n_inputs = len(
            {r["input"] for r in ds_rows if "n_shapes" not in r and not r["input"].startswith("<set")}
        )
        body.append(
            f"<h2>{html.escape(dataset)} ({n_inputs} {'meshes' if kind == 'mesh' else 'volumes'})</h2>"
        )
        rd = plot_rate_distortion(points, kind, f"{dataset}: median over inputs")
        if save_images:
            write_bytes_atomic(out / f"rd_{dataset}.png", rd, force=True)
        body.append(_img(rd, f"rate–distortion curves of {dataset}"))
        if b is not None:
            best = best_under_budget(points, b)
            quality = "lowest Chamfer-p2s" if kind == "mesh" else "highest PSNR"
            body.append(f"<h3>Best setting of each codec within {b:,.0f} bytes per input ({quality})</h3>")
            body.append(_table(best, kind, f"best-{dataset}", mark_budget=True))
            png, what, views = _renders(ds_rows, out, b, render_input, dataset)
            body.append("<h3>Reconstructions at a matched size</h3>")
            if interactive:
                body.append(_view_section(out, dataset, what if png is not None else dataset, views))
            if png is None:
                body.append(f"<p>{html.escape(what)}</p>")
            else:
                if save_images:
                    write_bytes_atomic(out / f"renders_{dataset}.png", png, force=True)
                body.append(_img(png, f"renders of {dataset}"))
        body.extend(_h2h_matrix(ds_rows, dataset, kind))
        body.append(
            f"<details><summary>CPU seconds per codec</summary><table id=cpu-{html.escape(dataset)}>"
            "<tr><th>codec</th><th>rows</th><th>CPU s</th><th>share</th><th>rows without CPU time</th></tr>"
        )
        body.extend(
            f"<tr><td>{html.escape(c['codec'])}</td><td>{c['rows']}</td><td>{c['cpu_s']:,.1f}</td>"
            f"<td>{100 * c['share']:.0f}%</td><td>{c['untimed']}</td></tr>"
            for c in cpu_by_codec(ds_rows)
        )
        body.append("</table></details>")
        body.append(f"<details><summary>All settings of {html.escape(dataset)}</summary>")
        body.append(_table(points, kind, f"all-{dataset}", mark_budget=False) + "</details>")
        errors = [r for r in ds_rows if "error" in r]
        if errors:
            body.append(f"<details><summary>{len(errors)} failed rows</summary><ul>")
            body.extend(
                f"<li><code>{html.escape(r['codec'])} {html.escape(setting_label(r['setting']))} "
                f"{html.escape(r['input'])}</code>: {html.escape(str(r['error']))}</li>"
                for r in errors
            )
            body.append("</ul></details>")
    sheets = sorted(out.glob("contact_sheet_*.png"))
    if sheets:  # pictures a benchmark script made of every input (e.g. the implicit codec's)
        body.append("<h2>Contact sheets</h2>")
        for sheet in sheets:
            body.append(f"<h3>{html.escape(sheet.stem.removeprefix('contact_sheet_'))}</h3>")
            body.append(_img(sheet.read_bytes(), sheet.stem))
    body.append("<h2>Machine and versions</h2><table id=machine>")
    body.extend(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in machine.items()
    )
    body.append("</table>")
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>nc3d benchmark</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    return write_bytes_atomic(out / REPORT_NAME, page.encode("utf-8"), force=True)
