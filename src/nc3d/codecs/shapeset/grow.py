"""Growing a trained set: new shapes get features fitted with the shared decoder frozen (NeCGS v4).

The decoder, its bytes and every stored shape stay exactly as they are; each new mesh is
prepared like the set's own (the TSDF-Def settings in the file's header), starts from the stored
feature whose decoded volume is closest to its own (:func:`~.train.closest_features`: the coarse
TSDF fold that training starts from is, for a trained decoder, mostly "outside") and is fitted by
:func:`~.train.refit_features` at the file's feature quantization step. The new file is the old
one with the new features, frames, names and measured qualities appended, and a record of the
addition in the header (``added``).
A decoder trained on other shapes fits a new one less well than one trained with it: the
measured F-scores of the new shapes, beside the set's, say by how much.

In a set written with ``mesh_shapes = "auto"`` (format 3; header ``mesh_shapes``) a new shape may
instead be stored as a Draco file of its mesh (:mod:`.meshes`): each takes the cheapest way that
reaches the set's mean F@0.01, or the best one when none does; a set with no decoder (every shape
a mesh) grows by meshes only.
"""

from __future__ import annotations

import numpy as np

from ...container import Container, pack
from ...entropy import encode_symbols
from ...errors import EncodeError, InputError
from ...geometry.normalize import frame_of_mesh
from ...geometry.tsdf import TsdfDefSettings, cached_tsdf_def, default_cache_dir
from ...mesh import as_mesh
from ..handles import safe_names
from .check import measure_shapes
from .index import INDEX_FORMAT, pack_index
from .meshes import draco_options_of_set
from .train import TrainSettings, closest_features, refit_features

__all__ = ["add_shapes"]


def add_shapes(
    handle, named, *, steps: int = 300, samples: int | None = None, progress=None
) -> tuple[bytes, dict]:
    """The bytes of ``handle``'s set with the meshes ``named`` added, and what they measured.

    Each new shape is stored the cheapest way that reaches the set's mean F@0.01 (the best one
    if none does): as a feature fitted to the frozen decoder (when the set has one), or — when
    the set measured its shapes (section ``quality``) — as one of its Draco files
    (:mod:`.meshes`).

    Parameters
    ----------
    handle : ShapeSetFile
    named : list of (str, Mesh)
        New shapes (names made unique against the set's).
    steps : int
        Adam steps fitting each new feature.
    samples : int, optional
        Surface samples per shape for the measurement (default: the set's own).
    progress : callable, optional

    Returns
    -------
    blob : bytes
    report : dict
        ``names`` (as stored), ``f_score_0.01`` and ``chamfer_p2s`` of each new shape, which
        are ``meshes``, their means, the set's mean F-score before, and the bytes added.
    """
    if not named:
        raise InputError("add: no meshes to add")
    h = dict(handle.container.header)
    h.pop("format", None)
    old_quality = handle.shape_quality()
    quality = h.get("quality") or {}
    samples = samples or int(quality.get("samples", 10_000))
    meshes = [as_mesh(m, name=str(n)) for n, m in named]
    frames = [frame_of_mesh(m) for m in meshes]
    normalized = [f.normalize_mesh(m) for f, m in zip(frames, meshes)]
    n = len(meshes)
    # candidates per new shape: (bytes, F, Chamfer-p2s, "feature" | "mesh", blob)
    candidates: list[list[tuple]] = [[] for _ in range(n)]
    if handle.neural.any():
        feats = _fit_features(handle, h, normalized, steps, progress)
        f, cd, gone = measure_shapes(handle.model(), feats, normalized, samples)
        q = np.round(feats / np.float32(handle.feature_step)).astype(np.int64)
        for i, x in enumerate(q.reshape(n, -1)):
            if not gone[i]:
                blob = encode_symbols(x)
                candidates[i].append((len(blob), float(f[i]), float(cd[i]), "feature", blob))
    if old_quality is not None and h.get("mesh_shapes") == "auto":
        for i, options in enumerate(draco_options_of_set(normalized, samples, progress=progress)):
            candidates[i] += [(len(o.blob), o.f_score, o.chamfer_p2s, "mesh", o.blob) for o in options]
    elif not handle.neural.any():
        raise InputError("add: this set has no decoder, and new shapes cannot be stored as meshes in it")
    lost = [str(named[i][0]) for i in range(n) if not candidates[i]]
    if lost:
        raise EncodeError(
            f"add: {', '.join(lost)} decode to no surface with this set's decoder; nothing written"
        )
    level = np.mean([x["f_score_0.01"] for x in old_quality]) if old_quality else 1.0
    chosen = []
    for c in candidates:  # the cheapest that reaches the set's level, else the best
        reaching = [x for x in c if x[1] >= level]
        chosen.append(min(reaching, key=lambda x: x[0]) if reaching else max(c, key=lambda x: (x[1], -x[0])))
    names = safe_names([*handle.names, *(str(nm) for nm, _ in named)])
    new_names = names[handle.count :]
    sec = {k: v for k, v in handle.container.sections.items() if k != "names"}  # format 1's names
    sec["features"] = sec["features"] + b"".join(x[4] for x in chosen if x[3] == "feature")
    sec["meshes"] = sec.get("meshes", b"") + b"".join(x[4] for x in chosen if x[3] == "mesh")
    for k in ("frames", "feature_bytes", "names_bytes"):
        h.pop(k, None)  # the index is written anew (format 3 whatever the file's was)
    sizes = np.asarray(handle.shape_bytes())
    index_header, index_sections = pack_index(
        [*handle.frames, *frames],
        [*np.where(handle.neural, sizes, 0), *(x[0] if x[3] == "feature" else 0 for x in chosen)],
        names,
        [*np.where(handle.neural, 0, sizes), *(x[0] if x[3] == "mesh" else 0 for x in chosen)],
    )
    h.update(index_header)
    sec.update(index_sections)
    f = np.array([x[1] for x in chosen])
    cd = np.array([x[2] for x in chosen])
    if old_quality is not None:
        sec["quality"] = sec["quality"] + np.stack([f, cd], 1).astype("<f2").tobytes()
        every = np.frombuffer(sec["quality"], "<f2").astype(np.float64).reshape(-1, 2)
        h["quality"] = {
            **quality,
            "f_score_0.01": float(every[:, 0].mean()),
            "chamfer_p2s": float(every[:, 1].mean()),
        }
    h["count"] = handle.count + n
    h["added"] = [*h.get("added", []), {"count": n, "steps": steps}]
    blob = pack(Container(handle.codec, {**h, "format": INDEX_FORMAT}, sec))
    before = [x["f_score_0.01"] for x in old_quality] if old_quality else []
    report = {
        "names": new_names,
        "f_score_0.01": [float(x) for x in f],
        "chamfer_p2s": [float(x) for x in cd],
        "meshes": [nm for nm, x in zip(new_names, chosen) if x[3] == "mesh"],
        "mean_f_score_0.01": float(np.mean(f)),
        "set_mean_f_score_0.01": float(np.mean(before)) if before else None,
        "bytes_added": len(blob) - handle.container.total_bytes,
    }
    return blob, report


