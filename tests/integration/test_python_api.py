"""memtide inside Python: memtide.Tracker, memtide.step, memtide.tracking.

Each test writes a script, runs it with build/python on PYTHONPATH (no
LD_PRELOAD: the Tracker patches the loaded libraries itself) and reads the
capture back with `memtide stats --json` or `memtide steps --json`. The
pure-Python tests run on every CPython 3.9-3.13 found (the `python`
fixture); the numpy ones on Debian's /usr/bin/python3 only.

bytearray(n) makes one malloc of n + 1 bytes; np.empty((1000, 1000)) one
of 8,000,000. Python's own small objects come from pymalloc, which is
recorded only with trace_python_allocators=True.
"""

import json
import re
import textwrap

import pytest

from mtlib import (assert_no_function, assert_site, describe, locations,
                   package_env, site_lines)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run_script(mt, python, script, *args, expect_rc=0):
    """`python script args...` with the package importable."""
    res = mt.plain(python, script, *args, env=package_env())
    if expect_rc is not None:
        assert res.returncode == expect_rc, f"{script.name} failed:\n{res}"
    return res


def steps_json(mt, path):
    res = mt.run("steps", "--json", path)
    assert res.returncode == 0, f"memtide steps failed on {path}:\n{res}"
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        pytest.fail(f"steps --json printed invalid JSON ({e}):\n{res.out[:3000]}")


def assert_absent_sizes(stats, *sizes):
    """No location holds a block of any of these (distinctive) sizes."""
    for row in stats["top_by_size"] + stats["top_by_count"]:
        for size in sizes:
            assert row["bytes"] != size, (
                f"an allocation of {size} B made outside the Tracker is in "
                f"the capture: {row}\n{describe(stats)}")


# --------------------------------------------------------------------------
# Tracker: what is inside the block and nothing else; one at a time

SEQUENCE_SCRIPT = """
import sys

import memtide


def made_before():
    return bytearray(7_777_777)  # @site:before


def first_work():
    return bytearray(1_000_000)  # @site:first


def first_after_refusal():
    return bytearray(1_500_000)  # @site:first_after


def between():
    return bytearray(5_555_555)  # @site:between


def second_work():
    keep = [None] * 3
    for i in range(3):
        keep[i] = bytearray(2_000_000)  # @site:second
    return keep


def made_after():
    return bytearray(6_666_666)  # @site:after


first, second, refused = sys.argv[1:4]
early = made_before()
print("before:", memtide.tracking())
with memtide.Tracker(first):
    print("inside:", memtide.tracking())
    one = first_work()
    try:
        with memtide.Tracker(refused):
            print("second tracker started")
    except RuntimeError as e:
        print("refused:", e)
    print("still:", memtide.tracking())
    one_more = first_after_refusal()
print("between:", memtide.tracking())
mid = between()
try:
    with memtide.Tracker(second):
        two = second_work()
        del early, one  # blocks made before this tracker, freed inside it
        raise ValueError("raised inside")
except ValueError as e:
    print("caught:", e)
late = made_after()
print("after:", memtide.tracking())
"""


