"""Memory line by line: `memtide lines` on a capture, @memtide.profile and
%memtide_lines.

The workload's load() keeps 50 MiB on one line, makes a 100 MiB temporary
on the next, and keeps 20 MiB through a helper on a third; bytearray(n)
is one malloc of n + 1 bytes.  So, exactly:

  line   allocated      net (left when load returns)   peak (load's own: 150 MiB)
  keep   50 MiB + 1     50 MiB + 1                      50 MiB + 1
  tmp    100 MiB + 1    0                               100 MiB + 1
  call   20 MiB + 1     20 MiB + 1                      0 (made after the peak)
"""

import json
import textwrap

import pytest

from mtlib import MiB, package_env, site_lines

SCRIPT = """
import sys

MiB = 1024 * 1024


def helper():
    return bytearray(20 * MiB)


def load():
    keep = bytearray(50 * MiB)   # @site:keep
    tmp = bytearray(100 * MiB)   # @site:tmp
    del tmp
    other = helper()             # @site:call
    return keep, other


held = load()
print("done")
"""

EXPECTED = {  # site: (allocated, net, peak, allocations)
    "keep": (50 * MiB + 1, 50 * MiB + 1, 50 * MiB + 1, 1),
    "tmp": (100 * MiB + 1, 0, 100 * MiB + 1, 1),
    "call": (20 * MiB + 1, 20 * MiB + 1, 0, 1),
}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def check_lines(doc, script):
    lines = site_lines(script)
    by_line = {row["line"]: row for row in doc["lines"]}
    for site, (allocated, net, peak, count) in EXPECTED.items():
        row = by_line[lines[site]]
        assert (row["allocated_bytes"], row["net_bytes"], row["peak_bytes"],
                row["allocations"]) == (allocated, net, peak, count), (site, row)
        assert row["source"].strip().startswith(("keep", "tmp", "other")), row
    others = [r for r in doc["lines"] if r["line"] not in {lines[s] for s in EXPECTED}]
    assert all(r["allocated_bytes"] == 0 for r in others), others
    # the table runs from the def to the return, source included
    assert doc["lines"][0]["source"] == "def load():", doc["lines"][0]
    assert doc["lines"][-1]["source"].strip() == "return keep, other", doc["lines"][-1]


@pytest.fixture
def capture(mt, tmp_path):
    script = write(tmp_path, "load.py", SCRIPT)
    res = mt.run("run", "-q", "-o", tmp_path / "load.tide", "--python", "/usr/bin/python3",
                 script)
    assert res.returncode == 0 and res.out == "done\n", res
    return script, tmp_path / "load.tide"


def test_lines_json_exact(mt, capture):
    script, tide = capture
    res = mt.run("lines", "--json", "--function", "load", tide)
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert doc["function"] == "load" and doc["file"].endswith("load.py"), doc
    check_lines(doc, script)


def test_lines_text(mt, capture):
    script, tide = capture
    res = mt.run("lines", "-F", "load", "-w", "0", tide)
    assert res.returncode == 0, res
    lines = site_lines(script)
    rows = {int(l.split()[0]): l for l in res.out.splitlines()
            if l.strip() and l.split()[0].isdigit()}
    assert rows[lines["keep"]].split()[1:9] == ["50.00", "MiB", "50.00", "MiB", "50.00", "MiB",
                                               "1", "keep"], rows[lines["keep"]]
    assert rows[lines["tmp"]].split()[1:8] == ["100.00", "MiB", "0", "B", "100.00", "MiB",
                                              "1"], rows[lines["tmp"]]
    assert rows[lines["call"]].split()[1:8] == ["20.00", "MiB", "20.00", "MiB", "0", "B",
                                               "1"], rows[lines["call"]]
    assert "Peak of load: 150.00 MiB" in res.out, res.out
    assert "170.00 MiB in 3 allocations" in res.out, res.out


def test_lines_by_file_splits_functions(mt, capture):
    script, tide = capture
    res = mt.run("lines", "--json", "--file", "load.py", tide)
    assert res.returncode == 0, res
    docs = {d["function"]: d for d in json.loads(res.stdout)}
    # the helper's allocation goes to the helper, the innermost function of the file
    assert docs["helper"]["allocated_bytes"] == 20 * MiB + 1, docs["helper"]
    assert docs["load"]["allocated_bytes"] == 150 * MiB + 2, docs["load"]


def test_lines_min(mt, capture):
    script, tide = capture
    doc = json.loads(mt.run("lines", "--json", "-F", "load", "--min", "60MiB", tide).stdout)
    shown = [r["line"] for r in doc["lines"] if r["allocated_bytes"]]
    assert shown == [site_lines(script)["tmp"]], doc


@pytest.mark.parametrize("args, message", [
    (["-F", "lod"], "no allocation was made in a function named lod; near matches: load"),
    (["-F", "nothing_like_it"], "no allocation was made in a function named nothing_like_it"),
    (["-F", "hel"], "near matches: helper"),
    (["--file", "nothere.py"], "no allocation was made in the file nothere.py"),
    ([], "choose the function(s)"),
    (["-F", "load", "--min", "lots"], "--min: not a size"),
])
def test_lines_bad_input(mt, capture, args, message):
    _, tide = capture
    res = mt.run("lines", *args, tide)
    assert res.returncode != 0 and message in res.err, res
    assert len(res.err.strip().splitlines()) == 1, res


