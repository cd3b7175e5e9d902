"""Short decoder fuzzing per registered codec (the long run: benchmarks/fuzz_decoders.py).

Every hostile file must decode to FormatError with a message or to a well-formed result.
A failure names the case: reproduce it with ``fuzz.mutate(fuzz.sample_file(codec), SEED, case)``.
"""

from __future__ import annotations

import time
import traceback
import warnings

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.codecs.base import codec_names, get_codec
from nc3d.errors import FormatError
from nc3d.testing import fuzz

SEED = 0
CASES = 200  # per codec, at most


@pytest.fixture(scope="module")
def samples() -> dict[str, bytes]:
    return {name: fuzz.sample_file(name) for name in codec_names()}


@pytest.mark.parametrize("codec", codec_names())
def test_hostile_files_end_in_format_error_or_a_result(codec, samples):
    blob = samples[codec]
    t0 = time.process_time()
    assert fuzz.decode_checked(blob) == "ok"  # the seed file itself decodes
    # about 2 s of decoding per codec: fewer cases for codecs whose decode is slow
    cases = int(np.clip(2.0 / max(time.process_time() - t0, 1e-3), 100, CASES))
    headers = [container.unpack(b).header for b in samples.values()]
    outcomes, failures = {"ok": 0, "format_error": 0}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in hostile values is expected
        for i in range(cases):
            try:
                outcomes[fuzz.decode_checked(fuzz.mutate(blob, SEED, i, headers=headers))] += 1
            except Exception as exc:  # noqa: BLE001 - collected, reported below
                where = traceback.extract_tb(exc.__traceback__)[-1]
                failures.append(f"case {i}: {type(exc).__name__} at {where.name}: {exc}")
    assert not failures, "\n".join(failures[:10])
    # the mutations must reach both outcomes, or they are not testing the decoder
    assert outcomes["format_error"] > cases // 4 and outcomes["ok"] > 0, outcomes


def test_mutations_are_reproducible_and_mostly_pass_the_container(samples):
    blob = samples["ply-lzma"]
    assert fuzz.mutate(blob, 3, 17) == fuzz.mutate(blob, 3, 17)
    parsed = 0
    for i in range(200):
        try:
            container.unpack(fuzz.mutate(blob, 3, i))
            parsed += 1
        except FormatError:
            pass
    assert parsed > 120  # most cases carry valid CRCs, so the codec's own checks are exercised


def _repacked(blob: bytes, **header_changes) -> bytes:
    c = container.unpack(blob)
    c.header.update(header_changes)
    return container.pack(c)


@pytest.mark.parametrize("codec", ["sdf-grid", "implicit"])
@pytest.mark.parametrize(
    "frame", [{"center": [0, 0, 0], "scale": 5e-324}, {"center": [1e308, 0, 0], "scale": 1.0}]
)
def test_frame_beyond_float32_is_a_format_error(codec, frame, samples):
    with pytest.raises(FormatError, match="frame"):
        nc3d.decompress(_repacked(samples[codec], frame=frame))


def test_implicit_network_without_surface_is_a_format_error(samples):
    c = container.unpack(samples["implicit"])
    steps = np.frombuffer(c.sections["steps"], "<f4").copy()
    steps[-1] = 1e30  # the last bias dominates: f > 0 everywhere or < 0 everywhere
    c.sections["steps"] = steps.tobytes()
    shape = get_codec("implicit").open(c)
    with pytest.raises(FormatError, match="implicit file"):
        shape.decode(resolution=16)


def test_implicit_step_overflowing_float32_is_a_format_error(samples):
    c = container.unpack(samples["implicit"])
    steps = np.frombuffer(c.sections["steps"], "<f4").copy()
    steps[0] = 3e38
    c.sections["steps"] = steps.tobytes()
    with pytest.raises(FormatError, match="overflows"):
        nc3d.decompress(container.pack(c))
