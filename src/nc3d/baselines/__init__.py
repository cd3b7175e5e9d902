"""Classical codecs in the nc3d codec protocol, so the benchmark treats them like ours.

Their optional dependencies (DracoPy, fast-simplification) are imported only when they encode
or decode, so listing the codecs never fails for a missing extra.
"""

from . import dct, draco, lossless, quant_deepsdf, sdf_grid, volume_simple  # noqa: F401  (each registers its codecs)
