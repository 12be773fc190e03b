"""memtide attach / detach: profiling a program that is already running.

A native program (tests/programs/attach_wait.c) and a Python script wait on
stdin; the test attaches, tells them to allocate known amounts in known
functions, to free a block made before the attach, detaches, and reads
`stats --json`.  The programs go on answering as they would without memtide;
after detach their GOT slots hold libc's functions again, on pages protected
as before.  Then the errors: no such process, a static program, a program
already profiled, no gdb, no right to trace, no helper for its Python.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap

import pytest

from conftest import base_env
from mtlib import (assert_one_line_error, assert_site, c_defines, describe,
                   locations, package_env, site_lines)

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None,
                                reason="memtide attach needs gdb")

HOOKED = ("malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc",
          "memalign", "valloc", "mmap", "munmap", "mremap")


class Target:
    """A program driven through its stdin, one reply line per command."""

    def __init__(self, cmd, cwd, env=None):
        self.proc = subprocess.Popen([str(c) for c in cmd], cwd=str(cwd),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env or base_env(),
                                     start_new_session=True)
        self.pid = self.proc.pid
        self.lines = [self.reply()]
        assert self.lines[0] == "ready", f"{cmd} said {self.lines[0]!r}"

    def reply(self):
        line = self.proc.stdout.readline().decode()
        if not line:
            self.proc.kill()
            pytest.fail(f"the program ended: {self.proc.stderr.read().decode()!r}")
        return line.rstrip("\n")

    def send(self, cmd):
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()
        self.lines.append(self.reply())
        return self.lines[-1]

    def finish(self):
        """Closes stdin; returns (exit status, all lines, stderr)."""
        self.proc.stdin.close()
        rest = self.proc.stdout.read().decode().splitlines()
        err = self.proc.stderr.read().decode()
        rc = self.proc.wait(timeout=30)
        return rc, self.lines + rest, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def waiter(build):
    """tests/programs/attach_wait.c, linked with full RELRO (every GOT slot
    read-only once relocated)."""
    return build.program("attach_wait", libs=("-Wl,-z,relro,-z,now",))


@pytest.fixture
def targets():
    started = []
    yield lambda *a, **kw: started.append(Target(*a, **kw)) or started[-1]
    for t in started:
        t.kill()


def plain_output(cmd, cwd, commands, env=None):
    """The lines the program prints for these commands without memtide."""
    res = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env or base_env(),
                         input="".join(c + "\n" for c in commands).encode(),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res
    return res.stdout.decode().splitlines()


# --------------------------------------------------------------------------
# GOT slots and their pages, read from outside the process

def maps(pid):
    """[(start, end, perms, path)] of /proc/PID/maps."""
    out = []
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        out.append((lo, hi, f[1], f[5] if len(f) > 5 else ""))
    return out


def perms_at(pid, addr):
    return next(p for lo, hi, p, _ in maps(pid) if lo <= addr < hi)


def load_base(pid, path):
    real = os.path.realpath(path)
    return min(lo for lo, _, _, p in maps(pid) if p == real)


def relocs(path):
    """{name: [offsets]} of the JUMP_SLOT and GLOB_DAT relocations of path."""
    out = {}
    text = subprocess.run(["readelf", "-rW", str(path)], capture_output=True,
                          text=True, check=True).stdout
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[2] in ("R_X86_64_JUMP_SLOT", "R_X86_64_GLOB_DAT"):
            out.setdefault(f[4].split("@")[0], []).append(int(f[0], 16))
    return out


def libc_functions(pid):
    """{name: address} of libc's allocator functions in the process."""
    libc = next(p for _, _, _, p in maps(pid) if re.search(r"/libc\.so", p))
    text = subprocess.run(["readelf", "--dyn-syms", "-W", libc], capture_output=True,
                          text=True, check=True).stdout
    base, out = load_base(pid, libc), {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC" and "@@" in f[7]:
            name = f[7].split("@")[0]
            if name in HOOKED:
                out[name] = base + int(f[1], 16)
    return out


def got(pid, exe):
    """[(name, slot address, value)] of exe's allocator GOT slots."""
    with open(exe, "rb") as f:
        fixed = f.read(18)[16] == 2  # ET_EXEC: not position-independent
    base, out = 0 if fixed else load_base(pid, exe), []
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for name, offsets in relocs(exe).items():
            if name not in HOOKED:
                continue
            for off in offsets:
                mem.seek(base + off)
                out.append((name, base + off, int.from_bytes(mem.read(8), "little")))
    return out


def python_objects(pid, python):
    """The interpreter's objects that call the allocator through a GOT: the
    executable, and libpython when it is a library of its own."""
    objs = [os.path.realpath(python)]
    objs += sorted({p for _, _, _, p in maps(pid) if "/libpython3" in p})
    return objs


def assert_got_back(pid, exe, before):
    """exe's allocator slots hold what they held before the attach, and
    malloc's, which the program has called, holds libc's malloc."""
    libc, slots = libc_functions(pid), got(pid, exe)
    assert slots == before, "GOT slots differ from before the attach: " + ", ".join(
        f"{n} {v:#x} (was {w:#x})" for (n, _, v), (_, _, w) in zip(slots, before) if v != w)
    mallocs = [v for n, _, v in slots if n == "malloc"]
    assert mallocs and all(v == libc["malloc"] for v in mallocs), \
        f"malloc's GOT slots {mallocs} are not libc's malloc {libc['malloc']:#x}"


# --------------------------------------------------------------------------
# A native program

def test_attach_native(mt, build, targets, tmp_path):
    """attach, known allocations, a free of a block made before, detach:
    exact figures and sites; the program's output is unchanged; its GOT
    holds libc's functions again, on pages as protected as before."""
    exe = waiter(build)
    src = build.source("attach_wait")
    d, lines = c_defines(src), site_lines(src)
    commands = ["alloc", "old", "got", "free", "got"]
    expected = plain_output([exe], tmp_path, commands)

    t = targets([exe], tmp_path)
    before = got(t.pid, exe)
    prot = {addr: perms_at(t.pid, addr) for _, addr, _ in before}
    assert "r--p" in prot.values(), f"no slot under RELRO with -z now: {prot}"
    path = tmp_path / "native.tide"
    res = mt.run("attach", "-o", path, t.pid)
    assert res.returncode == 0, str(res)
    assert res.out == ""
    assert res.err == (f"memtide: attached to process {t.pid}, recording to {path}\n"
                       f"memtide: stop with: memtide detach {t.pid} (or it stops when "
                       f"the program ends)\n"), str(res)
    hooked = got(t.pid, exe)
    changed = {n for (n, _, v), (_, _, w) in zip(hooked, before) if v != w}
    assert {"malloc", "calloc", "free"} <= changed, f"attach hooked only {changed}"
    assert {addr: perms_at(t.pid, addr) for _, addr, _ in hooked} == prot
    t.send("alloc")
    t.send("old")
    res = mt.run("detach", t.pid)
    assert res.returncode == 0, str(res)
    assert res.err.startswith(f"memtide: detached from process {t.pid}; capture "
                              f"written to {path} ("), str(res)
    assert_got_back(t.pid, exe, before)
    assert {addr: perms_at(t.pid, addr) for _, addr, _ in before} == prot
    t.send("got")
    t.send("free")
    t.send("got")
    rc, out, err = t.finish()
    assert (rc, err) == (0, "")
    assert out == expected
    assert "got libc" in out

    s = mt.stats_json(path)
    kept = d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"]
    assert s["attached"] is True
    assert s["truncated"] is False
    assert (s["total_allocations"], s["total_bytes"]) == (1 + d["B_COUNT"], kept), describe(s)
    assert s["allocators"] == {"malloc": 1, "calloc": d["B_COUNT"]}
    # the 30 MB block made before the attach and freed during it: ignored
    assert (s["peak_bytes"], s["leaked_bytes"], s["leaked_allocations"]) == \
        (kept, kept, 1 + d["B_COUNT"])
    assert_site(s, "make_a", src, lines["a"], 1, d["A_BYTES"])
    assert_site(s, "make_b", src, lines["b"], d["B_COUNT"], d["B_COUNT"] * d["B_BYTES"])
    text = mt.stats(path).out
    assert "Note: memtide attached to the running program: allocations made before " \
           "are not known" in text


def test_duration_detaches_by_itself(mt, build, targets, tmp_path):
    exe = waiter(build)
    d = c_defines(build.source("attach_wait"))
    t = targets([exe], tmp_path)
    before = got(t.pid, exe)
    path = tmp_path / "timed capture.tide"  # a space: the path comes back whole
    proc = mt.spawn("attach", "--duration", "3", "-o", path, t.pid)
    # allocations while it records; the test waits for the attach itself
    for _ in range(600):
        if path.exists() and path.stat().st_size > 0:
            break
        subprocess.run(["sleep", "0.05"])
    t.send("alloc")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    err = err.decode()
    assert f"recording to {path} for 3 s" in err, err
    assert f"detached from process {t.pid}; capture written to {path} (" in err, err
    assert_got_back(t.pid, exe, before)
    t.send("free")
    rc, _, _ = t.finish()
    assert rc == 0
    s = mt.stats_json(path)
    assert s["total_bytes"] == d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"], describe(s)
    assert s["truncated"] is False


def test_attach_samples(mt, build, targets, tmp_path):
    """--sample-rate: the capture is sampled; blocks far above the rate are
    recorded with a weight of 1, so the figures are still exact."""
    exe = waiter(build)
    src = build.source("attach_wait")
    d, lines = c_defines(src), site_lines(src)
    t = targets([exe], tmp_path)
    path = tmp_path / "sampled.tide"
    res = mt.run("attach", "-q", "--sample-rate", "1KiB", "-o", path, t.pid)
    assert res.returncode == 0, str(res)
    t.send("alloc")
    t.send("old")
    res = mt.run("detach", "-q", t.pid)
    assert res.returncode == 0, str(res)
    rc, _, _ = t.finish()
    assert rc == 0
    s = mt.stats_json(path)
    assert s["sample_rate"] == 1024 and s["attached"] is True
    assert s["total_bytes"] == d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"], describe(s)
    assert_site(s, "make_b", src, lines["b"], d["B_COUNT"], d["B_COUNT"] * d["B_BYTES"])
    assert "Note: sampled every ~1 KiB: figures are estimates." in mt.stats(path).out


def test_attach_sample_rate_must_be_a_size(mt):
    res = mt.run("attach", "--sample-rate", "0", "1")
    assert res.returncode == 2 and res.out == ""
    assert res.err == ("memtide attach: --sample-rate takes a size from 1 byte to 1 GiB "
                       "(e.g. 512KiB), not '0' (see 'memtide attach --help')\n"), str(res)


def test_program_end_ends_the_capture(mt, build, targets, tmp_path):
    """Without detach, the program's exit writes the capture to its END."""
    exe = waiter(build)
    d = c_defines(build.source("attach_wait"))
    t = targets([exe], tmp_path)
    path = tmp_path / "ends.tide"
    assert mt.run("attach", "-q", "-o", path, t.pid).returncode == 0
    t.send("alloc")
    rc, _, _ = t.finish()
    assert rc == 0
    s = mt.stats_json(path)
    assert s["truncated"] is False
    assert s["total_bytes"] == d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"], describe(s)
    res = mt.run("detach", t.pid)
    assert_one_line_error(res)


def test_attach_live_remote(mt, build, targets, tmp_path):
    """attach --live-remote serves what the capture holds to `memtide
    live`; Ctrl-C detaches, and the capture is whole."""
    exe = waiter(build)
    d = c_defines(build.source("attach_wait"))
    t = targets([exe], tmp_path)
    path = tmp_path / "live.tide"
    proc = mt.spawn("attach", "--live-remote", "-o", path, t.pid)
    try:
        lines = [proc.stderr.readline().decode() for _ in range(3)]
        port = re.search(r"serving the live view on 127\.0\.0\.1:(\d+)", lines[1])
        assert port and lines[2] == "memtide: Ctrl-C detaches\n", lines
        t.send("alloc")
        for _ in range(200):
            res = mt.run("live", port.group(1), "--snapshot", "--json")
            assert res.returncode == 0, str(res)
            snap = json.loads(res.stdout)
            own = {r["function"]: (r["own_count"], r["own_bytes"])
                   for r in snap["rows"] if r["own_count"]}
            if own:
                break
            subprocess.run(["sleep", "0.05"])
        assert own == {"make_a": (1, d["A_BYTES"]),
                       "make_b": (d["B_COUNT"], d["B_COUNT"] * d["B_BYTES"])}, snap
        assert snap["pid"] == t.pid
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"detached from process {t.pid}" in err.decode()
    assert t.send("got") == "got libc"
    assert t.finish()[0] == 0
    s = mt.stats_json(path)
    assert (s["attached"], s["truncated"]) == (True, False)
    assert s["total_bytes"] == d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"]


# --------------------------------------------------------------------------
# A Python program

PY_SCRIPT = """
import sys

A = 2_000_000
B = 300_000
OLD = 40_000_000


def make_a():
    return bytearray(A)  # @site:a


def make_b():
    return [bytearray(B) for _ in range(3)]  # @site:b


old = bytearray(OLD)
kept = []
print("ready", flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = line.strip()
    if cmd == "alloc":
        kept.append(make_a())
        kept.extend(make_b())
    elif cmd == "old":
        old = None
    elif cmd == "free":
        kept = []
    print(cmd, flush=True)
"""


def test_attach_python(mt, python, targets, tmp_path):
    script = tmp_path / "waiter.py"
    script.write_text(textwrap.dedent(PY_SCRIPT).lstrip("\n"))
    lines = site_lines(script)
    commands = ["alloc", "old", "free"]
    expected = plain_output([python, script], tmp_path, commands)

    t = targets([python, script], tmp_path)
    objs = python_objects(t.pid, python)
    before = {o: got(t.pid, o) for o in objs}
    res = mt.run("attach", t.pid)
    assert res.returncode == 0, str(res)
    path = tmp_path / f"memtide-waiter.py.{t.pid}.tide"
    assert f"recording to {path}\n" in res.err, str(res)
    t.send("alloc")
    t.send("old")
    res = mt.run("detach", "-q", t.pid)
    assert (res.returncode, res.err) == (0, ""), str(res)
    for o in objs:
        if before[o]:
            assert_got_back(t.pid, o, before[o])
    t.send("free")
    rc, out, err = t.finish()
    assert (rc, err) == (0, "")
    assert out == expected

    s = mt.stats_json(path)
    assert s["attached"] is True and s["truncated"] is False
    assert s["python"], "the capture does not say it is Python's"
    assert_site(s, "make_a", script, lines["a"], 1, 2_000_001)
    # a comprehension is a function of its own before 3.12
    rows = locations(s, file=script, line=lines["b"])
    assert [(r["function"], r["count"], r["bytes"]) for r in rows] in (
        [("make_b", 3, 900_003)], [("<listcomp>", 3, 900_003)]), describe(s)
    # the 40 MB made before the attach and freed during it: ignored
    assert 2_900_004 <= s["leaked_bytes"] <= s["peak_bytes"] < 2_900_004 + 4_000_000, \
        describe(s)


BUSY_SCRIPT = """
import os, sys


def work():
    return bytearray(1000)  # @site:work


print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    for i in range(100_000):
        x = work()
print("done", flush=True)
"""


def test_attach_busy_python(mt, python, targets, tmp_path):
    """A program that computes and allocates, never waiting in a system
    call for long: attach and detach catch it on its way into malloc."""
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent(BUSY_SCRIPT).lstrip("\n"))
    line = site_lines(script)["work"]
    flag, path = tmp_path / "stop", tmp_path / "busy.tide"
    t = targets([python, script, flag], tmp_path)
    assert mt.run("attach", "-q", "-o", path, t.pid).returncode == 0
    subprocess.run(["sleep", "0.3"])
    res = mt.run("detach", "-q", t.pid)
    assert res.returncode == 0, str(res)
    flag.touch()
    rc, out, err = t.finish()
    assert (rc, out, err) == (0, ["ready", "done"], "")
    s = mt.stats_json(path)
    row = locations(s, "work", script, line)
    assert len(row) == 1 and row[0]["count"] > 0, describe(s)
    assert row[0]["bytes"] == 1001 * row[0]["count"], describe(s)
    assert s["truncated"] is False


