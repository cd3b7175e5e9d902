"""Files shipped inside the package: sample data and the learned models, found with
:mod:`importlib.resources` (works from a wheel, an editable install or a zip)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["data_dir", "model_path"]


def data_dir() -> Path:
    """The package's ``data`` folder (sample meshes and volumes, models; see its README)."""
    return Path(str(resources.files("nc3d") / "data"))


def model_path(name: str) -> Path:
    """Path of a shipped model file, named after the codec that uses it (``"volume.npz"``,
    ``"volume-conv.npz"``, ``"bevec-8-0-128-32.npz"``)."""
    return data_dir() / "models" / name