def test_tracker_sequence_and_refusal(mt, python, tmp_path):
    """Two Trackers one after the other in one process: each capture holds
    exactly its own block's allocations; a Tracker started inside another
    raises RuntimeError and leaves the running one recording."""
    script = write(tmp_path, "sequence.py", SEQUENCE_SCRIPT)
    lines = site_lines(script)
    first, second, refused = (tmp_path / n for n in ("first.tide", "second.tide",
                                                     "refused.tide"))
    res = run_script(mt, python, script, first, second, refused)
    out = res.out.splitlines()
    assert out[:2] == ["before: False", "inside: True"], str(res)
    assert "second tracker started" not in res.out, str(res)
    refusal = [x for x in out if x.startswith("refused: ")]
    assert len(refusal) == 1, f"starting a second Tracker did not raise RuntimeError:\n{res}"
    assert re.search(r"already (running|active|tracking)", refusal[0]), \
        f"unclear message for a second Tracker: {refusal[0]!r}"
    assert out[out.index(refusal[0]) + 1:] == [
        "still: True", "between: False", "caught: raised inside", "after: False"], str(res)
    assert not refused.exists(), "the refused Tracker created its capture file"

    one = mt.stats_json(first)
    assert_site(one, "first_work", script, lines["first"], 1, 1_000_001)
    assert_site(one, "first_after_refusal", script, lines["first_after"], 1, 1_500_001)
    for func in ("made_before", "between", "second_work", "made_after"):
        assert_no_function(one, func)
    assert_absent_sizes(one, 7_777_778, 5_555_556, 2_000_001, 6_666_667)
    assert 2_500_002 <= one["total_bytes"] < 2_500_002 + 1_000_000, describe(one)
    assert 2_500_002 <= one["peak_bytes"] < 2_500_002 + 1_000_000, describe(one)

    two = mt.stats_json(second)
    assert_site(two, "second_work", script, lines["second"], 3, 6_000_003)
    for func in ("made_before", "first_work", "first_after_refusal", "between",
                 "made_after"):
        assert_no_function(two, func)
    assert_absent_sizes(two, 7_777_778, 1_000_001, 1_500_001, 5_555_556, 6_666_667)
    # Freeing blocks the capture never saw allocated changes nothing.
    assert 6_000_003 <= two["total_bytes"] < 6_000_003 + 1_000_000, describe(two)
    assert 6_000_003 <= two["peak_bytes"] < 6_000_003 + 1_000_000, describe(two)
    assert 6_000_003 <= two["leaked_bytes"] <= two["peak_bytes"], describe(two)


def test_tracker_under_memtide_run(mt, python, tmp_path):
    """`memtide run` is already tracking: a Tracker is refused, the script
    goes on and the run's capture still has its allocations."""
    script = write(tmp_path, "under_run.py", """
        import sys

        import memtide


        def work():
            return bytearray(1_234_567)  # @site:work


        print("tracking:", memtide.tracking())
        try:
            with memtide.Tracker(sys.argv[1]):
                print("tracker started")
        except RuntimeError as e:
            print("refused:", e)
        keep = work()
        print("done")
    """)
    inner = tmp_path / "inner.tide"
    res, path = mt.capture(script, inner, options=["--python", python],
                           env=package_env())
    out = res.out.splitlines()
    assert out[0] == "tracking: True", str(res)
    assert out[-1] == "done" and len(out) == 3, str(res)
    assert out[1].startswith("refused: ") and re.search(
        r"already (running|active|tracking)", out[1]), \
        f"a Tracker under memtide run must raise a clear RuntimeError:\n{res}"
    assert not inner.exists(), "the refused Tracker created its capture file"
    stats = mt.stats_json(path)
    assert_site(stats, "work", script, site_lines(script)["work"], 1, 1_234_568)


# --------------------------------------------------------------------------
# numpy under a Tracker (Debian's python3-numpy)

NUMPY_SCRIPT = """
import sys

import memtide

INSIDE = sys.argv[2] == "inside"
if not INSIDE:
    import numpy as np


def made_before():
    return bytearray(7_777_777)  # @site:before


def hold_array():
    import numpy as np
    a = np.empty((1000, 1000))  # @site:array
    return a


def hold_bytes():
    b = bytearray(1_000_000)  # @site:bytes
    return b


def made_after():
    return bytearray(6_666_666)  # @site:after


early = made_before()
with memtide.Tracker(sys.argv[1]):
    if INSIDE:
        import numpy as np  # its libraries are dlopen'ed after the start
    arr = hold_array()
    buf = hold_bytes()
    del early
late = made_after()
print(arr.shape, len(buf), len(late))
"""


@pytest.mark.parametrize("when", ["before", "inside"],
                         ids=["numpy-imported-before", "numpy-imported-inside"])
def test_numpy_array_under_tracker(mt, system_numpy, tmp_path, when):
    script = write(tmp_path, "np_tracker.py", NUMPY_SCRIPT)
    lines = site_lines(script)
    path = tmp_path / "np.tide"
    res = run_script(mt, system_numpy, script, path, when)
    assert res.out == "(1000, 1000) 1000000 6666666\n", str(res)
    stats = mt.stats_json(path)
    row = assert_site(stats, "hold_array", script, lines["array"], 1, 8_000_000)
    assert row in stats["top_by_size"], f"hold_array not in top_by_size:\n{describe(stats)}"
    assert_site(stats, "hold_bytes", script, lines["bytes"], 1, 1_000_001)
    assert_no_function(stats, "made_before")
    assert_no_function(stats, "made_after")
    assert_absent_sizes(stats, 7_777_778, 6_666_667)
    assert stats["leaked_bytes"] >= 9_000_001
    if when == "before":
        # Nothing else of any size happens inside the block.
        assert 9_000_001 <= stats["total_bytes"] < 9_000_001 + 256 * 1024, describe(stats)
        assert 9_000_001 <= stats["peak_bytes"] < 9_000_001 + 256 * 1024, describe(stats)
        assert stats["top_by_size"][0]["function"] == "hold_array", describe(stats)