# --------------------------------------------------------------------------
# Memory protections after a Tracker

TRACKER_SCRIPT = """
import ctypes, sys
import memtide

lib = ctypes.CDLL(sys.argv[2])

def prot():
    out = []
    for line in open("/proc/self/maps"):
        f = line.split()
        if len(f) > 5 and f[5] == sys.argv[2]:
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            out.append((lo, hi, f[1]))
    return out

def perms(spans, addr):
    return next(p for lo, hi, p in spans if lo <= addr < hi)

before = prot()
with memtide.Tracker(sys.argv[1]):
    lib.grab(1000)
after = prot()
pages = sorted({lo for lo, hi, _ in before + after})
print([perms(before, a) for a in pages] == [perms(after, a) for a in pages])
print(sorted({p for _, _, p in before}))
"""


def test_tracker_leaves_protections_as_they_were(mt, python, tmp_path):
    """A library linked with full RELRO has its GOT read-only: a Tracker
    makes those pages writable only for its writes, and they read as
    before once it stops."""
    src = tmp_path / "grab.c"
    src.write_text("#include <stdlib.h>\nvoid *grab(size_t n) { return malloc(n); }\n")
    lib = tmp_path / "libgrab.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-z,relro,-z,now", "-o", lib, src],
                   check=True)
    script = tmp_path / "prot.py"
    script.write_text(textwrap.dedent(TRACKER_SCRIPT).lstrip("\n"))
    res = mt.plain(python, script, tmp_path / "t.tide", lib, env=package_env())
    assert res.returncode == 0, str(res)
    assert res.out.splitlines()[0] == "True", str(res)
    assert "'r--p'" in res.out.splitlines()[1], str(res)


