"""`memtide plot`: memory over time of one or more captures as PNG, SVG,
PDF and an HTML page.

tests/programs/plot_phases.c runs three steps ("load", "transform",
"save") whose heap is known: the peak is (LOAD_MIB + TRANSFORM_MIB) MiB
times its argument, in "transform".  Captures of it with arguments 1, 2
and 3 are drawn alone and together; the tests check the files'
signatures, sizes and pixels, that the SVG (which keeps its text as <text>
elements) holds the legend, the peak labels and the step names, and the
one-line errors of bad input.  The HTML page is opened in headless
Chromium when it is installed.  The pictures stay in the test's tmp dir
(their paths are printed, -s shows them).
"""

import json
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path

import pytest

from mtlib import MiB, c_defines

HERE = Path(__file__).resolve().parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_SIZE = (1200, 675)
STEPS = ["load", "transform", "save"]
EVIL = "p<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def phases(build, memtide_bin, tmp_path_factory):
    """Three captures of plot_phases (as ./plot_phases K, K = 1, 2, 3) and
    their `stats --json`."""
    from conftest import Memtide
    d = tmp_path_factory.mktemp("plot")
    shutil.copy(build.program("plot_phases"), d / "plot_phases")
    mt = Memtide(memtide_bin, d)
    caps = []
    for k in (1, 2, 3):
        _, path = mt.capture("./plot_phases", str(k), out=f"k{k}.tide")
        caps.append((path, mt.stats_json(path)))
    return d, caps


def peak_text(mt, path):
    """"24.00 MiB at 0.160 s": the peak as `memtide stats` says it."""
    res = mt.stats(path)
    m = re.search(r"^Peak heap size: +(.+ at \S+ s)$", res.out, re.M)
    assert m, res.out
    return m.group(1)


@pytest.fixture(scope="module")
def sizes(build):
    return c_defines(build.source("plot_phases"))


def peak_mib(sizes, k):
    return (sizes["LOAD_MIB"] + sizes["TRANSFORM_MIB"]) * k


def png_pixels(data):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == PNG_MAGIC
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype = ihdr[:4]
    assert depth == 8 and ctype in (2, 6), ihdr
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def svg_texts(path):
    return re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text())


def plot(mt, *args):
    res = mt.run("plot", *args)
    assert res.returncode == 0, f"memtide plot failed:\n{res}"
    return res


def unescape(s):
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


# --------------------------------------------------------------------------
# Pictures

@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_one_and_three_captures_in_each_format(mt, phases, fmt):
    _, caps = phases
    for name, files in (("one", [caps[0][0]]), ("three", [c[0] for c in caps])):
        out = mt.cwd / f"{name}.{fmt}"
        res = plot(mt, *files, "-o", out)
        assert res.err == f"memtide: wrote {out}\n"
        data = out.read_bytes()
        print(f"{fmt} of {name} capture(s): {out} ({len(data)} bytes)")
        if fmt == "png":
            assert data[:8] == PNG_MAGIC
            assert struct.unpack(">II", data[16:24]) == PNG_SIZE
            assert 15_000 < len(data) < 400_000
        elif fmt == "svg":
            assert data.startswith(b"<?xml") and data.rstrip().endswith(b"</svg>")
            assert 5_000 < len(data) < 400_000
        else:
            assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
            assert b"/Title (Heap over time)" in data and b"/Creator (memtide)" in data
            assert 3_000 < len(data) < 400_000


def test_svg_holds_legend_peaks_and_steps(mt, phases, sizes):
    d, caps = phases
    out = mt.cwd / "three.svg"
    plot(mt, *[c[0] for c in caps], "-o", out)
    texts = [unescape(t) for t in svg_texts(out)]
    print(f"svg: {out}\n" + "\n".join(texts))
    # the legend: each capture's command
    for k in (1, 2, 3):
        assert f"./plot_phases {k}" in texts
    # each run's peak, at the moment stats gives, and exactly the program's
    for k, (path, st) in zip((1, 2, 3), caps):
        assert st["peak_bytes"] == peak_mib(sizes, k) * MiB, st["peak_bytes"]
        label = "peak " + peak_text(mt, path)
        assert label.startswith(f"peak {peak_mib(sizes, k)}.00 MiB at ") and label in texts
    # every step named, once per capture
    for s in STEPS:
        assert texts.count(s) == 3, (s, texts)
    # axes: binary sizes and seconds
    assert "0" in texts and any(re.fullmatch(r"\d+ MiB", t) for t in texts)
    assert any(re.fullmatch(r"0\.\d+ s", t) for t in texts)
    assert "Heap over time" in texts


