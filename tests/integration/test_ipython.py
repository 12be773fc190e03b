"""memtide's IPython extension, driven non-interactively with IPython's own
test shell (IPython.testing.globalipapp) on Debian's /usr/bin/python3
(python3-ipython, python3-numpy).

One IPython session runs every cell below once per module (in a
subprocess, with build/python on PYTHONPATH and TMPDIR in the test's
directory); each cell's stdout, success and execution count, and
memtide.ipython.last after it, come back as JSON. The tests check the
figures: an 800 MiB numpy temporary freed in its cell peaks 800 MiB above
the final usage, a kept 100 MiB array uses 100 MiB, `%memit` of a 50 MiB
bytearray increments by 50.00 MiB.
"""

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from mtlib import package_env

DATA_RE = re.compile(
    r'<script type="application/json" id="memtide-data">(.*?)</script>', re.S)
WATCH_RE = re.compile(
    r"^In \[(\d+)\] used (-?\d+\.\d) MiB RAM in (\d+\.\d\d)s \(system mean cpu "
    r"(\d+)%, single max cpu (\d+)%\), peaked (\d+\.\d) MiB above final usage, "
    r"current RAM usage now (\d+\.\d) MiB$", re.M)
MEMIT_RE = re.compile(r"^peak memory: (\d+\.\d\d) MiB, increment: (-?\d+\.\d\d) MiB$", re.M)

CELLS = [
    ("load", "%load_ext memtide"),
    ("watch_on", "%memtide_watch on"),
    ("setup", "import numpy as np\nMiB = 1024 * 1024"),
    ("temp800", "temp = np.ones(800 * MiB // 8)\ndel temp"),
    ("keep100", "keep = np.ones(100 * MiB // 8)"),
    ("memit_line", "%memit fifty = bytearray(50 * MiB)"),
    ("top_line", "%memtide_top 3"),
    ("memit_cell", "%%memit\nsmall = bytearray(1000)\ncell_fifty = bytearray(50 * MiB)\n"),
    ("top_cell", "%memtide_top 1"),
    ("flame", textwrap.dedent("""\
        %%memtide_flamegraph
        def flame_keeper():
            return bytearray(3 * MiB)

        def flame_temporary():
            t = bytearray(5 * MiB)
            return len(t)

        kept_flame = flame_keeper()
        n = flame_temporary()
        """)),
    ("flame_leaks", textwrap.dedent("""\
        %%memtide_flamegraph --leaks
        def leak_keeper():
            return bytearray(3 * MiB)

        def leak_temporary():
            t = bytearray(5 * MiB)
            return len(t)

        kept_leak = leak_keeper()
        n = leak_temporary()
        """)),
    ("watch_off", "%memtide_watch off"),
    ("unwatched", "unwatched = np.ones(10 * MiB // 8)\nprint('unwatched done')"),
    ("watch_on_again", "%memtide_watch on"),
    ("watched_again", "again = bytearray(2 * MiB)"),
    ("watch_off_again", "%memtide_watch off"),
]

DRIVER = """
import contextlib
import io
import json
import sys

from IPython.testing.globalipapp import start_ipython

cells = json.loads(sys.argv[1])
ip = start_ipython()
results = []
for name, code in cells:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = ip.run_cell(code, store_history=True)
    last = sys.modules.get("memtide.ipython")
    last = last and last.last
    results.append({
        "name": name, "out": buf.getvalue(), "success": r.success,
        "count": r.execution_count,
        "error": repr(r.error_in_exec or r.error_before_exec),
        "last": None if last is None else {
            k: getattr(last, k) for k in ("memory_delta", "time_delta", "memory_peak",
                                          "memory_usage", "cpu_mean", "cpu_max")},
    })
import glob, os, tempfile
mi = sys.modules["memtide.ipython"]
results.append({"name": "@end", "last_capture": mi.last and os.path.realpath(mi.last.capture),
                "tmp_captures": sorted(os.path.realpath(p) for p in glob.glob(
                    os.path.join(tempfile.gettempdir(), "**", "*.tide"), recursive=True))})
sys.stdout.write("\\n@@RESULTS@@" + json.dumps(results) + "\\n")
"""


