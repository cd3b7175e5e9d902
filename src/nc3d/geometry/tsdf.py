"""TSDF-Def volumes (NeCGS §3.1): a truncated signed distance grid plus a deformation per grid point.

A shape in the normalized frame becomes a ``(4, K, K, K)`` float32 volume over [-1, 1]³ (grid
spacing ``h = 2 / (K - 1)``): channel 0 is ``TSDF = clip(sdf / (2h), -1, 1)`` (negative inside,
truncated at two cells), channels 1–3 the deformation of each grid point in units of half a cell,
in (-1, 1) (so a point never moves half a cell or more, and cells never fold). The surface is the
deformable marching cubes (:func:`~nc3d.geometry.marching.deformable_marching_cubes`) of it.

The paper fits the deformation through a GPU rasterizer (depth and silhouette images). On a CPU
:func:`prepare_tsdf_def` uses a geometric objective instead: the distance of the DMC vertices to
the mesh, the distance of mesh samples to the DMC surface, and a small deformation penalty,
minimized over the near-surface TSDF values and the deformation with Adam.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..mesh import Mesh
from .marching import deformable_marching_cubes, grid_points, mesh_from_tsdf_def

__all__ = [
    "TsdfDefSettings",
    "signed_distance_function",
    "tsdf_volume",
    "prepare_tsdf_def",
    "seed_thin_parts",
    "mesh_from_volume",
    "default_cache_dir",
    "cached_tsdf_def",
    "prepare_tsdf_defs",
]

#: Largest deformation as a fraction of the grid spacing (strictly below half a cell).
DEFORM_LIMIT = 0.5


@dataclass(frozen=True)
class TsdfDefSettings:
    """How a TSDF-Def volume is fitted.

    Attributes
    ----------
    resolution : int
        Grid points per axis ``K``.
    steps : int
        Adam steps (0: plain TSDF, no deformation).
    lr : float
        Adam learning rate (TSDF units and tanh-space deformation alike).
    samples : int
        Points sampled on the mesh for the mesh → surface term.
    deform_weight : float
        Weight of the mean squared deformation (half-cell units).
    seed : int
        Sampling seed.
    thin_parts : bool
        Before fitting, move grid points into parts thinner than a cell that the grid's signs
        miss (:func:`seed_thin_parts`). Without it a plate thinner than a cell has no surface.
    open_shell : float
        Half-thickness, in cells, of the closed shell put round the faces that bound no solid
        (open sheets, leaves, flat outlines: :func:`~nc3d.geometry.sdf.one_sided_faces`), so that
        they have an inside (0: none; such faces then vanish). See :func:`tsdf_volume`. With
        ``steps = 0`` nothing moves grid points into a shell thinner than a cell, so it is at
        least 0.75 cells there (every grid line through the sheet then has a point inside).
    """

    resolution: int = 64
    steps: int = 40
    lr: float = 0.02
    samples: int = 20_000
    deform_weight: float = 0.01
    seed: int = 0
    thin_parts: bool = True
    open_shell: float = 0.25

    def key(self) -> str:
        # "dmc": 2 since the DMC places Lewiner's in-cube vertices right (volumes fitted before may differ)
        return json.dumps({**asdict(self), "dmc": 2}, sort_keys=True)


#: Offset, in cells, at which :func:`~nc3d.geometry.sdf.one_sided_faces` tests the two sides of a face:
#: small, so that a closed plate thicker than a fiftieth of a cell is not wrapped (its faces are
#: fitted by :func:`seed_thin_parts`; a shell would only thicken it).
_SIDE_OFFSET = 0.01


def signed_distance_function(mesh: Mesh, resolution: int, open_shell: float = 0.0):
    """``sdf(points (n, 3)) -> (n,)``: the signed distance a TSDF of ``mesh`` at ``K`` is made of.

    Without ``open_shell`` the signed distance to the mesh (negative where the winding number
    says inside). With it (half-thickness in cells ``h = 2 / (K - 1)``), the faces that bound no
    solid — an open sheet, a leaf, a flat outline, a plate thinner than a fiftieth of a cell —
    are wrapped in a closed shell ``2 · open_shell · h`` thick and united with the solid the
    other faces bound (:func:`~nc3d.geometry.sdf.shelled_signed_distance`): otherwise the grid
    has no sign change at them and they decode to nothing. A closed surface keeps its plain
    signed distance.
    """
    from .sdf import one_sided_faces, shelled_signed_distance, signed_distance_to_mesh

    if open_shell <= 0:
        return lambda p: signed_distance_to_mesh(p, mesh)
    h = 2.0 / (resolution - 1)
    open_faces = one_sided_faces(mesh, _SIDE_OFFSET * h)
    if not open_faces.any():
        return lambda p: signed_distance_to_mesh(p, mesh)
    closed = ~open_faces & (mesh.face_areas > 0)  # degenerate faces bound nothing either
    solid = Mesh(mesh.vertices, mesh.faces[closed]) if closed.any() else None
    sheet = Mesh(mesh.vertices, mesh.faces[open_faces])
    return lambda p: shelled_signed_distance(p, solid, sheet, open_shell * h)


def tsdf_volume(mesh: Mesh, resolution: int, sdf=None) -> np.ndarray:
    """``(K, K, K) float32`` plain TSDF of a normalized-frame mesh: ``clip(sdf / 2h, -1, 1)``.

    ``sdf``: the signed distance function to use (default: the signed distance to ``mesh``;
    see :func:`signed_distance_function`).
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 8 <= resolution <= 512:
        raise InputError(f"resolution must be an integer in [8, 512], got {resolution!r}")
    if sdf is None:
        sdf = signed_distance_function(mesh, resolution)
    h = 2.0 / (resolution - 1)
    values = sdf(grid_points(resolution))
    return np.clip(values / (2 * h), -1.0, 1.0).astype(np.float32).reshape((resolution,) * 3)


