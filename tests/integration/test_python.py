"""memtide run on Python programs: scripts, -m, -c, threads, fork, exit
paths, and numpy. Tests that take the `python` fixture run on every CPython
3.9-3.13 found (Debian's and pyenv's); the numpy ones on Debian's only.

bytearray(n) makes one malloc of n + 1 bytes on CPython 3.9-3.13 (the
buffer keeps a trailing NUL); its small object header comes from pymalloc,
which memtide does not track by default.
"""

import json
import os
import re
import textwrap

import pytest

from conftest import base_env

from mtlib import (MiB, assert_no_function, assert_site, describe, locations,
                   site_lines)

SIZE = 100_000
BUF = SIZE + 1  # bytes malloc'ed by bytearray(SIZE)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def py_capture(mt, python, *args, options=(), expect_rc=0, **kw):
    return mt.capture(*args, options=["--python", python, *options],
                      expect_rc=expect_rc, **kw)


SITES_SCRIPT = f"""
import sys

N = 50
SIZE = {SIZE}


def make_buffers():
    out = [None] * N
    for i in range(N):
        out[i] = bytearray(SIZE)  # @site:make_buffers
    return out


keep = make_buffers()
top = bytearray(3_000_000)  # @site:module
print("args", sys.argv[1:])
"""


def test_script_sites(mt, python, tmp_path):
    script = write(tmp_path, "sites.py", SITES_SCRIPT)
    lines = site_lines(script)
    res, path = py_capture(mt, python, script, "a", "b c")
    assert res.stdout == b"args ['a', 'b c']\n", str(res)
    stats = mt.stats_json(path)
    assert_site(stats, "make_buffers", script, lines["make_buffers"], 50, 50 * BUF)
    assert_site(stats, "<module>", script, lines["module"], 1, 3_000_001)
    assert stats["peak_bytes"] >= 50 * BUF + 3_000_001
    assert stats["truncated"] is False
    assert stats["total_allocations"] >= 51


@pytest.mark.parametrize("how", ["path", "entry_point"])
def test_default_interpreter_is_the_users(mt, system_python, tmp_path, how):
    # python3 first on PATH (an active venv, pyenv), or the interpreter that
    # runs `python -m memtide` / the memtide script (it sets MEMTIDE_PYTHON)
    script = write(tmp_path, "which.py", """
        import sys
        print(sys.executable)
        x = bytearray(1_000_000)  # @site:x
    """)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(system_python)
    env = base_env()
    env.pop("MEMTIDE_PYTHON", None)
    if how == "path":
        env["PATH"] = f"{bindir}:{env['PATH']}"
    else:
        env["MEMTIDE_PYTHON"] = str(bindir / "python3")
    res, path = mt.capture(script, env=env)
    assert res.out.strip() == str(bindir / "python3"), str(res)
    stats = mt.stats_json(path)
    assert_site(stats, "<module>", script, site_lines(script)["x"], 1, 1_000_001)


THREADS_SCRIPT = f"""
import threading

K = 20
SIZE = {SIZE}
barrier = threading.Barrier(4)
kept = {{}}


def alloc_in_thread_a():
    out = [None] * K
    for i in range(K):
        out[i] = bytearray(SIZE)  # @site:a
    kept["a"] = out
    barrier.wait()


def alloc_in_thread_b():
    out = [None] * K
    for i in range(K):
        out[i] = bytearray(SIZE)  # @site:b
    kept["b"] = out
    barrier.wait()


def alloc_in_thread_c():
    out = [None] * K
    for i in range(K):
        out[i] = bytearray(SIZE)  # @site:c
    kept["c"] = out
    barrier.wait()


def alloc_in_thread_d():
    out = [None] * K
    for i in range(K):
        out[i] = bytearray(SIZE)  # @site:d
    kept["d"] = out
    barrier.wait()


threads = [threading.Thread(target=f, name="alloc-" + f.__name__[-1])
           for f in (alloc_in_thread_a, alloc_in_thread_b,
                     alloc_in_thread_c, alloc_in_thread_d)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(kept))
"""


def test_threads(mt, python, tmp_path):
    script = write(tmp_path, "threads.py", THREADS_SCRIPT)
    lines = site_lines(script)
    res, path = py_capture(mt, python, script)
    assert res.stdout == b"['a', 'b', 'c', 'd']\n"
    stats = mt.stats_json(path)
    for x in "abcd":
        assert_site(stats, f"alloc_in_thread_{x}", script, lines[x], 20, 20 * BUF)
    assert stats["peak_bytes"] >= 4 * 20 * BUF


