"""A headless Chromium driven over the DevTools protocol, with nothing but the standard library.

Used by the tests and the benchmark of ``nc3d view`` pages: open a page, wait until it says it is
ready, collect what it logged, take screenshots and measurements.

How: Chromium is started with ``--remote-debugging-pipe``, which makes it read DevTools
commands from file descriptor 3 and write replies and events to descriptor 4, each message a
JSON object ended by a NUL byte (the transport Puppeteer uses). No WebSocket client, no
browser-automation package: two pipes and :mod:`json`. WebGL runs on SwiftShader (ANGLE's CPU
Vulkan device), so no GPU is needed. Every console message, uncaught exception and browser log
entry is recorded (:attr:`Page.messages`) so that a test can say "no console errors".

>>> with Browser() as browser:                      # doctest: +SKIP
...     page = browser.open("file:///tmp/view.html", width=1200, height=800)
...     page.wait_for("window.nc3dView && nc3dView.status.state !== 'loading'")
...     png = page.screenshot()
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Nc3dError

__all__ = ["Browser", "BrowserError", "Page", "find_chromium", "CHROMIUM_NAMES"]

#: Executables tried, in order, when ``NC3D_CHROMIUM`` is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class BrowserError(Nc3dError):
    """Chromium could not be started, did not answer, or a DevTools command failed."""


def find_chromium() -> str | None:
    """Path of a Chromium executable: ``$NC3D_CHROMIUM`` or the first of :data:`CHROMIUM_NAMES`
    on ``PATH``; ``None`` when there is none."""
    env = os.environ.get("NC3D_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Message:
    """Something the page or the browser logged.

    Attributes
    ----------
    level : str
        ``"error"``, ``"warning"``, ``"info"``, ``"log"``, ``"debug"`` …
    source : str
        ``"console"`` (console.* calls), ``"exception"`` (uncaught) or ``"log"`` (the browser's
        own entries: failed loads, security, WebGL warnings).
    text : str
    """

    level: str
    source: str
    text: str


@dataclass
class Page:
    """One tab of a :class:`Browser` (a flattened DevTools session)."""

    browser: Browser
    session: str
    target: str
    messages: list[Message] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def send(self, method: str, params: dict | None = None, *, timeout: float = 60.0) -> dict:
        """One DevTools command in this tab's session; its ``result`` (:class:`BrowserError` on error)."""
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def navigate(self, url: str, *, timeout: float = 60.0) -> None:
        """Go to ``url`` and wait for its ``load`` event."""
        self.browser.clear_events(self.session, "Page.loadEventFired")
        reply = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise BrowserError(f"could not open {url}: {reply['errorText']}")
        self.browser.wait_event(self.session, "Page.loadEventFired", timeout=timeout)

    def evaluate(self, expression: str, *, await_promise: bool = True, timeout: float = 60.0) -> Any:
        """Evaluate a JavaScript expression in the page and return its value (JSON-serialisable).

        Raises
        ------
        BrowserError
            The expression threw (the exception's text is in the message).
        """
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            raise BrowserError(f"the page threw: {text}")
        return reply.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 60.0, interval: float = 0.05) -> Any:
        """Poll ``expression`` until it is truthy; return its value (:class:`BrowserError` on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, timeout=timeout)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout:g} s waiting for: {expression}")
            time.sleep(interval)

    def screenshot(self) -> bytes:
        """A PNG of the viewport, as the page is now."""
        reply = self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(reply["data"])

    def metrics(self) -> dict[str, float]:
        """Chromium's performance counters for this tab (``JSHeapUsedSize`` in bytes, ``Nodes``, …)."""
        self.send("Performance.enable")
        return {m["name"]: m["value"] for m in self.send("Performance.getMetrics")["metrics"]}

    def errors(self) -> list[Message]:
        """The recorded messages of level ``error`` (console errors, uncaught exceptions, log errors)."""
        self.browser.drain()
        return [m for m in self.messages if m.level == "error"]

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


