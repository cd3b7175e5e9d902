"""The one protocol every nc3d codec and every classical baseline implements.

Modelled on CompressAI's codecs: a codec has a ``name``, the ``kind`` of data it takes
(``"mesh"``, ``"meshset"`` or ``"volume"``), ``encode(data, **settings) -> bytes`` and
``decode(blob) -> data``, and registers itself by name so the CLI and the benchmark treat
neural codecs and baselines alike. The bytes are always a complete ``.nc3d`` container, so any
encoded blob can be decoded without knowing which codec made it.

A codec author implements two methods over the container's parts:

* ``encode_parts(data, **settings) -> (header: dict, sections: dict[str, bytes])``
* ``decode_parts(header, sections) -> data`` — the header and sections are untrusted: validate
  every value before use and raise :class:`~nc3d.errors.FormatError` on anything wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import container as _container
from ..errors import FormatError, InputError

__all__ = ["Codec", "Option", "register", "get_codec", "codec_names", "KINDS"]

#: The kinds of data codecs take.
KINDS = ("mesh", "meshset", "volume")


@dataclass(frozen=True)
class Option:
    """One user-facing setting of a codec (also a ``--name`` flag of ``nc3d compress``).

    Attributes
    ----------
    name : str
        Keyword name (``snake_case``); the CLI flag is ``--name-with-dashes``.
    type : type
        ``int``, ``float``, ``str`` or ``bool``.
    default : Any
        Value used when the setting is not given.
    help : str
        One line for ``--help``.
    choices : tuple or None
        Allowed values, if restricted.
    low, high : float or None
        Inclusive numeric bounds, if any.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None

    def validate(self, codec: str, value: Any) -> Any:
        """Coerce and check ``value``; :class:`InputError` naming the codec and the setting."""
        label = f"{codec}: setting '{self.name}'"
        if self.type is bool:
            if not isinstance(value, bool):
                raise InputError(f"{label} must be true or false, got {value!r}")
            return value
        try:
            if self.type is int and (isinstance(value, bool) or float(value) != int(float(value))):
                raise ValueError
            value = self.type(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{label} must be {self.type.__name__}, got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            raise InputError(f"{label} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.type in (int, float):
            if value != value:  # NaN
                raise InputError(f"{label} must be a number, got NaN")
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise InputError(f"{label} must be in [{self.low}, {self.high}], got {value}")
        return value


class Codec:
    """Base class of codecs; subclasses set the class attributes and the two ``*_parts`` methods."""

    #: Registry name, also stored in every file the codec writes.
    name: ClassVar[str] = ""
    #: ``"mesh"``, ``"meshset"`` or ``"volume"``.
    kind: ClassVar[str] = ""
    #: One line for ``nc3d codecs`` and reports.
    description: ClassVar[str] = ""
    #: True for the classical baselines (the benchmark labels them so).
    baseline: ClassVar[bool] = False
    #: The settings ``encode`` accepts.
    options: ClassVar[tuple[Option, ...]] = ()

    # -- the protocol ---------------------------------------------------------------------
    def encode(self, data, *, progress=None, **settings) -> bytes:
        """Compress ``data`` into the bytes of a complete ``.nc3d`` file.

        ``progress(phase: str, done: int, total: int)``, if given, is called as long work advances.
        """
        header, sections = self.encode_parts(data, progress=progress, **self.resolve_settings(settings))
        return _container.pack(_container.Container(self.name, header, sections))

    def decode(self, blob: bytes):
        """Decompress the bytes of a ``.nc3d`` file written by this codec."""
        return self.decode_container(_container.unpack(blob))

    def decode_container(self, c: _container.Container, region=None):
        """Decode an already parsed container (checks that it belongs to this codec).

        ``region`` (volumes only): a sub-box, see :meth:`decode_region`.
        """
        if c.codec != self.name:
            raise FormatError(f"file was written by codec '{c.codec}', not '{self.name}'")
        if region is not None:
            return self.decode_region(c.header, c.sections, region)
        return self.decode_parts(c.header, c.sections)

    def open(self, c: _container.Container):
        """A lazy handle on a parsed file; codecs with random access (``.sdf``) override this."""
        from ..api import EncodedFile

        return EncodedFile(c, self)

    # -- for subclasses ---------------------------------------------------------------------
    def encode_parts(self, data, *, progress=None, **settings) -> tuple[dict, dict[str, bytes]]:
        raise NotImplementedError

    def decode_parts(self, header: dict, sections: dict[str, bytes]):
        raise NotImplementedError

    def decode_region(self, header: dict, sections: dict[str, bytes], region):
        """Decode a sub-box of a volume: ``region`` is three ``(start, stop)`` ranges along (z, y, x).

        This default decodes everything and crops; block-based codecs override it to decode only
        the blocks they need.
        """
        from .volume_header import check_region

        if self.kind != "volume":
            raise InputError(f"codec '{self.name}' decodes a {self.kind}; a region needs a volume")
        data = self.decode_parts(header, sections)
        box = check_region(region, data.shape)
        return np.ascontiguousarray(data[tuple(slice(a, b) for a, b in box)])

    def ladder(self, quick: bool = False) -> list[dict]:
        """Settings to sweep for a rate–distortion curve (default: the defaults only)."""
        return [{}]

    # -- helpers -------------------------------------------------------------------------------
    def resolve_settings(self, settings: dict) -> dict:
        """Defaults filled in, every value validated; unknown names are an :class:`InputError`."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise InputError(
                f"codec '{self.name}' has no setting {', '.join(map(repr, unknown))}; "
                f"it takes: {', '.join(known) or 'none'}"
            )
        out = {}
        for name, opt in known.items():
            value = settings.get(name)
            out[name] = opt.default if value is None else opt.validate(self.name, value)
        return out


_REGISTRY: dict[str, type[Codec]] = {}


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make ``cls`` available by ``cls.name``."""
    if not cls.name or cls.kind not in KINDS:
        raise TypeError(f"codec class {cls.__name__} needs a name and a kind in {KINDS}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"codec name '{cls.name}' is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get_codec(name: str) -> Codec:
    """A codec instance by registry name; :class:`InputError` listing the names if unknown."""
    _load_builtin_codecs()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise InputError(f"unknown codec '{name}'; available: {', '.join(sorted(_REGISTRY))}") from None


def codec_names(kind: str | None = None, *, baselines: bool | None = None) -> list[str]:
    """Registered codec names, optionally only those of one kind, or only (non-)baselines."""
    _load_builtin_codecs()
    return [
        n
        for n, c in _REGISTRY.items()
        if (kind is None or c.kind == kind) and (baselines is None or c.baseline == baselines)
    ]


def _load_builtin_codecs() -> None:
    # Importing the modules runs their @register decorators; optional dependencies are only
    # imported inside encode/decode, so this never fails for a missing extra.
    from . import builtin  # noqa: F401  (nc3d's own codecs first: they lead listings and tables)
    from .. import baselines  # noqa: F401