# --------------------------------------------------------------------------
# Errors: one line, the program unharmed

def test_no_such_process(mt):
    pid = int(open("/proc/sys/kernel/pid_max").read()) + 1
    line = assert_one_line_error(mt.run("attach", pid))
    assert line == f"memtide: cannot attach: no process with pid {pid}"
    line = assert_one_line_error(mt.run("detach", pid))
    assert line == f"memtide: cannot detach: no process with pid {pid}"


def test_static_program(mt, build, targets, tmp_path):
    src = tmp_path / "static_wait.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                   'int main(void) { char c; puts("ready"); fflush(stdout);\n'
                   '  while (read(0, &c, 1) == 1) { putchar(c); fflush(stdout); }\n'
                   '  return 0; }\n')
    exe = tmp_path / "static_wait"
    res = subprocess.run(["cc", "-static", "-o", exe, src], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"no static libc: {res.stderr.decode()[-200:]}")
    t = targets([exe], tmp_path)
    line = assert_one_line_error(mt.run("attach", t.pid))
    assert line == (f"memtide: cannot attach: process {t.pid} is statically linked: "
                    f"memtide can only attach to dynamically linked programs")
    assert t.send("x") == "x"


def test_already_profiled(mt, build, targets, tmp_path):
    """By memtide run, by an earlier attach: refused, the capture goes on."""
    exe = waiter(build)
    d = c_defines(build.source("attach_wait"))
    run = targets([mt.bin, "run", "-q", "-o", tmp_path / "run.tide", exe], tmp_path)
    child = int(open(f"/proc/{run.proc.pid}/task/{run.proc.pid}/children").read().split()[0])
    line = assert_one_line_error(mt.run("attach", "-o", tmp_path / "x.tide", child))
    assert line == (f"memtide: cannot attach: process {child} is already being profiled "
                    f"by memtide run or a Tracker")
    line = assert_one_line_error(mt.run("detach", child))
    assert "profiled by memtide run or a Tracker" in line
    run.send("alloc")
    assert run.finish()[0] == 0
    s = mt.stats_json(tmp_path / "run.tide")
    assert s["attached"] is False
    assert not (tmp_path / "x.tide").exists()

    t = targets([exe], tmp_path)
    assert mt.run("attach", "-q", "-o", tmp_path / "a.tide", t.pid).returncode == 0
    line = assert_one_line_error(mt.run("attach", "-o", tmp_path / "b.tide", t.pid))
    assert line == (f"memtide: cannot attach: process {t.pid} is already being profiled "
                    f"by memtide attach")
    t.send("alloc")
    assert mt.run("detach", "-q", t.pid).returncode == 0
    line = assert_one_line_error(mt.run("detach", t.pid))
    assert line == f"memtide: process {t.pid} is not being profiled by memtide attach"
    # and again, into another capture
    assert mt.run("attach", "-q", "-o", tmp_path / "c.tide", t.pid).returncode == 0
    t.send("free")
    assert mt.run("detach", "-q", t.pid).returncode == 0
    assert mt.stats_json(tmp_path / "a.tide")["total_bytes"] == \
        d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"]
    c = mt.stats_json(tmp_path / "c.tide")
    assert (c["total_allocations"], c["peak_bytes"]) == (0, 0), describe(c)
    assert t.finish()[0] == 0


