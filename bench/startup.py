#!/usr/bin/env python3
"""bench/startup.py - what `memtide run` adds to a program's start-up.

Runs, interleaved round after round (so load on the machine hits every row
alike), each of:
  true                 /bin/true
  memtide run true     the same under memtide (native: always --native)
  memtide --version    the memtide command's own start-up
  python -c pass       Debian's /usr/bin/python3 -c pass
  memtide run -c pass  the same under memtide (default: Python frames only)
  ... --native         the same with --native
and prints the median wall time and the median CPU time (user+sys of the
whole process tree, from wait4) of each, and the added time against the
plain row.  --before OLD_BIN adds the memtide rows of another build (e.g.
the previous commit's, built elsewhere) to the same rounds, so that a
change is measured under the same load.  With hyperfine installed (apt
install hyperfine) it also runs hyperfine on the same commands.

usage: bench/startup.py [--runs N] [--bin build/bin/memtide] [--before OLD_BIN]
                        [--python /usr/bin/python3]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(cmd, out):
    # a fresh capture file each run, as memtide's default names give: writing
    # over an old one adds the file system's truncate to the figures
    if os.path.exists(out):
        os.unlink(out)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status:
        sys.exit(f"startup.py: {' '.join(cmd)} failed (status {status})")
    return wall * 1000, (ru.ru_utime + ru.ru_stime) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin", "memtide"))
    ap.add_argument("--before", help="another build's memtide, measured alongside")
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="memtide-startup-")
    out = os.path.join(tmp, "x.tide")
    rows = [("true", ["/bin/true"], None), ("python -c pass", [args.python, "-c", "pass"], None)]
    for tag, binary in (("", args.bin), (" (before)", args.before)):
        if not binary:
            continue
        run = [binary, "run", "-q", "-f", "-o", out]
        rows += [
            ("memtide run true" + tag, [*run, "/bin/true"], "true"),
            ("memtide --version" + tag, [binary, "--version"], "true"),
            ("memtide run -c pass" + tag, [*run, "--python", args.python, "-c", "pass"],
             "python -c pass"),
            ("memtide run --native -c pass" + tag,
             [*run, "--native", "--python", args.python, "-c", "pass"], "python -c pass"),
        ]
    times = {name: [] for name, _, _ in rows}
    for _ in range(args.runs):
        for name, cmd, _ in rows:
            times[name].append(measure(cmd, out))
    med = {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
           for name, t in times.items()}
    print(f"{'':39} {'wall ms':>8} {'+ms':>7} {'cpu ms':>8} {'+ms':>7}   ({args.runs} runs, medians)")
    for name, _, base in rows:
        w, c = med[name]
        dw = f"{w - med[base][0]:+7.1f}" if base else ""
        dc = f"{c - med[base][1]:+7.1f}" if base else ""
        print(f"{name:39} {w:8.1f} {dw:>7} {c:8.1f} {dc:>7}")
    if shutil.which("hyperfine"):
        subprocess.run(["hyperfine", "-N", "-w", "5", "-r", str(args.runs),
                        *(" ".join(cmd) for _, cmd, _ in rows)])
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