MODULE = f"""
import sys


def mod_alloc():
    keep = [None] * 10
    for i in range(10):
        keep[i] = bytearray({SIZE})  # @site:mod_alloc
    return keep


if __name__ == "__main__":
    k = mod_alloc()
    print("argv", sys.argv[1:])
"""


def test_dash_m(mt, python, tmp_path):
    mod = write(tmp_path, "mymod.py", MODULE)
    res, path = py_capture(mt, python, "-m", "mymod", "x", "-y")
    plain = mt.plain(python, "-m", "mymod", "x", "-y")
    assert res.stdout == plain.stdout == b"argv ['x', '-y']\n", str(res)
    stats = mt.stats_json(path)
    assert_site(stats, "mod_alloc", mod, site_lines(mod)["mod_alloc"], 10, 10 * BUF)


CODE = f"""\
import sys
def cfunc():
    keep = [None] * 10
    for i in range(10):
        keep[i] = bytearray({SIZE})
    return keep
k = cfunc()
print("c", sys.argv[1:])
"""


def test_dash_c(mt, python):
    res, path = py_capture(mt, python, "-c", CODE, "extra")
    plain = mt.plain(python, "-c", CODE, "extra")
    assert res.stdout == plain.stdout == b"c ['extra']\n", str(res)
    stats = mt.stats_json(path)
    rows = locations(stats, "cfunc", line=5)
    assert len(rows) == 1, f"cfunc at line 5: {rows}\n{describe(stats)}"
    assert (rows[0]["count"], rows[0]["bytes"]) == (10, 10 * BUF), rows[0]


EXIT_SCRIPTS = {
    "exit3": """
        import sys
        sys.stdout.write("to stdout\\n" * 3)
        sys.stderr.write("to stderr\\n")
        print("args", sys.argv[1:])
        data = [bytearray(1000) for _ in range(100)]
        sys.exit(3)
    """,
    "exception": """
        import sys
        print("before", flush=True)
        data = bytearray(10_000)
        raise ValueError("boom")
    """,
    "sigterm": """
        import os, signal, sys
        print("before", flush=True)
        sys.stderr.write("err before\\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGTERM)
    """,
}


@pytest.mark.parametrize("kind", sorted(EXIT_SCRIPTS))
def test_exit_status_and_output(mt, python, tmp_path, kind):
    script = write(tmp_path, f"{kind}.py", EXIT_SCRIPTS[kind])
    plain = mt.plain(python, script, "one", "two")
    expected_rc = {"exit3": 3, "exception": 1, "sigterm": -15}[kind]
    assert plain.returncode == expected_rc
    res, path = py_capture(mt, python, script, "one", "two", expect_rc=None)
    assert res.returncode == plain.returncode, str(res)
    assert res.stdout == plain.stdout
    assert res.stderr == plain.stderr
    mt.stats_json(path)


def test_os_exit(mt, python, tmp_path):
    """os._exit skips every exit handler; what was made more than a second
    before is in the capture."""
    script = write(tmp_path, "osexit.py", f"""
        import os, time

        def early():
            keep = [None] * 20
            for i in range(20):
                keep[i] = bytearray({SIZE})  # @site:early
            return keep

        k = early()
        time.sleep(1.2)
        print("bye", flush=True)
        os._exit(0)
    """)
    res, path = py_capture(mt, python, script)
    assert res.stdout == b"bye\n"
    stats = mt.stats_json(path)
    assert_site(stats, "early", script, site_lines(script)["early"], 20, 20 * BUF)


FORK_SCRIPT = f"""
import os


def child_work():
    keep = [None] * 30
    for i in range(30):
        keep[i] = bytearray({SIZE})  # @site:child_work
    return keep


def parent_work():
    keep = [None] * 10
    for i in range(10):
        keep[i] = bytearray({SIZE})  # @site:parent_work
    return keep


pid = os.fork()
if pid == 0:
    k = child_work()
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert status == 0, status
p = parent_work()
print("child", pid)
"""


