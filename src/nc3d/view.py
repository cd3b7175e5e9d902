"""``nc3d view``: one self-contained HTML page to look at ``.nc3d`` files, beside their originals.

The page needs no network and no server: three.js (vendored, ``data/viewer/three``), the viewer's
own script and every byte of data are inside the one ``.html`` file, so it opens from
``file://`` in any WebGL 2 browser. What it shows depends on the file, never on its codec's name:

* a **mesh** (any mesh codec): the decoded shape beside the original, in two views that share one
  orbit camera (drag: orbit, wheel: zoom, right-drag: pan), a wireframe toggle, and the numbers;
* a **set** of meshes: a gallery of thumbnails (drawn in the browser as they scroll into view);
  a click opens that shape in the synced views;
* an **implicit** file (a :class:`~nc3d.codecs.implicit.ImplicitShape`, capability ``field``): the
  stored network itself, evaluated live by sphere tracing in a WebGL fragment shader, so a few-kB
  file is looked at without meshing it. The shader follows :meth:`ImplicitShape.sdf_normalized`
  (the value outside the fitted cube included) and :func:`nc3d.render.render_sdf` (bounding
  sphere, steps, threshold, normals, shading), with the camera of ``nc3d render``;
* a **volume**: the three orthogonal slices (sliders), original | decoded | difference side by
  side, with a gray window (level and width) and a difference scale.

Every view is in the normalized frame of the original (the file's own frame for an implicit
file) with the default camera of ``nc3d render`` (azimuth 30°, elevation 20°, distance 4.5,
35° field of view), lit as :mod:`nc3d.render.shading` lights.

Data layout in the page: a JSON description (``<script type="application/json">``) and one
``<script type="application/octet-stream">`` element per binary array, zlib-compressed and
base64-encoded, inflated by the browser's ``DecompressionStream`` only when it is shown. Mesh
vertices are quantized to 16 bits over their bounding box (error ≤ 1/131070 of its extent) and
delta-coded with the triangle indices (:func:`pack_mesh`),
volumes to 16 bits over their joint value range; the implicit network's weights are the stored
(dequantized) float32 values.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import api
from .codecs.handles import EncodedFile, MeshSetFile, safe_names
from .errors import InputError
from .files import check_output, write_bytes_atomic
from .geometry.normalize import Frame, frame_of_mesh
from .io import is_mesh_path, is_volume_path, load_mesh
from .mesh import Mesh
from .resources import data_dir

__all__ = ["build_page", "write_page", "PageSummary", "DEFAULT_SAMPLES", "DEFAULT_MAX_VOXELS"]

#: Surface samples per mesh for the numbers measured against an original (nc3d.metrics).
DEFAULT_SAMPLES = 20_000
#: Most voxels of a volume put in a page; larger volumes are shown every s-th voxel.
DEFAULT_MAX_VOXELS = 1 << 21
#: The viewer's files (package data).
VIEWER_FILES = (
    "three/three.core.js",
    "three/three.module.js",
    "three/OrbitControls.js",
    "app.js",
    "style.css",
)


def viewer_dir() -> Path:
    """The folder of the page's script, style and the vendored three.js (package data)."""
    return data_dir() / "viewer"


@dataclass
class PageSummary:
    """What :func:`write_page` wrote.

    Attributes
    ----------
    output : Path
    bytes : int
        Size of the page.
    items : list of dict
        One per file: ``{"file", "kind", "codec", "shapes"}``.
    seconds : float
        Time to build the page (decoding and metrics included).
    """

    output: Path
    bytes: int
    items: list[dict] = field(default_factory=list)
    seconds: float = 0.0