def test_gdb_missing(mt, build, targets, tmp_path):
    exe = waiter(build)
    t = targets([exe], tmp_path)
    env = base_env({"PATH": str(tmp_path)})
    line = assert_one_line_error(mt.run("attach", t.pid, env=env))
    assert line == ("memtide: cannot attach: attaching needs gdb, which is not "
                    "installed (apt install gdb)")
    assert t.send("alloc") == "alloc"


def test_bad_arguments(mt):
    for args in (["attach"], ["attach", "abc"], ["attach", "1", "2"],
                 ["attach", "--duration", "0", "1"], ["detach"], ["detach", "-5"]):
        res = mt.run(*args)
        assert res.returncode == 2 and len(res.err.splitlines()) == 1, (args, str(res))
    assert mt.run("attach", "--help").out.startswith("usage: memtide attach")
    assert mt.run("detach", "--help").out.startswith("usage: memtide detach")
    for args in (["attach", "--live", "--live-remote", "1"],
                 ["attach", "--live-port", "80", "1"],
                 ["attach", "--live-remote", "--live-port", "0", "1"]):
        res = mt.run(*args)
        assert res.returncode == 2 and len(res.err.splitlines()) == 1, (args, str(res))


def test_python_without_helper(mt, system_python, targets, tmp_path):
    """A memtide whose build has no helper for the program's Python."""
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "lib").mkdir()
    (tree / "python" / "memtide").mkdir(parents=True)
    shutil.copy(mt.bin, tree / "bin" / "memtide")
    shutil.copy(mt.bin.parent.parent / "lib" / "libmemtide.so", tree / "lib")
    script = tmp_path / "waiter.py"
    script.write_text(textwrap.dedent(PY_SCRIPT).lstrip("\n"))
    t = targets([system_python, script], tmp_path)
    res = subprocess.run([tree / "bin" / "memtide", "attach", str(t.pid)], cwd=tmp_path,
                         capture_output=True, timeout=120)
    line = assert_one_line_error(res)
    assert re.fullmatch(rf"memtide: cannot attach to process {t.pid}: no support for "
                        r"Python 3\.\d+ in this build \(.*\): rebuild with 'make "
                        r"PYTHONS=/path/to/python3\.\d+'", line), line
    assert t.send("alloc") == "alloc"
    assert mt.run("detach", t.pid).returncode == 1
    assert t.finish()[0] == 0


