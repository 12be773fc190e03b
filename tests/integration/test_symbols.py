"""Symbolization of native frames: libraries loaded many times, module
paths that are not regular files, stripped programs."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from mtlib import assert_site, c_defines, describe, site_lines

ROUNDS = 300  # dlopen/dlclose rounds of the same library

# Runs a command and prints the peak RSS (KiB) of its process tree.
PEAK_RSS = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def test_dlopen_loop_reads_each_library_once(mt, build):
    """Bug 2: a library loaded and unloaded 300 times is read once, not per
    load (before: 54 s and 5.6 GB of RSS for this stats; now 0.5 s, 25 MB)."""
    lib_src = build.source("dl_lib")
    d = c_defines(lib_src)
    lib = build.shared("dl_lib", "libdbg.so")
    args = [str(lib), "lib_alloc", "lib_free"] * ROUNDS
    res, path = mt.capture(build.program("dlopen_main"), *args)
    stats = mt.stats_json(path)
    n = ROUNDS * d["LIB_N"]
    assert_site(stats, "lib_alloc", lib_src, site_lines(lib_src)["lib_alloc"],
                n, n * d["LIB_SIZE"])
    probe = subprocess.run([sys.executable, "-c", PEAK_RSS, str(mt.bin), "stats", str(path)],
                           capture_output=True, text=True, timeout=120)
    rc, peak_kib = map(int, probe.stdout.split())
    assert rc == 0, probe
    assert peak_kib < 300 * 1024, f"stats took {peak_kib} KiB of RSS"


def _capture_then_replace_library(mt, build, replace):
    """A capture of a dlopen'ed library whose file is then replaced."""
    d = c_defines(build.source("dl_lib"))
    lib = mt.cwd / "libswap.so"
    shutil.copy(build.shared("dl_lib", "libdbg.so"), lib)
    res, path = mt.capture(build.program("dlopen_main"), lib, "lib_alloc", "lib_free")
    lib.unlink()
    replace(lib)
    return d, path, lib


def test_module_path_that_is_a_fifo_does_not_block(mt, build):
    """Bug 7: a module path naming a FIFO blocked open() for ever."""
    d, path, lib = _capture_then_replace_library(mt, build, os.mkfifo)
    res = mt.stats("-n", "50", "--json", path, timeout=30)
    assert res.returncode == 0, res
    stats = json.loads(res.stdout)
    # nothing can be read from the FIFO: the site is named by its offset
    rows = [r for r in stats["top_by_size"] if r["function"].startswith("libswap.so+0x")]
    assert [(r["count"], r["bytes"]) for r in rows] == \
        [(d["LIB_N"], d["LIB_N"] * d["LIB_SIZE"])], describe(stats)
    assert rows[0]["file"] == str(lib) and rows[0]["line"] == 0, rows


def test_module_path_that_is_a_directory_or_device(mt, build):
    for n, replace in enumerate((os.mkdir, lambda p: os.symlink("/dev/zero", p))):
        d, path, lib = _capture_then_replace_library(mt, build, replace)
        stats = mt.stats_json(path)
        rows = [r for r in stats["top_by_size"]
                if r["function"].startswith("libswap.so+0x")]
        assert [(r["count"], r["bytes"]) for r in rows] == \
            [(d["LIB_N"], d["LIB_N"] * d["LIB_SIZE"])], describe(stats)
        os.unlink(path)
        if os.path.isdir(lib):
            os.rmdir(lib)
        else:
            os.unlink(lib)


def _functions(binary):
    """[(start, end, name)] of the functions nm finds in binary."""
    out = subprocess.run(["nm", "--defined-only", "-S", str(binary)], capture_output=True,
                         text=True).stdout
    funcs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            start, size = int(parts[0], 16), int(parts[1], 16)
            funcs.append((start, start + size, parts[3]))
    return funcs


