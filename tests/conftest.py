"""Shared fixtures: the real data in ../shared/data and small generated meshes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from nc3d.mesh import Mesh

SHARED_DATA = Path(
    os.environ.get("NC3D_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
MESH_SUFFIXES = {".obj", ".ply", ".stl", ".off"}


def shared_mesh_paths() -> list[Path]:
    """Every mesh file of ../shared/data/meshes (empty when the folder is absent)."""
    root = SHARED_DATA / "meshes"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)


def needs_shared_data():
    return pytest.mark.skipif(
        not (SHARED_DATA / "meshes").is_dir(), reason=f"no shared data at {SHARED_DATA}"
    )


@pytest.fixture
def sphere() -> Mesh:
    """Unit icosphere (radius 1, 1280 faces), outward faces."""
    m = trimesh.creation.icosphere(subdivisions=3)
    return Mesh(np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64))


@pytest.fixture
def box() -> Mesh:
    """Axis-aligned box 2 × 1 × 0.5 centred at (1, 2, 3)."""
    m = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    m.apply_translation((1.0, 2.0, 3.0))
    return Mesh(np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64))
