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
    "hdf5plugin": ("hdf5plugin", "baselines"),
    "matplotlib": ("matplotlib", "plot"),
    "h5py": ("h5py", "hdf5"),
    "nibabel": ("nibabel", "volumes"),
    "tifffile": ("tifffile", "volumes"),
    "ray": ("ray", "ray"),
    "zarr": ("zarr", "zarr"),
    "numcodecs": ("numcodecs", "zarr"),
    "dask": ("dask", "zarr"),
    "dask.array": ("dask[array]", "zarr"),
    "distributed": ("distributed", "zarr"),
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


def import_deferring_ctrl_c(module: str) -> ModuleType:
    """Import ``module`` with Ctrl-C held back until the import is done, then honoured.

    trimesh wraps its own optional imports in ``except BaseException``, so a Ctrl-C that lands
    while it is being imported is swallowed and the command runs on (seen ~3.5 s into
    ``nc3d compress``). Here SIGINT is only recorded during the import and raised as
    :class:`KeyboardInterrupt` right after. Off the main thread, or when SIGINT is not Python's
    default handler (ignored, or the caller's own), the import is plain.
    """
    import signal
    import sys
    import threading

    if module in sys.modules:
        return sys.modules[module]
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        return importlib.import_module(module)
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        loaded = importlib.import_module(module)
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
    return loaded
