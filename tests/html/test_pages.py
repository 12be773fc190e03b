"""memtide's HTML reports (web/) in headless Chromium.

The pages are built by web/embed.js from the pinned npm packages, filled
with a data document (tests/html/fixtures/sample.json, or a generated large
one) as the C side fills them, and opened in Debian's chromium over the
DevTools protocol (mt_browser.py, stdlib only).  Each test checks that the
page logged no error; screenshots go to the test's tmp dir (paths printed).

Needs chromium, node and npm: tests/html/setup.sh installs them.
"""

import copy
import json
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import mt_pages  # noqa: E402
from mt_fixtures import browser, page, templates  # noqa: E402,F401 (fixtures)
from mt_pages import XSS  # noqa: E402

READY = "document.body.dataset.ready === '1'"
LABELS = "Array.from(document.querySelectorAll('#flame .d3-flame-graph-label')).map(e => e.textContent)"
# d3-flame-graph sets the labels' text at the end of a transition
LABELS_SET = "(() => { const l = document.querySelectorAll('#flame .d3-flame-graph-label');" \
             " return l.length > 0 && Array.from(l).every(e => e.textContent !== ''); })()"


@pytest.fixture
def sample():
    return mt_pages.load_fixture()


def open_page(page, templates, which, doc, tmp_path, name=None):
    out = mt_pages.render(templates[which], doc, tmp_path / (name or which + ".html"))
    page.goto(out.as_uri(), ready=READY)
    if which == "flamegraph" and doc["stacks"]:
        page.wait_for(LABELS_SET)
    return out


def shot(page, tmp_path, name):
    path = page.screenshot(tmp_path / (name + ".png"))
    print(f"screenshot: {path}")
    return path


def assert_clean(page):
    assert page.errors() == []
    assert page.alerts() == []
    # self-contained: the page asked for nothing but itself
    assert [u for u in page.requests() if not u.startswith(("file:", "data:", "about:"))] == []


def renders(page):
    return int(page.eval("document.body.dataset.renders || '0'"))


def frame_rect(page, prefix):
    """Scrolls the frame whose name starts with prefix into view; its rect and the svg's."""
    return page.eval(f"""(() => {{
      const g = Array.from(document.querySelectorAll('#flame g.frame'))
        .find(g => (g.getAttribute('name') || '').startsWith({json.dumps(prefix)}));
      if (!g) return null;
      g.scrollIntoView({{block: 'center'}});
      const r = g.querySelector('rect').getBoundingClientRect();
      const s = document.querySelector('#flame svg').getBoundingClientRect();
      return {{x: r.x, y: r.y, w: r.width, h: r.height, svgw: s.width}};
    }})()""")


def set_control(page, id_, value):
    """Sets a checkbox (bool) or select (str) and fires its change event."""
    prop = "checked" if isinstance(value, bool) else "value"
    before = renders(page)
    page.eval(f"""(() => {{ const e = document.getElementById({json.dumps(id_)});
      e.{prop} = {json.dumps(value)}; e.dispatchEvent(new Event('change')); }})()""")
    page.wait_for(f"+document.body.dataset.renders > {before}")


def tree(page):
    """The drawn tree as {name: [child names]} for the root and its children."""
    return page.eval("""(() => { const t = window.memtide.tree();
      return {total: t.v, top: (t.c || []).map(c => c.name),
              second: (t.c || []).flatMap(c => (c.c || []).map(x => x.name))}; })()""")


# ------------------------------------------------------------------ flamegraph