def test_stripped_program_sites_stay_apart(mt, build):
    """Every site of a stripped program is named PROGRAM+0xOFFSET, the
    offset of its call in the file (nm of the unstripped copy), with the
    counts of the unstripped run."""
    prog = build.program("alloc_known")
    stripped = mt.cwd / "alloc_stripped"
    shutil.copy(prog, stripped)
    subprocess.run(["strip", str(stripped)], check=True)
    assert not any(name == "make_blocks" for _, _, name in _functions(stripped))

    _, full_path = mt.capture(prog, out="full.tide")
    _, strip_path = mt.capture(stripped, out="stripped.tide")
    full = mt.stats_json(full_path, n=100)
    bare = mt.stats_json(strip_path, n=100)
    src = str(build.source("alloc_known"))

    expected = sorted((r["function"], r["count"], r["bytes"]) for r in full["top_by_size"]
                      if r["file"] == src)
    assert len(expected) >= 10, describe(full)
    funcs = _functions(prog)
    got = []
    for r in bare["top_by_size"]:
        if not r["function"].startswith("alloc_stripped+0x"):
            continue
        assert r["file"] == str(stripped) and r["line"] == 0, r
        off = int(r["function"].split("+0x")[1], 16)
        name = [n for lo, hi, n in funcs if lo <= off < hi]
        assert len(name) == 1, f"offset {off:#x} is in no function of {prog}: {r}"
        got.append((name[0], r["count"], r["bytes"]))
    assert sorted(got) == expected, describe(bare, 30)


def test_call_past_an_export_is_named_by_its_module(mt, build):
    """A call in a static function of a stripped library that keeps only its
    exports (Debian's libsqlite3) is named LIB+0xADDRESS, an address inside
    that function in the unstripped copy; not EXPORT+0xN after the export
    before it, which is another function (before: gap_export+0x...)."""
    src = build.source("export_gap")
    d = c_defines(src)
    lib = build.shared("export_gap", "libgap.so")
    funcs = {name: (lo, hi) for lo, hi, name in _functions(lib)}
    assert funcs["gap_export"][1] <= funcs["gap_alloc"][0], funcs
    stripped = mt.cwd / "libgap.so"
    shutil.copy(lib, stripped)
    subprocess.run(["strip", str(stripped)], check=True)
    assert "gap_alloc" not in {name for _, _, name in _functions(stripped)}

    _, path = mt.capture(build.program("dlopen_main"), str(stripped), "gap_run", "gap_free")
    rows = [r for r in mt.stats_json(path, n=100)["top_by_size"]
            if r["count"] == d["GAP_N"] and r["bytes"] == d["GAP_N"] * d["GAP_SIZE"]]
    assert len(rows) == 1, rows
    name = rows[0]["function"]
    assert name.startswith("libgap.so+0x") and rows[0]["file"] == str(stripped), rows[0]
    lo, hi = funcs["gap_alloc"]
    assert lo <= int(name.split("+0x")[1], 16) < hi, (name, funcs["gap_alloc"])


def test_separate_debug_info_is_used(mt, build):
    """A stripped program with its debug info in a separate file (as
    Debian's -dbgsym packages ship it, found by .gnu_debuglink or build-id)
    reads exactly as the unstripped one."""
    prog = build.program("alloc_known")
    split = mt.cwd / "alloc_split"
    shutil.copy(prog, split)
    debug = mt.cwd / "alloc_split.debug"
    for cmd in (["objcopy", "--only-keep-debug", split, debug], ["strip", split],
                ["objcopy", f"--add-gnu-debuglink={debug}", split]):
        subprocess.run([str(c) for c in cmd], check=True, cwd=mt.cwd)
    assert not _functions(split)
    _, full_path = mt.capture(prog, out="full.tide")
    _, split_path = mt.capture(split, out="split.tide")
    src = str(build.source("alloc_known"))

    def sites(path):
        return sorted((r["function"], r["line"], r["count"], r["bytes"])
                      for r in mt.stats_json(path, n=100)["top_by_size"] if r["file"] == src)

    expected = sites(full_path)
    assert len(expected) >= 10, expected
    assert sites(split_path) == expected


