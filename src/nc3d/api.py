"""The Python API; the ``nc3d`` command is a thin layer over these functions.

Meshes cross the API as :class:`~nc3d.mesh.Mesh`, ``trimesh.Trimesh`` or ``(vertices, faces)``;
mesh sets as lists of ``(name, mesh)``; volumes as 3-D numpy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import container as _container
from .codecs.base import Codec, codec_names, get_codec
from .codecs.handles import EncodedFile
from .errors import FormatError, InputError
from .io import (
    MESH_EXTENSIONS,
    as_volume,
    canonical_ply_size,
    is_mesh_path,
    is_volume_path,
    load_mesh,
    load_volume,
)
from .io.volumes import volume_file_bytes
from .mesh import Mesh, as_mesh

if TYPE_CHECKING:  # pragma: no cover
    from .codecs.handles import MeshSetFile

__all__ = [
    "compress",
    "decompress",
    "open",
    "info",
    "add_shapes",
    "load_input",
    "choose_codec",
    "Input",
    "EncodedFile",
    "DEFAULT_CODECS",
]

#: The codec used for each kind of input when none is named (first one registered wins).
DEFAULT_CODECS = {"mesh": ("implicit", "ply-lzma"), "meshset": ("shapeset",), "volume": ("volume", "dct")}


@dataclass
class Input:
    """Data ready for a codec, with what it weighed before compression.

    Attributes
    ----------
    kind : str
        ``"mesh"``, ``"meshset"`` or ``"volume"``.
    data : Mesh, list of (str, Mesh), ndarray, or ImplicitShape
        The validated data (an ImplicitShape: an already trained network, kind ``"mesh"``).
    input_bytes : int
        Size of the input as given: the file(s) on disk, or for in-memory meshes the canonical
        binary PLY, for in-memory volumes the raw array bytes.
    canonical_bytes : int
        Canonical binary PLY size (meshes and sets; raw bytes for volumes; the float32 weights
        for an already trained network read from a Keras ``.h5`` file).
    """

    kind: str
    data: Any
    input_bytes: int
    canonical_bytes: int


def _mesh_sizes(meshes) -> int:
    return sum(canonical_ply_size(len(m.vertices), len(m.faces)) for m in meshes)


def _mesh_files_in(directory: Path) -> list[tuple[str, Path]]:
    """``(name, path)`` of every mesh file under ``directory`` (subfolders too, as collections are
    kept), named by its path relative to it, without the extension."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and is_mesh_path(p))
    if not files:
        raise InputError(f"{directory}: no mesh files ({', '.join(MESH_EXTENSIONS)}) in this folder")
    return [(p.relative_to(directory).with_suffix("").as_posix(), p) for p in files]


