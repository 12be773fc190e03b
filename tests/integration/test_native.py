"""memtide run + stats on native programs whose allocations are known exactly."""

import os
import re

import pytest

from mtlib import (ALLOCATOR_KINDS, KiB, MAGIC, assert_no_function,
                   assert_one_line_error, assert_site, c_defines, describe, locations, site_lines)

# What libc may allocate on its own in a small program (stdio buffers,
# pthread's TLS, dlopen's link maps): allowed on top of the known numbers,
# never below them.
SLACK_BYTES = 64 * KiB
SLACK_ALLOCS = 64


def known_alloc(build):
    """Expected numbers of tests/programs/alloc_known.c, from its #defines."""
    src = build.source("alloc_known")
    d = c_defines(src)
    grow_sizes = [d["GROW_START"] + i * d["GROW_STEP"] for i in range(1, d["N_GROW"] + 1)]
    k = {
        "src": src,
        "d": d,
        "lines": site_lines(src),
        "blocks_bytes": d["N_BLOCKS"] * d["BLOCK_SIZE"],
        "zeroed_bytes": d["N_ZEROED"] * d["ZEROED_SIZE"],
        "grow_realloc_bytes": sum(grow_sizes),
        "reallocarray_bytes": d["RA_NMEMB"] * d["RA_SIZE"],
    }
    k["total_allocations"] = (d["N_BLOCKS"] + d["N_ZEROED"] + 1 + d["N_GROW"] + 1
                              + 5 + 1)
    k["total_bytes"] = (k["blocks_bytes"] + k["zeroed_bytes"] + d["GROW_START"]
                        + k["grow_realloc_bytes"] + k["reallocarray_bytes"]
                        + d["PM_SIZE"] + d["AA_SIZE"] + d["MA_SIZE"]
                        + d["VA_SIZE"] + d["PV_SIZE"] + d["MAP_SIZE"])
    # The blocks are still live while the big mapping exists; everything
    # else was freed before.
    k["peak"] = k["blocks_bytes"] + d["MAP_SIZE"]
    return k


@pytest.fixture
def alloc_known(mt, build):
    """(stats, expected) for one capture of alloc_known."""
    res, path = mt.capture(build.program("alloc_known"))
    assert path.read_bytes()[:8] == MAGIC
    return mt.stats_json(path), known_alloc(build)


def test_json_has_the_documented_keys(alloc_known):
    stats, _ = alloc_known
    for key, kind in (("total_allocations", int), ("total_bytes", int),
                      ("peak_bytes", int), ("peak_time_ms", (int, float)),
                      ("peak_rss_bytes", int), ("duration_ms", (int, float)),
                      ("truncated", bool), ("allocators", dict),
                      ("histogram", list), ("top_by_size", list),
                      ("top_by_count", list)):
        assert key in stats, f"stats --json lacks {key!r}: keys are {sorted(stats)}"
        assert isinstance(stats[key], kind), f"{key} = {stats[key]!r}"
    assert stats["truncated"] is False
    assert set(stats["allocators"]) <= set(ALLOCATOR_KINDS), stats["allocators"]
    for row in stats["histogram"]:
        assert set(row) >= {"max_bytes", "count"}, row
    for key in ("top_by_size", "top_by_count"):
        for row in stats[key]:
            assert set(row) >= {"function", "file", "line", "bytes", "count"}, row


def test_totals_cover_every_known_allocation(alloc_known):
    stats, k = alloc_known
    assert k["total_allocations"] <= stats["total_allocations"] \
        <= k["total_allocations"] + SLACK_ALLOCS, describe(stats)
    assert k["total_bytes"] <= stats["total_bytes"] \
        <= k["total_bytes"] + SLACK_BYTES, describe(stats)


def test_allocator_kinds_are_counted(alloc_known):
    stats, k = alloc_known
    d = k["d"]
    got = stats["allocators"]
    # Kinds that libc never uses on its own here are exact.
    exact = {"realloc": d["N_GROW"], "reallocarray": 1, "posix_memalign": 1,
             "aligned_alloc": 1, "memalign": 1, "valloc": 1, "pvalloc": 1,
             "mmap": 1}
    assert {kind: got.get(kind, 0) for kind in exact} == exact, got
    assert d["N_BLOCKS"] + 1 <= got.get("malloc", 0) <= d["N_BLOCKS"] + 1 + SLACK_ALLOCS, got
    assert d["N_ZEROED"] <= got.get("calloc", 0) <= d["N_ZEROED"] + SLACK_ALLOCS, got
    assert got.get("mremap", 0) == 0, got
    assert sum(got.values()) == stats["total_allocations"], got


