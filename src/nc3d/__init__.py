"""nc3d — neural compression of 3D geometry and volumes, with the classical baselines to prove it.

>>> import nc3d
>>> blob = nc3d.compress("bunny.obj")            # bytes of a .nc3d file
>>> mesh = nc3d.decompress(blob)                 # nc3d.Mesh, in the original coordinates
>>> f = nc3d.open("bunny.nc3d")                  # lazy handle on a file
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Where each public name lives. They are imported on first use (PEP 562), so that ``import nc3d``
#: (and the ``nc3d`` command's start-up, see :mod:`nc3d._console`) does not pull in numpy.
_LAZY = {
    "compress": "api",
    "decompress": "api",
    "info": "api",
    "load_input": "api",
    "open": "api",
    "codec_names": "codecs",
    "get_codec": "codecs",
    "Nc3dError": "errors",
    "InputError": "errors",
    "FormatError": "errors",
    "EncodeError": "errors",
    "MissingDependencyError": "errors",
    "Mesh": "mesh",
    "as_mesh": "mesh",
}

__all__ = [
    "compress",
    "decompress",
    "info",
    "load_input",
    "open",
    "codec_names",
    "get_codec",
    "Nc3dError",
    "InputError",
    "FormatError",
    "EncodeError",
    "MissingDependencyError",
    "Mesh",
    "as_mesh",
    "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:  # a submodule not imported yet (nc3d.io, nc3d.metrics, …)
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
