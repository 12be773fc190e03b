"""Measuring a piece of work in this process: a Tracker into a temporary
capture, wall and CPU time, RSS before and after, then the capture's
figures from the memtide command.  Shared by the IPython magics and the
pytest plugin.
"""
import os
import tempfile
import time

from . import Tracker, _cli

MiB = 1024.0 * 1024.0


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_times():
    """Per CPU (busy, total) jiffies from /proc/stat."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out.append((sum(v) - idle, sum(v)))
    return out


def cpu_percent(before, after):
    """(mean over CPUs, busiest CPU) in percent between two _cpu_times()."""
    loads = []
    for (b0, t0), (b1, t1) in zip(before, after):
        loads.append(100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0)
    if not loads:
        return 0.0, 0.0
    return sum(loads) / len(loads), max(loads)


class Measurement:
    """What one measured piece of work did.

    memory_delta: RSS change (MiB); time_delta: wall seconds; memory_peak:
    how far the heap went above its final level (MiB), from memtide's own
    accounting of every allocation, so short peaks are not missed;
    memory_usage: RSS afterwards (MiB); cpu_mean / cpu_max: mean CPU load
    over all CPUs and the busiest CPU (percent); heap_peak: bytes live at
    the peak among what the work allocated; capture: the capture file.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return ("Measurement(memory_delta=%.1f, time_delta=%.2f, memory_peak=%.1f, "
                "memory_usage=%.1f, cpu_mean=%.0f, cpu_max=%.0f)" % (
                    self.memory_delta, self.time_delta, self.memory_peak,
                    self.memory_usage, self.cpu_mean, self.cpu_max))


class Session:
    """Tracks from start() to stop(); stop() returns a Measurement."""

    def __init__(self, path=None, native=False, trace_python_allocators=False):
        if path is None:
            fd, path = tempfile.mkstemp(prefix="memtide-", suffix=".tide")
            os.close(fd)
        self.path = path
        self.tracker = Tracker(path, native=native,
                               trace_python_allocators=trace_python_allocators)

    def start(self):
        self.rss0 = rss_bytes()
        self.cpu0 = _cpu_times()
        self.t0 = time.perf_counter()
        self.tracker.start()
        return self

    def stop(self):
        self.tracker.stop()
        t1 = time.perf_counter()
        cpu_mean, cpu_max = cpu_percent(self.cpu0, _cpu_times())
        rss1 = rss_bytes()
        stats = _cli.report("stats", self.path)
        above = max(0, stats["peak_bytes"] - stats["leaked_bytes"])
        return Measurement(memory_delta=(rss1 - self.rss0) / MiB, time_delta=t1 - self.t0,
                           memory_peak=above / MiB, memory_usage=rss1 / MiB,
                           cpu_mean=cpu_mean, cpu_max=cpu_max, heap_peak=stats["peak_bytes"],
                           rss_before=self.rss0, stats=stats, capture=self.path)
