#!/usr/bin/env python3
"""bench/live.py - what the live view costs (issue 8).

1. Overhead: a workload of ../shared/workloads (short scale) under
   `memtide run`, under `memtide run --live-remote --no-wait` (the engine
   follows the capture; nobody watches) and the same with a viewer asking
   for a snapshot 5 times a second, interleaved round after round; median
   wall time of each (until `memtide run` exits: with a viewer, that
   includes waiting for it to fetch the final state, up to its 200 ms
   refresh) and their ratio to the plain run.
2. Snapshot time with a million live allocations: a C program (built here)
   makes 1M small mallocs from 4096 stacks of depth 2 to 128 and waits; once
   the live view shows them all, the time of a snapshot (query to decoded
   answer over loopback, which folds every live stack) is measured.

Not a test: figures only.  usage: bench/live.py [--bin build/bin/memtide]
[--workload py_small_objects] [--scale 0.1] [--runs 3]; WORKLOADS=DIR
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
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop = threading.Event()
    if viewer:
        port = serving_port(p)

        def poll():
            try:
                v = Viewer(port)
                while not stop.wait(0.2):
                    v.query()
            except (OSError, EOFError):
                pass
        th = threading.Thread(target=poll, daemon=True)
        th.start()
    p.stderr.read()
    p.wait()
    stop.set()
    return time.perf_counter() - t


def overhead(args, tmp):
    work = os.path.join(WORKLOADS, args.workload + ".py")
    env = dict(os.environ, SCALE=str(args.scale))
    out = os.path.join(tmp, "w.tide")
    plain = [args.bin, "run", "-q", "-f", "-o", out, "--python", sys.executable, work]
    live = [args.bin, "run", "-q", "-f", "-o", out, "--live-remote", "--no-wait",
            "--python", sys.executable, work]
    rows = {"run": (plain, False), "run --live-remote": (live, False),
            "  + a viewer at 5/s": (live, True)}
    times = {k: [] for k in rows}
    for _ in range(args.runs):
        for k, (cmd, viewer) in rows.items():
            times[k].append(timed(cmd, env, viewer))
    base = statistics.median(times["run"])
    print(f"overhead: {args.workload} SCALE={args.scale}, {args.runs} runs each, interleaved")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"  memtide {k:<22} median {m:7.3f} s  ({min(v):.3f}-{max(v):.3f})  "
              f"x{m / base:.3f} of plain run")


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
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        overhead(args, tmp)
        million(args, tmp)


if __name__ == "__main__":
    main()
