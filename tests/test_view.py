"""``nc3d view``: the page builder (always), and the pages in a real browser (when Chromium is here).

The browser tests drive headless Chromium over its DevTools pipe (:mod:`nc3d.testing.browser`,
standard library only): each page kind is opened from ``file://`` with the network blocked, must
say it is ready with no console error, no uncaught exception and no request leaving the file,
and must draw non-blank WebGL views (checked on a screenshot). The implicit file's live shader is
compared with ``nc3d render`` of the same file at the same camera: foreground masks must agree
with IoU ≥ 0.95 (measured 1.0 at 88², 0.9998 at 160²) and the shading within 3/255 on average over
the pixels both cover (measured ≤ 0.07). They are skipped, saying why, when no Chromium is installed.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

import nc3d
from nc3d.cli import main
from nc3d.codecs.base import get_codec
from nc3d.codecs.implicit.codec import encode_model
from nc3d.container import Container, pack
from nc3d.errors import InputError, OutputExistsError
from nc3d.geometry.normalize import Frame, frame_of_mesh
from nc3d.io import load_mesh, save_mesh
from nc3d.mesh import Mesh
from nc3d.metrics import compare_meshes
from nc3d.nn.mlp import Architecture, SdfMLP
from nc3d.resources import data_dir
from nc3d.testing.browser import Browser, find_chromium
from nc3d.view import build_page, pack_mesh, write_page

GOLDEN = Path(__file__).parent / "golden"
SPOT = data_dir() / "meshes" / "spot.obj"
HEAD = data_dir() / "volumes" / "HeadMRVolume.npy"


def _mesh(t) -> Mesh:
    return Mesh(np.asarray(t.vertices, np.float64), np.asarray(t.faces, np.int64))


def _implicit_blob(arch: Architecture, seed: int, frame: Frame) -> bytes:
    """An implicit file of a known network: the geometric initialization (a rounded blob) made
    rock-like by weights on the positional inputs (smaller for higher octaves) or by noise on the
    hidden layers; instant, unlike training."""
    torch.manual_seed(seed)
    model = SdfMLP(arch).geometric_init(0.55)
    with torch.no_grad():
        first = model.linears[0].weight
        if arch.encoding == "positional":
            octave = torch.arange(6 * arch.frequencies) % arch.frequencies
            first[:, 3:] = torch.randn_like(first[:, 3:]) * 0.05 / 4.0**octave
        else:
            for lin in list(model.linears)[1:-1]:
                lin.weight.add_(torch.randn_like(lin.weight) * 0.09)
    sections, _ = encode_model(model, 12)
    header = {
        "architecture": arch.to_dict(),
        "bits": 12,
        "frame": frame.to_dict(),
        "surface_error": None,
        "format": get_codec("implicit").format,
    }
    return pack(Container("implicit", header, sections))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One small file of each kind (and originals)."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("view")
    out: dict[str, Path] = {}
    spot = load_mesh(SPOT)
    out["mesh"] = d / "spot.nc3d"
    out["mesh"].write_bytes(nc3d.compress(spot, codec="sdf-grid", resolution=32))
    out["positional"] = d / "positional.nc3d"
    out["positional"].write_bytes(
        _implicit_blob(Architecture(7, 32, "relu", "positional", 4), 1, Frame((1.0, 2.0, 3.0), 0.5))
    )
    out["mlp"] = d / "mlp.nc3d"
    out["mlp"].write_bytes(_implicit_blob(Architecture(8, 32, "relu", "none", 6), 2, Frame.identity()))
    out["volume"] = d / "head.nc3d"
    out["volume"].write_bytes(nc3d.compress(np.load(HEAD), codec="volume"))
    # a set of 20 small shapes, and their originals in a folder, named as in the set
    rng = np.random.default_rng(0)
    originals = d / "originals"
    originals.mkdir()
    shapes = []
    for i in range(20):
        kind = i % 4
        if kind == 0:
            t = trimesh.creation.icosphere(2)
            t.apply_scale(rng.uniform(0.5, 1.0, 3))
        elif kind == 1:
            t = trimesh.creation.box(rng.uniform(0.5, 1.0, 3))
        elif kind == 2:
            t = trimesh.creation.capsule(rng.uniform(0.5, 1.2), rng.uniform(0.3, 0.5))
        else:
            t = trimesh.creation.cylinder(rng.uniform(0.3, 0.6), rng.uniform(0.5, 1.2))
        name = f"shape{i:02d}"
        shapes.append((name, _mesh(t)))
        save_mesh(originals / f"{name}.ply", _mesh(t))
    settings = {
        "resolution": 16,
        "decoder_width": 8,
        "feature_channels": 4,
        "steps": 150,
        "crop": 0,
        "deform_steps": 0,
        "feature_lr": 0.1,
        "cache_dir": "off",
        "workers": 1,
        "check_samples": 500,  # the encoder measures each shape: the page shows it without originals
        "refit_steps": 20,
    }
    out["set"] = d / "set.nc3d"
    out["set"].write_bytes(nc3d.compress(shapes, codec="shapeset", **settings))
    out["originals"] = originals
    return out


def _page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="nc3d-data">(.*?)</script>', page, re.S)
    assert m
    return json.loads(m.group(1))


def _blob(page: str, ident: str) -> bytes:
    import zlib

    m = re.search(rf'<script type="application/octet-stream" id="{ident}">(.*?)</script>', page, re.S)
    assert m
    return zlib.decompress(base64.b64decode(m.group(1)))


def _mesh_of(page: str, entry: dict) -> tuple[np.ndarray, np.ndarray]:
    """A page's mesh decoded as app.js decodes it (view.pack_mesh)."""
    raw = np.frombuffer(_blob(page, entry["blob"]), np.uint8)
    n, m = 3 * entry["vertices"], 3 * entry["faces"]
    assert len(raw) == 2 * n + 4 * m
    d = (raw[:n].astype(np.uint32) | (raw[n : 2 * n].astype(np.uint32) << 8)).reshape(-1, 3)
    q = np.cumsum(d, axis=0) % 65536
    z = sum(raw[2 * n + k * m : 2 * n + (k + 1) * m].astype(np.int64) << (8 * k) for k in range(4))
    faces = np.cumsum((z >> 1) ^ -(z & 1)).reshape(-1, 3)
    v = np.asarray(entry["lo"]) + q * np.asarray(entry["scale"])
    return v, faces


