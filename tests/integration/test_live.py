"""The live view's data, end to end: `memtide run --live-remote` serves a
running program's live memory and `memtide live PORT --snapshot --json`
(or a raw client of docs/LIVE.md) reads it.

The program holds known amounts in known functions while it waits
(tests/programs/live_hold.c, or a Python script), so the rows, their
sizes and their order are exact.  The table is read as JSON and sorted
here: the text form of --snapshot is the terminal UI's to shape.
"""

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from mtlib import MiB, c_defines, site_lines

TIMEOUT = 30  # seconds to wait for a state that must come


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveRun:
    """`memtide run --live-remote ...` in the background, stdin piped."""

    def __init__(self, mt, prog, out="live.tide", port=None, wait=False, options=()):
        self.mt = mt
        self.capture = mt.cwd / out
        self.port = port
        args = [mt.bin, "run", "-o", self.capture, "--live-remote", *options]
        if port:
            args += ["--live-port", str(port)]
        if not wait:
            args.append("--no-wait")
        self.proc = subprocess.Popen([str(a) for a in args + list(prog)], cwd=str(mt.cwd),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.err = b""
        if not port:
            line = self.read_line(self.proc.stderr)
            self.err += line
            assert b"serving the live view on 127.0.0.1:" in line, line
            self.port = int(line.split(b"127.0.0.1:")[1].split(b";")[0])

    def read_line(self, pipe, timeout=TIMEOUT):
        data = b""
        end = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = end - time.monotonic()
            assert left > 0, f"no line from memtide run in {timeout} s: {data!r}"
            ready, _, _ = select.select([pipe], [], [], left)
            if ready:
                ch = os.read(pipe.fileno(), 1)
                if not ch:
                    break
                data += ch
        return data

    def wait_ready(self):
        line = self.read_line(self.proc.stdout)
        assert line == b"ready\n", f"{line!r}\n{self.finish()}"

    def finish(self, input=b"\n"):
        """Lets the program end; (returncode, stdout, stderr) of memtide run."""
        try:
            out, err = self.proc.communicate(input=input, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate()
            pytest.fail(f"memtide run did not end: {err!r}")
        return self.proc.returncode, out, self.err + err

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()


@pytest.fixture
def live(mt):
    runs = []

    def start(*prog, **kw):
        run = LiveRun(mt, prog, **kw)
        runs.append(run)
        return run
    yield start
    for run in runs:
        run.kill()


def snapshot(mt, port, *options):
    res = mt.run("live", str(port), "--snapshot", "--json", *options)
    assert res.returncode == 0, str(res)
    return json.loads(res.stdout)


def wait_for(mt, port, ok, *options):
    """The first snapshot for which ok(snapshot) holds."""
    end = time.monotonic() + TIMEOUT
    while True:
        snap = snapshot(mt, port, *options)
        if ok(snap):
            return snap
        assert time.monotonic() < end, f"the live view never got there:\n{rows_text(snap)}"
        time.sleep(0.05)


def rows_text(snap):
    return "\n".join(f"  {r['function']} at {r['file']}:{r['line']} own {r['own_bytes']} "
                     f"in {r['own_count']}, total {r['total_bytes']} in {r['total_count']}"
                     for r in by_own(snap))


def by_own(snap):
    return sorted(snap["rows"], key=lambda r: (-r["own_bytes"], r["function"]))


def row(snap, function):
    rows = [r for r in snap["rows"] if r["function"] == function]
    assert len(rows) == 1, f"{function}: {rows}\n{rows_text(snap)}"
    return rows[0]


def holds(names, sizes):
    """ok() for wait_for: each function holds its size."""
    def ok(snap):
        got = {r["function"]: r["own_bytes"] for r in snap["rows"]}
        return all(got.get(n) == s for n, s in zip(names, sizes))
    return ok


def check_invariants(snap):
    # every live block has exactly one own location
    assert sum(r["own_bytes"] for r in snap["rows"]) == snap["heap_bytes"], rows_text(snap)
    assert sum(r["own_count"] for r in snap["rows"]) == snap["live_allocations"]
    for r in snap["rows"]:
        assert r["total_bytes"] >= r["own_bytes"] and r["total_count"] >= r["own_count"]
    assert snap["peak_heap_bytes"] >= snap["heap_bytes"]


# --------------------------------------------------------------------------
# Hello in the protocol's own terms (docs/LIVE.md), for what the viewer
# command cannot do: stay connected, speak another version.

class RawViewer:
    def __init__(self, port, version=1):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.s.sendall(f"memtide-live {version}\n".encode())
        self.hello = self._line()

    def _line(self):
        data = b""
        while not data.endswith(b"\n"):
            ch = self.s.recv(1)
            if not ch:
                break
            data += ch
        return data.decode()

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            assert chunk, "the server closed the connection"
            data += chunk
        return data

    def query(self):
        """Sends a query for all threads; returns the answer's (type, running)."""
        self.s.sendall(struct.pack("<I", 3) + b"Q\x00\x00")
        n = struct.unpack("<I", self._exact(4))[0]
        msg = self._exact(n)
        if msg[:1] != b"S":
            return msg[:1], None
        p = msg.index(b"\0", 1) + 1      # command
        while msg[p] & 0x80:             # pid
            p += 1
        return b"S", bool(msg[p + 1])

    def close(self):
        self.s.close()


# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hold(build):
    return build.program("live_hold")


def sizes_of(build):
    d = c_defines(build.source("live_hold"))
    return d, [d["HOLD_A"], d["HOLD_B"], d["HOLD_C"]]


def test_c_program_rows_exact(mt, build, hold, live):
    d, sizes = sizes_of(build)
    lines = site_lines(build.source("live_hold"))
    run = live(hold, port=free_port())
    run.wait_ready()
    # the RSS comes with the writer's round after the blocks are touched
    snap = wait_for(mt, run.port, lambda s: holds(["hold_a", "hold_b", "hold_c"], sizes)(s)
                    and s["rss_bytes"] >= sum(sizes))
    assert snap["running"] is True and snap["pid"] > 0
    assert [r["function"] for r in by_own(snap)[:3]] == ["hold_c", "hold_b", "hold_a"], \
        rows_text(snap)
    for name, size in zip(["hold_a", "hold_b", "hold_c"], sizes):
        r = row(snap, name)
        assert (os.path.basename(r["file"]), r["line"]) == ("live_hold.c", lines[name]), r
        assert (r["own_count"], r["total_bytes"], r["total_count"]) == (1, size, 1), r
    # main holds nothing itself at that line; with its callees, all three
    callers = [r for r in snap["rows"] if r["function"] == "main" and r["line"] == lines["main"]]
    assert len(callers) == 1, rows_text(snap)
    assert (callers[0]["own_bytes"], callers[0]["total_bytes"], callers[0]["total_count"]) == \
        (0, sum(sizes), 3)
    check_invariants(snap)
    assert snap["heap_bytes"] >= sum(sizes) and snap["peak_heap_bytes"] >= sum(sizes)
    assert snap["live_allocations"] >= 3 and snap["heap_history"]
    assert max(snap["heap_history"]) >= sum(sizes)
    assert snap["threads"] == ["main"] or len(snap["threads"]) == 1
    assert snap["output_path"] is None and snap["capture_path"].endswith("live.tide")

    # a viewer that comes back sees the same state
    again = snapshot(mt, run.port)
    assert {(r["id"], r["function"], r["line"], r["own_bytes"]) for r in again["rows"]} == \
        {(r["id"], r["function"], r["line"], r["own_bytes"]) for r in snap["rows"]}

    # one thread, and the largest stack of a row
    assert holds(["hold_c"], [sizes[2]])(snapshot(mt, run.port, "--thread", "0"))
    assert snapshot(mt, run.port, "--thread", "5")["rows"] == []
    stack = snapshot(mt, run.port, "--stack", str(row(snap, "hold_c")["id"]))["stack"]
    assert len(stack) >= 2, stack
    for line, (fn, site) in zip(stack, [("hold_c", "hold_c"), ("main", "main")]):
        assert line.startswith(f"{fn} at ") and line.endswith(f"live_hold.c:{lines[site]}"), stack

    # the text table names the rows
    text = mt.run("live", str(run.port), "--snapshot")
    assert text.returncode == 0 and "hold_c" in text.out, str(text)

    rc, out, err = run.finish()
    assert rc == d["EXIT_CODE"], err
    assert out == b""  # after "ready", read above

    # the capture is the same as a plain run's
    plain, path = mt.capture(hold, out="plain.tide", input=b"\n", expect_rc=d["EXIT_CODE"])
    a, b = mt.stats_json(run.capture), mt.stats_json(path)
    for k in ("top_by_size", "top_by_count"):
        assert [(r["function"], r["line"], r["bytes"], r["count"]) for r in a[k]] == \
            [(r["function"], r["line"], r["bytes"], r["count"]) for r in b[k]]
    for k in ("total_allocations", "total_bytes", "peak_bytes", "leaked_bytes", "truncated"):
        if k in b:
            assert a[k] == b[k], k


PY_PROGRAM = """
    import sys
    A, B, C = {A}, {B}, {C}


    def hold_a():
        return bytearray(A)  # @site:hold_a


    def hold_b():
        return bytearray(B)  # @site:hold_b


    def hold_c():
        return bytearray(C)  # @site:hold_c


    keep = [hold_a(), hold_b(), hold_c()]  # @site:module
    print("ready", flush=True)
    sys.stdin.readline()
    sys.exit(3)
"""


def test_python_program_rows_exact(mt, python, live):
    sizes = [10 * MiB, 20 * MiB, 30 * MiB]
    script = mt.cwd / "hold.py"
    script.write_text(textwrap.dedent(PY_PROGRAM.format(A=sizes[0], B=sizes[1], C=sizes[2]))
                      .lstrip("\n"))
    lines = site_lines(script)
    run = live("--python", python, script)
    run.wait_ready()
    # bytearray(n) allocates n + 1 bytes
    want = [s + 1 for s in sizes]
    snap = wait_for(mt, run.port, holds(["hold_a", "hold_b", "hold_c"], want))
    assert [r["function"] for r in by_own(snap)[:3]] == ["hold_c", "hold_b", "hold_a"], \
        rows_text(snap)
    for name, size in zip(["hold_a", "hold_b", "hold_c"], want):
        r = row(snap, name)
        assert (os.path.basename(r["file"]), r["line"], r["own_count"]) == \
            ("hold.py", lines[name], 1), r
    module = [r for r in snap["rows"] if (r["function"], os.path.basename(r["file"]), r["line"])
              == ("<module>", "hold.py", lines["module"])]
    assert len(module) == 1 and module[0]["total_bytes"] >= sum(want), rows_text(snap)
    check_invariants(snap)
    rc, out, err = run.finish()
    assert rc == 3, err
    stats = mt.stats_json(run.capture)
    assert not stats.get("truncated"), stats


def test_two_viewers_and_a_killed_one(mt, build, hold, live):
    d, sizes = sizes_of(build)
    run = live(hold)   # a port chosen by memtide and printed
    run.wait_ready()
    first = RawViewer(run.port)
    assert first.hello == "memtide-live 1 ok\n"
    assert first.query() == (b"S", True)
    # a second viewer while the first stays connected
    snap = wait_for(mt, run.port, holds(["hold_c"], [sizes[2]]))
    assert first.query() == (b"S", True)
    first.close()
    # a viewer process killed by SIGKILL in the middle of its queries
    code = textwrap.dedent(f"""
        import socket, struct
        s = socket.create_connection(("127.0.0.1", {run.port}))
        s.sendall(b"memtide-live 1\\n")
        while True:
            s.sendall(struct.pack("<I", 3) + b"Q\\x00\\x00")
            s.recv(1 << 20)
    """)
    viewer = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.5)
    viewer.kill()
    viewer.wait()
    again = wait_for(mt, run.port, holds(["hold_c"], [sizes[2]]))
    assert row(again, "hold_c")["id"] == row(snap, "hold_c")["id"]
    rc, out, err = run.finish()
    assert rc == d["EXIT_CODE"] and out == b"", err
    stats = mt.stats_json(run.capture)
    assert not stats.get("truncated")


def test_port_in_use(mt, hold):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = mt.run("run", "-o", "x.tide", "--live-remote", "--live-port", str(port),
                     hold)
    assert res.returncode == 1, str(res)
    assert res.err == f"memtide: cannot serve on 127.0.0.1:{port}: Address already in use\n"
    assert "ready" not in res.out   # the program never ran


def test_nothing_listening(mt):
    port = free_port()
    res = mt.run("live", str(port), "--snapshot", "--retry", "1")
    assert res.returncode == 1, str(res)
    lines = res.err.splitlines()
    assert lines[0] == f"memtide: nothing listens on 127.0.0.1:{port} yet; trying again for 1 s"
    assert lines[-1].startswith(f"memtide: nothing listens on 127.0.0.1:{port}: start the program")
    assert len(lines) == 2


def test_program_ends_before_any_viewer(mt, build, hold, live):
    d, sizes = sizes_of(build)
    run = live(hold, "now")
    rc, out, err = run.finish(input=b"")
    assert rc == d["EXIT_CODE"], err
    assert b"memtide: the program ended before any viewer connected" in err
    stats = mt.stats_json(run.capture)
    assert not stats.get("truncated")


def test_program_waits_for_its_viewer(mt, build, hold, live):
    d, sizes = sizes_of(build)
    run = live(hold, "now", wait=True)
    assert b"the program starts when a viewer connects" in run.read_line(run.proc.stderr)
    time.sleep(0.3)
    assert run.proc.poll() is None and not run.capture.exists()
    viewer = RawViewer(run.port)
    end = time.monotonic() + TIMEOUT
    while viewer.query() != (b"S", False):
        assert time.monotonic() < end
        time.sleep(0.02)
    viewer.close()
    rc, out, err = run.finish(input=b"")
    assert rc == d["EXIT_CODE"], err
    assert b"before any viewer" not in err


def test_final_state_after_the_end(mt, build, hold, live):
    """A viewer connected at the end gets the final state with the exit status."""
    d, sizes = sizes_of(build)
    run = live(hold, port=free_port())
    run.wait_ready()
    viewer = RawViewer(run.port)
    run.proc.stdin.write(b"\n")
    run.proc.stdin.flush()
    end = time.monotonic() + TIMEOUT
    while viewer.query() != (b"S", False):
        assert time.monotonic() < end
        time.sleep(0.02)
    viewer.close()
    rc, out, err = run.finish(input=b"")
    assert rc == d["EXIT_CODE"], err


def test_protocol_versions(mt, build, hold, live):
    run = live(hold, port=free_port())
    run.wait_ready()
    other = RawViewer(run.port, version=99)
    assert other.hello.startswith("memtide-live 1 error ")
    assert "version 99" in other.hello and "same memtide version" in other.hello
    other.close()
    run.finish()

    # a server of another version, as the viewer sees it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        viewer = subprocess.Popen([str(mt.bin), "live", str(port), "--snapshot"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        conn, _ = s.accept()
        assert conn.recv(100) == b"memtide-live 1\n"
        conn.sendall(b"memtide-live 2 ok\n")
        out, err = viewer.communicate(timeout=TIMEOUT)
        conn.close()
    assert viewer.returncode == 1
    assert err.decode() == (f"memtide: 127.0.0.1:{port} serves live protocol version 2, this "
                            f"viewer speaks version 1: use the same memtide version for both\n")


def test_command_line_errors(mt, hold):
    res = mt.run("live", "8000")   # stdout is a pipe here
    assert res.returncode == 1
    assert res.err == ("memtide: the live view needs a terminal; to print the table once, "
                       "use memtide live 8000 --snapshot\n")
    res = mt.run("run", "--live", hold)
    assert res.returncode == 1 and "--live needs a terminal" in res.err
    for args, msg in [(["live"], "no port given"), (["live", "99999"], "is not a port"),
                      (["live", "80", "--json"], "go with --snapshot"),
                      (["run", "--live", "--live-remote", hold], "one or the other"),
                      (["run", "--no-wait", hold], "go with --live-remote"),
                      (["run", "--live-remote", "--live-port", "0", hold], "takes a port")]:
        res = mt.run(*args)
        assert res.returncode == 2 and msg in res.err, (args, str(res))
    for cmd in ("live", "run"):
        res = mt.run(cmd, "--help")
        assert res.returncode == 0 and "--live" in res.out if cmd == "run" else "--snapshot" in res.out


def test_live_in_this_terminal(mt, build, hold):
    """--live: the view on the terminal (a pty here, q pressed until the end);
    the program's output goes to a file beside the capture."""
    d, sizes = sizes_of(build)
    master, slave = os.openpty()
    env = dict(os.environ, TERM="xterm", COLUMNS="100", LINES="30")
    proc = subprocess.Popen([str(mt.bin), "run", "-o", "t.tide", "--live", str(hold)],
                            cwd=str(mt.cwd), stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)
    os.close(slave)
    screen = b""
    end = time.monotonic() + TIMEOUT
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:   # the terminal's last user has gone
                    break
                if not data:
                    break
                screen += data
            elif proc.poll() is not None:
                break
            else:
                os.write(master, b"q")
            assert time.monotonic() < end, screen[-2000:]
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.wait() == d["EXIT_CODE"], screen[-2000:]
    # its input was /dev/null, so it did not wait for a line
    assert (mt.cwd / "t.out").read_bytes() == b"ready\n"
    assert b"the program's output is in t.out" in screen, screen[-2000:]
    stats = mt.stats_json(mt.cwd / "t.tide")
    assert not stats["truncated"] and stats["peak_bytes"] >= sum(sizes)


THREADED = """
    import sys
    import threading
    keep = {{}}


    def load():
        keep["load"] = bytearray({A})  # @site:load


    def write():
        keep["write"] = bytearray({B})  # @site:write


    threads = [threading.Thread(target=load, name="loader"),
               threading.Thread(target=write, name="writer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ready", flush=True)
    sys.stdin.readline()
"""


def test_one_thread_at_a_time(mt, python, live):
    a, b = 3 * MiB, 5 * MiB
    script = mt.cwd / "threaded.py"
    script.write_text(textwrap.dedent(THREADED.format(A=a, B=b)).lstrip("\n"))
    run = live("--python", python, script)
    run.wait_ready()
    snap = wait_for(mt, run.port, holds(["load", "write"], [a + 1, b + 1]))
    names = snap["threads"]
    assert "loader" in names and "writer" in names, names
    for name, fn, other, size in (("loader", "load", "write", a + 1),
                                  ("writer", "write", "load", b + 1)):
        one = snapshot(mt, run.port, "--thread", str(names.index(name)))
        assert row(one, fn)["own_bytes"] == size, rows_text(one)
        assert not [r for r in one["rows"] if r["function"] == other], rows_text(one)
        check_invariants(one)
        assert one["heap_bytes"] >= size
    assert run.finish()[0] == 0


def test_final_state_equals_the_reports(mt, build, live):
    """Followed across chunks (the writer closes one every second), the
    final live state is what `stats` finds still live at the end."""
    sleeper = build.program("sleeper")
    run = live(sleeper, "1500")
    keeper = RawViewer(run.port)   # memtide run waits for it to see the end
    assert run.read_line(run.proc.stdout).startswith(b"ready")
    snap = wait_for(mt, run.port, lambda s: not s["running"])
    keeper.close()
    rc, out, err = run.finish(input=b"")
    assert rc == 0, err
    stats = mt.stats_json(run.capture)
    assert not stats["truncated"]
    assert (snap["heap_bytes"], snap["live_allocations"]) == \
        (stats["leaked_bytes"], stats["leaked_allocations"])
    assert snap["peak_heap_bytes"] == stats["peak_bytes"]
    assert snap["exit_status"] == 0
    late = row(snap, "late_alloc")
    d = c_defines(build.source("sleeper"))
    assert late["own_count"] >= 2 and late["own_bytes"] == late["own_count"] * d["LATE_SIZE"]
    assert row(snap, "early_alloc")["own_bytes"] == d["EARLY_N"] * d["EARLY_SIZE"]


def test_program_killed(mt, build, live):
    """A program killed by SIGKILL: the view says so (137) and keeps what
    the capture holds; memtide run dies of the same signal."""
    sleeper = build.program("sleeper")
    run = live(sleeper)
    keeper = RawViewer(run.port)
    line = run.read_line(run.proc.stdout)
    pid = int(line.split()[1])
    wait_for(mt, run.port, lambda s: any(r["function"] == "early_alloc" for r in s["rows"]))
    os.kill(pid, signal.SIGKILL)
    snap = wait_for(mt, run.port, lambda s: not s["running"])
    keeper.close()
    assert snap["exit_status"] == 128 + signal.SIGKILL
    d = c_defines(build.source("sleeper"))
    assert row(snap, "early_alloc")["own_bytes"] == d["EARLY_N"] * d["EARLY_SIZE"]
    rc, out, err = run.finish(input=b"")
    assert rc == -signal.SIGKILL, err
    stats = mt.stats_json(run.capture)
    assert stats["truncated"]
    assert (snap["heap_bytes"], snap["live_allocations"]) == \
        (stats["leaked_bytes"], stats["leaked_allocations"])
