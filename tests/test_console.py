"""The ``nc3d`` console script's start-up: a light ``import nc3d`` and Ctrl-C without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nc3d
from nc3d import _console

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_import_nc3d_is_light_and_names_load_on_first_use():
    code = (
        "import sys, nc3d; heavy = 'numpy' in sys.modules; m = nc3d.Mesh; e = nc3d.InputError; "
        "print(heavy, 'numpy' in sys.modules, nc3d.io.__name__, e.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": SRC},
        check=True,
    ).stdout.split()
    assert out == ["False", "True", "nc3d.io", "nc3d.errors"]
    assert set(nc3d.__all__) <= set(dir(nc3d))


def test_ctrl_c_while_importing_the_cli_is_one_line_and_exit_130(monkeypatch, capsys):
    class Interrupt:  # a meta-path finder: Ctrl-C arrives while nc3d.cli is being imported
        def find_spec(self, name, path=None, target=None):
            if name == "nc3d.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "nc3d.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupt(), *sys.meta_path])
    assert _console.main() == 130
    assert capsys.readouterr().err == "nc3d: interrupted\n"


def test_the_console_entry_runs_the_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["nc3d", "codecs", "--json"])
    assert _console.main() == 0
    assert "draco" in capsys.readouterr().out


def test_ctrl_c_during_an_import_that_swallows_it_is_still_honoured(tmp_path, monkeypatch):
    # trimesh wraps its optional imports in `except BaseException`: a Ctrl-C landing there
    # was lost and `nc3d compress` trained on; this module does the same on purpose
    import signal
    import sys

    import pytest

    from nc3d._optional import import_deferring_ctrl_c

    (tmp_path / "swallows_ctrl_c.py").write_text(
        "import os, signal, time\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(0.05)\n"
        "except BaseException:\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "swallows_ctrl_c", raising=False)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt):
            import_deferring_ctrl_c("swallows_ctrl_c")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "swallows_ctrl_c" in sys.modules