def test_pack_mesh_round_trips_extreme_values():
    rng = np.random.default_rng(1)
    q = rng.integers(0, 65536, (70_000, 3)).astype(np.uint16)  # large jumps wrap around 2¹⁶
    q[:3] = [[0, 0, 0], [65535, 65535, 65535], [0, 65535, 0]]
    faces = rng.integers(0, 70_000, (5000, 3))  # 32-bit indices, large differences of both signs
    raw = np.frombuffer(pack_mesh(q, faces), np.uint8)
    n, m = q.size, faces.size
    d = (raw[:n].astype(np.uint32) | (raw[n : 2 * n].astype(np.uint32) << 8)).reshape(-1, 3)
    np.testing.assert_array_equal(np.cumsum(d, axis=0) % 65536, q)
    z = sum(raw[2 * n + k * m : 2 * n + (k + 1) * m].astype(np.int64) << (8 * k) for k in range(4))
    np.testing.assert_array_equal(np.cumsum((z >> 1) ^ -(z & 1)).reshape(-1, 3), faces)


# -- the page builder ------------------------------------------------------------------------------
def test_mesh_page_holds_the_decoded_mesh_and_the_original_in_the_original_frame(files):
    page, items = build_page(files["mesh"], compare=SPOT, samples=2000)
    assert items == [{"file": "spot.nc3d", "kind": "mesh", "codec": "sdf-grid", "shapes": 1}]
    item = _page_data(page)["items"][0]
    shape = item["shapes"][0]
    original, decoded = load_mesh(SPOT), nc3d.open(files["mesh"]).decode()
    frame = frame_of_mesh(original)
    for entry, mesh in ((shape["original"], original), (shape["decoded"], decoded)):
        v, faces = _mesh_of(page, entry)
        expected = frame.to_normalized(mesh.vertices)
        step = np.asarray(entry["scale"])
        assert np.all(np.abs(v - expected) <= step * 0.5 + 1e-9)  # 16-bit, over the mesh's box
        np.testing.assert_array_equal(faces, mesh.faces)
    # the numbers are nc3d.metrics', same samples and seed
    want = compare_meshes(original, decoded, n_samples=2000, seed=0)
    for key in ("chamfer_p2s", "f_score_0.01", "f_score_0.005", "normal_consistency"):
        assert shape["numbers"][key] == pytest.approx(want[key])
    assert item["bytes"] == files["mesh"].stat().st_size
    assert item["original_bytes"] == SPOT.stat().st_size