def test_already_profiled_by_tracker(mt, system_python, targets, tmp_path):
    script = tmp_path / "tracked.py"
    script.write_text(textwrap.dedent("""
        import sys
        import memtide
        with memtide.Tracker(sys.argv[1]):
            print("ready", flush=True)
            for line in sys.stdin:
                print(line.strip(), flush=True)
        """).lstrip("\n"))
    t = targets([system_python, script, tmp_path / "tracker.tide"], tmp_path,
                env=package_env())
    line = assert_one_line_error(mt.run("attach", "-o", tmp_path / "x.tide", t.pid))
    assert line == (f"memtide: cannot attach: process {t.pid} is already being profiled "
                    f"by memtide run or a Tracker")
    assert t.send("still here") == "still here"
    assert t.finish()[0] == 0
    assert mt.stats_json(tmp_path / "tracker.tide")["attached"] is False
    assert not (tmp_path / "x.tide").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run memtide as another user")
def test_not_allowed_to_ptrace(mt, build, targets, tmp_path):
    """memtide run as nobody on a process of root's: told how to get the right."""
    t = targets([waiter(build)], tmp_path)

    def as_nobody():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    res = mt.run("attach", "-o", "/tmp/never.tide", t.pid, cwd="/", preexec_fn=as_nobody)
    line = assert_one_line_error(res)
    assert line.startswith(f"memtide: cannot attach: not allowed to ptrace process {t.pid}: "
                           f"run memtide as root (CAP_SYS_PTRACE)"), line
    assert t.send("alloc") == "alloc"


