"""nc3d.sandbox: native work in a bounded child process; whatever the child does, the caller lives."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

import numpy as np
import pytest

from nc3d import sandbox
from nc3d.errors import FormatError, InputError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork path: Linux")


# functions run in the child (module level: the spawn path imports them by name)
def fill_ramp(out, scale=1):
    out[...] = (np.arange(out.size) * scale).reshape(out.shape)


def raise_value_error(out):
    raise ValueError("the stream is short")


def segfault(out):
    ctypes.string_at(0)


def say_and_abort(out):
    os.write(2, b"decoder: bad header\nterminate called after throwing 'std::bad_alloc'\n")
    os.abort()


def exit_quietly(out):
    os._exit(0)  # what SZ3 does on a stream with more than 4 dimensions


def allocate(out, nbytes):
    np.ones(nbytes, np.uint8)


def write_pid_and_sleep(out, path):
    with open(path, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(60)


def spin(out):
    while True:
        pass


def take_lock(out, lock):
    with lock:
        out[...] = 7


def run(func, *args, shape=(4, 5), dtype="float32", **kw):
    kw = {"what": "test decoder", "memory": 256 << 20, "timeout": 30.0} | kw
    return sandbox.run_isolated(func, args, shape=shape, dtype=dtype, **kw)


@pytest.mark.parametrize("transfer", ["read", "shared"])
@pytest.mark.parametrize(("shape", "dtype"), [((4, 5), "float32"), ((3, 40, 50), "float64"), ((7,), "uint8")])
def test_returns_what_the_child_wrote(shape, dtype, transfer, monkeypatch):
    monkeypatch.setattr(sandbox, "_transfer", lambda: transfer)
    out = run(fill_ramp, shape=shape, dtype=dtype)
    assert out.shape == shape and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, np.arange(out.size).reshape(shape).astype(dtype))
    out[...] = 0  # an ordinary writable array


def test_reading_the_childs_memory_works_here():
    # the fast path (process_vm_readv) is the one this machine uses; "shared" is the fallback
    assert sandbox._transfer() == "read"


def test_an_exception_in_the_child_is_the_error_with_its_message():
    with pytest.raises(FormatError, match="test decoder failed: ValueError: the stream is short"):
        run(raise_value_error)
    with pytest.raises(InputError, match="ValueError"):
        run(raise_value_error, error=InputError)


def test_a_segfault_is_a_format_error_and_the_caller_lives():
    with pytest.raises(FormatError, match=r"test decoder crashed \(SIGSEGV\)"):
        run(segfault)
    np.testing.assert_array_equal(run(fill_ramp, 2), 2 * np.arange(20).reshape(4, 5))  # still fine


def test_an_abort_names_the_signal_and_what_the_child_said():
    with pytest.raises(FormatError, match=r"aborted \(SIGABRT\); it said: decoder: bad header / terminate"):
        run(say_and_abort)


def test_a_child_that_exits_without_a_result_is_an_error():
    with pytest.raises(FormatError, match=r"ended its process \(exit code 0\) without a result"):
        run(exit_quietly)


def test_the_memory_limit_stops_a_runaway_allocation():
    with pytest.raises(FormatError, match="ran out of its memory limit"):
        run(allocate, 4 << 30, memory=64 << 20)
    out = run(allocate, 16 << 20, memory=64 << 20)  # within the limit
    assert out.shape == (4, 5)


def test_a_hang_is_stopped_at_the_timeout_and_the_child_is_gone(tmp_path):
    path = tmp_path / "pid"
    t = time.monotonic()
    with pytest.raises(FormatError, match=r"did not finish within 0.5 s"):
        run(write_pid_and_sleep, str(path), timeout=0.5)
    assert time.monotonic() - t < 20
    pid = int(path.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped: no zombie either
        os.kill(pid, 0)


def test_a_runaway_loop_is_stopped_by_the_cpu_limit():
    with pytest.raises(FormatError, match=r"ran out of its CPU time limit \(SIGXCPU\) \(1 s\)"):
        run(spin, cpu=1.0, timeout=120.0)


def test_a_lock_held_by_another_thread_is_held_across_the_fork():
    lock = threading.RLock()
    taken, release = threading.Event(), threading.Event()

    def holder():
        with lock:
            taken.set()
            release.wait(10)

    # without `hold`, the child inherits the lock held by a thread it does not have: it waits forever
    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(10)
    try:
        with pytest.raises(FormatError, match="did not finish"):
            run(take_lock, lock, timeout=0.5)
    finally:
        release.set()
        thread.join()
    # with it, the fork waits for the lock and the child takes it again (re-entrant)
    taken.clear()
    release.clear()
    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(10)
    threading.Timer(0.2, release.set).start()
    out = run(take_lock, lock, hold=(lock,), timeout=10.0)
    thread.join()
    assert (out == 7).all()


def test_works_after_torch_ran_its_thread_pool():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        m = torch.randn(256, 256)
        for _ in range(5):
            m = torch.tanh(m @ m)
        for _ in range(3):
            np.testing.assert_array_equal(run(fill_ramp, 3), 3 * np.arange(20).reshape(4, 5))
        assert torch.isfinite(m @ m).all()  # and torch still works in the caller
    finally:
        torch.set_num_threads(threads)


def test_a_caller_that_ignores_sigchld_still_gets_results_and_errors():
    import signal

    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        np.testing.assert_array_equal(run(fill_ramp), np.arange(20).reshape(4, 5))
        with pytest.raises(FormatError, match="without a result"):
            run(segfault)
    finally:
        signal.signal(signal.SIGCHLD, old)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="method"):
        run(fill_ramp, method="thread")
    with pytest.raises(ValueError, match="positive"):
        run(fill_ramp, timeout=0)


def test_the_spawn_fallback_returns_the_result_and_survives_a_crash():
    out = run(fill_ramp, 5, method="spawn")
    np.testing.assert_array_equal(out, 5 * np.arange(20).reshape(4, 5))
    with pytest.raises(FormatError, match=r"crashed \(SIGSEGV\)"):
        run(segfault, method="spawn")
    with pytest.raises(FormatError, match="ValueError: the stream is short"):
        run(raise_value_error, method="spawn")
