"""``nc3d bench``: rows, resume, failures as rows, sets and volumes, the report and its numbers."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import trimesh

from nc3d.bench import find_inputs, read_results, run_bench, write_report
from nc3d.bench.report import REPORT_NAME
from nc3d.cli import main
from nc3d.codecs.base import _REGISTRY, Codec, register
from nc3d.container import header_get
from nc3d.errors import InputError
from nc3d.io import canonical_ply_bytes, save_volume
from nc3d.io.ply import parse_canonical_ply

CODECS = ["draco", "ply-lzma"]


def _write_meshes(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    trimesh.creation.icosphere(subdivisions=3).export(root / "sphere.obj")
    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    box.apply_translation((1.0, 2.0, 3.0))
    box.export(root / "sub" / "box.stl")
    trimesh.creation.torus(1.0, 0.3, major_sections=48, minor_sections=24).export(root / "torus.ply")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """A benchmark of three small meshes (one in a subfolder) and one broken file, run once."""
    root = tmp_path_factory.mktemp("bench")
    data = root / "shapes"
    _write_meshes(data)
    (data / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")
    out = root / "out"
    rows = run_bench(data, out, codecs=CODECS, quick=True, jobs=1, samples=2000)
    report = write_report(out)
    return data, out, rows, report


def test_rows_cover_every_codec_setting_and_input(bench_dir):
    data, out, rows, _ = bench_dir
    from nc3d.codecs import get_codec

    n_settings = sum(len(get_codec(c).preset("quick")) for c in CODECS)
    assert len(rows) == 4 * n_settings
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(rows) and all(json.loads(line)["dataset"] == "shapes" for line in lines)
    assert {r["input"] for r in rows} == {"sphere.obj", "sub/box.stl", "torus.ply", "broken.obj"}
    for r in rows:
        if r["input"] == "broken.obj":  # a failure is a row, the run went on
            assert "error" in r and "broken.obj" in r["error"]
            continue
        assert "error" not in r, r
        assert r["ratio_canonical"] == pytest.approx(r["canonical_bytes"] / r["bytes"])
        assert r["ratio_input"] == pytest.approx(r["input_bytes"] / r["bytes"])
        assert r["input_bytes"] == (data / r["input"]).stat().st_size
        assert (out / r["file"]).stat().st_size == r["bytes"]
        assert r["encode_s"] >= 0 and r["decode_s"] >= 0 and r["cpu_s"] > 0 and r["samples"] == 2000
        assert r["baseline"] is True and r["kind"] == "mesh"
    lossless = [r for r in rows if r["codec"] == "ply-lzma" and "error" not in r]
    assert all(r["chamfer_p2s"] < 1e-6 and r["f_score_0.01"] == 1.0 for r in lossless)
    draco = {r["setting"]["bits"]: r for r in rows if r["codec"] == "draco" and r["input"] == "torus.ply"}
    assert draco[8]["bytes"] < draco[14]["bytes"] and draco[8]["chamfer_p2s"] > draco[14]["chamfer_p2s"]


def test_resume_skips_existing_rows_and_can_retry_failures(bench_dir, tmp_path):
    data, out, rows, _ = bench_dir
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    seen = []
    again = run_bench(
        data, copy, codecs=CODECS, quick=True, jobs=1, samples=2000, on_row=lambda r, d, t: seen.append(r)
    )
    assert seen == [] and len(again) == len(rows)
    assert (copy / "results.jsonl").read_bytes() == (out / "results.jsonl").read_bytes()
    # a torn last line (killed run) is ignored, and the retried failures append fresh rows
    with open(copy / "results.jsonl", "a") as fh:
        fh.write('{"dataset": "shapes", "codec": "dra')
    run_bench(
        data,
        copy,
        codecs=CODECS,
        quick=True,
        jobs=1,
        samples=2000,
        retry_failed=True,
        on_row=lambda r, d, t: seen.append(r),
    )
    assert {r["input"] for r in seen} == {"broken.obj"} and all("error" in r for r in seen)
    assert (
        len((copy / "results.jsonl").read_text().splitlines()) == len(rows) + len(seen) + 1
    )  # + the torn line
    assert len(read_results(copy / "results.jsonl")) == len(rows)  # a retried row replaces the old one


def test_rows_hold_no_absolute_paths_and_the_report_finds_moved_inputs(bench_dir, tmp_path):
    data, out, rows, _ = bench_dir
    text = (out / "results.jsonl").read_text()
    assert str(data) not in text and str(data.resolve()) not in text and all("source" not in r for r in rows)
    assert json.loads((out / "inputs.json").read_text()) == {"shapes": "../shapes"}
    moved = tmp_path / "elsewhere"  # results and data moved together: the renders still find the inputs
    shutil.copytree(data, moved / "shapes")
    shutil.copytree(out, moved / "out")
    page = write_report(moved / "out", render_input="torus.ply").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "no input to render" not in page
    # an older run's row with an absolute `source` still loads and renders
    (moved / "out" / "inputs.json").unlink()
    lines = [json.loads(line) for line in (moved / "out" / "results.jsonl").read_text().splitlines()]
    for r in lines:
        r["source"] = str((moved / "shapes" / r["input"]).resolve())
    (moved / "out" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    page = write_report(moved / "out", render_input="torus.ply").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    (moved / "shapes" / "torus.ply").unlink()  # gone: the report says so instead of failing
    for r in (moved / "shapes").rglob("*"):
        r.unlink() if r.is_file() else None
    page = write_report(moved / "out").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 1 and "no input to render" in page


def _median(values):
    return float(np.median(values))


class _Tables(HTMLParser):
    """Cells of every table with an id: {table id: [(codec, setting key, {field: text})]}; img srcs."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self._table, self._row, self._field = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "id" in a:
            self._table = self.tables.setdefault(a["id"], [])
        elif tag == "tr" and self._table is not None and "data-codec" in a:
            self._row = (a["data-codec"], a["data-setting"], {})
            self._table.append(self._row)
        elif tag == "td" and self._row is not None and "data-field" in a:
            self._field = a["data-field"]
        elif tag == "img":
            self.images.append(a.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "td":
            self._field = None
        elif tag == "table":
            self._table = self._row = None

    def handle_data(self, text):
        if self._field is not None:
            self._row[2][self._field] = self._row[2].get(self._field, "") + text


def _parse_number(text: str) -> float:
    return float(text.replace(",", "").replace("∞", "inf"))


def test_report_numbers_match_results_jsonl(bench_dir):
    _, out, _, report = bench_dir
    page = _Tables()
    page.feed(report.read_text(encoding="utf-8"))
    raw = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert set(page.tables) >= {"best-shapes", "all-shapes", "machine"}
    checked = 0
    for table in ("best-shapes", "all-shapes"):
        assert page.tables[table], table
        for codec, key, cells in page.tables[table]:
            ok = [r for r in raw if r["codec"] == codec and r["setting_key"] == key and "error" not in r]
            assert ok
            for field, text in cells.items():
                expected = _median([r[field] for r in ok])
                assert _parse_number(text) == pytest.approx(
                    expected, rel=1e-3, abs=0.6 if field == "bytes" else 0
                )
                checked += 1
    assert checked >= 3 * 11
    best = {codec for codec, _, _ in page.tables["best-shapes"]}
    assert best == set(CODECS)


def test_report_is_self_contained_with_pictures(bench_dir):
    _, out, rows, report = bench_dir
    page = _Tables()
    page.feed(report.read_text(encoding="utf-8"))
    assert len(page.images) == 2  # curves + renders
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert (out / "rd_shapes.png").is_file() and (out / "renders_shapes.png").is_file()
    failed = sum("error" in r for r in rows)
    assert failed == 4 and f"{failed} failed rows" in report.read_text(
        encoding="utf-8"
    )  # broken.obj, 4 settings


def test_find_inputs_refuses_mixed_and_empty_folders(tmp_path):
    with pytest.raises(InputError, match="no mesh"):
        find_inputs(tmp_path)
    trimesh.creation.box().export(tmp_path / "a.obj")
    save_volume(tmp_path / "v.npy", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(InputError, match="both meshes"):
        find_inputs(tmp_path)
    assert find_inputs(tmp_path, "*.obj")[0] == "mesh"
    assert find_inputs(tmp_path, "*.npy")[0] == "volume"
    for name in ("v.mhd", "v.raw", "w.mhd", "w.raw"):  # one volume in several formats is taken once
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_inputs(tmp_path, "[vw].*")[1]] == ["v.npy", "w.mhd"]


# -- a volume codec and a set codec, registered for these tests only ---------------------------------
class _VolumeU8(Codec):
    name = "test-volume-u8"
    kind = "volume"
    baseline = True

    def encode_parts(self, data, *, progress=None):
        lo, hi = float(data.min()), float(data.max())
        q = np.round((data - lo) / max(hi - lo, 1e-30) * 255).astype(np.uint8)
        return {"shape": list(data.shape), "lo": lo, "hi": hi, "dtype": data.dtype.name}, {"q": q.tobytes()}

    def decode_parts(self, header, sections):
        shape = tuple(header["shape"])
        q = np.frombuffer(sections["q"], np.uint8).reshape(shape).astype(np.float64)
        return (q / 255 * (header["hi"] - header["lo"]) + header["lo"]).astype(header["dtype"])


class _SetPly(Codec):
    name = "test-set-ply"
    kind = "meshset"
    baseline = True

    def encode_parts(self, data, *, progress=None):
        return (
            {"names": [n for n, _ in data]},
            {f"s{i}": canonical_ply_bytes(m) for i, (_, m) in enumerate(data)},
        )

    def decode_parts(self, header, sections):
        names = header_get(header, "names", list)
        return [(n, parse_canonical_ply(sections[f"s{i}"])) for i, n in enumerate(names)]


@pytest.fixture
def test_codecs():
    for cls in (_VolumeU8, _SetPly):
        register(cls)
    yield
    for cls in (_VolumeU8, _SetPly):
        _REGISTRY.pop(cls.name, None)


def test_volumes_get_mse_psnr_and_raw_ratios(tmp_path, test_codecs):
    z, y, x = np.mgrid[0:20, 0:24, 0:28]
    (tmp_path / "in").mkdir()
    save_volume(tmp_path / "in" / "ramp.npy", (x * 1000 + y).astype(np.uint16))
    save_volume(
        tmp_path / "in" / "smooth.npy",
        np.sin(z / 5.0).astype(np.float32) * np.cos(x / 7.0).astype(np.float32),
    )
    from nc3d.bench import select_codecs

    assert "test-volume-u8" in select_codecs(None, "volume") and "draco" not in select_codecs(None, "volume")
    rows = run_bench(tmp_path / "in", tmp_path / "out", codecs=["test-volume-u8"], jobs=1)
    assert len(rows) == 2
    for r in rows:
        assert "error" not in r, r
        assert r["data_kind"] == "volume" and np.isfinite(r["psnr"]) and r["psnr"] > 40 and r["mse"] > 0
        nbytes = 20 * 24 * 28 * (2 if r["input"] == "ramp.npy" else 4)
        assert r["canonical_bytes"] == nbytes and r["ratio_canonical"] == pytest.approx(nbytes / r["bytes"])
    report = write_report(tmp_path / "out")
    assert "PSNR" in report.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="takes a mesh"):
        run_bench(tmp_path / "in", tmp_path / "out2", codecs=["draco"], jobs=1)


