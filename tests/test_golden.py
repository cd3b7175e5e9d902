"""Golden files and determinism, for every registered codec.

* Golden: ``tests/golden/<codec>.nc3d`` (written once by ``tests/golden/regenerate.py``) must
  keep decoding to what ``tests/golden/expected.json`` recorded (shapes exactly; values to a
  relative 1e-5, through min/max/mean and an order-sensitive weighted sum), so files written by
  one version decode in the next.
* Determinism: same input, settings and seed → the same bytes; decoding the same file twice,
  in this process and in a fresh one, gives bit-identical output.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nc3d
from nc3d.codecs.base import codec_names
from nc3d.testing import fuzz

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


def _golden(name: str) -> bytes:
    path = GOLDEN / f"{name}.nc3d"
    if name not in EXPECTED or not path.exists():
        pytest.skip(f"no golden file for codec '{name}' yet: run tests/golden/regenerate.py and commit it")
    return path.read_bytes()


def _close(got, want, path="decoded"):
    """Equal structure, counts and dtypes; floats within a relative 1e-5."""
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for key in want:
            if key != "sha256":
                _close(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), path
    else:
        assert got == want, path


@pytest.mark.parametrize("name", codec_names())
def test_golden_file_decodes_as_recorded(name):
    blob = _golden(name)
    want = EXPECTED[name]
    assert hashlib.sha256(blob).hexdigest() == want["file_sha256"], "the golden file itself was changed"
    kind, result = fuzz.decode_quick(blob)
    assert kind == want["kind"]
    # exact shapes and dtypes, floats to 1e-5: a decoder may legitimately change its float
    # arithmetic (bit-identity is the same-version property tested below)
    _close(fuzz.describe_result(kind, result), want["decoded"])


@pytest.mark.parametrize("name", codec_names())
def test_same_input_settings_and_seed_give_the_same_bytes(name):
    first, second = fuzz.sample_file(name), fuzz.sample_file(name)
    assert first == second
    a = fuzz.describe_result(*fuzz.decode_quick(first))
    b = fuzz.describe_result(*fuzz.decode_quick(second))
    assert a == b  # bit-identical decodes, sha256 included


def test_decoding_is_bit_identical_in_a_fresh_process():
    names = [n for n in codec_names() if (GOLDEN / f"{n}.nc3d").exists() and n in EXPECTED]
    here = {
        n: fuzz.describe_result(*fuzz.decode_quick((GOLDEN / f"{n}.nc3d").read_bytes()))["sha256"]
        for n in names
        if EXPECTED[n]["kind"] != "meshset"
    }
    script = (
        "import json, sys, pathlib; from nc3d.testing import fuzz\n"
        "g = pathlib.Path(sys.argv[1])\n"
        "print(json.dumps({n: fuzz.describe_result("
        "*fuzz.decode_quick((g / f'{n}.nc3d').read_bytes()))['sha256']"
        " for n in sys.argv[2:]}))\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(Path(nc3d.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(GOLDEN), *here],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == here
