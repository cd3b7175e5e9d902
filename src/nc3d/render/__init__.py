"""Images of shapes: sphere tracing of SDFs, ray casting of meshes, comparison pictures.

Both renderers share one orbit camera (:class:`Camera`, normalized frame) and one lighting
model, so an implicit reconstruction and its original mesh render to images that line up:

>>> from nc3d.render import render_sdf, render_mesh, side_by_side, save_png
>>> shape = nc3d.open("spot.nc3d")
>>> save_png("cmp.png", side_by_side([render_mesh(original), shape.render()]))
"""

from .camera import Camera, camera_rays, image_size
from .image import encode_png, save_png, side_by_side
from .mesh import render_mesh, render_mesh_buffers
from .sdf import BOUNDING_RADIUS, RenderBuffers, render_sdf, render_sdf_buffers, sdf_normals, sphere_trace
from .volume import middle_slices, render_volume_slices

__all__ = [
    "BOUNDING_RADIUS",
    "Camera",
    "RenderBuffers",
    "camera_rays",
    "encode_png",
    "image_size",
    "middle_slices",
    "render_mesh",
    "render_mesh_buffers",
    "render_sdf",
    "render_sdf_buffers",
    "render_volume_slices",
    "save_png",
    "sdf_normals",
    "side_by_side",
    "sphere_trace",
]
