"""The exceptions nc3d raises on purpose.

Every error a user can provoke with bad input or a bad file is one of these, with a message
that names the thing (file, argument, section) and what is wrong with it. Anything else
escaping the API is a bug.
"""

from __future__ import annotations

__all__ = [
    "Nc3dError",
    "InputError",
    "OutputExistsError",
    "FormatError",
    "EncodeError",
    "MissingDependencyError",
]


class Nc3dError(Exception):
    """Base class of every error nc3d raises deliberately."""


class InputError(Nc3dError, ValueError):
    """An input (mesh, volume, argument, path) that nc3d cannot use, and why."""


class OutputExistsError(InputError, FileExistsError):
    """An output that already exists and that the caller did not allow to be replaced.

    The message names the path; the command line adds how to allow it (``--force``).
    """

    def __init__(self, path, what: str = "") -> None:
        self.path, self.what = path, what or "exists"
        super().__init__(f"{path} {self.what}; not overwritten (pass force=True to replace it)")


class FormatError(Nc3dError, ValueError):
    """A ``.nc3d`` file (or byte string) that is corrupt, truncated, hostile or unsupported."""


class EncodeError(Nc3dError, RuntimeError):
    """An encoder that could not make a file that gives back what it was given (a shape of a set
    that decodes to nothing, even after refitting): nothing is written, and the message says
    which inputs and what to change."""


class MissingDependencyError(Nc3dError, ImportError):
    """An optional dependency that the requested feature needs is not installed."""