def test_sites_have_exact_counts_and_bytes(alloc_known):
    stats, k = alloc_known
    d, lines, src = k["d"], k["lines"], k["src"]
    assert_site(stats, "make_blocks", src, lines["make_blocks"],
                d["N_BLOCKS"], k["blocks_bytes"])
    assert_site(stats, "make_zeroed", src, lines["make_zeroed"],
                d["N_ZEROED"], k["zeroed_bytes"])
    assert_site(stats, "grow", src, lines["grow_malloc"], 1, d["GROW_START"])
    assert_site(stats, "grow", src, lines["grow_realloc"],
                d["N_GROW"], k["grow_realloc_bytes"])
    assert_site(stats, "grow", src, lines["grow_reallocarray"],
                1, k["reallocarray_bytes"])
    for name, size in (("posix_memalign", "PM_SIZE"), ("aligned_alloc", "AA_SIZE"),
                       ("memalign", "MA_SIZE"), ("valloc", "VA_SIZE"),
                       ("pvalloc", "PV_SIZE")):
        assert_site(stats, "aligned_allocs", src, lines[name], 1, d[size])
    assert_site(stats, "map_big", src, lines["map_big"], 1, d["MAP_SIZE"])


def test_top_lists_are_sorted_and_limited(alloc_known, mt):
    stats, k = alloc_known
    by_size = [r["bytes"] for r in stats["top_by_size"]]
    by_count = [r["count"] for r in stats["top_by_count"]]
    assert by_size == sorted(by_size, reverse=True)
    assert by_count == sorted(by_count, reverse=True)
    assert stats["top_by_size"][0]["function"] == "map_big", describe(stats)
    assert stats["top_by_count"][0]["function"] == "make_blocks", describe(stats)
    one = mt.stats_json(mt.cwd / "out.tide", n=1)
    assert len(one["top_by_size"]) == 1 and len(one["top_by_count"]) == 1
    assert one["top_by_size"][0] == stats["top_by_size"][0]


def test_histogram_counts_every_allocation(alloc_known):
    stats, k = alloc_known
    hist = stats["histogram"]
    assert hist, "empty histogram"
    bounds = [r["max_bytes"] for r in hist]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), hist
    assert sum(r["count"] for r in hist) == stats["total_allocations"], hist
    # The 4096-byte blocks land in buckets whose bound is >= 4096 and the
    # 32 MiB mapping in the last bucket.
    assert sum(r["count"] for r in hist if r["max_bytes"] >= k["d"]["BLOCK_SIZE"]) \
        >= k["d"]["N_BLOCKS"] + 1, hist
    assert hist[-1]["max_bytes"] >= k["d"]["MAP_SIZE"] and hist[-1]["count"] >= 1, hist


def test_peak_includes_the_mmap(alloc_known):
    stats, k = alloc_known
    assert k["peak"] <= stats["peak_bytes"] < k["peak"] + SLACK_BYTES, \
        f"peak_bytes {stats['peak_bytes']}, known peak {k['peak']}"
    # The mapping was touched and held for MAP_HOLD_MS, longer than the
    # 10 ms RSS sampling period.
    assert stats["peak_rss_bytes"] >= k["d"]["MAP_SIZE"], stats["peak_rss_bytes"]
    assert stats["duration_ms"] >= k["d"]["MAP_HOLD_MS"], stats["duration_ms"]
    assert 0 <= stats["peak_time_ms"] <= stats["duration_ms"], \
        (stats["peak_time_ms"], stats["duration_ms"])


def test_text_stats(alloc_known, mt):
    stats, k = alloc_known
    res = mt.stats("-n", "5", mt.cwd / "out.tide")
    assert res.returncode == 0, str(res)
    text = res.out
    assert "make_blocks" in text and "map_big" in text, text
    assert re.search(rf"make_blocks at \S*alloc_known\.c:{k['lines']['make_blocks']}\b",
                     text), text
    for kind in ("MALLOC", "CALLOC", "REALLOC", "POSIX_MEMALIGN", "ALIGNED_ALLOC",
                 "MEMALIGN", "VALLOC", "PVALLOC", "MMAP"):
        assert kind in text, f"{kind} missing from the allocator distribution:\n{text}"
    assert str(stats["total_allocations"]) in text.replace(",", ""), text


