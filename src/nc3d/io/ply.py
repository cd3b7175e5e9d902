"""The canonical binary PLY: the size every mesh compression ratio is also stated against.

``float32 x, y, z`` per vertex and ``uchar 3, int32 a, b, c`` per face, little-endian, with a
minimal header — so that OBJ-vs-STL text overhead does not move a ratio (DESIGN.md,
"Compression ratio"). Written by hand rather than with trimesh because the exact byte layout
is the point, and the reader here only has to accept this one layout, strictly.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..mesh import Mesh

__all__ = ["canonical_ply_bytes", "canonical_ply_size", "parse_canonical_ply"]

_FACE = np.dtype([("n", "u1"), ("idx", "<i4", (3,))])


def _header(n_vertices: int, n_faces: int) -> bytes:
    return (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {n_vertices}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {n_faces}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")


def canonical_ply_size(n_vertices: int, n_faces: int) -> int:
    """Bytes of the canonical binary PLY of a mesh with these counts."""
    return len(_header(n_vertices, n_faces)) + 12 * n_vertices + _FACE.itemsize * n_faces


def canonical_ply_bytes(mesh: Mesh) -> bytes:
    """The canonical binary PLY of ``mesh`` (vertices rounded to float32)."""
    faces = np.empty(len(mesh.faces), dtype=_FACE)
    faces["n"] = 3
    faces["idx"] = mesh.faces
    return (
        _header(len(mesh.vertices), len(mesh.faces)) + mesh.vertices.astype("<f4").tobytes() + faces.tobytes()
    )


def parse_canonical_ply(data: bytes, *, max_elements: int = 1 << 28) -> Mesh:
    """Read bytes written by :func:`canonical_ply_bytes`; :class:`FormatError` on anything else."""
    end = data.find(b"end_header\n", 0, 512)
    if not data.startswith(b"ply\n") or end < 0:
        raise FormatError("embedded PLY: missing or oversized header")
    lines = data[:end].decode("ascii", errors="replace").split("\n")
    try:
        nv = int(lines[2].removeprefix("element vertex "))
        nf = int(lines[6].removeprefix("element face "))
    except (IndexError, ValueError):
        raise FormatError("embedded PLY: unexpected header layout") from None
    if not (0 < nv <= max_elements and 0 < nf <= max_elements) or data[: end + 11] != _header(nv, nf):
        raise FormatError("embedded PLY: unexpected header or element counts")
    body = memoryview(data)[end + 11 :]
    if len(body) != 12 * nv + _FACE.itemsize * nf:
        raise FormatError(
            f"embedded PLY: body has {len(body)} bytes, header implies {12 * nv + _FACE.itemsize * nf}"
        )
    raw = np.frombuffer(body[: 12 * nv], dtype="<f4").reshape(nv, 3)
    if not np.all(np.isfinite(raw)):
        raise FormatError("embedded PLY: non-finite vertex")
    vertices = raw.astype(np.float64)
    faces = np.frombuffer(body[12 * nv :], dtype=_FACE)
    if np.any(faces["n"] != 3):
        raise FormatError("embedded PLY: a face is not a triangle")
    idx = faces["idx"].astype(np.int64)
    if idx.min() < 0 or idx.max() >= nv or not np.all(np.isfinite(vertices)):
        raise FormatError("embedded PLY: face index out of range or non-finite vertex")
    return Mesh(vertices, idx)