# --------------------------------------------------------------------------
# Steps

STEPS_SCRIPT = """
import sys

import memtide

MB = 1_000_000


def load():
    out = [None] * 10
    for i in range(10):
        out[i] = bytearray(MB)  # @site:load
    return out


def transform(data):
    tmp = bytearray(20 * MB)  # @site:transform
    del tmp
    return data


def save(data):
    del data[5:]  # frees half of what load kept
    return data


def pipeline():
    memtide.step("load")  # a call: lasts until the next step
    data = load()
    memtide.step("transform")
    data = transform(data)
    with memtide.step("save"):  # a context manager: ends with the block
        data = save(data)
    return data


if sys.argv[1] == "-":  # under memtide run
    kept = pipeline()
else:
    with memtide.Tracker(sys.argv[1]):
        kept = pipeline()
print(len(kept), memtide.tracking())
"""


def check_steps(steps, script):
    lines = site_lines(script)
    shown = json.dumps(steps, indent=1)
    assert [s["name"] for s in steps] == ["load", "transform", "save"], shown
    load, transform, save = steps
    for s in steps:
        assert s["peak_bytes"] - s["heap_start_bytes"] == s["peak_above_start_bytes"], shown
        assert s["heap_start_bytes"] <= s["peak_bytes"] and s["heap_end_bytes"] <= s["peak_bytes"]
        assert s["duration_ms"] >= 0 and s["rss_end_bytes"] > 0, shown
    for a, b in zip(steps, steps[1:]):
        assert a["heap_end_bytes"] == b["heap_start_bytes"], shown
        # start_ms and duration_ms are each rounded to the microsecond
        assert a["start_ms"] + a["duration_ms"] <= b["start_ms"] + 0.0025, shown

    assert (load["allocations"], load["allocated_bytes"]) == (10, 10_000_010), shown
    assert load["heap_end_bytes"] - load["heap_start_bytes"] == 10_000_010, shown
    assert load["peak_above_start_bytes"] == 10_000_010, shown
    assert load["top_site"] == f"load at {script}:{lines['load']}", shown
    assert load["top_site_bytes"] == 10_000_010, shown

    assert (transform["allocations"], transform["allocated_bytes"]) == (1, 20_000_001), shown
    assert transform["heap_end_bytes"] == transform["heap_start_bytes"], shown
    assert transform["peak_above_start_bytes"] == 20_000_001, shown
    assert transform["top_site"] == f"transform at {script}:{lines['transform']}", shown
    assert transform["top_site_bytes"] == 20_000_001, shown

    assert (save["allocations"], save["allocated_bytes"]) == (0, 0), shown
    assert save["heap_end_bytes"] - save["heap_start_bytes"] == -5_000_005, shown
    assert save["peak_above_start_bytes"] == 0, shown
    assert save["top_site_bytes"] == 0, shown
    # The five 1 MB buffers were mmap'ed blocks: freeing them lowers the RSS.
    assert save["rss_end_bytes"] <= transform["rss_end_bytes"] - 4_000_000, shown


def test_steps_under_tracker(mt, python, tmp_path):
    script = write(tmp_path, "steps.py", STEPS_SCRIPT)
    path = tmp_path / "steps.tide"
    res = run_script(mt, python, script, path)
    assert res.out == "5 False\n", str(res)
    steps = steps_json(mt, path)
    check_steps(steps, script)
    assert steps[0]["heap_start_bytes"] == 0, "a Tracker's capture starts empty"
    table = mt.run("steps", path)
    assert table.returncode == 0, str(table)
    for name in ("load", "transform", "save"):
        assert re.search(rf"^\s*{name}\b", table.out, re.M), \
            f"step {name} missing from the table:\n{table.out}"


