"""Running native code that trusts its input in a child process, bounded in memory and time.

Some decoders nc3d calls are C/C++ libraries that believe the stream they are handed (the SZ3
and SPERR filters of hdf5plugin): a stream forged on purpose can make them read or write out of
bounds, allocate without limit or abort the process. :func:`run_isolated` runs such a decode in
a child process instead, so that the worst a hostile file can do is end that child:

* the child's address space may grow by ``memory`` bytes beyond what it holds when it starts
  (``RLIMIT_AS``), its CPU time is capped at ``cpu`` (``RLIMIT_CPU``), it writes no core dump
  (``RLIMIT_CORE`` = 0, and not dumpable while ``func`` runs) and dies with its caller
  (``PR_SET_PDEATHSIG``);
* the caller waits at most ``timeout`` seconds of wall time, then kills it; stdin is
  ``/dev/null``;
* the result comes back as raw bytes of the declared size, never pickled: nothing the child
  sends is unpickled, so a child taken over by a hostile stream can return wrong numbers —
  which the caller validates like any decoded data — but cannot run code in the caller;
* a crash (``SIGSEGV``), an abort (``std::bad_alloc``), a limit, a timeout or an exception in
  the child becomes ``error`` (:class:`~nc3d.errors.FormatError` by default) naming what
  happened and the last line the child wrote to stderr; the caller never dies of it.

Two ways to start the child (``method``):

``"fork"`` (the default on Linux)
    ``os.fork``: the child is a copy of the caller with every library already imported and
    loaded, so starting it costs what copying the caller's page tables costs (on a 2-core VM:
    ~4 ms of CPU for a 170 MB process, ~17 ms once PyTorch is loaded). The child decodes into
    its own memory and the caller copies the result out with ``process_vm_readv`` (one copy,
    ~10 ms per 64 MiB there) into an ordinary array; where the kernel does not let a process
    read its child's memory (Yama ``ptrace_scope`` ≥ 2, a seccomp filter), the child writes
    into an anonymous shared mapping made before the fork, returned as is (no copy, but shared
    memory pages cost several times more to fault in than private ones; see :func:`_transfer`).
    The child's stdout and stderr go to a memory file (``memfd``). Forking a process that runs
    threads (PyTorch's and OpenMP's pools) is safe here because the child runs only ``func`` —
    plain Python and the decoder's C code, which starts no threads and takes no lock another
    thread can hold — and exits with ``os._exit`` (no atexit handlers, no flushing of
    inherited buffers, the garbage collector off). A lock that ``func`` takes and that another
    thread of the caller may hold (h5py's global lock) is passed in ``hold``: it is taken
    around the fork, so the child never inherits it held by a thread it does not have.
``"spawn"`` (elsewhere, or asked for)
    A fresh interpreter through :mod:`multiprocessing` (``func`` and ``args`` must pickle; the
    child imports what it needs: a second or more); the array comes back over a pipe as raw
    bytes (read with a size limit) and is copied once. The limits are set where the platform
    has them (``resource`` is Unix-only; macOS does not enforce ``RLIMIT_AS``).
"""

from __future__ import annotations

import gc
import importlib
import math
import mmap
import os
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from .errors import FormatError, Nc3dError

try:  # Unix; imported here so that a forked child does not import it
    import resource
except ImportError:  # pragma: no cover - Windows: the timeout is the only bound
    resource = None  # type: ignore[assignment]

__all__ = ["run_isolated", "default_method", "METHODS", "SPAWN_STARTUP"]

#: The ways :func:`run_isolated` starts its child.
METHODS = ("fork", "spawn")
#: Seconds added to the timeout of a ``"spawn"`` child for starting an interpreter and importing.
SPAWN_STARTUP = 60.0
#: Bytes of the message channel (status and exception text) and of stderr reported back.
_MESSAGE_BYTES = 4096
_STDERR_TAIL = 2048
#: Largest file the child may write (its stdout/stderr); more is ``SIGXFSZ``.
_FILE_LIMIT = 1 << 20
#: Exit codes of the child: done, ``func`` raised, ``func`` ran out of memory (``MemoryError``).
_OK, _RAISED, _NO_MEMORY = 0, 3, 4
#: prctl(2) options (Linux).
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4


def default_method() -> str:
    """``"fork"`` on Linux, ``"spawn"`` elsewhere (macOS frameworks and Windows do not fork)."""
    return "fork" if sys.platform.startswith("linux") and hasattr(os, "fork") else "spawn"


