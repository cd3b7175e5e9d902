"""No data lost: ``nc3d compress`` killed (SIGKILL) or interrupted (SIGINT) leaves no partial output,
folder runs resume, and nothing loads untrusted bytes with pickle.

Each kill runs the real command in a subprocess (its own process group, so pool workers die
with it), so these tests take a few seconds each; the folder test is the SIGKILL test of the
default run, and the 20 kills at random times are marked slow:
``pytest -m slow tests/test_no_data_lost.py -s`` prints their counts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nc3d
from nc3d.codecs.base import codec_names

SRC = Path(nc3d.__file__).resolve().parents[1]
SPOT = Path(nc3d.__file__).parent / "data" / "meshes" / "spot.obj"


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def _sigint_as_in_a_terminal() -> None:
    # A process started in the background by a non-interactive shell (`cmd &`, as CI may run the
    # suite) inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler: the
    # children must get the default disposition back, as a terminal would give them.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nc3d.cli", "compress", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_sigint_as_in_a_terminal,
    )


def _signal_after(proc: subprocess.Popen, seconds: float, sig: int) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, sig)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # the signal did not end it: fail, but leave no process behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _check_output(out: Path) -> bool:
    """Whether ``out`` exists; if it does, it must be a complete, decodable file."""
    if not out.exists():
        return False
    mesh = nc3d.decompress(out.read_bytes())
    assert len(mesh.faces) > 0
    return True


def kill_compress_at_random(folder: Path, runs: int, seed: int = 0) -> dict:
    """SIGKILL ``nc3d compress spot.obj --codec ply-lzma`` ``runs`` times at uniform random times
    over one full run's duration; every time, check what it left in ``folder``."""
    out = folder / "spot.nc3d"
    t0 = time.perf_counter()
    rc, _, err = _signal_after(_start(str(SPOT), "-o", str(out), "--codec", "ply-lzma"), 300, signal.SIGKILL)
    full = time.perf_counter() - t0
    assert rc == 0 and _check_output(out), err
    rng = np.random.default_rng(seed)
    stats = {
        "runs": runs,
        "complete": 0,
        "absent": 0,
        "partial_visible": 0,
        "temp_left": 0,
        "full_run_s": round(full, 2),
    }
    for _ in range(runs):
        out.unlink(missing_ok=True)
        for stray in folder.glob(".*.partial"):
            stray.unlink()
        _signal_after(
            _start(str(SPOT), "-o", str(out), "--codec", "ply-lzma"), rng.uniform(0, full), signal.SIGKILL
        )
        stats["partial_visible"] += len([n for n in _visible(folder) if n != out.name])
        stats["complete" if _check_output(out) else "absent"] += 1
        stats["temp_left"] += len(list(folder.glob(".*.partial")))
    return stats


@pytest.mark.slow
def test_sigkill_twenty_times(tmp_path):
    stats = kill_compress_at_random(tmp_path, runs=20, seed=1)
    print("\nkill test:", json.dumps(stats))
    assert stats["partial_visible"] == 0 and stats["complete"] + stats["absent"] == 20


@pytest.mark.slow
def test_sigkill_during_the_write_leaves_only_a_hidden_temporary_file(tmp_path):
    # a write big enough to be caught in the act: kill as soon as its temporary file appears
    code = (
        "import sys; from nc3d.container import write_bytes_atomic; "
        "write_bytes_atomic(sys.argv[1], bytes(512 * 2**20))"
    )
    target = tmp_path / "big.nc3d"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], env=_env(), start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list(tmp_path.glob(".*.partial")):
        time.sleep(0.001)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    temps = list(tmp_path.glob(".big.nc3d.*.partial"))
    assert temps, "the write finished before the kill: nothing was tested"
    assert not target.exists() and _visible(tmp_path) == []


