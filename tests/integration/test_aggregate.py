"""Aggregated captures (`memtide run --aggregate`, Tracker(aggregate=True)):
the tracker keeps per-stack figures instead of events.  Their reports
must equal a full capture's exactly (peak, leaks, per-site totals), a
SIGKILLed program must leave a file that reads, and the file must not
grow with the run's length.
"""

import json
import os
import re
import signal
import textwrap
import time

import pytest

from mtlib import (assert_one_line_error, c_defines, describe, locations, package_env,
                   site_lines)

# What differs between two runs of one program, whatever the capture mode.
VOLATILE = {"file", "pid", "ppid", "session", "start_unix_ns", "peak_time_ms", "peak_rss_bytes",
            "duration_ms", "aggregated"}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def figures(stats):
    return {k: v for k, v in stats.items() if k not in VOLATILE}


def both(mt, *prog, options=()):
    """(full stats, aggregated stats, full path, aggregated path)."""
    _, full = mt.capture(*prog, out="full.tide", options=options)
    _, agg = mt.capture(*prog, out="aggr.tide", options=("--aggregate", *options))
    return mt.stats_json(full, n=1000), mt.stats_json(agg, n=1000), full, agg


@pytest.mark.parametrize("program", ["alloc_known", "report_peak", "report_leak",
                                     "report_temps", "remap", "file_maps", "diff_sites"])
def test_native_figures_equal_a_full_capture(mt, build, program):
    full, agg, full_path, agg_path = both(mt, build.program(program))
    assert agg["aggregated"] is True and full["aggregated"] is False
    assert agg["truncated"] is False
    assert figures(agg) == figures(full), describe(agg)
    # the reports built on the same per-key arrays agree too
    for cmd in (["tree"], ["tree", "--leaks"], ["summary"]):
        a = mt.run(*cmd, agg_path)
        f = mt.run(*cmd, full_path)
        assert a.returncode == 0 and a.stdout == f.stdout, a


def test_python_figures_equal_a_full_capture(mt, python, tmp_path):
    script = write(tmp_path, "prog.py", """
        keep = []

        def kept(n):
            return [bytearray(10_000) for _ in range(n)]  # @site:kept

        def temporary(n):
            for _ in range(n):
                b = bytearray(50_000)  # @site:temp
                del b

        for i in range(20):
            keep.append(kept(10))
            temporary(5)
        peak = [bytearray(1_000_000) for _ in range(8)]  # @site:peak
        del peak
    """)
    lines = site_lines(script)
    full, agg, full_path, agg_path = both(mt, script, options=["--python", python])
    # The interpreter's own figures are not the same from run to run: where
    # a pymalloc arena is mapped decides how many pools it holds, and so
    # which allocation takes a new arena, in full captures too.  The
    # script's own figures are exact: in all, at the peak and at the end.
    for name, line in lines.items():
        assert locations(agg, None, script, line) == locations(full, None, script, line), name
    for view in ([], ["--leaks"]):
        rows = [json.loads(mt.run("summary", "--json", *view, p).stdout)["rows"]
                for p in (agg_path, full_path)]
        mine = [[r for r in rs if r["file"] == str(script)] for rs in rows]
        assert mine[0] == mine[1], view
        assert mine[0] or view, "the script's functions are not at the peak"
    assert locations(agg, None, script, lines["kept"])[0]["count"] == 200, describe(agg)
    rows = locations(agg, None, script, lines["temp"])
    assert rows and rows[0]["count"] == 100 and rows[0]["bytes"] == 100 * 50_001, describe(agg)
    assert agg["temporary_allocations"] >= 100


