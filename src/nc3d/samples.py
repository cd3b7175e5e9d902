"""The sample data shipped inside the package (see ``nc3d/data/README.md`` for sources and licenses)."""

from __future__ import annotations

from pathlib import Path

from .resources import data_dir

__all__ = ["sample_mesh_paths", "sample_volume_path", "data_dir"]


def sample_mesh_paths() -> list[Path]:
    """The built-in sample meshes: Spot (OBJ), Bob (OBJ), a Thingi10K print (STL)."""
    d = data_dir() / "meshes"
    return [d / "spot.obj", d / "bob_tri.obj", d / "thingi10k_65004.stl"]


def sample_volume_path() -> Path:
    """The built-in sample volume: a low-resolution MR head, uint8, (z, y, x) = (42, 62, 48)."""
    return data_dir() / "volumes" / "HeadMRVolume.npy"
