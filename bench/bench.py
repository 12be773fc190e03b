#!/usr/bin/python3
"""memtide benchmark helper (stdlib only; run through bench/run.sh).

Measures memtide side by side with heaptrack and `python3 -X tracemalloc=1` on the workloads of
../shared/workloads, the way ../shared/BASELINE.md measured memray & co:

* every configuration runs REPS times alternated with the workload's own baseline (A B A B ...);
  "x baseline" is the median of the REPS paired ratios A/B of wall time;
* wall time is a whole-process timer around the launched command; peak RSS is the ru_maxrss that
  wait4() reports for the launched process, i.e. the largest single process of the finished tree
  (for heaptrack that can be heaptrack_interpret);
* capture bytes = size of the file the tool left (last run); events = allocation calls the tool
  reports (memtide: `stats --json` total_allocations; heaptrack: heaptrack_print "calls to
  allocation functions"); bytes/event = capture bytes / events.

Every command's stdout/stderr goes to a log file under OUT/logs.  A run that exits non-zero or
times out makes its row say FAILED; the bench carries on.  Missing tools/binaries give "n/a".

Env: WORKLOADS, SCALE (1), REPS (3), OUT (bench/out), MEMTIDE (build/bin/memtide), PYTHON
(/usr/bin/python3), TIMEOUT (seconds per run, 600), NATIVE (all|bart|none: which Python workloads
also get `memtide run --native`; default all), ONLY (space-separated workload names), TOOLS
(space-separated subset of: memtide memtide_sample memtide_native memtide_aggregate heaptrack
tracemalloc1),
STARTUP_REPS (5; 0 skips start-up), REPORT_REPS (3; 0 skips the reporters), SAMPLE_RATE (512KiB: memtide_sample's --sample-rate).

memtide_sample is `memtide run --sample-rate SAMPLE_RATE`; where memtide ran on the same workload
too, a second table compares the sampled capture with the full one: its size, its peak and the
top-5 allocation sites at the peak (live bytes by innermost frame, from `transform csv`), each with
the standard error the sampling allows, at most sqrt(rate x heap bytes) (mapped memory is always
recorded: exact).
"""
import csv
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)


def env(name, default):
    v = os.environ.get(name, "")
    return v if v != "" else default


WORKLOADS = os.path.abspath(env("WORKLOADS", os.path.join(REPO, "..", "shared", "workloads")))
SCALE = env("SCALE", "1")
REPS = int(env("REPS", "3"))
OUT = os.path.abspath(env("OUT", os.path.join(BENCH_DIR, "out")))
LOGS = os.path.join(OUT, "logs")
CAP = os.path.join(OUT, "captures")
BIN = os.path.join(OUT, "bin")
MEMTIDE = os.path.abspath(env("MEMTIDE", os.path.join(REPO, "build", "bin", "memtide")))
MEMTIDE_ORIG = MEMTIDE
SNAPSHOT = env("SNAPSHOT", "1") == "1"
PYTHON = env("PYTHON", "/usr/bin/python3")
TIMEOUT = float(env("TIMEOUT", "600"))
NATIVE = env("NATIVE", "all")
ONLY = env("ONLY", "").split()
TOOLS = env("TOOLS", "memtide memtide_sample memtide_native memtide_tpa memtide_tracker "
            "memtide_aggregate heaptrack tracemalloc1").split()
SAMPLE_RATE = env("SAMPLE_RATE", "512KiB")
STARTUP_REPS = int(env("STARTUP_REPS", "5"))
REPORT_REPS = int(env("REPORT_REPS", "3"))
HEAPTRACK = shutil.which("heaptrack")
HEAPTRACK_PRINT = shutil.which("heaptrack_print")
CC = shutil.which(env("CC", "cc"))

PY_WORKLOADS = ["py_small_objects", "py_numpy", "py_mixed_bart", "py_threads", "py_native_churn"]
ALL_WORKLOADS = ["py_small_objects", "py_numpy", "py_mixed_bart", "py_threads", "native_churn",
                 "py_native_churn"]

# Targets of issue 2 (default mode unless the tool says otherwise), with the anchor they beat.
TARGETS = {
    ("py_small_objects", "memtide"): dict(ratio=1.10, anchor="memray 2.46x"),
    ("py_numpy", "memtide"): dict(ratio=1.15, anchor="memray 1.32x; noisy"),
    ("py_mixed_bart", "memtide"): dict(ratio=1.40, bpe=4.24 / 2, anchor="memray 1.84x, 4.24 B/ev"),
    ("py_threads", "memtide"): dict(ratio=1.25, anchor="memray 2.27x"),
    ("py_mixed_bart", "memtide_native"): dict(ratio=1.70, anchor="memray --native 2.46x"),
    ("native_churn", "memtide"): dict(ratio=2.30, bpe=4.32 / 2, anchor="heaptrack 3.67x, 4.32 B/ev"),
    # issue 4: --trace-python-allocators at most half of memray's overhead in that mode
    ("py_small_objects", "memtide_tpa"): dict(ratio=3.4, anchor="memray tpa 5.76x"),
    ("py_mixed_bart", "memtide_tpa"): dict(ratio=1.9, anchor="memray tpa 2.82x"),
    ("py_threads", "memtide_tpa"): dict(ratio=3.5, anchor="memray tpa 5.93x"),
}
# issue 11: --sample-rate 512KiB costs at most 3% on every workload
for _wl in ALL_WORKLOADS:
    TARGETS[(_wl, "memtide_sample")] = dict(ratio=1.03, anchor="issue 11, at 512KiB")
