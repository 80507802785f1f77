"""Open HTML reports in headless Firefox (Debian's firefox-esr) over WebDriver BiDi.

Firefox speaks BiDi on a local WebSocket (``--remote-debugging-port``), so no driver
binary and no browser download is needed; a minimal WebSocket client (stdlib only)
sends the commands. Only 127.0.0.1 is contacted. Where firefox-esr is missing outside
CI the tests are skipped saying so; under CI (``$CI`` set, ``.ci/run`` installs it)
they fail instead.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

FIREFOX = Path(os.environ.get("TFTRACE_FIREFOX", "/usr/bin/firefox-esr"))
#: Nothing that talks to the network on its own (on top of the preferences Firefox's
#: remote agent sets for automation, which already point remote settings nowhere).
PREFS = {"app.update.enabled": False, "toolkit.telemetry.enabled": False,
         "datareporting.policy.dataSubmissionEnabled": False,
         "browser.safebrowsing.malware.enabled": False, "browser.safebrowsing.phishing.enabled": False,
         "network.captive-portal-service.enabled": False, "network.connectivity-service.enabled": False,
         "app.normandy.enabled": False, "browser.shell.checkDefaultBrowser": False,
         "extensions.update.enabled": False, "network.dns.disablePrefetch": True,
         "network.prefetch-next": False}


class WebSocket:
    """A minimal RFC 6455 client: text messages, unfragmented sends, pings answered."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode("ascii"))
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head[:200]!r}")
        self.buffer = bytearray(rest)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("WebSocket closed")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def send(self, text: str, opcode: int = 0x1) -> None:
        payload = text.encode("utf-8")
        n, mask = len(payload), os.urandom(4)
        header = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                           bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                           bytes([0x80 | 127]) + struct.pack(">Q", n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        message = bytearray()
        while True:
            first, second = self._take(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._take(8))[0]
            mask = self._take(4) if second & 0x80 else None
            data = self._take(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("WebSocket closed by the browser")
            if opcode == 0x9:
                self.send(data.decode("latin-1"), opcode=0xA)
                continue
            message += data
            if first & 0x80:
                return message.decode("utf-8")

    def close(self) -> None:
        self.sock.close()


class Firefox:
    """One headless Firefox on a new, empty profile; one tab driven over BiDi."""

    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="tftrace-firefox-")
        Path(self._profile.name, "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items()))
        self.proc = subprocess.Popen(
            [str(FIREFOX), "--headless", "--no-remote", "--profile", self._profile.name,
             "--remote-debugging-port", "0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        port = self._port()
        threading.Thread(target=self._drain, daemon=True).start()
        self.ws = WebSocket(port, "/session")
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.command("session.new", {"capabilities": {}})
        self.command("session.subscribe", {"events": ["log.entryAdded", "network.beforeRequestSent"]})
        self.context = self.command("browsingContext.getTree", {})["contexts"][0]["context"]
        self.url = ""

    def _port(self) -> int:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            self.stderr.append(line)
            found = re.search(r"WebDriver BiDi listening on ws://127\.0\.0\.1:(\d+)", line)
            if found:
                return int(found.group(1))
        raise RuntimeError("firefox did not start WebDriver BiDi:\n" + "".join(self.stderr[-20:]))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def command(self, method: str, params: dict[str, Any]) -> Any:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self._id:
                if message.get("type") == "error":
                    raise RuntimeError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]
            if message.get("type") == "event":
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited), through JSON."""
        result = self.command("script.evaluate", {
            "expression": f"(async () => JSON.stringify(await ({expression})))()",
            "target": {"context": self.context}, "awaitPromise": True})
        if result["type"] != "success":
            raise RuntimeError(f"{expression}: {result.get('exceptionDetails', {}).get('text')}")
        value = result["result"].get("value")
        return None if value is None else json.loads(value)

    def open(self, path: Path) -> None:
        self.events.clear()
        self.url = path.resolve().as_uri()
        self.command("browsingContext.navigate", {"context": self.context, "url": self.url,
                                                  "wait": "complete"})
        deadline = time.monotonic() + 60
        while not self.evaluate("window.tftraceReport !== undefined && window.tftraceReport.ready"):
            if time.monotonic() > deadline:
                raise TimeoutError("the report did not finish drawing in 60 s")
            time.sleep(0.1)

    @property
    def logged(self) -> list[str]:
        return [f"{e['params'].get('level')}: {e['params'].get('text')}" for e in self.events
                if e["method"] == "log.entryAdded"]

    @property
    def requests(self) -> list[str]:
        """URLs the page asked for, other than itself and in-memory ``data:`` URLs (Firefox
        loads a font of its own as one)."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "network.beforeRequestSent"
                and e["params"].get("context") == self.context
                and e["params"]["request"]["url"] != self.url
                and not e["params"]["request"]["url"].startswith("data:")]

    def screenshot(self) -> bytes:
        data = self.command("browsingContext.captureScreenshot",
                            {"context": self.context, "origin": "document"})["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        try:
            self.command("browser.close", {})
        except (ConnectionError, OSError, RuntimeError):
            pass
        self.ws.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._profile.cleanup()


def firefox() -> Iterator[Firefox]:
    if not FIREFOX.is_file():
        reason = (f"no Firefox: {FIREFOX} not found; install Debian's firefox-esr "
                  f"(apt-get install firefox-esr; .ci/run does) or set TFTRACE_FIREFOX")
        if os.environ.get("CI"):
            pytest.fail(f"Firefox tests cannot run under CI: {reason}")
        pytest.skip(reason)
    browser = Firefox()
    try:
        yield browser
    finally:
        browser.close()
