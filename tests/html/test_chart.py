"""The flame graph page's chart in headless Chromium: where the step names
and the peak label are drawn (each name from the left edge of its own band,
elided to fit it), the hint when "native only" meets a capture without
native frames, and, end to end, a Tracker capture whose chart ends with the
heap as the Tracker left it.

The chart is a canvas: the tests record the page's fillText calls (text,
position, alignment, measured width) while uPlot redraws it.
"""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import mt_pages  # noqa: E402
from mt_fixtures import browser, page, templates  # noqa: E402,F401 (fixtures)
from test_pages import READY, assert_clean, open_page, set_control  # noqa: E402

REPO = HERE.parent.parent
MEMTIDE = Path(os.environ.get("MEMTIDE_BIN", REPO / "build" / "bin" / "memtide"))

# Records every fillText of the chart's canvas during one redraw, with the
# positions of the step bands and of the peak, in canvas pixels.
RECORD = """new Promise(done => {
  const u = window.memtide.chart(), ctx = u.ctx, calls = [];
  const orig = ctx.fillText;
  ctx.fillText = function (text, x, y) {
    calls.push({text: String(text), x: x, y: y, align: ctx.textAlign,
                width: ctx.measureText(text).width});
    return orig.apply(this, arguments);
  };
  u.redraw(false, true);  /* uPlot draws on its next commit */
  setTimeout(() => {
    ctx.fillText = orig;
    done({calls: calls, left: u.bbox.left, right: u.bbox.left + u.bbox.width,
          bands: STEPS.map(s => [u.valToPos(s.start, 'x', true), u.valToPos(s.end, 'x', true)]),
          peak: u.valToPos(PEAK, 'x', true)});
  }, 100);
})"""


def record(page, doc):
    expr = RECORD.replace("STEPS", json.dumps(doc["steps"])).replace(
        "PEAK", json.dumps(doc["meta"]["peak_time_ms"] / 1000))
    return page.eval(expr)


def steps_doc():
    doc = mt_pages.load_fixture()
    doc["temporal"] = None
    doc["steps"] = [
        {"name": "load halos", "start": 0.9, "end": 2.0},
        {"name": "power spectrum", "start": 2.0, "end": 4.2},
        {"name": "a step whose name is much too long for its own narrow band", "start": 4.2,
         "end": 4.6},
        {"name": "tiny", "start": 4.6, "end": 4.62},
        {"name": "last", "start": 4.62, "end": 5.0},
    ]
    return doc


def test_step_names_start_inside_their_own_bands(page, templates, tmp_path):
    doc = steps_doc()
    open_page(page, templates, "flamegraph", doc, tmp_path)
    got = record(page, doc)
    names = [s["name"] for s in doc["steps"]]
    texts = [c for c in got["calls"] if c["text"] and any(
        n.startswith(c["text"].rstrip("…")) for n in names)]
    drawn = {}
    for c in texts:
        assert c["align"] == "left", c
        # which band holds the label's left edge
        inside = [i for i, (x0, x1) in enumerate(got["bands"]) if x0 <= c["x"] < x1]
        assert len(inside) == 1, (c, got["bands"])
        drawn[inside[0]] = c
    for i, (x0, x1) in enumerate(got["bands"]):
        name = doc["steps"][i]["name"]
        if i == 3:  # 0.02 s wide: no room for a name
            assert i not in drawn, (drawn.get(i), x0, x1)
            continue
        c = drawn[i]
        assert c["x"] == pytest.approx(x0 + 4, abs=0.01), (c, x0)
        assert c["x"] + c["width"] <= x1 - 4 + 0.01, (c, x1)
        if i == 2:
            assert c["text"].endswith("…") and name.startswith(c["text"][:-1]), c
            assert len(c["text"]) > 5, c
        else:
            assert c["text"] == name, c
    # the first step has its name, over its own band
    assert drawn[0]["text"] == "load halos"
    assert_clean(page)


def test_peak_label_is_centred_on_the_peak(page, templates, tmp_path):
    doc = steps_doc()
    open_page(page, templates, "flamegraph", doc, tmp_path)
    got = record(page, doc)
    peak = [c for c in got["calls"] if c["text"].startswith("peak ")]
    assert [c["text"] for c in peak] == ["peak 100 MiB"], got["calls"]
    c = peak[0]
    assert c["align"] == "left"
    assert c["x"] == pytest.approx(got["peak"] - c["width"] / 2, abs=0.01), (c, got["peak"])
    assert_clean(page)


def test_native_only_without_native_frames_says_why(page, templates, tmp_path):
    doc = copy.deepcopy(mt_pages.load_fixture())
    doc["frames"] = [f[:3] + [0] + f[4:] if f else f for f in doc["frames"]]
    open_page(page, templates, "flamegraph", doc, tmp_path)
    set_control(page, "kinds", "native")
    text = page.eval("document.getElementById('flame').textContent")
    assert "This capture has no native frames: run with --native" in text, text
    set_control(page, "kinds", "py")
    assert "native frames" not in page.eval("document.getElementById('flame').textContent")
    assert_clean(page)


def test_native_only_with_native_frames_has_no_hint(page, templates, tmp_path):
    doc = mt_pages.load_fixture()
    open_page(page, templates, "flamegraph", doc, tmp_path)
    set_control(page, "kinds", "native")
    assert "run with --native" not in page.eval("document.getElementById('flame').textContent")
    assert_clean(page)


# Holds 40 MB, then frees it right before the Tracker stops: after the last
# writer round, so only the end of the capture knows.
TRACKER_SCRIPT = """
import sys
import time
sys.path.insert(0, sys.argv[2])
import memtide

kept = bytearray(1_000_000)
with memtide.Tracker(sys.argv[1]):
    big = bytearray(40_000_000)
    time.sleep(0.15)
    del big
"""


def test_tracker_chart_ends_with_the_final_heap(page, tmp_path):
    script = tmp_path / "tracked.py"
    script.write_text(TRACKER_SCRIPT)
    capture = tmp_path / "t.tide"
    pkg = REPO / "build" / "python"
    run = subprocess.run(["/usr/bin/python3", str(script), str(capture), str(pkg)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    stats = json.loads(subprocess.run([str(MEMTIDE), "stats", "--json", str(capture)],
                                      capture_output=True, timeout=120, check=True).stdout)
    out = tmp_path / "t.html"
    subprocess.run([str(MEMTIDE), "flamegraph", "-o", str(out), str(capture)],
                   capture_output=True, timeout=120, check=True)
    page.goto(out.as_uri(), ready=READY)
    data = page.eval("""(() => { const u = window.memtide.chart();
      return {t: Array.from(u.data[0]), heap: Array.from(u.data[1])}; })()""")
    assert max(data["heap"]) >= 40_000_000, data["heap"]
    assert data["heap"][-1] == stats["leaked_bytes"] < 40_000_000, (data["heap"][-3:], stats)
    assert data["t"][-1] == pytest.approx(stats["duration_ms"] / 1000, abs=0.002), data["t"][-3:]
    assert_clean(page)


def test_counts_are_pluralized(page, templates, tmp_path):
    doc = mt_pages.load_fixture()
    open_page(page, templates, "flamegraph", doc, tmp_path)
    page.eval("""(() => { const s = document.getElementById('search'); s.value = 'compute_power';
                 s.dispatchEvent(new Event('input')); })()""")
    page.wait_for("document.getElementById('details').textContent.includes('Search:')")
    details = page.eval("document.getElementById('details').textContent")
    assert "Search: 1 frame matches, " in details, details
    assert_clean(page)
