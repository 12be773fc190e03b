"""The text reports as a user reads them, and the files the exports write:

- file-backed mappings kept apart from the heap (tests/programs/file_maps.c),
- names from the program shown escaped, never raw control characters,
- binary units named KiB/MiB/GiB, counts pluralized,
- paths shortened (relative to the working directory, site-packages/...,
  <stdlib>/...) and lines cut to the terminal's width or --width,
- exports that every sample of which other tools accept (gprof2dot), written
  to a file named after the capture unless -o - asks for standard output.
"""

import fcntl
import json
import os
import pty
import shutil
import struct
import subprocess
import termios

import pytest

from conftest import TESTS, base_env
from mtlib import c_defines, python_package_dir, site_lines

from test_reports import html_data, module_mt, report, report_json, write

FIXTURES = TESTS / "fixtures"


# --------------------------------------------------------------------------
# File-backed mappings

@pytest.fixture(scope="module")
def maps(memtide_bin, build, tmp_path_factory):
    m = module_mt(memtide_bin, tmp_path_factory, "maps")
    src = build.source("file_maps")
    res, path = m.capture(build.program("file_maps"), out="maps.tide")
    d = c_defines(src)
    heap_peak = d["ANON_SIZE"] + d["KEEP_N"] * d["KEEP_SIZE"] + d["TEMP_N"] * d["TEMP_SIZE"]
    return {"m": m, "path": path, "src": src, "d": d, "lines": site_lines(src),
            "heap_peak": heap_peak,
            "heap_leak": d["ANON_SIZE"] + d["KEEP_N"] * d["KEEP_SIZE"],
            "files_peak": d["FILE_SIZE"] + d["FILE2_SIZE"]}


def test_file_mappings_are_not_heap(mt, maps):
    d = maps["d"]
    s = mt.stats_json(maps["path"])
    allocs = d["KEEP_N"] + d["TEMP_N"] + 1
    assert (s["peak_bytes"], s["total_bytes"], s["total_allocations"]) == \
        (maps["heap_peak"], maps["heap_peak"], allocs), s
    assert (s["leaked_bytes"], s["leaked_allocations"]) == (maps["heap_leak"], d["KEEP_N"] + 1), s
    assert (s["file_mapped_peak_bytes"], s["file_mappings"]) == (maps["files_peak"], 2), s
    assert s["allocators"] == {"malloc": d["KEEP_N"] + d["TEMP_N"], "mmap": 1}, s["allocators"]
    assert "map_file" not in {r["function"] for r in s["top_by_size"]}, s["top_by_size"]


def test_include_file_mappings_counts_them(mt, maps):
    d = maps["d"]
    res = report(mt, "stats", "--json", "--include-file-mappings", maps["path"])
    s = json.loads(res.stdout)
    assert s["peak_bytes"] == maps["heap_peak"] + maps["files_peak"], s
    assert (s["leaked_bytes"], s["leaked_allocations"]) == \
        (maps["heap_leak"] + d["FILE_SIZE"], d["KEEP_N"] + 2), s
    assert s["file_mapped_peak_bytes"] == maps["files_peak"], s
    assert s["allocators"]["mmap_file"] == 2, s["allocators"]
    row = [r for r in s["top_by_size"] if r["function"] == "map_file"]
    assert [(r["line"], r["bytes"], r["count"]) for r in row] == \
        [(maps["lines"]["map_file"], maps["files_peak"], 2)], s["top_by_size"]


@pytest.mark.parametrize("cmd", [("tree", "--json", "-b", "0"), ("summary", "--json", "-r", "0")],
                         ids=lambda c: c[0])
def test_file_mappings_in_tree_and_summary(mt, maps, cmd):
    leaks = report_json(mt, *cmd, "--leaks", maps["path"])
    assert leaks["bytes"] == maps["heap_leak"], leaks["bytes"]
    both = report_json(mt, *cmd, "--leaks", "--include-file-mappings", maps["path"])
    assert both["bytes"] == maps["heap_leak"] + maps["d"]["FILE_SIZE"], both["bytes"]
    peak = report_json(mt, *cmd, "--include-file-mappings", maps["path"])
    assert peak["bytes"] == maps["heap_peak"] + maps["files_peak"], peak["bytes"]


def test_file_mappings_in_the_exports(mt, maps):
    report(mt, "transform", "csv", "-o", "a.csv", maps["path"])
    report(mt, "transform", "csv", "--include-file-mappings", "-o", "b.csv", maps["path"])
    a = (mt.cwd / "a.csv").read_text()
    b = (mt.cwd / "b.csv").read_text()
    assert "mmap_file" not in a and "map_file;" not in a, a
    rows = sorted(tuple(map(int, r.split(",")[1:3])) for r in b.splitlines()
                  if r.startswith("mmap_file,"))
    assert rows == [(1, maps["d"]["FILE2_SIZE"]), (1, maps["d"]["FILE_SIZE"])], b