@pytest.fixture(scope="module")
def session(system_numpy, memtide_bin, tmp_path_factory):
    ok = subprocess.run([system_numpy, "-c", "import IPython"], capture_output=True)
    if ok.returncode != 0:
        pytest.skip("IPython is not importable by /usr/bin/python3 (python3-ipython)")
    d = tmp_path_factory.mktemp("ipython")
    (d / "tmp").mkdir()
    (d / "ipython-dir").mkdir()
    driver = d / "drive.py"
    driver.write_text(DRIVER)
    env = package_env({"TMPDIR": str(d / "tmp"), "IPYTHONDIR": str(d / "ipython-dir"),
                       "MPLBACKEND": "Agg", "TERM": "dumb"})
    proc = subprocess.run([system_numpy, str(driver), json.dumps(CELLS)], cwd=str(d),
                          capture_output=True, text=True, env=env, timeout=120)
    marker = proc.stdout.rfind("@@RESULTS@@")
    assert proc.returncode == 0 and marker >= 0, (
        f"the IPython driver failed (rc={proc.returncode}):\n--- stdout ---\n"
        f"{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}")
    results = json.loads(proc.stdout[marker + len("@@RESULTS@@"):])
    cells = {r["name"]: r for r in results}
    assert [r["name"] for r in results] == [c[0] for c in CELLS] + ["@end"]
    results.pop()
    for r in results:
        assert r["success"], f"cell {r['name']} failed: {r['error']}\n{r['out']}"
    return cells


def watch_lines(cell):
    return WATCH_RE.findall(cell["out"])


def one_watch_line(cell):
    found = watch_lines(cell)
    assert len(found) == 1, \
        f"cell {cell['name']}: expected one per-cell memory line, got:\n{cell['out']}"
    n, used, secs, cpu_mean, cpu_max, peak, now = found[0]
    return dict(count=int(n), used=float(used), secs=float(secs), cpu_mean=int(cpu_mean),
                cpu_max=int(cpu_max), peak=float(peak), now=float(now))


def test_watch_line_for_a_freed_800mib_temporary(session):
    cell = session["temp800"]
    line = one_watch_line(cell)
    last = cell["last"]
    assert line["count"] == cell["count"], cell["out"]
    assert abs(line["peak"] - 800.0) <= 1.0, cell["out"]
    assert abs(last["memory_peak"] - 800.0) <= 1.0, last
    # Freed at once: the RSS does not keep it.
    assert abs(line["used"]) < 20.0, cell["out"]
    # The printed figures are memtide.ipython.last's.
    assert abs(line["used"] - last["memory_delta"]) <= 0.051, (cell["out"], last)
    assert abs(line["peak"] - last["memory_peak"]) <= 0.051, (cell["out"], last)
    assert abs(line["now"] - last["memory_usage"]) <= 0.051, (cell["out"], last)
    assert abs(line["secs"] - last["time_delta"]) <= 0.0051, (cell["out"], last)
    assert 0 <= line["cpu_mean"] <= line["cpu_max"] <= 100, cell["out"]
    assert 0 <= last["cpu_mean"] <= last["cpu_max"] <= 100.0, last
    assert last["time_delta"] > 0 and last["memory_usage"] > 0, last


def test_watch_line_for_a_kept_100mib_array(session):
    cell = session["keep100"]
    line = one_watch_line(cell)
    assert line["count"] == cell["count"], cell["out"]
    assert 98.0 <= line["used"] <= 103.0, cell["out"]
    assert line["peak"] <= 1.0, cell["out"]
    assert cell["last"]["memory_peak"] <= 1.0, cell["last"]
    assert 98.0 <= cell["last"]["memory_delta"] <= 103.0, cell["last"]
    before = session["temp800"]["last"]["memory_usage"]
    assert 98.0 <= line["now"] - before <= 103.0, (before, cell["out"])


def test_every_watched_cell_prints_its_line(session):
    for name in ("setup", "temp800", "keep100", "top_line", "top_cell", "watched_again"):
        line = one_watch_line(session[name])
        assert line["count"] == session[name]["count"], session[name]
    again = one_watch_line(session["watched_again"])
    assert again["peak"] <= 1.0, session["watched_again"]["out"]


