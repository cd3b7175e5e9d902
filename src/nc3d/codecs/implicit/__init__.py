"""The implicit codec (Davies et al., "weight-encoded neural implicits")."""

from .codec import ImplicitCodec
from .shape import ImplicitShape

__all__ = ["ImplicitCodec", "ImplicitShape"]
