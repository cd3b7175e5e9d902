"""The exceptions nc3d raises on purpose.

Every error a user can provoke with bad input or a bad file is one of these, with a message
that names the thing (file, argument, section) and what is wrong with it. Anything else
escaping the API is a bug.
"""

from __future__ import annotations

__all__ = ["Nc3dError", "InputError", "FormatError", "MissingDependencyError"]


class Nc3dError(Exception):
    """Base class of every error nc3d raises deliberately."""


class InputError(Nc3dError, ValueError):
    """An input (mesh, volume, argument, path) that nc3d cannot use, and why."""


class FormatError(Nc3dError, ValueError):
    """A ``.nc3d`` file (or byte string) that is corrupt, truncated, hostile or unsupported."""


class MissingDependencyError(Nc3dError, ImportError):
    """An optional dependency that the requested feature needs is not installed."""
