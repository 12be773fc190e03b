"""Allocations made in signal handlers (issue 7, bug 8).

A handler that interrupts the thread while one of memtide's hooks records
(holding the thread's block lock, the intern mutex, or inside libunwind)
cannot record: its allocations and frees are counted, and the capture and
`stats` say exactly how many.  One that interrupts a hook's allocator call,
or plain code, records as usual.  Every handler event is one or the other.

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


def test_exit_from_handler_interrupting_a_hook(mt, build):
    # _exit from a handler that interrupted memtide (likely: the main thread
    # is inside a hook most of the time): the capture is ended without
    # waiting for what the interrupted hook holds -- it used to hang
    prog = build.program("sigalloc")
    src = build.source("sigalloc")
    d = c_defines(src)
    plain = mt.plain(prog, "exit")
    assert plain.returncode == d["EXIT_CODE"]
    assert handled(plain) == d["EXIT_AFTER"]
    res, path = mt.capture(prog, "exit", expect_rc=d["EXIT_CODE"])
    assert res.stdout == plain.stdout
    stats = mt.stats_json(path)
    assert stats["truncated"] is False
    rec = recorded(stats, src, site_lines(src)["handler_map"])
    assert rec + stats["signal_dropped_allocations"] == d["EXIT_AFTER"]
    assert stats["signal_dropped_frees"] == stats["signal_dropped_allocations"]