def load_input(inputs, *, shape=None, dtype=None) -> Input:
    """Turn what a user passed (paths, meshes, arrays) into an :class:`Input`.

    Parameters
    ----------
    inputs : path, Mesh, trimesh.Trimesh, (vertices, faces), ndarray, or a list
        One mesh file or mesh → ``"mesh"``; a folder (its subfolders too; shapes named by
        their relative paths), or a list of several mesh files/meshes → ``"meshset"``; a 3-D
        array or a volume file → ``"volume"``; a Keras ``.h5``/``.hdf5`` weight file →
        ``"mesh"`` whose data is an already trained :class:`~nc3d.codecs.implicit.ImplicitShape`
        (only the implicit codec takes it).
    shape, dtype : optional
        For a raw volume file: its ``(z, y, x)`` shape and sample type (see
        :func:`nc3d.io.load_volume`); not allowed with any other input.
    """
    if shape is not None or dtype is not None:
        if not (isinstance(inputs, (str, os.PathLike)) and is_volume_path(inputs)):
            raise InputError("shape and dtype describe a raw volume file; the input is not one")
        vol = load_volume(inputs, shape=shape, dtype=dtype)
        return Input("volume", vol, volume_file_bytes(inputs), vol.nbytes)
    from .codecs.implicit.shape import ImplicitShape

    if isinstance(inputs, ImplicitShape):  # a trained network in memory, e.g. nc3d.open("x.h5")
        size = 4 * inputs.architecture.parameter_count
        return Input("mesh", inputs, size, size)
    if isinstance(inputs, (str, os.PathLike)):
        path = Path(inputs)
        if path.is_dir():
            return load_input(_mesh_files_in(path))
        if _is_keras_path(path):  # an already trained network (Davies et al.'s released files)
            from .codecs.implicit.keras import load_keras_h5

            shape = load_keras_h5(path)
            return Input("mesh", shape, path.stat().st_size, 4 * shape.architecture.parameter_count)
        if is_volume_path(path):
            vol = load_volume(path)
            return Input("volume", vol, volume_file_bytes(path), vol.nbytes)
        mesh = load_mesh(path)
        return Input("mesh", mesh, path.stat().st_size, _mesh_sizes([mesh]))
    if isinstance(inputs, np.ndarray):
        vol = as_volume(inputs)
        return Input("volume", vol, vol.nbytes, vol.nbytes)
    if isinstance(inputs, list) and not _looks_like_vf_pair(inputs):
        if len(inputs) == 0:
            raise InputError("no inputs given")
        named_pair = isinstance(inputs[0], tuple) and len(inputs[0]) == 2 and isinstance(inputs[0][0], str)
        if len(inputs) == 1 and not named_pair:  # one (name, mesh) pair is a set of one
            return load_input(inputs[0])
        named, input_bytes = [], 0
        for i, item in enumerate(inputs):
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                name, item = item
            else:
                name = Path(item).stem if isinstance(item, (str, os.PathLike)) else f"shape_{i:04d}"
            one = load_input(item)
            if one.kind != "mesh" or not isinstance(one.data, Mesh):
                if one.kind == "mesh":
                    raise InputError(f"{name}: a set holds meshes only, got a trained network")
                raise InputError(f"{name}: a set holds meshes only, got a {one.kind}")
            named.append((name, one.data))
            input_bytes += one.input_bytes
        return Input("meshset", named, input_bytes, _mesh_sizes(m for _, m in named))
    mesh = as_mesh(inputs)
    size = _mesh_sizes([mesh])
    return Input("mesh", mesh, size, size)


def _is_keras_path(path) -> bool:
    return Path(path).suffix.lower() in (".h5", ".hdf5")


def _looks_like_vf_pair(x) -> bool:
    return len(x) == 2 and all(isinstance(a, np.ndarray) for a in x)


def choose_codec(kind: str, codec: str | None = None) -> Codec:
    """The codec named ``codec`` (checked to take a ``kind``), or the default one for that kind.

    Parameters
    ----------
    kind : str
        ``"mesh"``, ``"meshset"`` or ``"volume"`` (:attr:`Input.kind`).
    codec : str, optional
        A registry name; :class:`InputError` when unknown or made for another kind.
    """
    if codec is None:
        names = set(codec_names(kind))
        for candidate in DEFAULT_CODECS[kind]:
            if candidate in names:
                return get_codec(candidate)
        raise InputError(f"no codec for a {kind} is available yet")
    c = get_codec(codec)
    if c.kind != kind:
        raise InputError(f"codec '{codec}' compresses a {c.kind}, but the input is a {kind}")
    return c


def compress(inputs, codec: str | None = None, **settings) -> bytes:
    """Compress meshes or a volume into the bytes of a ``.nc3d`` file.

    Parameters
    ----------
    inputs : see :func:`load_input`
        A mesh, a set of meshes, or a volume (in memory or as paths).
    codec : str, optional
        Registry name (``nc3d.codecs.codec_names()``); the default depends on the input kind.
    **settings
        The codec's settings (its ``options``); unknown names raise :class:`InputError`.
    """
    data = inputs if isinstance(inputs, Input) else load_input(inputs)
    return choose_codec(data.kind, codec).encode(data.data, **settings)


def _codec_for(c: _container.Container) -> Codec:
    try:
        return get_codec(c.codec)
    except InputError:
        raise FormatError(f"file uses codec '{c.codec}', which this nc3d does not know") from None


