"""Draco (Google) mesh bytes through DracoPy: encode, and decode untrusted bytes safely.

Used by the ``draco`` baselines and by the ``shapeset`` codec for shapes it stores as meshes.
"""

from __future__ import annotations

import numpy as np

from .._optional import require
from ..errors import FormatError, InputError
from ..mesh import Mesh, as_mesh

__all__ = ["draco_encode", "draco_decode"]


def draco_encode(mesh: Mesh, bits: int, level: int) -> bytes:
    """Draco bytes of ``mesh`` with ``bits``-bit position quantization at ``level`` (0–10)."""
    draco = require("DracoPy", "the Draco baseline")
    return bytes(
        draco.encode(
            mesh.vertices.astype(np.float32),
            mesh.faces.astype(np.uint32),
            quantization_bits=bits,
            compression_level=level,
        )
    )


def draco_decode(data: bytes, max_faces: int) -> Mesh:
    """Decode untrusted Draco bytes; :class:`FormatError` unless they hold a valid triangle mesh."""
    draco = require("DracoPy", "the Draco baseline")
    try:
        decoded = draco.decode(bytes(data))
        points = np.asarray(decoded.points, dtype=np.float64).reshape(-1, 3)
        faces = np.asarray(decoded.faces, dtype=np.int64).reshape(-1, 3)
    except Exception as exc:  # noqa: BLE001 - DracoPy raises its own types (and ValueError) on corrupt input
        raise FormatError(f"section 'draco': corrupt Draco stream ({type(exc).__name__}: {exc})") from None
    if len(faces) > max_faces:
        raise FormatError(f"section 'draco': {len(faces)} faces, the header says at most {max_faces}")
    try:
        return as_mesh((points, faces), name="Draco stream")
    except InputError as exc:
        raise FormatError(f"section 'draco': {exc}") from None