def test_both_series_title_and_rss_peak(mt, phases, sizes):
    _, caps = phases
    out = mt.cwd / "both.svg"
    plot(mt, caps[1][0], "--both", "--title", "k=2 <both>", "-o", out)
    texts = [unescape(t) for t in svg_texts(out)]
    assert "k=2 <both>" in texts
    assert "heap" in texts and "RSS" in texts      # a legend line per series
    assert "heap peak " + peak_text(mt, caps[1][0]) in texts
    rss = [t for t in texts if t.startswith("RSS peak ")]
    assert len(rss) == 1
    # the RSS holds the blocks (they are written), so it peaks above them
    value, unit = rss[0].split()[2:4]
    assert unit == "MiB" and float(value) >= peak_mib(sizes, 2), rss


def test_steps_are_shaded(mt, phases):
    """The step bands tint the plot area; --no-steps leaves it white."""
    _, caps = phases
    shaded, plain = mt.cwd / "steps.png", mt.cwd / "nosteps.png"
    plot(mt, caps[0][0], "-o", shaded)
    plot(mt, caps[0][0], "--no-steps", "-o", plain)
    print(f"png with steps: {shaded}\npng without: {plain}")

    def grey_tint(path):
        """The share of the picture in a light neutral grey: the bands of
        a single capture's steps (the grid's thin lines otherwise)."""
        w, h, rows = png_pixels(path.read_bytes())
        return sum(1 for row in rows for p in row
                   if 230 <= min(p) and max(p) <= 250 and max(p) - min(p) <= 3) / (w * h)

    assert grey_tint(shaded) > 0.3
    assert grey_tint(plain) < 0.05
    res = mt.run("plot", caps[0][0], "--no-steps", "--format", "svg", "-o", "-")
    assert res.returncode == 0 and not any(f">{s}<" in res.out for s in STEPS)


def test_default_name_stdout_and_force(mt, phases):
    _, caps = phases
    res = plot(mt, caps[0][0])
    assert res.err == "memtide: wrote memtide-plot-k1.png\n"
    assert (mt.cwd / "memtide-plot-k1.png").read_bytes()[:8] == PNG_MAGIC
    res = mt.run("plot", caps[0][0])
    assert res.returncode == 1
    assert res.err == "memtide: 'memtide-plot-k1.png' already exists (use -f to overwrite it)\n"
    plot(mt, caps[0][0], "-f")
    res = plot(mt, caps[0][0], "-o", "-")
    assert res.stdout[:8] == PNG_MAGIC and res.err == ""
    res = plot(mt, caps[0][0], "-o", "-", "--format", "pdf")
    assert res.stdout[:5] == b"%PDF-"


