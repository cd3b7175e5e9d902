"""A learned decoder-side deblocking filter for 8³-block transform codecs.

Across every block face, along each axis in turn (z, then y, then x), the 8 voxels straddling
the face (4 on each side) give 16 features — their deviations ``d`` from the mean of the two
voxels touching the face, and ``d · |jump|`` (the jump across the face gates the smoothing, so
real edges are kept) — and a learned ``16 × 4`` matrix turns them into corrections of the 4
voxels nearest the face. One matrix per quality bucket, fitted by least squares on decoded
training volumes (:func:`fit_deblock`; normal equations accumulated, so memory stays flat).
Vectorized: a few whole-array passes per axis, no loop over blocks or voxels.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["deblock", "deblock_normal_equations", "solve_deblock", "FEATURES"]

_B = 8
FEATURES = 16
_SLAB = 32  # slices per threaded slab
_WORKERS = min(4, os.cpu_count() or 1)


def _features(w: np.ndarray) -> np.ndarray:
    """(..., 8) windows → (..., 16) float32 features."""
    d = w - 0.5 * (w[..., 3:4] + w[..., 4:5])
    jump = np.abs(w[..., 4:5] - w[..., 3:4])
    return np.concatenate([d, d * jump], axis=-1)


def _faces(a: np.ndarray) -> np.ndarray:
    """View of the windows across the block faces along the last axis: (..., faces, 8)."""
    n = a.shape[-1]
    return a[..., _B // 2 : n - _B // 2].reshape(*a.shape[:-1], -1, _B)


def deblock(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Filter a decoded volume in place along z, y, x and return it.

    Parameters
    ----------
    y : (z, y, x) float32
        Decoded values on the full block grid (every size a multiple of 8, blocks from index 0).
    weights : (16, 4) float32
        The learned matrix of one quality bucket.
    """
    w = np.asarray(weights, dtype=np.float32)
    # features @ weights without building the features: d = v − m, so
    # d·W1 + |jump|·d·W2 = v·W1 − m·ΣW1 + |jump|·(v·W2 − m·ΣW2), one (n, 8) × (8, 8) product
    both = np.concatenate([w[:_B], w[_B:]], axis=1)
    s1, s2 = w[:_B].sum(axis=0), w[_B:].sum(axis=0)

    def filter_faces(a: np.ndarray) -> None:  # a: (..., n) view; its faces along the last axis
        core = np.ascontiguousarray(_faces(a))
        v = core.reshape(-1, _B)
        m = 0.5 * (v[:, 3:4] + v[:, 4:5])
        jump = np.abs(v[:, 4:5] - v[:, 3:4])
        p = (both.T @ v.T).T  # a short-wide product: BLAS is ~8× faster than tall-skinny (n, 8) @ (8, 8)
        p[:, :4] -= m * s1
        p[:, 4:] -= m * s2
        p[:, 4:] *= jump
        v[:, 2:6] += p[:, :4] + p[:, 4:]
        a[..., _B // 2 : a.shape[-1] - _B // 2] = core.reshape(*a.shape[:-1], -1)

    # the faces along the last axis are independent across the first: slabs in threads
    # (numpy and BLAS release the GIL), one pool for the three axes
    with ThreadPoolExecutor(_WORKERS) as pool:
        for axis in range(3):
            if y.shape[axis] < 2 * _B:
                continue  # one block along this axis: no face
            a = np.moveaxis(y, axis, -1)
            list(pool.map(filter_faces, [a[i : i + _SLAB] for i in range(0, a.shape[0], _SLAB)]))
    return y


def deblock_normal_equations(decoded: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares statistics of one training pair: (FᵀF (16, 16), FᵀT (16, 4)) in float64.

    ``decoded`` and ``original`` are (z, y, x) on the full block grid. Faces of all three axes
    are pooled, features taken from the unfiltered decode.
    """
    ftf = np.zeros((FEATURES, FEATURES))
    ftt = np.zeros((FEATURES, 4))
    for axis in range(3):
        if decoded.shape[axis] < 2 * _B:
            continue
        w = _faces(np.moveaxis(decoded, axis, -1)).reshape(-1, _B)
        t = _faces(np.moveaxis(original, axis, -1)).reshape(-1, _B)[:, 2:6] - w[:, 2:6]
        f = _features(w).astype(np.float64)
        ftf += f.T @ f
        ftt += f.T @ t.astype(np.float64)
    return ftf, ftt


def solve_deblock(ftf: np.ndarray, ftt: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    """(16, 4) float32 weights from accumulated normal equations (a tiny ridge keeps it stable)."""
    reg = ridge * (np.trace(ftf) / FEATURES + 1e-12)
    return np.linalg.solve(ftf + reg * np.eye(FEATURES), ftt).astype(np.float32)
