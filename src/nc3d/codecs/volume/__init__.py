"""The volume codecs (Bevec et al. and beyond): block tools, and the codec modules that register themselves.

* ``volume`` — learned 3-D transform coding, the default for volumes (:mod:`.codec`);
* ``bevec`` — the paper's dense block VAE, reproduced (:mod:`.bevec`).
"""

from .bevec import BevecCodec
from .codec import VolumeCodec

__all__ = ["BevecCodec", "VolumeCodec"]
