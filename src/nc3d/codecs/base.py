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

and declares, as class attributes, what callers ask instead of checking its name:

* ``options`` — the settings ``encode`` takes (also the ``nc3d compress`` flags);
* ``presets`` — named ladders of settings: ``"smoke"`` (seconds: tests, fuzzing, golden files),
  ``"quick"`` (``nc3d bench --quick``) and ``"default"`` (``nc3d bench``: the rate–distortion
  ladder, usually with the defaults among its points);
* ``capabilities`` — what it can do beyond encode/decode (:data:`CAPABILITIES`);
* ``handle_type`` — the :mod:`handle <nc3d.codecs.handles>` class :meth:`Codec.open` returns;
* ``format`` — the number of its header layout, written into every file as ``"format"``
  (absent in files written before 2026-12-06: format 1). A codec whose layout changes bumps it
  and keeps decoding the older numbers; a codec id is never reused for another codec.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import container as _container
from ..errors import FormatError, InputError
from .handles import EncodedFile, MeshFile, MeshSetFile, VolumeFile

__all__ = [
    "Codec",
    "Option",
    "register",
    "get_codec",
    "codec_names",
    "KINDS",
    "PRESETS",
    "CAPABILITIES",
    "REGION_DECODE",
    "SHAPE_ACCESS",
    "DATA_PARALLEL",
    "FIELD",
    "KERAS_EXPORT",
]

#: The kinds of data codecs take.
KINDS = ("mesh", "meshset", "volume")
#: The presets every codec declares (see :attr:`Codec.presets`).
PRESETS = ("smoke", "quick", "default")

#: ``decode(region=...)`` returns a sub-box of a volume; blockwise files (``dct``, the ``volume``
#: codec's DCT formats) decode only the blocks it needs, the ``volume`` codec's wavelet files
#: (format 3) decode whole and crop.
REGION_DECODE = "region-decode"
#: A set file decodes one shape without decoding the others (``decode_shape``).
SHAPE_ACCESS = "shape-access"
#: ``encode`` trains across the processes of a ``torchrun`` launch (:mod:`nc3d.nn.ddp`).
DATA_PARALLEL = "data-parallel"
#: The file is a signed distance field: its handle has ``sdf``, ``mesh(resolution)``, ``render``, CSG.
FIELD = "field"
#: The stored network can be written as Keras HDF5 weights (``handle.save_keras``).
KERAS_EXPORT = "keras-export"
#: New shapes can be added to a set file with its shared parts frozen (``handle.add_shapes``).
ADD_SHAPES = "add-shapes"
#: Every capability a codec may declare.
CAPABILITIES = frozenset({REGION_DECODE, SHAPE_ACCESS, DATA_PARALLEL, FIELD, KERAS_EXPORT, ADD_SHAPES})

#: The handle class of each kind, unless a codec names its own.
_HANDLES: dict[str, type[EncodedFile]] = {"mesh": MeshFile, "meshset": MeshSetFile, "volume": VolumeFile}


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
    #: Named ladders of settings, one per name of :data:`PRESETS` (see the module docstring).
    presets: ClassVar[Mapping[str, tuple[dict, ...]]] = {"smoke": ({},), "quick": ({},), "default": ({},)}
    #: What the codec can do beyond encode/decode (names from :data:`CAPABILITIES`).
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: The handle class :meth:`open` returns (None: the one of its kind).
    handle_type: ClassVar[type[EncodedFile] | None] = None
    #: Number of the header layout this codec writes (the ``"format"`` header key).
    format: ClassVar[int] = 1

    # -- the protocol ---------------------------------------------------------------------
    def encode(self, data, *, progress=None, **settings) -> bytes:
        """Compress ``data`` into the bytes of a complete ``.nc3d`` file.

        ``progress(phase: str, done: int, total: int)``, if given, is called as long work advances.
        """
        header, sections = self.encode_parts(data, progress=progress, **self.resolve_settings(settings))
        return _container.pack(_container.Container(self.name, {**header, "format": self.format}, sections))

    def decode(self, blob: bytes):
        """Decompress the bytes of a ``.nc3d`` file written by this codec."""
        return self.decode_container(_container.unpack(blob))

    def decode_container(self, c: _container.Container, region=None):
        """Decode an already parsed container (checks that it belongs to this codec).

        ``region`` (volumes only): a sub-box, see :meth:`decode_region`.
        """
        header = self.check_container(c)
        if region is not None:
            return self.decode_region(header, c.sections, region)
        return self.decode_parts(header, c.sections)

    def check_container(self, c: _container.Container) -> dict:
        """The header of a container this codec wrote, its ``"format"`` key checked and removed.

        :class:`FormatError` when another codec wrote it or its format is newer than this nc3d's.
        """
        if c.codec != self.name:
            raise FormatError(f"file was written by codec '{c.codec}', not '{self.name}'")
        header = dict(c.header)
        fmt = header.pop("format", 1)
        if type(fmt) is not int or not 1 <= fmt <= self.format:
            raise FormatError(
                f"{self.name} file: format {fmt!r} is not one this nc3d reads (1..{self.format}); "
                "a newer nc3d may read it"
            )
        return header

    def open(self, c: _container.Container) -> EncodedFile:
        """A lazy handle on a parsed file (:attr:`handle_type`, or the handle of the codec's kind)."""
        self.check_container(c)
        return (self.handle_type or _HANDLES[self.kind])(c, self)

    def supports(self, capability: str) -> bool:
        """True when the codec declares ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {', '.join(sorted(CAPABILITIES))}")
        return capability in self.capabilities

    def describe_file(self, header: dict, sections: dict) -> dict:
        """What a file of this codec holds that its JSON header does not show (for :func:`nc3d.info`):
        codecs that pack their fields into a binary section unpack them here. Untrusted input:
        :class:`FormatError` when malformed."""
        return {}

    def preset(self, name: str) -> list[dict]:
        """The ladder of settings of preset ``name`` (copies; see :data:`PRESETS`)."""
        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        return [dict(s) for s in self.presets.get(name, ({},))]

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
    if not set(cls.presets) <= set(PRESETS) or not all(cls.presets.values()):
        raise TypeError(f"codec class {cls.__name__}: presets must be non-empty ladders named from {PRESETS}")
    if not cls.capabilities <= CAPABILITIES:
        raise TypeError(
            f"codec class {cls.__name__}: unknown capabilities {set(cls.capabilities) - CAPABILITIES}"
        )
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


#: The modules that register nc3d's codecs, its own first (they lead listings and tables). They
#: are loaded by name when the registry is first asked: the protocol does not import its
#: implementations, so codecs and baselines import this module and never the other way round.
BUILTIN_MODULES = ("nc3d.codecs.implicit", "nc3d.codecs.shapeset", "nc3d.codecs.volume", "nc3d.baselines")


def _load_builtin_codecs() -> None:
    # Importing the modules runs their @register decorators; optional dependencies are only
    # imported inside encode/decode, so this never fails for a missing extra.
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
