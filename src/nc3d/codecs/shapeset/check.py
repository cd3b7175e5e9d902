"""The encoder's look at its own file: every shape decoded and measured against its input.

A set codec can train to a low loss while one shape of the set decodes to nothing (its feature
stuck where the shared decoder says "outside everywhere") or far worse than the rest. So before
the file is written, each shape is decoded exactly as a reader will decode it (quantized
decoder, quantized feature) and compared two-sided with its input mesh (both in the shape's
normalized frame, :func:`nc3d.metrics.compare_meshes`): F-score at τ = 0.01 and Chamfer-p2s. A
shape that decodes empty, and the weakest of those far below the rest (at most :data:`REFIT_MAX`
whatever the size of the set: each refit decodes its whole volume a few hundred times — on 2
cores ~1 min per shape at K = 64, so 5% of a 1,100-shape set was over an hour), has its feature
refitted with the decoder frozen
(:func:`~.train.refit_features`) — an empty one from the feature of another shape whose decoded
volume is closest to its own (:func:`~.train.closest_features`), the others from their own; the
refit is kept where it measures better. A shape that is
still empty fails the encode (:class:`~nc3d.errors.EncodeError`): a file with a shape missing
is data loss, not a success with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import EncodeError
from ...geometry.tsdf import mesh_from_volume
from ...mesh import Mesh
from ...metrics import compare_meshes
from .train import closest_features, decode_volumes, refit_features

__all__ = ["ShapeQuality", "measure_shapes", "check_and_refit", "WEAK_SHARE"]

#: A shape is refitted when its F-score is below this share of the set's median (or it is empty).
WEAK_SHARE = 0.5
#: Most shapes refitted beyond the empty ones.
REFIT_MAX = 8
#: Shapes refitted together (whole volumes: memory grows with it).
_REFIT_GROUP = 4


@dataclass
class ShapeQuality:
    """Per-shape figures of the decoded set.

    Attributes
    ----------
    f_score : (n,) float64
        F-score at τ = 0.01 (normalized units), 0 for a shape with no surface.
    chamfer_p2s : (n,) float64
        Chamfer point-to-surface distance (normalized units), inf for a shape with no surface.
    empty : (n,) bool
        The shape decodes to no surface.
    refitted : list of int
        Shapes whose feature was refitted (and kept: it measured better).
    """

    f_score: np.ndarray
    chamfer_p2s: np.ndarray
    empty: np.ndarray
    refitted: list


def _has_surface(volume: np.ndarray) -> bool:
    return bool(volume[0].min() < 0 < volume[0].max())


def measure_shapes(
    model, features: np.ndarray, meshes: list[Mesh], samples: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode shapes and compare each with its input mesh.

    Parameters
    ----------
    model : AutoDecoder
        The decoder as stored (dequantized weights).
    features : (n, C, K', K', K') float32
        The features as stored (dequantized).
    meshes : list of n Mesh
        The inputs, in their normalized frames.
    samples : int
        Surface samples per mesh for the metrics (0: only check that each shape has a surface;
        its F-score is then NaN).

    Returns
    -------
    f_score, chamfer_p2s : (n,) float64
    empty : (n,) bool
    """
    n = len(meshes)
    f, cd, empty = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    for i in range(n):  # one shape at a time: a decoded volume is 4·K³ floats
        volume = decode_volumes(model, features[i : i + 1])[0]
        if not _has_surface(volume):
            empty[i], f[i], cd[i] = True, 0.0, np.inf
            continue
        if samples:
            m = compare_meshes(
                meshes[i], mesh_from_volume(volume), n_samples=samples, seed=seed, taus=(0.01,)
            )
            f[i], cd[i] = m["f_score_0.01"], m["chamfer_p2s"]
    return f, cd, empty


def check_and_refit(
    model,
    features: np.ndarray,
    step: float,
    bits: int,
    volumes,
    meshes: list[Mesh],
    names: list[str],
    *,
    samples: int,
    refit_steps: int,
    refit_lr: float,
    threads: int = 1,
    progress=None,
    fail_on_empty: bool = True,
) -> tuple[np.ndarray, ShapeQuality]:
    """Measure every decoded shape, refit the empty and weak ones, fail if any stays empty.

    Parameters
    ----------
    model : AutoDecoder
        Dequantized stored weights.
    features : (n, C, K', K', K') float32
        Dequantized stored features (``step`` × integers).
    step : float
        The features' quantization step.
    bits : int
    volumes : sequence of (4, K, K, K) float32
        The training targets (indexable; only the weak shapes' are read).
    meshes : list of Mesh
        The inputs in their normalized frames.
    names : list of str
        For the error message.
    samples : int
        See :func:`measure_shapes`.
    refit_steps, refit_lr : int, float
        See :func:`~.train.refit_features` (0 steps: no refit).
    fail_on_empty : bool
        Raise when a shape stays empty (False: the caller stores it another way, :mod:`.meshes`).

    Returns
    -------
    features : (n, C, K', K', K') float32
        With the refitted shapes' features replaced.
    quality : ShapeQuality

    Raises
    ------
    EncodeError
        Some shapes decode to no surface even after the refit.
    """
    if progress:
        progress("checking the decoded shapes", 0, len(meshes))
    f, cd, empty = measure_shapes(model, features, meshes, samples)
    measured = f[~empty & np.isfinite(f)]
    median = float(np.median(measured)) if len(measured) else 0.0
    # every empty shape, and the weakest few of the rest: in a set trained briefly half the
    # shapes may sit below half the median, and each refit costs whole-volume decodes
    below = np.flatnonzero(~empty & (f < WEAK_SHARE * median))
    weak = np.concatenate([np.flatnonzero(empty), below[np.argsort(f[below], kind="stable")][:REFIT_MAX]])
    refitted = []
    if refit_steps and len(weak):
        features = features.copy()
        starts = features.copy()
        gone, alive = np.flatnonzero(empty), np.flatnonzero(~empty)
        if len(gone) and len(alive):  # an empty shape's own feature is stuck "outside"
            starts[gone] = closest_features(model, features[alive], np.stack([volumes[i] for i in gone]))
        for start in range(0, len(weak), _REFIT_GROUP):
            group = weak[start : start + _REFIT_GROUP]
            if progress:
                progress("refitting weak shapes", start, len(weak))
            new = refit_features(
                model,
                np.stack([volumes[i] for i in group]),
                starts[group],
                step,
                bits,
                steps=refit_steps,
                lr=refit_lr,
                threads=threads,
            )
            nf, ncd, nempty = measure_shapes(model, new, [meshes[i] for i in group], samples)
            for j, i in enumerate(group):  # keep a refit only where it measures better
                better = (empty[i] and not nempty[j]) or (not nempty[j] and nf[j] > f[i])
                if better:
                    features[i], f[i], cd[i], empty[i] = new[j], nf[j], ncd[j], False
                    refitted.append(int(i))
    if progress:
        progress("checking the decoded shapes", len(meshes), len(meshes))
    if empty.any() and fail_on_empty:
        lost = [names[i] for i in np.flatnonzero(empty)]
        shown = ", ".join(lost[:20]) + (f" and {len(lost) - 20} more" if len(lost) > 20 else "")
        raise EncodeError(
            f"shapeset: {len(lost)} of {len(meshes)} shapes decode to no surface even after refitting "
            f"their features: {shown}; nothing written. Train longer (steps), give the decoder more "
            "channels (decoder_width) or compress these shapes on their own (implicit, draco)"
        )
    return features, ShapeQuality(f, cd, empty, sorted(refitted))
