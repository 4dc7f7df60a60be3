"""The report in a real browser: every table fits its page, on a laptop screen and on A4.

Headless Chromium opens the report of the session's workflow run, once at a 1280 x 800 laptop
viewport and once with print media emulated at the width of an A4 page's printable area
(210 mm less the 12 mm margins of the report's @page rule: 186 mm, 703 CSS px). A script in
the page then measures every table: it must be no wider than its container (the table's
scrollWidth and layout width against its parent's clientWidth), the parent must not scroll
sideways, and neither may the body or the page. Tables must not be scroll containers
(`overflow-x: auto` would hide columns instead of fitting them).

Chromium is driven through the DevTools protocol over a websocket, with a small client written
on the standard library (no Python dependency for the browser). The test skips when no
chromium is installed. Set GF_EVAL_REPORT to the path of a built report to measure that one
instead of running the workflow, and GF_EVAL_SHOTS to a folder to keep the screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

LAPTOP = (1280, 800)
# A4 portrait less the report's @page margins (12 mm each side), in CSS pixels (96 per inch).
A4_CONTENT_WIDTH = round((210 - 2 * 12) / 25.4 * 96)
A4_HEIGHT = round(297 / 25.4 * 96)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

MEASURE = """(() => {
  const px = v => parseFloat(v) || 0;
  const name = el => {
    const s = el.closest('section[id], figure[id]');
    const h = s && s.querySelector('h3');
    return (s ? s.id : '') + (h ? ' | ' + h.textContent.trim().slice(0, 60) : '');
  };
  const tables = [...document.querySelectorAll('table')].map(t => {
    const p = t.parentElement, ps = getComputedStyle(p), ts = getComputedStyle(t);
    return {name: name(t), index: [...document.querySelectorAll('table')].indexOf(t),
            scroll: t.scrollWidth, width: t.getBoundingClientRect().width,
            parent_client: p.clientWidth,
            parent_content: p.clientWidth - px(ps.paddingLeft) - px(ps.paddingRight),
            parent_scroll: p.scrollWidth, display: ts.display, overflow_x: ts.overflowX,
            right: t.getBoundingClientRect().right};
  });
  const pres = [...document.querySelectorAll('pre')].map(e => ({
    name: name(e) || 'pre', scroll: e.scrollWidth, client: e.clientWidth}));
  const b = document.body, d = document.documentElement;
  return {tables, pres, body_scroll: b.scrollWidth, body_client: b.clientWidth,
          page_scroll: d.scrollWidth, viewport: window.innerWidth,
          media_print: matchMedia('print').matches,
          height: d.scrollHeight};
})()"""


def find_chromium() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, masked from the client,
    fragmented or not, with ping answered."""

    def __init__(self, url: str, timeout: float = 60):
        assert url.startswith("ws://"), url
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def _recv_exact(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(min(n - len(data), 1 << 20))
            if not chunk:
                raise ConnectionError("websocket closed")
            data += chunk
        return bytes(data)

    def send(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self) -> str:
        message = bytearray()
        while True:
            b1, b2 = self._recv_exact(2)
            n = b2 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._recv_exact(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._recv_exact(8))
            payload = self._recv_exact(n)
            opcode = b1 & 0x0F
            if opcode == 0x9:  # ping: answer with a pong
                mask = os.urandom(4)
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask
                                  + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            message += payload
            if b1 & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class Browser:
    """Headless Chromium with one page, driven through the DevTools protocol."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="gf-eval-chromium-")
        self.proc = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={self.profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        port_file = Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, script: str):
        result = self.call("Runtime.evaluate", expression=script, returnByValue=True,
                           awaitPromise=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def open(self, path: Path, width: int, height: int, media: str = "screen") -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        self.call("Emulation.setEmulatedMedia", media=media)
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + 60
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not load")
            time.sleep(0.1)
        self.evaluate("Promise.all([...document.images].map(i => i.decode().catch(() => 0)))")

    def screenshot(self, out: Path, top: float = 0, height: float | None = None) -> Path:
        """A PNG of the page from `top` (CSS px), `height` tall (the viewport by default)."""
        width = self.evaluate("document.documentElement.scrollWidth")
        height = height or self.evaluate("window.innerHeight")
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": top, "width": width, "height": height,
                               "scale": 1})  # fmt: skip
        out.write_bytes(base64.b64decode(shot["data"]))
        return out

    def top_of(self, selector: str) -> float:
        return self.evaluate(f"document.querySelector({json.dumps(selector)})"
                             ".getBoundingClientRect().top + window.scrollY")  # fmt: skip

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def overflows(measured: dict, slack: float = 1.0) -> list[str]:
    """What does not fit, in words; empty when every table, pre, the body and page fit."""
    bad = []
    for t in measured["tables"]:
        where = f"table {t['index']} ({t['name']})"
        if t["scroll"] > t["parent_client"] + slack or t["width"] > t["parent_content"] + slack:
            bad.append(f"{where}: {t['scroll']:.0f}/{t['width']:.0f} px wide in a "
                       f"{t['parent_content']:.0f} px container")
        if t["parent_scroll"] > t["parent_client"] + slack:
            bad.append(f"{where}: its container scrolls ({t['parent_scroll']} > "
                       f"{t['parent_client']} px)")
        if t["display"] == "block" or t["overflow_x"] in ("auto", "scroll"):
            bad.append(f"{where}: a scroll container ({t['display']}, {t['overflow_x']})")
    for p in measured["pres"]:
        if p["scroll"] > p["client"] + slack:
            bad.append(f"{p['name']}: preformatted text {p['scroll']} px in {p['client']} px")
    if measured["body_scroll"] > measured["body_client"] + slack:
        bad.append(f"body scrolls sideways: {measured['body_scroll']} > {measured['body_client']}")
    if measured["page_scroll"] > measured["viewport"] + slack:
        bad.append(f"page scrolls sideways: {measured['page_scroll']} > {measured['viewport']}")
    return bad


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        # CI installs Chromium and sets GF_EVAL_NEED_BROWSER, so there a missing browser fails.
        if os.environ.get("GF_EVAL_NEED_BROWSER"):
            pytest.fail("GF_EVAL_NEED_BROWSER is set but no chromium is on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium): the layout test needs a "
                    "real browser")  # fmt: skip
    b = Browser(executable)
    yield b
    b.close()


@pytest.fixture(scope="module")
def report(request) -> Path:
    given = os.environ.get("GF_EVAL_REPORT")
    if given:
        return Path(given)
    path, run = request.getfixturevalue("workflow_project")
    assert run.returncode == 0, run.stderr[-3000:]
    # results/<source>/report.html; results/report.html in the layout before sources
    for rel in ("results/synthetic/report.html", "results/report.html"):
        if (path / rel).is_file():
            return path / rel
    raise AssertionError(f"no report under {path}/results")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    given = os.environ.get("GF_EVAL_SHOTS")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        return Path(given)
    return tmp_path_factory.mktemp("shots")


@pytest.mark.parametrize("layout", ["laptop", "a4-print"])
def test_every_table_fits_its_page(browser, report, shots, layout):
    if layout == "laptop":
        browser.open(report, *LAPTOP)
    else:
        browser.open(report, A4_CONTENT_WIDTH, A4_HEIGHT, media="print")
    measured = browser.evaluate(MEASURE)
    assert measured["media_print"] == (layout == "a4-print")
    assert len(measured["tables"]) > 40  # the whole report was measured
    # the headline table and the widest ones, kept for a reader to look at
    browser.screenshot(shots / f"{layout}-top.png", top=browser.top_of("#targets"),
                       height=LAPTOP[1])  # fmt: skip
    for name in ("a7_attrition", "a8_item_tests"):
        browser.screenshot(shots / f"{layout}-{name}.png", top=browser.top_of(f"#{name}"),
                           height=LAPTOP[1])  # fmt: skip
    assert overflows(measured) == []


def test_the_old_layout_would_have_failed_the_check(browser, tmp_path):
    """The measurement catches what it is for: a table too wide for its page, and a table
    made a scroll container (the CSS the report used to have)."""
    wide = "".join(f"<th>column_with_a_long_machine_name_{i}</th>" for i in range(20))
    page = tmp_path / "wide.html"
    page.write_text(f"<!DOCTYPE html><html><body><section><table><tr>{wide}</tr></table>"
                    "</section><section><table style='display:block;overflow-x:auto'>"
                    f"<tr>{wide}</tr></table></section></body></html>", encoding="utf-8")
    browser.open(page, *LAPTOP)
    problems = overflows(browser.evaluate(MEASURE))
    assert any("table 0" in p and "container" in p for p in problems), problems
    assert any("table 1" in p and "scroll container" in p for p in problems), problems
