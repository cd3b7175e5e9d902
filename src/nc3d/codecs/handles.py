"""What :func:`nc3d.open` returns: one handle type per kind of data, all sharing one base.

A handle is a parsed ``.nc3d`` file with nothing decoded yet. Every handle has ``codec`` (the
name of the codec that wrote it), ``kind``, ``header``, ``path``, :meth:`~EncodedFile.decode`,
:meth:`~EncodedFile.info` and :meth:`~EncodedFile.supports`; the kind adds what that data allows:

* :class:`MeshFile` — one mesh;
* :class:`VolumeFile` — a volume, ``decode(region=...)`` for a sub-box;
* :class:`MeshSetFile` — a set of meshes: ``names``, ``count``, ``index(name)``,
  ``decode_shape(name)`` (codecs with :data:`~nc3d.codecs.base.SHAPE_ACCESS` decode one shape
  alone; others decode the set once and keep it);
* the implicit codec's :class:`~nc3d.codecs.implicit.ImplicitShape`, a :class:`MeshFile` that is
  also a signed distance field (:data:`~nc3d.codecs.base.FIELD`: ``sdf``, ``mesh``, ``render``).

Callers ask a handle what it can do (``handle.supports(FIELD)``) instead of checking its type or
its codec's name. A codec picks its handle class with :attr:`Codec.handle_type
<nc3d.codecs.base.Codec.handle_type>`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from ..container import Container
    from ..mesh import Mesh
    from .base import Codec

__all__ = ["EncodedFile", "MeshFile", "VolumeFile", "MeshSetFile", "FieldFile", "safe_names"]


class EncodedFile:
    """A parsed ``.nc3d`` file; nothing is decoded until asked.

    Parameters
    ----------
    container : nc3d.container.Container or None
        The file's parts (None for a handle built from something else, e.g. a Keras ``.h5``).
    codec : Codec
        The codec that wrote it (and decodes it).
    header : dict, optional
        The header when there is no container.

    Attributes
    ----------
    codec : str
        Name of the codec that wrote it.
    kind : str
        ``"mesh"``, ``"meshset"`` or ``"volume"``.
    header : dict
        Its JSON header.
    container : nc3d.container.Container or None
        All parts.
    path : pathlib.Path or None
        The file it was read from, if any.
    """

    def __init__(self, container: Container | None, codec: Codec, *, header: dict | None = None):
        self.container = container
        self._codec = codec
        self.codec: str = codec.name
        self.kind: str = codec.kind
        self.header: dict = container.header if container is not None else dict(header or {})
        self.path: Path | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        """What this file's codec can do beyond encode/decode (see :data:`nc3d.codecs.base.CAPABILITIES`)."""
        return self._codec.capabilities

    def supports(self, capability: str) -> bool:
        """True when the codec has ``capability`` (:data:`nc3d.codecs.base.CAPABILITIES`)."""
        return self._codec.supports(capability)

    def decode(self) -> Any:
        """The decoded data (as :func:`nc3d.decompress`)."""
        if self.container is None:
            raise InputError(f"this {self.codec} handle holds no file to decode")
        return self._codec.decode_container(self.container)

    def info(self) -> dict:
        """Codec, format version, header and bytes per section (as :func:`nc3d.info`)."""
        if self.container is None:
            return {"codec": self.codec, "header": self.header}
        return self.container.describe()

    def __repr__(self) -> str:
        size = f" bytes={self.container.total_bytes}" if self.container is not None else ""
        return f"<nc3d {self.kind} file codec={self.codec!r}{size}>"


class MeshFile(EncodedFile):
    """A file holding one mesh; ``decode()`` returns a :class:`~nc3d.mesh.Mesh` in original coordinates."""


class VolumeFile(EncodedFile):
    """A file holding one volume; ``decode()`` returns its ``(z, y, x)`` array in the original dtype."""

    def decode(self, *, region=None) -> np.ndarray:
        """The volume, or only the sub-box ``region``.

        Parameters
        ----------
        region : str or three (start, stop) pairs or slices, optional
            ``"z0:z1,y0:y1,x0:x1"`` (half-open voxel ranges). Codecs with
            :data:`~nc3d.codecs.base.REGION_DECODE` decode only the blocks it meets; others
            decode everything and crop.
        """
        if self.container is None:
            raise InputError(f"this {self.codec} handle holds no file to decode")
        return self._codec.decode_container(self.container, region=region)


