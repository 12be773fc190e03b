"""`memtide transform speedscope` checked by speedscope itself: the export
of a real capture is validated against the file-format schema speedscope
publishes, then loaded into the speedscope app (the npm package pinned in
web/package.json, served on loopback) in headless Chromium, which must
import it without an error and show the profile with its frames."""
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from mt_fixtures import browser, page  # noqa: E402,F401

REPO = HERE.parent.parent
MEMTIDE = Path(os.environ.get("MEMTIDE_BIN", REPO / "build" / "bin" / "memtide"))
SPEEDSCOPE = REPO / "web" / "node_modules" / "speedscope" / "dist" / "release"

# two sites with known sizes live at the peak, one of them in a thread
SCRIPT = """
import threading

def hold_ten():
    return bytearray(10 * 1024 * 1024)

def hold_twenty():
    return bytearray(20 * 1024 * 1024)

kept = []
t = threading.Thread(target=lambda: kept.append(hold_twenty()), name="loader")
t.start(); t.join()
kept.append(hold_ten())
print("done")
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    if not SPEEDSCOPE.is_dir():
        pytest.fail("speedscope is not installed: run tests/html/setup.sh")
    d = tmp_path_factory.mktemp("speedscope")
    for f in SPEEDSCOPE.iterdir():
        (d / f.name).symlink_to(f)
    (d / "two.py").write_text(SCRIPT)
    run = subprocess.run([str(MEMTIDE), "run", "-q", "-o", str(d / "two.tide"), str(d / "two.py")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "done\n", run.stderr
    res = subprocess.run([str(MEMTIDE), "transform", "speedscope", "-o", str(d / "two.json"),
                          str(d / "two.tide")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return d


@pytest.fixture(scope="module")
def server(export):
    handler = functools.partial(QuietHandler, directory=str(export))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_export_matches_speedscope_schema(export):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SPEEDSCOPE / "file-format-schema.json").read_text())
    doc = json.loads((export / "two.json").read_text())
    jsonschema.validate(doc, schema)
    frames = [f["name"] for f in doc["shared"]["frames"]]
    weights = {}
    for prof in doc["profiles"]:
        for s, w in zip(prof["samples"], prof["weights"]):
            assert s, "a sample without frames"
            weights[frames[s[-1]]] = weights.get(frames[s[-1]], 0) + w
    # bytearray(n) asks the allocator for n + 1 bytes
    assert weights.get("hold_ten") == 10 * 1024 * 1024 + 1, weights
    assert weights.get("hold_twenty") == 20 * 1024 * 1024 + 1, weights


def test_speedscope_app_loads_export(server, page, tmp_path):
    # the sandwich view lists every frame with its total in a table
    page.goto(f"{server}/index.html#profileURL={server}/two.json&view=sandwich",
              ready="document.readyState === 'complete'")
    # speedscope names the tab after the profile once it has imported it
    page.wait_for("document.title.indexOf('two.py') >= 0", timeout=30)
    page.wait_for("document.body.innerText.indexOf('hold_twenty') >= 0", timeout=30)
    text = page.eval("document.body.innerText")
    page.screenshot(str(tmp_path / "speedscope.png"))
    assert "hold_ten" in text and "hold_twenty" in text, text
    assert "Something went wrong" not in text and "Unrecognized format" not in text, text
    assert page.alerts() == [], page.alerts()
    assert not [e for e in page.errors() if "favicon" not in e], page.errors()
