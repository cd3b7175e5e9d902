"""Dataset-scale jobs on Ray: any per-item function as Ray tasks of one CPU each.

Ray is optional (``pip install 'nc3d[ray]'``). :mod:`nc3d.batch` runs its per-file work here;
every machine of a cluster then needs the same nc3d installed (a task names its function by
module) and must see the input and output paths (a shared file system): tasks read the meshes
and write the ``.nc3d`` files themselves, so no mesh or blob travels through Ray's object store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["ray_map"]


def _connect(ray, address: str, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; True when this call started it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    if address == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return True


def ray_map(
    task: Callable[..., dict],
    items: Iterable,
    arguments: Callable[[Any], tuple],
    *,
    address: str = "local",
    num_cpus: int | None = None,
) -> Iterator[tuple[Any, dict]]:
    """Run ``task(*arguments(item))`` for every item as a Ray task of one CPU; yield as they finish.

    Parameters
    ----------
    task : callable returning a dict
        A module-level function (Ray ships it by reference), e.g. :func:`nc3d.batch.compress_in_worker`.
    items : iterable
        The work items.
    arguments : callable
        ``item -> tuple`` of the task's arguments (plain, picklable values).
    address : str
        ``"local"``: start a Ray on this machine with ``num_cpus`` CPUs; ``"auto"``: join the
        cluster this machine belongs to; ``"HOST:PORT"`` (or ``ray://HOST:PORT``): that cluster.
        If Ray is already initialized in this process, it is used as it is.
    num_cpus : int, optional
        CPUs of a local Ray (default: all); ignored when joining a cluster.

    Yields
    ------
    (item, dict)
        Each item with its task's result; a task that dies gives ``{"error": ...}``.
    """
    from ._optional import require

    items = list(items)
    if not items:
        return
    ray = require("ray", "running jobs on Ray")
    started = _connect(ray, address, num_cpus)
    waiting: list = []
    try:
        remote = ray.remote(num_cpus=1, max_retries=1)(task)
        refs = {remote.remote(*arguments(it)): it for it in items}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            ref = done[0]
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a worker crashed or was lost
                result = {"error": f"Ray task failed: {type(exc).__name__}: {exc}"}
            yield refs[ref], result
    finally:
        for ref in waiting:  # stopped early (interrupted): do not leave tasks running on a cluster
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - best effort
                pass
        if started:
            ray.shutdown()
