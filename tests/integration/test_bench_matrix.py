"""`memtide bench`: a benchmark matrix run end to end.

A small Python script (Debian's python3, named on its #! line) holds MIB buffers of 1 MiB inside a step "hold"
(bytearray(n) is one malloc of n + 1 bytes), so each cell's peak is known.
The matrix runs under the real CLI; the tables (markdown, CSV, JSON, HTML)
must give exactly what `memtide stats --json` and `memtide steps --json`
give for each capture, failed cells must be reported with their status
while the others go on, a second invocation must skip what is done, and
every bad matrix must be refused before anything runs.
"""

import csv
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

from conftest import Memtide
from mtlib import MiB, assert_one_line_error, site_lines

SCRIPT = """\
#!/usr/bin/python3
import os
import signal
import sys
import time

import memtide

MIB = int(sys.argv[1])
HOW = sys.argv[2]


def fill(held):
    for i in range(MIB):
        held[i] = bytearray(1024 * 1024)  # @site:fill


held = [None] * 64
memtide.step("hold")
fill(held)
memtide.step("release")
if HOW == "kill":
    time.sleep(0.3)  # the tracker writes every 10 ms: SIGKILL loses only the last round
    os.kill(os.getpid(), signal.SIGKILL)
del held
print("held", MIB, HOW)
sys.exit(3 if HOW == "exit" else 0)
"""

MIBS = ("4", "6", "8")
WAYS = ("list", "tuple")
HELD = {m: int(m) * (MiB + 1) for m in MIBS}


def write_script(d):
    # no .py: memtide run takes the interpreter from the #! line.  In a
    # folder of its own: Python lists the script's folder when it imports
    # (importlib's cache), so files other tests write beside it would
    # change the allocations, and the figures, from one run to the next.
    path = Path(d) / "script" / "holder"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


def bench(mt, *args, cwd=None, timeout=300):
    return mt.run("bench", *args, cwd=cwd, timeout=timeout)


def matrix_args(script, out, *extra):
    return ["-o", str(out), "--param", "way=" + ",".join(WAYS), "--param",
            "mib=" + ",".join(MIBS), *extra, "--", str(script), "{mib}", "{way}"]


def fmt_size(n):
    """The CLI's sizes: "512 B", "3.00 MiB" (output.c)."""
    if n < 1024:
        return f"{n} B"
    v, u = float(n), -1
    while v >= 1024 and u < 5:
        v /= 1024
        u += 1
    return f"{v:.2f} {['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'][u]}"


def md_rows(text, first_header):
    """The rows of the markdown table whose header starts with first_header."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        rows.append(dict(zip(header, cells)))
    return rows


def run_json(mt, *args):
    res = mt.run(*args)
    assert res.returncode == 0, str(res)
    return json.loads(res.stdout)


def cell_dir(out, way, mib):
    return Path(out) / f"way={way}" / f"mib={mib}"


@pytest.fixture(scope="module")
def matrix(memtide_bin, system_python, tmp_path_factory):
    """The 2x3 matrix, run once with -j 1: (Memtide, out dir, script, result)."""
    d = tmp_path_factory.mktemp("bench")
    mt = Memtide(memtide_bin, d)
    script = write_script(d)
    out = d / "runs"
    res = bench(mt, *matrix_args(script, out))
    assert res.returncode == 0, str(res)
    return mt, out, script, res


@pytest.fixture(scope="module")
def expected(matrix):
    """stats --json and steps --json of every cell's capture."""
    mt, out, _, _ = matrix
    exp = {}
    for way in WAYS:
        for mib in MIBS:
            tide = cell_dir(out, way, mib) / "run1.tide"
            exp[way, mib] = (mt.stats_json(tide), run_json(mt, "steps", "--json", tide))
    return exp


# --------------------------------------------------------------------------
# Running the matrix

