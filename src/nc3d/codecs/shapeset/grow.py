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
from .train import TrainSettings, closest_features, refit_features

__all__ = ["add_shapes"]


def add_shapes(
    handle, named, *, steps: int = 300, samples: int | None = None, progress=None
) -> tuple[bytes, dict]:
    """The bytes of ``handle``'s set with the meshes ``named`` added, and what they measured.

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
        ``names`` (as stored), ``f_score_0.01`` and ``chamfer_p2s`` of each new shape, their
        means, the set's mean F-score before, and the bytes added.
    """
    if not named:
        raise InputError("add: no meshes to add")
    h = dict(handle.container.header)
    h.pop("format", None)
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
    meshes = [as_mesh(m, name=str(n)) for n, m in named]
    frames = [frame_of_mesh(m) for m in meshes]
    normalized = [f.normalize_mesh(m) for f, m in zip(frames, meshes)]
    prepared = []
    for i, m in enumerate(normalized):
        if progress:
            progress("TSDF-Def volumes", i, len(meshes))
        prepared.append(cached_tsdf_def(m, prep, default_cache_dir())[0])
    volumes = np.stack(prepared)
    empty = [str(n) for (n, _), v in zip(named, volumes) if not (v[0].min() < 0 < v[0].max())]
    if empty:
        raise InputError(
            f"add: {', '.join(empty)} have no inside at {arch.resolution}³ and would decode to nothing"
        )
    if not handle.neural.any():
        raise InputError(
            "add: this set stores every shape as a Draco mesh (no decoder was trained for it); "
            "compress the shapes together again instead"
        )
    model = handle.model()
    if progress:
        progress("choosing starting features", 0, len(meshes))
    stored = np.stack([handle.features(i) for i in np.flatnonzero(handle.neural)])
    start = closest_features(model, stored, volumes, seed=int(train.get("seed", 0)))
    feats = np.concatenate(
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
            for i in range(0, len(meshes), 4)
        ]
    )
    quality = h.get("quality") or {}
    samples = samples or int(quality.get("samples", 10_000))
    f, cd, gone = measure_shapes(model, feats, normalized, samples)
    if gone.any():
        lost = [str(named[i][0]) for i in np.flatnonzero(gone)]
        raise EncodeError(
            f"add: {', '.join(lost)} decode to no surface with this set's decoder; nothing written"
        )
    q = np.round(feats / np.float32(step)).astype(np.int64)
    blobs = [encode_symbols(x) for x in q.reshape(len(meshes), -1)]
    names = safe_names([*handle.names, *(str(n) for n, _ in named)])
    new_names = names[handle.count :]
    old_quality = handle.shape_quality()
    sec = {k: v for k, v in handle.container.sections.items() if k != "names"}  # format 1's names
    sec["features"] = sec["features"] + b"".join(blobs)
    sec.setdefault("meshes", b"")  # format 3 (its index has mesh sizes) whatever the file's was
    for k in ("frames", "feature_bytes", "names_bytes"):
        h.pop(k, None)  # the index is written anew (format 2 whatever the file's was)
    old_features = np.where(handle.neural, handle.shape_bytes(), 0)
    index_header, index_sections = pack_index(
        [*handle.frames, *frames],
        [*old_features, *(len(b) for b in blobs)],
        names,
        [*np.where(handle.neural, 0, handle.shape_bytes()), *(0 for _ in blobs)],
    )
    h.update(index_header)
    sec.update(index_sections)
    if old_quality is not None:
        sec["quality"] = sec["quality"] + np.stack([f, cd], 1).astype("<f2").tobytes()
        every = np.frombuffer(sec["quality"], "<f2").astype(np.float64).reshape(-1, 2)
        h["quality"] = {
            **quality,
            "f_score_0.01": float(every[:, 0].mean()),
            "chamfer_p2s": float(every[:, 1].mean()),
        }
    h["count"] = handle.count + len(meshes)
    h["added"] = [*h.get("added", []), {"count": len(meshes), "steps": steps}]
    blob = pack(Container(handle.codec, {**h, "format": INDEX_FORMAT}, sec))
    before = [s["f_score_0.01"] for s in old_quality] if old_quality else []
    report = {
        "names": new_names,
        "f_score_0.01": [float(x) for x in f],
        "chamfer_p2s": [float(x) for x in cd],
        "mean_f_score_0.01": float(np.mean(f)),
        "set_mean_f_score_0.01": float(np.mean(before)) if before else None,
        "bytes_added": len(blob) - handle.container.total_bytes,
    }
    return blob, report