def test_page_is_self_contained(files, tmp_path):
    page, _ = build_page(files["mesh"])
    # no external resource: every script is inline, three.js's relative import rewritten for the import map
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", page, re.I)
    assert "'./three.core.js'" not in page and "'three/core'" in page
    assert page.count('<script type="text/plain" id="src-three-core">') == 1
    assert "REVISION = '187'" in page  # the vendored three.js
    assert (data_dir() / "viewer" / "three" / "LICENSE").is_file()


def test_untrusted_text_stays_text(files):
    title = "</script><script>alert(1)</script><!--"
    page, _ = build_page(files["mesh"], title=title)
    assert "<script>alert(1)" not in page
    assert _page_data(page)["title"] == title  # JSON-escaped, still the same string
    assert "<title>&lt;/script&gt;" in page


def test_set_page_pairs_shapes_with_originals_by_name(files):
    page, items = build_page(files["set"], compare=files["originals"], samples=1000)
    assert items[0]["kind"] == "set" and items[0]["shapes"] == 20
    item = _page_data(page)["items"][0]
    handle = nc3d.open(files["set"])
    assert [s["name"] for s in item["shapes"]] == handle.names
    # bytes per shape: its own feature bytes plus an equal share of the rest, summing to the file
    total = sum(s["bytes"] for s in item["shapes"])
    assert abs(total - files["set"].stat().st_size) <= 20
    assert [s["own_bytes"] for s in item["shapes"]] == handle.shape_bytes()
    k = 3
    original = load_mesh(files["originals"] / f"{handle.names[k]}.ply")
    decoded = handle.decode_shape(k)
    numbers = item["shapes"][k]["numbers"]
    if len(decoded.faces):
        assert numbers["chamfer_p2s"] == pytest.approx(
            compare_meshes(original, decoded, n_samples=1000)["chamfer_p2s"]
        )
    else:
        assert numbers == {"empty": True}


def test_set_page_without_originals_shows_the_encoders_measurement(files):
    item = _page_data(build_page(files["set"])[0])["items"][0]
    stored = nc3d.open(files["set"]).shape_quality()
    assert stored is not None
    for shape, want in zip(item["shapes"], stored):
        assert shape["numbers"]["source"] == "header" and shape["original"] is None
        assert shape["numbers"]["f_score_0.01"] == want["f_score_0.01"]
        assert shape["numbers"]["chamfer_p2s"] == want["chamfer_p2s"]