def test_runs_and_files(matrix):
    mt, out, script, res = matrix
    # the report is printed at the end of the run
    assert res.out.startswith("memtide bench: ")
    assert len(md_rows(res.out, "way")) == 6
    err = res.err.splitlines()
    assert len([l for l in err if ": running; " in l]) == 6, res.err
    for i, (way, mib) in enumerate((w, m) for w in WAYS for m in MIBS):
        assert err[i].startswith(f"memtide bench: cell {i + 1} of 6 (way={way} mib={mib}): "
                                 f"running; "), res.err
        d = cell_dir(out, way, mib)
        assert (d / "run1.stdout").read_text() == f"held {mib} {way}\n"
        assert (d / "run1.stderr").read_text() == ""
        status = dict(line.split("=", 1) for line in
                      (d / "run1.status").read_text().splitlines() if not line.startswith("#"))
        assert status["status"] == "ok" and status["exit_status"] == "0"
        assert status["signal"] == "0" and status["jobs"] == "1"
        assert status["command"] == f"{script} {mib} {way}"
        assert float(status["wall_s"]) > 0
        assert int(status["capture_bytes"]) == (d / "run1.tide").stat().st_size
    assert err[-1].startswith("memtide bench: 6 runs in "), res.err
    assert (out / "matrix").read_text().startswith("# memtide bench matrix\n")


def test_json_exact(matrix, expected):
    mt, out, script, _ = matrix
    doc = run_json(mt, "bench", "--report", out, "--format", "json")
    line = site_lines(SCRIPT)["fill"]
    assert doc["command"] == f"{script} {{mib}} {{way}}"
    assert doc["repeat"] == 1 and doc["jobs"] == 1
    assert doc["parameters"] == [{"name": "way", "values": list(WAYS)},
                                 {"name": "mib", "values": list(MIBS)}]
    assert [c["params"] for c in doc["cells"]] == \
        [{"way": w, "mib": m} for w in WAYS for m in MIBS]
    for cell in doc["cells"]:
        key = cell["params"]["way"], cell["params"]["mib"]
        stats, steps = expected[key]
        shown = json.dumps(cell, indent=1)
        assert cell["status"] == "ok" and cell["exit_status"] == 0, shown
        assert cell["signal"] is None and cell["runs"] == 1, shown
        for k in ("peak_bytes", "peak_rss_bytes", "total_bytes", "leaked_bytes"):
            assert cell[k] == stats[k], f"{k}: {shown}"
        assert cell["allocations"] == stats["total_allocations"], shown
        assert cell["peak_bytes"] >= HELD[key[1]], shown
        assert cell["wall_s"] == cell["wall_s_min"] == cell["wall_s_max"] > 0, shown
        # the memory live at the peak is mostly the buffers fill() holds
        assert cell["top_site"] == f"fill at {script}:{line}", shown
        assert cell["top_site_bytes"] == HELD[key[1]], shown
        assert [s["name"] for s in cell["steps"]] == ["hold", "release"], shown
        hold = cell["steps"][0]
        assert hold["peak_above_start_bytes"] == HELD[key[1]], shown
        assert (hold["peak_bytes"], hold["peak_above_start_bytes"]) == \
            (steps[0]["peak_bytes"], steps[0]["peak_above_start_bytes"]), shown
    # the same interpreter doing the same work (with arguments of the same
    # length): the peaks differ by what is held
    by = {(c["params"]["way"], c["params"]["mib"]): c["peak_bytes"] for c in doc["cells"]}
    for way in WAYS:
        assert by[way, "8"] - by[way, "4"] == HELD["8"] - HELD["4"], by
        assert by[way, "6"] - by[way, "4"] == HELD["6"] - HELD["4"], by


