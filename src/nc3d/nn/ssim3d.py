"""Structural similarity of 3-D volumes (SSIM with a separable Gaussian window), differentiable."""

from __future__ import annotations

__all__ = ["ssim3d"]


def _band(m: int, kernel):
    """``(m - k + 1, m)`` matrix whose row ``i`` holds the ``k`` taps of ``kernel`` from column ``i``."""
    import torch

    k = kernel.numel()
    rows = torch.arange(m - k + 1, device=kernel.device)[:, None]
    band = torch.zeros((m - k + 1, m), dtype=kernel.dtype, device=kernel.device)
    band[rows, rows + torch.arange(k, device=kernel.device)] = kernel
    return band


def _blur(x, kernel):
    """Separable Gaussian filter over the last three axes of ``(n, c, d, h, w)`` (valid region).

    Each axis is a product with a banded matrix rather than a grouped ``conv3d``: on a CPU,
    PyTorch runs a depthwise 3-D convolution with a ``(k, 1, 1)`` kernel through its slow
    reference path, and the three convolutions (and their backward) took 5× as long as these
    matrix products for the 16³ training crops of the shapeset codec.
    """
    n, c, d, h, w = x.shape
    x = x @ _band(w, kernel).T
    x = _band(h, kernel) @ x
    x = _band(d, kernel) @ x.reshape(n, c, d, -1)
    return x.reshape(n, c, d - kernel.numel() + 1, h - kernel.numel() + 1, -1)


def ssim3d(x, y, *, window: int = 7, sigma: float = 1.5, data_range: float = 2.0):
    """Mean SSIM of two volumes (Wang et al. 2004, extended to 3-D).

    Parameters
    ----------
    x, y : (n, c, d, h, w) torch.Tensor
        Same shape; each channel is compared with itself; every side ≥ ``window``.
    window : int
        Side of the Gaussian window (odd).
    sigma : float
        Its standard deviation in voxels.
    data_range : float
        Value range of the data (2 for values in [-1, 1]).

    Returns
    -------
    torch.Tensor
        Scalar, 1 for identical volumes.
    """
    import torch

    r = torch.arange(window, dtype=x.dtype, device=x.device) - (window - 1) / 2
    kernel = torch.exp(-(r**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    n = len(x)
    mx, my, xx, yy, xy = _blur(torch.cat([x, y, x * x, y * y, x * y]), kernel).split(n)
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return ssim.mean()
