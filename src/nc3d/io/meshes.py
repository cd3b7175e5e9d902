"""Reading and writing triangle meshes (OBJ, PLY, STL, OFF, GLB/GLTF) through trimesh.

Everything that comes in is checked once here and turned into a :class:`nc3d.mesh.Mesh`:
scenes are merged into one mesh (node transforms applied), polygons are triangulated,
vertices at identical positions are merged (STL stores three copies of every vertex), and
unreferenced vertices are dropped. Degenerate and duplicated faces are kept: they are the
user's geometry, and every consumer in nc3d tolerates them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..mesh import Mesh, as_mesh

__all__ = ["MESH_EXTENSIONS", "load_mesh", "save_mesh", "is_mesh_path"]

#: File extensions nc3d reads and writes as meshes (lower case, with the dot).
MESH_EXTENSIONS = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
_WRITE_EXTENSIONS = (".obj", ".ply", ".stl", ".off", ".glb")


def is_mesh_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has one of :data:`MESH_EXTENSIONS`."""
    return Path(path).suffix.lower() in MESH_EXTENSIONS


def load_mesh(path: str | os.PathLike) -> Mesh:
    """Read a mesh file.

    Parameters
    ----------
    path : str or PathLike
        An OBJ, PLY, STL, OFF, GLB or GLTF file.

    Returns
    -------
    Mesh
        ``vertices (n, 3) float64`` and ``faces (m, 3) int64``.

    Raises
    ------
    InputError
        Missing or unreadable file, unknown format, no faces (a point cloud), NaN/inf
        coordinates, face indices out of range, zero-extent bounding box. The message names the
        file and the problem.
    """
    import trimesh

    path = Path(path)
    ext = path.suffix.lower()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if ext not in MESH_EXTENSIONS:
        raise InputError(
            f"{path}: unknown mesh format '{ext or '(no extension)'}'; nc3d reads "
            + ", ".join(e.lstrip(".").upper() for e in MESH_EXTENSIONS)
        )
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        loaded = trimesh.load(str(path), file_type=ext.lstrip("."), force="mesh", process=False)
    except IndexError as exc:
        raise InputError(f"{path}: face indices out of range ({exc})") from None
    except ImportError:  # trimesh reaches for a charset detector when text is not UTF-8: binary junk
        raise InputError(
            f"{path}: cannot read as {ext.lstrip('.').upper()}: the content is neither a valid "
            "binary file of this format nor text"
        ) from None
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types on malformed files; all mean "unreadable"
        raise InputError(
            f"{path}: cannot read as {ext.lstrip('.').upper()} ({type(exc).__name__}: {exc})"
        ) from None
    faces = getattr(loaded, "faces", None)
    if faces is None or len(faces) == 0:
        raise InputError(
            f"{path}: has no faces (a point cloud, or not really {ext.lstrip('.').upper()}?); "
            "nc3d needs a triangle mesh"
        )
    # trimesh types load() as returning a Geometry; one with faces is a mesh and has vertices
    vertices = np.asarray(loaded.vertices)  # type: ignore[attr-defined]
    mesh = as_mesh((vertices, np.asarray(faces)), name=str(path))
    return _merge_duplicate_vertices(mesh)


def _merge_duplicate_vertices(mesh: Mesh) -> Mesh:
    """Merge vertices with identical positions and drop unreferenced ones (vectorized)."""
    used = np.unique(mesh.faces.ravel())
    uniq, inverse = np.unique(mesh.vertices[used], axis=0, return_inverse=True)
    remap = np.empty(len(mesh.vertices), dtype=np.int64)
    remap[used] = inverse.ravel()
    return Mesh(np.ascontiguousarray(uniq), remap[mesh.faces])


def save_mesh(path: str | os.PathLike, mesh, *, force: bool = False) -> Path:
    """Write a mesh to OBJ, PLY (binary), STL (binary), OFF or GLB, chosen by extension.

    The file is written to a temporary name and renamed, so an interrupted write never leaves
    a partial file; an existing file is kept unless ``force``.

    Parameters
    ----------
    path : str or PathLike
        Output file; its extension picks the format.
    mesh : Mesh, trimesh.Trimesh or (vertices, faces)
        The mesh to write.
    force : bool
        Overwrite an existing file.
    """
    from ..files import write_bytes_atomic

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _WRITE_EXTENSIONS:
        raise InputError(
            f"{path}: cannot write meshes as '{ext or '(no extension)'}'; choose one of "
            + ", ".join(_WRITE_EXTENSIONS)
        )
    data = export_mesh_bytes(as_mesh(mesh, name=str(path)), ext.lstrip("."))
    write_bytes_atomic(path, data, force=force)
    return path


def export_mesh_bytes(mesh: Mesh, file_type: str) -> bytes:
    """Serialize ``mesh`` as ``file_type`` (``"obj"``, ``"ply"``, ``"stl"``, ``"off"``, ``"glb"``)."""
    tm = mesh.to_trimesh()
    if file_type == "obj":
        data = tm.export(file_type="obj", include_normals=False, include_texture=False)
    else:
        data = tm.export(file_type=file_type)
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)
