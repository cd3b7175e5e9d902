"""The volume codecs (Bevec et al. and beyond): block tools, and the codec modules that register themselves.

* ``volume`` — 8³ DCT with a learned entropy model and dequantizer, the default for volumes (:mod:`.learned`);
* ``volume-conv`` — learned conv analysis/synthesis transforms with a factorized prior (:mod:`.codec`);
* ``bevec`` — the paper's dense block VAE, reproduced (:mod:`.bevec`).
"""

from .bevec import BevecCodec
from .volume import VolumeCodec
from .volume_conv import VolumeConvCodec

__all__ = ["BevecCodec", "VolumeCodec", "VolumeConvCodec"]
