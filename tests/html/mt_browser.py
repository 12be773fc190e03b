"""Headless Chromium driven over the Chrome DevTools Protocol, stdlib only.

Browser(tmpdir) starts Debian's /usr/bin/chromium with a fresh profile and
--remote-debugging-port=0, reads the port from DevToolsActivePort and talks
CDP over a minimal websocket client (RFC 6455 text frames, client masking,
fragmentation, ping/pong).  Pages are attached with flat sessions.

    with Browser(tmp) as b:
        p = b.new_page()
        p.goto("file:///x.html", ready="document.body.dataset.ready === '1'")
        p.eval("document.title")
        p.click(100, 200); p.drag(10, 50, 300, 50)
        p.screenshot("/tmp/x.png")
        p.errors()      # console errors, exceptions, failed loads, CSP refusals
        p.requests()    # URLs the page asked for
        p.alerts()      # alert/confirm/prompt calls and dialogs
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
    "--remote-debugging-port=0",
)

# Runs before any page script: records alert/confirm/prompt instead of
# blocking on a dialog, and image loads (an injected <img onerror> would
# show up here even if the page's CSP refused the handler).
INIT_SCRIPT = r"""
(() => {
  window.__alerts = [];
  for (const k of ['alert', 'confirm', 'prompt', 'print']) {
    window[k] = function (m) { window.__alerts.push(k + ':' + String(m)); };
  }
})();
"""


def find_chromium():
    for c in (os.environ.get("CHROMIUM"),) + CHROMIUM_CANDIDATES:
        if c and os.access(c, os.X_OK):
            return c
    return shutil.which("chromium")


class CDPError(Exception):
    pass


class WebSocket:
    def __init__(self, url, timeout=60):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("websocket handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise CDPError("websocket handshake refused: " + lines[0])
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        if headers.get("sec-websocket-accept") != want:
            raise CDPError("websocket handshake: bad Sec-WebSocket-Accept")

    def _frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        masked = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
        self.sock.sendall(head + mask + masked)

    def send(self, text):
        self._frame(0x1, text.encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise CDPError("websocket closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv(self):
        parts = []
        while True:
            b0, b1 = self._read(2)
            fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            if opcode == 0x9:          # ping
                self._frame(0xA, payload)
                continue
            if opcode == 0xA:          # pong
                continue
            if opcode == 0x8:
                raise CDPError("websocket closed by the browser")
            parts.append(payload)
            if fin:
                return b"".join(parts).decode("utf-8")

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    def __init__(self, tmpdir=None, timeout=30):
        exe = find_chromium()
        if not exe:
            raise CDPError("chromium not found: run tests/html/setup.sh (apt-get install chromium)")
        self.dir = Path(tmpdir or tempfile.mkdtemp(prefix="mt-chromium-"))
        self.profile = self.dir / "profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        port_file = self.profile / "DevToolsActivePort"
        if port_file.exists():
            port_file.unlink()      # left by an earlier run of the same profile
        self.log = open(self.dir / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if port_file.exists():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise CDPError("chromium did not start; see " + str(self.dir / "chromium.log"))
            time.sleep(0.05)
        self.next_id = 0
        self.pages = {}
        try:
            self.ws = WebSocket(f"ws://127.0.0.1:{lines[0]}{lines[1]}")
        except (OSError, CDPError):
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _dispatch(self, msg):
        page = self.pages.get(msg.get("sessionId"))
        if page is not None:
            page._event(msg)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        return self.next_id

    def call(self, method, params=None, session=None, timeout=60):
        mid = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"{method}: no answer in {timeout} s")
            self.ws.settimeout(left)
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._dispatch(msg)

    def new_page(self, width=1400, height=1000):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        self.pages[session] = page
        page._setup(width, height)
        return page

    def close(self):
        ws = getattr(self, "ws", None)
        if ws:
            try:
                self.send("Browser.close")
            except (OSError, CDPError):
                pass
            ws.close()
            self.ws = None
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        # The browser's helpers are in the session it leads: end them too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait()
        self.log.close()


class Page:
    def __init__(self, browser, target, session):
        self.b, self.target, self.session = browser, target, session
        self.console = []      # (type, text)
        self.exceptions = []
        self.log_errors = []
        self.urls = []
        self.dialogs = []

    def call(self, method, params=None, timeout=60):
        return self.b.call(method, params, self.session, timeout)

    def _setup(self, width, height):
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": INIT_SCRIPT})

    def _event(self, msg):
        m, p = msg["method"], msg.get("params", {})
        if m == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console.append((p.get("type"), text))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif m == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") == "error":
                self.log_errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip())
        elif m == "Network.requestWillBeSent":
            self.urls.append(p.get("request", {}).get("url", ""))
        elif m == "Page.javascriptDialogOpening":
            self.dialogs.append(p.get("message", ""))
            self.b.send("Page.handleJavaScriptDialog", {"accept": False}, self.session)

    def errors(self):
        out = [f"console.{t}: {x}" for t, x in self.console if t in ("error", "assert")]
        return out + [f"exception: {x}" for x in self.exceptions] + [f"log: {x}" for x in self.log_errors]

    def requests(self):
        return list(self.urls)

    def alerts(self):
        calls = self.eval("window.__alerts || []")
        return list(calls) + [f"dialog: {d}" for d in self.dialogs]

    def eval(self, expr, timeout=60):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("JS: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout=20, interval=0.05):
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for: {expr}")
            time.sleep(interval)

    def goto(self, url, ready=None, timeout=30):
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout)
        if ready:
            self.wait_for(ready, timeout)

    def _mouse(self, kind, x, y, buttons=0, button="none", clicks=0):
        self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": button,
                                               "buttons": buttons, "clickCount": clicks})

    def move(self, x, y):
        self._mouse("mouseMoved", x, y)

    def click(self, x, y):
        self._mouse("mouseMoved", x, y)
        self._mouse("mousePressed", x, y, 1, "left", 1)
        self._mouse("mouseReleased", x, y, 0, "left", 1)

    def drag(self, x0, y0, x1, y1, steps=8):
        self._mouse("mouseMoved", x0, y0)
        self._mouse("mousePressed", x0, y0, 1, "left", 1)
        for i in range(1, steps + 1):
            self._mouse("mouseMoved", x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps, 1, "left")
        self._mouse("mouseReleased", x1, y1, 0, "left", 1)

    def screenshot(self, path):
        m = self.call("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1}
        r = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        Path(path).write_bytes(base64.b64decode(r["data"]))
        return path

    def close(self):
        try:
            self.b.call("Target.closeTarget", {"targetId": self.target})
        except CDPError:
            pass
        self.b.pages.pop(self.session, None)
