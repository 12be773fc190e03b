"""The tracker inside the program: allocations from the very first one,
limited address space, signal handlers, many threads, thread names."""

import subprocess

import pytest

from conftest import CFLAGS
from mtlib import MiB, c_defines


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
    assert s["total_allocations"] == n
    assert s["total_bytes"] == n * size
    assert s["peak_bytes"] == n * size == 10 * MiB
    assert s["leaked_allocations"] == n - freed
    assert s["leaked_bytes"] == (n - freed) * size
    res = mt.run("summary", path)
    assert res.returncode == 0, res
    assert "ctor_alloc" in mt.stats("-n", "5", path).out
