"""Allocations made in signal handlers (issue 7, bug 8).

A handler that interrupts the thread inside one of memtide's hooks cannot
record (the hook may hold the thread's block lock, the intern mutex, or be
inside libunwind): its allocations and frees are counted, and the capture
and `stats` say exactly how many.  Every handler event is either recorded
or counted.  A handler that interrupts plain code records as usual.

tests/programs/sigalloc.c: a timer's SIGPROF handler maps and unmaps one
page while the main thread mallocs and frees in a loop; it prints how many
times the handler ran.
"""

import re

from mtlib import assert_site, c_defines, locations, site_lines


def handled(res):
    m = re.fullmatch(rb"handled (\d+)\n", res.stdout)
    assert m, f"unexpected output: {res.stdout!r}"
    return int(m.group(1))


def recorded(stats, src, line):
    rows = locations(stats, "on_prof", "sigalloc.c", line)
    assert len(rows) <= 1, rows
    return rows[0]["count"] if rows else 0


def test_handler_allocations_interrupting_hooks_are_recorded_or_counted(mt, build):
    prog = build.program("sigalloc")
    src = build.source("sigalloc")
    d = c_defines(src)
    lines = site_lines(src)
    plain = mt.plain(prog)
    assert plain.returncode == 0 and handled(plain) > 0
    res, path = mt.capture(prog)
    runs = handled(res)
    assert runs > 0
    stats = mt.stats_json(path)
    # the main thread's allocations are all there
    assert_site(stats, "churn", src, lines["churn"], d["LOOPS"], d["LOOPS"] * d["SIZE"])
    # each handler run is recorded or counted, never lost
    rec = recorded(stats, src, lines["handler_map"])
    dropped = stats["signal_dropped_allocations"]
    assert rec + dropped == runs, (rec, dropped, runs)
    assert stats["signal_dropped_frees"] == dropped
    assert stats["signal_dropped_bytes"] == dropped * d["PAGE"]
    assert stats["allocators"].get("mmap", 0) == rec
    if rec:
        assert_site(stats, "on_prof", src, lines["handler_map"], rec, rec * d["PAGE"])
    assert dropped > 0, "the timer never interrupted a hook: the test proves nothing"
    # handlers that interrupt a hook's allocator call record (about 1 in 10
    # of thousands here)
    assert rec > 0
    text = mt.stats(path).out
    assert f"Note: {dropped:,} allocations (" in text, text
    assert (f") and {dropped:,} frees made in signal handlers while memtide was "
            f"recording could not be recorded") in text, text


def test_handler_outside_hooks_records(mt, build):
    prog = build.program("sigalloc")
    src = build.source("sigalloc")
    d = c_defines(src)
    lines = site_lines(src)
    plain = mt.plain(prog, "raise")
    assert plain.returncode == 0
    assert plain.stdout == (b"query: own handler\nafter reset: default\n"
                            b"handled %d\n" % (d["RAISED"] + 1))
    res, path = mt.capture(prog, "raise")
    assert res.stdout == plain.stdout
    stats = mt.stats_json(path)
    assert stats["truncated"] is False
    runs = d["RAISED"] + 1
    assert_site(stats, "on_prof", src, lines["handler_map"], runs, runs * d["PAGE"])
    assert stats["signal_dropped_allocations"] == 0
    assert stats["signal_dropped_frees"] == 0
    assert "signal handlers" not in mt.stats(path).out