class _Blobs:
    """Binary arrays of the page: each zlib-compressed and base64-encoded, referred to by id."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str]] = []

    def add(self, data: bytes) -> str:
        ident = f"b{len(self.parts)}"
        self.parts.append((ident, base64.b64encode(zlib.compress(data, 6)).decode("ascii")))
        return ident

    def html(self) -> str:
        return "\n".join(
            f'<script type="application/octet-stream" id="{i}">{text}</script>' for i, text in self.parts
        )


def _finite(x) -> float | None:
    """``x`` as a float when it is a finite number (header values are untrusted), else ``None``."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def _planes(a: np.ndarray) -> bytes:
    """The bytes of a little-endian integer array, byte plane after byte plane (all low bytes
    first): small values leave runs of zeros that zlib packs well."""
    a = np.ascontiguousarray(a)
    return a.astype(a.dtype.newbyteorder("<")).view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def pack_mesh(q: np.ndarray, faces: np.ndarray) -> bytes:
    """The page's mesh bytes (before zlib), decoded by ``loadMesh`` in ``app.js``.

    Parameters
    ----------
    q : (n, 3) uint16
        Quantized vertices.
    faces : (m, 3) int
        Triangle indices into ``q``.

    Returns
    -------
    bytes
        ``2·3n`` bytes: each coordinate's difference from the previous vertex's (int16, wrapping
        modulo 2¹⁶), in two byte planes; then ``4·3m`` bytes: the differences of consecutive
        indices of the flattened triangle list, zigzag-coded (``(d << 1) ^ (d >> 31)``) as uint32,
        in four byte planes. Marching-cubes meshes list neighbours together, so the differences
        are small: about a third fewer bytes after zlib than the plain arrays.
    """
    dq = np.diff(q.astype(np.int32), axis=0, prepend=np.zeros((1, 3), np.int32)).astype(np.int16)
    df = np.diff(np.asarray(faces, dtype=np.int64).reshape(-1), prepend=0)
    zigzag = ((df << 1) ^ (df >> 63)).astype(np.uint32)
    return _planes(dq.reshape(-1)) + _planes(zigzag)


def _mesh_entry(mesh: Mesh, frame: Frame, blobs: _Blobs) -> dict | None:
    """A mesh in the normalized ``frame`` as page data: vertices quantized to 16 bits over their
    bounding box, packed by :func:`pack_mesh`; ``None`` for a mesh without triangles."""
    if len(mesh.faces) == 0:
        return None
    v = frame.to_normalized(mesh.vertices)
    lo = v.min(axis=0)
    span = np.maximum(v.max(axis=0) - lo, 1e-12)
    q = np.round((v - lo) / span * 65535.0).astype(np.uint16)
    return {
        "vertices": len(v),
        "faces": len(mesh.faces),
        "lo": lo.tolist(),
        "scale": (span / 65535.0).tolist(),
        "blob": blobs.add(pack_mesh(q, mesh.faces)),
    }


def _mesh_numbers(original: Mesh | None, decoded: Mesh, samples: int, seed: int = 0) -> dict | None:
    """Chamfer-p2s, F-scores, normal consistency of ``decoded`` against ``original`` (normalized
    frame of the original), or ``None`` without an original or a decoded surface."""
    if original is None:
        return None
    if len(decoded.faces) == 0:
        return {"empty": True}
    from .metrics import compare_meshes

    m = compare_meshes(original, decoded, n_samples=samples, seed=seed)
    return {k: _finite(v) for k, v in m.items()} | {"samples": samples, "source": "measured"}


def _frame(original: Mesh | None, decoded: Mesh) -> Frame:
    """The frame views are drawn in: the original's, else the decoded mesh's."""
    if original is not None:
        return frame_of_mesh(original)
    if len(decoded.faces):
        return frame_of_mesh(decoded)
    return Frame.identity()


def _bytes_of(path) -> int | None:
    try:
        return Path(path).stat().st_size
    except (OSError, TypeError):
        return None


def _file_entry(handle: EncodedFile, path, kind: str) -> dict:
    size = _bytes_of(path) if path is not None else None
    if size is None and handle.container is not None:
        from .container import pack

        size = len(pack(handle.container))
    return {
        "kind": kind,
        "file": Path(path).name if path else "(bytes)",
        "codec": handle.codec,
        "bytes": size,
    }


def _load_original_mesh(path) -> Mesh:
    p = Path(path)
    if not is_mesh_path(p):
        raise InputError(f"view: --compare {p} is not a mesh file")
    return load_mesh(p)