SESSION_SCRIPT = """
import sys

import memtide

for bad in ("", "x" * 64, 5):
    try:
        memtide.Tracker("never.tide", session=bad)
    except ValueError as e:
        print(e)
for i, session in enumerate(("job-42", "job-42", None)):
    with memtide.Tracker(sys.argv[1] + "/%d.tide" % i, session=session):
        pass
"""


def test_tracker_session(mt, python, tmp_path):
    """Tracker(session=) marks the capture; captures of one session read
    as one job, a capture without it is refused beside them."""
    script = write(tmp_path, "session.py", SESSION_SCRIPT)
    res = run_script(mt, python, script, tmp_path)
    assert res.out.splitlines() == ["session must be a string of 1 to 63 bytes"] * 3, str(res)
    assert not (tmp_path / "never.tide").exists()
    assert [mt.stats_json(tmp_path / f"{i}.tide")["session"] for i in range(3)] == [
        "job-42", "job-42", None]
    both = mt.stats("--json", tmp_path / "0.tide", tmp_path / "1.tide")
    assert both.returncode == 0 and json.loads(both.stdout)["session"] == "job-42", str(both)
    mixed = mt.stats(tmp_path)
    assert mixed.returncode != 0 and "different runs" in mixed.err, str(mixed)


def test_steps_under_memtide_run(mt, python, tmp_path):
    script = write(tmp_path, "steps.py", STEPS_SCRIPT)
    res, path = mt.capture(script, "-", options=["--python", python], env=package_env())
    assert res.out == "5 True\n", str(res)
    check_steps(steps_json(mt, path), script)


def test_step_without_tracker_does_nothing(mt, python, tmp_path):
    script = write(tmp_path, "nosteps.py", """
        import memtide

        memtide.step("alone")
        with memtide.step("block"):
            x = bytearray(1000)
        print("ok", memtide.tracking())
    """)
    res = run_script(mt, python, script)
    assert res.out == "ok False\n", str(res)


# --------------------------------------------------------------------------
# trace_python_allocators

PYMALLOC_SCRIPT = """
import sys

import memtide

N = 100_000


def small_objects():
    out = []
    for i in range(N):
        out.append((i, i + 0.5))  # @site:small
    return out


if sys.argv[1] == "-":  # under memtide run
    objs = small_objects()
else:
    for path, trace in zip(sys.argv[1:], (False, True, False)):
        with memtide.Tracker(path, trace_python_allocators=trace):
            objs = small_objects()
print(len(objs))
"""


def test_trace_python_allocators(mt, python, tmp_path):
    """Off, on, off again in one process: 100,000 tuples (and floats) are
    >= 100,000 pymalloc allocations at their line when on, none when off."""
    script = write(tmp_path, "pymalloc.py", PYMALLOC_SCRIPT)
    line = site_lines(script)["small"]
    paths = [tmp_path / f"{n}.tide" for n in ("off1", "on", "off2")]
    res = run_script(mt, python, script, *paths)
    assert res.out == "100000\n", str(res)
    off1, on, off2 = (mt.stats_json(p) for p in paths)
    rows = locations(on, "small_objects", script, line)
    assert len(rows) == 1, f"small_objects at line {line}:\n{describe(on)}"
    assert rows[0]["count"] >= 100_000, f"{rows[0]}\n{describe(on)}"
    assert on["allocators"].get("pymalloc", 0) >= 100_000, on["allocators"]
    for stats in (off1, off2):
        assert stats["allocators"].get("pymalloc", 0) == 0, stats["allocators"]
        rows = locations(stats, "small_objects", script, line)
        assert sum(r["count"] for r in rows) < 1000, \
            f"pymalloc objects recorded without trace_python_allocators:\n{describe(stats)}"


def test_run_trace_python_allocators(mt, python, tmp_path):
    script = write(tmp_path, "pymalloc.py", PYMALLOC_SCRIPT)
    line = site_lines(script)["small"]
    for opts, name in (([], "plain.tide"), (["--trace-python-allocators"], "traced.tide")):
        res, path = mt.capture(script, "-", out=name,
                               options=["--python", python, *opts], env=package_env())
        assert res.out == "100000\n", str(res)
        stats = mt.stats_json(path)
        rows = locations(stats, "small_objects", script, line)
        if opts:
            assert stats["allocators"].get("pymalloc", 0) >= 100_000, stats["allocators"]
            assert len(rows) == 1 and rows[0]["count"] >= 100_000, describe(stats)
        else:
            assert stats["allocators"].get("pymalloc", 0) == 0, stats["allocators"]
            assert sum(r["count"] for r in rows) < 1000, describe(stats)


