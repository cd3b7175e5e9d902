"""The 8³-block orthonormal 3-D DCT-II and its frequency bands, shared by the volume codecs.

Both the classical ``dct`` baseline and the neural ``volume`` codec transform 8³ blocks with the
same DCT and group its 512 coefficients (C order over ``(u, v, w)``) into the 22 frequency bands
``u + v + w``; this module is the one place that defines them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK", "BAND", "BANDS", "BY_BAND", "UNSORT_BY_BAND", "BAND_EDGES", "dct_blocks"]

#: Side of a block, in voxels.
BLOCK = 8
_U, _V, _W = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
#: Frequency band u + v + w of each of the 512 coefficients (C order), 0..21.
BAND = (_U + _V + _W).ravel()
#: Number of bands (22).
BANDS = int(BAND.max()) + 1
#: Coefficient columns sorted by band (stable), so each band is one contiguous column range.
BY_BAND = np.argsort(BAND, kind="stable")
#: The inverse permutation of :data:`BY_BAND`.
UNSORT_BY_BAND = np.argsort(BY_BAND)
#: Column range ``BAND_EDGES[k] : BAND_EDGES[k + 1]`` of band ``k`` in band order.
BAND_EDGES = np.searchsorted(BAND[BY_BAND], np.arange(BANDS + 1))


def dct_blocks(blocks: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Orthonormal 3-D DCT-II (or its inverse) of every block.

    Parameters
    ----------
    blocks : (n, b, b, b) ndarray
        Blocks along the first axis.
    inverse : bool
        The inverse transform (DCT-III) instead.

    Returns
    -------
    (n, b, b, b) ndarray
        Coefficients (or samples), same dtype family as scipy returns for the input.
    """
    import scipy.fft

    f = scipy.fft.idctn if inverse else scipy.fft.dctn
    return f(blocks, type=2, axes=(1, 2, 3), norm="ortho")