def _mesh_item(handle, path, compare, samples, blobs) -> dict:
    item = _file_entry(handle, path, "mesh")
    decoded = handle.decode()
    original = _load_original_mesh(compare) if compare is not None else None
    frame = _frame(original, decoded)
    shape = {
        "name": item["file"],
        "bytes": item["bytes"],
        "decoded": _mesh_entry(decoded, frame, blobs),
        "original": _mesh_entry(original, frame, blobs) if original is not None else None,
        "numbers": _mesh_numbers(original, decoded, samples),
    }
    if compare is not None:
        item["original_file"] = Path(compare).name
        item["original_bytes"] = _bytes_of(compare)
    item["shapes"] = [shape]
    return item


def _set_originals(compare, names: list[str]) -> list[Mesh | None]:
    """The original of each shape of a set: a folder of mesh files matched by (file-name-safe)
    stem, or by order when the names differ but the counts agree."""
    folder = Path(compare)
    if not folder.is_dir():
        raise InputError(f"view: the original of a set must be a folder of mesh files, got {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_mesh_path(p))
    if not files:
        raise InputError(f"view: {folder} holds no mesh files")
    stems = safe_names([p.stem for p in files])
    by_name = dict(zip(stems, files))
    if all(n in by_name for n in names):
        chosen = [by_name[n] for n in names]
    elif len(files) == len(names):
        chosen = files
    else:
        missing = [n for n in names if n not in by_name]
        raise InputError(
            f"view: {folder} has no mesh for {len(missing)} of the set's {len(names)} shapes "
            f"(e.g. {', '.join(missing[:5])}) and holds {len(files)} files, so they cannot be paired by order"
        )
    return [load_mesh(p) for p in chosen]


def _set_item(handle: MeshSetFile, path, compare, samples, blobs) -> dict:
    item = _file_entry(handle, path, "set")
    names = handle.names
    originals: list[Mesh | None] = (
        list(_set_originals(compare, names)) if compare is not None else [None] * len(names)
    )
    total = item["bytes"] or 0
    own = handle.shape_bytes()  # a set codec that stores one part per shape says so
    shared = (total - sum(own)) / len(names) if own else total / max(len(names), 1)
    stored = handle.shape_quality() if compare is None else None  # the encoder's own measurement
    if stored is not None and len(stored) != len(names):
        stored = None
    shapes = []
    for i, name in enumerate(names):
        decoded = handle.decode_shape(i)
        original = originals[i]
        frame = _frame(original, decoded)
        numbers = _mesh_numbers(original, decoded, samples)
        if stored is not None:
            numbers = {k: _finite(v) for k, v in stored[i].items()} | {"source": "header"}
        shapes.append(
            {
                "name": name,
                "bytes": round(shared + (own[i] if own else 0)),
                "own_bytes": own[i] if own else None,
                "decoded": _mesh_entry(decoded, frame, blobs),
                "original": _mesh_entry(original, frame, blobs) if original is not None else None,
                "numbers": numbers,
            }
        )
    item["shapes"] = shapes
    item["shared_bytes"] = round(shared) if own else None
    if compare is not None:
        item["original_file"] = Path(compare).name
        item["original_bytes"] = sum(_bytes_of(p) or 0 for p in Path(compare).iterdir() if is_mesh_path(p))
    return item


def _implicit_item(shape, path, compare, samples, resolution, blobs) -> dict:
    item = _file_entry(shape, path, "implicit")
    arch = shape.architecture
    tensors = np.concatenate([t.detach().cpu().numpy().reshape(-1) for t in shape.model.tensors()])
    item["network"] = {
        **arch.to_dict(),
        "parameters": arch.parameter_count,
        "bits": shape.header.get("bits"),
        "tensors": blobs.add(tensors.astype("<f4").tobytes()),
    }
    quality = shape.header.get("quality")
    numbers: dict[str, Any] | None = None
    if isinstance(quality, dict):
        numbers = {k: _finite(v) if isinstance(v, (int, float)) else None for k, v in quality.items()}
        numbers["source"] = "header"
    original = None
    if compare is not None:
        original = _load_original_mesh(compare)
        numbers = _mesh_numbers(original, shape.decode(resolution), samples)
        if numbers is not None:
            numbers["resolution"] = resolution
        item["original_file"] = Path(compare).name
        item["original_bytes"] = _bytes_of(compare)
    item["surface_error"] = _finite(shape.header.get("surface_error"))
    item["shapes"] = [
        {
            "name": item["file"],
            "bytes": item["bytes"],
            "original": _mesh_entry(original, shape.frame, blobs) if original is not None else None,
            "decoded": None,
            "numbers": numbers,
        }
    ]
    return item


def _volume_item(handle, path, compare, max_voxels, blobs) -> dict:
    item = _file_entry(handle, path, "volume")
    decoded = np.asarray(handle.decode())
    original = None
    if compare is not None:
        cp = Path(compare)
        if cp.suffix.lower() == ".nc3d":
            original = api.open(cp).decode()
        elif is_volume_path(cp):
            original = api.load_input(cp).data
        else:
            raise InputError(f"view: --compare {cp} is not a volume file")
        original = np.asarray(original)
        if not (isinstance(original, np.ndarray) and original.ndim == 3):
            raise InputError(f"view: --compare {cp} is not a volume")
        if original.shape != decoded.shape:
            raise InputError(f"view: shapes differ: {path} is {decoded.shape}, {cp} is {original.shape}")
        item["original_file"] = cp.name
        item["original_bytes"] = _bytes_of(cp)
        from .metrics import compare_volumes

        item["numbers"] = {k: _finite(v) for k, v in compare_volumes(original, decoded).items()}
    vols = [decoded] + ([original] if original is not None else [])
    stride = max(1, math.ceil((decoded.size / max_voxels) ** (1.0 / 3.0))) if decoded.size > max_voxels else 1
    shown = [np.asarray(v[::stride, ::stride, ::stride], dtype=np.float64) for v in vols]
    lo = min(float(v.min()) for v in shown)
    hi = max(float(v.max()) for v in shown)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("view: the volume holds NaN or infinite values")
    span = hi - lo if hi > lo else 1.0
    quantized = [np.round((v - lo) / span * 65535.0).astype("<u2") for v in shown]
    ref = shown[-1]  # the original when there is one: its range is the default window
    item.update(
        shape=list(decoded.shape),
        stride=stride,
        dims=list(shown[0].shape),
        dtype=str(decoded.dtype),
        range=[lo, lo + span],
        window=[float(ref.min()), float(ref.max())],
        decoded=blobs.add(quantized[0].tobytes()),
        original=blobs.add(quantized[1].tobytes()) if original is not None else None,
    )
    if original is not None:
        d = np.abs(shown[0] - shown[1])
        item["diff_scale"] = float(max(np.quantile(d, 0.999), d.max() * 0.05, span * 1e-6))
        item["diff_max"] = float(d.max())
    return item


def _item(path, compare, *, samples, resolution, max_voxels, blobs) -> dict:
    handle = api.open(path)
    from .codecs.implicit.shape import ImplicitShape

    if isinstance(handle, ImplicitShape):
        return _implicit_item(handle, path, compare, samples, resolution, blobs)
    if isinstance(handle, MeshSetFile):
        return _set_item(handle, path, compare, samples, blobs)
    if handle.kind == "volume":
        return _volume_item(handle, path, compare, max_voxels, blobs)
    return _mesh_item(handle, path, compare, samples, blobs)


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"view: {name} must be an integer ≥ {low}, got {value!r}")
    return int(value)


