"""Measuring a piece of work in this process: a Tracker into a temporary
capture, wall and CPU time, RSS before and after, then the capture's
figures from the memtide command.  Also sizes: parsing "24 MB" / "1.5 GiB"
and printing bytes in binary units.  Shared by the IPython magics and the
pytest plugin.
"""
import os
import re
import tempfile
import time
from decimal import Decimal

from . import Tracker, _cli

MiB = 1024.0 * 1024.0

# Decimal units are powers of 1000, binary ones powers of 1024, as their
# names say (IEC 80000-13); the unit is case-insensitive.
_UNITS = {"b": 1, "": 1}
for _i, _p in enumerate("kmgtp", start=1):
    _UNITS[_p + "b"] = 1000 ** _i
    _UNITS[_p + "ib"] = 1024 ** _i
_SIZE_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)\s*", re.I)


def parse_size(text):
    """The number of bytes in a size: an int, or a string such as '512',
    '10 MB' (10,000,000), '10 MiB' (10,485,760), '1.5 GiB', '64kb'.
    Raises ValueError saying what is accepted."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    m = _SIZE_RE.fullmatch(str(text)) if isinstance(text, str) else None
    unit = m and m.group(2).lower()
    if not m or unit not in _UNITS:
        raise ValueError("not a size: %r (write a number of bytes, or a number and a unit: "
                         "B, KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB powers "
                         "of 1024; e.g. '24 MiB', '1.5 GB')" % (text,))
    return int(Decimal(m.group(1)) * _UNITS[unit])


def format_size(n, decimal=False):
    """'512 B', '1.50 KiB', '38.10 MiB'; in KB/MB/GB (powers of 1000) with
    decimal=True, e.g. to compare with a limit given in those units."""
    base, names = (1000, ("B", "KB", "MB", "GB", "TB")) if decimal else \
        (1024, ("B", "KiB", "MiB", "GiB", "TiB"))
    if abs(n) < base:
        return "%d B" % n
    value = float(n)
    for name in names[1:]:
        value /= base
        if abs(value) < base or name == names[-1]:
            return "%.2f %s" % (value, name)


def short_path(path):
    """A file name as reports show it: relative to the working directory
    when it is inside it, else as it is."""
    if not path or not os.path.isabs(path):
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith(os.pardir) else rel


def size_label(text):
    """A size as the user wrote it, tidied: '24mb' -> '24 MB', 1024 -> '1024 B'."""
    m = _SIZE_RE.fullmatch(str(text))
    unit = m.group(2).lower() if m else ""
    if not m or not unit or unit == "b":
        return "%d B" % parse_size(text)
    return "%s %s" % (m.group(1), unit[0].upper() + ("iB" if unit.endswith("ib") else "B"))


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
