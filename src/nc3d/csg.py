"""Constructive solid geometry on signed distance functions (Davies et al., "combined by CSG").

Operands are anything with ``.sdf(points)`` — signed distance in original coordinates and
units, negative inside — and ``.frame`` (a :class:`~nc3d.geometry.normalize.Frame` whose
[-0.9, 0.9]^3 box holds the shape): an :class:`~nc3d.codecs.implicit.shape.ImplicitShape` from
``nc3d.open``, an :class:`SdfShape`, or the result of another CSG operation (nesting works).
The result is an :class:`SdfShape`: query it, mesh it, render it like an implicit file.

>>> from nc3d.csg import union, difference
>>> a, b = nc3d.open("a.nc3d"), nc3d.open("b.nc3d")
>>> shape = difference(union(a, b, smooth=0.05), b)
>>> mesh = shape.mesh(256); image = shape.render(size=512)

Hard operations are min/max; smooth ones use Inigo Quilez's polynomial smooth minimum with a
blend radius ``smooth`` in original units. The result of a CSG of exact SDFs is a bound on the
distance (exact outside for union), which sphere tracing and marching cubes handle.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .errors import InputError
from .geometry.marching import mesh_from_sdf
from .geometry.normalize import NORMALIZED_HALF_EXTENT, Frame, frame_of_points
from .mesh import Mesh

__all__ = ["OPERATIONS", "SdfShape", "csg", "union", "intersection", "difference", "smooth_min", "smooth_max"]

#: The CSG operations by name.
OPERATIONS = ("union", "intersection", "difference")


class SdfShape:
    """A shape given by a signed distance function in original coordinates, with its frame.

    Parameters
    ----------
    sdf : callable
        ``(n, 3)`` float points, original coordinates → ``(n,)`` signed distances in original
        units, negative inside.
    frame : Frame
        Original ↔ normalized transform; the shape must lie inside its [-0.9, 0.9]^3 box (the
        renderer and the mesher look only inside [-1, 1]^3).
    name : str, optional
        For ``repr``.
    """

    kind = "mesh"
    codec = "csg"

    def __init__(self, sdf: Callable[[np.ndarray], np.ndarray], frame: Frame, *, name: str = "sdf"):
        if not callable(sdf):
            raise InputError(f"sdf must be callable, got {type(sdf).__name__}")
        if not isinstance(frame, Frame):
            raise InputError(f"frame must be an nc3d Frame, got {type(frame).__name__}")
        self._fn = sdf
        self.frame = frame
        self.name = name

    def _eval(self, points: np.ndarray) -> np.ndarray:
        d = np.asarray(self._fn(points), dtype=np.float32).reshape(-1)
        if d.shape != (len(points),):
            raise InputError(f"{self.name}: the SDF returned {d.size} values for {len(points)} points")
        return d

    def sdf(self, points) -> np.ndarray:
        """Signed distance ``(n,) float32`` (original units) at ``points (n, 3)`` (original coordinates)."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise InputError(f"points must have shape (n, 3), got {tuple(p.shape)}")
        if not np.all(np.isfinite(p)):
            raise InputError("points contain NaN or infinite coordinates")
        return self._eval(p)

    def sdf_normalized(self, points: np.ndarray) -> np.ndarray:
        """Signed distance ``(n,) float32`` in normalized units at ``points (n, 3)``, normalized frame."""
        p = self.frame.to_original(points)
        return (self._eval(p) * np.float32(self.frame.scale)).astype(np.float32)

    def mesh(self, resolution: int = 256) -> Mesh:
        """Marching cubes of the zero level set on a ``resolution^3`` grid over the normalized cube,
        in original coordinates, faces outward."""
        return self.frame.denormalize_mesh(mesh_from_sdf(self.sdf_normalized, resolution))

    def decode(self) -> Mesh:
        """The mesh at the default resolution."""
        return self.mesh()

    def render(self, **kwargs) -> np.ndarray:
        """Sphere-traced image ``(h, w, 3) uint8``; see :func:`nc3d.render.render_sdf`."""
        from .render import render_sdf

        return render_sdf(self.sdf_normalized, **kwargs)

    def __repr__(self) -> str:
        return f"<SdfShape {self.name}>"


# -- blending -------------------------------------------------------------------------------------
def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial (quadratic) smooth minimum of Inigo Quilez with blend radius ``k`` (same units).

    ``min(a, b) - h² k / 4`` with ``h = max(k - |a - b|, 0) / k``: equal to ``min`` where
    ``|a - b| >= k``, at most ``k / 4`` below it; ``k = 0`` is the hard minimum.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if k <= 0:
        return np.minimum(a, b)
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * (k / 4.0)