def _script_text(text: str, what: str) -> str:
    """``text`` for a ``<script>`` element: a closing tag or comment opener inside would end it."""
    low = text.lower()
    if "</script" in low or "<!--" in low:
        raise InputError(f"view: {what} holds '</script' or '<!--' and cannot be inlined")
    return text


def build_page(
    files,
    *,
    compare=None,
    samples: int = DEFAULT_SAMPLES,
    resolution: int = 256,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    title: str | None = None,
    labels=None,
) -> tuple[str, list[dict]]:
    """The HTML text of a viewer page for ``files``.

    Parameters
    ----------
    files : path or sequence of paths
        ``.nc3d`` files (any codec; Keras ``.h5`` networks too), one tab each.
    compare : path, sequence of paths (``None`` entries allowed), optional
        The original of each file, in order: a mesh file for a mesh or implicit file, a folder of
        mesh files for a set (matched by name, else by order), a volume file or ``.nc3d`` for a volume.
    samples : int
        Surface samples per mesh for the numbers measured against an original.
    resolution : int
        Marching-cubes grid of an implicit file's surface when it is measured against an original
        (the page itself draws the network, not a mesh).
    max_voxels : int
        Most voxels of a volume put in the page (every s-th voxel beyond).
    title : str, optional
        The page title (default: the file names).
    labels : sequence of str, optional
        The name each file is shown by (its tab; default its file name), in order.

    Returns
    -------
    html : str
    items : list of dict
        One per file: ``{"file", "kind", "codec", "shapes"}``.
    """
    paths = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if not paths:
        raise InputError("view: no file given")
    if compare is None:
        compares: list = [None] * len(paths)
    elif isinstance(compare, (str, os.PathLike)):
        compares = [compare]
    else:
        compares = list(compare)
    if len(compares) != len(paths):
        raise InputError(
            f"view: {len(compares)} originals for {len(paths)} files; give one per file, in order"
        )
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != len(paths):
            raise InputError(f"view: {len(labels)} labels for {len(paths)} files; give one per file")
    samples = _check_int(samples, "samples", 1)
    resolution = _check_int(resolution, "resolution", 8)
    max_voxels = _check_int(max_voxels, "max_voxels", 1)
    blobs = _Blobs()
    items = [
        _item(p, c, samples=samples, resolution=resolution, max_voxels=max_voxels, blobs=blobs)
        for p, c in zip(paths, compares)
    ]
    for it, label in zip(items, labels or ()):
        it["file"] = label
    title = title or "nc3d view: " + ", ".join(it["file"] for it in items)
    data = json.dumps({"version": 1, "title": title, "items": items}, allow_nan=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c")  # the same JSON, and nothing a <script> element could end on
    parts = {name: (viewer_dir() / name).read_text(encoding="utf-8") for name in VIEWER_FILES}
    module = parts["three/three.module.js"]
    if module.count("'./three.core.js'") != 2:
        raise InputError("view: the vendored three.module.js is not the expected build")
    parts["three/three.module.js"] = module.replace("'./three.core.js'", "'three/core'")
    template = (viewer_dir() / "page.html").read_text(encoding="utf-8")
    fills = {
        "<!--NC3D:TITLE-->": html.escape(title),
        "/*NC3D:STYLE*/": parts["style.css"],
        "<!--NC3D:DATA-->": data,
        "<!--NC3D:BLOBS-->": blobs.html(),
        "<!--NC3D:THREE_CORE-->": _script_text(parts["three/three.core.js"], "three.core.js"),
        "<!--NC3D:THREE-->": _script_text(parts["three/three.module.js"], "three.module.js"),
        "<!--NC3D:ORBIT-->": _script_text(parts["three/OrbitControls.js"], "OrbitControls.js"),
        "<!--NC3D:APP-->": _script_text(parts["app.js"], "app.js"),
    }
    for marker in fills:
        if template.count(marker) != 1:
            raise InputError(f"view: the page template must hold {marker} once")
    # one pass, so that nothing inserted is searched for markers again
    page = re.sub("|".join(re.escape(m) for m in fills), lambda m: fills[m.group(0)], template)
    summary = [
        {"file": it["file"], "kind": it["kind"], "codec": it["codec"], "shapes": len(it.get("shapes", []))}
        for it in items
    ]
    return page, summary


def write_page(output, files, *, compare=None, force: bool = False, **options: Any) -> PageSummary:
    """Build a viewer page (:func:`build_page`) and write it to ``output`` atomically.

    An existing ``output`` is kept unless ``force`` (:class:`~nc3d.errors.OutputExistsError`).
    """
    out = Path(output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"view: the output must be an .html file, got {out}")
    check_output(out, force)
    t0 = time.perf_counter()
    page, items = build_page(files, compare=compare, **options)
    data = page.encode("utf-8")
    write_bytes_atomic(out, data, force=force)
    return PageSummary(out, len(data), items, time.perf_counter() - t0)