def test_mremap(mt, build):
    src = build.source("remap")
    d = c_defines(src)
    lines = site_lines(src)
    res, path = mt.capture(build.program("remap"))
    stats = mt.stats_json(path)
    assert_site(stats, "map_first", src, lines["map_first"], 1, d["MAP_FIRST"])
    assert_site(stats, "remap_grow", src, lines["remap_grow"], 1, d["MAP_GROWN"])
    assert stats["allocators"].get("mmap") == 1 and stats["allocators"].get("mremap") == 1, \
        stats["allocators"]
    assert d["MAP_GROWN"] <= stats["peak_bytes"] < d["MAP_GROWN"] + SLACK_BYTES


def test_threads(mt, build):
    src = build.source("threads")
    d = c_defines(src)
    n = d["N_THREADS"] * d["PER_THREAD"]
    res, path = mt.capture(build.program("threads"))
    stats = mt.stats_json(path)
    assert_site(stats, "thread_work", src, site_lines(src)["thread_work"],
                n, n * d["OBJ_SIZE"])
    assert stats["allocators"].get("malloc", 0) >= n
    assert n <= stats["total_allocations"] <= n + SLACK_ALLOCS
    # Every thread holds its blocks until all have made theirs.
    assert n * d["OBJ_SIZE"] <= stats["peak_bytes"] < n * d["OBJ_SIZE"] + SLACK_BYTES


def test_dlopen_library_is_tracked_and_symbolized(mt, build):
    lib_src = build.source("dl_lib")
    d = c_defines(lib_src)
    lib = build.shared("dl_lib", "libdbg.so")
    prog = build.program("dlopen_main")
    res, path = mt.capture(prog, lib, "lib_alloc", "lib_free")
    stats = mt.stats_json(path)
    assert_site(stats, "lib_alloc", lib_src, site_lines(lib_src)["lib_alloc"],
                d["LIB_N"], d["LIB_N"] * d["LIB_SIZE"])
    assert stats["total_allocations"] >= d["LIB_N"]


def test_dlopen_library_without_debug_info(mt, build):
    """A native frame without line info: file is the library, line 0."""
    d = c_defines(build.source("dl_lib"))
    lib = build.shared("dl_lib", "libnodebug.so", debug=False, defines=["NODEBUG"])
    res, path = mt.capture(build.program("dlopen_main"), lib,
                           "nodebug_alloc", "nodebug_free")
    stats = mt.stats_json(path)
    rows = locations(stats, "nodebug_alloc")
    assert len(rows) == 1, f"nodebug_alloc: {rows}\n{describe(stats)}"
    row = rows[0]
    assert os.path.basename(row["file"]) == "libnodebug.so", row
    assert row["line"] == 0, row
    assert (row["count"], row["bytes"]) == \
        (d["NODEBUG_N"], d["NODEBUG_N"] * d["NODEBUG_SIZE"]), row


def _fork_expect(build):
    src = build.source("forker")
    return src, c_defines(src), site_lines(src)


def test_fork_without_follow_fork(mt, build):
    src, d, lines = _fork_expect(build)
    prog = build.program("forker")
    res, path = mt.capture(prog)
    plain = mt.plain(prog)
    assert plain.returncode == 0
    assert re.fullmatch(rb"child \d+\n", res.stdout), res.stdout
    stats = mt.stats_json(path)
    assert_site(stats, "parent_alloc", src, lines["parent_alloc"],
                d["PARENT_N"], d["PARENT_N"] * d["PARENT_SIZE"])
    assert_no_function(stats, "child_alloc")
    assert stats["total_allocations"] < d["PARENT_N"] + SLACK_ALLOCS
    captures = sorted(p.name for p in mt.cwd.iterdir())
    assert captures == ["out.tide"], f"children are not tracked without " \
        f"--follow-fork, but the directory holds {captures}"


