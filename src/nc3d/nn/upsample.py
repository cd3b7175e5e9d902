"""3-D pixel shuffle and the NeCGS upsampling module (paper App. B.1, Fig. 11)."""

from __future__ import annotations

__all__ = ["pixel_shuffle_3d", "upsample_block"]


def pixel_shuffle_3d(x, factor: int):
    """Rearrange channels into space: ``(n, c·f³, d, h, w) → (n, c, d·f, h·f, w·f)``.

    torch's ``pixel_shuffle`` is 2-D only; this is its 3-D analogue (channel index
    ``c·f³ + i·f² + j·f + k`` goes to offset ``(i, j, k)`` inside each ``f³`` block).
    """
    n, c, d, h, w = x.shape
    f = int(factor)
    if c % (f**3):
        raise ValueError(f"pixel_shuffle_3d: {c} channels are not a multiple of {f}³")
    out = c // f**3
    x = x.reshape(n, out, f, f, f, d, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(n, out, d * f, h * f, w * f)


def upsample_block(x, weight, bias, factor: int = 2, pad: int = 1):
    """One upsampling module: 3×3×3 convolution → :func:`pixel_shuffle_3d` → GELU.

    Parameters
    ----------
    x : (n, c_in, d, h, w) torch.Tensor
    weight : (c_out·factor³, c_in, 3, 3, 3) torch.Tensor
    bias : (c_out·factor³,) torch.Tensor
    pad : int
        Zero padding of the convolution (1: same size; 0: valid, the output loses a cell per side).

    Returns
    -------
    (n, c_out, d·factor, h·factor, w·factor) torch.Tensor
    """
    import torch.nn.functional as F

    return F.gelu(pixel_shuffle_3d(F.conv3d(x, weight, bias, padding=pad), factor))
