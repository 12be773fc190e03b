"""Reserved address space: anonymous mappings made PROT_NONE (the JVM, V8
and CUDA reserve gigabytes so) are no memory until an mprotect makes part
of them accessible, and are memory no more once made PROT_NONE again.
An mprotect of anything else (a heap block's guard page, a JIT's page
going from writable to executable) changes nothing."""

import pytest

from mtlib import assert_site, c_defines, describe, package_env, site_lines

from test_aggregate import figures
from test_reader import REPORTS, report

MB = 1 << 20


@pytest.mark.parametrize("keep", [False, True], ids=["unmapped", "kept"])
@pytest.mark.parametrize("mode", ["full", "aggregate"])
def test_reserved_memory_counts_once_accessible(mt, build, mode, keep):
    src = build.source("reserve")
    d = c_defines(src)
    lines = site_lines(src)
    chunk = d["CHUNK_MB"] * MB
    options = ("--aggregate",) if mode == "aggregate" else ()
    args = ("keep",) if keep else ()
    _, path = mt.capture(build.program("reserve"), *args, options=options)
    stats = mt.stats_json(path)

    assert_site(stats, "guard", src, lines["guard"], 1, d["GUARD_BLOCK"])
    assert_site(stats, "jit", src, lines["jit"], 1, d["JIT_PAGE"])
    assert_site(stats, "grow", src, lines["grow"], d["CHUNKS"], d["CHUNKS"] * chunk)
    # of the two chunks it makes read-write, one was still accessible
    assert_site(stats, "regrow", src, lines["regrow"], 1, chunk)
    assert stats["total_allocations"] == 2 + d["CHUNKS"] + 1, describe(stats)
    assert stats["allocators"] == {"aligned_alloc": 1, "mmap": 1, "mprotect": d["CHUNKS"] + 1}
    assert stats["peak_bytes"] == d["CHUNKS"] * chunk, stats
    if keep:    # the chunks grow() and regrow() made last: the first went back
        assert (stats["leaked_allocations"], stats["leaked_bytes"]) == (2, 2 * chunk), stats
    else:
        assert (stats["leaked_allocations"], stats["leaked_bytes"]) == (0, 0), stats
    for cmd in REPORTS if mode == "full" else ("stats", "tree", "summary", "flamegraph"):
        r = report(mt, cmd, path)
        assert r.returncode == 0, f"{cmd}:\n{r}"
        assert "18,446,744" not in r.out and "18446744" not in r.out, r.out


def test_aggregated_capture_reads_as_the_full_one(mt, build):
    prog = build.program("reserve")
    _, full = mt.capture(prog, "keep", out="full.tide")
    _, agg = mt.capture(prog, "keep", out="aggr.tide", options=("--aggregate",))
    assert figures(mt.stats_json(agg, n=1000)) == figures(mt.stats_json(full, n=1000))


TRACKER_SCRIPT = """\
import ctypes, sys
import memtide

lib = ctypes.CDLL(sys.argv[2])
with memtide.Tracker(sys.argv[1], native=True):
    lib.reserve_main(1, None)
"""


def test_tracker_hooks_mprotect_too(mt, build, tmp_path):
    """Without LD_PRELOAD, a Tracker sees the library's mprotect calls
    through its GOT: the same figures as `memtide run`, at the Python line
    that called the library."""
    src = build.source("reserve")
    d = c_defines(src)
    chunk = d["CHUNK_MB"] * MB
    lib = build.shared("reserve", "libreserve.so", defines=["main=reserve_main"])
    script = tmp_path / "tracked.py"
    script.write_text(TRACKER_SCRIPT)
    path = tmp_path / "t.tide"
    res = mt.plain("/usr/bin/python3", script, path, lib, env=package_env())
    assert res.returncode == 0, str(res)
    stats = mt.stats_json(path)
    assert_site(stats, "<module>", script, 6, 2 + d["CHUNKS"] + 1,
                d["GUARD_BLOCK"] + d["JIT_PAGE"] + (d["CHUNKS"] + 1) * chunk)
    assert stats["allocators"]["mprotect"] == d["CHUNKS"] + 1, stats["allocators"]
    # Python's own allocations come and go around the chunks
    assert d["CHUNKS"] * chunk <= stats["peak_bytes"] < d["CHUNKS"] * chunk + MB, stats


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 11, 19])
@pytest.mark.parametrize("mode", ["full", "aggregate"])
def test_random_protections_match_a_model_of_the_pages(mt, build, mode, seed):
    """400 random mprotect/mmap MAP_FIXED/munmap calls over a reservation:
    the peak and what is left equal the program's own count of its
    accessible pages."""
    options = ("--aggregate",) if mode == "aggregate" else ()
    res, path = mt.capture(build.program("reserve_random"), str(seed), options=options)
    peak, final = map(int, res.out.split())
    stats = mt.stats_json(path)
    assert (stats["peak_bytes"], stats["leaked_bytes"]) == (peak, final), stats
