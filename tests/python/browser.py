"""Headless Chromium for the browser tests, driven over the DevTools protocol without network.

Chromium is Debian's `chromium` package; `scripts/ensure_chromium.sh` installs it when it is
not on PATH. It is driven through `--remote-debugging-pipe`: the DevTools protocol as
NUL-terminated JSON messages on file descriptors 3 (commands in) and 4 (replies and events
out), the transport Playwright and Puppeteer use. No TCP port is opened, no websocket or
browser-automation package is needed (standard library only), and nothing is downloaded.

Every page records console errors, uncaught exceptions, browser log errors and the URL of
every request it makes, so a test can assert that a page is clean and fully self-contained.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = REPO / "scripts" / "ensure_chromium.sh"

_cached_executable: str | None = None


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def chromium_executable() -> str:
    """Path of chromium, installed by scripts/ensure_chromium.sh when absent. Without a
    browser the test is skipped locally and fails under CI=true (CI never skips it)."""
    global _cached_executable
    if _cached_executable:
        return _cached_executable
    found = shutil.which("chromium")
    if not found:
        result = subprocess.run(
            ["bash", str(ENSURE_SCRIPT)], capture_output=True, text=True, timeout=900
        )
        found = shutil.which("chromium")
        if result.returncode != 0 or not found:
            message = (
                f"chromium is not available and {ENSURE_SCRIPT.name} could not install it "
                f"(exit {result.returncode}):\n{result.stderr[-3000:]}"
            )
            if _is_ci():
                pytest.fail(message)
            pytest.skip(message)
    _cached_executable = found
    return found


class BrowserError(RuntimeError):
    pass


@dataclass
class Page:
    """One tab, attached in flattened session mode."""

    browser: Browser
    session_id: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        return self.browser.send(method, params, session_id=self.session_id, timeout=timeout)

    def goto(self, url: str, timeout: float = 60) -> None:
        """Navigate and wait for the load event."""
        mark = self.browser.event_count()
        reply = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {reply['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session_id, mark, timeout)

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """Value of a JavaScript expression (promises are awaited; JSON-serialisable only)."""
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"evaluate failed: {text}\n{expression}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, interval: float = 0.2) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout}s waiting for: {expression}")
            time.sleep(interval)

    def screenshot(self, path: Path) -> Path:
        """PNG of the whole page (beyond the viewport) at path."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": max(1, min(size["width"], 4000)),
            "height": max(1, min(size["height"], 16000)),
            "scale": 1,
        }
        reply = self.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
            timeout=60,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(reply["data"]))
        return path

    def non_local_requests(self) -> list[str]:
        """Requested URLs that would need the network (anything but file: and data:)."""
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]


class Browser:
    """A headless Chromium process; use as a context manager."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self._profile = tempfile.mkdtemp(prefix="lpa-chromium-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # The child needs the pipes as fds 3 and 4 exactly. Move them above 10 first so the
        # dup2 calls in the child cannot overwrite one another.
        import fcntl

        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire_fds() -> None:  # runs in the child before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",  # runs as root here and in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--metrics-recording-only",
            "--mute-audio",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
            # Fail any DNS lookup: a page that needs the network shows it at once.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--window-size={width},{height}",
            f"--user-data-dir={self._profile}",
            "about:blank",
        ]
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            close_fds=False,  # fds 3 and 4 must survive exec; Python's own fds are CLOEXEC
            preexec_fn=wire_fds,
        )
        os.close(child_in)
        os.close(child_out)
        self._write = os.fdopen(to_browser_w, "wb", buffering=0)
        self._read = os.fdopen(from_browser_r, "rb", buffering=0)
        self._lock = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._pages: dict[str, Page] = {}
        self._next_id = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.version = self.send("Browser.getVersion", timeout=60)

    # ------------------------------------------------------------ transport

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._read.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._closed = True
                    self._lock.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict) -> None:
        with self._lock:
            if "id" in message:
                self._replies[message["id"]] = message
            else:
                self._events.append(message)
                self._record(message)
            self._lock.notify_all()

    def _record(self, event: dict) -> None:
        page = self._pages.get(event.get("sessionId", ""))
        if page is None:
            return
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
            )
            page.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            page.console_errors.append(f"uncaught exception: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            page.console_errors.append(
                f"log {entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
            )
        elif method == "Network.requestWillBeSent":
            page.requests.append(params.get("request", {}).get("url", ""))

    def send(
        self,
        method: str,
        params: dict | None = None,
        session_id: str | None = None,
        timeout: float = 30,
    ) -> dict:
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self._write.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while message_id not in self._replies:
                if self._closed:
                    raise BrowserError(f"chromium exited during {method}: {self.stderr_tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrowserError(f"no reply to {method} within {timeout}s")
                self._lock.wait(remaining)
            reply = self._replies.pop(message_id)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def event_count(self) -> int:
        with self._lock:
            return len(self._events)

    def wait_event(self, method: str, session_id: str, after: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for event in self._events[after:]:
                    if event["method"] == method and event.get("sessionId") == session_id:
                        return event
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise BrowserError(f"no {method} event within {timeout}s")
                self._lock.wait(remaining)

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    # ------------------------------------------------------------ pages

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session_id] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def close(self) -> None:
        try:
            if not self._closed:
                self.send("Browser.close", timeout=10)
        except BrowserError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        for handle in (self._write, self._read, self._stderr):
            try:
                handle.close()
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def launch() -> Iterator[Browser]:
    """Generator for a pytest fixture: one browser, closed afterwards."""
    browser = Browser(chromium_executable())
    try:
        yield browser
    finally:
        browser.close()


def save_screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Screenshot into the test's tmp dir, copied to target/screenshots/ for people to look at."""
    shot = page.screenshot(tmp_path / name)
    keep = REPO / "target" / "screenshots"
    try:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / name)
    except OSError:
        pass
    return shot


# ---------------------------------------------------------------- one sample build per session

_sample: dict[str, Path] = {}


def sample_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated data (200 users x 21 days) built on DuckDB once per pytest session and
    shared by the browser test modules: models and seeds only (`--exclude-resource-type test
    unit_test`), as the data tests have their own modules. Keys: raw, work, duckdb."""
    if not _sample:
        from llm_product_analytics.generate import generate

        from dbt_harness import build_duckdb

        base = tmp_path_factory.mktemp("browser_sample")
        raw = base / "raw"
        generate(out_dir=raw, users=200, days=21, seed=11)
        work = base / "work"
        duckdb_path = build_duckdb(
            raw, work, ["build", "--exclude-resource-type", "test", "unit_test"]
        )
        _sample.update(raw=raw, work=work, duckdb=duckdb_path)
    return dict(_sample)