def mesh_from_volume(volume: np.ndarray) -> Mesh:
    """The DMC surface of a ``(4, K, K, K)`` TSDF-Def volume, normalized frame."""
    k = volume.shape[-1]
    h = 2.0 / (k - 1)
    tsdf = np.clip(volume[0], -1.0, 1.0)
    deform = np.clip(np.moveaxis(volume[1:4], 0, -1), -0.99, 0.99) * (DEFORM_LIMIT * h)
    return mesh_from_tsdf_def(tsdf, deform)


def seed_thin_parts(
    mesh: Mesh, tsdf: np.ndarray, samples: np.ndarray, sdf=None
) -> tuple[np.ndarray, np.ndarray]:
    """Move grid points into the thin parts of a mesh that a grid's signs miss.

    A plate or rod thinner than a cell can pass between the grid points: the 8 corners of the
    cells it crosses share one sign and marching cubes finds no surface there, so the fit has no
    surface to pull on either. The deformation can reach any point within half a cell, so for
    each such cell (one holding mesh samples but no sign change) every corner that the surface
    passes within reach of is moved just across it — to the most inside (or, for a thin gap, most
    outside) of a few points past its closest point on the mesh — and takes the signed distance
    there. The fit then starts with a surface on both faces of the thin part.

    Parameters
    ----------
    mesh : Mesh
        Normalized frame.
    tsdf : (K, K, K) float32
        Plain TSDF of ``mesh`` (:func:`tsdf_volume`).
    samples : (n, 3) float
        Points on the mesh surface.
    sdf : callable, optional
        The signed distance ``tsdf`` was made of (:func:`signed_distance_function`; default:
        the signed distance to ``mesh``).

    Returns
    -------
    tsdf : (K, K, K) float32
        With the moved points' values replaced.
    unit : (K, K, K, 3) float32
        Deformation in units of ``DEFORM_LIMIT · h`` (zero where nothing moved), in (-1, 1).
    """
    from .sdf import closest_points_on_mesh

    k = tsdf.shape[0]
    if sdf is None:
        sdf = signed_distance_function(mesh, k)
    h = 2.0 / (k - 1)
    tsdf = tsdf.copy()
    unit = np.zeros((k, k, k, 3), np.float32)
    cell = np.clip(np.floor((np.asarray(samples) + 1.0) / h).astype(np.int64), 0, k - 2)
    cell = np.unique(cell, axis=0)
    offsets = np.array([(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    corners = cell[:, None, :] + offsets[None]  # (m, 8, 3)
    signs = np.sign(tsdf[corners[..., 0], corners[..., 1], corners[..., 2]])
    missed = (signs == signs[:, :1]).all(axis=1) & (signs[:, 0] != 0)
    if not missed.any():
        return tsdf, unit
    idx = np.unique(corners[missed].reshape(-1, 3), axis=0)
    grid = idx * h - 1.0
    dist, _, closest = closest_points_on_mesh(grid, mesh)
    reach = DEFORM_LIMIT * h * 0.98
    ok = (dist > 1e-9) & (dist < reach * np.sqrt(3))
    idx, grid, dist, closest = idx[ok], grid[ok], dist[ok], closest[ok]
    if len(idx) == 0:
        return tsdf, unit
    before = np.sign(tsdf[idx[:, 0], idx[:, 1], idx[:, 2]])
    toward = (closest - grid) / dist[:, None]
    steps = np.array([0.05, 0.15, 0.3]) * h  # past the surface: thin parts are thinner than a cell
    moved = np.clip(closest[None] + steps[:, None, None] * toward[None] - grid[None], -reach, reach)
    values = sdf((grid[None] + moved).reshape(-1, 3)).reshape(len(steps), -1)
    best = np.argmax(-before[None] * values, axis=0)  # most across the surface from where it was
    value = values[best, np.arange(len(idx))]
    flip = np.sign(value) == -before
    idx, value, moved = idx[flip], value[flip], moved[best, np.arange(len(best))][flip]
    tsdf[idx[:, 0], idx[:, 1], idx[:, 2]] = np.clip(value / (2 * h), -1.0, 1.0)
    unit[idx[:, 0], idx[:, 1], idx[:, 2]] = moved / (DEFORM_LIMIT * h)
    return tsdf, unit


def prepare_tsdf_def(mesh: Mesh, settings: TsdfDefSettings = TsdfDefSettings()) -> np.ndarray:
    """Fit the TSDF-Def volume of a mesh already in the normalized frame.

    Parameters
    ----------
    mesh : Mesh
        Normalized frame (inside [-1, 1]³).
    settings : TsdfDefSettings

    Returns
    -------
    volume : (4, K, K, K) float32
        TSDF in [-1, 1], then the deformation (x, y, z) in half-cell units, in (-1, 1).
    """
    import igl
    import torch

    from .sampling import sample_surface
    from .sdf import closest_points_on_mesh

    k = settings.resolution
    shell = (
        settings.open_shell if settings.steps or settings.open_shell <= 0 else max(settings.open_shell, 0.75)
    )
    sdf = signed_distance_function(mesh, k, shell)
    tsdf0 = tsdf_volume(mesh, k, sdf)
    volume = np.zeros((4, k, k, k), np.float32)
    volume[0] = tsdf0
    if settings.steps == 0:
        return volume
    h = 2.0 / (k - 1)
    samples, _, _ = sample_surface(mesh, settings.samples, seed=settings.seed)
    unit0 = np.zeros((k, k, k, 3), np.float32)
    if settings.thin_parts:
        tsdf0, unit0 = seed_thin_parts(mesh, tsdf0, samples, sdf)
        volume[0], volume[1:] = tsdf0, np.moveaxis(unit0, -1, 0)
    if not (tsdf0.min() < 0 < tsdf0.max()):
        return volume
    target = torch.from_numpy(samples.astype(np.float32))
    near = torch.from_numpy(np.abs(tsdf0) < 1.0)
    base = torch.from_numpy(tsdf0)
    s_free = base.clone().requires_grad_(True)
    raw = torch.from_numpy(np.arctanh(np.clip(unit0, -0.98, 0.98))).requires_grad_(True)
    opt = torch.optim.Adam([s_free, raw], lr=settings.lr)
    best, best_loss = None, float("inf")
    for step in range(settings.steps + 1):
        s = torch.where(near, s_free.clamp(-1.0, 1.0), base)  # far cells keep their truncated value
        unit = torch.tanh(raw)
        if not (s.detach().min() < 0 < s.detach().max()):
            break
        verts, faces = deformable_marching_cubes(s, unit * (DEFORM_LIMIT * h))
        v_np = verts.detach().numpy().astype(np.float64)
        # surface → mesh: distance to the (fixed) closest points on the mesh
        _, _, closest = closest_points_on_mesh(v_np, mesh)
        to_mesh = (verts - torch.from_numpy(closest.astype(np.float32))).norm(dim=1)
        # mesh → surface: closest point on the current DMC surface, fixed barycentric coordinates
        _, face, c = igl.point_mesh_squared_distance(samples, v_np, faces)
        tri = faces[face]
        corners = (np.ascontiguousarray(v_np[tri[:, i]]) for i in range(3))
        bary = igl.barycentric_coordinates(np.ascontiguousarray(c), *corners)
        bary = torch.from_numpy(np.nan_to_num(np.asarray(bary), nan=1.0 / 3).astype(np.float32))
        on_surface = (verts[torch.from_numpy(tri)] * bary[:, :, None]).sum(1)
        to_surface = (on_surface - target).norm(dim=1)
        geometric = 0.5 * (to_mesh.mean() + to_surface.mean()) / h
        loss = geometric + settings.deform_weight * (unit[near] ** 2).mean()
        if geometric.item() < best_loss:  # keep the best state seen (the last step may overshoot)
            best_loss = geometric.item()
            best = (s.detach().clone(), unit.detach().clone())
        if step == settings.steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    if best is not None:
        volume[0] = best[0].numpy()
        volume[1:] = np.moveaxis(best[1].numpy(), -1, 0)
    return volume


def default_cache_dir() -> Path:
    """``$NC3D_CACHE_DIR/tsdf-def``, else ``~/.cache/nc3d/tsdf-def``."""
    root = os.environ.get("NC3D_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "nc3d") / "tsdf-def"


def cached_tsdf_def(mesh: Mesh, settings: TsdfDefSettings, cache_dir: Path | None) -> tuple[np.ndarray, bool]:
    """:func:`prepare_tsdf_def` through a folder of ``.npz`` files keyed by mesh content and settings.

    Returns the volume and whether it came from the cache. A missing, unreadable or
    mismatched cache file is recomputed (never trusted blindly); writes are atomic.
    """
    path = _cache_path(mesh, settings, cache_dir)
    volume = _read_cached(path, settings)
    if volume is not None:
        return volume, True
    volume = prepare_tsdf_def(mesh, settings)
    _write_cached(path, volume)
    return volume, False


def _cache_path(mesh: Mesh, settings: TsdfDefSettings, cache_dir: Path | None) -> Path | None:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    digest.update(settings.key().encode())
    return None if cache_dir is None else Path(cache_dir) / f"{digest.hexdigest()[:32]}.npz"


def _read_cached(path: Path | None, settings: TsdfDefSettings) -> np.ndarray | None:
    """The cached volume, or None when missing, unreadable or not what ``settings`` make."""
    k = settings.resolution
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            volume = z["volume"]
    except (OSError, ValueError, KeyError):
        return None
    ok = volume.shape == (4, k, k, k) and volume.dtype == np.float32 and np.isfinite(volume).all()
    return volume if ok else None


def _write_cached(path: Path | None, volume: np.ndarray) -> None:
    if path is None:
        return
    import io

    from ..files import write_bytes_atomic

    buf = io.BytesIO()
    np.savez_compressed(buf, volume=volume)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue(), force=True)


def _prepare_one(args) -> np.ndarray:
    name, mesh, settings, cache_dir = args
    try:
        return cached_tsdf_def(mesh, settings, cache_dir)[0]
    except InputError as exc:  # say which shape of the set
        raise InputError(f"{name}: {exc}") from None


def prepare_tsdf_defs(
    meshes,
    settings: TsdfDefSettings,
    cache_dir: Path | None,
    out,
    *,
    names=None,
    workers: int = 1,
    ray_address: str | None = None,
    progress=None,
) -> None:
    """:func:`cached_tsdf_def` of many meshes, in worker processes or Ray tasks, written into ``out``.

    Parameters
    ----------
    meshes : sequence of Mesh
        In their normalized frames.
    settings : TsdfDefSettings
    cache_dir : Path or None
        The cache makes a run resumable: volumes prepared before (by any run) are read back.
    out : (n, 4, K, K, K) float32 array-like
        Receives the volumes (a ``numpy.memmap`` keeps a large set on disk, not in memory).
    names : sequence of str, optional
        Shape names, for error messages.
    workers : int
        Processes (1: this one). Each uses one thread; they start with ``spawn`` (no forked
        torch/OpenMP state).
    ray_address : str, optional
        Prepare on Ray instead (:func:`nc3d.distributed.ray_map`: ``"local"``, ``"auto"`` or
        ``"HOST:PORT"``), one task per mesh not in the cache; the tasks return the volumes and
        this process writes them into ``out`` and the cache (a cluster's nodes need not see it).
    progress : callable, optional
        ``progress("TSDF-Def volumes", done, total)``.
    """
    n = len(meshes)
    if progress:
        progress("TSDF-Def volumes", 0, n)
    names = names if names is not None else [f"shape {i}" for i in range(n)]
    if ray_address is not None:
        _prepare_on_ray(meshes, settings, cache_dir, out, names, ray_address, progress)
        return
    work = ((name, m, settings, cache_dir) for name, m in zip(names, meshes))
    if workers <= 1 or n <= 1:
        for i, item in enumerate(work):
            out[i] = _prepare_one(item)
            if progress:
                progress("TSDF-Def volumes", i + 1, n)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from ..nn.device import limit_threads

    with ProcessPoolExecutor(
        min(workers, n), mp_context=mp.get_context("spawn"), initializer=limit_threads
    ) as pool:
        # map keeps at most a few results in flight per worker, in order: memory stays bounded
        for i, volume in enumerate(pool.map(_prepare_one, work, chunksize=1)):
            out[i] = volume
            if progress:
                progress("TSDF-Def volumes", i + 1, n)


def prepare_task(name: str, mesh: Mesh, settings: TsdfDefSettings) -> dict:
    """One Ray task of :func:`prepare_tsdf_defs`: ``{"volume": (4, K, K, K)}`` or ``{"error": text}``."""
    try:
        return {"volume": prepare_tsdf_def(mesh, settings)}
    except InputError as exc:
        return {"error": f"{name}: {exc}"}


def _prepare_on_ray(meshes, settings, cache_dir, out, names, address, progress) -> None:
    from ..distributed import ray_map

    n = len(meshes)
    paths = [_cache_path(m, settings, cache_dir) for m in meshes]
    todo = []
    for i, path in enumerate(paths):
        volume = _read_cached(path, settings)
        if volume is None:
            todo.append(i)
        else:
            out[i] = volume
    done = n - len(todo)
    if progress:
        progress("TSDF-Def volumes", done, n)

    def arguments(i: int) -> tuple:
        return str(names[i]), meshes[i], settings

    for i, result in ray_map(prepare_task, todo, arguments, address=address):
        if "error" in result:
            raise InputError(str(result["error"]))
        out[i] = result["volume"]
        _write_cached(paths[i], result["volume"])
        done += 1
        if progress:
            progress("TSDF-Def volumes", done, n)