@dataclass(frozen=True)
class _Limits:
    memory: int  # bytes the address space may grow by
    timeout: float  # wall seconds
    cpu: float  # CPU seconds


def run_isolated(
    func: Callable[..., Any],
    args: Sequence[Any] = (),
    *,
    shape: Sequence[int],
    dtype,
    what: str,
    memory: int,
    timeout: float,
    cpu: float | None = None,
    error: type[Nc3dError] = FormatError,
    method: str | None = None,
    hold: Sequence[Any] = (),
    preload: Sequence[str] = (),
) -> np.ndarray:
    """Run ``func(out, *args)`` in a bounded child process and return the ``out`` it filled.

    Parameters
    ----------
    func : callable
        ``func(out, *args) -> None``, run in the child; it writes its result into ``out``, a
        C-contiguous array of ``shape`` and ``dtype`` (zeros when it starts). With ``"spawn"``
        it must be importable by name (a module-level function) and ``args`` must pickle. An
        exception it raises becomes ``error`` with the exception's type and message.
    args : sequence
        The other arguments of ``func`` (untrusted bytes, shapes, names).
    shape : sequence of int
        Shape of the result.
    dtype : numpy dtype or name
        Dtype of the result.
    what : str
        Names the work in error messages (``"sz3: the filter's decoder"``).
    memory : int
        Bytes by which the child's address space may grow (``RLIMIT_AS`` = its size at start +
        ``memory``); size it from the declared output, with room for the decoder's buffers.
    timeout : float
        Seconds of wall time the child may take (a ``"spawn"`` child gets
        :data:`SPAWN_STARTUP` more to start).
    cpu : float, optional
        Seconds of CPU time the child may use (``RLIMIT_CPU``; default ``timeout``). A decode's
        CPU time does not depend on how busy the machine is, its wall time does: bound a
        runaway loop with ``cpu`` and leave ``timeout`` generous (for hangs that use no CPU).
    error : type
        The exception raised when the child fails (default :class:`~nc3d.errors.FormatError`).
    method : {"fork", "spawn"}, optional
        How the child starts (default :func:`default_method`); see the module docstring.
    hold : sequence of locks
        ``"fork"`` only: locks (re-entrant ones, if ``func`` takes them) held across the fork.
    preload : sequence of str
        ``"spawn"`` only: modules the child imports before its limits are set (a library
        mapped after them counts against ``memory``). A forked child has what the caller
        imported: import them before calling.

    Returns
    -------
    numpy.ndarray
        ``out``, of ``shape`` and ``dtype``, as the child left it: an ordinary array, or where
        the result comes back through shared memory (:func:`_transfer`), an array over that
        mapping (unmapped when the array is freed).

    Raises
    ------
    error
        The child crashed, aborted, ran out of a limit or of time, exited on its own, or
        ``func`` raised.
    """
    method = default_method() if method is None else method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    limits = _Limits(int(memory), float(timeout), float(timeout if cpu is None else cpu))
    if limits.memory <= 0 or not (limits.timeout > 0 and limits.cpu > 0):
        raise ValueError(f"memory, timeout and cpu must be positive, got {limits}")
    if method == "fork":
        return _run_forked(func, tuple(args), shape, dtype, what, limits, error, hold)
    return _run_spawned(func, tuple(args), shape, dtype, what, limits, error, tuple(preload))


# ----------------------------------------------------------------------------------------------
# In the child
# ----------------------------------------------------------------------------------------------


def _address_space() -> int | None:
    """Bytes of this process's address space (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@cache
def _prctl():
    """libc's ``prctl`` (Linux), resolved in the caller so that a forked child has it at hand."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover
        return None


def _set_limit(which: int, value: int) -> None:
    """Lower the soft limit ``which`` to ``value`` (never raises one the caller set lower)."""
    assert resource is not None
    soft, hard = resource.getrlimit(which)
    for limit in (soft, hard):
        if limit != resource.RLIM_INFINITY:
            value = min(value, limit)
    resource.setrlimit(which, (value, hard))