def _fit_features(handle, h: dict, normalized: list, steps: int, progress) -> np.ndarray:
    """``(n, C, K', K', K')`` features of new shapes fitted to the set's frozen decoder."""
    arch, bits, step = handle.arch, handle.bits, handle.feature_step
    t = h.get("tsdf_def", {})
    prep = TsdfDefSettings(
        resolution=arch.resolution,
        steps=int(t.get("steps", TsdfDefSettings.steps)),
        lr=float(t.get("lr", TsdfDefSettings.lr)),
        samples=int(t.get("samples", TsdfDefSettings.samples)),
        deform_weight=float(t.get("deform_weight", TsdfDefSettings.deform_weight)),
        thin_parts=bool(t.get("thin_parts", True)),
        open_shell=float(t.get("open_shell", 0.0)),  # files before open shells had none
    )
    train = h.get("train", {})
    prepared = []
    for i, m in enumerate(normalized):
        if progress:
            progress("TSDF-Def volumes", i, len(normalized))
        prepared.append(cached_tsdf_def(m, prep, default_cache_dir())[0])
    volumes = np.stack(prepared)
    model = handle.model()
    if progress:
        progress("choosing starting features", 0, len(normalized))
    stored = np.stack([handle.features(i) for i in np.flatnonzero(handle.neural)])
    start = closest_features(model, stored, volumes, seed=int(train.get("seed", 0)))
    return np.concatenate(
        [
            refit_features(
                model,
                volumes[i : i + 4],
                start[i : i + 4],
                step,
                bits,
                steps=steps,
                lr=float(train.get("feature_lr", TrainSettings.feature_lr)),
            )
            for i in range(0, len(normalized), 4)
        ]
    )
