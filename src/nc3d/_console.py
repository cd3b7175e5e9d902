"""The ``nc3d`` console script's entry point: Ctrl-C while the command starts up (importing
numpy, torch, …) ends it with one line and exit code 130, like Ctrl-C later on, not a traceback."""

import sys


def main() -> int:
    """Import the command line (:mod:`nc3d.cli`) and run it."""
    try:
        from .cli import main as run_cli
    except KeyboardInterrupt:
        print("nc3d: interrupted", file=sys.stderr)
        return 130
    return run_cli()
