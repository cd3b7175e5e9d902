"""Structural similarity of 3-D volumes (SSIM with a separable Gaussian window), differentiable."""

from __future__ import annotations

__all__ = ["ssim3d"]


def _blur(x, kernel):
    """Separable Gaussian filter over the last three axes of ``(n, c, d, h, w)`` (valid region)."""
    import torch.nn.functional as F

    c = x.shape[1]
    k = kernel.numel()
    for shape in ((k, 1, 1), (1, k, 1), (1, 1, k)):
        x = F.conv3d(x, kernel.reshape(1, 1, *shape).expand(c, 1, *shape), groups=c)
    return x


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
    kernel = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _blur(x, kernel), _blur(y, kernel)
    vx = _blur(x * x, kernel) - mx * mx
    vy = _blur(y * y, kernel) - my * my
    cov = _blur(x * y, kernel) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return ssim.mean()