# --------------------------------------------------------------------------
# Threads

def test_threads_under_tracker(mt, python, tmp_path):
    """Threads started inside the block, and one started before it that
    allocates while it runs, are attributed to their own functions."""
    script = write(tmp_path, "threads.py", """
        import sys
        import threading

        import memtide

        go = threading.Event()
        kept = {}


        def early_thread():
            go.wait()
            kept["early"] = bytearray(4_000_000)  # @site:early


        def worker(n):
            kept[n] = bytearray(3_000_000)  # @site:worker


        def main_work():
            kept["main"] = bytearray(2_000_000)  # @site:main


        pre = threading.Thread(target=early_thread)
        pre.start()
        with memtide.Tracker(sys.argv[1]):
            ts = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
            for t in ts:
                t.start()
            main_work()
            for t in ts:
                t.join()
            go.set()
            pre.join()
        print(len(kept))
    """)
    lines = site_lines(script)
    path = tmp_path / "threads.tide"
    res = run_script(mt, python, script, path)
    assert res.out == "5\n", str(res)
    stats = mt.stats_json(path)
    assert_site(stats, "worker", script, lines["worker"], 3, 9_000_003)
    assert_site(stats, "main_work", script, lines["main"], 1, 2_000_001)
    assert_site(stats, "early_thread", script, lines["early"], 1, 4_000_001)


# --------------------------------------------------------------------------
# Sizes: what the pytest limits (and any size the package takes) mean

SIZES_SCRIPT = """
import json
import sys

from memtide._measure import format_size, parse_size

out = {}
for text in json.loads(sys.argv[1]):
    try:
        out[text] = parse_size(text)
    except ValueError as e:
        out[text] = "error: " + str(e)
sizes = [0, 1023, 1024, 1536, 10_485_760, 10_240_000, 1_610_612_736, 5 * 2**40]
out["@binary"] = [format_size(n) for n in sizes]
out["@decimal"] = [format_size(n, decimal=True) for n in sizes]
print(json.dumps(out))
"""

SIZES = {
    "512": 512, "0": 0, "7 B": 7, "7b": 7,
    "24 MB": 24_000_000, "24 MiB": 25_165_824, "24mb": 24_000_000, "24 mib": 25_165_824,
    "24MIB": 25_165_824, "10 MB": 10_000_000, "10 MiB": 10_485_760,
    "1 KB": 1000, "1 KiB": 1024, "1.5 KiB": 1536, "1 kB": 1000,
    "2 GB": 2_000_000_000, "2 GiB": 2_147_483_648, "1.5 GiB": 1_610_612_736,
    "1.5 GB": 1_500_000_000, "0.5 MiB": 524_288, ".5 MB": 500_000, " 3 TiB ": 3 * 2**40,
    "1 TB": 10**12, "2.25 KiB": 2304,
}
BAD_SIZES = ["24 MBB", "", "MB", "24 M", "24 K", "1.2.3 MB", "-3 MB", "ten MB", "24 MB 1"]


def test_parse_size_exact_bytes(mt, python, tmp_path):
    script = write(tmp_path, "sizes.py", SIZES_SCRIPT)
    res = run_script(mt, python, script, json.dumps(list(SIZES) + BAD_SIZES))
    got = json.loads(res.stdout)
    for text, expected in SIZES.items():
        assert got[text] == expected, (text, got[text])
    for text in BAD_SIZES:
        assert str(got[text]).startswith(f"error: not a size: {text!r}"), (text, got[text])
        assert "KiB, MiB, GiB, TiB powers of 1024" in got[text], got[text]
    assert got["@binary"] == ["0 B", "1023 B", "1.00 KiB", "1.50 KiB", "10.00 MiB",
                              "9.77 MiB", "1.50 GiB", "5.00 TiB"], got["@binary"]
    assert got["@decimal"] == ["0 B", "1.02 KB", "1.02 KB", "1.54 KB", "10.49 MB",
                               "10.24 MB", "1.61 GB", "5.50 TB"], got["@decimal"]