def test_lines_native_capture(mt, build):
    prog = build.program("report_peak")
    res = mt.run("run", "-q", "-o", mt.cwd / "n.tide", prog)
    assert res.returncode == 0, res
    res = mt.run("lines", "-F", "main", mt.cwd / "n.tide")
    assert res.returncode == 1 and "has no Python frames" in res.err, res


PROFILE_SCRIPT = SCRIPT.replace("def load():", "@memtide.profile\ndef load():").replace(
    "import sys", "import sys\nimport memtide") + """

@memtide.profile
def fails():
    x = bytearray(5 * MiB)   # @site:fails
    raise ValueError("as it should")


@memtide.profile
def gen():
    for i in range(3):
        yield bytearray(MiB)   # @site:gen


try:
    fails()
except ValueError as e:
    print("raised:", e)
print(sum(len(b) for b in gen()))
"""


def test_profile_decorator(mt, python, tmp_path):
    script = write(tmp_path, "prof.py", PROFILE_SCRIPT)
    res = mt.plain(python, script, env=package_env())
    assert res.returncode == 0, res
    out = res.out
    lines = site_lines(script)
    rows = {int(l.split()[0]): l.split() for l in out.splitlines()
            if l.strip() and l.split()[0].isdigit()}
    assert rows[lines["keep"]][1:8] == ["50.00", "MiB", "50.00", "MiB", "50.00", "MiB", "1"]
    assert rows[lines["tmp"]][1:8] == ["100.00", "MiB", "0", "B", "100.00", "MiB", "1"]
    assert rows[lines["call"]][1:8] == ["20.00", "MiB", "20.00", "MiB", "0", "B", "1"]
    # a function that raises: table printed, exception unchanged
    assert rows[lines["fails"]][1:3] == ["5.00", "MiB"], out
    assert "raised: as it should" in out, out
    # a generator: its three resumptions in one table
    assert rows[lines["gen"]][1:3] == ["3.00", "MiB"] and rows[lines["gen"]][7] == "3", out
    assert out.splitlines()[-1] == str(3 * MiB), out
    assert "done" in out


ASYNC_SCRIPT = """
import asyncio
import memtide

MiB = 1024 * 1024


@memtide.profile
async def fetch():
    await asyncio.sleep(0)
    return bytearray(4 * MiB)   # @site:fetch


@memtide.profile
def walk(n):
    if n == 0:
        return []
    out = walk(n - 1)
    out.append(bytearray(MiB))   # @site:walk
    return out


print(len(asyncio.run(fetch())), len(walk(3)))
"""


def test_profile_coroutine_and_recursion(mt, python, tmp_path):
    """A coroutine gets its table when awaited to the end; a recursive
    function one table, for the outermost call, holding every level's."""
    script = write(tmp_path, "prof_async.py", ASYNC_SCRIPT)
    res = mt.plain(python, script, env=package_env())
    assert res.returncode == 0, res
    lines = site_lines(script)
    rows = [l.split() for l in res.out.splitlines() if l.strip() and l.split()[0].isdigit()]
    fetch = [r for r in rows if r[0] == str(lines["fetch"])]
    walk = [r for r in rows if r[0] == str(lines["walk"])]
    assert len(fetch) == 1 and fetch[0][1:3] == ["4.00", "MiB"], res.out
    # one table for walk(3): the innermost frame of walk is the line of each
    # append, the recursive call line holds nothing of its own
    assert len(walk) == 1 and walk[0][1:3] == ["3.00", "MiB"] and walk[0][7] == "3", res.out
    assert res.out.count("Line #") == 2, res.out
    assert res.out.splitlines()[-1] == f"{4 * MiB} 3", res.out


def test_profile_under_memtide_run(mt, tmp_path):
    """Under `memtide run` the decorator leaves the call alone: the run's
    capture has it, and `memtide lines` reads it from there."""
    script = write(tmp_path, "prof.py", PROFILE_SCRIPT)
    res = mt.run("run", "-q", "-o", tmp_path / "p.tide", "--python", "/usr/bin/python3", script)
    assert res.returncode == 0 and "Line #" not in res.out, res
    doc = json.loads(mt.run("lines", "--json", "-F", "load", tmp_path / "p.tide").stdout)
    check_lines(doc, script)


IPYTHON_CELLS = """
%load_ext memtide
import loadmod
%memtide_lines -f loadmod.load kept = loadmod.load()
def cellfunc():
    a = bytearray(3 * 1024 * 1024)
    return a

%memtide_lines -f cellfunc b = cellfunc()
%memtide_lines -f nosuch cellfunc()
"""


def test_ipython_memtide_lines(mt, system_python, tmp_path):
    pytest.importorskip("IPython")
    write(tmp_path, "loadmod.py", SCRIPT.replace("held = load()\nprint(\"done\")", ""))
    env = package_env()
    env["PYTHONPATH"] = env.get("PYTHONPATH", "") + ":" + str(tmp_path)
    res = mt.plain(system_python, "-m", "IPython", "--no-banner", "--colors=NoColor",
                   "--HistoryManager.enabled=False", input=IPYTHON_CELLS.encode(), env=env)
    out = res.out + res.err
    lines = site_lines(tmp_path / "loadmod.py")
    rows = [l.split() for l in out.splitlines() if l.split()[:1] == [str(lines["tmp"])]]
    assert rows and rows[0][1:8] == ["100.00", "MiB", "0", "B", "100.00", "MiB", "1"], out
    # a function defined in a cell: its source comes from IPython's cache
    assert "a = bytearray(3 * 1024 * 1024)" in out and "3.00 MiB" in out, out
    assert "-f nosuch: name 'nosuch' is not defined" in out, out