@pytest.mark.parametrize("cmd", ["flamegraph", "table"])
def test_file_mappings_in_the_pages(mt, maps, cmd):
    for extra, peak in (((), maps["heap_peak"]),
                        (("--include-file-mappings",), maps["heap_peak"] + maps["files_peak"])):
        out = mt.cwd / f"{cmd}{len(extra)}.html"
        report(mt, cmd, *extra, "-o", out, maps["path"])
        html, doc = html_data(out)
        assert doc["meta"]["peak_bytes"] == peak, doc["meta"]
        assert sum(s[2] for s in doc["stacks"]) == peak
        assert ("mmap_file" in {s[4] for s in doc["stacks"]}) == bool(extra), doc["stacks"]


def test_stats_text_lines(mt, maps):
    text = report(mt, "stats", maps["path"]).out
    lines, src = maps["lines"], maps["src"]  # absolute in the debug info
    for line in ("Total memory allocated:  846.82 KiB",
                 "Peak file-mapped:        68.00 MiB in 2 file mappings (not counted as heap; "
                 "--include-file-mappings counts them)",
                 "Leaked (live at end):    260.88 KiB in 6 allocations",
                 f"  - anon_map at {src}:{lines['anon_map']} -> 256.00 KiB (1 allocation)",
                 f"  - keep at {src}:{lines['keep']} -> 4.88 KiB (5 allocations)",
                 "Top 3 locations by size:"):
        assert line in text.splitlines(), f"{line!r} not in:\n{text}"
    assert text.splitlines()[6].startswith("Peak heap size:          846.82 KiB at "), text
    both = report(mt, "stats", "--include-file-mappings", maps["path"]).out
    assert "Peak heap size:          68.83 MiB at " in both, both
    assert "Leaked (live at end):    64.25 MiB in 7 allocations" in both.splitlines(), both
    for t in (text, both):
        assert not [w for w in t.split() if w in ("KB", "MB", "GB")], t


def test_old_captures_count_every_mapping(mt):
    """Captures made before file-backed mappings were told apart read as
    before: --include-file-mappings changes nothing."""
    captures = sorted(FIXTURES.rglob("*.tide"))
    assert captures, f"no fixture captures in {FIXTURES}"
    for path in captures:
        a = mt.stats_json(path)
        b = json.loads(report(mt, "stats", "--json", "--include-file-mappings", path).stdout)
        assert (a["peak_bytes"], a["leaked_bytes"], a["file_mapped_peak_bytes"]) == \
            (b["peak_bytes"], b["leaked_bytes"], 0), (path, a, b)


# --------------------------------------------------------------------------
# Names from the program

EVIL = "ev\x1b]0;pwned\x07il\x1b[2J\r\n\x7f\u009b"
EVIL_SHOWN = "ev\\x1b]0;pwned\\x07il\\x1b[2J\\r\\n\\x7f\\u009b"
EVIL_FILE = "evil\x1b[31m\rfile.py"
EVIL_FILE_SHOWN = "evil\\x1b[31m\\rfile.py"
EVIL_ARG = "arg\x1b[2J\x1b]0;t\x07"

EVIL_SCRIPT = f"""
import sys
import threading
import types

sys.path.insert(0, sys.argv[1])
import memtide

SRC = '''
def victim():
    return bytearray(1_000_000)
'''
ns = {{}}
exec(compile(SRC, {EVIL_FILE!r}, "exec"), ns)
code = ns["victim"].__code__.replace(co_name={EVIL!r})
if hasattr(code, "co_qualname"):
    code = code.replace(co_qualname={EVIL!r})
victim = types.FunctionType(code, ns, "victim")
kept = []

memtide.step("step\\x1b[2J\\r" + {EVIL!r})
t = threading.Thread(target=lambda: kept.append(victim()), name="t\\x1b]0;x\\x07\\n")
t.start()
t.join()
"""


@pytest.fixture(scope="module")
def evil(memtide_bin, system_python, tmp_path_factory):
    m = module_mt(memtide_bin, tmp_path_factory, "evil")
    script = write(m.cwd, "evil.py", EVIL_SCRIPT)
    res, path = m.capture(script, str(python_package_dir()), EVIL_ARG, out="evil.tide",
                          options=["--python", system_python])
    return path


