"""nc3d's ``volume`` codec as a Zarr 3 codec: ``{"name": "nc3d.volume", "configuration": {...}}``.

Zarr format 3 chains codecs array → bytes; :class:`VolumeZarrCodec` is the array → bytes step
(the ``serializer`` of :func:`zarr.create_array`): each chunk, a ``(z, y, x)`` array of the
array's dtype, becomes the bytes of one ``.nc3d`` file written by the ``volume`` codec
(:class:`~nc3d.chunked.numcodec.VolumeNumcodec` does the work), and back. No bytes → bytes
compressor belongs after it (the chunk is already entropy-coded).

Zarr finds the class by the codec name through the entry point group ``zarr.codecs`` (see
``pyproject.toml``), so ``zarr.open_array("x.zarr")[...]`` decodes in a process that never
imported nc3d; importing this module also registers it.

Zarr hands a codec whole chunks: a chunk at the array's far edge is padded with the array's
fill value to the full chunk shape before it is encoded (and cropped after decoding), as for
every Zarr codec. A chunk side that divides the array's shape avoids coding the padding.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.registry import register_codec

from ..errors import FormatError, InputError
from ..io.volume_arrays import VOLUME_DTYPES
from .numcodec import CHUNK_SETTINGS, CODEC_ID, VolumeNumcodec

if TYPE_CHECKING:  # pragma: no cover
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

__all__ = ["VolumeZarrCodec"]


@dataclass(frozen=True)
class VolumeZarrCodec(ArrayBytesCodec):
    """Zarr 3 array → bytes codec ``nc3d.volume`` (see the module notes).

    Parameters
    ----------
    quality : float
        The ``volume`` codec's rate knob (0 .. 32).
    target_psnr : float, optional
        Instead of ``quality``: a PSNR (dB) each chunk must reach over its own data range.
    """

    is_fixed_size = False

    quality: float
    target_psnr: float | None

    def __init__(self, *, quality: float = 14.0, target_psnr: float | None = None) -> None:
        numcodec = VolumeNumcodec(quality=quality, target_psnr=target_psnr)  # validates
        object.__setattr__(self, "quality", numcodec.quality)
        object.__setattr__(self, "target_psnr", numcodec.target_psnr)

    @property
    def numcodec(self) -> VolumeNumcodec:
        """The numcodecs codec with the same settings."""
        return VolumeNumcodec(quality=self.quality, target_psnr=self.target_psnr)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeZarrCodec:
        """From array metadata: ``{"name": "nc3d.volume", "configuration": {...}}`` (untrusted)."""
        if not isinstance(data, dict) or data.get("name") != CODEC_ID:
            raise FormatError(f"not an {CODEC_ID} codec entry: {data!r}")
        config = data.get("configuration", {})
        if not isinstance(config, dict):
            raise FormatError(f"{CODEC_ID}: configuration must be an object, got {config!r}")
        try:
            codec = VolumeNumcodec.from_config(config)
        except InputError as exc:
            raise FormatError(f"{CODEC_ID} codec entry: {exc}") from None
        return cls(**{k: getattr(codec, k) for k in CHUNK_SETTINGS})

    def to_dict(self) -> dict[str, Any]:
        return {"name": CODEC_ID, "configuration": self.numcodec.settings}

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        """Refuse arrays the codec cannot take: not 3-D, or a dtype other than the volume dtypes."""
        if len(shape) != 3:
            raise InputError(f"{CODEC_ID} compresses 3-D (z, y, x) arrays; this one has shape {tuple(shape)}")
        native = np.dtype(dtype.to_native_dtype())
        if native.name not in VOLUME_DTYPES:
            raise InputError(
                f"{CODEC_ID} compresses {', '.join(VOLUME_DTYPES)} arrays; this one is {native.name}"
            )

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError  # variable size

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer:
        blob = self.numcodec.encode(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(blob)

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        data = self.numcodec.decode(chunk_bytes.to_bytes())
        want = np.dtype(chunk_spec.dtype.to_native_dtype())
        if data.shape != tuple(chunk_spec.shape) or data.dtype != want:
            raise FormatError(
                f"{CODEC_ID}: a chunk decodes to {data.shape} {data.dtype}, but the array's chunks are "
                f"{tuple(chunk_spec.shape)} {want}"
            )
        return chunk_spec.prototype.nd_buffer.from_numpy_array(data)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)


register_codec(CODEC_ID, VolumeZarrCodec)