def test_a_set_codec_gets_the_whole_folder_as_one_input(tmp_path, test_codecs):
    _write_meshes(tmp_path / "in")
    rows = run_bench(
        tmp_path / "in", tmp_path / "out", codecs=["test-set-ply", "draco"], quick=True, jobs=1, samples=2000
    )
    sets = [r for r in rows if r["codec"] == "test-set-ply"]
    assert len(sets) == 1 and len(rows) == 1 + 3 * 3
    s = sets[0]
    assert "error" not in s, s
    assert (
        s["input"] == "<set of 3>"
        and s["n_shapes"] == 3
        and s["bytes_per_shape"] == pytest.approx(s["bytes"] / 3)
    )
    assert [p["name"] for p in s["per_shape"]] == ["sphere.obj", "sub/box.stl", "torus.ply"]
    assert s["chamfer_p2s"] == pytest.approx(np.median([p["chamfer_p2s"] for p in s["per_shape"]]))
    assert s["chamfer_p2s"] < 1e-6 and s["ratio_canonical"] == pytest.approx(
        s["canonical_bytes"] / s["bytes"]
    )
    page = _Tables()
    page.feed(write_report(tmp_path / "out").read_text(encoding="utf-8"))
    row = next(c for codec, _, c in page.tables["all-in"] if codec == "test-set-ply")
    assert _parse_number(row["bytes"]) == pytest.approx(s["bytes_per_shape"], abs=0.6)


