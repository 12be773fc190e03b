#!/usr/bin/env python3
"""bench/tui.py - what a refresh of the live terminal UI costs (issue 8).

tests/programs/live_fake.c (built here with src/live/tui.c, -O2) feeds
mt_tui_run a made-up snapshot of N sites whose sizes change at every
snapshot, so that every refresh filters, orders (a partial selection of
the rows on screen, then a sort of those) and redraws; it runs in a tmux
window of 120x40 for a few seconds.  The figure: the UI's CPU time per
refresh, the made-up source's own time taken out.

Not a test: figures only.  usage: bench/tui.py [--rows 0,100000,1000000]
[--seconds 6]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from tmuxlib import Tmux  # noqa: E402


def build(out):
    subprocess.run(["cc", "-std=gnu11", "-O2", "-D_GNU_SOURCE", "-I", f"{REPO}/src/live",
                    "-o", out, f"{REPO}/tests/programs/live_fake.c", f"{REPO}/src/live/tui.c",
                    f"{REPO}/src/report/output.c", "-lncursesw", "-ltinfo"], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="0,100000,1000000")
    ap.add_argument("--seconds", type=float, default=6)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        prog = os.path.join(d, "live_fake")
        build(prog)
        print(f"{'sites':>9} {'refreshes':>9} {'per s':>6} {'UI CPU ms/refresh':>18}")
        for n in a.rows.split(","):
            stats = os.path.join(d, "stats")
            t = Tmux([prog, "--rows", n, "--churn", "--stats", stats], width=120, height=40)
            try:
                time.sleep(a.seconds)
                t.keys("q")
                t.wait_text("[exit 0]", timeout=30)
            finally:
                t.close()
            f = dict(zip(*[iter(open(stats).read().split())] * 2))
            snaps = int(f["snapshots"])
            ui = (float(f["cpu_ms"]) - float(f["snapshot_cpu_ms"])) / snaps
            rate = snaps / (float(f["wall_ms"]) / 1e3)
            print(f"{int(n) + 7:>9} {snaps:>9} {rate:>6.1f} {ui:>18.2f}")


if __name__ == "__main__":
    main()
