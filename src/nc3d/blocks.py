"""Cutting a scalar volume into cubic blocks with a margin, and putting it back together.

A volume of shape ``(z, y, x)`` is cut into ``b³`` blocks on a regular grid; each block carries
an ``m``-voxel margin on every side taken from its neighbours (edge-padded at the volume's
borders), so a block is ``(b + 2m)³`` voxels. The last block along an axis is padded the same
way when the size is not a multiple of ``b``: nothing is ever dropped. Blocks are numbered in C
order over the grid ``(gz, gy, gx)``.

Merging either keeps each block's core (``blend="crop"``) or blends the overlapping margins with
tent weights (``blend="linear"``), as in Bevec et al., Fig. 2d, so block seams fade out. Both ways
are vectorized: the only Python loops run over the few chunk offsets inside one window
(``ceil((b + 2m) / b)³``, 8 for ``m = 2, b = 8``), never over blocks or voxels.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

__all__ = ["split_blocks", "merge_blocks", "block_grid", "seam_jump", "BLENDS"]

#: Ways :func:`merge_blocks` puts overlapping margins together.
BLENDS = ("crop", "linear")


def _check_block_margin(block, margin) -> tuple[int, int]:
    for name, value, low in (("block", block, 1), ("margin", margin, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} must be an int >= {low}, got {value!r}")
    if margin > block:
        raise InputError(f"margin ({margin}) must not exceed the block size ({block})")
    return int(block), int(margin)


def _check_shape(shape) -> tuple[int, int, int]:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise InputError(f"shape must be three positive ints, got {shape!r}") from None
    if len(dims) != 3 or min(dims) < 1:
        raise InputError(f"shape must be three positive ints, got {shape!r}")
    return dims


def block_grid(shape, block: int = 8) -> tuple[int, int, int]:
    """Blocks per axis ``(gz, gy, gx)`` for a volume of ``shape`` (partial blocks count)."""
    block, _ = _check_block_margin(block, 0)
    z, y, x = _check_shape(shape)
    return -(-z // block), -(-y // block), -(-x // block)


def split_blocks(
    volume: np.ndarray, block: int = 8, margin: int = 0
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Cut a volume into blocks with a margin.

    Parameters
    ----------
    volume : (z, y, x) array
        Any numeric dtype (kept).
    block : int
        Core edge length ``b`` in voxels.
    margin : int
        Voxels ``m`` of context on each side, ``0 <= m <= b``, taken from the neighbouring
        blocks and edge-padded at the volume's borders.

    Returns
    -------
    blocks : (n, b + 2m, b + 2m, b + 2m) array, dtype of ``volume``
        ``n = gz * gy * gx`` blocks in C order of the grid. Block ``(i, j, k)``'s core is
        ``volume[i*b:(i+1)*b, j*b:(j+1)*b, k*b:(k+1)*b]`` (edge-padded past the end).
    grid : (gz, gy, gx) tuple of int
        Blocks per axis, ``ceil(size / b)``.
    """
    v = np.asarray(volume)
    if v.ndim != 3 or v.size == 0:
        raise InputError(f"volume must be a non-empty 3-D array, got shape {v.shape}")
    b, m = _check_block_margin(block, margin)
    grid = block_grid(v.shape, b)
    w = b + 2 * m
    c = -(-w // b)
    # Pad to whole chunks of b voxels, then gather each window as c³ chunks: chunk (kz, ky, kx)
    # of every block is one strided slice of the padded volume (the mirror of _overlap_add).
    widths = [(m, (g + c - 1) * b - d - m) for g, d in zip(grid, v.shape)]
    padded = np.pad(v, widths, mode="edge") if np.any(widths) else v
    chunks = padded.reshape(grid[0] + c - 1, b, grid[1] + c - 1, b, grid[2] + c - 1, b)
    gz, gy, gx = grid
    out = np.empty(grid + (w, w, w), dtype=v.dtype)
    for kz, ky, kx in _chunk_offsets(c):
        lz, ly, lx = (min(b, w - k * b) for k in (kz, ky, kx))
        out[:, :, :, kz * b : kz * b + lz, ky * b : ky * b + ly, kx * b : kx * b + lx] = chunks[
            kz : kz + gz, :lz, ky : ky + gy, :ly, kx : kx + gx, :lx
        ].transpose(0, 2, 4, 1, 3, 5)
    return out.reshape(-1, w, w, w), grid


def _chunk_offsets(c: int):
    """The c³ chunk offsets (kz, ky, kx) of a window: a loop over offsets, never over blocks."""
    return [(kz, ky, kx) for kz in range(c) for ky in range(c) for kx in range(c)]


def _tent(b: int, m: int) -> np.ndarray:
    """(b + 2m,) float64 weights: linear ramps over the 2m-voxel overlaps, 1 in between.

    For ``2m <= b`` the ramps of neighbouring blocks sum to 1 across each overlap; weights are
    strictly positive, so normalizing by their sum works for any ``m``.
    """
    t = np.arange(b + 2 * m, dtype=np.float64)
    if m == 0:
        return np.ones_like(t)
    ramp = 2.0 * m
    return np.minimum(1.0, np.minimum(t + 0.5, b + 2 * m - t - 0.5) / ramp)


def _overlap_add(blocks: np.ndarray, b: int) -> np.ndarray:
    """Sum overlapping windows placed every ``b`` voxels into one array.

    Parameters
    ----------
    blocks : (gz, gy, gx, w, w, w) float array
        Window ``(i, j, k)`` starts at voxel ``(i*b, j*b, k*b)``.

    Returns
    -------
    ((g + c - 1) * b for g in (gz, gy, gx)) float array, ``c = ceil(w / b)``
    """
    gz, gy, gx, w = blocks.shape[:4]
    c = -(-w // b)
    # A window is c³ chunks of (at most) b³ voxels: chunk (kz, ky, kx) of every block lands on
    # a regular grid shifted by (kz, ky, kx) blocks, so one slice-add places all blocks at once.
    out = np.zeros((gz + c - 1, b, gy + c - 1, b, gx + c - 1, b), dtype=blocks.dtype)
    for kz, ky, kx in _chunk_offsets(c):
        lz, ly, lx = (min(b, w - k * b) for k in (kz, ky, kx))
        chunk = blocks[:, :, :, kz * b : kz * b + lz, ky * b : ky * b + ly, kx * b : kx * b + lx]
        out[kz : kz + gz, :lz, ky : ky + gy, :ly, kx : kx + gx, :lx] += chunk.transpose(0, 3, 1, 4, 2, 5)
    return out.reshape((gz + c - 1) * b, (gy + c - 1) * b, (gx + c - 1) * b)


def merge_blocks(
    blocks: np.ndarray, shape, block: int = 8, margin: int = 0, blend: str = "crop"
) -> np.ndarray:
    """Put blocks from :func:`split_blocks` back into a volume.

    Parameters
    ----------
    blocks : (n, b + 2m, b + 2m, b + 2m) array
        Blocks in C order of the grid of ``shape``.
    shape : (z, y, x) tuple of int
        Shape of the volume to return (the grid's padding is cropped off).
    block, margin : int
        ``b`` and ``m`` as given to :func:`split_blocks`.
    blend : {"crop", "linear"}
        ``"crop"`` keeps each block's core and drops the margins; ``"linear"`` averages every
        voxel over all blocks that cover it with tent weights (linear ramps across the
        ``2m``-voxel overlaps), so neighbouring blocks fade into each other.

    Returns
    -------
    (z, y, x) array
        ``"crop"``: dtype of ``blocks``; ``"linear"``: the float dtype of ``blocks``, or float64
        for integer blocks. Unchanged blocks give back the volume exactly with either blend.
    """
    b, m = _check_block_margin(block, margin)
    shape = _check_shape(shape)
    if blend not in BLENDS:
        raise InputError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    grid = block_grid(shape, b)
    w = b + 2 * m
    blocks = np.asarray(blocks)
    n = math.prod(grid)
    if blocks.shape != (n, w, w, w):
        raise InputError(f"expected blocks of shape {(n, w, w, w)} for a volume {shape}, got {blocks.shape}")
    gz, gy, gx = grid
    core = blocks[:, m : m + b, m : m + b, m : m + b].reshape(gz, gy, gx, b, b, b)
    crop = core.transpose(0, 3, 1, 4, 2, 5).reshape(gz * b, gy * b, gx * b)
    crop = crop[: shape[0], : shape[1], : shape[2]]
    if blend == "crop" or m == 0:
        return np.ascontiguousarray(crop)

    # Weighted average written as crop + weighted mean of (block - crop): identical in exact
    # arithmetic, and exactly the crop wherever the overlapping blocks agree (no rounding drift).
    dtype = blocks.dtype if blocks.dtype.kind == "f" else np.float64
    crop = crop.astype(dtype, copy=False)
    diff = blocks.astype(dtype, copy=False) - split_blocks(crop, b, m)[0]
    t = _tent(b, m)
    diff *= (t[:, None, None] * t[None, :, None] * t[None, None, :]).astype(dtype)
    num = _overlap_add(diff.reshape(grid + (w, w, w)), b)
    sl = tuple(slice(m, m + d) for d in shape)
    # The weights are a product over axes on a product grid, so their sum is one too.
    dz, dy, dx = (_weight_sum_1d(t, g, b)[m : m + d] for g, d in zip(grid, shape))
    den = (dz[:, None, None] * dy[None, :, None] * dx[None, None, :]).astype(dtype)
    return crop + num[sl] / den


def _weight_sum_1d(t: np.ndarray, g: int, b: int) -> np.ndarray:
    """(g*b + len(t),) float64: the sum of ``g`` copies of ``t`` placed every ``b`` voxels."""
    pos = (np.arange(g)[:, None] * b + np.arange(t.size)[None, :]).ravel()
    return np.bincount(pos, weights=np.tile(t, g))


def seam_jump(volume: np.ndarray, block: int = 8, reference: np.ndarray | None = None) -> tuple[float, float]:
    """Mean absolute jump between face-neighbouring voxels, across block faces and inside blocks.

    Parameters
    ----------
    volume : (z, y, x) array
        Typically a decoded volume.
    block : int
        Block edge ``b``: the faces between voxel ``i*b - 1`` and ``i*b`` along any axis are
        block faces, all other faces between neighbours are interior faces.
    reference : (z, y, x) array, optional
        When given, the jumps are measured on the error ``volume - reference``, which isolates
        the seams a codec adds from the edges of the data itself.

    Returns
    -------
    block_faces, interior_faces : float
        Mean ``|v[i+1] - v[i]|`` over the block faces and over the interior faces of all three
        axes (NaN when a volume has no face of that kind).
    """
    v = np.asarray(volume, dtype=np.float64)
    if v.ndim != 3 or v.size == 0:
        raise InputError(f"volume must be a non-empty 3-D array, got shape {v.shape}")
    if reference is not None:
        r = np.asarray(reference, dtype=np.float64)
        if r.shape != v.shape:
            raise InputError(f"reference shape {r.shape} differs from the volume's {v.shape}")
        v = v - r
    b, _ = _check_block_margin(block, 0)
    sums = np.zeros(2)
    counts = np.zeros(2)
    for axis in range(3):  # three axes, each one vectorized
        jumps = np.abs(np.diff(v, axis=axis))
        at_seam = (np.arange(1, v.shape[axis]) % b) == 0
        per_face = jumps.sum(axis=tuple(a for a in range(3) if a != axis))
        faces_per_slice = v.size // v.shape[axis]
        sums += [per_face[at_seam].sum(), per_face[~at_seam].sum()]
        counts += [at_seam.sum() * faces_per_slice, (~at_seam).sum() * faces_per_slice]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return float(mean[0]), float(mean[1])
