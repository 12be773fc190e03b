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

The same magics in a notebook run by a real Jupyter kernel (nbclient,
python3-ipykernel) are tested at the end of the file.
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
    ("setup", "import numpy as np\nMiB = 1024 * 1024\nruns = []"),
    ("temp800", "temp = np.ones(800 * MiB // 8)\ndel temp"),
    ("keep100", "keep = np.ones(100 * MiB // 8)"),
    ("memit_line", "%memit fifty = bytearray(50 * MiB)"),
    ("top_line", "%memtide_top 3"),
    ("memit_cell", "%%memit\nsmall = bytearray(1000)\ncell_fifty = bytearray(50 * MiB)\n"),
    ("top_cell", "%memtide_top 1"),
    ("top_cell_again", "%memtide_top 1"),
    ("memit_repeat", "%memit -r 3 runs.append(bytearray(20 * MiB))"),
    ("memit_repeat_count", "print(len(runs))"),
    ("memit_quiet", "%memit -q -r 2 q = bytearray(MiB)"),
    ("memit_bad_option", "%memit -t 5 t = bytearray(MiB)"),
    ("memit_bad_repeat", "%memit -r 0 t = bytearray(MiB)"),
    ("memit_raises", "%memit 1 / 0"),
    ("watched_many", "a = bytearray(3 * MiB)\nb = [bytearray(1000) for i in range(10)]\n"
                     "import json\nc = json.dumps(list(range(100)))\nd = 1\ne = 2\nf = 3"),
    ("top_default", "%memtide_top 50"),
    ("top_all", "%memtide_top 50 --all"),
    ("flame", textwrap.dedent("""\
        %%memtide_flamegraph -o flame.html
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
    ("flame_default_path", "%%memtide_flamegraph\nkeep_default = bytearray(2 * MiB)\n"
                           "len(keep_default)"),
    ("flame_raises", "%%memtide_flamegraph -o raised.html\ndef raiser():\n"
                     "    held = bytearray(4 * MiB)\n    return held[10 ** 9]\n\nraiser()"),
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
        "name": name, "out": buf.getvalue(), "success": r.success, "result": repr(r.result),
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
        assert r["success"] != (r["name"] in FAILING), \
            f"cell {r['name']}: success {r['success']}: {r['error']}\n{r['out']}"
    return cells


FAILING = {"memit_bad_option", "memit_bad_repeat", "memit_raises", "flame_raises"}


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
    for name in ("setup", "temp800", "keep100", "watched_many", "watched_again"):
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
    assert session["unwatched"]["last"] == session["flame_raises"]["last"]


def test_memit_line(session):
    cell = session["memit_line"]
    found = MEMIT_RE.findall(cell["out"])
    assert len(found) == 1, cell["out"]
    peak, increment = map(float, found[0])
    assert increment == 50.00, cell["out"]
    # The peak is the RSS before plus the increment.
    before = session["keep100"]["last"]["memory_usage"]
    assert abs(peak - 50.0 - before) <= 5.0, (before, cell["out"])


def test_reporting_magics_are_not_measured(session):
    """%memtide_top reports the last measured cell: it prints no memory
    line of its own, and a second %memtide_top still shows that cell."""
    for name in ("top_line", "top_cell", "top_cell_again", "top_default", "top_all"):
        assert not watch_lines(session[name]), session[name]["out"]
    assert session["top_line"]["last"] == session["memit_line"]["last"]
    assert session["top_cell_again"]["last"] == session["memit_cell"]["last"]
    assert session["top_cell_again"]["out"] == session["top_cell"]["out"]


def test_memit_repeat(session):
    """-r 3 runs the statement three times (no SyntaxError from the
    option), each run allocating 20 MiB + 1 byte: one result line."""
    cell = session["memit_repeat"]
    found = MEMIT_RE.findall(cell["out"])
    assert len(found) == 1, cell["out"]
    assert float(found[0][1]) == 20.00, cell["out"]
    assert "Error" not in cell["out"], cell["out"]
    assert session["memit_repeat_count"]["out"].splitlines()[0] == "3", \
        session["memit_repeat_count"]["out"]
    assert session["memit_quiet"]["out"] == "", session["memit_quiet"]["out"]


def test_memit_bad_options_and_errors(session):
    """A bad option is a usage error and nothing is measured or printed; a
    statement that raises shows its error and no result."""
    for name, message in (("memit_bad_option", "-t (a timeout) is not supported"),
                          ("memit_bad_repeat", "-r takes a number of runs (1 or more), "
                                               "not '0'")):
        cell = session[name]
        assert "UsageError" in cell["error"] and message in cell["error"], cell
        assert not MEMIT_RE.findall(cell["out"]) and not watch_lines(cell), cell["out"]
    cell = session["memit_raises"]
    assert "ZeroDivisionError" in cell["error"], cell
    assert not MEMIT_RE.findall(cell["out"]) and not watch_lines(cell), cell["out"]


IPYTHON_OWN = re.compile(r"[/\\](IPython|ipykernel|traitlets)[/\\]|tokenize|compilerop|codeop|"
                         r"history|async_helpers")


def test_top_hides_ipython_frames(session):
    """The sites of a watched cell are its own: IPython's tokenizing,
    compiling and history rows are not counted or are hidden; --all
    shows what was hidden."""
    rows = top_rows(session["top_default"]["out"])
    assert rows, session["top_default"]["out"]
    assert not [r for r in rows if IPYTHON_OWN.search(r[1])], session["top_default"]["out"]
    cell_rows = {(r[0], r[2], r[3], r[4]) for r in rows if "ipython-input" in r[1]}
    assert ("<module>", "1", "3.00 MiB", "1") in cell_rows, rows
    assert ("<listcomp>", "2", "9.78 KiB", "10") in cell_rows, rows
    every = top_rows(session["top_all"]["out"])
    assert set(rows) <= set(every), (rows, every)
    hidden = [r for r in every if r not in rows]
    assert hidden and all(IPYTHON_OWN.search(r[1]) for r in hidden), hidden
    assert "hidden: %memtide_top --all shows them" in session["top_default"]["out"]


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


def flame_page(cell):
    """(path, page) of the flame graph a cell wrote; the cell printed the
    path and nothing else (no display object's repr in a terminal) but the
    cell's value."""
    m = re.match(r"memtide: flame graph in (/\S+\.html)\n(Out\[\d+\]: .*\n)?\Z", cell["out"])
    assert m, f"not just the flame graph's path printed:\n{cell['out']}"
    return Path(m.group(1)), Path(m.group(1)).read_text()


def flame_data(cell):
    path, page = flame_page(cell)
    found = DATA_RE.findall(page)
    assert len(found) == 1, f"{path}: {len(found)} memtide-data elements"
    return json.loads(found[0])


def assert_starts_at_the_cell(doc, count):
    """Every stack begins at the cell's own <module>: no ipykernel,
    asyncio, IPython or memtide frame above it."""
    assert doc["stacks"], doc
    for s in doc["stacks"]:
        function, file = doc["frames"][s[0][0]][:2]
        assert function == "<module>" and file.startswith(f"<ipython-input-{count}-"), \
            [doc["frames"][f][:3] for f in s[0]]


def stacks_of(doc, function):
    """(bytes, count) of every stack whose innermost frame is function."""
    return [(s[2], s[3]) for s in doc["stacks"]
            if s[0] and doc["frames"][s[0][-1]][0] == function]


def test_flamegraph_cell(session):
    cell = session["flame"]
    doc = flame_data(cell)
    path = flame_page(cell)[0]
    assert path.name == "flame.html", path
    assert_starts_at_the_cell(doc, cell["count"])
    assert doc["meta"]["title"] == f"cell [{cell['count']}]: def flame_keeper():", doc["meta"]
    assert f"<title>memtide flamegraph: cell [{cell['count']}]: def flame_keeper():</title>" \
        in flame_page(cell)[1]
    assert stacks_of(doc, "flame_keeper") == [(3 * 1024 * 1024 + 1, 1)], doc["stacks"][:10]
    # Both were live at the cell's peak.
    assert stacks_of(doc, "flame_temporary") == [(5 * 1024 * 1024 + 1, 1)], doc["stacks"][:10]
    assert doc["meta"]["peak_bytes"] >= 8 * 1024 * 1024 + 2, doc["meta"]
    assert doc["meta"]["peak_bytes"] < 9 * 1024 * 1024, doc["meta"]


def test_flamegraph_default_path_and_value(session):
    """Without -o: memtide-flamegraph-cell<N>.html where the extension was
    loaded; the cell's last expression is its value, as in a plain cell."""
    cell = session["flame_default_path"]
    path = flame_page(cell)[0]
    assert path.name == f"memtide-flamegraph-cell{cell['count']}.html", path
    assert cell["result"] == str(2 * 1024 * 1024), cell["result"]
    doc = flame_data(cell)
    assert_starts_at_the_cell(doc, cell["count"])
    assert [(s[2], s[3]) for s in doc["stacks"] if s[2] > 1024 * 1024] == \
        [(2 * 1024 * 1024 + 1, 1)], doc["stacks"]


def test_flamegraph_of_a_cell_that_raises(session):
    """The graph shows what the cell held until it raised; the cell still
    fails with its own error."""
    cell = session["flame_raises"]
    assert "IndexError" in cell["error"], cell
    path = re.search(r"flame graph in (\S+)\n", cell["out"]).group(1)
    assert path.endswith("/raised.html"), cell["out"]
    doc = json.loads(DATA_RE.findall(Path(path).read_text())[0])
    assert_starts_at_the_cell(doc, cell["count"])
    assert stacks_of(doc, "raiser") == [(4 * 1024 * 1024 + 1, 1)], doc["stacks"]


def test_flamegraph_leaks_cell(session):
    doc = flame_data(session["flame_leaks"])
    assert_starts_at_the_cell(doc, session["flame_leaks"]["count"])
    assert stacks_of(doc, "leak_keeper") == [(3 * 1024 * 1024 + 1, 1)], doc["stacks"][:10]
    assert stacks_of(doc, "leak_temporary") == [], doc["stacks"][:10]


def test_measured_cells_leave_no_captures_behind(session):
    """Each watched or measured cell records into a temporary capture; only
    the last one (for %memtide_top) may remain, not one file per cell."""
    end = session["@end"]
    left = [p for p in end["tmp_captures"] if p != end["last_capture"]]
    assert not left, f"{len(left)} captures of earlier cells left in $TMPDIR: {left}"


# --------------------------------------------------------------------------
# A notebook run by a real Jupyter kernel (nbclient, python3-ipykernel)

NOTEBOOK_CELLS = [
    "%load_ext memtide",
    "%%memtide_flamegraph\ndef nb_keeper():\n    return bytearray(3 * 1024 * 1024)\n\n"
    "nb_kept = nb_keeper()\nlen(nb_kept)",
    "%%memtide_flamegraph --inline\nnb_inline = bytearray(1024 * 1024)",
    "%memtide_watch on",
    "nb_watched = bytearray(5 * 1024 * 1024)\nprint('watched')",
    "%memtide_top 5",
]

NOTEBOOK_DRIVER = """
import json
import sys

import nbformat
from nbclient import NotebookClient

nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell(c) for c in json.loads(sys.argv[1])]
NotebookClient(nb, timeout=120, kernel_name="python3").execute()
print(json.dumps([c["outputs"] for c in nb.cells]))
"""


@pytest.fixture(scope="module")
def notebook(system_python, memtide_bin, tmp_path_factory):
    ok = subprocess.run([system_python, "-c", "import nbclient, nbformat, ipykernel"],
                        capture_output=True)
    if ok.returncode != 0:
        pytest.skip("nbclient or ipykernel missing (python3-nbclient, python3-ipykernel)")
    d = tmp_path_factory.mktemp("notebook")
    for sub in ("tmp", "ipython-dir", "jupyter-runtime"):
        (d / sub).mkdir()
    driver = d / "run_notebook.py"
    driver.write_text(NOTEBOOK_DRIVER)
    env = package_env({"TMPDIR": str(d / "tmp"), "IPYTHONDIR": str(d / "ipython-dir"),
                       "JUPYTER_RUNTIME_DIR": str(d / "jupyter-runtime"),
                       "PYDEVD_DISABLE_FILE_VALIDATION": "1", "MPLBACKEND": "Agg"})
    proc = subprocess.run([system_python, str(driver), json.dumps(NOTEBOOK_CELLS)],
                          cwd=str(d), capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, f"the notebook failed:\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return d, json.loads(proc.stdout.splitlines()[-1])


def streams(outputs, name):
    return "".join(o["text"] for o in outputs
                   if o["output_type"] == "stream" and o["name"] == name)


def test_notebook_flamegraph(notebook):
    """In a notebook: no warning, an IFrame to the written file (not the
    0.5 MB page in the notebook), the graph starts at the cell and has the
    cell's 3 MiB + 1 byte, titled by the cell."""
    d, outputs = notebook
    for cell in outputs:
        assert streams(cell, "stderr") == "", cell
    cell = outputs[1]
    path = d / "memtide-flamegraph-cell2.html"
    assert streams(cell, "stdout") == f"memtide: flame graph in {path}\n", cell
    shown = [o for o in cell if o["output_type"] == "display_data"]
    assert len(shown) == 1, cell
    frame = shown[0]["data"]["text/html"]
    assert re.search(r'<iframe\s[^>]*src="memtide-flamegraph-cell2\.html"', frame), frame
    assert len(json.dumps(cell)) < 2000, len(json.dumps(cell))
    value = [o for o in cell if o["output_type"] == "execute_result"]
    assert [o["data"]["text/plain"] for o in value] == [str(3 * 1024 * 1024)], cell

    page = path.read_text()
    doc = json.loads(DATA_RE.findall(page)[0])
    assert doc["meta"]["title"] == "cell [2]: def nb_keeper():", doc["meta"]
    assert "<title>memtide flamegraph: cell [2]: def nb_keeper():</title>" in page
    assert "ipykernel_launcher" not in json.dumps(doc["meta"]), doc["meta"]
    # The kernel's other threads (heartbeat, iopub, history) may allocate
    # while the cell runs: their stacks are theirs; the cell's thread starts
    # at the cell.
    cell_thread = {s[1] for s in doc["stacks"]
                   if any(doc["frames"][f][0] == "nb_keeper" for f in s[0])}
    assert len(cell_thread) == 1, doc["stacks"]
    stacks = [s for s in doc["stacks"] if s[1] in cell_thread]
    cell_file = {doc["frames"][s[0][0]][1] for s in stacks}
    assert len(cell_file) == 1, [[doc["frames"][f][:2] for f in s[0]] for s in stacks]
    for s in stacks:
        assert doc["frames"][s[0][0]][0] == "<module>", [doc["frames"][f] for f in s[0]]
        for f in s[0]:
            assert doc["frames"][f][1] in cell_file, [doc["frames"][f] for f in s[0]]
    assert stacks_of(doc, "nb_keeper") == [(3 * 1024 * 1024 + 1, 1)], doc["stacks"]


def test_notebook_flamegraph_inline(notebook):
    """--inline embeds the page itself, still without a warning."""
    d, outputs = notebook
    cell = outputs[2]
    shown = [o for o in cell if o["output_type"] == "display_data"]
    assert len(shown) == 1, cell
    frame = shown[0]["data"]["text/html"]
    assert frame.startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;'), frame[:200]
    assert len(frame) > 100_000, len(frame)
    assert streams(cell, "stderr") == "", cell


def test_notebook_watch_and_top(notebook):
    d, outputs = notebook
    out = streams(outputs[4], "stdout")
    assert out.startswith("watched\n") and len(WATCH_RE.findall(out)) == 1, out
    top = streams(outputs[5], "stdout")
    assert not WATCH_RE.findall(top), top
    rows = top_rows(top)
    assert rows and rows[0][0] == "<module>" and rows[0][2:] == ("1", "5.00 MiB", "1"), top
    assert not [r for r in rows if IPYTHON_OWN.search(r[1])], top