def test_set_originals_must_pair(files, tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    shutil.copy(files["originals"] / "shape00.ply", few / "other.ply")
    with pytest.raises(InputError, match="cannot be paired"):
        build_page(files["set"], compare=few)
    with pytest.raises(InputError, match="folder"):
        build_page(files["set"], compare=SPOT)


def test_implicit_page_holds_the_stored_network(files):
    page, items = build_page(files["positional"])
    assert items[0]["kind"] == "implicit"
    net = _page_data(page)["items"][0]["network"]
    shape = nc3d.open(files["positional"])
    want = np.concatenate([t.detach().numpy().reshape(-1) for t in shape.model.tensors()])
    got = np.frombuffer(_blob(page, net["tensors"]), "<f4")
    np.testing.assert_array_equal(got, want)
    assert {
        k: net[k] for k in ("layers", "width", "activation", "encoding", "frequencies")
    } == shape.architecture.to_dict()


def test_odd_header_values_are_left_out(files, tmp_path):
    """A file's header is untrusted: figures that are not finite numbers are not shown."""
    c = nc3d.container.read_file(files["mlp"])
    c.header.update(surface_error="a lot", quality={"f_score_0.01": "high", "chamfer_p2s": 0.5})
    odd = tmp_path / "odd.nc3d"
    odd.write_bytes(pack(c))
    item = _page_data(build_page(odd)[0])["items"][0]
    assert item["surface_error"] is None
    assert item["shapes"][0]["numbers"]["f_score_0.01"] is None
    assert item["shapes"][0]["numbers"]["chamfer_p2s"] == 0.5


def test_implicit_page_with_original_measures_the_meshed_network(files, tmp_path):
    shape = nc3d.open(files["mlp"])
    original = tmp_path / "surface.ply"
    save_mesh(original, shape.mesh(48))  # the network's own surface stands for its original
    page, _ = build_page(files["mlp"], compare=original, samples=2000, resolution=48)
    entry = _page_data(page)["items"][0]["shapes"][0]
    assert entry["numbers"]["source"] == "measured" and entry["numbers"]["resolution"] == 48
    assert entry["numbers"]["f_score_0.01"] == pytest.approx(1.0)
    v, _ = _mesh_of(page, entry["original"])  # drawn in the file's frame (identity here)
    np.testing.assert_allclose(v, load_mesh(original).vertices, atol=1e-4)


def test_volume_page_quantizes_both_volumes_over_their_range(files):
    page, _ = build_page(files["volume"], compare=HEAD)
    item = _page_data(page)["items"][0]
    original, decoded = (
        np.load(HEAD).astype(np.float64),
        nc3d.open(files["volume"]).decode().astype(np.float64),
    )
    lo, hi = item["range"]
    assert item["dims"] == list(original.shape) and item["stride"] == 1
    for ident, vol in ((item["original"], original), (item["decoded"], decoded)):
        q = np.frombuffer(_blob(page, ident), "<u2").reshape(vol.shape)
        np.testing.assert_allclose(lo + q / 65535 * (hi - lo), vol, atol=(hi - lo) / 65535)
    assert item["numbers"]["psnr"] == pytest.approx(
        nc3d.metrics.psnr(np.load(HEAD), nc3d.open(files["volume"]).decode())
    )
    assert item["window"] == [float(original.min()), float(original.max())]


def test_large_volumes_are_shown_every_sth_voxel(files):
    page, _ = build_page(files["volume"], max_voxels=42 * 62 * 48 // 8)
    item = _page_data(page)["items"][0]
    assert item["stride"] == 2 and item["dims"] == [21, 31, 24] and item["shape"] == [42, 62, 48]


def test_volume_original_must_match(files, tmp_path):
    small = tmp_path / "small.npy"
    np.save(small, np.zeros((4, 5, 6), np.uint8))
    with pytest.raises(InputError, match="shapes differ"):
        build_page(files["volume"], compare=small)


def test_every_golden_file_makes_a_page():
    """Any codec's file: the page depends on the kind, never on the codec's name."""
    expected = json.loads((GOLDEN / "expected.json").read_text())
    paths = sorted(p for p in GOLDEN.glob("*.nc3d") if p.stem in expected)  # not the container's own
    page, items = build_page(paths)
    kinds = {it["file"]: it["kind"] for it in items}
    for p in paths:
        want = expected.get(p.stem, {}).get("kind")
        if p.stem == "implicit":
            assert kinds[p.name] == "implicit"
        elif want == "meshset":
            assert kinds[p.name] == "set"
        elif want is not None:
            assert kinds[p.name] == want
    assert len(_page_data(page)["items"]) == len(paths)


def test_write_page_and_its_errors(files, tmp_path):
    out = tmp_path / "v.html"
    summary = write_page(out, [files["mesh"], files["volume"]])
    assert out.stat().st_size == summary.bytes and [i["kind"] for i in summary.items] == ["mesh", "volume"]
    with pytest.raises(OutputExistsError):
        write_page(out, files["mesh"])
    with pytest.raises(InputError, match=r"\.html"):
        write_page(tmp_path / "v.png", files["mesh"])
    with pytest.raises(InputError, match="one per file"):
        build_page([files["mesh"], files["volume"]], compare=SPOT)
    with pytest.raises(InputError, match="not a mesh file"):
        build_page(files["mesh"], compare=HEAD)


def test_cli_view(files, tmp_path, capsys):
    out = tmp_path / "v.html"
    args = ["view", str(files["mesh"]), str(files["volume"]), "-o", str(out)]
    assert main([*args, "--compare", str(SPOT), "--compare", str(HEAD), "--samples", "1000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == str(out) and result["bytes"] == out.stat().st_size
    assert [i["kind"] for i in result["items"]] == ["mesh", "volume"]
    assert main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


# -- in a browser ----------------------------------------------------------------------------------
CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium (install chromium, or set NC3D_CHROMIUM) to test the pages in a browser",
)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium")
    with Browser(CHROMIUM) as b:
        yield b


def _open(browser, path: Path, *, width=1000, height=640, fragment=""):
    page = browser.open(path.resolve().as_uri() + fragment, width=width, height=height)
    status = page.wait_for(
        "window.nc3dView && nc3dView.status.state !== 'loading' && nc3dView.status", timeout=180
    )
    assert status["state"] == "ready", status["errors"]
    return page


def _check_clean(page):
    """No console error, no uncaught exception, nothing requested beyond the file itself."""
    assert page.errors() == []
    assert page.evaluate("nc3dView.status.errors") == []
    leaving = [u for u in page.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert leaving == []


def _screenshot(page) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))


def _stage(page, shot: np.ndarray) -> np.ndarray:
    r = page.evaluate(
        "(() => { const b = document.getElementById('canvas').getBoundingClientRect();"
        " return [b.left, b.top, b.width, b.height]; })()"
    )
    x, y, w, h = (int(round(v)) for v in r)
    return shot[y : y + h, x : x + w]


def _surface(img: np.ndarray) -> np.ndarray:
    """Pixels of a shaded surface (the blue-gray nc3d color, lit): blue clearly above red."""
    return (img[..., 2].astype(int) - img[..., 0].astype(int) > 18) & (img.min(axis=-1) < 250)


def _snapshot(page, size: int, **camera) -> np.ndarray:
    args = json.dumps({"width": size, "height": size, **camera})
    data = page.evaluate(f"nc3dView.snapshot({args})", timeout=300)
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(size, size, 4)[..., :3]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ma, mb = (a < 250).any(-1), (b < 250).any(-1)
    return float((ma & mb).sum() / max((ma | mb).sum(), 1))


@needs_browser
def test_mesh_page_in_a_browser(files, browser, tmp_path):
    pytest.importorskip("PIL")
    path = tmp_path / "mesh.html"
    write_page(path, files["mesh"], compare=SPOT, samples=1000)
    page = _open(browser, path)
    _check_clean(page)
    stage = _stage(page, _screenshot(page))
    half = stage.shape[1] // 2
    for pane in (stage[:, :half], stage[:, half:]):  # original | decoded, both drawn
        assert _surface(pane).mean() > 0.05
    # the same camera and pixels as nc3d's ray caster, for both panes
    original, decoded = load_mesh(SPOT), nc3d.open(files["mesh"]).decode()
    frame = frame_of_mesh(original)
    for pane, mesh in (("original", original), ("decoded", decoded)):
        img = _snapshot(page, 96, pane=pane, azimuth=60, elevation=10)
        ref = nc3d.render.render_mesh(mesh, frame=frame, size=96, azimuth=60, elevation=10)
        assert _iou(img, ref) >= 0.95
    # wireframe on: darker lines over the surfaces, still no error
    page.evaluate("document.getElementById('wireframe').click()")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    wired = _stage(page, _screenshot(page)).astype(int)
    darker = (stage.astype(int).sum(-1) - wired.sum(-1)) > 60
    assert darker.mean() > 0.02
    _check_clean(page)
    page.close()


@needs_browser
def test_a_mesh_of_more_than_65536_vertices(browser, tmp_path):
    """32-bit indices (and 16-bit deltas that wrap) decode in the browser as in Python."""
    t = trimesh.creation.uv_sphere(count=[185, 185])  # 68,450 vertices
    mesh = _mesh(t)
    mesh.vertices[:, 0] *= 1.0 + 0.3 * np.sin(4 * mesh.vertices[:, 1])
    path = tmp_path / "big.nc3d"
    path.write_bytes(nc3d.compress(mesh, codec="ply-lzma"))
    write_page(tmp_path / "big.html", path)
    page = _open(browser, tmp_path / "big.html", width=480, height=300)
    _check_clean(page)
    img = _snapshot(page, 72, azimuth=80, elevation=30)
    assert _iou(img, nc3d.render.render_mesh(mesh, size=72, azimuth=80, elevation=30)) >= 0.95
    page.close()


@needs_browser
def test_set_page_in_a_browser(files, browser, tmp_path):
    pytest.importorskip("PIL")
    path = tmp_path / "set.html"
    write_page(path, files["set"], compare=files["originals"], samples=500)
    page = _open(browser, path, width=1200, height=800)
    _check_clean(page)
    assert page.evaluate("document.querySelectorAll('.card').length") == 20
    drawn = page.evaluate("nc3dView.status.thumbnails")
    assert drawn >= 6  # the cards in view (more as they scroll in)
    shot = _screenshot(page)
    side = page.evaluate("document.getElementById('side').getBoundingClientRect().width")
    assert _surface(shot[:, : int(side)]).sum() > 500  # thumbnails drawn by WebGL
    assert _surface(_stage(page, shot)).mean() > 0.02  # the open shape's views
    handle = nc3d.open(files["set"])
    k = next(i for i in range(5, 20) if len(handle.decode_shape(i).faces))
    page.evaluate(f"document.querySelectorAll('.card')[{k}].click()")
    page.wait_for(f"nc3dView.status.shape === {k}")
    assert page.evaluate("document.querySelector('.card.on').dataset.index") == str(k)
    # the views show shape k: its decoded pane matches nc3d's ray caster
    original = load_mesh(files["originals"] / f"{handle.names[k]}.ply")
    img = _snapshot(page, 80, pane="decoded")
    ref = nc3d.render.render_mesh(handle.decode_shape(k), frame=frame_of_mesh(original), size=80)
    assert _iou(img, ref) >= 0.95
    page.evaluate("document.getElementById('side').scrollTop = 1e6")
    page.wait_for("nc3dView.status.thumbnails >= 18")  # the rest are drawn as they come into view
    _check_clean(page)
    page.close()


@needs_browser
@pytest.mark.parametrize(
    "which, camera",
    [("positional", {}), ("mlp", {"azimuth": 200, "elevation": -35})],  # {}: nc3d render's default
)
def test_implicit_shader_matches_nc3d_render(files, browser, tmp_path, which, camera):
    """The live network in the browser against ``nc3d render`` (same file, same camera)."""
    path = tmp_path / f"{which}.html"
    write_page(path, files[which])
    page = _open(browser, path, width=560, height=320)  # small: SwiftShader runs the network on the CPU
    _check_clean(page)
    img = _snapshot(page, 88, **camera)
    ref = nc3d.open(files[which]).render(size=88, **camera)
    assert _iou(img, ref) >= 0.95
    both = (img < 250).any(-1) & (ref < 250).any(-1)
    assert np.abs(img[both].astype(int) - ref[both].astype(int)).mean() <= 3.0
    _check_clean(page)
    page.close()


@needs_browser
def test_implicit_shader_from_a_texture_matches_too(browser, tmp_path):
    """Large networks are read from a float texture instead of compiled in: same image."""
    path = tmp_path / "golden.html"
    write_page(path, GOLDEN / "implicit.nc3d")
    shape = nc3d.open(GOLDEN / "implicit.nc3d")
    ref = shape.render(size=64)
    images = {}
    for mode in ("const", "texture"):
        page = _open(browser, path, width=480, height=300, fragment=f"#sdf={mode}")
        _check_clean(page)
        assert mode in page.evaluate("document.getElementById('labels').textContent")
        images[mode] = _snapshot(page, 64)
        page.close()
        assert _iou(images[mode], ref) >= 0.95
    assert np.abs(images["const"].astype(int) - images["texture"].astype(int)).max() <= 2


@needs_browser
def test_volume_page_in_a_browser(files, browser, tmp_path):
    pytest.importorskip("PIL")
    path = tmp_path / "volume.html"
    write_page(path, files["volume"], compare=HEAD)
    page = _open(browser, path)
    _check_clean(page)
    stage = _stage(page, _screenshot(page))
    third = stage.shape[0] // 3
    rows = [stage[i * third : (i + 1) * third] for i in range(3)]  # original, decoded, difference
    for row in rows[:2]:
        gray = (np.ptp(row.astype(int), axis=-1) < 8) & (row.max(axis=-1) < 200)
        assert gray.mean() > 0.05
    diff = rows[2].astype(int)
    colored = (np.abs(diff[..., 0] - diff[..., 2]) > 40).mean()
    assert colored > 0.01  # red/blue where decoded and original differ
    # move a slider and the window: redrawn without error
    frames = page.evaluate("nc3dView.status.frames")
    page.evaluate(
        "(() => { for (const i of document.querySelectorAll('#side input[type=range]')) {"
        " i.value = i.min; i.dispatchEvent(new Event('input')); } })()"
    )
    page.wait_for(f"nc3dView.status.frames > {frames}")
    _check_clean(page)
    page.close()


@needs_browser
def test_tabs_switch_between_files(files, browser, tmp_path):
    path = tmp_path / "two.html"
    write_page(path, [files["volume"], GOLDEN / "implicit.nc3d"])
    page = _open(browser, path, width=640, height=360)
    assert page.evaluate("document.querySelectorAll('#tabs button').length") == 2
    page.evaluate("nc3dView.showItem(1)")
    assert page.evaluate("nc3dView.status.item") == 1
    assert "network" in page.evaluate("document.getElementById('labels').textContent")
    page.evaluate("nc3dView.showItem(0)")
    _check_clean(page)
    page.close()


def test_labels_name_the_tabs_one_per_file(files):
    page, items = build_page([files["mesh"], files["mesh"]], labels=["coarse", "fine"], samples=100)
    assert [it["file"] for it in _page_data(page)["items"]] == ["coarse", "fine"]
    assert [it["file"] for it in items] == ["coarse", "fine"]
    with pytest.raises(InputError, match="1 labels for 2 files"):
        build_page([files["mesh"], files["mesh"]], labels=["one"])
