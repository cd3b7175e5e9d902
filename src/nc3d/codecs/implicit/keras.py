"""Keras HDF5 weight files ↔ :class:`ImplicitShape` (interoperability with Davies et al.).

The authors of "weight-encoded neural implicits" released their trained networks as Keras
HDF5 weight files. This module reads and writes exactly that layout and assumes nothing more:

* a root attribute ``layer_names`` (``dense``, ``dense_1``, …; bytes or str), whose order is
  the order of the layers;
* per layer ``<name>/<name>/kernel:0`` shaped ``(in, out)`` and ``<name>/<name>/bias:0``
  shaped ``(out,)``;
* ReLU on every hidden layer, tanh on the output; the first layer takes ``(x, y, z)``, the last
  gives one signed distance; all hidden layers have the same width;
* the shape lives in its normalized frame and the file stores no transform, so a loaded shape
  has the identity :class:`~nc3d.geometry.normalize.Frame`.

Export (:func:`save_keras_h5`) writes the weights as they are, in the nc3d normalized frame
of the shape: the frame (center, scale) that maps it back to original coordinates is *not*
stored, so re-loading the file gives the shape normalized (inside [-1, 1]³), as the authors'
files are. Only ReLU networks without input encoding can be exported.

``h5py`` is an optional dependency (``pip install 'nc3d[hdf5]'``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...files import check_output, write_bytes_atomic
from ...geometry.normalize import Frame
from ...nn.mlp import Architecture, mlp_from_tensors
from .shape import ImplicitShape

__all__ = ["KERAS_EXTENSIONS", "is_keras_path", "load_keras_h5", "save_keras_h5"]

#: File extensions read and written as Keras HDF5 weight files (lower case, with the dot).
KERAS_EXTENSIONS = (".h5", ".hdf5")

#: Value of ``header["source"]`` for shapes read from a Keras file.
SOURCE = "keras-h5"

#: Most layer names read from a file (the architecture allows at most 65 dense layers).
_MAX_LAYERS = Architecture.LIMITS["layers"][1] + 1


def is_keras_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has one of :data:`KERAS_EXTENSIONS`."""
    return Path(path).suffix.lower() in KERAS_EXTENSIONS


def _h5py(feature: str):
    from ..._optional import require

    return require("h5py", feature)


def _as_name(value, path: Path) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}: a layer name is not UTF-8 text ({bytes(value)[:40]!r})") from None
    if isinstance(value, str):
        return value
    raise InputError(f"{path}: layer_names holds a {type(value).__name__}, not a name")


def _layer_names(attrs, path: Path) -> list[str]:
    if "layer_names" not in attrs:
        raise InputError(f"{path}: not a Keras weight file (no 'layer_names' attribute at the root)")
    raw = attrs["layer_names"]
    items = [raw] if isinstance(raw, (str, bytes, np.bytes_)) else np.asarray(raw).ravel().tolist()
    names = [_as_name(v, path) for v in items]
    if not names:
        raise InputError(f"{path}: 'layer_names' is empty; the file holds no layers")
    if len(names) > _MAX_LAYERS:
        raise InputError(f"{path}: {len(names)} layers; at most {_MAX_LAYERS} are supported")
    if len(set(names)) != len(names):
        raise InputError(f"{path}: 'layer_names' lists a layer twice")
    return names


def _dataset(f, key: str, ndim: int, path: Path, h5py) -> np.ndarray:
    """The float array at ``key``, checked (shape, size, dtype, finite) before and after reading."""
    obj = f.get(key)
    if obj is None:
        raise InputError(f"{path}: missing dataset '{key}'")
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"{path}: '{key}' is not a dataset")
    if len(obj.shape) != ndim:
        raise InputError(f"{path}: '{key}' has shape {tuple(obj.shape)}; expected {ndim} dimension(s)")
    if obj.dtype.kind != "f":
        raise InputError(f"{path}: '{key}' holds {obj.dtype}, not floating-point numbers")
    limit = Architecture.LIMITS["width"][1]
    if any(d < 1 or d > limit for d in obj.shape):
        raise InputError(f"{path}: '{key}' has shape {tuple(obj.shape)}; sizes must be in [1, {limit}]")
    value = np.asarray(obj[()], dtype=np.float32)
    if not np.all(np.isfinite(value)):
        raise InputError(f"{path}: '{key}' holds NaN or infinite values")
    return value