def test_attach_live_terminal(mt, build, targets, tmp_path):
    """attach --live shows the attached program's allocations in the
    terminal UI; when the program ends the view says so, q quits cleanly,
    and the capture is whole."""
    from tmuxlib import Tmux

    exe = waiter(build)
    d = c_defines(build.source("attach_wait"))
    t = targets([exe], tmp_path)
    path = tmp_path / "live.tide"
    ui = Tmux([mt.bin, "attach", "-o", path, "--live", t.pid], cwd=tmp_path)
    try:
        ui.wait_text("function at file:line", timeout=30)
        t.send("alloc")
        lines = ui.wait_text("make_b at ", timeout=20)
        row = next(line for line in lines if "make_b at " in line)
        own = d["B_COUNT"] * d["B_BYTES"]
        assert row.split()[3:5] == [f"{own / 1024:.2f}", "KiB"], row   # own memory
        assert t.finish()[0] == 0
        ui.wait_text("program ended", timeout=20)
        ui.keys("q")
        ui.wait_text("[exit 0]", timeout=20)
    finally:
        ui.close()
    s = mt.stats_json(path)
    assert (s["attached"], s["truncated"]) == (True, False)
    assert s["total_bytes"] == d["A_BYTES"] + d["B_COUNT"] * d["B_BYTES"]
