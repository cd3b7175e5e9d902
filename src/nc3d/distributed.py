"""Dataset-scale jobs on Ray: the per-file work of :mod:`nc3d.batch` as Ray tasks.

Ray is optional (``pip install 'nc3d[ray]'``). Every machine of a cluster needs the same nc3d
installed (the tasks import :func:`nc3d.batch.compress_file` by name) and must see the input
and output paths (a shared file system): tasks read the meshes and write the ``.nc3d`` files
themselves, so no mesh or blob travels through Ray's object store.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

__all__ = ["ray_map", "compress_task"]


def compress_task(source: str, output: str, codec: str, settings: dict, force: bool) -> dict:
    """One file, as a Ray task: one torch thread, then :func:`nc3d.batch.compress_file`."""
    from .batch import compress_file, init_worker

    init_worker()
    return compress_file(source, output, codec, settings, force)


def _connect(ray, address: str, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; True when this call started it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    if address == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return True


def ray_map(items: Iterable, *, codec: str, settings: dict, force: bool, address: str = "local",
            num_cpus: int | None = None) -> Iterator[dict]:
    """Compress :class:`nc3d.batch.BatchItem` s as Ray tasks of one CPU each; yield results as they finish.

    Parameters
    ----------
    items : iterable of BatchItem
        Files to compress (``source``, ``output``).
    codec, settings, force
        As :func:`nc3d.batch.compress_file`.
    address : str
        ``"local"``: start a Ray on this machine with ``num_cpus`` CPUs; ``"auto"``: join the
        cluster this machine belongs to; ``"HOST:PORT"`` (or ``ray://HOST:PORT``): that cluster.
        If Ray is already initialized in this process, it is used as it is.
    num_cpus : int, optional
        CPUs of a local Ray (default: all); ignored when joining a cluster.

    Yields
    ------
    dict
        One result per item (see :func:`nc3d.batch.compress_file`); a task that dies gives a
        result with ``error``.
    """
    from ._optional import require

    items = list(items)
    if not items:
        return
    ray = require("ray", "running jobs on Ray (--ray-address)")
    started = _connect(ray, address, num_cpus)
    waiting: list = []
    try:
        task = ray.remote(num_cpus=1, max_retries=1)(compress_task)
        # absolute paths: a task's working directory is not the caller's on every cluster
        refs = {task.remote(os.path.abspath(it.source), os.path.abspath(it.output), codec, settings, force): it
                for it in items}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            ref = done[0]
            it = refs[ref]
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a worker crashed or was lost
                result = {"name": it.name, "error": f"Ray task failed: {type(exc).__name__}: {exc}"}
            yield result | {"input": it.source, "output": it.output}
    finally:
        for ref in waiting:  # stopped early (interrupted): do not leave tasks running on a cluster
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - best effort
                pass
        if started:
            ray.shutdown()
