#!/usr/bin/env python3
"""bench/live.py - what the live view costs (issue 8).

1. Overhead: a workload of ../shared/workloads (short scale) under
   `memtide run`, under `memtide run --live-remote --no-wait` (the engine
   follows the capture; nobody watches) and the same with a viewer asking
   for a snapshot 5 times a second, interleaved round after round: median
   wall time until the program's last output line (its own run time), and
   until `memtide run` exits (after the engine has read the rest of the
   capture and, with a viewer, the viewer has fetched the final state, up
   to its 200 ms refresh), and their ratios to the plain run.
2. Snapshot time with a million live allocations: a C program (built here)
   makes 1M small mallocs from 4096 stacks of depth 2 to 128 and waits; once
   the live view shows them all, the time of a snapshot (query to decoded
   answer over loopback, which folds every live stack) is measured.

Not a test: figures only.  usage: bench/live.py [--bin build/bin/memtide]
[--workload py_small_objects] [--scale 0.1] [--runs 3] [--trace];
WORKLOADS=DIR
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# as bench.py: ../shared/workloads beside the repository, or WORKLOADS
WORKLOADS = os.environ.get("WORKLOADS") or os.path.join(HERE, "..", "..", "shared", "workloads")

MILLION_C = r"""
#include <stdio.h>
#include <stdlib.h>
#define N 1000000
static void *keep[N];
__attribute__((noinline)) static void *inner(int d, size_t size)
{
	void *volatile p = d ? inner(d - 1, size) : malloc(size);
	return p;
}
__attribute__((noinline)) static void *outer(int d, int e, size_t size)
{
	void *volatile p = d ? outer(d - 1, e, size) : inner(e, size);
	return p;
}
int main(void)
{
	char line[8];
	for (int i = 0; i < N; i++)
		keep[i] = outer(i % 64, i / 64 % 64, 16 + i % 48);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	return 0;
}
"""


class Viewer:
    """A raw client of docs/LIVE.md."""

    def __init__(self, port):
        for _ in range(200):
            try:
                self.s = socket.create_connection(("127.0.0.1", port))
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        self.s.sendall(b"memtide-live 1\n")
        line = b""
        while not line.endswith(b"\n"):
            line += self.s.recv(1)
        assert line == b"memtide-live 1 ok\n", line

    def query(self):
        self.s.sendall(struct.pack("<I", 3) + b"Q\x00\x00")
        n = struct.unpack("<I", self._exact(4))[0]
        return self._exact(n)

    def _exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)


def serving_port(proc):
    line = b""
    while not line.endswith(b"\n"):
        line += proc.stderr.read(1)
    if b"127.0.0.1:" not in line:
        sys.exit(f"memtide run said: {line.decode()}")
    return int(line.split(b"127.0.0.1:")[1].split(b";")[0])


def timed(cmd, env, viewer):
    """(seconds until the program's last output line, until memtide run exits,
    CPU seconds of memtide run and the program)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stop = threading.Event()
    last = [t]

    def lines():
        for _ in p.stdout:
            last[0] = time.perf_counter()
    out = threading.Thread(target=lines)
    out.start()
    if viewer:
        port = serving_port(p)

        def poll():
            try:
                v = Viewer(port)
                while not stop.wait(0.2):
                    v.query()
            except (OSError, EOFError):
                pass
        threading.Thread(target=poll, daemon=True).start()
    p.stderr.read()
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    end = time.perf_counter()
    stop.set()
    out.join()
    return last[0] - t, end - t, ru.ru_utime + ru.ru_stime


def overhead(args, tmp):
    work = os.path.join(WORKLOADS, args.workload + ".py")
    env = dict(os.environ, SCALE=str(args.scale))
    out = os.path.join(tmp, "w.tide")
    opts = ["--trace-python-allocators"] if args.trace else []
    plain = [args.bin, "run", "-q", "-f", "-o", out, *opts, "--python", sys.executable, work]
    live = [args.bin, "run", "-q", "-f", "-o", out, *opts, "--live-remote", "--no-wait",
            "--python", sys.executable, work]
    rows = {"run": (plain, False), "run --live-remote": (live, False),
            "  + a viewer at 5/s": (live, True)}
    times = {k: [] for k in rows}
    for _ in range(args.runs):
        for k, (cmd, viewer) in rows.items():
            times[k].append(timed(cmd, env, viewer))
    base = [statistics.median(v[i] for v in times["run"]) for i in (0, 1, 2)]
    print(f"overhead: {args.workload} SCALE={args.scale}{' --trace-python-allocators' * args.trace},"
          f" {args.runs} runs each, interleaved; median seconds until the program's last line"
          f" / until memtide run exits / CPU (user+sys, memtide run and the program)")
    for k, v in times.items():
        m = [statistics.median(x[i] for x in v) for i in (0, 1, 2)]
        print(f"  memtide {k:<22}" + "".join(
            f"{' / ' if i else ''}{m[i]:6.3f} s x{m[i] / base[i]:.3f}" for i in (0, 1, 2)))


def million(args, tmp):
    src = os.path.join(tmp, "million.c")
    exe = os.path.join(tmp, "million")
    with open(src, "w") as f:
        f.write(MILLION_C)
    subprocess.run(["cc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
    p = subprocess.Popen([args.bin, "run", "-o", os.path.join(tmp, "m.tide"), "--live-remote",
                          "--no-wait", exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    port = serving_port(p)
    assert p.stdout.readline() == b"ready\n"
    t0 = time.perf_counter()
    while True:
        r = subprocess.run([args.bin, "live", str(port), "--snapshot", "--json"],
                           capture_output=True, check=True)
        snap = json.loads(r.stdout)
        if snap["live_allocations"] >= 1_000_000:
            break
        time.sleep(0.1)
    caught_up = time.perf_counter() - t0
    v = Viewer(port)
    v.query()   # the first locates and symbolizes every stack
    times = []
    for _ in range(50):
        t = time.perf_counter()
        msg = v.query()
        times.append(time.perf_counter() - t)
    p.stdin.write(b"\n")
    p.stdin.flush()
    p.communicate()
    print(f"snapshot with {snap['live_allocations']:,} live allocations, {len(snap['rows'])} rows "
          f"(4096 stacks of depth 2-128), {len(msg):,} bytes each:")
    print(f"  median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms "
          f"over 50 ({1 / statistics.median(times):.0f} snapshots/s); the view caught up "
          f"{caught_up:.2f} s after the program's 'ready'")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin", "memtide"))
    ap.add_argument("--workload", default="py_small_objects")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trace", action="store_true",
                    help="with --trace-python-allocators: every object is an event")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        overhead(args, tmp)
        million(args, tmp)


if __name__ == "__main__":
    main()
