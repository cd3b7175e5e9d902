"""Quality metrics: mesh distances (Chamfer, NC, F-score, Hausdorff) and volume errors (MSE, PSNR)."""

from .mesh import (
    DEFAULT_N_SAMPLES,
    DEFAULT_TAUS,
    chamfer_distance,
    chamfer_distance_p2s,
    compare_meshes,
    f_score,
    hausdorff_distance,
    normal_consistency,
)
from .volume import compare_volumes, mse, psnr

__all__ = [
    "DEFAULT_N_SAMPLES",
    "DEFAULT_TAUS",
    "chamfer_distance",
    "chamfer_distance_p2s",
    "compare_meshes",
    "f_score",
    "hausdorff_distance",
    "normal_consistency",
    "compare_volumes",
    "mse",
    "psnr",
]
