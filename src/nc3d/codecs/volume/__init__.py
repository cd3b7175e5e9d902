"""The volume codecs (Bevec et al. and beyond); each module is named after the codec id it registers.

* ``volume`` — 8³ DCT with a learned entropy model and dequantizer, the default for volumes
  (:mod:`.volume`; its learned tables and deblocking in :mod:`.volume_model`, :mod:`.deblock`);
* ``volume-conv`` — learned conv analysis/synthesis transforms with a factorized prior
  (:mod:`.volume_conv`; :mod:`.volume_conv_model`, :mod:`.volume_conv_latents`,
  :mod:`.volume_conv_train`);
* ``bevec`` — the paper's dense block VAE, reproduced (:mod:`.bevec`);
* ``volume-labels`` — lossless label and integer-class volumes (:mod:`.volume_labels`); the
  ``volume`` codec hands it label volumes (``lossless`` option, automatic by default).
"""

from .bevec import BevecCodec
from .volume import VolumeCodec
from .volume_conv import VolumeConvCodec
from .volume_labels import VolumeLabelsCodec

__all__ = ["BevecCodec", "VolumeCodec", "VolumeConvCodec", "VolumeLabelsCodec"]