def _read_layers(f, path: Path, h5py) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, kernel (in, out), bias (out,)), …]`` in the order of ``layer_names``.

    A whole-model file (``model.save``) keeps the same layout under ``model_weights``; it is
    read from there when the root has no ``layer_names``.
    """
    if "layer_names" not in f.attrs and isinstance(f.get("model_weights"), h5py.Group):
        f = f["model_weights"]
    layers = []
    for name in _layer_names(f.attrs, path):
        kernel = _dataset(f, f"{name}/{name}/kernel:0", 2, path, h5py)
        bias = _dataset(f, f"{name}/{name}/bias:0", 1, path, h5py)
        if bias.shape[0] != kernel.shape[1]:
            raise InputError(
                f"{path}: layer '{name}': bias has {bias.shape[0]} values but the kernel has "
                f"{kernel.shape[1]} outputs"
            )
        layers.append((name, kernel, bias))
    return layers


def _architecture(layers, path: Path) -> Architecture:
    """The :class:`Architecture` the chain of kernels describes; :class:`InputError` if none."""
    names = [n for n, _, _ in layers]
    kernels = [k for _, k, _ in layers]
    if len(kernels) < 2:
        raise InputError(
            f"{path}: {len(kernels)} dense layer(s); an SDF network needs at least 2 (3 → width → 1)"
        )
    if kernels[0].shape[0] != 3:
        raise InputError(
            f"{path}: the first layer '{names[0]}' takes {kernels[0].shape[0]} inputs, expected 3 (x, y, z)"
        )
    if kernels[-1].shape[1] != 1:
        raise InputError(
            f"{path}: the last layer '{names[-1]}' gives {kernels[-1].shape[1]} outputs, expected 1"
        )
    for (na, ka), (nb, kb) in zip(zip(names, kernels), zip(names[1:], kernels[1:])):
        if ka.shape[1] != kb.shape[0]:
            raise InputError(
                f"{path}: layers do not chain: '{na}' gives {ka.shape[1]} outputs "
                f"but '{nb}' takes {kb.shape[0]} inputs"
            )
    widths = {k.shape[1] for k in kernels[:-1]}
    if len(widths) != 1:
        raise InputError(
            f"{path}: hidden layers have different widths {sorted(widths)}; nc3d needs one width"
        )
    return Architecture(layers=len(kernels) - 1, width=widths.pop(), activation="relu", encoding="none")


def load_keras_h5(path: str | os.PathLike) -> ImplicitShape:
    """Read a Keras HDF5 weight file of an SDF network (Davies et al.'s released format).

    Parameters
    ----------
    path : str or PathLike
        The ``.h5`` / ``.hdf5`` file (layout in the module docstring).

    Returns
    -------
    ImplicitShape
        The network (ReLU hidden layers, tanh output, no input encoding) with the identity
        frame: the file's shape is in its normalized frame. ``header`` is
        ``{"source": "keras-h5", "architecture": {...}}``; ``path`` is set.

    Raises
    ------
    InputError
        Missing or unreadable file, not HDF5, missing or malformed datasets, layers that do
        not chain 3 → width → … → width → 1, unequal hidden widths, NaN/inf weights. The
        message names the file and the problem.
    MissingDependencyError
        ``h5py`` is not installed.
    """
    h5py = _h5py("reading Keras HDF5 weight files")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    try:
        with h5py.File(path, "r") as f:
            layers = _read_layers(f, path, h5py)
    except InputError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise InputError(
            f"{path}: cannot read as a Keras HDF5 weight file ({type(exc).__name__}: {exc})"
        ) from None
    arch = _architecture(layers, path)
    tensors = []
    for _, kernel, bias in layers:
        tensors += [np.ascontiguousarray(kernel.T), bias]
    shape = ImplicitShape(
        mlp_from_tensors(arch, tensors), Frame.identity(), {"source": SOURCE, "architecture": arch.to_dict()}
    )
    shape.path = path
    return shape


def save_keras_h5(shape: ImplicitShape, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a shape's network as a Keras HDF5 weight file (the layout :func:`load_keras_h5` reads).

    Layers are named ``dense``, ``dense_1``, …; ``layer_names`` and each layer's
    ``weight_names`` are stored as bytes, as Keras does; kernels are transposed to ``(in, out)``.
    The weights are written as they are, in the shape's normalized frame: the frame is not
    stored (see the module docstring). The file is written to a temporary sibling and renamed,
    so a failed write never leaves a partial file.

    Parameters
    ----------
    shape : ImplicitShape
        A ReLU network without input encoding.
    path : str or PathLike
        The output file.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    InputError
        SIREN activations or a positional encoding (Keras' ``Dense`` + ReLU cannot express
        them), an existing file without ``force``, a missing directory, or a failed write.
    MissingDependencyError
        ``h5py`` is not installed.
    """
    arch = shape.architecture
    if arch.activation != "relu" or arch.encoding != "none":
        raise InputError(
            f"{path}: only ReLU networks without input encoding can be written as Keras weights; "
            f"this one has activation '{arch.activation}' and encoding '{arch.encoding}'"
        )
    h5py = _h5py("writing Keras HDF5 weight files")
    target = Path(path)
    check_output(target, force)  # before any work; write_bytes_atomic checks again
    tensors = [t.detach().cpu().numpy().astype(np.float32) for t in shape.model.tensors()]
    names = ["dense"] + [f"dense_{i}" for i in range(1, len(tensors) // 2)]
    buffer = io.BytesIO()  # built in memory, then written by the one atomic writer of nc3d
    with h5py.File(buffer, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf-8") for n in names], dtype="S")
        f.attrs["backend"] = b"tensorflow"
        for k, name in enumerate(names):
            group = f.create_group(name)
            group.attrs["weight_names"] = np.array(
                [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()], dtype="S"
            )
            inner = group.create_group(name)
            inner.create_dataset("kernel:0", data=np.ascontiguousarray(tensors[2 * k].T))
            inner.create_dataset("bias:0", data=tensors[2 * k + 1])
    return write_bytes_atomic(target, buffer.getvalue(), force=force)