def test_fork_with_follow_fork(mt, build):
    src, d, lines = _fork_expect(build)
    res, path = mt.capture(build.program("forker"), options=["--follow-fork"])
    child_pid = int(re.fullmatch(rb"child (\d+)\n", res.stdout).group(1))
    parent = mt.stats_json(path)
    assert_site(parent, "parent_alloc", src, lines["parent_alloc"],
                d["PARENT_N"], d["PARENT_N"] * d["PARENT_SIZE"])
    assert_no_function(parent, "child_alloc")
    child_path = mt.cwd / f"out.{child_pid}.tide"
    assert child_path.exists(), \
        f"no child capture {child_path.name}; directory: {sorted(os.listdir(mt.cwd))}"
    child = mt.stats_json(child_path)
    assert_site(child, "child_alloc", src, lines["child_alloc"],
                d["CHILD_N"], d["CHILD_N"] * d["CHILD_SIZE"])
    assert_no_function(child, "parent_alloc")
    assert d["CHILD_N"] <= child["total_allocations"] < d["CHILD_N"] + SLACK_ALLOCS
    assert parent["total_allocations"] < d["PARENT_N"] + SLACK_ALLOCS


def test_default_capture_name_has_program_and_pid(mt, build):
    prog = build.program("basic")
    res = mt.run("run", prog)
    assert res.returncode == 0, str(res)
    pid = re.search(rb"pid (\d+)", res.stdout).group(1).decode()
    files = [p for p in mt.cwd.iterdir()]
    assert len(files) == 1, f"expected one capture in the cwd, got {files}"
    name = files[0].name
    assert "basic" in name and pid in name, \
        f"capture {name!r} is not named after the program (basic) and pid {pid}"
    assert files[0].read_bytes()[:8] == MAGIC
    # run says where the capture went, on stderr, after the program's own.
    assert name in res.err, f"run does not say where the capture went:\n{res.err}"
    assert "basic on stderr\n" in res.err
    assert res.stdout == f"pid {pid}\n".encode()


def test_quiet_prints_nothing_of_its_own(mt, build):
    res, path = mt.capture(build.program("alloc_known"))
    assert res.stdout == b"" and res.stderr == b"", str(res)


def test_existing_output_is_refused_without_force(mt, build):
    prog = build.program("basic")
    out = mt.cwd / "exists.tide"
    out.write_bytes(b"keep me")
    marker = mt.cwd / "ran"
    res = mt.run("run", "-o", out, prog, "--marker", marker)
    assert_one_line_error(res)
    assert out.read_bytes() == b"keep me"
    assert not marker.exists(), "the program ran although the output was refused"

    res = mt.run("run", "-q", "-f", "-o", out, prog, "--marker", marker)
    assert res.returncode == 0, str(res)
    assert marker.exists()
    assert out.read_bytes()[:8] == MAGIC
    stats = mt.stats_json(out)
    src = build.source("basic")
    d = c_defines(src)
    assert_site(stats, "basic_alloc", src, site_lines(src)["basic_alloc"],
                d["BASIC_N"], d["BASIC_N"] * d["BASIC_SIZE"])


def test_fork_storm_with_follow_fork(mt, build):
    """Forks in rounds (children at once, some with grandchildren, leaving
    by exit() and _exit()) while a thread of the parent allocates: every
    process's capture holds exactly its own allocations."""
    src = build.source("forkstorm")
    d, lines = c_defines(src), site_lines(src)
    res, path = mt.capture(build.program("forkstorm"),
                           options=["--follow-fork"])
    out = res.stdout.decode()
    pids = [int(p) for p in re.findall(r"^pid (\d+)$", out, re.M)]
    spins = int(re.search(r"^spins (\d+)$", out, re.M).group(1))
    nest = sum(1 for k in range(d["ROUNDS"] * d["WIDTH"]) if k % d["NEST"] == 0)
    assert len(pids) == d["ROUNDS"] * d["WIDTH"] + nest
    for pid in pids:
        children = [p for p in mt.cwd.iterdir() if p.name.endswith(f".{pid}.tide")]
        assert len(children) == 1, (pid, sorted(os.listdir(mt.cwd)))
        child = mt.stats_json(children[0])
        assert child["truncated"] is False
        assert_site(child, "child_alloc", src, lines["child_alloc"],
                    d["CHILD_N"], d["CHILD_N"] * d["CHILD_SIZE"])
        assert_no_function(child, "parent_alloc")
    parent = mt.stats_json(path)
    assert_site(parent, "spin_alloc", src, lines["spin_alloc"],
                spins, spins * d["SPIN_SIZE"])
    assert_site(parent, "parent_alloc", src, lines["parent_alloc"],
                d["PARENT_N"], d["PARENT_N"] * d["PARENT_SIZE"])
    assert_no_function(parent, "child_alloc")