def test_truncated_capture_is_drawn_and_marked(mt, phases):
    _, caps = phases
    data = caps[2][0].read_bytes()
    cut = mt.cwd / "cut.tide"
    # the first flush (the modules, the first events) is most of so short a
    # capture: cut after it, before the end
    cut.write_bytes(data[:len(data) * 9 // 10])
    out = mt.cwd / "cut.svg"
    res = plot(mt, caps[0][0], cut, "-o", out)
    assert re.fullmatch(r"memtide: note: '.*cut\.tide' is truncated \([^)]*\): drawn up to where "
                        r"it ends\nmemtide: wrote .*\n", res.err), res.err
    texts = [unescape(t) for t in svg_texts(out)]
    assert "./plot_phases 3 [truncated]" in texts and "./plot_phases 1" in texts


def test_different_programs_are_drawn_with_a_note(mt, phases, build):
    _, caps = phases
    _, other = mt.capture(build.program("basic"), out="basic.tide")
    res = plot(mt, caps[0][0], other, "-o", "mixed.png")
    lines = res.err.splitlines()
    assert lines[0] == "memtide: note: the captures are of different programs (plot_phases, basic): " \
                       "drawn together as asked"
    assert lines[1] == "memtide: wrote mixed.png"


def test_same_command_twice_is_named_by_file(mt, phases):
    _, caps = phases
    for name in ("a.tide", "b.tide"):
        shutil.copy(caps[0][0], mt.cwd / name)
    plot(mt, "a.tide", "b.tide", "-o", "same.svg")
    texts = [unescape(t) for t in svg_texts(mt.cwd / "same.svg")]
    assert "a.tide" in texts and "b.tide" in texts and "./plot_phases 1" not in texts


@pytest.mark.parametrize("args, rc, err", [
    (["missing.tide"], 1, r"memtide: 'missing\.tide': cannot open: No such file or directory"),
    (["{cap}", "-o", "mem.jpg"], 2, r"memtide plot: cannot tell the format of 'mem\.jpg': name it "
     r"\.png, \.svg, \.pdf or \.html \(or give --format\) \(see 'memtide plot --help'\)"),
    (["{cap}", "-o", "mem.png", "--format", "gif"], 2, r"memtide plot: unknown format 'gif' .*"),
    (["{cap}", "-o", "mem.png", "--format", "svg"], 2,
     r"memtide plot: --format svg does not match the name 'mem\.png' .*"),
    (["{cap}", "-o", "no/such/dir/mem.png"], 1,
     r"memtide: cannot write 'no/such/dir/mem\.png': No such file or directory"),
    (["{cap}", "{junk}"], 1, r"memtide: '.*junk\.tide': .*"),
    ([], 2, r"memtide plot: no capture file given \(see 'memtide plot --help'\)"),
    (["{cap}", "--bogus"], 2, r"memtide plot: unknown option '--bogus' \(see 'memtide plot --help'\)"),
])
def test_bad_input_one_line_errors(mt, phases, args, rc, err):
    _, caps = phases
    (mt.cwd / "junk.tide").write_bytes(b"not a capture at all\n" * 10)
    args = [a.format(cap=caps[0][0], junk=mt.cwd / "junk.tide") for a in args]
    res = mt.run("plot", *args)
    assert res.returncode == rc, str(res)
    assert re.fullmatch(err + "\n", res.err), res.err
    assert res.stdout == b""
    assert not list(mt.cwd.glob("mem.*")) and not list(mt.cwd.glob("memtide-plot-*"))


def test_help(mt):
    res = mt.run("plot", "--help")
    assert res.returncode == 0 and res.out.startswith("usage: memtide plot [options] FILE [FILE...]\n")
    for opt in ("--heap", "--rss", "--both", "--steps", "--no-steps", "--title", "--format", "-o"):
        assert opt in res.out
    assert re.search(r"^  plot +heap and RSS over time", mt.run("--help").out, re.M)


# --------------------------------------------------------------------------
# The HTML page

def test_html_page(mt, phases, build, sizes, tmp_path):
    d, caps = phases
    evil = d / EVIL
    if not evil.exists():
        shutil.copy(build.program("plot_phases"), evil)
    _, evil_cap = mt.capture(f"./{EVIL}", "1", out="evil.tide", cwd=d)
    out = tmp_path / "mem.html"
    plot(mt, caps[0][0], caps[2][0], evil_cap, "-o", out)
    page = out.read_text()
    data = json.loads(page.split('<script type="application/json" id="memtide-data">', 1)[1]
                      .split("</script>", 1)[0])
    assert data["meta"] == {"title": "Heap over time", "series": "heap"}
    assert [r["label"] for r in data["runs"]] == ["./plot_phases 1", "./plot_phases 3", f"./{EVIL} 1"]
    assert [s["name"] for s in data["runs"][0]["steps"]] == STEPS
    assert data["runs"][1]["peak_bytes"] == peak_mib(sizes, 3) * MiB
    assert "<img" not in page.split("<script", 1)[0] and EVIL not in page

    sys.path.insert(0, str(HERE.parent / "html"))
    import mt_browser
    if not mt_browser.find_chromium():
        pytest.skip("chromium is not installed (tests/html/setup.sh)")
    with mt_browser.Browser(tmp_path / "chromium") as b:
        p = b.new_page()
        p.goto(out.as_uri(), ready="document.body.dataset.ready === '1'")
        p.wait_for("+document.body.dataset.renders > 0")
        legend = p.eval("Array.from(document.querySelectorAll('.u-legend .u-label'))"
                        ".map(e => e.textContent)")
        assert legend == ["time", "./plot_phases 1", "./plot_phases 3", f"./{EVIL} 1"]
        rows = p.eval("Array.from(document.querySelectorAll('#runs tbody tr'))"
                      ".map(r => Array.from(r.cells).map(c => c.textContent))")
        assert [r[0] for r in rows] == ["./plot_phases 1", "./plot_phases 3", f"./{EVIL} 1"]
        assert rows[1][2].startswith(f"{peak_mib(sizes, 3)}.0 MiB at ")
        assert p.eval("document.querySelectorAll('img').length") == 0
        print("screenshot:", p.screenshot(tmp_path / "plot-page.png"))
        assert p.errors() == [] and p.alerts() == []
        assert [u for u in p.requests() if not u.startswith(("file:", "data:", "about:"))] == []
        p.close()