def _limit_self(memory: int, cpu_seconds: float) -> None:
    """Bound this (child) process: address space, CPU time, file size, no core dumps, no stdin."""
    size = _address_space()  # before the process becomes non-dumpable (its /proc files root's)
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # no core dump, even through a pipe handler
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # die with the caller
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # a decoder that reads stdin ends at once instead of waiting forever
        os.close(null)
    except OSError:  # pragma: no cover
        pass
    if resource is None:  # pragma: no cover - Windows: the timeout is the only bound
        return
    _set_limit(resource.RLIMIT_CORE, 0)
    _set_limit(resource.RLIMIT_CPU, max(1, math.ceil(cpu_seconds)))
    _set_limit(resource.RLIMIT_FSIZE, _FILE_LIMIT)
    if size is not None:
        try:
            _set_limit(resource.RLIMIT_AS, size + memory)
        except (ValueError, OSError):  # pragma: no cover - macOS refuses RLIMIT_AS
            pass


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _forked_child(func, args, shape, dtype, shared, status, stdio, ready, memory, cpu, parent):
    """The child after ``os.fork``: never returns (``os._exit``).

    With a ``shared`` mapping it decodes into it and exits; without, it decodes into its own
    memory, writes the address and size to the pipe ``ready`` and waits to be killed while the
    caller copies the result out (:func:`_read_child`).
    """
    code = _RAISED
    try:
        gc.disable()  # no finalizer of the caller's objects runs here
        if "faulthandler" in sys.modules:  # a crash here is reported by the caller, not dumped
            sys.modules["faulthandler"].disable()
        os.dup2(stdio, 1)
        os.dup2(stdio, 2)
        _limit_self(memory, cpu)
        if os.getppid() != parent:  # the caller died before PDEATHSIG was set
            raise RuntimeError("the caller is gone")
        if shared is not None:
            out = np.frombuffer(shared, dtype=dtype, count=math.prod(shape)).reshape(shape)
        else:
            out = np.zeros(shape, dtype)
        func(out, *args)
        if shared is None:
            prctl = _prctl()
            if prctl is not None:
                prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # so that the caller may read this memory
            os.write(ready, struct.pack("<QQ", out.ctypes.data, out.nbytes))
            while True:  # killed by the caller once it holds a copy (or with it: PDEATHSIG)
                time.sleep(3600)
        code = _OK
    except MemoryError as exc:
        code = _NO_MEMORY
        _write_message(status, _describe(exc))
    except BaseException as exc:  # noqa: BLE001 - everything ends the child with a message
        _write_message(status, _describe(exc))
    finally:
        os._exit(code)


def _write_message(status: mmap.mmap, text: str) -> None:
    try:
        data = text.encode("utf-8", "replace")[: _MESSAGE_BYTES - 4]
        status[: 4 + len(data)] = struct.pack("<I", len(data)) + data
    except BaseException:  # noqa: BLE001 - the exit code still says that it failed
        pass


def _spawned_child(func, args, shape, dtype, memory: int, cpu: float, conn, preload=()) -> None:
    """The child of a ``"spawn"`` run: sends one message, ``b"\\0"`` + the array or a code + text."""
    code = _RAISED
    try:
        for module in preload:
            importlib.import_module(module)
        _limit_self(memory, cpu)
        out = np.zeros(shape, dtype)
        func(out, *args)
        conn.send_bytes(b"\0" + out.tobytes())
        return
    except MemoryError as exc:
        code, text = _NO_MEMORY, _describe(exc)
    except BaseException as exc:  # noqa: BLE001
        text = _describe(exc)
    conn.send_bytes(bytes([code]) + text.encode("utf-8", "replace")[: _MESSAGE_BYTES - 1])


# ----------------------------------------------------------------------------------------------
# In the caller
# ----------------------------------------------------------------------------------------------