def test_ctrl_c_exits_cleanly_without_output(tmp_path):
    # time the start-up (imports), then interrupt well inside a long training run (few samples:
    # a signal waits for the current native call, e.g. one signed-distance query, to return)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import nc3d.cli; nc3d.codec_names()"], env=_env(), check=True)
    startup = time.perf_counter() - t0
    out = tmp_path / "spot.nc3d"
    proc = _start(
        str(SPOT), "-o", str(out), "--codec", "implicit", "--samples", "100000", "--epochs", "10000"
    )
    rc, _, err = _signal_after(proc, 2 * startup + 2.0, signal.SIGINT)
    assert rc == 130 and "interrupted" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []  # no output and no temporary file either


def test_killed_folder_run_resumes_where_it_stopped(tmp_path):
    import trimesh

    src, dst = tmp_path / "meshes", tmp_path / "out"
    src.mkdir()
    for i in range(30):
        trimesh.creation.icosphere(subdivisions=4, radius=1.0 + i / 10).export(src / f"m{i:02d}.ply")
    args = [str(src), "-o", str(dst), "--codec", "ply-lzma", "--jobs", "1"]
    proc = _start(*args)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:  # kill once a few outputs exist
        if dst.is_dir() and len(list(dst.glob("*.nc3d"))) >= 3:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.communicate(timeout=60)
    before = {p.name for p in dst.glob("*.nc3d")}
    assert all(_check_output(dst / name) for name in before)
    assert all(not n.endswith(".partial") for n in _visible(dst))

    rc, out, err = _signal_after(_start(*args, "--json"), 300, signal.SIGKILL)
    assert rc == 0, err
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {Path(r["output"]).name for r in results if r.get("skipped")} == before
    assert len(results) == 30 and not any("error" in r for r in results)
    assert all(_check_output(dst / f"m{i:02d}.nc3d") for i in range(30))


# -- nothing unpickles untrusted bytes ------------------------------------------------------------
_UNSAFE = [
    (r"\bpickle\.(loads?|Unpickler)\b", "pickle.load"),
    (r"\b(cloudpickle|dill|joblib)\.loads?\b", "a pickle-based loader"),
    (r"\btorch\.load\(", "torch.load"),
    (r"\bnp\.load\((?![^)]*allow_pickle\s*=\s*False)", "np.load without allow_pickle=False"),
    (r"allow_pickle\s*=\s*True", "allow_pickle=True"),
    (r"\bmarshal\.loads?\b", "marshal.load"),
    (r"\byaml\.load\(", "yaml.load"),
    (r"(?<![.\w])(eval|exec)\(", "eval/exec"),
]


def test_nothing_loads_untrusted_bytes_with_pickle():
    found = []
    for path in sorted((SRC / "nc3d").rglob("*.py")):
        if path.name == "messy.py":  # writes a hostile pickled .npy on purpose (np.save), never loads one
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, what in _UNSAFE:
                if re.search(pattern, code):
                    found.append(f"{path.relative_to(SRC)}:{n}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


# -- decompressing a set never writes outside the output folder ------------------------------------
_HOSTILE_NAMES = [["../escape", "/tmp/nc3d_abs_escape", ".."], ["a/../../b", ".hidden", "C:\\evil\\x"]]


@pytest.mark.parametrize("names", _HOSTILE_NAMES)
@pytest.mark.parametrize("codec", codec_names("meshset"))
def test_set_decompression_stays_inside_the_output_folder(codec, names, tmp_path, capsys):
    from nc3d import container
    from nc3d.cli import main
    from nc3d.testing import fuzz

    c = container.unpack(fuzz.sample_file(codec))
    if "names" in c.header:
        c.header["names"] = names
    if "names" in c.sections:
        c.sections["names"] = "\n".join(names).encode()
    work = tmp_path / "work"
    out = work / "out"
    work.mkdir()
    (work / "set.nc3d").write_bytes(container.pack(c))
    outside = Path("/tmp/nc3d_abs_escape.ply")
    assert not outside.exists()
    rc = main(["decompress", str(work / "set.nc3d"), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 or (rc == 1 and err.startswith("nc3d: error:")), err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "set.nc3d"]
    assert all(p.parent == out for p in written), written
    assert not outside.exists() and not (tmp_path / "escape.ply").exists()
    assert rc == 1 or len(written) == 3
