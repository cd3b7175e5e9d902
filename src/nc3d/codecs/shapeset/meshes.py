"""Shapes of a set stored as Draco meshes where that gives more quality for the bytes.

A shared neural decoder pays off for shapes it can represent well in a few hundred bytes. Many
shapes of real collections are not those: a 100-triangle crate is near-lossless as a Draco file
of a few hundred bytes, while its neural feature and share of the decoder give F@0.01 ≈ 0.6; a
thin banner is a sheet the K³ grid barely resolves. On 200 shapes of game-asset and robot-CAD
collections, decimation + Draco with the set's bytes shared out well (:func:`nc3d.rate.allocate_bytes`)
reached mean F@0.01 0.78 at the bytes where the neural set reached 0.60, and 0.998 where it
reached 0.67 (BENCHMARKS.md, "Shapeset on the collections").

So the encoder measures, for every shape, a small ladder of Draco files of its normalized mesh
(:data:`RATIOS` of the faces kept by QEM decimation × :data:`BITS` of position quantization,
Draco level 10), each decoded and compared two-sided with the input like the neural decodes
(:func:`nc3d.metrics.compare_meshes`, F@0.01 and Chamfer-p2s); then shares the set's byte budget
among the options of all shapes — a neural feature being one more option of each shape, once the
decoder's bytes are paid — and keeps whichever way of storing the set measures better on average:
with the decoder, or every shape as a mesh and no decoder at all (:func:`choose_storage`).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...mesh import Mesh
from ...metrics import compare_meshes
from ...rate import allocate_bytes

__all__ = [
    "RATIOS",
    "BITS",
    "MeshOption",
    "draco_options",
    "draco_options_of_set",
    "choose_storage",
    "bytes_for_quality",
    "floor_within",
]

#: Share of the faces kept by decimation before Draco. 2% and 1% are for dense meshes: the 38
#: shared meshes at mean F 0.95 took 72,712 B with 5% the least, 67,323 B with 1%.
RATIOS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01)
#: Draco position quantization bits (of the normalized mesh's bounding box). 6 bits matter: on 200
#: collection shapes at ~65 kB, sharing out files of ≥ 8 bits reached mean F@0.01 0.60, ≥ 6 bits 0.70.
BITS = (14, 12, 10, 8, 6)
#: Draco compression level (its best).
LEVEL = 10


@dataclass
class MeshOption:
    """One way to store a shape as a Draco mesh, and what it measured."""

    blob: bytes
    f_score: float
    chamfer_p2s: float
    ratio: float = 1.0  # share of the faces kept
    bits: int = 14  # Draco position quantization


def draco_options(mesh: Mesh, samples: int, seed: int = 0, cache_dir: Path | None = None) -> list[MeshOption]:
    """Every (decimation ratio, bits) Draco file of ``mesh`` (normalized frame), measured.

    Parameters
    ----------
    mesh : Mesh
        In the shape's normalized frame.
    samples : int
        Surface samples per mesh for F@0.01 and Chamfer-p2s (as the neural check).
    cache_dir : Path, optional
        Folder of earlier results keyed by the mesh and the measurement, one entry per (ratio,
        bits): a set compressed again at another size measures nothing twice, a longer ladder
        only what is new. An entry that does not read back whole, or whose files do not match
        their recorded SHA-256, is measured again.

    Returns
    -------
    list of MeshOption
        Ratio by ratio (most faces first), bits by bits (most first); the ratios that decimation
        cannot reach (no face left) are left out.
    """
    from ...geometry.decimate import decimate_mesh
    from ...io.draco import draco_decode, draco_encode

    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    digest.update(json.dumps(["draco-options-2", LEVEL, samples, seed]).encode())
    path = None if cache_dir is None else Path(cache_dir) / f"{digest.hexdigest()[:32]}.npz"
    known = _read_options(path) if path is not None and path.is_file() else {}
    out, measured = [], False
    for ratio in RATIOS:
        small = None
        for bits in BITS:
            if (ratio, bits) in known:
                out.append(known[ratio, bits])
                continue
            if small is None:
                try:
                    small = decimate_mesh(mesh, ratio)
                except InputError:  # nothing left at this ratio
                    break
            blob = draco_encode(small, bits, LEVEL)
            decoded = draco_decode(blob, max(1, len(small.faces)))
            m = compare_meshes(mesh, decoded, n_samples=samples, seed=seed, taus=(0.01,))
            out.append(MeshOption(blob, float(m["f_score_0.01"]), float(m["chamfer_p2s"]), ratio, bits))
            measured = True
        else:
            continue
        break  # decimation left nothing: smaller ratios leave nothing either
    if path is not None and measured:
        _write_options(path, {**known, **{(o.ratio, o.bits): o for o in out}})
    return out


def _write_options(path: Path, options: dict) -> None:
    from ...files import write_bytes_atomic

    kept = list(options.values())
    buf = io.BytesIO()
    np.savez(
        buf,
        blobs=np.frombuffer(b"".join(o.blob for o in kept), np.uint8),
        sizes=np.array([len(o.blob) for o in kept], np.int64),
        quality=np.array([[o.f_score, o.chamfer_p2s] for o in kept], np.float64).reshape(-1, 2),
        setting=np.array([[o.ratio, o.bits] for o in kept], np.float64).reshape(-1, 2),
        sha256=np.array([hashlib.sha256(o.blob).hexdigest() for o in kept], dtype="U64"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue(), force=True)


def _read_options(path: Path) -> dict:
    """``{(ratio, bits): MeshOption}`` of a cache entry; empty when it does not read back whole."""
    try:
        with np.load(path, allow_pickle=False) as z:
            blobs, sizes, quality = z["blobs"].tobytes(), z["sizes"], z["quality"]
            setting, sha = z["setting"], z["sha256"]
    except (OSError, ValueError, KeyError):
        return {}
    if sizes.sum() != len(blobs) or not len(quality) == len(setting) == len(sha) == len(sizes):
        return {}
    ends = np.cumsum(sizes)
    out = {}
    for e, n, (f, c), (r, b), h in zip(ends, sizes, quality, setting, sha):
        blob = blobs[e - n : e]
        if hashlib.sha256(blob).hexdigest() != h:
            return {}
        out[float(r), int(b)] = MeshOption(blob, float(f), float(c), float(r), int(b))
    return out


def _options(args):
    mesh, samples, cache_dir = args
    return draco_options(mesh, samples, cache_dir=cache_dir)


def draco_options_of_set(
    meshes: list[Mesh], samples: int, workers: int = 1, progress=None, cache_dir: Path | None = None
):
    """:func:`draco_options` of every mesh, in ``workers`` processes (spawned; one thread each)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import ExitStack

    from ...nn.device import limit_threads

    work = [(m, samples, cache_dir) for m in meshes]
    out: list[list[MeshOption]] = []
    if progress:
        progress("measuring Draco files", 0, len(work))
    with ExitStack() as stack:
        results: Iterator[list[MeshOption]] = map(_options, work)
        if workers > 1 and len(work) > 1:
            pool = stack.enter_context(
                ProcessPoolExecutor(
                    min(workers, len(work)),
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=limit_threads,
                )
            )
            results = pool.map(_options, work, chunksize=max(1, len(work) // (8 * workers)))
        for o in results:
            out.append(o)
            if progress:
                progress("measuring Draco files", len(out), len(work))
    return out


def choose_storage(
    options: list[list[MeshOption]],
    budget: float,
    *,
    neural_bytes=None,
    neural_f=None,
    decoder_bytes: float = 0.0,
    floor: float = 0.0,
) -> tuple[bool, np.ndarray, float]:
    """How to store each shape so that the set's mean F@0.01 is highest within ``budget`` bytes.

    Parameters
    ----------
    options : list of n lists of MeshOption
        Each shape's Draco files.
    budget : float
        Bytes for the shapes' own data and the decoder (the file's fixed overhead taken off).
    neural_bytes, neural_f : (n,) array, optional
        Each shape's entropy-coded feature bytes and its measured F@0.01; None: no decoder
        was trained, every shape is a mesh.
    decoder_bytes : float
        What the decoder costs (paid once if any shape stays neural).
    floor : float
        No shape below this F@0.01 (a shape with no option that high gets its best one): the
        most mean quality for the bytes may otherwise starve a few shapes to save many bytes.

    Returns
    -------
    with_decoder : bool
        Whether the decoder is kept (some shapes neural).
    choice : (n,) int
        Per shape, the index of its Draco option, or -1 for its neural feature.
    mean_f : float
        The mean F@0.01 of the choice.
    """
    n = len(options)
    if neural_bytes is None and any(not o for o in options):
        raise InputError("shapeset: a shape has no Draco file and no neural feature to store it by")
    m = max((len(o) for o in options), default=0)
    b, q = np.full((n, m + 1), np.inf), np.full((n, m + 1), np.nan)
    for i, opts in enumerate(options):
        b[i, : len(opts)] = [len(o.blob) for o in opts]
        q[i, : len(opts)] = [o.f_score for o in opts]

    def mean_f(pick):
        return float(q[np.arange(n), pick].mean())

    def floored(cols: int) -> tuple[np.ndarray, np.ndarray]:  # bytes inf where under the floor
        bb, qq = b[:, :cols], q[:, :cols]
        low = ~(qq >= floor)
        best = np.nanargmax(np.where(np.isfinite(bb), qq, -1.0), axis=1)
        low[np.arange(n), best] &= ~low.all(axis=1)  # nothing reaches it: the best one stays
        return np.where(low, np.inf, bb), qq

    best: tuple[bool, np.ndarray | None, float] = (False, None, -1.0)
    if all(options):  # every shape as a mesh, no decoder
        bb, qq = floored(m)
        pick = allocate_bytes(bb, qq, budget)
        best = (False, pick, mean_f(pick))
    if neural_bytes is not None:
        b[:, m], q[:, m] = neural_bytes, neural_f
        bb, qq = floored(m + 1)
        pick = allocate_bytes(bb, qq, budget - decoder_bytes)
        f = mean_f(pick)
        if (pick == m).any() and f > best[2]:
            best = (True, np.where(pick == m, -1, pick), f)
        elif best[1] is None:  # no shape could be a mesh: all neural
            best = (True, np.full(n, -1), float(np.mean(neural_f)))
    return best[0], np.asarray(best[1]), best[2]


def bytes_for_quality(options: list[list[MeshOption]], target_f: float, floor: float = 0.0) -> float:
    """The fewest bytes at which the shapes, all stored as Draco meshes, reach a mean F@0.01 of
    ``target_f`` with none below ``floor`` (bisection on the budget of :func:`choose_storage`;
    the bytes of the best option of every shape when even those fall short).

    What the chosen files take, which can be more than the budget searched: the floor alone may
    cost more than the target needs (on the 1,097 collection shapes, no shape below 0.45 takes
    425 kB where a mean of 0.6 alone would take 280 kB), and then every budget gives that choice."""
    if not all(options):
        raise InputError("shapeset: a shape has no Draco file to store it by")

    lo = float(sum(min(len(o.blob) for o in opts) for opts in options))
    hi = float(sum(max(len(o.blob) for o in opts) for opts in options))
    taken, f = _spent(options, lo, floor)
    if f >= target_f:
        return max(lo, taken)
    taken, f = _spent(options, hi, floor)
    if f < target_f:
        return hi
    while hi - lo > max(1.0, 1e-3 * lo):  # invariant: the choice at hi reaches target_f
        mid = 0.5 * (lo + hi)
        t, f = _spent(options, mid, floor)
        if f >= target_f:
            hi, taken = mid, t
        else:
            lo = mid
    return max(hi, taken)


def _spent(options: list[list[MeshOption]], budget: float, floor: float) -> tuple[float, float]:
    """(bytes taken, mean F@0.01) of the all-mesh choice of :func:`choose_storage`."""
    _, pick, f = choose_storage(options, budget, floor=floor)
    return float(sum(len(opts[p].blob) for opts, p in zip(options, pick))), f


def floor_within(options: list[list[MeshOption]], budget: float, shortfall: float) -> float:
    """The per-shape floor for a set given a size: as high as ``budget`` bytes allow, and no
    higher than ``shortfall`` below the mean F@0.01 the budget gives without one.

    Sharing fixed bytes out for the most mean quality leaves the shapes whose files are dear
    crumpled: the 1,097 collection shapes at 420 kB reach a mean of 0.808 with 123 shapes below
    F 0.3 (lost, to a user). Lifting them costs the others: with ``shortfall`` 0.45 the floor is
    0.358 and the mean 0.741, none below 0.3; at 650 kB the floor is 0.50 for a mean 0.951
    instead of 0.952 (BENCHMARKS.md). Searched on the Draco files alone (the neural features, when
    a decoder is trained later, are held to the same floor).

    Returns
    -------
    float
        0 when even the cheapest files exceed ``budget``.
    """
    if not all(options):
        raise InputError("shapeset: a shape has no Draco file to store it by")
    lo, hi = 0.0, max(0.0, choose_storage(options, budget)[2] - shortfall)
    if _spent(options, budget, hi)[0] <= budget:
        return hi
    for _ in range(16):  # to ~1e-5 in F
        mid = 0.5 * (lo + hi)
        if _spent(options, budget, mid)[0] <= budget:
            lo = mid
        else:
            hi = mid
    return lo
