"""File input and output: meshes (and, with the volume codec, scalar volumes)."""

from .meshes import MESH_EXTENSIONS, export_mesh_bytes, is_mesh_path, load_mesh, save_mesh

__all__ = ["MESH_EXTENSIONS", "export_mesh_bytes", "is_mesh_path", "load_mesh", "save_mesh"]
from .ply import canonical_ply_bytes, canonical_ply_size
from .volumes import VOLUME_EXTENSIONS, as_volume, is_volume_path, load_volume, save_volume

__all__ += [
    "canonical_ply_bytes",
    "canonical_ply_size",
    "VOLUME_EXTENSIONS",
    "as_volume",
    "is_volume_path",
    "load_volume",
    "save_volume",
]