class Browser:
    """A headless Chromium process, controlled through the DevTools pipe.

    Parameters
    ----------
    executable : str, optional
        Chromium to run (default :func:`find_chromium`).
    extra_args : sequence of str
        More command-line switches.

    Use as a context manager; :meth:`close` ends the process (and removes its profile folder).
    """

    def __init__(self, executable: str | None = None, extra_args=()):
        exe = executable or find_chromium()
        if exe is None:
            raise BrowserError(f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)}; or set NC3D_CHROMIUM)")
        self._profile = tempfile.mkdtemp(prefix="nc3d-chromium-")
        args = [
            exe,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--mute-audio",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
            # WebGL without a GPU: ANGLE on SwiftShader (a CPU Vulkan device)
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--ignore-gpu-blocklist",
            *extra_args,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
        # our ends of the pipes, and the child's ends moved to descriptors above 9, so that the
        # dup2 onto 3 and 4 in the child never overwrites one of them
        cmd_read, cmd_write = os.pipe()
        res_read, res_write = os.pipe()
        child_read = fcntl.fcntl(cmd_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_write = fcntl.fcntl(res_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_read)
        os.close(res_write)

        def child_setup():  # runs in the child between fork and exec
            os.dup2(child_read, 3)
            os.dup2(child_write, 4)

        self._stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                preexec_fn=child_setup,  # only dup2: no lock is taken between fork and exec
                close_fds=False,  # our descriptors are all non-inheritable (PEP 446) but 3 and 4
            )
        except OSError as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise BrowserError(f"could not start {exe}: {exc}") from None
        finally:
            os.close(child_read)
            os.close(child_write)
        self._write = os.fdopen(cmd_write, "wb", buffering=0)
        self._read_fd = res_read
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._inbox: queue.Queue = queue.Queue()
        self._pages: dict[str, Page] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        try:
            self.version = self.send("Browser.getVersion", timeout=30.0)
        except BrowserError:
            self.close()
            raise

    # -- transport --------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._inbox.put(None)
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                if raw:
                    self._inbox.put(json.loads(raw))

    def _take(self, timeout: float) -> bool:
        """Move one message from the reader into replies/events; False on timeout."""
        try:
            msg = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return False
        if msg is None:
            raise BrowserError(f"Chromium closed the DevTools pipe: {self.stderr_tail()}")
        if "id" in msg:
            self._replies[msg["id"]] = msg
        else:
            self._record(msg)
        return True

    def drain(self) -> None:
        """Take every message that has arrived (events are recorded on their pages)."""
        while self._take(0.0):
            pass

    def _record(self, msg: dict) -> None:
        self._events.append(msg)
        page = self._pages.get(msg.get("sessionId", ""))
        if page is None:
            return
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(
                str(a.get("value", a.get("description", a.get("type", "")))) for a in params.get("args", [])
            )
            level = {"warn": "warning", "assert": "error"}.get(
                params.get("type", ""), params.get("type", "log")
            )
            page.messages.append(Message(level, "console", text))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "exception")
            page.messages.append(Message("error", "exception", text))
        elif method == "Network.requestWillBeSent":
            page.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Log.entryAdded":
            e = params.get("entry", {})
            page.messages.append(Message(e.get("level", "info"), "log", e.get("text", "")))

    def send(
        self, method: str, params: dict | None = None, *, session: str | None = None, timeout=60.0
    ) -> dict:
        """Send one DevTools command and wait for its reply's ``result``."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        msg: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        try:
            self._write.write(json.dumps(msg).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"Chromium is gone ({exc}): {self.stderr_tail()}") from None
        deadline = time.monotonic() + timeout
        while ident not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no reply to {method} within {timeout:g} s")
            self._take(min(left, 0.5))
        reply = self._replies.pop(ident)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def clear_events(self, session: str, method: str) -> None:
        self.drain()
        self._events = [
            e for e in self._events if not (e.get("sessionId") == session and e.get("method") == method)
        ]

    def wait_event(self, session: str, method: str, *, timeout: float = 60.0) -> dict:
        """Wait for an event of ``method`` in ``session`` (one already received counts) and consume it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self._events):
                if e.get("sessionId") == session and e.get("method") == method:
                    del self._events[i]
                    return e.get("params", {})
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"timed out after {timeout:g} s waiting for {method}")
            self._take(min(left, 0.5))

    def stderr_tail(self, n: int = 2000) -> str:
        """The last ``n`` characters Chromium wrote on stderr."""
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace")[-n:]
        except (OSError, ValueError):
            return ""

    def process_memory(self) -> dict[str, int]:
        """Memory (bytes) of this Chromium's processes, summed by type (``browser``, ``renderer``,
        ``gpu-process``, ``utility``, …): the proportional set size (``Pss``: shared pages divided
        among their users, so that a sum means something), else the resident size, read from
        ``/proc`` (Linux; ``{}`` elsewhere)."""
        proc = Path("/proc")
        if not proc.is_dir():
            return {}
        parent: dict[int, int] = {}
        for d in proc.iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                    parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        ours, grew = {self.process.pid}, True
        while grew:
            more = {pid for pid, pp in parent.items() if pp in ours and pid not in ours}
            ours |= more
            grew = bool(more)
        out: dict[str, int] = {}
        for pid in ours:
            try:
                # a forked child rewrites its title: arguments joined by spaces, not NULs
                raw = (proc / str(pid) / "cmdline").read_bytes()
                cmd = raw.replace(b"\0", b" ").decode("utf-8", "replace")
                try:
                    status = (proc / str(pid) / "smaps_rollup").read_text()
                except OSError:
                    status = (proc / str(pid) / "status").read_text()
            except OSError:
                continue
            found = re.search(r"--type=(\S+)", cmd)
            kind = found.group(1) if found else "browser"
            sizes = [
                int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith(("Pss:", "VmRSS:"))
            ]
            out[kind] = out.get(kind, 0) + (sizes[0] if sizes else 0)
        return out

    # -- pages -------------------------------------------------------------------------------------
    def open(
        self,
        url: str | None = None,
        *,
        width: int = 1200,
        height: int = 800,
        offline: bool = True,
        timeout: float = 60.0,
    ) -> Page:
        """A new tab of ``width`` × ``height`` CSS pixels (device scale 1), logging enabled; at
        ``url`` (waiting for its load event) when given.

        Every request the tab makes is recorded (:attr:`Page.requests`, ``data:`` and ``blob:``
        URLs included); with ``offline``, ``http(s)``/``ws(s)`` requests are blocked.
        """
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        self._pages[session] = page
        for method in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            page.send(method)
        if offline:
            page.send("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        if url is not None:
            page.navigate(url, timeout=timeout)
        return page

    def close(self) -> None:
        """End Chromium (politely, then by force) and remove its profile folder."""
        proc = getattr(self, "process", None)
        if proc is not None and proc.poll() is None:
            try:
                self._write.write(json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for f in (getattr(self, "_write", None),):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        if getattr(self, "_read_fd", None) is not None:
            try:
                os.close(self._read_fd)
            except OSError:
                pass
            self._read_fd = None  # type: ignore[assignment]
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