def test_markdown_exact(matrix, expected):
    mt, out, script, run = matrix
    res = bench(mt, "--report", out)
    assert res.returncode == 0, str(res)
    assert res.out == run.out, "the report printed after running differs from --report"
    assert res.out.splitlines()[0] == f"memtide bench: {script} {{mib}} {{way}}"
    rows = md_rows(res.out, "way")
    assert [(r["way"], r["mib"]) for r in rows] == [(w, m) for w in WAYS for m in MIBS]
    line = site_lines(SCRIPT)["fill"]
    for r in rows:
        stats, _ = expected[r["way"], r["mib"]]
        assert r["status"] == "ok"
        assert r["peak heap"] == fmt_size(stats["peak_bytes"]), r
        assert r["peak RSS"] == fmt_size(stats["peak_rss_bytes"]), r
        assert r["allocated"] == fmt_size(stats["total_bytes"]), r
        assert r["allocations"] == f"{stats['total_allocations']:,}", r
        assert r["leaked"] == fmt_size(stats["leaked_bytes"]), r
        assert r["top site at the peak"] == f"fill at script/holder:{line}", r
        assert re.fullmatch(r"\d+\.\d{3} s", r["wall time"]), r
    steps = md_rows(res.out[res.out.index("Peak heap inside each step"):], "way")
    for r in steps:
        hold = expected[r["way"], r["mib"]][1][0]
        assert r["hold"] == f"{fmt_size(hold['peak_bytes'])} (+{fmt_size(HELD[r['mib']])})", r
    assert "at a time" not in res.out


def test_csv_exact(matrix, expected):
    mt, out, script, _ = matrix
    res = bench(mt, "--report", out, "--format", "csv")
    assert res.returncode == 0, str(res)
    rows = list(csv.DictReader(io.StringIO(res.out)))
    assert list(rows[0])[:4] == ["way", "mib", "status", "exit_status"]
    assert len(rows) == 6
    for r in rows:
        stats, steps = expected[r["way"], r["mib"]]
        assert r["status"] == "ok" and r["exit_status"] == "0" and r["signal"] == ""
        assert int(r["peak_bytes"]) == stats["peak_bytes"], r
        assert int(r["peak_rss_bytes"]) == stats["peak_rss_bytes"], r
        assert int(r["total_bytes"]) == stats["total_bytes"], r
        assert int(r["allocations"]) == stats["total_allocations"], r
        assert int(r["leaked_bytes"]) == stats["leaked_bytes"], r
        assert int(r["peak_bytes in hold"]) == steps[0]["peak_bytes"], r
        assert r["top_site"] == f"fill at {script}:{site_lines(SCRIPT)['fill']}", r


def test_sort(matrix):
    mt, out, _, _ = matrix
    doc = run_json(mt, "bench", "--report", out, "--format", "json", "--sort", "peak_bytes")
    peaks = [c["peak_bytes"] for c in doc["cells"]]
    assert peaks == sorted(peaks, reverse=True)
    doc = run_json(mt, "bench", "--report", out, "--format", "json", "--sort", "mib")
    # ties keep the matrix's order
    assert [(c["params"]["mib"], c["params"]["way"]) for c in doc["cells"]] == \
        [(m, w) for m in MIBS for w in WAYS]
    res = bench(mt, "--report", out, "--sort", "speed")
    line = assert_one_line_error(res)
    assert "cannot sort by 'speed'" in line and "peak_bytes" in line


def test_parallel_gives_the_same_figures(matrix, tmp_path):
    mt0, out0, script, _ = matrix
    mt = Memtide(mt0.bin, tmp_path)
    res = bench(mt, *matrix_args(script, tmp_path / "par", "-j", "2"))
    assert res.returncode == 0, str(res)
    assert "2 runs at a time (-j 2): wall times were not measured alone" in res.out
    one = run_json(mt, "bench", "--report", out0, "--format", "json")
    two = run_json(mt, "bench", "--report", tmp_path / "par", "--format", "json")
    assert two["jobs"] == 2
    for a, b in zip(one["cells"], two["cells"]):
        assert a["params"] == b["params"]
        for k in ("status", "peak_bytes", "top_site", "top_site_bytes", "steps"):
            assert a[k] == b[k], (k, a, b)


# --------------------------------------------------------------------------
# Repeats, failures, resuming

