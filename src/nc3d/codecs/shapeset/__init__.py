"""The shapeset codec (NeCGS): a set of meshes → one shared auto-decoder + a small feature per shape."""

from .codec import ShapeSetCodec, ShapeSetFile, safe_names
from .model import Architecture

__all__ = ["ShapeSetCodec", "ShapeSetFile", "Architecture", "safe_names"]