class FieldFile(Protocol):
    """What a handle whose codec has :data:`~nc3d.codecs.base.FIELD` offers: a signed distance field.

    A type for callers that asked ``handle.supports(FIELD)`` (nothing subclasses it; the implicit
    codec's :class:`~nc3d.codecs.implicit.ImplicitShape` is one).
    """

    codec: str
    kind: str

    def sdf(self, points) -> Any: ...

    def mesh(self, resolution: int = 256) -> Mesh: ...

    def decode(self, resolution: int = 256) -> Mesh: ...

    def render(self, **kwargs) -> np.ndarray: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_names(names) -> list[str]:
    """File-name-safe, unique versions of ``names`` (no separators, no leading dot, ≤ 100 characters).

    Names stored in a file are never trusted as paths: ``nc3d decompress`` writes
    ``OUTDIR/<safe name>.ply``.
    """
    out, seen = [], set()
    for i, name in enumerate(names):
        s = _UNSAFE.sub("_", str(name)).lstrip(".")[:100] or f"shape_{i:04d}"
        base, k = s, 2
        while s.lower() in seen:
            s = f"{base}_{k}"
            k += 1
        seen.add(s.lower())
        out.append(s)
    return out


class MeshSetFile(EncodedFile):
    """A file holding a set of named meshes.

    This base decodes the whole set on first use and keeps it; codecs with random access to one
    shape (:data:`~nc3d.codecs.base.SHAPE_ACCESS`) subclass it and decode one shape alone.

    Attributes
    ----------
    names : list of str
        File-name-safe shape names (see :func:`safe_names`), in stored order.
    """

    def __init__(self, container: Container | None, codec: Codec, *, header: dict | None = None):
        super().__init__(container, codec, header=header)
        self._decoded: list[Mesh] | None = None
        self._names: list[str] | None = None

    def _decode_all(self) -> list[Mesh]:
        if self._decoded is None:
            shapes = super().decode()
            self._names = safe_names([name for name, _ in shapes])
            self._decoded = [mesh for _, mesh in shapes]
        return self._decoded

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._decode_all()
        assert self._names is not None
        return self._names

    @property
    def count(self) -> int:
        """Number of shapes."""
        return len(self.names)

    def index(self, name) -> int:
        """Position of a shape given by name or index (:class:`~nc3d.errors.InputError` if unknown)."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if not 0 <= name < self.count:
                raise InputError(f"shape index {name} is outside 0..{self.count - 1}")
            return int(name)
        if name in self.names:
            return self.names.index(name)
        raise InputError(
            f"no shape named {name!r} in this file; it holds: {', '.join(self.names[:20])}"
            + (" …" if self.count > 20 else "")
        )

    def decode_shape(self, name) -> Mesh:
        """One shape (by name or index) as a mesh in its original coordinates (empty when it
        decodes to no surface)."""
        return self._decode_all()[self.index(name)]

    def shape_bytes(self) -> list[int] | None:
        """Bytes of the file that belong to each shape alone (None when the shapes share every
        byte, or the codec does not say)."""
        return None

    def decode(self) -> list[tuple[str, Mesh]]:
        """Every shape: a list of ``(name, mesh)``."""
        return [(name, self.decode_shape(i)) for i, name in enumerate(self.names)]

    def add_shapes(self, named, *, steps: int = 300, progress=None) -> tuple[bytes, dict]:
        """This set with ``named`` (``(name, Mesh)`` pairs) added: the new file's bytes and a report.

        Only for codecs with :data:`~nc3d.codecs.base.ADD_SHAPES`.
        """
        raise InputError(f"a {self.codec} set cannot grow: its codec does not add shapes to a trained set")

    def shape_quality(self) -> list[dict] | None:
        """Per shape, the quality of its decode against its input as the encoder measured it
        (``{"f_score_0.01", "chamfer_p2s"}``, normalized units), or None when the file holds none."""
        return None