@pytest.mark.parametrize("cmd", ["stats", "tree", "summary", "steps"])
def test_no_control_characters_reach_the_terminal(mt, evil, cmd):
    out = report(mt, cmd, evil).stdout
    bad = sorted({b for b in out if (b < 0x20 and b != 0x0A) or b == 0x7F})
    assert not bad, f"memtide {cmd} printed control bytes {bad}:\n{out!r}"
    assert b"\xc2\x9b" not in out, f"memtide {cmd} printed U+009B (CSI):\n{out!r}"
    text = out.decode()
    if cmd == "steps":
        assert "step\\x1b[2J\\rev\\x1b]0..." in text, text
        assert f"{EVIL_SHOWN} at {EVIL_FILE_SHOWN}:3" in text, text
    else:
        assert f"{EVIL_SHOWN} at {EVIL_FILE_SHOWN}" in text, text
    if cmd == "stats":
        assert "arg\\x1b[2J\\x1b]0;t\\x07" in text, text


def test_json_keeps_the_names_exact(mt, evil):
    s = mt.stats_json(evil)
    assert [r["file"] for r in s["top_by_size"] if r["function"] == EVIL] == [EVIL_FILE], \
        s["top_by_size"]
    assert EVIL_ARG in s["command"], s["command"]
    steps = json.loads(report(mt, "steps", "--json", evil).stdout)
    assert [st["name"] for st in steps] == ["step\x1b[2J\r" + EVIL], steps


# --------------------------------------------------------------------------
# Paths and widths

PKG = """
def alloc_pkg():
    return bytearray(30 * 1024 * 1024)  # @site:pkg
"""
STD = """
def alloc_std():
    return bytearray(20 * 1024 * 1024)  # @site:std
"""
APP = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/site-packages"]
import fakestd
from pkg import mod


def alloc_app():
    return bytearray(10 * 1024 * 1024)  # @site:app