class _SetDropsOne(_SetPly):
    name = "test-set-drops-one"

    def decode_parts(self, header, sections):
        from nc3d.mesh import Mesh

        out = super().decode_parts(header, sections)
        out[1] = (out[1][0], Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
        return out


def test_a_shape_of_a_set_decoded_to_nothing_scores_worst_instead_of_failing_the_row(tmp_path):
    from nc3d.bench.runner import EMPTY_SHAPE_METRICS

    _write_meshes(tmp_path / "in")
    register(_SetDropsOne)
    try:
        (row,) = run_bench(
            tmp_path / "in", tmp_path / "out", codecs=["test-set-drops-one"], quick=True, jobs=1, samples=2000
        )
    finally:
        _REGISTRY.pop(_SetDropsOne.name, None)
    assert "error" not in row, row
    box = row["per_shape"][1]
    assert box["empty"] and box["f_score_0.01"] == 0.0 and box["chamfer"] == EMPTY_SHAPE_METRICS["chamfer"]
    assert row["per_shape"][0]["f_score_0.01"] == 1.0 and "empty" not in row["per_shape"][0]


def test_cli_bench_and_report(tmp_path, capsys):
    _write_meshes(tmp_path / "in")
    out = tmp_path / "out"
    assert (
        main(
            [
                "bench",
                str(tmp_path / "in"),
                "-o",
                str(out),
                "--codecs",
                "draco",
                "--quick",
                "--jobs",
                "1",
                "--samples",
                "1000",
                "--json",
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 9 and all(r["codec"] == "draco" for r in lines)
    assert (out / "report.html").is_file() and (out / "machine.json").is_file()
    assert main(["report", str(out), "--budget", "500", "--render-input", "torus.ply"]) == 0
    assert "within 500 bytes" in (out / "report.html").read_text(encoding="utf-8")
    assert 'src="report_views/in.html"' in (out / "report.html").read_text(encoding="utf-8")
    shutil.rmtree(out / "report_views")
    assert main(["report", str(out), "--no-interactive"]) == 0
    assert "<iframe" not in (out / "report.html").read_text(encoding="utf-8")
    assert not (out / "report_views").exists()
    capsys.readouterr()
    assert main(["report", str(out), "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| draco | baseline | bits=8 | 3/3 |" in md and "every setting" in md
    cpu = sum(r["cpu_s"] for r in lines)
    assert "CPU seconds per codec" in md and f"| draco | 9 | {cpu:,.1f} | 100% | 0 |" in md
    assert main(["bench", str(tmp_path / "in"), "-o", str(out), "--codecs", "nope"]) == 1
    assert "unknown codec 'nope'" in capsys.readouterr().err


# -- the report in a real browser ---------------------------------------------------------------------
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, env=env, timeout=1200)
        if shutil.which("chromium"):
            return shutil.which("chromium")
        pytest.skip("headless Chromium missing and `apt-get install -y chromium` did not install it")
    pytest.skip(
        "headless Chromium missing; install Debian's `chromium` (the test installs it only as root with apt)"
    )


def test_report_renders_in_headless_chromium(bench_dir, tmp_path):
    from matplotlib.image import imread

    _, _, _, report = bench_dir
    browser = _chromium()
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = report.resolve().as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    page = _Tables()
    page.feed(dom)
    assert "best-shapes" in page.tables and len(page.images) == 2
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    shot = tmp_path / "shot.png"
    subprocess.run(
        flags + [f"--screenshot={shot}", "--window-size=1400,2000", url], capture_output=True, timeout=120
    )
    image = imread(shot)[:, :, :3]
    assert image.shape[:2] == (2000, 1400)
    dark = (image.mean(axis=2) < 0.5).mean()
    assert 0.01 < dark < 0.5, dark  # text, plots and renders drawn on a white page
    assert image.std() > 0.1


def test_head_to_head_counts_wins_and_losses_at_equal_size():
    from nc3d.bench.compare import head_to_head, head_to_head_markdown

    def row(codec, baseline, setting, name, nbytes, cd):
        return {
            "dataset": "d",
            "data_kind": "mesh",
            "codec": codec,
            "kind": "mesh",
            "baseline": baseline,
            "setting": setting,
            "setting_key": json.dumps(setting),
            "input": name,
            "bytes": nbytes,
            "chamfer_p2s": cd,
        }

    rows = [
        row("ours", False, {}, "a", 100, 0.01),
        row("ours", False, {}, "b", 100, 0.01),
        row("ours", False, {}, "c", 100, 0.01),
        row("ours", False, {}, "d", 100, 0.01),
        row("base", True, {"q": 1}, "a", 50, 0.02),  # a: the small setting loses to ours ...
        row("base", True, {"q": 2}, "a", 150, 0.001),  # ... the better one is too large: nc3d wins a
        row("base", True, {"q": 1}, "b", 90, 0.005),  # b: the baseline wins
        row("base", True, {"q": 1}, "c", 120, 0.0),  # c: no baseline file that small
        {**row("base", True, {"q": 2}, "d", 10, 0.0), "error": "failed"},  # d: a failed row is no result
        {
            "dataset": "d",
            "data_kind": "mesh",
            "codec": "set",
            "kind": "meshset",
            "baseline": True,
            "setting": {},
            "setting_key": "{}",
            "input": "<set of 2>",
            "bytes": 100,
            "bytes_per_shape": 50,
            "per_shape": [{"name": "a", "chamfer_p2s": 0.1}, {"name": "b", "chamfer_p2s": 0.001}],
        },
    ]
    got = {h["baseline"]: h for h in head_to_head(rows)}
    assert (got["base"]["wins"], got["base"]["losses"], got["base"]["smaller"], got["base"]["inputs"]) == (
        1,
        1,
        1,
        3,
    )
    assert got["base"]["baseline_bytes"] == 70 and got["base"]["quality"] == pytest.approx(0.01)
    assert (got["set"]["wins"], got["set"]["losses"], got["set"]["smaller"]) == (
        1,
        1,
        0,
    )  # per shape, 50 B each
    md = "\n".join(head_to_head_markdown(rows))
    assert "| ours | default | base | 1 | 1 | 1 | 100 / 70 | 0.01 / 0.0125 |" in md


def test_the_report_shows_the_contact_sheets_beside_the_results(bench_dir):
    _, out, _, _ = bench_dir
    from nc3d.render import encode_png

    sheet = np.zeros((4, 6, 3), dtype=np.uint8)
    (out / "contact_sheet_implicit.png").write_bytes(encode_png(sheet))
    try:
        page = write_report(out).read_text(encoding="utf-8")
    finally:
        (out / "contact_sheet_implicit.png").unlink()
    assert "<h2>Contact sheets</h2>" in page and 'alt="contact_sheet_implicit"' in page
    assert "Contact sheets" not in write_report(out).read_text(encoding="utf-8")


# -- the head-to-head matrix and the viewer of the rendered input --------------------------------------
class _H2hCells(HTMLParser):
    """Cells of the head-to-head matrix: {(codec, baseline): [text of its summary, its attributes]}."""

    def __init__(self):
        super().__init__()
        self.cells, self._codec, self._cell, self._depth, self._summary = {}, None, None, 0, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._depth += 1
        elif tag == "tr" and "data-h2h-codec" in a:
            self._codec = a["data-h2h-codec"]
        elif tag == "td" and self._codec is not None and self._depth == 1 and "data-baseline" in a:
            self._cell = self.cells[(self._codec, a["data-baseline"])] = ["", a]
        elif tag == "summary":
            self._summary = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._codec = None
        elif tag == "summary":
            self._summary = False

    def handle_data(self, text):
        if self._summary and self._cell is not None and self._depth == 1:
            self._cell[0] += text


@pytest.fixture(scope="module")
def ours_dir(tmp_path_factory):
    """A benchmark with an nc3d (non-baseline) codec: Draco registered under another name, run once."""
    from nc3d.baselines.draco import Draco

    class _Ours(Draco):
        name = "test-ours-draco"
        baseline = False
        presets = {"smoke": ({"bits": 9},), "quick": ({"bits": 9}, {"bits": 12}), "default": ({"bits": 9},)}

    root = tmp_path_factory.mktemp("ours")
    _write_meshes(root / "shapes")
    register(_Ours)
    try:
        rows = run_bench(
            root / "shapes",
            root / "out",
            codecs=[_Ours.name, "draco", "ply-lzma"],
            quick=True,
            jobs=1,
            samples=2000,
        )
        yield root / "out", rows
    finally:
        _REGISTRY.pop(_Ours.name, None)


def test_the_head_to_head_matrix_sums_the_lines_and_opens_to_them(ours_dir):
    from nc3d.bench.compare import head_to_head

    out, rows = ours_dir
    text = write_report(out, save_images=False).read_text(encoding="utf-8")
    lines = head_to_head(rows)
    assert {h["codec"] for h in lines} == {"test-ours-draco"} and {h["baseline"] for h in lines} == {
        "draco",
        "ply-lzma",
    }
    page = _H2hCells()
    page.feed(text)
    assert set(page.cells) == {("test-ours-draco", "draco"), ("test-ours-draco", "ply-lzma")}
    compared = 0
    for (codec, base), (summary, attrs) in page.cells.items():
        mine = [h for h in lines if h["codec"] == codec and h["baseline"] == base]
        wins, losses = sum(h["wins"] for h in mine), sum(h["losses"] for h in mine)
        if wins + losses == 0:
            assert "data-wins" not in attrs and attrs["class"] == "none"
            continue
        compared += 1
        assert summary == f"{wins}–{losses}"
        assert (int(attrs["data-wins"]), int(attrs["data-losses"])) == (wins, losses)
        assert int(attrs["data-smaller"]) == sum(h["smaller"] for h in mine)
        assert attrs["class"] == ("win" if wins > losses else "loss" if losses > wins else "even")
    assert compared >= 1
    # the settings behind a cell are in it, and the page still needs nothing from outside
    assert text.count("<details><summary>") >= compared
    for needle in ("http://", "https://", "<link", "<script src", 'src="//', "@import"):
        assert needle not in text, needle
    from nc3d.bench.report import markdown_tables

    md = markdown_tables(out)
    assert "| nc3d codec | draco | ply-lzma |" in md and "<details><summary>Per setting</summary>" in md


def _view_data(page: str) -> dict:
    import re

    m = re.search(r'<script type="application/json" id="nc3d-data">(.*?)</script>', page, re.S)
    assert m
    return json.loads(m.group(1))


def test_the_report_embeds_a_view_of_the_rendered_input(ours_dir):
    out, rows = ours_dir
    text = write_report(out, save_images=False).read_text(encoding="utf-8")
    view = out / "report_views" / "shapes.html"
    assert '<iframe class="view" src="report_views/shapes.html"' in text
    assert text.index("<iframe") < text.index('alt="renders of shapes"')  # the static picture stays, below
    data = _view_data(view.read_text(encoding="utf-8"))
    # one tab per codec, each the file of the input and setting the static picture draws
    rendered = text.split("<h3>Reconstructions at a matched size</h3>")[1]
    name = next(r["input"] for r in rows if "error" not in r and f"shapes: {r['input']}," in rendered)
    labels = [it["file"] for it in data["items"]]
    assert sorted(label.split()[0] for label in labels) == sorted(["test-ours-draco", "draco", "ply-lzma"])
    assert all(it["kind"] == "mesh" and it["shapes"][0]["original"] for it in data["items"])
    assert {it["original_file"] for it in data["items"]} == {Path(name).name}
    assert name in data["title"]
    page = view.read_text(encoding="utf-8")  # self-contained (what it requests: the browser test)
    assert "<link" not in page and "<script src" not in page
    view.unlink()
    text = write_report(out, save_images=False, interactive=False).read_text(encoding="utf-8")
    assert "<iframe" not in text and not view.exists() and 'alt="renders of shapes"' in text


def test_the_reports_view_opens_in_headless_chromium(ours_dir):
    from nc3d.testing.browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium (install chromium, or set NC3D_CHROMIUM) to open the report's view in")
    out, _ = ours_dir
    write_report(out, save_images=False)
    with Browser(find_chromium()) as browser:
        page = browser.open((out / REPORT_NAME).resolve().as_uri(), width=1000, height=700)
        src = page.evaluate("document.querySelector('iframe.view').getAttribute('src')")
        assert src == "report_views/shapes.html"
        view = browser.open((out / "report_views" / "shapes.html").resolve().as_uri(), width=900, height=500)
        status = view.wait_for(
            "window.nc3dView && nc3dView.status.state !== 'loading' && nc3dView.status", timeout=180
        )
        assert status["state"] == "ready", status["errors"]
        assert page.errors() == [] and view.errors() == []
        tabs = view.evaluate("[...document.querySelectorAll('#tabs button')].map(b => b.textContent)")
        assert len(tabs) == 3 and any(t.startswith("test-ours-draco ") for t in tabs)
        requested = page.requests + view.requests
        assert [u for u in requested if not u.startswith(("file:", "data:", "blob:"))] == []