def test_rust_names_are_demangled(mt, build):
    """Rust's symbol names, v0 (_R...) and legacy (_ZN...17h<hash>E, which
    a C++ demangler leaves as _$LT$...::h<hash>), read as Rust paths, as in
    a Rust extension (polars, tokenizers, orjson)."""
    src = build.source("rust_names")
    d = c_defines(src)
    _, path = mt.capture(build.program("rust_names"))
    stats = mt.stats_json(path)
    rows = {r["function"]: (r["count"], r["bytes"]) for r in stats["top_by_size"]}
    assert rows.get("sample::make_vecs") == (d["V0_N"], d["V0_N"] * d["V0_SIZE"]), describe(stats)
    assert rows.get("sample::make_legs") == (d["LEGACY_N"], d["LEGACY_N"] * d["LEGACY_SIZE"]), \
        describe(stats)
    # through the standard library's allocation path, the site is its caller
    assert rows.get("sample::make_grown") == (d["GROWN_N"], d["GROWN_N"] * d["GROWN_SIZE"]), \
        describe(stats)
    assert "alloc::raw_vec::finish_grow" not in rows, describe(stats)


def _leak_frames(mt, path, count, nbytes):
    """[(function, file basename, line)] of the leaked stack of count
    blocks of nbytes in all, innermost first, from `transform csv --leaks`
    (a C++ program also leaks libstdc++'s emergency pool)."""
    res = mt.run("transform", "csv", "--leaks", "-o", "-", path)
    assert res.returncode == 0, str(res)
    rows = [r for r in csv.DictReader(io.StringIO(res.out))
            if (int(r["num_allocations"]), int(r["size"])) == (count, nbytes)]
    assert len(rows) == 1, res.out
    frames = []
    for f in rows[0]["stack_trace"].split("|"):
        function, file, line = f.rsplit(";", 2)
        frames.append((function, os.path.basename(file), int(line)))
    return frames


def test_inlined_calls_inside_a_block_keep_the_whole_chain(mt, build):
    """Two inlined calls deep, at a malloc inside a block with its own
    variable: every caller at its own line (before: the middle one was
    missing and outer() read middle()'s line)."""
    src = build.source("inline_chain")
    d = c_defines(src)
    lines = site_lines(src)
    _, path = mt.capture(build.program("inline_chain"))
    frames = _leak_frames(mt, path, d["CHAIN_N"], d["CHAIN_N"] * d["CHAIN_SIZE"])
    name = os.path.basename(src)
    assert frames[:4] == [("inner_alloc", name, lines["inner_alloc"]),
                          ("middle", name, lines["middle"]),
                          ("outer", name, lines["outer"]),
                          ("main", name, lines["main"])], frames


@pytest.mark.skipif(not shutil.which("clang++-14"), reason="needs clang++-14")
@pytest.mark.parametrize("debug", [["-g"], ["-gdwarf-4"], ["-g", "-gdwarf-aranges"]],
                         ids=["dwarf5", "dwarf4", "aranges"])
def test_functions_in_namespaces_keep_their_lines(mt, build, tmp_path, debug):
    """clang (and rustc) put a function's debug info under its namespaces,
    where dwarf_getscopes finds no scope, and clang writes no
    .debug_aranges, without which libdwfl finds no CU: the inlined call and
    the lines must still be there (before: make() alone, without a line)."""
    src = build.source("inline_chain").with_name("ns_chain.cpp")
    d = c_defines(src)
    lines = site_lines(src)
    exe = tmp_path / "ns_chain"
    subprocess.run(["clang++-14", "-O0", *debug, "-fno-omit-frame-pointer",
                    "-o", str(exe), str(src)], check=True, timeout=120)
    _, path = mt.capture(exe)
    frames = _leak_frames(mt, path, d["NS_N"], d["NS_N"] * d["NS_SIZE"])
    name = os.path.basename(src)
    assert frames[:2] == [("outer_ns::inner_ns::fill(int)", name, lines["fill"]),
                          ("outer_ns::inner_ns::make()", name, lines["make"])], frames