def test_repeat(mt, system_python, tmp_path):
    script = write_script(tmp_path)
    out = tmp_path / "rep"
    res = bench(mt, "-o", out, "-r", "2", "--param", "mib=12,4", "--", script, "{mib}", "list")
    assert res.returncode == 0, str(res)
    assert "cell 2 of 2 (mib=4), run 2 of 2: running" in res.err
    doc = run_json(mt, "bench", "--report", out, "--format", "json")
    assert doc["repeat"] == 2
    for cell in doc["cells"]:
        d = out / f"mib={cell['params']['mib']}"
        runs = [mt.stats_json(d / f"run{k}.tide") for k in (1, 2)]
        walls = sorted(float(dict(l.split("=", 1) for l in (d / f"run{k}.status").read_text()
                                  .splitlines()[1:])["wall_s"]) for k in (1, 2))
        assert cell["runs"] == 2
        # median of two: the lower one for memory (a value that was measured), the mean for time
        assert cell["peak_bytes"] == min(r["peak_bytes"] for r in runs), cell
        assert cell["total_bytes"] == min(r["total_bytes"] for r in runs), cell
        assert (cell["wall_s_min"], cell["wall_s_max"]) == pytest.approx(tuple(walls), abs=2e-6)
        assert cell["wall_s"] == pytest.approx(sum(walls) / 2, abs=2e-6)
        assert cell["steps"][0]["peak_above_start_bytes"] == int(cell["params"]["mib"]) * (MiB + 1)
    # values sort as numbers: 4 before 12 (not "12" before "4")
    doc = run_json(mt, "bench", "--report", out, "--format", "json", "--sort", "mib")
    assert [c["params"]["mib"] for c in doc["cells"]] == ["4", "12"]
    text = bench(mt, "--report", out).out
    assert "2 runs each" in text and "wall time: median (min-max)" in text


def test_failed_cells(mt, system_python, tmp_path):
    script = write_script(tmp_path)
    out = tmp_path / "fail"
    res = bench(mt, "-o", out, "--param", "how=ok,kill,exit", "--", script, "4", "{how}")
    assert res.returncode == 1, str(res)
    err = res.err.splitlines()
    assert "memtide bench: cell 2 of 3 (how=kill): failed, killed by SIGKILL" in res.err
    assert "memtide bench: cell 3 of 3 (how=exit): failed, exit status 3" in res.err
    assert err[-1] == "memtide: 2 of 3 runs failed (each one's output is beside its capture)"
    # the table is printed all the same, failed cells marked
    rows = {r["how"]: r for r in md_rows(res.out, "how")}
    assert rows["ok"]["status"] == "ok"
    assert rows["kill"]["status"].startswith("failed: killed by SIGKILL"), rows
    assert rows["exit"]["status"] == "failed: exit status 3", rows
    assert f"- how=kill, run 1: killed by SIGKILL (its output: {out}/how=kill/run1.stderr)" \
        in res.out
    doc = run_json(mt, "bench", "--report", out, "--format", "json")
    cells = {c["params"]["how"]: c for c in doc["cells"]}
    assert (cells["ok"]["status"], cells["ok"]["exit_status"], cells["ok"]["signal"]) == \
        ("ok", 0, None)
    assert (cells["kill"]["status"], cells["kill"]["exit_status"], cells["kill"]["signal"]) == \
        ("failed", 128 + 9, "SIGKILL")
    assert (cells["exit"]["status"], cells["exit"]["exit_status"], cells["exit"]["signal"]) == \
        ("failed", 3, None)
    # what the failed runs' captures hold is still shown: both held their buffers
    for how in ("ok", "kill", "exit"):
        hold = cells[how]["steps"][0]
        assert (hold["name"], hold["peak_above_start_bytes"]) == ("hold", HELD["4"]), cells[how]
        assert cells[how]["peak_bytes"] >= HELD["4"]
    assert (out / "how=exit" / "run1.stdout").read_text() == "held 4 exit\n"
    assert (out / "how=kill" / "run1.stdout").read_text() == ""
    # --report alone says nothing of failures: it only prints
    assert bench(mt, "--report", out).returncode == 0


