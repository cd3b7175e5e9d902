"""Optional dependencies: imported only when a feature needs them, with a helpful message."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

# module name -> (pip distribution, nc3d extra that installs it)
_EXTRAS = {
    "DracoPy": ("DracoPy", "baselines"),
    "fast_simplification": ("fast-simplification", "baselines"),
    "zfpy": ("zfpy", "baselines"),
    "matplotlib": ("matplotlib", "plot"),
    "h5py": ("h5py", "hdf5"),
    "nibabel": ("nibabel", "volumes"),
    "tifffile": ("tifffile", "volumes"),
    "ray": ("ray", "ray"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"h5py"``.
    feature : str
        What the user asked for, used in the message, e.g. ``"reading Keras HDF5 weights"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist, extra = _EXTRAS.get(module, (module, None))
        hint = f"pip install 'nc3d[{extra}]'" if extra else f"pip install {dist}"
        raise MissingDependencyError(
            f"{feature} needs the optional package '{dist}', which is not installed: {hint}"
        ) from exc
