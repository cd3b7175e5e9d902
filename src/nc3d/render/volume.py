"""Pictures of scalar volumes: the three orthogonal middle slices, original beside decoded."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.volumes import as_volume
from .image import side_by_side

__all__ = ["middle_slices", "render_volume_slices"]


def middle_slices(volume: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The axial (z), coronal (y) and sagittal (x) middle slices, as seen with the row axis pointing up.

    Returns
    -------
    list of (caption, (h, w) array)
        ``volume[z/2]`` (y, x); ``volume[:, y/2]`` (z, x) and ``volume[:, :, x/2]`` (z, y),
        flipped so that ``y`` (first panel) and ``z`` (others) grow upwards.
    """
    z, y, x = (s // 2 for s in volume.shape)
    return [
        (f"z = {z}", volume[z][::-1]),
        (f"y = {y}", volume[:, y][::-1]),
        (f"x = {x}", volume[:, :, x][::-1]),
    ]


def _gray(plane: np.ndarray, lo: float, hi: float, scale: int) -> np.ndarray:
    g = (plane.astype(np.float64) - lo) / (hi - lo) if hi > lo else np.zeros(plane.shape)
    g = np.clip(g, 0.0, 1.0)
    return np.repeat(np.repeat(g, scale, axis=0), scale, axis=1)  # nearest-neighbour enlargement


def render_volume_slices(
    volume, compare=None, *, size: int = 256, labels=("original", "decoded")
) -> np.ndarray:
    """An image of the three middle slices of ``volume`` (and, in rows under it, of ``compare``).

    Parameters
    ----------
    volume : (z, y, x) array
        The reference volume; its value range sets the gray window of every panel.
    compare : (z, y, x) array or list of them, optional
        Volumes of the same shape (e.g. decoded), one row each under the reference.
    size : int
        Approximate pixels of a panel's longer side (slices are enlarged by a whole factor).
    labels : sequence of str
        Row names used in the captions: the reference's, then one per compared volume.

    Returns
    -------
    (h, w, 3) uint8
    """
    ref = as_volume(volume, name="volume")
    others = [] if compare is None else list(compare) if isinstance(compare, (list, tuple)) else [compare]
    if len(labels) < 1 + len(others):
        raise InputError(f"render: {1 + len(others)} rows but {len(labels)} labels")
    rows = [(labels[0], ref)]
    for label, other in zip(labels[1:], others):
        other = as_volume(other, name="compare")
        if other.shape != ref.shape:
            raise InputError(f"render: shapes differ: {ref.shape} vs {other.shape}")
        rows.append((label, other))
    lo, hi = float(ref.min()), float(ref.max())
    scale = max(1, int(size) // max(ref.shape))
    images = []
    for label, vol in rows:
        panels = middle_slices(vol)
        images.append(
            side_by_side(
                [_gray(p, lo, hi, scale) for _, p in panels], captions=[f"{label}, {c}" for c, _ in panels]
            )
        )
    gap = np.full((6, images[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([images[0]] + [part for im in images[1:] for part in (gap, im)], axis=0)
