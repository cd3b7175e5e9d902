"""Writing outputs safely: atomic writes and the clean-up of what a killed write left behind.

Every file nc3d writes (``.nc3d`` files, meshes, volumes, images, reports, models) goes through
:func:`write_bytes_atomic`, so an interrupted run never leaves a half-written file under the
final name, and an existing file is only replaced when the caller says so.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from .errors import InputError, OutputExistsError

__all__ = ["write_bytes_atomic", "remove_stale_partials", "check_output"]


def check_output(path: str | os.PathLike[str], force: bool) -> None:
    """:class:`~nc3d.errors.OutputExistsError` when ``path`` exists and ``force`` is false."""
    if Path(path).exists() and not force:
        raise OutputExistsError(path)


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes | bytearray | memoryview, *, force: bool = False
) -> Path:
    """Write bytes to ``path`` atomically: all of them or, on failure, nothing.

    The bytes go to a temporary ``.<name>.*.partial`` file in the target's directory, which is
    flushed, ``fsync``-ed and renamed over the target with :func:`os.replace`. Any failure
    removes the temporary file. Used for ``.nc3d`` files (see :func:`write_file`) and for any
    other output, e.g. ``write_bytes_atomic("out.ply", ply_bytes, force=args.force)``.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    data : bytes, bytearray or memoryview
        Content to write.
    force : bool, optional
        Overwrite an existing file. Without it an existing target is an error.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    InputError
        ``path`` exists and ``force`` is false, is a directory, its directory does not exist,
        ``data`` is not bytes-like, or the OS refuses the write (permissions, disk full, ...).

    Notes
    -----
    The existence check and the rename are two steps, so a file created by another process
    in between is overwritten. The new file gets the mode of the file it replaces, or
    ``0o666 & ~umask`` for a new file.
    """
    try:
        target = Path(os.fspath(path))
    except TypeError:
        raise InputError(f"output path must be a str or path, not {type(path).__name__}") from None
    try:
        view = memoryview(data).cast("B")
    except TypeError:
        raise InputError(f"data to write must be bytes-like, not {type(data).__name__}") from None
    if target.is_dir():
        raise InputError(f"{target} is a directory")
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {target}: directory {parent} does not exist")
    exists = target.exists()
    if exists and not force:
        raise OutputExistsError(target)
    try:
        mode = (os.stat(target).st_mode & 0o7777) if exists else (0o666 & ~_umask())
    except OSError:
        mode = 0o666 & ~_umask()

    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            mode="wb", dir=parent, prefix=f".{target.name}.", suffix=".partial", delete=False
        ) as tmp:
            tmp_name = tmp.name
            tmp.write(view)
            tmp.flush()
            os.fsync(tmp.fileno())
            try:
                os.fchmod(tmp.fileno(), mode)
            except (AttributeError, OSError):  # not on Windows / odd filesystems
                pass
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    try:  # make the rename itself durable (POSIX); best effort
        dir_fd = os.open(parent, os.O_RDONLY)
    except (OSError, AttributeError):
        return target
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return target


def remove_stale_partials(folder, names, *, older_than_s: float = 60.0) -> list[Path]:
    """Delete the temporary ``.<name>.*.partial`` files that :func:`write_bytes_atomic` left in
    ``folder`` when it was killed (SIGKILL, power loss) while writing one of ``names``.

    Only files older than ``older_than_s`` go: one being written right now by another process
    (a write takes milliseconds to seconds) is left alone.

    Parameters
    ----------
    folder : path
        The output folder.
    names : iterable of str
        The target file names (not paths) whose leftovers to remove.
    older_than_s : float
        Minimum age in seconds (modification time).

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    wanted = {f".{n}." for n in names}
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        if not (e.name.startswith(".") and e.name.endswith(".partial")):
            continue
        stem = e.name[: -len(".partial")]  # ".<name>.<random>"
        if stem[: stem.rfind(".") + 1] not in wanted:
            continue
        try:
            if e.is_file(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:  # gone meanwhile, or not ours to delete
            pass
    return removed