kept = [mod.alloc_pkg(), fakestd.alloc_std(), alloc_app()]  # @site:module
"""


@pytest.fixture(scope="module")
def paths(memtide_bin, system_python, tmp_path_factory):
    """A script under the working directory, a package in a site-packages
    and a module in a lib/pythonX.Y outside it."""
    m = module_mt(memtide_bin, tmp_path_factory, "paths")
    lib = m.cwd / "root" / "lib" / "python3.11"
    (lib / "site-packages" / "pkg").mkdir(parents=True)
    write(lib / "site-packages" / "pkg", "mod.py", PKG)
    write(lib, "fakestd.py", STD)
    work = m.cwd / "work"
    (work / "app").mkdir(parents=True)
    app = write(work / "app", "main.py", APP)
    res, path = m.capture("app/main.py", str(lib), out="paths.tide", cwd=work,
                          options=["--python", system_python])
    return {"path": path, "lines": site_lines(app)}


def tree_lines(paths):
    ln = paths["lines"]
    return [
        "Live at the peak of the heap: 60.00 MiB in 3 allocations, biggest allocation sites only",
        "",
        "    memory  share     allocs  function at file:line",
        " 60.00 MiB 100.0%          3  <root>",
        f" 60.00 MiB 100.0%          3  └── <module> at app/main.py:{ln['module']}",
        " 30.00 MiB  50.0%          1      ├── alloc_pkg at site-packages/pkg/mod.py:2",
        " 20.00 MiB  33.3%          1      ├── alloc_std at <stdlib>/fakestd.py:2",
        f" 10.00 MiB  16.7%          1      └── alloc_app at app/main.py:{ln['app']}",
    ]


def test_tree_paths_are_short(mt, paths):
    assert report(mt, "tree", "-b", "3", paths["path"]).out.splitlines() == tree_lines(paths)


def test_tree_width_option(mt, paths):
    want = [line if len(line) <= 60 else line[:57] + "..." for line in tree_lines(paths)[2:]]
    got = report(mt, "tree", "-b", "3", "--width", "60", paths["path"]).out.splitlines()[2:]
    assert got == want
    assert got[3] == " 30.00 MiB  50.0%          1      ├── alloc_pkg at site-p..."
    unlimited = report(mt, "tree", "-b", "3", "-w", "0", paths["path"]).out.splitlines()
    assert unlimited == tree_lines(paths)


def run_on_a_terminal(cmd, columns, env_columns=None):
    """cmd's output when its stdout is a terminal of the given width."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = base_env()
    env.pop("COLUMNS", None)
    if env_columns:
        env["COLUMNS"] = str(env_columns)
    proc = subprocess.Popen([str(c) for c in cmd], stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, proc.stderr.read()
    return out.decode().replace("\r\n", "\n")


def test_tree_fits_the_terminal(mt, paths):
    out = run_on_a_terminal([mt.bin, "tree", "-b", "3", paths["path"]], 50, env_columns=200)
    want = [line if len(line) <= 50 else line[:47] + "..." for line in tree_lines(paths)[3:]]
    assert out.splitlines()[3:] == want, out


def test_summary_paths_and_width(mt, paths):
    text = report(mt, "summary", "-r", "0", paths["path"]).out
    assert "alloc_pkg at site-packages/pkg/mod.py" in text, text
    assert "alloc_std at <stdlib>/fakestd.py" in text, text
    assert f"alloc_app at app/main.py" in text, text
    narrow = report(mt, "summary", "-r", "0", "-w", "64", paths["path"]).out.splitlines()
    assert max(len(line) for line in narrow[2:]) <= 64, narrow


# --------------------------------------------------------------------------
# Exports

def check_gprof2dot_doc(doc):
    """What gprof2dot's JSON parser needs of every event."""
    nfunc = len(doc["functions"])
    assert nfunc and all("name" in f for f in doc["functions"]), doc["functions"][:5]
    for ev in doc["events"]:
        chain = ev["callchain"]
        assert chain, f"an event without frames: {ev}"
        assert all(isinstance(i, int) and 0 <= i < nfunc for i in chain), ev
        assert len(ev["cost"]) == 1 and ev["cost"][0] >= 0, ev


@pytest.mark.parametrize("view", [(), ("--leaks",), ("--temporary-allocations",)],
                         ids=["peak", "leaks", "temporary"])
def test_gprof2dot_every_event_has_frames(mt, paths, view):
    doc = json.loads(report(mt, "transform", "gprof2dot", *view, "-o", "-",
                            paths["path"]).stdout)
    check_gprof2dot_doc(doc)
    names = [f["name"] for f in doc["functions"]]
    if not view:
        assert "[no Python frame]" in names, names[:20]  # start-up allocations
        assert any(n.startswith("alloc_pkg at ") for n in names), names[:20]


def test_speedscope_every_sample_has_frames(mt, paths):
    doc = json.loads(report(mt, "transform", "speedscope", "-o", "-", paths["path"]).stdout)
    prof = doc["profiles"][0]
    assert prof["samples"] and all(prof["samples"]), prof["samples"][:10]
    assert len(prof["samples"]) == len(prof["weights"])


@pytest.mark.skipif(not shutil.which("gprof2dot"), reason="gprof2dot is not installed")
def test_gprof2dot_accepts_the_export(mt, paths):
    out = mt.cwd / "g.json"
    report(mt, "transform", "gprof2dot", "-o", out, paths["path"])
    res = mt.plain("gprof2dot", "-f", "json", "-n", "0", "-e", "0", out)
    assert res.returncode == 0, str(res)
    for fn in ("alloc_pkg", "alloc_std", "alloc_app"):
        assert fn in res.out, res.out[:2000]


@pytest.mark.parametrize("fmt,ext", [("gprof2dot", "json"), ("csv", "csv"),
                                     ("speedscope", "json")])
def test_transform_writes_a_file_named_after_the_capture(mt, paths, fmt, ext):
    capture = mt.cwd / "paths.tide"
    capture.write_bytes(paths["path"].read_bytes())
    res = report(mt, "transform", fmt, "paths.tide")
    out = mt.cwd / f"memtide-{fmt}-paths.{ext}"
    assert res.stdout == b"" and out.is_file(), sorted(p.name for p in mt.cwd.iterdir())
    assert res.err.strip() == f"memtide: wrote memtide-{fmt}-paths.{ext}", res.err
    dash = report(mt, "transform", fmt, "-o", "-", "paths.tide")
    assert dash.stdout == out.read_bytes() and dash.err == "", dash.err
    # a second run does not overwrite it without -f
    again = mt.run("transform", fmt, "paths.tide")
    assert again.returncode != 0 and "already exists" in again.err, str(again)


@pytest.mark.parametrize("cmd", ["flamegraph", "table"])
def test_html_reports_to_standard_output(mt, paths, cmd):
    res = report(mt, cmd, "-o", "-", paths["path"])
    assert res.stdout.startswith(b"<!DOCTYPE html>") or res.stdout.lstrip().lower().startswith(
        b"<!doctype html>"), res.stdout[:100]
    assert res.err == "", res.err
    assert not list(mt.cwd.glob("*.html")), sorted(p.name for p in mt.cwd.iterdir())


# --------------------------------------------------------------------------
# --help

def test_top_level_help_columns_line_up(mt):
    text = report(mt, "--help").out
    rows = text.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(rows) >= 8, text
    starts = set()
    for row in rows:
        name, rest = row.split(None, 1)
        starts.add(row.index(rest, len("  " + name)))
        sub = report(mt, name, "--help")
        assert sub.out.startswith(f"usage: memtide {name}"), sub.out[:200]
    assert len(starts) == 1, text