@pytest.mark.parametrize("follow", [False, True], ids=["no-follow", "follow-fork"])
def test_fork(mt, python, tmp_path, follow):
    script = write(tmp_path, "forker.py", FORK_SCRIPT)
    lines = site_lines(script)
    options = ["--follow-fork"] if follow else []
    res, path = py_capture(mt, python, script, options=options)
    plain = mt.plain(python, script)
    assert res.stderr == plain.stderr, \
        f"stderr differs from the unprofiled run:\n{res.err}"
    m = re.fullmatch(rb"child (\d+)\n", res.stdout)
    assert m, str(res)
    child_pid = int(m.group(1))
    parent = mt.stats_json(path)
    assert_site(parent, "parent_work", script, lines["parent_work"], 10, 10 * BUF)
    assert_no_function(parent, "child_work")
    child_path = tmp_path / f"out.{child_pid}.tide"
    if not follow:
        captures = sorted(p.name for p in tmp_path.glob("*.tide"))
        assert captures == ["out.tide"], captures
        return
    assert child_path.exists(), \
        f"no child capture {child_path.name}: {sorted(os.listdir(tmp_path))}"
    child = mt.stats_json(child_path)
    assert_site(child, "child_work", script, lines["child_work"], 30, 30 * BUF)
    assert_no_function(child, "parent_work")


def test_native_mode_still_sees_the_allocations(mt, python, tmp_path):
    """--native adds native frames; the allocations stay the same."""
    script = write(tmp_path, "sites.py", SITES_SCRIPT)
    res, path = py_capture(mt, python, script, options=["--native"])
    assert res.stdout == b"args []\n", str(res)
    stats = mt.stats_json(path)
    assert stats["total_allocations"] >= 51
    assert stats["total_bytes"] >= 50 * BUF + 3_000_001
    assert stats["peak_bytes"] >= 50 * BUF + 3_000_001
    big = [r for r in stats["top_by_size"] if r["bytes"] >= 3_000_001]
    assert big, f"no location holds the 3 MB bytearray:\n{describe(stats)}"


# --------------------------------------------------------------------------
# numpy (Debian's python3-numpy, on /usr/bin/python3)

NUMPY_SCRIPT = """
import inspect
import json
import sys

import numpy as np


def hold():
    a = np.ones(1_000_000)  # @site:ones
    b = np.empty((1000, 1000))  # @site:empty
    c = np.zeros(500_000, dtype=np.int32)  # @site:zeros
    return a, b, c


keep = hold()
src, first = inspect.getsourcelines(np.ones)
line = next(first + i for i, text in enumerate(src) if "empty(" in text
            and not text.lstrip().startswith(("#", "return _ones")))
print(json.dumps({"file": np.core.numeric.__file__, "line": line}))
"""


def test_numpy_arrays(mt, system_numpy, tmp_path):
    script = write(tmp_path, "arrays.py", NUMPY_SCRIPT)
    lines = site_lines(script)
    res, path = py_capture(mt, system_numpy, script)
    ones = json.loads(res.stdout.decode().strip().splitlines()[-1])
    stats = mt.stats_json(path)
    # np.ones is Python code: its empty() call inside numeric.py is the
    # innermost Python frame.
    assert_site(stats, "ones", ones["file"], ones["line"], 1, 8_000_000)
    # np.empty and np.zeros are C: the caller's line is the innermost frame.
    assert_site(stats, "hold", script, lines["empty"], 1, 8_000_000)
    assert_site(stats, "hold", script, lines["zeros"], 1, 2_000_000)
    assert not locations(stats, "hold", script, lines["ones"]), \
        "np.ones's array must be attributed to numpy's ones(), not to its caller"
    assert stats["allocators"].get("calloc", 0) >= 1, stats["allocators"]
    assert stats["peak_bytes"] >= 18_000_000
    assert stats["total_bytes"] >= 18_000_000


def test_numpy_temporaries_and_peak(mt, system_numpy, tmp_path):
    """A 64 MiB temporary freed at once still makes the peak."""
    script = write(tmp_path, "temp.py", """
        import numpy as np


        def temporary():
            t = np.empty(8 * 1024 * 1024)  # @site:temp
            t[:] = 1.0
            return float(t[0])


        x = temporary()
        print(x)
    """)
    res, path = py_capture(mt, system_numpy, script)
    assert res.stdout == b"1.0\n"
    stats = mt.stats_json(path)
    assert_site(stats, "temporary", script, site_lines(script)["temp"], 1, 64 * MiB)
    assert stats["peak_bytes"] >= 64 * MiB
    assert stats["peak_rss_bytes"] > 0