def test_resume_and_force(mt, system_python, tmp_path):
    script = write_script(tmp_path)
    out = tmp_path / "res"
    args = ["-o", out, "--param", "how=ok,exit", "--", script, "4", "{how}"]
    first = bench(mt, *args)
    assert first.returncode == 1, str(first)
    ok = out / "how=ok" / "run1.tide"
    failed = out / "how=exit" / "run1.tide"
    stamps = ok.stat().st_mtime_ns, failed.stat().st_mtime_ns
    os.utime(ok, ns=(1, 1))   # an old file: any new run would change its mtime
    os.utime(failed, ns=(1, 1))

    again = bench(mt, *args)
    assert again.returncode == 1, str(again)
    assert "cell 1 of 2 (how=ok): done before, skipped (--force runs it again)" in again.err
    # a failed run runs again
    assert "cell 2 of 2 (how=exit): running" in again.err
    assert ok.stat().st_mtime_ns == 1 and failed.stat().st_mtime_ns != 1, stamps
    assert "memtide bench: 1 run in " in again.err and ", 1 done before" in again.err
    assert md_rows(again.out, "how")[0]["peak heap"] == md_rows(first.out, "how")[0]["peak heap"]

    # another command is another run
    changed = bench(mt, "-o", out, "--param", "how=ok", "--", script, "6", "{how}")
    assert "cell 1 of 1 (how=ok): running" in changed.err, changed.err
    assert changed.returncode == 0
    assert ok.stat().st_mtime_ns != 1

    os.utime(ok, ns=(1, 1))
    forced = bench(mt, "--force", "-o", out, "--param", "how=ok", "--", script, "6", "{how}")
    assert forced.returncode == 0, str(forced)
    assert "skipped" not in forced.err
    assert ok.stat().st_mtime_ns != 1

    # a capture that is not the one the status describes runs again
    ok.write_bytes(ok.read_bytes()[:100])
    cut = bench(mt, "-o", out, "--param", "how=ok", "--", script, "6", "{how}")
    assert "cell 1 of 1 (how=ok): running" in cut.err, cut.err


# --------------------------------------------------------------------------
# Refused before anything runs

def _bad(script):
    s = str(script)
    return {
        "unknown placeholder": (["--param", "mib=3", "--", s, "{mib}", "{how}"],
                                "the command uses {how} but no --param how is given"),
        "duplicate name": (["--param", "mib=3", "--param", "mib=6", "--", s, "{mib}"],
                           "--param mib is given twice"),
        "no values": (["--param", "mib=", "--", s, "{mib}"],
                      "--param mib has no values: the matrix would be empty"),
        "empty value": (["--param", "mib=3,,6", "--", s, "{mib}"],
                        "--param mib has an empty value in '3,,6'"),
        "same value twice": (["--param", "mib=3,3", "--", s, "{mib}"],
                             "--param mib gives the value '3' twice"),
        "no param": (["--", s, "3", "ok"], "no --param given"),
        "unused param": (["--param", "mib=3", "--param", "how=ok", "--", s, "{mib}", "ok"],
                         "--param how is not used"),
        "bad name": (["--param", "a-b=1", "--", s, "{a-b}"], "--param 'a-b': a name is"),
        "no command": (["--param", "mib=3"], "no command to run"),
    }


@pytest.mark.parametrize("case", list(_bad("x")))
def test_refused_matrix(mt, tmp_path, case):
    script = write_script(tmp_path)
    args, message = _bad(script)[case]
    res = bench(mt, "-o", tmp_path / "out", *args)
    line = assert_one_line_error(res)
    assert message in line, line
    assert not (tmp_path / "out").exists(), "a refused matrix must not create its directory"


def test_unwritable_output(mt, tmp_path, nobody_dir):
    script = write_script(tmp_path)
    (tmp_path / "file").write_text("")
    res = bench(mt, "-o", tmp_path / "file" / "runs", "--param", "mib=3", "--",
                script, "{mib}", "ok")
    line = assert_one_line_error(res)
    assert line == f"memtide: cannot create '{tmp_path}/file': Not a directory", line

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    res = mt.run("bench", "-o", nobody_dir / "runs", "--param", "mib=3", "--",
                 script, "{mib}", "ok", cwd=nobody_dir, preexec_fn=as_nobody)
    line = assert_one_line_error(res)
    assert line == f"memtide: cannot create '{nobody_dir}/runs': Permission denied", line
    os.chmod(nobody_dir, 0o777)
    (nobody_dir / "ro").mkdir(mode=0o555)
    res = mt.run("bench", "-o", nobody_dir / "ro", "--param", "mib=3", "--",
                 script, "{mib}", "ok", cwd=nobody_dir, preexec_fn=as_nobody)
    line = assert_one_line_error(res)
    assert line == f"memtide: cannot write '{nobody_dir}/ro/matrix': Permission denied", line
    assert not list((nobody_dir / "ro").iterdir())