def test_flamegraph_shows_header_chart_and_names(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    labels = " | ".join(page.eval(LABELS))
    for name in ("compute_power", "main", "npy_alloc_cache", "PyArray_NewFromDescr_int",
                 "worker", "read_block", "ZSTD_decompressStream", "fft_plan", "<other>"):
        assert name in labels
    # load_halos had freed everything before the peak: not drawn
    assert "load_halos" not in labels
    # import machinery is hidden by default, its children glued to <module>
    assert "_find_and_load" not in labels
    meta = page.eval("document.getElementById('mt-meta').innerText")
    for text in ("python3 pipeline.py --halos 64", "4242", "3.11.2", "100 MiB at 3.40 s", "5.00 s", "1.74 GiB"):
        assert text in meta
    assert "truncated" in page.eval("document.getElementById('mt-truncated').textContent")
    notes = page.eval("document.getElementById('mt-notes').innerText")
    assert "merged into <other>" in notes and "thinned to 2,000 points" in notes
    # the chart: uPlot drew its two series
    assert page.eval("window.memtide.chart().series.map(s => s.label)") == ["time", "heap", "RSS"]
    assert page.eval("document.querySelectorAll('#chart canvas').length") == 1
    assert page.eval("window.memtide.tree().v") == sample["meta"]["peak_bytes"]
    assert page.eval("document.getElementById('licences').textContent").count("Permission") >= 2
    shot(page, tmp_path, "flamegraph")
    assert_clean(page)


def test_click_on_a_frame_zooms(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    r = frame_rect(page, "read_block")
    assert r and r["w"] < r["svgw"] * 0.5
    page.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for("""(() => { const g = Array.from(document.querySelectorAll('#flame g.frame'))
        .find(g => (g.getAttribute('name') || '').startsWith('read_block'));
      const w = g.querySelector('rect').getBoundingClientRect().width;
      return Math.abs(w - document.querySelector('#flame svg').getBoundingClientRect().width) < 1; })()""")
    assert page.eval("document.getElementById('zoom-reset').disabled") is False
    assert "Zoomed into read_block" in page.eval("document.getElementById('details').textContent")
    time.sleep(0.5)
    shot(page, tmp_path, "flamegraph-zoomed")
    page.eval("document.getElementById('zoom-reset').click()")
    page.wait_for("""(() => { const g = Array.from(document.querySelectorAll('#flame g.frame'))
        .find(g => (g.getAttribute('name') || '').startsWith('read_block'));
      return g.querySelector('rect').getBoundingClientRect().width < 200; })()""")
    assert_clean(page)


def test_tooltip_shows_function_location_bytes_count(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    r = frame_rect(page, "compute_power")
    page.move(r["x"] + 30, r["y"] + r["h"] / 2)
    page.wait_for("!document.getElementById('tip').hidden")
    tip = page.eval("document.getElementById('tip').innerText")
    assert "compute_power" in tip and "/home/ana/pipeline.py:25" in tip
    assert "87.7 MiB" in tip and "16 allocations" in tip and "Python frame" in tip
    shot(page, tmp_path, "flamegraph-tooltip")
    assert_clean(page)


def test_search_highlights_matches(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    page.eval("""(() => { const s = document.getElementById('search'); s.value = 'NPY_alloc';
                 s.dispatchEvent(new Event('input')); })()""")
    page.wait_for("document.getElementById('details').textContent.includes('Search:')")
    assert "2 frames match" in page.eval("document.getElementById('details').textContent")
    page.wait_for("""Array.from(document.querySelectorAll('#flame g.frame rect'))
                     .filter(r => r.getAttribute('fill') === '#e0218a').length === 2""")
    # a term that is not a valid regular expression is still fine
    page.eval("""(() => { const s = document.getElementById('search'); s.value = '(['; 
                 s.dispatchEvent(new Event('input')); })()""")
    page.wait_for("document.getElementById('details').textContent.includes('0 frames match')")
    assert_clean(page)


def test_filters_imports_kinds_inverted_threads(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    total = sample["meta"]["peak_bytes"]
    t = tree(page)
    assert t["top"] == ["<module> (pipeline.py:1)", "worker (pipeline.py:60)", "<other>"]

    set_control(page, "hide-imports", False)
    page.wait_for(LABELS_SET)
    assert "_find_and_load (<frozen importlib._bootstrap>:1007)" in tree(page)["second"]
    set_control(page, "hide-imports", True)

    set_control(page, "kinds", "py")
    names = page.eval("JSON.stringify(window.memtide.tree())")
    assert "compute_power" in names and "npy_alloc_cache" not in names and "ZSTD" not in names
    assert page.eval("window.memtide.tree().v") == total

    set_control(page, "kinds", "native")
    t = tree(page)
    assert t["top"] == ["PyArray_NewFromDescr_int (ctors.c:1002)", "ZSTD_decompressStream (libzstd.so.1)"]
    assert t["total"] == total   # what has no native frame stays on the root
    set_control(page, "kinds", "both")

    set_control(page, "inverted", True)
    t = tree(page)
    assert t["top"][0] == "npy_alloc_cache (alloc.c:88)"
    assert "PyArray_NewFromDescr_int (ctors.c:1002)" in t["second"]
    set_control(page, "inverted", False)

    set_control(page, "split-threads", True)
    t = tree(page)
    assert t["top"] == ["MainThread (tid 4242)", "loader (tid 4250)"]
    assert "worker (pipeline.py:60)" in t["second"]
    page.wait_for(LABELS_SET)
    page.eval("document.getElementById('orient-flame').click()")
    page.wait_for(LABELS_SET)
    time.sleep(0.5)
    shot(page, tmp_path, "flamegraph-flame-split")
    assert_clean(page)


def chart_x(page, t):
    """Viewport x of time t on the chart, and a y inside the plot."""
    return page.eval(f"""(() => {{ const u = window.memtide.chart();
      u.over.scrollIntoView({{block: 'center'}});
      const r = u.over.getBoundingClientRect();
      return [r.left + u.valToPos({t}, 'x'), r.top + r.height / 2]; }})()""")


def test_temporal_drag_selects_the_peak_of_a_range(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    assert "load_halos" not in " ".join(page.eval(LABELS))
    before = renders(page)
    x0, y = chart_x(page, 0.5)
    x1, _ = chart_x(page, 1.8)
    page.drag(x0, y, x1, y)
    page.wait_for(f"+document.body.dataset.renders > {before}")
    page.wait_for(LABELS_SET)
    # buckets (0,1] and (1,2] overlap the range; the second has the higher peak
    assert page.eval("window.memtide.state.range.bucket") == 1
    assert page.eval("window.memtide.tree().v") == sample["temporal"]["peak"][1] == 67048576
    labels = " ".join(page.eval(LABELS))
    assert "load_halos" in labels and "compute_power" not in labels
    status = page.eval("document.getElementById('range-status').textContent")
    assert "63.9 MiB" in status and "1.00 s and 2.00 s" in status
    assert "Flame graph at the peak of" in page.eval("document.getElementById('flame-title').textContent")
    time.sleep(0.5)
    shot(page, tmp_path, "flamegraph-range")

    # the last bucket: compute_power freed, only what stayed
    assert page.eval("window.memtide.selectRange(4.5, 5)") is True
    assert page.eval("window.memtide.tree().v") == sample["temporal"]["peak"][4]
    # reset returns to the whole run
    page.eval("document.getElementById('range-reset').click()")
    page.wait_for("window.memtide.state.range === null")
    assert page.eval("window.memtide.tree().v") == sample["meta"]["peak_bytes"]
    assert page.eval("document.getElementById('range-reset').hidden") is True
    assert_clean(page)


def test_temporal_reconstruction_matches_the_format(page, templates, sample, tmp_path):
    """Every stack's bytes at every bucket, against a Python replay of the live entries."""
    open_page(page, templates, "flamegraph", sample, tmp_path)
    T = sample["temporal"]
    n = len(sample["stacks"])
    state = [[0, 0] for _ in range(n)]
    for b in range(len(T["t"])):
        for s, bb, by, c in sorted(T["live"], key=lambda e: e[1]):
            if bb == b:
                state[s] = [by, c]
        got = page.eval(f"(() => {{ const x = window.memtide.stateAt({b});"
                        " return Array.from(x.bytes).map((v, i) => [v, x.count[i]]); })()")
        assert got == state
        assert sum(s[0] for s in state) == T["peak"][b]
    assert page.eval("window.memtide.pickBucket(0, 5)") == 3
    assert page.eval("window.memtide.pickBucket(2.2, 2.3)") == 2
    assert_clean(page)


def test_without_temporal_drag_zooms_the_chart_only(page, templates, sample, tmp_path):
    doc = copy.deepcopy(sample)
    doc["temporal"] = None
    doc["steps"] = []
    open_page(page, templates, "flamegraph", doc, tmp_path)
    before = renders(page)
    x0, y = chart_x(page, 1)
    x1, _ = chart_x(page, 2)
    page.drag(x0, y, x1, y)
    page.wait_for("window.memtide.chart().scales.x.max < 3")
    assert renders(page) == before
    assert_clean(page)


def test_xss_names_render_as_text(page, templates, sample, tmp_path):
    open_page(page, templates, "flamegraph", sample, tmp_path)
    assert page.eval("document.title") == sample["meta"]["title"]
    assert page.eval("document.getElementById('mt-title').textContent") == sample["meta"]["title"]
    assert XSS in page.eval("document.getElementById('mt-meta').textContent")
    assert any(l.startswith(XSS) for l in page.eval(LABELS))
    # the tooltip of that frame shows the file name as text too
    page.eval("window.memtide.selectRange(1, 1.5)")
    page.wait_for(LABELS_SET)
    time.sleep(0.3)
    r = frame_rect(page, XSS)
    page.move(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for("!document.getElementById('tip').hidden")
    assert "/tmp/</script><img src=x onerror=alert(2)>.py:3" in page.eval("document.getElementById('tip').textContent")
    page.eval("""(() => { const s = document.getElementById('search'); s.value = '<img';
                 s.dispatchEvent(new Event('input')); })()""")
    page.wait_for("document.getElementById('details').textContent.includes('Search:')")
    time.sleep(0.5)
    assert page.eval("document.querySelectorAll('img').length") == 0
    assert page.eval("document.querySelectorAll('script').length") == 3
    assert_clean(page)


def test_empty_report(page, templates, sample, tmp_path):
    doc = copy.deepcopy(sample)
    doc.update(stacks=[], temporal=None, steps=[], timeline={"t": [], "heap": [], "rss": []})
    open_page(page, templates, "flamegraph", doc, tmp_path)
    assert "No allocations" in page.eval("document.getElementById('flame').textContent")
    assert "No memory samples" in page.eval("document.getElementById('chart').textContent")
    assert_clean(page)


def test_large_flamegraph_stays_responsive(page, templates, tmp_path):
    doc = mt_pages.large_doc(50000)
    t0 = time.monotonic()
    open_page(page, templates, "flamegraph", doc, tmp_path)
    load = time.monotonic() - t0
    nodes = page.eval("window.memtide.tree().nodes")
    assert nodes > 49000
    # a click zooms, quickly
    r = page.eval("""(() => { const gs = Array.from(document.querySelectorAll('#flame g.frame'));
      const svgw = document.querySelector('#flame svg').getBoundingClientRect().width;
      const g = gs.find(g => { const w = g.querySelector('rect').getBoundingClientRect().width;
                               return w > 40 && w < svgw / 3; });
      g.scrollIntoView({block: 'center'});
      const r = g.querySelector('rect').getBoundingClientRect();
      return {x: r.x, y: r.y, w: r.width, h: r.height, name: g.getAttribute('name')}; })()""")
    t0 = time.monotonic()
    page.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for(f"""(() => {{ const g = Array.from(document.querySelectorAll('#flame g.frame'))
        .find(g => g.getAttribute('name') === {json.dumps(r['name'])});
      return Math.abs(g.querySelector('rect').getBoundingClientRect().width -
        document.querySelector('#flame svg').getBoundingClientRect().width) < 1; }})()""", timeout=10)
    zoom = time.monotonic() - t0
    time.sleep(0.5)
    shot(page, tmp_path, "flamegraph-large-zoomed")
    # rebuilding the tree from the stacks and redrawing is fast
    redraw = """(() => { const t = performance.now();
      const e = document.getElementById('%s'); e.checked = !e.checked; e.dispatchEvent(new Event('change'));
      return performance.now() - t; })()"""
    ms = page.eval(redraw % "split-threads")
    page.wait_for(LABELS_SET)
    in_dom = page.eval("document.querySelectorAll('#flame g.frame').length")
    # inverted, these deep unique stacks make a tree of about a million nodes: slower, still works
    ms_inv = page.eval(redraw % "inverted")
    inv_nodes = page.eval("window.memtide.tree().nodes")
    page.wait_for(LABELS_SET)
    print(f"{nodes} nodes: page ready in {load:.2f} s, zoom in {zoom:.2f} s, redraw in {ms:.0f} ms "
          f"({in_dom} frames in the DOM); inverted ({inv_nodes} nodes) in {ms_inv:.0f} ms")
    assert load < 20 and zoom < 5 and ms < 3000 and ms_inv < 20000
    shot(page, tmp_path, "flamegraph-large")
    assert_clean(page)


# ----------------------------------------------------------------------- table

def table_rows(page):
    return page.eval("""Array.from(document.querySelectorAll('#sites tbody tr'))
        .map(tr => Array.from(tr.cells).map(td => td.textContent))""")


def test_table_sorts_filters_and_shows_stacks(page, templates, sample, tmp_path):
    open_page(page, templates, "table", sample, tmp_path)
    rows = table_rows(page)
    # stacks grouped by (leaf, thread, allocator); the zero stack is left out
    assert [r[0] for r in rows] == ["nativenpy_alloc_cache", "nativeZSTD_decompressStream", "Pythonfft_plan",
                                    "Python" + XSS, "merged<other>"]
    assert rows[0][1:] == ["numpy/core/src/multiarray/alloc.c:88", "89.6 MiB", "126", "MainThread (tid 4242)", "malloc"]
    assert rows[1][4:] == ["loader (tid 4250)", "mmap"]

    page.eval("document.querySelector('#sites th[data-col=count] button').click()")
    assert table_rows(page)[0][0] == "merged<other>"
    page.eval("document.querySelector('#sites th[data-col=count] button').click()")
    assert table_rows(page)[0][0] == "Python" + XSS
    page.eval("document.querySelector('#sites th[data-col=fn] button').click()")
    assert [r[0] for r in table_rows(page)][:2] == ["Python" + XSS, "merged<other>"]

    page.eval("""(() => { const f = document.getElementById('filter'); f.value = 'zstd';
                 f.dispatchEvent(new Event('input')); })()""")
    page.wait_for("document.querySelectorAll('#sites tbody tr').length === 1")
    page.eval("""(() => { const f = document.getElementById('filter'); f.value = '';
                 f.dispatchEvent(new Event('input')); })()""")
    page.wait_for("document.querySelectorAll('#sites tbody tr').length === 5")
    page.eval("""(() => { const f = document.getElementById('alloc-filter'); f.value = 'calloc';
                 f.dispatchEvent(new Event('change')); })()""")
    assert [r[0] for r in table_rows(page)] == ["Pythonfft_plan"]
    page.eval("""(() => { const f = document.getElementById('alloc-filter'); f.value = '';
                 f.dispatchEvent(new Event('change')); })()""")
    page.eval("document.querySelector('#sites th[data-col=bytes] button').click()")
    assert table_rows(page)[0][0] == "nativenpy_alloc_cache"

    # a click on a row shows its stacks, root first
    page.eval("""(() => { const tr = document.querySelector('#sites tbody tr');
                 tr.scrollIntoView({block: 'center'}); })()""")
    r = page.eval("(() => { const r = document.querySelector('#sites tbody tr').getBoundingClientRect();"
                  " return [r.x + r.width / 3, r.y + r.height / 2]; })()")
    page.click(*r)
    page.wait_for("!document.getElementById('stack').hidden")
    stack = page.eval("Array.from(document.querySelectorAll('#stack ol')).map(ol => ol.innerText)")
    assert len(stack) == 2          # compute_power's and the import's; the freed one is not there
    assert "compute_power" in stack[0] and stack[0].index("main") < stack[0].index("npy_alloc_cache")
    assert "_find_and_load" in stack[1]
    shot(page, tmp_path, "table")
    assert_clean(page)


def test_table_xss_names_render_as_text(page, templates, sample, tmp_path):
    open_page(page, templates, "table", sample, tmp_path)
    assert page.eval("document.title") == sample["meta"]["title"]
    page.eval("""Array.from(document.querySelectorAll('#sites tbody tr'))
                 .find(tr => tr.textContent.includes('onerror')).click()""")
    page.wait_for("!document.getElementById('stack').hidden")
    assert XSS in page.eval("document.getElementById('stack').textContent")
    assert page.eval("document.querySelectorAll('img').length") == 0
    assert_clean(page)


def test_large_table(page, templates, tmp_path):
    doc = mt_pages.large_doc(50000)
    t0 = time.monotonic()
    open_page(page, templates, "table", doc, tmp_path)
    assert time.monotonic() - t0 < 20
    assert page.eval("document.querySelectorAll('#sites tbody tr').length") == 500
    assert "50,000 of 50,000 sites" in page.eval("document.getElementById('table-summary').textContent")
    page.eval("document.getElementById('more').click()")
    assert page.eval("document.querySelectorAll('#sites tbody tr').length") == 1000
    assert_clean(page)


# ---------------------------------------------------------------- the C asset

def test_embed_writes_a_deterministic_c_file(tmp_path):
    import shutil
    import subprocess
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed: run tests/html/setup.sh")
    mt_pages.ensure_node_modules()
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        subprocess.run([node, str(mt_pages.WEB / "embed.js"), str(d)], check=True)
    text = (a / "assets.c").read_text()
    assert text == (b / "assets.c").read_text()
    for sym in ("mt_asset_flamegraph_html", "mt_asset_table_html"):
        assert f"const char {sym}[] =" in text
        assert f"const unsigned long {sym}_len = sizeof({sym}) - 1;" in text
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        main = tmp_path / "main.c"
        main.write_text('#include <stdio.h>\n#include <string.h>\n#include "web/assets.h"\n'
                        "int main(void) { fwrite(mt_asset_table_html, 1, mt_asset_table_html_len, stdout);"
                        " return strlen(mt_asset_flamegraph_html) != mt_asset_flamegraph_html_len; }\n")
        exe = tmp_path / "main"
        subprocess.run([cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", f"-I{mt_pages.REPO}", "-o", str(exe),
                        str(main), str(a / "assets.c")], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True).stdout.decode()
        html = mt_pages.build_templates(tmp_path / "html")["table"].read_text()
        assert out == html
        assert out.count("{{TITLE}}") == 1 and out.count("{{DATA}}") == 1


def test_table_site_by_innermost_python_frame(page, templates, sample, tmp_path):
    open_page(page, templates, "table", sample, tmp_path)
    page.eval("""(() => { const s = document.getElementById('site'); s.value = 'py';
                 s.dispatchEvent(new Event('change')); })()""")
    rows = table_rows(page)
    assert [r[0] for r in rows] == ["Pythoncompute_power", "Pythonread_block", "Python<module>",
                                    "Pythonfft_plan", "Python" + XSS, "merged<other>"]
    assert rows[0][2:4] == ["85.8 MiB", "6"] and rows[2][1].endswith("numpy/__init__.py:1")
    assert_clean(page)
