"""Ray casting of triangle meshes with the SDF renderer's camera and lighting.

The mesh is mapped into a normalized frame (by default its own, :func:`frame_of_mesh`) and the
camera's rays are intersected with it by libigl's AABB tree (``igl.AABB.intersect_ray_first``,
compiled and multi-threaded: ~0.4–0.6 s for 512² rays on an 82k-face mesh on 2 cores). An
implicit file stores its original mesh's frame, so ``render_mesh(original, frame=shape.frame)``
— or just ``render_mesh(original)`` — lines up with ``shape.render()`` pixel for pixel.
Each hit is shaded with its triangle's face normal, flipped towards the viewer (two-sided).
"""

from __future__ import annotations

import numpy as np

from ..geometry.normalize import Frame, frame_of_mesh
from ..mesh import as_mesh
from .camera import Camera
from .sdf import RenderBuffers
from .shading import DEFAULT_BACKGROUND, DEFAULT_COLOR, check_rgb, compose, shade

__all__ = ["render_mesh", "render_mesh_buffers"]


def render_mesh_buffers(
    mesh,
    *,
    frame: Frame | None = None,
    size=512,
    azimuth: float = 30.0,
    elevation: float = 20.0,
    distance: float = 4.5,
    fov: float = 35.0,
) -> RenderBuffers:
    """Cast the orbit camera's rays at ``mesh``: hit mask, depth and viewer-facing face normals.

    Parameters are those of :func:`render_mesh` (without colors).
    """
    import igl

    mesh = as_mesh(mesh)
    frame = frame_of_mesh(mesh) if frame is None else frame
    vertices = np.ascontiguousarray(frame.to_normalized(mesh.vertices), dtype=np.float64)
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    camera = Camera(azimuth, elevation, distance, fov)
    origins, directions, (h, w) = camera.rays(size)
    tree = igl.AABB()
    tree.init(vertices, faces)
    fid, t, _ = tree.intersect_ray_first(vertices, faces, np.ascontiguousarray(origins), directions)
    fid = np.asarray(fid).reshape(-1)
    hit = (fid >= 0) & np.isfinite(t)
    hits = np.flatnonzero(hit)
    tri = vertices[faces[fid[hits]]]  # (k, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    n = np.where(np.einsum("ij,ij->i", n, directions[hits])[:, None] > 0, -n, n)
    normal = np.zeros((h * w, 3), dtype=np.float32)
    normal[hits] = n
    depth = np.full(h * w, np.inf, dtype=np.float32)
    depth[hits] = np.asarray(t).reshape(-1)[hits]
    return RenderBuffers(hit.reshape(h, w), depth.reshape(h, w), normal.reshape(h, w, 3), camera)


def render_mesh(
    mesh,
    *,
    frame: Frame | None = None,
    size=512,
    azimuth: float = 30.0,
    elevation: float = 20.0,
    distance: float = 4.5,
    fov: float = 35.0,
    background=DEFAULT_BACKGROUND,
    color=DEFAULT_COLOR,
) -> np.ndarray:
    """Ray-cast, shaded image of a triangle mesh, comparable with :func:`nc3d.render.render_sdf`.

    Parameters
    ----------
    mesh : Mesh, trimesh.Trimesh or (vertices, faces)
        In original coordinates.
    frame : Frame, optional
        Original → normalized transform to render in; default :func:`frame_of_mesh` of ``mesh``
        (which is the frame an implicit file of this mesh stores).
    size : int or (w, h)
        Image size in pixels.
    azimuth, elevation, distance, fov : float
        The orbit camera (see :class:`nc3d.render.Camera`).
    background, color : three numbers in [0, 255]
        sRGB background and surface color.

    Returns
    -------
    (h, w, 3) uint8
    """
    check_rgb(color, "color")
    check_rgb(background, "background")
    buf = render_mesh_buffers(
        mesh, frame=frame, size=size, azimuth=azimuth, elevation=elevation, distance=distance, fov=fov
    )
    _, directions, _ = buf.camera.rays(size)
    mask = buf.hit.reshape(-1)
    rgb = shade(buf.normal.reshape(-1, 3)[mask], directions[mask], buf.camera, color)
    return compose(buf.hit, rgb, background)