# ... and its capture, peak and top-5 sites at the peak against the full capture's
SAMPLE_TARGETS = dict(size_pct=2.0, error_pct=5.0, workloads=("py_mixed_bart", "py_numpy"))
# issue 11: --aggregate at most 1.10x everywhere (its capture: py_mixed_bart's at most 1/100 of
# the full mode's, compared in the same run's capture bytes column)
TARGETS.update({(w, "memtide_aggregate"): dict(ratio=1.10, anchor="memray --aggregate")
                for w in ALL_WORKLOADS})

runs_tsv = None  # file object, one line per individual run


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Run:
    """Outcome of one launched command."""

    def __init__(self, wall, rss_kb, rc, timed_out, user, sys_, stdout_path):
        self.wall, self.rss_kb, self.rc, self.timed_out = wall, rss_kb, rc, timed_out
        self.user, self.sys = user, sys_
        self.stdout_path = stdout_path

    @property
    def ok(self):
        return self.rc == 0 and not self.timed_out

    def why(self):
        return "timeout" if self.timed_out else ("rc=%d" % self.rc if self.rc >= 0 else "signal %d" % -self.rc)


def run_cmd(cmd, name, extra_env=None, cwd=None):
    """Run cmd with stdout/stderr to LOGS/name.{out,err}; return a Run (never raises for the
    command failing; a command that cannot be started counts as rc=127)."""
    out_p = os.path.join(LOGS, name + ".out")
    err_p = os.path.join(LOGS, name + ".err")
    e = dict(os.environ)
    # the Python package of the memtide build under test (tracker_run.py)
    e["MEMTIDE_PYTHONPATH"] = os.path.join(os.path.dirname(os.path.dirname(MEMTIDE)), "python")
    e["SCALE"] = SCALE
    e["NATIVE_CHURN_SO"] = os.path.join(BIN, "libnative_churn.so")
    e.pop("PYTHONTRACEMALLOC", None)
    if extra_env:
        e.update(extra_env)
    with open(out_p, "wb") as fo, open(err_p, "wb") as fe:
        fe.write(("# cmd: %s\n" % " ".join(cmd)).encode())
        fe.flush()
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=e,
                                 cwd=cwd or OUT, start_new_session=True)
        except OSError as ex:
            fe.write(("# cannot start: %s\n" % ex).encode())
            return Run(0.0, 0, 127, False, 0.0, 0.0, out_p)
        timed_out = []

        def kill():
            timed_out.append(1)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(TIMEOUT, kill)
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        # Leftover members of the session (e.g. a daemonized helper) must not outlive the run.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    r = Run(wall, ru.ru_maxrss, p.returncode, bool(timed_out), ru.ru_utime, ru.ru_stime, out_p)
    if runs_tsv:
        runs_tsv.write("%s\t%.4f\t%d\t%d\t%d\t%.3f\t%.3f\t%s\n" % (
            name, wall, ru.ru_maxrss, p.returncode, bool(timed_out), ru.ru_utime, ru.ru_stime,
            " ".join(cmd)))
        runs_tsv.flush()
    log("  %-40s %7.3f s %8.1f MiB %s" % (name, wall, ru.ru_maxrss / 1024.0,
                                          "ok" if r.ok else "FAILED " + r.why()))
    return r


# ---------------------------------------------------------------- formatting helpers

def fmt_wall(walls):
    if not walls:
        return "n/a"
    return "%.2f (%.2f-%.2f)" % (statistics.median(walls), min(walls), max(walls))


def fmt_int(n):
    return "{:,}".format(n) if isinstance(n, int) else str(n)


def fmt_mib(kb_list):
    return "%.1f" % (statistics.median(kb_list) / 1024.0) if kb_list else "n/a"


