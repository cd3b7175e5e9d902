"""Volumes larger than memory: nc3d's ``volume`` codec per chunk of a Zarr array, run by Dask.

* :mod:`.numcodec` — ``nc3d.volume`` as a numcodecs codec (also Zarr format 2's compressor);
* :mod:`.zarr_codec` — the same as a Zarr 3 array → bytes codec;
* :mod:`.pipeline` — :func:`compress_to_zarr` / :func:`decompress_zarr`: a lazy source (Zarr,
  ``.npy`` or raw read box by box) → one Dask task per chunk, locally or on a distributed cluster
  (``nc3d compress VOLUME -o OUT.zarr``, ``nc3d decompress OUT.zarr -o VOLUME``).

Needs the ``zarr`` extra (``pip install 'nc3d[zarr]'``: zarr, numcodecs, dask, distributed); the
first two modules import zarr/numcodecs when imported, the pipeline only when it runs.
"""

from .pipeline import (
    DEFAULT_CHUNKS,
    LOCAL_CLUSTER_CONFIG,
    compress_to_zarr,
    decompress_zarr,
    is_zarr_path,
    local_cluster,
    open_lazy,
    parse_chunks,
    zarr_info,
)

__all__ = [
    "DEFAULT_CHUNKS",
    "LOCAL_CLUSTER_CONFIG",
    "compress_to_zarr",
    "decompress_zarr",
    "is_zarr_path",
    "local_cluster",
    "open_lazy",
    "parse_chunks",
    "zarr_info",
]
