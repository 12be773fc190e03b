"""The HTML reports as memtide writes them, end to end: a Python program
with known phases runs under `memtide run`, `memtide flamegraph --temporal`
and `memtide table` write the pages, and headless Chromium opens them: no
errors, the functions in the rendered graph, a click zooms, a range chosen
on the chart redraws the graph for that range's peak, and names carrying
markup stay text.  Screenshots go to the test's tmp dir."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import mt_browser  # noqa: E402
from test_pages import LABELS, LABELS_SET, READY, chart_x, frame_rect, renders  # noqa: E402

REPO = HERE.parent.parent
MEMTIDE = Path(os.environ.get("MEMTIDE_BIN", REPO / "build" / "bin" / "memtide"))
EVIL = "</script><img src=x onerror=alert(1)>"

# first_phase holds 30 MB for 0.4 s, then second_phase holds 50 MB for 0.4 s
SCRIPT = f"""
import time

def first_phase():
    keep = bytearray(30_000_000)
    time.sleep(0.8)  # held 0.3 s or more in the timeline even if rounds stall
    return len(keep)

def second_phase():
    keep = bytearray(50_000_000)
    time.sleep(0.4)
    return len(keep)

src = "def evil():\\n    return bytearray(2_000_000)\\n"
ns = {{}}
exec(compile(src, "<b>evil</b>.py", "exec"), ns)
code = ns["evil"].__code__.replace(co_name={EVIL!r})
evil = type(ns["evil"])(code, ns)
held = evil()
first_phase()
time.sleep(0.1)
second_phase()
print("done")
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    if not mt_browser.find_chromium():
        pytest.fail("chromium is not installed: run tests/html/setup.sh")
    d = tmp_path_factory.mktemp("real")
    (d / "phases.py").write_text(SCRIPT)
    run = subprocess.run([str(MEMTIDE), "run", "-q", "-o", str(d / "p.tide"), str(d / "phases.py")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "done\n", run.stderr
    for args in (["flamegraph", "--temporal", "-o", str(d / "flame.html")],
                 ["table", "-o", str(d / "table.html")]):
        res = subprocess.run([str(MEMTIDE), *args, str(d / "p.tide")], capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stderr
    return d


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = mt_browser.Browser(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def open_flame(browser, pages):
    page = browser.new_page()
    page.goto((pages / "flame.html").as_uri(), ready=READY)
    page.wait_for(LABELS_SET)
    return page


def clean(page):
    assert page.errors() == []
    assert page.alerts() == []
    assert [u for u in page.requests() if not u.startswith(("file:", "data:", "about:"))] == []


def test_flamegraph_of_a_real_capture(browser, pages, tmp_path):
    page = open_flame(browser, pages)
    labels = " ".join(page.eval(LABELS))
    assert "second_phase" in labels           # the peak: 50 MB held
    assert "first_phase" not in labels        # freed before the peak
    assert EVIL in labels                     # as text
    # markup in names stays text: no <img> made it into the page
    assert page.eval("document.querySelectorAll('img').length") == 0
    time.sleep(0.5)
    print("screenshot:", page.screenshot(tmp_path / "real-flame.png"))

    r = frame_rect(page, "second_phase")
    assert r and r["w"] < r["svgw"] * 0.99
    page.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for("""(() => { const g = Array.from(document.querySelectorAll('#flame g.frame'))
        .find(g => (g.getAttribute('name') || '').startsWith('second_phase'));
      const w = g.querySelector('rect').getBoundingClientRect().width;
      return Math.abs(w - document.querySelector('#flame svg').getBoundingClientRect().width) < 1; })()""")
    clean(page)
    page.close()


def test_range_on_the_chart_shows_that_ranges_peak(browser, pages, tmp_path):
    doc = json.loads((pages / "flame.html").read_text().split(
        '<script type="application/json" id="memtide-data">', 1)[1].split("</script>", 1)[0])
    # the stretch of the heap series where first_phase's 30 MB were held
    # (and not yet second_phase's 50 MB): well inside the plot on both ends
    t, heap = doc["timeline"]["t"], doc["timeline"]["heap"]
    # (an idle stretch has a point at each end, docs/FORMAT.md)
    held = [i for i, h in enumerate(heap) if 30_000_000 <= h < 50_000_000]
    assert held and t[held[-1]] - t[held[0]] >= 0.3, (t, heap)
    start, span = t[held[0]], t[held[-1]] - t[held[0]]
    page = open_flame(browser, pages)
    before = renders(page)
    x0, y = chart_x(page, start + 0.2 * span)
    x1, _ = chart_x(page, start + 0.8 * span)
    page.drag(x0, y, x1, y)
    page.wait_for(f"+document.body.dataset.renders > {before}")
    page.wait_for(LABELS_SET)
    labels = " ".join(page.eval(LABELS))
    assert "first_phase" in labels and "second_phase" not in labels
    assert 30_000_000 <= page.eval("window.memtide.tree().v") < 50_000_000
    time.sleep(0.5)
    print("screenshot:", page.screenshot(tmp_path / "real-range.png"))
    clean(page)
    page.close()


def test_table_of_a_real_capture(browser, pages, tmp_path):
    page = browser.new_page()
    page.goto((pages / "table.html").as_uri(), ready=READY)
    text = page.eval("document.body.innerText")
    assert "evil" in text or EVIL in text
    assert page.eval("document.querySelectorAll('img').length") == 0
    print("screenshot:", page.screenshot(tmp_path / "real-table.png"))
    clean(page)
    page.close()
