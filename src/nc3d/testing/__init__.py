"""Tools for testing nc3d and codecs built on it (as ``numpy.testing``): hostile-file fuzzing
(:mod:`.fuzz`) and generated messy inputs (:mod:`.messy`). Not needed to compress anything."""