def test_watch_off_stops_the_lines(session):
    for name in ("watch_off", "unwatched", "watch_off_again"):
        assert not watch_lines(session[name]), \
            f"{name}: a memory line after %memtide_watch off:\n{session[name]['out']}"
    assert session["unwatched"]["out"] == "unwatched done\n", session["unwatched"]["out"]
    # The last measurement is still the one before watching stopped.
    assert session["unwatched"]["last"] == session["flame_leaks"]["last"]


def test_memit_line(session):
    cell = session["memit_line"]
    found = MEMIT_RE.findall(cell["out"])
    assert len(found) == 1, cell["out"]
    peak, increment = map(float, found[0])
    assert increment == 50.00, cell["out"]
    # The peak is the RSS before plus the increment.
    before = session["keep100"]["last"]["memory_usage"]
    assert abs(peak - 50.0 - before) <= 5.0, (before, cell["out"])


def test_memit_cell(session):
    cell = session["memit_cell"]
    found = MEMIT_RE.findall(cell["out"])
    assert len(found) == 1, cell["out"]
    assert float(found[0][1]) == 50.00, cell["out"]


TOP_ROW_RE = re.compile(r"^\s*- (\S+) at (.+):(\d+) -> ([\d.]+ \w+) \((\d+) allocations?\)$", re.M)


def top_rows(text):
    by_size = text.split("by number")[0]
    return TOP_ROW_RE.findall(by_size)


def test_top_lists_the_memit_line(session):
    rows = top_rows(session["top_line"]["out"])
    assert rows, session["top_line"]["out"]
    func, file, line, size, count = rows[0]
    assert (func, line, size, count) == ("<module>", "1", "50.00 MiB", "1"), \
        session["top_line"]["out"]
    assert "ipython-input" in file or file.endswith(".py"), file


def test_top_lists_the_memit_cell_line(session):
    rows = top_rows(session["top_cell"]["out"])
    assert len(rows) == 1, session["top_cell"]["out"]
    func, file, line, size, count = rows[0]
    # The bytearray is on the second line of the cell's body.
    assert (func, line, size, count) == ("<module>", "2", "50.00 MiB", "1"), \
        session["top_cell"]["out"]


def flame_data(cell):
    m = re.search(r"flame graph in (\S+\.html)", cell["out"])
    assert m, f"no flame graph path printed:\n{cell['out']}"
    page = Path(m.group(1)).read_text()
    found = DATA_RE.findall(page)
    assert len(found) == 1, f"{m.group(1)}: {len(found)} memtide-data elements"
    return json.loads(found[0])


def stacks_of(doc, function):
    """(bytes, count) of every stack whose innermost frame is function."""
    return [(s[2], s[3]) for s in doc["stacks"]
            if s[0] and doc["frames"][s[0][-1]][0] == function]


def test_flamegraph_cell(session):
    doc = flame_data(session["flame"])
    assert stacks_of(doc, "flame_keeper") == [(3 * 1024 * 1024 + 1, 1)], doc["stacks"][:10]
    # Both were live at the cell's peak.
    assert stacks_of(doc, "flame_temporary") == [(5 * 1024 * 1024 + 1, 1)], doc["stacks"][:10]
    assert doc["meta"]["peak_bytes"] >= 8 * 1024 * 1024 + 2, doc["meta"]
    assert doc["meta"]["peak_bytes"] < 9 * 1024 * 1024, doc["meta"]


def test_flamegraph_leaks_cell(session):
    doc = flame_data(session["flame_leaks"])
    assert stacks_of(doc, "leak_keeper") == [(3 * 1024 * 1024 + 1, 1)], doc["stacks"][:10]
    assert stacks_of(doc, "leak_temporary") == [], doc["stacks"][:10]


def test_measured_cells_leave_no_captures_behind(session):
    """Each watched or measured cell records into a temporary capture; only
    the last one (for %memtide_top) may remain, not one file per cell."""
    end = session["@end"]
    left = [p for p in end["tmp_captures"] if p != end["last_capture"]]
    assert not left, f"{len(left)} captures of earlier cells left in $TMPDIR: {left}"
