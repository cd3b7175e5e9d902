"""What decimation + Draco reaches on each shape of a set at the bytes the set codec spent on it.

A set codec pays for one shared decoder and a small feature per shape; whether that beats the
classical route depends on the set. So after a set is compressed, each shape gets a byte budget —
its own feature bytes plus a share of everything else in the file (decoder, header, names) in
proportion to its binary-PLY size, the size a user would otherwise store — and decimation +
Draco (Draco level 10) is given that budget: for each decimation ratio the most quantization
bits that fit, and the best of those by F-score@0.01 (τ = 0.01 in the shape's normalized frame,
:func:`nc3d.metrics.compare_meshes`). A budget smaller than every Draco file is a shape the
classical route cannot store that small (F-score 0, ``fits`` False).

Budgets ∝ size are the comparison the user would make by hand, and a weak one: a 100-triangle crate
is near-lossless at a few hundred bytes while a dense statue starves. So the summary also gives
decimation + Draco with the file's total bytes *shared out* among the shapes for the most mean
F@0.01 (:func:`classical_shared_out`, the allocation of :mod:`nc3d.rate`) — the strongest
classical alternative at the same bytes, and the one a set file should be judged against.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.ply import canonical_ply_size
from ..mesh import Mesh
from ..metrics import compare_meshes

__all__ = [
    "shape_budgets",
    "classical_at_bytes",
    "classical_shared_out",
    "compare_set_with_classical",
    "RATIOS",
    "BITS",
]

#: Decimation ratios tried (fraction of the faces kept).
RATIOS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01)
#: Draco position quantization bits tried, most first.
BITS = tuple(range(16, 5, -1))
#: Draco compression level (its best).
LEVEL = 10


def shape_budgets(file_bytes: int, feature_bytes, meshes: list[Mesh]) -> np.ndarray:
    """``(n,)`` bytes per shape: its own bytes plus a share of the rest ∝ its binary-PLY size.

    Parameters
    ----------
    file_bytes : int
        Size of the whole set file.
    feature_bytes : (n,) int
        Bytes that belong to each shape alone (its entropy-coded feature).
    meshes : list of n Mesh
        The inputs.
    """
    own = np.asarray(feature_bytes, np.float64)
    ply = np.array([canonical_ply_size(len(m.vertices), len(m.faces)) for m in meshes], np.float64)
    shared = max(0.0, float(file_bytes) - float(own.sum()))
    return own + shared * ply / ply.sum()


def classical_at_bytes(mesh: Mesh, budget: float, *, samples: int = 10_000, seed: int = 0) -> dict:
    """The best decimation + Draco file of ``mesh`` within ``budget`` bytes, and its quality.

    Returns
    -------
    dict
        ``fits`` (False: no setting is that small), ``bytes``, ``ratio``, ``bits``,
        ``f_score_0.01`` and ``chamfer_p2s`` of the decode against ``mesh``.
    """
    from ..baselines.draco import decimate_mesh, draco_decode, draco_encode

    best: dict = {
        "fits": False,
        "bytes": 0,
        "ratio": None,
        "bits": None,
        "f_score_0.01": 0.0,
        "chamfer_p2s": None,
    }
    for ratio in RATIOS:
        try:
            small = decimate_mesh(mesh, ratio)
        except InputError:  # nothing left at this ratio
            break
        fitted = None
        for bits in BITS:  # most bits first: the first that fits is the best at this ratio
            data = draco_encode(small, bits, LEVEL)
            if len(data) <= budget:
                fitted = (bits, data)
                break
        if fitted is None:
            continue
        bits, data = fitted
        decoded = draco_decode(data, max(1, len(small.faces)))
        m = compare_meshes(mesh, decoded, n_samples=samples, seed=seed, taus=(0.01,))
        if not best["fits"] or m["f_score_0.01"] > best["f_score_0.01"]:
            best = {
                "fits": True,
                "bytes": len(data),
                "ratio": ratio,
                "bits": bits,
                "f_score_0.01": m["f_score_0.01"],
                "chamfer_p2s": m["chamfer_p2s"],
            }
    return best


def _one(args) -> dict:
    mesh, budget, samples = args
    return classical_at_bytes(mesh, budget, samples=samples)


def classical_shared_out(
    meshes: list[Mesh], total_bytes: float, *, samples: int, jobs: int = 1, cache_dir=None, progress=None
) -> float:
    """Decimation + Draco's mean F@0.01 over ``meshes`` when ``total_bytes`` are shared out among
    them for the most mean quality, every shape stored.

    Each mesh gets the set codec's ladder of Draco files (:data:`nc3d.codecs.shapeset.meshes.RATIOS`
    × ``BITS``, level 10) of its normalized mesh, each decoded and measured; then
    :func:`nc3d.rate.allocate_bytes` picks one file per shape within ``total_bytes``.

    Parameters
    ----------
    meshes : list of Mesh
        The inputs (any frame: each is measured in its normalized frame, as the set codec does).
    total_bytes : float
        The bytes to share out (e.g. the whole set file's).
    samples : int
        Surface samples per shape for F@0.01.
    jobs : int
        Processes measuring shapes.
    cache_dir : str or Path, optional
        The set codec's ``cache_dir`` setting (None: its default folder; ``"off"``: no cache).
        Its ``draco`` folder holds the ladders a set compressed with ``mesh_shapes = auto``
        measured already.
    """
    from pathlib import Path

    from ..codecs.shapeset.meshes import choose_storage, draco_options_of_set
    from ..geometry.normalize import frame_of_mesh
    from ..geometry.tsdf import default_cache_dir

    if cache_dir != "off":
        cache_dir = (Path(cache_dir) if cache_dir else default_cache_dir()) / "draco"
    else:
        cache_dir = None

    normalized = [frame_of_mesh(m).normalize_mesh(m) for m in meshes]
    options = draco_options_of_set(normalized, samples, jobs, progress, cache_dir)
    return choose_storage(options, float(total_bytes))[2]


def compare_set_with_classical(
    handle,
    meshes: list[Mesh],
    *,
    jobs: int = 1,
    samples: int | None = None,
    cache_dir=None,
    progress=None,
):
    """Per shape of a set file: its bytes and quality beside decimation + Draco's at those bytes.

    Parameters
    ----------
    handle : MeshSetFile
        The compressed set (its codec stored per-shape quality: ``shape_quality()``).
    meshes : list of Mesh
        The inputs, in the file's order.
    jobs : int
        Processes measuring shapes in parallel.
    samples : int, optional
        Surface samples per shape (default: what the encoder used).
    cache_dir : str or Path, optional
        The set codec's ``cache_dir`` setting (see :func:`classical_shared_out`).
    progress : callable, optional
        ``progress(phase, done, total)``.

    Returns
    -------
    shapes : list of dict
        ``name``, ``bytes``, ``f_score_0.01``, ``chamfer_p2s`` and ``classical`` (see
        :func:`classical_at_bytes`) per shape.
    summary : dict
        Means of both, on how many shapes decimation + Draco is better (higher F-score),
        ``classical_shared_out_f_score_0.01``: its mean with the bytes that store the shapes
        shared out (:func:`classical_shared_out`), and ``classical_better_choice``: whether
        the user would do better with decimation + Draco (never for a file that stores every
        shape as a Draco file already).
    """
    quality = handle.shape_quality()
    if quality is None:
        raise InputError(f"{handle.codec} file: no per-shape quality stored to compare with")
    if len(meshes) != handle.count:
        raise InputError(f"{len(meshes)} meshes for a set of {handle.count}")
    header = handle.header
    budgets = shape_budgets(handle.container.total_bytes, handle.shape_bytes(), meshes)
    samples = samples or int(header["quality"]["samples"])
    work = [(m, float(b), samples) for m, b in zip(meshes, budgets)]
    classical = []
    if jobs > 1 and len(work) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(work))) as pool:
            for c in pool.map(_one, work, chunksize=max(1, len(work) // (16 * jobs))):
                classical.append(c)
                if progress:
                    progress("shapes", len(classical), len(work))
    else:
        for w in work:
            classical.append(_one(w))
            if progress:
                progress("shapes", len(classical), len(work))
    shapes = [
        {"name": name, "bytes": round(float(b), 1), **q, "classical": c}
        for name, b, q, c in zip(handle.names, budgets, quality, classical)
    ]
    ours = np.array([s["f_score_0.01"] for s in shapes])
    theirs = np.array([s["classical"]["f_score_0.01"] for s in shapes])
    summary = {
        "mean_f_score_0.01": float(ours.mean()),
        "classical_mean_f_score_0.01": float(theirs.mean()),
        "classical_better": int((theirs > ours).sum()),
        "shapes": len(shapes),
        # the bytes that store the shapes (features or Draco files, and the decoder): the file's
        # header, index, names and quality would be per-file overhead for Draco files too
        "classical_shared_out_f_score_0.01": classical_shared_out(
            meshes,
            handle.stored_bytes(),
            samples=samples,
            jobs=jobs,
            cache_dir=cache_dir,
            progress=progress,
        ),
    }
    # a file of Draco files alone *is* decimation + Draco (with a per-shape floor where the most
    # mean quality would leave shapes crumpled): no verdict against itself
    summary["classical_better_choice"] = bool(handle.neural.any()) and (
        2 * summary["classical_better"] > len(shapes)
        or summary["classical_shared_out_f_score_0.01"] > summary["mean_f_score_0.01"] + 0.02
    )
    return shapes, summary