def test_help_and_usage_errors(mt, tmp_path):
    res = bench(mt, "--help")
    assert res.returncode == 0 and res.out.startswith("usage: memtide bench --param NAME=")
    assert "bench" in mt.run("--help").out
    for args, message in ((["--format", "xml"], "--format is md, csv, json or html"),
                          (["-r", "0"], "--repeat needs a number from 1 to 1000"),
                          (["-j", "x"], "--jobs needs a number from 1 to 256"),
                          (["--bogus"], "unknown option '--bogus'")):
        res = bench(mt, "-o", tmp_path / "out", *args, "--param", "n=1", "--", "echo", "{n}")
        assert res.returncode == 2 and message in res.err, str(res)
        assert len(res.err.splitlines()) == 1, str(res)
    assert not (tmp_path / "out").exists()


def test_report_without_runs(mt, tmp_path):
    (tmp_path / "empty").mkdir()
    line = assert_one_line_error(bench(mt, "--report", tmp_path / "empty"))
    assert line == (f"memtide: '{tmp_path}/empty' holds no benchmark runs (no matrix file: "
                    "memtide bench -o DIR runs a matrix into DIR)")
    line = assert_one_line_error(bench(mt, "--report", tmp_path / "missing"))
    assert "holds no benchmark runs" in line
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "matrix").write_text(
        "# memtide bench matrix\ncommand=x {n}\nrepeat=1\nparam=n\nvalues=1,2\n")
    line = assert_one_line_error(bench(mt, "--report", tmp_path / "started"))
    assert line == f"memtide: '{tmp_path}/started' holds no finished benchmark runs yet"
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "matrix").write_text("hello\n")
    line = assert_one_line_error(bench(mt, "--report", tmp_path / "junk"))
    assert "not a memtide bench matrix" in line
    res = bench(mt, "--report", tmp_path / "empty", "--param", "n=1")
    assert res.returncode == 2 and "--report prints the table of earlier runs" in res.err


# --------------------------------------------------------------------------
# The HTML page

def test_html_page(matrix, expected, tmp_path):
    mt, out, script, _ = matrix
    res = bench(mt, "--report", out, "--format", "html")
    assert res.returncode == 0, str(res)
    page = res.out
    assert page.startswith("<!DOCTYPE html>") and "{{" not in page
    assert "<title>memtide bench: " in page
    m = re.search(r'<script type="application/json" id="memtide-data">(.*?)</script>', page, re.S)
    doc = json.loads(m.group(1))
    assert doc["title"] == f"memtide bench: {script} {{mib}} {{way}}"
    for cell in doc["cells"]:
        stats, _ = expected[cell["params"]["way"], cell["params"]["mib"]]
        assert cell["peak_bytes"] == stats["peak_bytes"]
    html_file = tmp_path / "bench.html"
    html_file.write_text(page)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "html"))
    import mt_browser
    if not mt_browser.find_chromium():
        pytest.skip("chromium is not installed (tests/html/setup.sh)")
    with mt_browser.Browser(tmp_path / "chromium") as b:
        p = b.new_page()
        p.goto(html_file.as_uri(), ready="document.body.dataset.ready === '1'")
        assert p.eval("document.body.dataset.charts") == "2"
        assert p.eval("document.querySelectorAll('#cells tbody tr').length") == 6
        assert p.eval("document.querySelectorAll('#charts canvas').length") == 2
        assert not p.eval("document.getElementById('steps-panel').hidden")
        first = p.eval("Array.from(document.querySelectorAll('#cells tbody tr')[0].cells)"
                       ".map(c => c.textContent)")
        assert first[:3] == ["list", "4", "ok"]
        assert first[9] == f"fill at {script}:{site_lines(SCRIPT)['fill']}"
        assert p.errors() == [] and p.alerts() == []
        assert all(u.startswith("file://") for u in p.requests()), p.requests()
        p.screenshot(tmp_path / "bench.png")
        print("screenshot:", tmp_path / "bench.png")
