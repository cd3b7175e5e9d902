"""nc3d — neural compression of 3D geometry and volumes, with the classical baselines to prove it.

>>> import nc3d
>>> blob = nc3d.compress("bunny.obj")            # bytes of a .nc3d file
>>> mesh = nc3d.decompress(blob)                 # nc3d.Mesh, in the original coordinates
>>> f = nc3d.open("bunny.nc3d")                  # lazy handle on a file
"""

from .api import compress, decompress, info, load_input, open
from .codecs import codec_names, get_codec
from .errors import FormatError, InputError, MissingDependencyError, Nc3dError
from .mesh import Mesh, as_mesh

__version__ = "0.1.0"

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
    "MissingDependencyError",
    "Mesh",
    "as_mesh",
    "__version__",
]