def smooth_max(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth maximum, ``-smooth_min(-a, -b, k)``."""
    return -smooth_min(-np.asarray(a, dtype=np.float64), -np.asarray(b, dtype=np.float64), k)


# -- bounding boxes ---------------------------------------------------------------------------------
def _box(shape) -> np.ndarray:
    """(2, 3) float64: the original-coordinate box that ``shape.frame`` maps to [-0.9, 0.9]^3."""
    c = np.asarray(shape.frame.center, dtype=np.float64)
    half = NORMALIZED_HALF_EXTENT / shape.frame.scale
    return np.stack([c - half, c + half])


def _result_frame(a, b, op: str, smooth: float) -> Frame:
    """Frame of the result: the box that surely holds it (union of the operands' boxes grown by
    the smooth-union bulge ``smooth / 4``; the overlap of the boxes for an intersection; ``a``'s
    box for a difference), normalized like a mesh's bounding box."""
    ba, bb = _box(a), _box(b)
    union_box = np.stack([np.minimum(ba[0], bb[0]), np.maximum(ba[1], bb[1])])
    if op == "union":
        box = union_box + np.array([[-1.0], [1.0]]) * (smooth / 4.0)
    elif op == "intersection":
        box = np.stack([np.maximum(ba[0], bb[0]), np.minimum(ba[1], bb[1])])
        if not np.all(box[1] > box[0]):  # disjoint boxes: the result is empty; keep a usable frame
            box = union_box
    else:
        box = ba
    return frame_of_points(box)


# -- operations -------------------------------------------------------------------------------------
def _check_operand(x, which: str) -> None:
    if not callable(getattr(x, "sdf", None)) or not isinstance(getattr(x, "frame", None), Frame):
        raise InputError(
            f"CSG operand {which} must have .sdf(points) and a .frame (an implicit shape from nc3d.open "
            f"or an SdfShape), got {type(x).__name__}"
        )


def _label(x) -> str:
    path = getattr(x, "path", None)
    return str(
        getattr(x, "name", None)
        or (getattr(path, "name", None) if path is not None else None)
        or type(x).__name__
    )


def csg(a, b, op: str, smooth: float = 0.0) -> SdfShape:
    """Combine two shapes.

    Parameters
    ----------
    a, b : shape
        Objects with ``.sdf(points (n, 3)) -> (n,)`` in original coordinates/units and ``.frame``.
    op : {"union", "intersection", "difference"}
        ``difference`` is ``a`` minus ``b``.
    smooth : float
        Blend radius in original units (≥ 0); 0 gives the hard min/max.

    Returns
    -------
    SdfShape
        Its ``sdf`` is ``min(a, b)``, ``max(a, b)`` or ``max(a, -b)`` (smoothed when
        ``smooth > 0``), its frame covers the result.

    Raises
    ------
    InputError
        Unknown operation, negative or non-finite ``smooth``, or an operand that is not a shape.
    """
    if op not in OPERATIONS:
        raise InputError(f"unknown CSG operation {op!r}; choose one of {', '.join(OPERATIONS)}")
    if (
        isinstance(smooth, bool)
        or not isinstance(smooth, (int, float))
        or not math.isfinite(smooth)
        or smooth < 0
    ):
        raise InputError(f"smooth must be a finite number ≥ 0 (original units), got {smooth!r}")
    _check_operand(a, "A")
    _check_operand(b, "B")
    k = float(smooth)

    def sdf(points: np.ndarray) -> np.ndarray:
        da = np.asarray(a.sdf(points), dtype=np.float64).reshape(-1)
        db = np.asarray(b.sdf(points), dtype=np.float64).reshape(-1)
        if op == "union":
            d = smooth_min(da, db, k)
        elif op == "intersection":
            d = smooth_max(da, db, k)
        else:
            d = smooth_max(da, -db, k)
        return d.astype(np.float32)

    name = f"{op}({_label(a)}, {_label(b)}"
    name += f", smooth={k:g})" if k > 0 else ")"
    return SdfShape(sdf, _result_frame(a, b, op, k), name=name)


def union(a, b, smooth: float = 0.0) -> SdfShape:
    """``a ∪ b``; see :func:`csg`."""
    return csg(a, b, "union", smooth)


def intersection(a, b, smooth: float = 0.0) -> SdfShape:
    """``a ∩ b``; see :func:`csg`."""
    return csg(a, b, "intersection", smooth)


def difference(a, b, smooth: float = 0.0) -> SdfShape:
    """``a \\ b``; see :func:`csg`."""
    return csg(a, b, "difference", smooth)