def _wait(pid: int, ready: int, timeout: float) -> tuple[str, Any]:
    """Wait up to ``timeout`` s for child ``pid`` to write its 16-byte ready message or to end.

    Returns ``("ready", message)``, ``("exited", wait status)``, ``("timeout", None)`` or
    ``("lost", None)`` (the child was reaped elsewhere: ``SIGCHLD`` ignored).
    """
    import select

    deadline = time.monotonic() + timeout
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # kernel before 5.3
            pidfd = None
    poller = select.poll()
    poller.register(ready, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    delay = 0.001
    try:
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return "lost", None
            if done:
                return "exited", status
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", None
            wait = left if pidfd is not None else min(delay, left)  # without a pidfd: poll for the exit
            delay = min(delay * 2, 0.05)
            for fd, _ in poller.poll(wait * 1000.0):  # retried on EINTR (PEP 475)
                if fd == ready:
                    message = os.read(ready, 16)
                    if len(message) == 16:
                        return "ready", message
                    poller.unregister(ready)  # end of file (the child ended) or a broken message
    finally:
        if pidfd is not None:
            os.close(pidfd)


@cache
def _process_vm_readv():
    """libc's ``process_vm_readv`` (Linux, glibc ≥ 2.15) with its argument types, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        class IoVec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

        f = ctypes.CDLL(None, use_errno=True).process_vm_readv
    except (OSError, AttributeError):  # pragma: no cover
        return None
    iovec_p = ctypes.POINTER(IoVec)
    f.restype = ctypes.c_ssize_t
    f.argtypes = [ctypes.c_int, iovec_p, ctypes.c_ulong, iovec_p, ctypes.c_ulong, ctypes.c_ulong]

    def read(pid: int, address: int, out: np.ndarray) -> None:
        view = out.reshape(-1).view(np.uint8)
        done = 0
        while done < view.size:
            here = IoVec(view.ctypes.data + done, view.size - done)
            there = IoVec(address + done, view.size - done)
            got = f(pid, ctypes.byref(here), 1, ctypes.byref(there), 1, 0)
            if got <= 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"process_vm_readv: {os.strerror(errno) if got < 0 else 'nothing read'}")
            done += got

    return read


def _read_child(pid: int, address: int, out: np.ndarray) -> None:
    """Copy ``out.nbytes`` bytes at ``address`` in (stopped-on-purpose) child ``pid`` into ``out``."""
    read = _process_vm_readv()
    if read is None:
        raise OSError("process_vm_readv is not available")
    if out.nbytes:
        read(pid, address, out)


def _fill_probe(out) -> None:
    out[...] = np.arange(out.size, dtype=out.dtype).reshape(out.shape)


@cache
def _transfer() -> str:
    """How a forked child hands its result back here: ``"read"`` or ``"shared"``.

    ``"read"``: the child keeps the result in its own memory and this process copies it out
    with ``process_vm_readv`` — one copy at memory speed. ``"shared"``: the child writes it
    into an anonymous shared mapping, no copy but its pages are shared memory (``shmem``),
    which costs far more to fault in than private memory (on a 2-core VM, 64 MiB: ~200 ms
    against ~20 ms), without transparent huge pages. ``"read"`` needs the right to read a
    child's memory (``ptrace`` rules: Yama's ``ptrace_scope`` ≤ 1, no seccomp filter against
    it), which is tried once, here, on a tiny result.
    """
    if _process_vm_readv() is None:
        return "shared"
    try:
        limits = _Limits(64 << 20, 30.0, 30.0)
        out = _run_forked(_fill_probe, (), (64,), np.dtype(np.uint16), "probe", limits, Nc3dError, (), "read")
    except (Nc3dError, OSError):
        return "shared"
    return "read" if np.array_equal(out, np.arange(64)) else "shared"


def _tail(fd: int) -> str:
    """The last line(s) the child wrote to stdout/stderr, as one short line of text."""
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - _STDERR_TAIL), os.SEEK_SET)
        data = os.read(fd, _STDERR_TAIL)
    except OSError:
        return ""
    lines = [" ".join(line.split()) for line in data.decode("utf-8", "replace").splitlines()]
    return " / ".join(line for line in lines if line)[-300:]


def _signal_text(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
    describe = {
        "SIGSEGV": "crashed",
        "SIGBUS": "crashed",
        "SIGILL": "crashed",
        "SIGFPE": "crashed",
        "SIGABRT": "aborted",
        "SIGXCPU": "ran out of its CPU time limit",
        "SIGXFSZ": "wrote more output than allowed",
        "SIGKILL": "was killed (by the system: out of memory?)",
    }
    return f"{describe.get(name, 'was killed')} ({name})"


def _failure(what, error, limits: _Limits, *, sig=None, code=None, timed_out=False, message="", said=""):
    memory = limits.memory
    if timed_out:
        text = f"{what} did not finish within {limits.timeout:g} s (stopped)"
    elif sig is not None:
        text = f"{what} {_signal_text(sig)}"
        if sig == getattr(signal, "SIGXCPU", None):
            text += f" ({limits.cpu:g} s)"
    elif code == _RAISED:
        text = f"{what} failed: {message or 'no message'}"
    elif code == _NO_MEMORY:
        text = f"{what} ran out of its memory limit ({memory / 2**20:.0f} MiB): {message}"
    else:
        text = f"{what} ended its process (exit code {code}) without a result"
    if said and not timed_out:
        text += f"; it said: {said}"
        if "bad_alloc" in said:
            text += f" (its memory limit: {memory / 2**20:.0f} MiB)"
    return error(text)


def _run_forked(func, args, shape, dtype, what, limits: _Limits, error, hold, transfer=None) -> np.ndarray:
    transfer = transfer or _transfer()
    nbytes = math.prod(shape) * dtype.itemsize
    shared = None
    if transfer == "shared":
        shared = mmap.mmap(-1, max(nbytes, 1))  # anonymous, MAP_SHARED: the child's writes are seen here
    else:
        limits = _Limits(limits.memory + nbytes, limits.timeout, limits.cpu)  # it holds the result
    status = mmap.mmap(-1, _MESSAGE_BYTES)
    if hasattr(os, "memfd_create"):
        stdio = os.memfd_create("nc3d-isolated", os.MFD_CLOEXEC)
    else:  # pragma: no cover - Linux before 3.17
        import tempfile

        stdio = os.dup(tempfile.TemporaryFile().fileno())
    ready, ready_child = os.pipe()
    _prctl()  # resolved here, not in the child
    parent = os.getpid()
    pid = None
    try:
        with ExitStack() as held:
            for lock in hold:
                held.enter_context(lock)
            with warnings.catch_warnings():
                # Python ≥ 3.12 warns when a process with threads forks; see the module docstring
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
                os.close(ready)
                child_args = (shared, status, stdio, ready_child, limits.memory, limits.cpu, parent)
                _forked_child(func, args, shape, dtype, *child_args)
        os.close(ready_child)
        ready_child = -1
        outcome, result = _wait(pid, ready, limits.timeout)
        if outcome == "ready":
            address, size = struct.unpack("<QQ", result)
            if size != nbytes:
                raise error(f"{what} sent back {size} bytes instead of {nbytes}")
            out = np.empty(shape, dtype)
            try:
                _read_child(pid, address, out)
            except OSError as exc:
                raise error(f"{what}: could not read its result ({exc})") from None
            return out
        if outcome == "timeout":
            raise _failure(what, error, limits, timed_out=True)
        pid = None  # reaped
        if outcome == "lost":
            raise error(f"{what} ended without a result, its exit status lost (is SIGCHLD ignored?)")
        if os.WIFSIGNALED(result):
            raise _failure(what, error, limits, sig=os.WTERMSIG(result), said=_tail(stdio))
        code = os.WEXITSTATUS(result)
        if code == _OK and shared is not None:
            return np.frombuffer(shared, dtype=dtype, count=math.prod(shape)).reshape(shape)
        (length,) = struct.unpack("<I", status[:4])
        message = status[4 : 4 + min(length, _MESSAGE_BYTES - 4)].decode("utf-8", "replace")
        raise _failure(what, error, limits, code=code, message=message, said=_tail(stdio))
    finally:
        if pid is not None:  # done with it, timed out, or interrupted: no child left behind
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        for fd in (stdio, ready, ready_child):
            if fd >= 0:
                os.close(fd)
        status.close()


def _run_spawned(func, args, shape, dtype, what, limits: _Limits, error, preload=()) -> np.ndarray:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    nbytes = math.prod(shape) * dtype.itemsize
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_spawned_child,
        args=(func, args, shape, dtype.str, limits.memory, limits.cpu, send, preload),
        name=what,
    )
    try:
        child.start()
        send.close()
        message, timed_out = None, False
        if receive.poll(limits.timeout + SPAWN_STARTUP):  # a message, or the end of the pipe (it died)
            try:
                message = receive.recv_bytes(maxlength=max(nbytes + 1, _MESSAGE_BYTES))
            except (EOFError, OSError):  # died before or while sending; too long a message
                message = None
        else:
            timed_out = True
        child.join(0.1 if timed_out else 10.0)
        if child.exitcode is None:
            child.kill()
            child.join()
        if message and message[0] == _OK and len(message) == nbytes + 1:
            return np.frombuffer(message, dtype=dtype, offset=1).reshape(shape).copy()
        if timed_out:
            raise _failure(what, error, limits, timed_out=True)
        if message and message[0] in (_RAISED, _NO_MEMORY):
            text = message[1:].decode("utf-8", "replace")
            raise _failure(what, error, limits, code=message[0], message=text)
        code = child.exitcode
        if code is not None and code < 0:
            raise _failure(what, error, limits, sig=-code)
        raise _failure(what, error, limits, code=code)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        receive.close()
