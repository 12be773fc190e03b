"""Hardware counters per IPython cell (`%memtide_watch on --perf`), read
with perf_event_open directly.  Whether this machine has them is found
out first, the way memtide does; then either the figures are there and
positive, or the one-line "perf counters unavailable: <reason>" is, and
the cells' memory lines go on as without --perf."""

import json
import re
import subprocess

import pytest

from mtlib import package_env

CELLS = """
%load_ext memtide
%memtide_watch on --perf
total = sum(range(3_000_000))
import memtide.ipython as mi; print("CYCLES", mi.last.cycles, "IPC", mi.last.ipc)
%memtide_watch off
%memtide_watch off --perf
"""

PROBE = """
from memtide import _perf
try:
    _perf.Counters().close()
    print("available")
except _perf.Unavailable as e:
    print("unavailable:", e)
"""


@pytest.fixture(scope="module")
def counters(system_python):
    res = subprocess.run([system_python, "-c", PROBE], capture_output=True, text=True,
                         env=package_env(), timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_watch_perf(mt, system_python, counters):
    pytest.importorskip("IPython")
    res = mt.plain(system_python, "-m", "IPython", "--no-banner", "--colors=NoColor",
                   "--HistoryManager.enabled=False", input=CELLS.encode(), env=package_env())
    out = res.out + res.err
    lines = [l for l in out.splitlines() if "used" in l and "MiB RAM" in l]
    assert lines, out
    if counters == "available":
        assert "perf counters unavailable" not in out, out
        m = re.search(r"cycles ([0-9.]+) ?([kMG]?), instructions ([0-9.]+)", lines[0])
        assert m and float(m.group(1)) > 0 and float(m.group(3)) > 0, lines[0]
        m = re.search(r"CYCLES (\d+) IPC ([0-9.]+)", out)
        assert m and int(m.group(1)) > 0 and float(m.group(2)) > 0, out
    else:
        reason = counters.split(":", 1)[1].strip()
        assert out.count("perf counters unavailable: " + reason) == 1, out
        assert "cycles" not in lines[0], lines[0]
    assert "usage: %memtide_watch on [--perf] | off" in out, out


# --------------------------------------------------------------------------
# Per step: memtide.step(..., perf=True), recorded in the capture

RECORDED = """
import memtide
from memtide import _memtide
memtide.step("load")
_memtide.step_counters("load", (1000, 2500, 40, 7))
memtide.step("fit")
memtide.step("load")
_memtide.step_counters("load", (5, -1, 6, -1))
print("ok")
"""


def test_step_counters_in_capture(mt, python, tmp_path):
    """What the helper hands the tracker reaches `memtide steps` exactly,
    the k-th record of a name going to that name's k-th step."""
    (tmp_path / "rec.py").write_text(RECORDED)
    res = mt.run("run", "-q", "-o", tmp_path / "rec.tide", "--python", python, tmp_path / "rec.py")
    assert res.returncode == 0 and res.out == "ok\n", res
    steps = json.loads(mt.run("steps", "--json", tmp_path / "rec.tide").stdout)
    assert [s["counters"] for s in steps] == [
        {"cycles": 1000, "instructions": 2500, "cache_references": 40, "cache_misses": 7},
        None,
        {"cycles": 5, "instructions": None, "cache_references": 6, "cache_misses": None},
    ], steps
    text = mt.run("steps", "-w", "0", tmp_path / "rec.tide").out.splitlines()
    assert text[0].split()[-7:] == ["cycles", "instr", "IPC", "cache", "miss", "top", "site"], \
        text[0]
    # cycles, instructions, IPC, cache misses
    assert "   1.00 k    2.50 k  2.50         7  " in text[1], text[1]
    assert "         5         -     -         -  " in text[3], text[3]


PERF_STEPS = """
import memtide
with memtide.step("sum", perf=True):
    total = sum(range(3_000_000))
memtide.step("more", perf=True)
total += sum(range(1_000_000))
print("ok")
"""


def test_step_perf(mt, system_python, counters, tmp_path):
    (tmp_path / "ps.py").write_text(PERF_STEPS)
    res = mt.run("run", "-q", "-o", tmp_path / "ps.tide", "--python", system_python,
                 tmp_path / "ps.py")
    assert res.returncode == 0 and res.out == "ok\n", res
    steps = json.loads(mt.run("steps", "--json", tmp_path / "ps.tide").stdout)
    assert [s["name"] for s in steps] == ["sum", "more"], steps
    if counters == "available":
        for s in steps:
            assert s["counters"]["cycles"] > 0 and s["counters"]["instructions"] > 0, s
    else:
        reason = counters.split(":", 1)[1].strip()
        assert res.err.count("memtide: perf counters unavailable: " + reason) == 1, res
        assert [s["counters"] for s in steps] == [None, None], steps
