"""The tracker inside the program: allocations from the very first one,
limited address space, signal handlers, many threads, thread names."""

import resource
import subprocess

import pytest

from conftest import CFLAGS
from mtlib import MiB, assert_site, c_defines, site_lines


def _link(build, main, lib, libname):
    """Executable from tests/programs/<main>.c linked with lib<libname>.so."""
    so = build.shared(lib, f"lib{libname}.so")
    out = build.outdir / main
    cmd = [build.cc, *CFLAGS, "-o", str(out), str(build.source(main)),
           f"-L{so.parent}", f"-l{libname}", f"-Wl,-rpath,{so.parent}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_allocations_in_a_library_constructor_are_recorded(mt, build):
    # libctor.so's constructor runs before memtide's own: its blocks were
    # lost (a 5 KB peak instead of 10 MiB).
    d = c_defines(build.source("ctor_lib"))
    freed = c_defines(build.source("ctor_main"))["N_FREED"]
    prog = _link(build, "ctor_main", "ctor_lib", "ctor")
    _, path = mt.capture(prog)
    s = mt.stats_json(path)
    n, size = d["N_BLOCKS"], d["BLOCK_SIZE"]
    src = build.source("ctor_lib")
    assert_site(s, "ctor_alloc", src, site_lines(src)["ctor_alloc"], n, n * size)
    # (a sanitizer build's runtime makes a small allocation of its own)
    small = 256 * 1024
    assert n * size <= s["peak_bytes"] < n * size + small and n * size == 10 * MiB
    assert (n - freed) * size <= s["leaked_bytes"] < (n - freed) * size + small
    res = mt.run("summary", path)
    assert res.returncode == 0, res


def _limit_as(nbytes):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    return set_limit


@pytest.mark.parametrize("limit_kib", [2000000, 400000])
def test_small_address_space_limit(mt, build, limit_kib):
    # The tracker reserved 4 GiB up front: under `ulimit -v 2000000` the
    # capture had no command, PID 0 and no sites.
    d = c_defines(build.source("as_limit"))
    prog = build.program("as_limit")
    limit = _limit_as(limit_kib * 1024)
    if mt.run("--help", preexec_fn=limit).returncode != 0:
        pytest.skip("this memtide command cannot run under RLIMIT_AS "
                    "(an AddressSanitizer build)")
    plain = mt.plain(prog, preexec_fn=limit)
    assert plain.returncode == 0 and plain.out == f"{d['N_BLOCKS']}\n", plain
    res, path = mt.capture(prog, preexec_fn=limit)
    assert res.out == plain.out
    assert "could not be recorded" not in res.err
    s = mt.stats_json(path)
    assert s["command"] == str(prog)
    assert s["pid"] > 0
    assert s["total_allocations"] == d["N_BLOCKS"]
    assert s["peak_bytes"] == d["N_BLOCKS"] * d["BLOCK_SIZE"]
    assert "grab" in mt.stats("-n", "3", path).out


def test_out_of_address_space_is_reported(mt, build):
    # When the tracker cannot map memory, the program goes on as without
    # memtide, and the capture and stderr say that events were dropped.
    d = c_defines(build.source("as_self_limit"))
    prog = build.program("as_self_limit")
    plain = mt.plain(prog)
    assert plain.out == f"{d['N_ROUNDS']}\n", plain
    res, path = mt.capture(prog)
    assert res.out == plain.out
    assert "events could not be recorded: out of address space" in res.err
    s = mt.stats_json(path)
    assert s["dropped_events"] > 0
    assert s["total_allocations"] + s["dropped_events"] >= d["N_ROUNDS"]
    assert "events dropped" in mt.stats(path).out


def test_threads_starting_and_exiting_while_others_allocate(mt, build):
    # 64 threads allocate while 1,280 short-lived ones start, allocate and
    # exit: every allocation of every thread is in the capture.
    src = build.source("thread_churn")
    d = c_defines(src)
    lines = site_lines(src)
    _, path = mt.capture(build.program("thread_churn"))
    s = mt.stats_json(path)
    n_long = d["LONG_THREADS"] * d["PER_LONG"]
    n_short = d["N_WAVES"] * d["WAVE_THREADS"] * d["PER_THREAD"]
    assert_site(s, "long_work", src, lines["long_work"], n_long, n_long * d["LONG_SIZE"])
    assert_site(s, "churn_work", src, lines["churn_work"], n_short, n_short * d["OBJ_SIZE"])
    assert s["dropped_events"] == 0
    assert s["leaked_bytes"] < 256 * 1024  # what the C library (and a sanitizer) keeps