def fmt_bytes_human(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%.2f%s" % (n / div, unit)
    return "%dB" % n


# ---------------------------------------------------------------- event / peak extraction

def memtide_stats_json(capture, name):
    """(events, peak text, note) from `memtide stats --json capture`."""
    r = run_cmd([MEMTIDE, "stats", "--json", capture], name)
    if not r.ok:
        return "FAILED", "FAILED", "stats --json " + r.why()
    try:
        with open(r.stdout_path) as f:
            d = json.load(f)
        ev = int(d["total_allocations"])
        peak = "%s B" % fmt_int(int(d["peak_bytes"]))
        note = "truncated" if d.get("truncated") else ""
        return ev, peak, note
    except Exception as ex:  # malformed JSON is a result worth showing, not a crash
        return "FAILED", "FAILED", "stats --json unparsable: %s" % ex


def heaptrack_print_stats(capture, name):
    if not HEAPTRACK_PRINT:
        return "n/a", "n/a", ""
    r = run_cmd([HEAPTRACK_PRINT, capture], name)
    if not r.ok:
        return "FAILED", "FAILED", "heaptrack_print " + r.why()
    ev, peak = "FAILED", "FAILED"
    with open(r.stdout_path, errors="replace") as f:
        for line in f:
            m = re.match(r"calls to allocation functions: (\d+)", line)
            if m:
                ev = int(m.group(1))
            m = re.match(r"peak heap memory consumption: (\S+)", line)
            if m:
                peak = m.group(1)
    return ev, peak, ""


# ---------------------------------------------------------------- configurations

def target_cmd(workload):
    """The unprofiled command of a workload, or None if it cannot run."""
    if workload == "native_churn":
        exe = os.path.join(BIN, "native_churn")
        return [exe] if os.access(exe, os.X_OK) else None
    script = os.path.join(WORKLOADS, workload + ".py")
    if not os.path.exists(script) or not os.access(PYTHON, os.X_OK):
        return None
    if workload == "py_native_churn" and not os.path.exists(os.path.join(BIN, "libnative_churn.so")):
        return None
    return [PYTHON, script]


# memtide_nosync: the writer without its per-round flush (chunks only every
# second or 4 MiB, as before issue 7), to measure what that flush costs.
TOOL_ENV = {"memtide_nosync": {"MEMTIDE_SYNC_ROUNDS": "0"}}


def tool_cmd(tool, workload, base):
    """(command, capture path prefix or None) for tool on workload, or (None, reason)."""
    # a script runs under the baseline's interpreter (memtide run would take
    # python3 on PATH); a native program is run directly.
    prog = base if workload == "native_churn" else ["--python", PYTHON] + base[1:]
    if tool in ("memtide", "memtide_native", "memtide_tpa", "memtide_nosync", "memtide_sample",
                "memtide_aggregate"):
        if not os.access(MEMTIDE, os.X_OK):
            return None, "n/a"
        if tool == "memtide_tpa" and workload == "native_churn":
            return None, "skip"
        cap = os.path.join(CAP, "%s.%s.tide" % (workload, tool))
        flags = {"memtide_native": ["--native"],
                 "memtide_tpa": ["--trace-python-allocators"],
                 "memtide_sample": ["--sample-rate", SAMPLE_RATE],
                 "memtide_aggregate": ["--aggregate"]}.get(tool, [])
        return [MEMTIDE, "run", "-q", "-f"] + flags + ["-o", cap] + prog, cap
    if tool in ("memtide_tracker", "memtide_profile"):
        # memtide.Tracker (or @memtide.profile) around the script, inside the interpreter
        if workload == "native_churn" or not os.access(MEMTIDE, os.X_OK):
            return None, "skip"
        cap = os.path.join(CAP, "%s.%s.tide" % (workload, tool))
        flags = ["--profile"] if tool == "memtide_profile" else []
        return [PYTHON, os.path.join(REPO, "bench", "tracker_run.py")] + flags + [cap] + \
            base[1:], cap
    if tool == "heaptrack":
        if not HEAPTRACK:
            return None, "n/a"
        cap = os.path.join(CAP, "%s.heaptrack" % workload)
        return [HEAPTRACK, "-o", cap] + base, cap
    if tool == "tracemalloc1":
        if workload == "native_churn":
            return None, "skip"
        return [PYTHON, "-X", "tracemalloc=1"] + base[1:], None
    return None, "skip"


def find_capture(prefix):
    """heaptrack appends .zst/.gz; memtide writes the path given."""
    if prefix is None:
        return None
    for cand in (prefix, prefix + ".zst", prefix + ".gz", prefix + ".zstd"):
        if os.path.isfile(cand):
            return cand
    return None


def clear_capture(prefix):
    if prefix is None:
        return
    for cand in (prefix, prefix + ".zst", prefix + ".gz", prefix + ".zstd"):
        if os.path.isfile(cand):
            os.unlink(cand)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def row(workload, tool, wall="n/a", ratio="n/a", rss="n/a", cap="n/a", ev="n/a", bpe="n/a",
        peak="n/a", target="", scale=None):
    return dict(workload=workload, tool=tool, scale=scale or SCALE, wall=wall, ratio=ratio,
                rss=rss, cap=cap, ev=ev, bpe=bpe, peak=peak, target=target)


def target_text(workload, tool, ratio, bpe):
    t = TARGETS.get((workload, tool))
    if not t:
        return ""
    parts = []
    if "ratio" in t:
        verdict = ""
        if isinstance(ratio, float):
            verdict = " ok" if ratio <= t["ratio"] else " MISS"
        parts.append("x<=%.2f%s" % (t["ratio"], verdict))
    if "bpe" in t:
        verdict = ""
        if isinstance(bpe, float):
            verdict = " ok" if bpe <= t["bpe"] else " MISS"
        parts.append("B/ev<=%.2f%s" % (t["bpe"], verdict))
    return "; ".join(parts) + " (%s)" % t["anchor"]


BUSY = []  # baseline runs whose wall time far exceeds their CPU time (machine busy?)


def check_busy(r, name):
    """A baseline workload is CPU-bound: wall much above user+sys means it waited for a CPU."""
    cpu = r.user + r.sys
    if r.ok and r.wall > 1.25 * cpu + 0.02:
        BUSY.append("%s %.2f s wall vs %.2f s CPU" % (name, r.wall, cpu))


def bench_baseline(workload, base):
    """B/B noise row: REPS pairs of baseline runs."""
    walls, rss, ratios, outs = [], [], [], []
    failed = None
    for i in range(REPS):
        a = run_cmd(base, "%s.baseline.%da" % (workload, i))
        b = run_cmd(base, "%s.baseline.%db" % (workload, i))
        check_busy(a, "%s.baseline.%da" % (workload, i))
        check_busy(b, "%s.baseline.%db" % (workload, i))
        for r in (a, b):
            if not r.ok:
                failed = r.why()
            walls.append(r.wall)
            rss.append(r.rss_kb)
        if a.ok and b.ok:
            ratios.append(a.wall / b.wall)
            outs.append(read(a.stdout_path))
        if failed:
            break
    if failed:
        return row(workload, "baseline", wall="FAILED (%s)" % failed, ratio="FAILED"), None
    ref_out = outs[0] if outs else None
    return row(workload, "baseline", wall=fmt_wall(walls),
               ratio="(%.2f B/B)" % statistics.median(ratios), rss=fmt_mib(rss),
               cap="-", ev="-", bpe="-", peak="-"), ref_out


def bench_tool(workload, tool, base, ref_out, notes):
    cmd, cap = tool_cmd(tool, workload, base)
    if cmd is None:
        if cap == "skip":
            return None
        return row(workload, tool, target=target_text(workload, tool, None, None))
    walls, rss, ratios = [], [], []
    failed = None
    for i in range(REPS):
        clear_capture(cap)
        a = run_cmd(cmd, "%s.%s.%d" % (workload, tool, i), TOOL_ENV.get(tool))
        b = run_cmd(base, "%s.%s.%d.base" % (workload, tool, i))
        check_busy(b, "%s.%s.%d.base" % (workload, tool, i))
        if not a.ok:
            failed = a.why()
            break
        walls.append(a.wall)
        rss.append(a.rss_kb)
        if b.ok:
            ratios.append(a.wall / b.wall)
            if b.user + b.sys > 0:
                CPU_RATIOS.setdefault((workload, tool), []).append(
                    (a.user + a.sys) / (b.user + b.sys))
        if tool.startswith("memtide") and ref_out is not None:
            got = read(a.stdout_path)
            if got != ref_out:
                notes.append("%s/%s run %d: stdout differs from baseline (see logs/%s.%s.%d.out)"
                             % (workload, tool, i, workload, tool, i))
    if failed:
        notes.append("%s/%s: FAILED (%s), see %s/%s.%s.*.err" % (workload, tool, failed, LOGS,
                                                                workload, tool))
        return row(workload, tool, wall="FAILED (%s)" % failed, ratio="FAILED", rss="FAILED",
                   cap="FAILED", ev="FAILED", bpe="FAILED", peak="FAILED",
                   target=target_text(workload, tool, None, None))
    ratio = statistics.median(ratios) if ratios else None
    capfile = find_capture(cap)
    cap_s = ev_s = bpe_s = peak_s = "-"
    bpe = None
    if cap is not None:
        if capfile is None:
            cap_s, ev_s, bpe_s, peak_s = "FAILED (no file)", "FAILED", "FAILED", "FAILED"
            notes.append("%s/%s: no capture file at %s*" % (workload, tool, cap))
        else:
            size = os.path.getsize(capfile)
            cap_s = fmt_int(size)
            if tool.startswith("memtide"):
                ev, peak_s, note = memtide_stats_json(capfile, "%s.%s.stats_json" % (workload, tool))
            else:
                ev, peak_s, note = heaptrack_print_stats(capfile, "%s.%s.print" % (workload, tool))
            if note:
                notes.append("%s/%s: %s" % (workload, tool, note))
            ev_s = fmt_int(ev)
            if isinstance(ev, int) and ev > 0:
                bpe = size / ev
                bpe_s = "%.2f" % bpe
            elif isinstance(ev, int):
                bpe_s = "-"
            if tool == "memtide_sample":  # events: estimated allocations, not recorded ones
                bpe, bpe_s = None, "- (sampled)"
            elif tool == "memtide_aggregate":  # its size follows the stacks, not the events
                bpe, bpe_s = None, "- (aggregated)"
            if tool not in ("memtide_sample", "memtide_aggregate"):
                CAPTURES.setdefault(tool.split("_")[0], []).append((size, workload, capfile, ev))
            LAST_CAPTURE[(workload, tool)] = capfile
    return row(workload, tool, wall=fmt_wall(walls),
               ratio="%.2f" % ratio if ratio is not None else "FAILED (baseline)",
               rss=fmt_mib(rss), cap=cap_s, ev=ev_s, bpe=bpe_s, peak=peak_s,
               target=target_text(workload, tool, ratio, bpe))


CAPTURES = {}  # "memtide"/"heaptrack" -> [(size, workload, path, events)]
LAST_CAPTURE = {}  # (workload, tool) -> capture file of its last run
CPU_RATIOS = {}  # (workload, tool) -> [CPU time (user + sys) / its paired baseline's]


# ---------------------------------------------------------------- sampled vs full

HEAP_KINDS = {"malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
              "memalign", "valloc", "pvalloc", "pymalloc"}


def peak_sites(capture, name):
    """({site: live bytes at the peak}, {site: heap bytes of those}, peak, sample rate) of a
    capture: `transform csv` folded by innermost frame; None if it cannot be read."""
    st = run_cmd([MEMTIDE, "stats", "--json", capture], name + ".stats")
    r = run_cmd([MEMTIDE, "transform", "csv", "-o", "-", capture], name + ".csv")
    if not (st.ok and r.ok):
        return None
    with open(st.stdout_path) as f:
        d = json.load(f)
    sites, heap = {}, {}
    with open(r.stdout_path, newline="") as f:
        for rec in csv.DictReader(f):
            site = rec["stack_trace"].split("|")[0]
            sites[site] = sites.get(site, 0) + int(rec["size"])
            if rec["allocator"] in HEAP_KINDS:
                heap[site] = heap.get(site, 0) + int(rec["size"])
    return sites, heap, int(d["peak_bytes"]), int(d.get("sample_rate", 0))


def pct(got, exact):
    return 100.0 * (got - exact) / exact if exact else 0.0


def sampling_row(wl, notes):
    """The sampled capture of wl against the full one, or None when one is missing."""
    full, smp = LAST_CAPTURE.get((wl, "memtide")), LAST_CAPTURE.get((wl, "memtide_sample"))
    if not (full and smp):
        return None
    a, b = peak_sites(full, "%s.full_sites" % wl), peak_sites(smp, "%s.sample_sites" % wl)
    if a is None or b is None:
        notes.append("%s: sampled vs full: a report failed (see logs/%s.*_sites.*)" % (wl, wl))
        return None
    (fs, fheap, fpeak, _), (ss, _, speak, rate) = a, b
    size_pct = 100.0 * os.path.getsize(smp) / os.path.getsize(full)
    heap_total = sum(fheap.values())
    sd = lambda heap: 100.0 * (rate * heap) ** 0.5
    peak_err = pct(speak, fpeak)
    top = sorted(fs, key=lambda k: -fs[k])[:5]
    errs = [(k, pct(ss.get(k, 0), fs[k]), sd(fheap.get(k, 0)) / fs[k] if fs[k] else 0)
            for k in top]
    t = SAMPLE_TARGETS
    judged = wl in t["workloads"]
    verdict = lambda ok: (" ok" if ok else " MISS") if judged else ""
    name = lambda k: "%s:%s" % (k.split(";")[0][:20], k.split(";")[-1])
    site_txt = "; ".join("%s %+.1f%% (sd %.1f%%)" % (name(k), e, s) for k, e, s in errs)
    cpu = lambda tool: ("%.2f" % statistics.median(CPU_RATIOS[(wl, tool)])
                        if CPU_RATIOS.get((wl, tool)) else "n/a")
    worst = max((abs(e) for _, e, _ in errs), default=0.0)
    return dict(workload=wl, rate=SAMPLE_RATE, cpu="%s (full: %s)" % (cpu("memtide_sample"),
                                                                        cpu("memtide")),
                size="%.2f%%%s" % (size_pct, verdict(size_pct <= t["size_pct"])),
                peak="%+.1f%% (sd %.1f%%)%s" % (peak_err, sd(heap_total) / fpeak if fpeak else 0,
                                                verdict(abs(peak_err) <= t["error_pct"])),
                sites="%s%s" % (site_txt, verdict(worst <= t["error_pct"])))


SAMPLE_COLS = [("workload", "workload"), ("rate", "--sample-rate"),
               ("cpu", "CPU time x baseline"),
               ("size", "capture vs full (<= 2%)"), ("peak", "peak vs full (+-5%)"),
               ("sites", "top-5 sites at the peak vs full (+-5%)")]


def bench_reporter(label, cmd, name, events, target=""):
    walls, rss = [], []
    for i in range(REPORT_REPS):
        r = run_cmd(cmd, "%s.%d" % (name, i))
        if not r.ok:
            return row("report", label, wall="FAILED (%s)" % r.why(), ratio="-", rss="FAILED",
                       cap="-", ev=fmt_int(events), bpe="-", peak="-", target=target)
        walls.append(r.wall)
        rss.append(r.rss_kb)
    return row("report", label, wall=fmt_wall(walls), ratio="-", rss=fmt_mib(rss), cap="-",
               ev=fmt_int(events), bpe="-", peak="-", target=target)


def stats_target(events, wall_row, like_for_like_native):
    """Issue 2: stats at least 5x faster than memray's, scaled per event: 14.88 s on 34.2M
    allocations (largest capture), 1.91 s on 5.35M (native churn, like for like)."""
    if not isinstance(events, int):
        return ""
    if like_for_like_native:
        rate, ref = 1.91 / 5349862, "memray 1.91 s on 5.35M ev"
    else:
        rate, ref = 14.88 / 34171677, "memray 14.88 s on 34.2M ev"
    limit = rate * events / 5
    verdict = ""
    m = re.match(r"([\d.]+) ", wall_row)
    if m:
        verdict = " ok" if float(m.group(1)) <= limit else " MISS"
    return "<=%.3f s%s (1/5 of %s, pro rata)" % (limit, verdict, ref)


def bench_reporters(rows):
    mt = sorted(CAPTURES.get("memtide", []), reverse=True)
    ht = sorted(CAPTURES.get("heaptrack", []), reverse=True)
    picks = []
    if mt:
        picks.append(("memtide stats", mt[0]))
        nc = [c for c in mt if c[1] == "native_churn"]
        if nc and nc[0] is not mt[0]:
            picks.append(("memtide stats", nc[0]))
    else:
        rows.append(row("report", "memtide stats (largest capture)"))
    for label, (size, wl, path, ev) in picks:
        r = bench_reporter("%s (%s, %s)" % (label, os.path.basename(path), fmt_bytes_human(size)),
                           [MEMTIDE, "stats", path], "report.memtide_stats.%s" % wl, ev)
        r["target"] = stats_target(ev, r["wall"], wl == "native_churn")
        rows.append(r)
    # the other reports (issue 3) on the largest capture
    if mt:
        size, wl, path, ev = mt[0]
        html = os.path.join(OUT, "flamegraph.html")
        for name, args in (("tree", ["tree", path]), ("summary", ["summary", path]),
                           ("flamegraph", ["flamegraph", "-f", "-o", html, path]),
                           ("flamegraph --temporal",
                            ["flamegraph", "--temporal", "-f", "-o", html, path])):
            rows.append(bench_reporter("memtide %s (%s, %s)" % (
                name, os.path.basename(path), fmt_bytes_human(size)), [MEMTIDE] + args,
                "report.memtide_%s.%s" % (name.replace(" --", "_"), wl), ev))
    if ht and HEAPTRACK_PRINT:
        picks = [ht[0]]
        nc = [c for c in ht if c[1] == "native_churn"]
        if nc and nc[0] is not ht[0]:
            picks.append(nc[0])
        for size, wl, path, ev in picks:
            rows.append(bench_reporter("heaptrack_print (%s, %s)" % (os.path.basename(path),
                                                                     fmt_bytes_human(size)),
                                       [HEAPTRACK_PRINT, path], "report.heaptrack_print.%s" % wl, ev))
    else:
        rows.append(row("report", "heaptrack_print (largest capture)"))


def bench_startup(rows):
    empty = os.path.join(OUT, "empty.py")
    with open(empty, "w") as f:
        f.write("")
    if not os.access(PYTHON, os.X_OK):
        rows.append(row("startup", "python3 empty.py", scale="-"))
        return
    configs = [("memtide run empty.py",
                [MEMTIDE, "run", "-q", "-f", "--python", PYTHON, "-o", os.path.join(CAP, "empty.tide"),
                 empty]
                if os.access(MEMTIDE, os.X_OK) else None),
               ("heaptrack empty.py",
                [HEAPTRACK, "-o", os.path.join(CAP, "empty.heaptrack"), PYTHON, empty]
                if HEAPTRACK else None)]
    base_walls, base_rss = [], []
    results = []
    for label, cmd in configs:
        if cmd is None:
            results.append(row("startup", label, scale="-"))
            continue
        walls, rss, diffs, ratios = [], [], [], []
        failed = None
        for i in range(STARTUP_REPS):
            a = run_cmd(cmd, "startup.%s.%d" % (label.split()[0], i))
            b = run_cmd([PYTHON, empty], "startup.%s.%d.base" % (label.split()[0], i))
            if not a.ok:
                failed = a.why()
                break
            walls.append(a.wall)
            rss.append(a.rss_kb)
            if b.ok:
                base_walls.append(b.wall)
                base_rss.append(b.rss_kb)
                diffs.append(a.wall - b.wall)
                ratios.append(a.wall / b.wall)
        if failed:
            results.append(row("startup", label, wall="FAILED (%s)" % failed, ratio="FAILED",
                               scale="-"))
            continue
        tgt = "near zero (memray +0.305 s: 0.317 vs 0.012 s)" if label.startswith("memtide") else ""
        results.append(row("startup", label, wall=fmt_wall(walls),
                           ratio="%.2f (+%.3f s)" % (statistics.median(ratios),
                                                     statistics.median(diffs)),
                           rss=fmt_mib(rss), cap="-", ev="-", bpe="-", peak="-", target=tgt,
                           scale="-"))
    rows.append(row("startup", "python3 empty.py", wall=fmt_wall(base_walls), ratio="-",
                    rss=fmt_mib(base_rss), cap="-", ev="-", bpe="-", peak="-", scale="-"))
    rows.extend(results)


# ---------------------------------------------------------------- build + main

def build_native(notes):
    os.makedirs(BIN, exist_ok=True)
    src = os.path.join(WORKLOADS, "native_churn.c")
    if not CC or not os.path.exists(src):
        notes.append("native workloads: no C compiler or no %s -> n/a" % src)
        return
    flags = ["-O2", "-g", "-fno-omit-frame-pointer"]
    r1 = run_cmd([CC] + flags + ["-o", os.path.join(BIN, "native_churn"), src], "build.native_churn")
    r2 = run_cmd([CC] + flags + ["-fPIC", "-shared", "-Dmain=native_churn_main", "-o",
                                 os.path.join(BIN, "libnative_churn.so"), src],
                 "build.libnative_churn")
    for r, what in ((r1, "native_churn"), (r2, "libnative_churn.so")):
        if not r.ok:
            notes.append("build of %s FAILED (%s), see logs/build.*" % (what, r.why()))


def build_fingerprint():
    """sha256 of memtide's binary and library, to notice a rebuild during the run."""
    import hashlib
    h = hashlib.sha256()
    prefix = os.path.dirname(os.path.dirname(MEMTIDE_ORIG))
    for p in (MEMTIDE_ORIG, os.path.join(prefix, "lib", "libmemtide.so")):
        try:
            with open(p, "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(b"-")
    return h.hexdigest()[:12]


def snapshot_build(notes):
    """Run a frozen copy of build/ (bin, lib, python: memtide finds its library relative to
    /proc/self/exe), so the other engineer's rebuilds during the bench don't mix builds."""
    global MEMTIDE
    if not SNAPSHOT or not os.access(MEMTIDE_ORIG, os.X_OK):
        return
    prefix = os.path.dirname(os.path.dirname(MEMTIDE_ORIG))
    dst = os.path.join(OUT, "memtide-build")
    shutil.rmtree(dst, ignore_errors=True)
    try:
        for sub in ("bin", "lib", "python"):
            if os.path.isdir(os.path.join(prefix, sub)):
                shutil.copytree(os.path.join(prefix, sub), os.path.join(dst, sub), symlinks=True)
        MEMTIDE = os.path.join(dst, "bin", os.path.basename(MEMTIDE_ORIG))
    except OSError as ex:
        notes.append("could not snapshot %s (%s); running it in place" % (prefix, ex))


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        return p.stdout.decode(errors="replace").strip().splitlines()[0] if p.stdout else "?"
    except Exception:
        return "n/a"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def git_rev():
    try:
        p = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        rev = p.stdout.decode().strip() or "no commit"
        p = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src", "include",
                            "python", "Makefile"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10)
        return rev + (" (+uncommitted changes)" if p.stdout.strip() else "")
    except Exception:
        return "?"


COLS = [("workload", "workload"), ("tool", "tool"), ("scale", "SCALE"),
        ("wall", "wall median s (min-max)"), ("ratio", "x baseline"), ("rss", "peak RSS MiB"),
        ("cap", "capture bytes"), ("ev", "events"), ("bpe", "bytes/event"),
        ("peak", "tool-reported peak"), ("target", "target (issue 2)")]


def table(lines, cols, rows):
    lines.append("")
    lines.append("| " + " | ".join(c[1] for c in cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]) if r[k] != "" else "" for k, _ in cols) + " |")


