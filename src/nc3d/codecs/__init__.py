"""Codecs: the shared protocol, the registry, and one module per nc3d codec."""

from .base import KINDS, Codec, Option, codec_names, get_codec, register

__all__ = ["KINDS", "Codec", "Option", "codec_names", "get_codec", "register"]
