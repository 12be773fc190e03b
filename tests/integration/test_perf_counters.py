"""Hardware counters per IPython cell (`%memtide_watch on --perf`), read
with perf_event_open directly.  Whether this machine has them is found
out first, the way memtide does; then either the figures are there and
positive, or the one-line "perf counters unavailable: <reason>" is, and
the cells' memory lines go on as without --perf."""

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