def render(rows, header, notes, sample_rows=()):
    lines = list(header)
    table(lines, COLS, rows)
    if sample_rows:
        lines.append("")
        lines.append("Sampled (memtide_sample) against full (memtide) captures of the same "
                     "workload; sd: the standard error the sampling allows:")
        table(lines, SAMPLE_COLS, sample_rows)
    if notes:
        lines.append("")
        lines.append("Notes:")
        for n in notes:
            lines.append("* " + n)
    return "\n".join(lines) + "\n"


def main():
    global runs_tsv
    for d in (OUT, LOGS, CAP, BIN):
        os.makedirs(d, exist_ok=True)
    runs_tsv = open(os.path.join(OUT, "runs.tsv"), "w")
    runs_tsv.write("name\twall_s\tmaxrss_kb\trc\ttimed_out\tuser_s\tsys_s\tcmd\n")
    t_start = time.time()
    load_start = loadavg()
    notes = []
    build_native(notes)
    fp_start = build_fingerprint()
    rev_start = git_rev()
    snapshot_build(notes)
    workloads = [w for w in ALL_WORKLOADS if not ONLY or w in ONLY]
    rows, sample_rows = [], []
    for wl in workloads:
        base = target_cmd(wl)
        log("== %s" % wl)
        if base is None:
            rows.append(row(wl, "baseline"))
            for tool in TOOLS:
                if tool == "tracemalloc1" and wl == "native_churn":
                    continue
                if tool == "memtide_native" and not want_native(wl):
                    continue
                rows.append(row(wl, tool, target=target_text(wl, tool, None, None)))
            continue
        brow, ref_out = bench_baseline(wl, base)
        rows.append(brow)
        for tool in TOOLS:
            if tool == "memtide_native" and not want_native(wl):
                continue
            r = bench_tool(wl, tool, base, ref_out, notes)
            if r is not None:
                rows.append(r)
        srow = sampling_row(wl, notes)
        if srow:
            sample_rows.append(srow)
    if REPORT_REPS > 0:
        log("== reporters")
        bench_reporters(rows)
    if STARTUP_REPS > 0:
        log("== startup")
        bench_startup(rows)
    elapsed = time.time() - t_start
    if os.access(MEMTIDE_ORIG, os.X_OK) and build_fingerprint() != fp_start:
        notes.append("%s was rebuilt during the run; %s" % (
            MEMTIDE_ORIG, "the bench ran the snapshot taken at the start (build %s, tree %s)"
            % (fp_start, rev_start) if MEMTIDE != MEMTIDE_ORIG else "figures mix builds"))
    header = [
        "## memtide bench (%s)" % datetime.datetime.fromtimestamp(t_start).strftime(
            "%Y-%m-%d %H:%M"),
        "",
        "SCALE=%s REPS=%s, runs alternated with the baseline; x baseline = median of paired ratios; "
        "peak RSS = largest process (median of runs); capture bytes/events from the last run. "
        "Took %.0f s. Load average at start %s, at end %s." % (SCALE, REPS, elapsed, load_start,
                                                                loadavg()),
        "",
        "memtide: %s (%s, build %s, tree %s%s); heaptrack: %s; python: %s (%s); host: %s, %d cpus." % (
            MEMTIDE_ORIG if os.access(MEMTIDE, os.X_OK) else "n/a (not built)",
            tool_version([MEMTIDE, "--version"]) if os.access(MEMTIDE, os.X_OK) else "-",
            fp_start, rev_start, ", run from a snapshot copy" if MEMTIDE != MEMTIDE_ORIG else "",
            tool_version([HEAPTRACK, "--version"]) if HEAPTRACK else "n/a",
            PYTHON, platform.python_version() if PYTHON == sys.executable else
            tool_version([PYTHON, "--version"]), platform.node(), os.cpu_count() or 0),
    ]
    if BUSY:
        notes.append("machine busy? baseline runs waiting for a CPU (their pairs' ratios are "
                     "suspect): " + "; ".join(BUSY))
    if SCALE != "1":
        notes.append("targets and anchors are for SCALE=1; at SCALE=%s the ok/MISS verdicts are "
                     "only indicative" % SCALE)
    md = render(rows, header, notes, sample_rows)
    with open(os.path.join(OUT, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(OUT, "results.tsv"), "w") as f:
        f.write("\t".join(k for k, _ in COLS) + "\n")
        for r in rows:
            f.write("\t".join(str(r[k]) for k, _ in COLS) + "\n")
    runs_tsv.close()
    sys.stdout.write(md)


def want_native(wl):
    if NATIVE == "all":
        return wl in PY_WORKLOADS
    if NATIVE == "bart":
        return wl == "py_mixed_bart"
    return False


if __name__ == "__main__":
    main()
