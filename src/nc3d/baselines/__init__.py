"""Classical codecs in the nc3d codec protocol, so the benchmark treats them like ours."""

from . import lossless  # noqa: F401  (registers 'ply-lzma')