def test_sigkill_leaves_a_file_that_reads(mt, system_python, tmp_path):
    script = write(tmp_path, "killed.py", """
        import os, time

        def early():
            return [bytearray(100_000) for i in range(30)]  # @site:early

        k = early()
        print("ready", os.getpid(), flush=True)
        time.sleep(30)
    """)
    out = tmp_path / "out.tide"
    proc = mt.spawn("run", "-q", "--aggregate", "-o", out, "--python", system_python, script)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(rb"ready (\d+)\n", line)
        assert m, line
        time.sleep(1.5)  # the file is rewritten every second
        os.kill(int(m.group(1)), signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    stats = mt.stats_json(out)
    assert stats["aggregated"] is True and stats["truncated"] is True
    rows = locations(stats, None, script, site_lines(script)["early"])
    assert rows and rows[0]["count"] == 30, describe(stats)
    assert rows[0]["bytes"] == 30 * 100_001


def test_size_does_not_grow_with_the_run(mt, python, tmp_path):
    script = write(tmp_path, "loop.py", """
        import random, sys

        def work(size):
            b = bytearray(size)  # above pymalloc's 512 bytes: malloc
            return len(b)

        random.seed(1)
        for i in range(int(sys.argv[1])):
            work(random.randrange(1000, 100_000))
    """)
    sizes = {}
    for n in (20_000, 200_000):
        _, full = mt.capture(script, str(n), out=f"full{n}.tide", options=["--python", python])
        _, agg = mt.capture(script, str(n), out=f"agg{n}.tide",
                            options=["--python", python, "--aggregate"])
        stats = mt.stats_json(agg)
        assert stats["total_allocations"] >= n
        sizes[n] = (full.stat().st_size, agg.stat().st_size)
    (full1, agg1), (full10, agg10) = sizes[20_000], sizes[200_000]
    assert full10 > 3 * full1, sizes
    # what grows is the timeline, by a few bytes per 10 ms round, up to
    # its 1,000 points (10 s): 2 KiB covers the longer run's
    assert abs(agg10 - agg1) <= 2048, sizes


def test_tracker_aggregate(mt, python, tmp_path):
    script = write(tmp_path, "api.py", """
        import sys
        import memtide

        def make():
            return [bytearray(200_000) for _ in range(15)]  # @site:make

        with memtide.Tracker(sys.argv[1], aggregate=True):
            held = make()
            left = make()
            del held
    """)
    out = tmp_path / "api.tide"
    res = mt.plain(python, script, out, env=package_env())
    assert res.returncode == 0, res
    stats = mt.stats_json(out)
    assert stats["aggregated"] is True and stats["truncated"] is False
    rows = locations(stats, None, script, site_lines(script)["make"])
    assert rows and rows[0]["count"] == 30 and rows[0]["bytes"] == 30 * 200_001, describe(stats)
    assert stats["leaked_bytes"] >= 15 * 200_001
    assert stats["peak_bytes"] >= 30 * 200_001


def test_commands_that_need_events_say_so(mt, build):
    _, path = mt.capture(build.program("report_peak"), options=["--aggregate"])
    for cmd in (["flamegraph", "--temporal", "-o", "t.html"], ["steps"],
                ["lines", "--function", "main"]):
        res = mt.run(*cmd, path)
        assert_one_line_error(res)
        assert "needs a full capture" in res.err and "aggregated" in res.err, res
    for cmd in (["flamegraph", "-o", "f.html"], ["flamegraph", "--leaks", "-o", "l.html"],
                ["table", "-o", "t.html"], ["plot", "-o", "p.svg"], ["diff", path, path]):
        res = mt.run(*cmd) if cmd[0] == "diff" else mt.run(*cmd, path)
        assert res.returncode == 0, res


def test_aggregate_with_live_is_refused(mt):
    for live in ("--live", "--live-remote"):
        res = mt.run("run", "--aggregate", live, "true")
        assert res.returncode == 2, res
        assert "--aggregate and --live" in res.err, res


def test_fork_and_a_crash(mt, build):
    """A forked child aggregates into a capture of its own; a program that
    dies of a signal leaves a complete file (the last save runs in the
    signal handler)."""
    _, path = mt.capture(build.program("forker"), options=["--aggregate", "--follow-fork"])
    children = list(path.parent.glob("out.*.tide"))
    assert len(children) == 1, children
    defines = c_defines(build.source("forker"))
    parent, kid = mt.stats_json(path), mt.stats_json(children[0])
    assert kid["aggregated"] is True and kid["truncated"] is False
    rows = locations(kid, "child_alloc")
    assert rows and rows[0]["count"] == defines["CHILD_N"], describe(kid)
    assert rows[0]["bytes"] == defines["CHILD_N"] * defines["CHILD_SIZE"]
    assert not locations(parent, "child_alloc"), describe(parent)
    rows = locations(parent, "parent_alloc")
    assert rows and rows[0]["count"] == defines["PARENT_N"], describe(parent)

    res, path = mt.capture(build.program("crash"), "segv", out="crash.tide",
                           options=["--aggregate"], expect_rc=None)
    assert res.returncode != 0
    stats = mt.stats_json(path)
    assert stats["aggregated"] is True and stats["truncated"] is False
    rows = locations(stats, "crash_alloc")
    assert rows and rows[0]["count"] == 50 and rows[0]["bytes"] == 50 * 2000, describe(stats)


def test_follow_exec_child_aggregates(mt, build):
    """A program started with --follow-exec aggregates too, into its own
    capture of the same session, and `stats DIR` reads the tree."""
    _, path = mt.capture(build.program("spawner"), "spawn",
                         options=["--aggregate", "--follow-exec"])
    children = list(path.parent.glob("out.*.tide"))
    assert len(children) == 1, children
    defines = c_defines(build.source("spawner"))
    parent, kid = mt.stats_json(path), mt.stats_json(children[0])
    assert parent["aggregated"] is True and kid["aggregated"] is True
    assert kid["session"] == parent["session"] and kid["ppid"] == parent["pid"]
    rows = locations(kid, "leaf_alloc")
    assert rows and rows[0]["count"] == defines["LEAF_N"], describe(kid)
    assert rows[0]["bytes"] == defines["LEAF_N"] * defines["LEAF_SIZE"]
    assert locations(parent, "parent_alloc")[0]["count"] == defines["PARENT_N"]
    res = mt.run("stats", mt.cwd)
    assert res.returncode == 0 and "2 processes" in res.out, res
