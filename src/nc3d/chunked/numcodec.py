"""nc3d's ``volume`` codec as a numcodecs codec: ``nc3d.volume``, one chunk of a volume per call.

``VolumeNumcodec(quality=14.0).encode(chunk)`` is exactly ``get_codec("volume").encode(chunk,
quality=14.0)``: the bytes of a complete ``.nc3d`` file (header with the chunk's shape, dtype and
value range, then the coded sections), so every chunk decodes on its own, with nothing shared
between chunks, and ``nc3d info`` / ``nc3d.decompress`` read a stored chunk as they read any file.
``decode`` goes back through the same codec, which treats the bytes as hostile (a damaged chunk is
a :class:`~nc3d.errors.FormatError`).

numcodecs finds the class through the entry point group ``numcodecs.codecs`` (see
``pyproject.toml``), so ``numcodecs.get_codec({"id": "nc3d.volume", "quality": 10})`` works in a
process that never imported nc3d; importing this module also registers it. Zarr format 2 stores
use it as a ``compressor`` (it receives the chunk as a ``(z, y, x)`` array); Zarr format 3 uses
:class:`nc3d.chunked.zarr_codec.VolumeZarrCodec`, which wraps this class.

Only the shipped model is used (``model="default"``): a model file would be embedded in every
chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs.abc import Codec as _NumcodecsCodec
from numcodecs.compat import ensure_bytes, ndarray_copy
from numcodecs.registry import register_codec

from ..codecs.base import Codec, get_codec
from ..errors import InputError

__all__ = ["VolumeNumcodec", "CODEC_ID", "NC3D_CODEC", "CHUNK_SETTINGS"]

#: The numcodecs id (also the name of the Zarr 3 codec).
CODEC_ID = "nc3d.volume"
#: The nc3d codec (registry name) that codes each chunk.
NC3D_CODEC = "volume"
#: The settings of that codec a chunk codec carries in its configuration.
CHUNK_SETTINGS = ("quality", "target_psnr")


class VolumeNumcodec(_NumcodecsCodec):
    """numcodecs codec ``nc3d.volume``: a ``(z, y, x)`` chunk ↔ the bytes of a ``.nc3d`` file.

    Parameters
    ----------
    quality : float
        The ``volume`` codec's rate knob (0 smallest .. 32 best; +2 halves the quantizer step).
    target_psnr : float, optional
        Instead of ``quality``: the smallest quality (0.25 grid) whose PSNR (dB, over the chunk's
        own data range) reaches this, searched per chunk.

    Raises
    ------
    InputError
        A setting out of range (the ``volume`` codec's own checks).
    """

    codec_id = CODEC_ID

    def __init__(self, quality: float = 14.0, target_psnr: float | None = None):
        settings = self.nc3d_codec().resolve_settings({"quality": quality, "target_psnr": target_psnr})
        self.quality: float = settings["quality"]
        self.target_psnr: float | None = settings["target_psnr"]

    @staticmethod
    def nc3d_codec() -> Codec:
        """The registry's ``volume`` codec (a fresh instance; they hold no state)."""
        return get_codec(NC3D_CODEC)

    @property
    def settings(self) -> dict[str, Any]:
        """The keyword settings passed to ``volume``'s ``encode``."""
        return {"quality": self.quality, "target_psnr": self.target_psnr}

    def encode(self, buf) -> bytes:
        """Compress one chunk.

        Parameters
        ----------
        buf : (z, y, x) array_like
            A 3-D array of a volume dtype (uint8 … float64), finite values.

        Returns
        -------
        bytes
            A complete ``.nc3d`` file.
        """
        a = np.asarray(buf)
        if a.ndim != 3:
            raise InputError(
                f"{CODEC_ID} encodes 3-D (z, y, x) chunks; got an array of shape {a.shape} "
                "(a flat buffer has lost its shape)"
            )
        return self.nc3d_codec().encode(a, **self.settings)

    def decode(self, buf, out=None) -> np.ndarray:
        """Decompress one chunk (the bytes of a ``.nc3d`` file written by ``volume``).

        Parameters
        ----------
        buf : bytes-like
        out : ndarray, optional
            Filled with the decoded values (same number of bytes) and returned.

        Returns
        -------
        (z, y, x) ndarray
            The decoded chunk in its original dtype.
        """
        data = self.nc3d_codec().decode(ensure_bytes(buf))
        return ndarray_copy(data, out) if out is not None else data

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, **self.settings}

    @classmethod
    def from_config(cls, config: dict) -> VolumeNumcodec:
        """The codec of a configuration (``id`` optional); unknown keys are an :class:`InputError`."""
        config = dict(config)
        if config.pop("id", CODEC_ID) != CODEC_ID:
            raise InputError(f"not an {CODEC_ID} configuration: {config!r}")
        unknown = sorted(set(config) - set(CHUNK_SETTINGS))
        if unknown:
            raise InputError(
                f"{CODEC_ID} has no setting {', '.join(map(repr, unknown))}; it takes "
                f"{', '.join(CHUNK_SETTINGS)} (chunks use the shipped model)"
            )
        return cls(**config)

    def __repr__(self) -> str:
        return f"VolumeNumcodec(quality={self.quality!r}, target_psnr={self.target_psnr!r})"


register_codec(VolumeNumcodec)