def decompress(blob: bytes, *, region=None):
    """Decode the bytes of a ``.nc3d`` file: a :class:`Mesh`, a list of ``(name, Mesh)``, or a volume.

    Parameters
    ----------
    blob : bytes
    region : str or three (start, stop) pairs or slices, optional
        Volumes only: decode just the sub-box ``z0:z1,y0:y1,x0:x1`` (half-open voxel ranges).
        Block codecs (``dct``) decode only the blocks it meets; others decode and crop.
    """
    c = _container.unpack(blob)
    return _codec_for(c).decode_container(c, region=region)


def open(path: str | os.PathLike | bytes) -> EncodedFile:  # noqa: A001 - mirrors builtins.open on purpose
    """Open a ``.nc3d`` file for lazy access: a handle of :mod:`nc3d.codecs.handles`.

    What comes back depends on the data, never on the caller checking names: a
    :class:`~nc3d.codecs.handles.MeshFile`, :class:`~nc3d.codecs.handles.VolumeFile` or
    :class:`~nc3d.codecs.handles.MeshSetFile` (or the codec's subclass of one); ask it what it can
    do with ``handle.supports(...)`` (:data:`nc3d.codecs.base.CAPABILITIES`). A Keras HDF5 weight
    file (``.h5``/``.hdf5``, Davies et al.'s released networks) opens as an
    :class:`~nc3d.codecs.implicit.ImplicitShape` with the identity frame.
    """
    if isinstance(path, (bytes, bytearray, memoryview)):  # the bytes of a file, e.g. from compress()
        c = _container.unpack(bytes(path))
        return _codec_for(c).open(c)
    if _is_keras_path(path):
        from .codecs.implicit.keras import load_keras_h5

        return load_keras_h5(path)
    c = _container.read_file(path)
    handle = _codec_for(c).open(c)
    handle.path = Path(path)
    return handle


def add_shapes(source, inputs, *, steps: int = 300, progress=None) -> tuple[bytes, dict]:
    """Add meshes to a set file whose codec can grow a set (capability ``add-shapes``).

    Parameters
    ----------
    source : path or bytes
        The set file.
    inputs : see :func:`load_input`
        The meshes to add (paths, a folder, meshes, or ``(name, mesh)`` pairs).
    steps : int
        Optimizer steps fitting each new shape's feature.

    Returns
    -------
    blob : bytes
        The new file (the input file is not changed).
    report : dict
        Per new shape its F-score@0.01 and Chamfer-p2s, their mean, the set's mean before, the
        bytes added.
    """
    from .codecs.base import ADD_SHAPES

    handle = open(source)
    if not handle.supports(ADD_SHAPES):
        growing = ", ".join(n for n in codec_names("meshset") if get_codec(n).supports(ADD_SHAPES))
        raise InputError(f"a {handle.codec} file cannot grow; sets of {growing} can")
    data = inputs if isinstance(inputs, Input) else load_input(inputs)
    if data.kind == "mesh" and isinstance(data.data, Mesh):
        one = inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
        named = [(Path(one).stem if isinstance(one, (str, os.PathLike)) else "shape", data.data)]
    elif data.kind == "meshset":
        named = list(data.data)
    else:
        raise InputError(f"add: meshes only, got a {data.kind}")
    return cast("MeshSetFile", handle).add_shapes(named, steps=steps, progress=progress)


def info(source) -> dict:
    """What a ``.nc3d`` file holds: codec, format version, header and bytes per section, and
    ``details``: what the codec packs outside its header (e.g. a volume's shape and quality).

    Parameters
    ----------
    source : path or bytes
    """
    c = (
        _container.unpack(bytes(source))
        if isinstance(source, (bytes, bytearray))
        else _container.read_file(source)
    )
    out = c.describe()
    if c.codec in codec_names():
        try:
            details = get_codec(c.codec).describe_file(dict(c.header), c.sections)
        except FormatError as exc:
            details = {"error": str(exc)}
        if details:
            out["details"] = details
    return out
