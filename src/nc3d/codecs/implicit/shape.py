"""A decoded weight-encoded neural implicit: query it, mesh it, render it, combine it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np

from ...errors import FormatError, InputError
from ...geometry.marching import check_resolution, mesh_from_sdf
from ...geometry.normalize import Frame
from ...mesh import Mesh
from ...nn.mlp import Architecture, SdfMLP
from ..base import get_codec
from ..handles import MeshFile
from .fit import evaluate_mlp

if TYPE_CHECKING:  # pragma: no cover
    from .codec import ImplicitCodec

__all__ = ["ImplicitShape"]


class ImplicitShape(MeshFile):
    """One shape as a small MLP ``f`` in its normalized frame, seen in original coordinates.

    The handle :func:`nc3d.open` returns for an implicit ``.nc3d`` file (and for a Keras ``.h5``
    file of Davies et al.): a :class:`~nc3d.codecs.handles.MeshFile` that is also a signed
    distance field (capabilities ``field`` and ``keras-export``).

    Parameters
    ----------
    model : SdfMLP
        The network (evaluated on the CPU unless moved).
    frame : Frame
        Original ↔ normalized similarity transform (identity for the paper's own files).
    header : dict, optional
        The file header it came from (architecture, bits, fit statistics, …).
    container : nc3d.container.Container, optional
        The parsed file, when it came from one.
    """

    def __init__(self, model: SdfMLP, frame: Frame, header: dict | None = None, container=None):
        super().__init__(container, get_codec("implicit"), header=header if container is None else None)
        self.model = model.eval()
        self.frame = frame

    @property
    def architecture(self) -> Architecture:
        return self.model.arch

    # -- queries ---------------------------------------------------------------------------------
    def sdf_normalized(self, points: np.ndarray) -> np.ndarray:
        """``f`` at ``points (n, 3)`` in the normalized frame → ``(n,) float32`` normalized units.

        The network was fitted in the cube [-1, 1]³, which holds the shape with a margin (it
        fits in [-0.9, 0.9]³); outside the cube it means nothing (a positional encoding even
        repeats itself there). A point outside gets its distance to the cube plus the network's
        value at the nearest point of the cube: positive, continuous across the cube's faces,
        and never more than the true distance's overestimate there, so sphere tracing from
        outside stays safe.
        """
        p = np.asarray(points, dtype=np.float32)
        inside = np.clip(p, -1.0, 1.0)
        f = evaluate_mlp(self.model, inside)
        out = np.linalg.norm(p - inside, axis=-1)
        outside = out > 0
        if np.any(outside):
            f[outside] = out[outside] + np.maximum(f[outside], 0.0)
        return f

    def sdf(self, points):
        """Signed distance at ``points (n, 3)`` in original coordinates, in original units.

        Negative inside. Accepts a numpy array or a torch tensor and returns the same kind
        (float32; a torch result is on the input's device, without gradient).
        """
        is_torch = type(points).__module__.startswith("torch")
        p = points.detach().cpu().numpy() if is_torch else np.asarray(points)
        if p.ndim != 2 or p.shape[1] != 3:
            raise InputError(f"points must have shape (n, 3), got {tuple(p.shape)}")
        if not np.all(np.isfinite(p)):
            raise InputError("points contain NaN or infinite coordinates")
        d = self.sdf_normalized(self.frame.to_normalized(p)) / np.float32(self.frame.scale)
        if is_torch:
            import torch

            return torch.from_numpy(d).to(points.device)
        return d

    # -- surfaces --------------------------------------------------------------------------------
    def mesh(self, resolution: int = 256) -> Mesh:
        """Marching cubes of the zero level set on a ``resolution^3`` grid over the normalized
        cube [-1, 1]^3, returned in original coordinates with faces pointing outward."""
        return self.frame.denormalize_mesh(mesh_from_sdf(self.sdf_normalized, resolution))

    def decode(self, resolution: int = 256) -> Mesh:
        """The mesh at the default resolution (what ``nc3d.decompress`` returns).

        Raises
        ------
        FormatError
            The stored network has no surface in the cube, or gives NaN/infinite values.
        """
        check_resolution(resolution)  # the caller's mistake stays an InputError
        try:
            return self.mesh(resolution)
        except InputError as exc:  # the file's network, not the caller, is at fault
            raise FormatError(f"implicit file: {exc}") from None

    def save_keras(self, path, *, force: bool = False):
        """Write the network as Keras HDF5 weights (Davies et al.'s layout); see
        :func:`nc3d.codecs.implicit.keras.save_keras_h5`. The frame is not stored there."""
        return cast("ImplicitCodec", self._codec).save_keras(self, path, force=force)

    def render(self, **kwargs):
        """Sphere-traced image, ``(h, w, 3) uint8``; see :func:`nc3d.render.render_sdf`."""
        from ...render import render_sdf

        return render_sdf(self.sdf_normalized, **kwargs)

    def __repr__(self) -> str:
        a = self.architecture
        return f"<ImplicitShape {a.layers}×{a.width} {a.activation}, {a.parameter_count} parameters>"
