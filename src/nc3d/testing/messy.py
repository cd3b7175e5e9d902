"""Messy inputs on purpose: files that real users feed nc3d, written on demand.

Each generator writes one file into a folder and returns its path. Used by
``tests/test_messy_inputs.py`` (small versions) and ``benchmarks/messy_matrix.py`` (every case ×
every codec). The contract: loading and compressing each one either works or raises
:class:`~nc3d.errors.Nc3dError` with a clear message — never another exception.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["MESH_CASES", "VOLUME_CASES", "write_case", "big_mesh_ply"]


def _sphere(subdivisions: int = 2):
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=subdivisions)
    return np.asarray(s.vertices), np.asarray(s.faces)


def _obj(vertices, faces) -> bytes:
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in np.asarray(vertices, dtype=float).tolist()]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces).tolist()]
    return ("\n".join(lines) + "\n").encode()


def _grid(n: int):
    """A flat n × n grid of 2(n-1)² triangles in the plane z = 0, vectorized."""
    u, v = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    vertices = np.stack([u.ravel() / (n - 1), v.ravel() / (n - 1), np.zeros(n * n)], axis=1)
    i = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).ravel()
    faces = np.concatenate([np.stack([i, i + n, i + 1], 1), np.stack([i + 1, i + n, i + n + 1], 1)])
    return vertices, faces


def big_mesh_ply(faces: int) -> bytes:
    """Canonical binary PLY of a flat grid with at least ``faces`` triangles (vectorized)."""
    from ..io.ply import canonical_ply_bytes
    from ..mesh import Mesh

    n = int(np.ceil(np.sqrt(faces / 2))) + 1
    v, f = _grid(n)
    v[:, 2] = 0.05 * np.sin(6 * v[:, 0]) * np.cos(5 * v[:, 1])  # not flat: a height field
    return canonical_ply_bytes(Mesh(v, f))


def _point_cloud_ply() -> bytes:
    v = _sphere(1)[0].astype("<f4")
    head = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {len(v)}\n"
        "property float x\nproperty float y\nproperty float z\nend_header\n"
    ).encode()
    return head + v.tobytes()


def _mesh_cases() -> dict[str, tuple[str, Callable[[], bytes]]]:
    v, f = _sphere()
    garbage = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    collinear = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], float)
    return {
        "empty file": ("empty.obj", lambda: b""),
        "one triangle": ("one_triangle.obj", lambda: _obj([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])),
        "all faces degenerate": ("degenerate.obj", lambda: _obj(collinear, [[0, 1, 2], [1, 2, 3]])),
        "duplicated faces": ("duplicated.obj", lambda: _obj(v, np.concatenate([f, f]))),
        "NaN vertex": ("nan.obj", lambda: _obj(np.where(np.arange(len(v))[:, None] == 3, np.nan, v), f)),
        "inf vertex": ("inf.obj", lambda: _obj(np.where(np.arange(len(v))[:, None] == 3, np.inf, v), f)),
        "1e8-scale coordinates": ("huge_scale.obj", lambda: _obj(v * 1e8 + 3e8, f)),
        "flat 2-D mesh": ("flat.obj", lambda: _obj(*_grid(8))),
        "point cloud (PLY, no faces)": ("points.ply", _point_cloud_ply),
        "face index out of range": ("bad_index.obj", lambda: _obj(v, np.concatenate([f, [[0, 1, 9999]]]))),
        "quads and a pentagon": (
            "polygons.obj",
            lambda: (
                b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\n"
                b"f 1 2 3 4\nf 1 2 5\nf 2 3 5\nf 3 4 5\nf 4 1 5\nf 1 2 3 4 5\n"
            ),
        ),
        "wrong extension (OBJ named .stl)": ("obj_text.stl", lambda: _obj(v, f)),
        "unknown extension": ("mesh.xyz", lambda: _obj(v, f)),
        "binary garbage .obj": ("garbage.obj", lambda: garbage),
        "binary garbage .ply": ("garbage.ply", lambda: garbage),
        "binary garbage .stl": ("garbage.stl", lambda: garbage),
        "binary garbage .glb": ("garbage.glb", lambda: garbage),
        "truncated binary PLY": ("truncated.ply", lambda: big_mesh_ply(2000)[:5000]),
        "binary STL with a huge triangle count": (
            "huge_count.stl",
            lambda: b"\0" * 80 + struct.pack("<I", 2**31),
        ),
    }


def _volume_cases() -> dict[str, tuple[str, Callable[[], bytes]]]:
    import io

    def npy(a) -> bytes:
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        return buf.getvalue()

    z, y, x = np.mgrid[-1:1:16j, -1:1:16j, -1:1:16j]
    ball = np.sqrt(x * x + y * y + z * z).astype(np.float32)
    return {
        "raw file of the wrong size": ("vol_16x16x16_float32.raw", lambda: ball.tobytes()[:-4]),
        "constant volume": ("constant.npy", lambda: npy(np.full((16, 16, 16), 7.0, np.float32))),
        "NaN voxels": ("nan.npy", lambda: npy(np.where(ball > 0.5, np.nan, ball).astype(np.float32))),
        "inf voxels": ("inf.npy", lambda: npy(np.where(ball > 0.5, np.inf, ball).astype(np.float32))),
        "1×1×N volume": ("line.npy", lambda: npy(np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 1, 64))),
        "2-D array": ("image.npy", lambda: npy(np.zeros((16, 16), np.float32))),
        "object array (pickle)": ("objects.npy", lambda: _pickled_npy()),
        "huge dims in a MetaImage header": (
            "huge.mhd",
            lambda: (
                b"ObjectType = Image\nNDims = 3\n"
                b"DimSize = 100000 100000 100000\nElementType = MET_UCHAR\n"
                b"ElementDataFile = huge.raw\n"
            ),
        ),
        "huge dims in a .npy header": ("huge.npy", lambda: _npy_header_only((100000, 100000, 100000))),
        "binary garbage .nii": (
            "garbage.nii",
            lambda: np.random.default_rng(8).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        ),
    }


def _pickled_npy() -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([None, {"a": 1}], dtype=object), allow_pickle=True)  # the hostile file itself
    return buf.getvalue()


def _npy_header_only(shape) -> bytes:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64


MESH_CASES = _mesh_cases()
VOLUME_CASES = _volume_cases()


def write_case(name: str, folder: str | Path) -> Path:
    """Write the messy case ``name`` (a key of :data:`MESH_CASES` or :data:`VOLUME_CASES`) into ``folder``."""
    filename, make = {**MESH_CASES, **VOLUME_CASES}[name]
    path = Path(folder) / filename
    path.write_bytes(make())
    return path
