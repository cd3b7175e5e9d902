"""What a benchmark ran on: machine, versions and the nc3d commit (``RESULTS_DIR/machine.json``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["machine_info", "write_machine", "read_machine"]

MACHINE_NAME = "machine.json"


def _git_commit() -> str:
    """The nc3d source tree's commit (``+dirty`` with uncommitted changes), or ``"unknown"``."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "") if commit else "unknown"


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed, or no metadata
        return "not installed"


def machine_info() -> dict:
    """Platform, CPU count, Python and library versions, nc3d version and commit, date (UTC)."""
    from .. import __version__
    from ..batch import default_jobs

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": default_jobs(),
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "trimesh": _version("trimesh"),
        "libigl": _version("libigl"),
        "DracoPy": _version("DracoPy"),
        "nc3d": __version__,
        "nc3d_commit": _git_commit(),
    }


def write_machine(results_dir) -> Path:
    """Write :func:`machine_info` to ``results_dir/machine.json`` (replacing an older one)."""
    from ..files import write_bytes_atomic

    return write_bytes_atomic(
        Path(results_dir) / MACHINE_NAME, (json.dumps(machine_info(), indent=1) + "\n").encode(), force=True
    )


def read_machine(results_dir) -> dict:
    """The recorded machine of a results folder, or this machine's when none was recorded."""
    path = Path(results_dir) / MACHINE_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(info, dict):
            return info
    except (OSError, ValueError):
        pass
    return machine_info()
