"""The per-shape index of a shapeset file: each shape's frame, feature or mesh bytes, and name.

Format 1 kept them in the JSON header (``frames``, ``feature_bytes``) and the names as plain
UTF-8 (section ``names``): ~180 bytes per shape, a third of a 1,000-shape file of small meshes
at 50×. Format 2 (2026-12-07) stores them in two xz sections:

* ``index.xz``: ``n × 4`` float64 little-endian (frame center x, y, z and scale), then ``n``
  uint32 little-endian (bytes of each shape's features in section ``features``) — ~13 bytes
  per shape after xz (frames stay exact: a float32 center could move a small part far from the
  origin by more than its own decode error);
* ``names.xz``: the names, UTF-8, one per line; the header's ``names_bytes`` is their length
  before compression, so decompression stops there (:func:`nc3d.bounded.decompress_exact`).

Format 3 (2026-12-07) appends ``n`` uint32 to ``index.xz``: the bytes of each shape's Draco
mesh in section ``meshes`` (:mod:`.meshes`; always present in format 3, even empty, which is how
a reader tells the layouts apart); a shape has either feature bytes or mesh bytes.

The xz stream is LZMA from the standard library: names of one collection share long prefixes
(``kaykit-dungeon/…``), which it finds and a per-value coder would not.
"""

from __future__ import annotations

import lzma
from dataclasses import dataclass

import numpy as np

from ...bounded import decompress_exact
from ...container import header_get
from ...errors import FormatError
from ...geometry.normalize import Frame
from ..handles import safe_names

__all__ = ["INDEX_FORMAT", "ShapeIndex", "pack_index", "read_index"]

#: The shapeset file format that :func:`pack_index` writes (the codec's ``format``).
INDEX_FORMAT = 3

#: Longest stored name list a file may declare, per shape (bytes before compression).
_MAX_NAME_BYTES_PER_SHAPE = 4096
_XZ_PRESET = 9 | lzma.PRESET_EXTREME


@dataclass
class ShapeIndex:
    """What a reader knows of each shape before decoding any: frames, feature bytes, names."""

    frames: list[Frame]
    feature_bytes: np.ndarray  # (n,) int64, 0 for a shape stored as a mesh
    names: list[str]
    mesh_bytes: np.ndarray  # (n,) int64, 0 for a shape stored as a feature (all 0 before format 3)


def pack_index(frames: list[Frame], feature_bytes, names: list[str], mesh_bytes=None) -> tuple[dict, dict]:
    """The format-3 header entries and sections of an index (names made file-name safe)."""
    table = np.array([[*f.center, f.scale] for f in frames], "<f8").reshape(-1, 4)
    sizes = np.asarray(feature_bytes, "<u4")
    meshes = np.zeros(len(sizes), "<u4") if mesh_bytes is None else np.asarray(mesh_bytes, "<u4")
    raw_names = "\n".join(safe_names(names)).encode("utf-8")
    sections = {
        "index.xz": lzma.compress(table.tobytes() + sizes.tobytes() + meshes.tobytes(), preset=_XZ_PRESET),
        "names.xz": lzma.compress(raw_names, preset=_XZ_PRESET),
    }
    return {"names_bytes": len(raw_names)}, sections


def read_index(header: dict, sections: dict, n: int) -> ShapeIndex:
    """The index of a file of ``n`` shapes (either format), validated (:class:`FormatError`)."""
    mesh_sizes = np.zeros(n, np.int64)
    if "index.xz" in sections:
        with_meshes = "meshes" in sections  # format 3 always writes it, earlier ones never
        raw = decompress_exact(sections["index.xz"], (40 if with_meshes else 36) * n, "xz", "shapeset index")
        table = np.frombuffer(raw[: 32 * n], "<f8").reshape(n, 4)
        sizes = np.frombuffer(raw[32 * n : 36 * n], "<u4").astype(np.int64)
        if with_meshes:
            mesh_sizes = np.frombuffer(raw[36 * n :], "<u4").astype(np.int64)
        if not np.isfinite(table).all() or not (table[:, 3] > 0).all():
            raise FormatError("shapeset file: a frame holds a value that is not finite, or a scale ≤ 0")
        frames = [Frame((float(x), float(y), float(z)), float(s)) for x, y, z, s in table]
        if "names.xz" not in sections:
            raise FormatError("shapeset file: missing section 'names.xz'")
        size = header_get(header, "names_bytes", int, min=0, max=_MAX_NAME_BYTES_PER_SHAPE * n)
        names_raw = decompress_exact(sections["names.xz"], size, "xz", "shapeset names")
    else:  # format 1: frames and sizes in the header, names as plain text
        listed = header_get(header, "frames", list)
        listed_sizes = header_get(header, "feature_bytes", list)
        if len(listed) != n or len(listed_sizes) != n:
            raise FormatError(
                f"shapeset file: {n} shapes but {len(listed)} frames and {len(listed_sizes)} feature sizes"
            )
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in listed_sizes):
            raise FormatError("shapeset file: feature sizes must be positive integers")
        frames = [Frame.from_dict(f) for f in listed]
        sizes = np.array(listed_sizes, np.int64)
        if "names" not in sections:
            raise FormatError("shapeset file: missing section 'names'")
        names_raw = sections["names"]
    if not ((sizes > 0) != (mesh_sizes > 0)).all():
        raise FormatError("shapeset file: every shape needs feature bytes or mesh bytes, not both")
    try:
        names = names_raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise FormatError("shapeset file: the names are not UTF-8") from None
    if len(names) != n:
        raise FormatError(f"shapeset file: {len(names)} names for {n} shapes")
    return ShapeIndex(frames, sizes, safe_names(names), mesh_sizes)  # never trust stored names as paths
