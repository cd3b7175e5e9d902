"""Classical codecs in the nc3d codec protocol, so the benchmark treats them like ours.

Their optional dependencies (DracoPy, fast-simplification, zfpy, hdf5plugin) are imported only
when they encode or decode, so listing the codecs never fails for a missing extra.
"""

from . import dct, draco, hdf5_filters, lossless, quant_deepsdf, sdf_grid, volume_simple  # noqa: F401  (each registers its codecs)
