"""Hardware counters of this process (cycles, instructions, cache
references and misses), read with the perf_event_open system call itself
(no `perf` binary), for `%memtide_watch on --perf`.

The counters follow the thread that opens them and the threads it starts
afterwards (inherit); they count user-space work only, which is what
perf_event_paranoid 2 (Debian's default) allows.  Where the kernel or a
virtual machine refuses them, Counters() raises Unavailable with the
reason.
"""
import ctypes
import errno
import os
import struct

_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
_PERF_TYPE_HARDWARE = 0
# (name, PERF_COUNT_HW_*)
EVENTS = (("cycles", 0), ("instructions", 1), ("cache_references", 2), ("cache_misses", 3))
_FORMAT_TIMES = 1 | 2           # PERF_FORMAT_TOTAL_TIME_ENABLED | _RUNNING
_INHERIT, _EXCLUDE_KERNEL, _EXCLUDE_HV = 1 << 1, 1 << 5, 1 << 6
_PERF_FLAG_FD_CLOEXEC = 8


class Unavailable(Exception):
    """The counters cannot be read here; str() says why."""


class _Attr(ctypes.Structure):      # struct perf_event_attr, PERF_ATTR_SIZE_VER0
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("config", ctypes.c_uint64), ("sample_period", ctypes.c_uint64),
                ("sample_type", ctypes.c_uint64), ("read_format", ctypes.c_uint64),
                ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
                ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64)]


def _paranoid():
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _why(err):
    if err in (errno.EACCES, errno.EPERM):
        return ("not permitted (kernel.perf_event_paranoid is %s; 2 or less allows "
                "counting one's own process, or run with CAP_PERFMON)" % _paranoid())
    if err in (errno.ENOENT, errno.ENODEV, errno.EOPNOTSUPP, errno.EINVAL):
        return "no hardware counters here (a virtual machine without a PMU?)"
    if err == errno.ENOSYS:
        return "the kernel has no perf_event_open"
    return os.strerror(err)


def _open(config):
    machine = os.uname().machine
    if machine not in _NR_PERF_EVENT_OPEN:
        raise Unavailable("perf_event_open is not known on %s" % machine)
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _Attr(type=_PERF_TYPE_HARDWARE, size=ctypes.sizeof(_Attr), config=config,
                 read_format=_FORMAT_TIMES, flags=_INHERIT | _EXCLUDE_KERNEL | _EXCLUDE_HV)
    fd = libc.syscall(_NR_PERF_EVENT_OPEN[machine], ctypes.byref(attr), 0, -1, -1,
                      _PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        raise Unavailable(_why(ctypes.get_errno()))
    return fd


class Counters:
    """Open counters; read() gives {name: count} since they were opened
    (scaled when the kernel had to share the hardware among events),
    None for an event this CPU does not count."""

    def __init__(self):
        self.fds = {}
        try:
            for name, config in EVENTS:
                try:
                    self.fds[name] = _open(config)
                except Unavailable:
                    if name in ("cycles", "instructions"):
                        raise
                    self.fds[name] = None
        except Unavailable:
            self.close()
            raise

    def read(self):
        out = {}
        for name, fd in self.fds.items():
            if fd is None:
                out[name] = None
                continue
            value, enabled, running = struct.unpack("QQQ", os.read(fd, 24))
            out[name] = int(value * enabled / running) if running else 0
        return out

    def close(self):
        for fd in self.fds.values():
            if fd is not None:
                os.close(fd)
        self.fds = {}


def delta(before, after):
    """Counts between two read()s, with ipc (instructions per cycle)."""
    d = {k: (after[k] - before[k]) if after.get(k) is not None and before.get(k) is not None
         else None for k in after}
    d["ipc"] = d["instructions"] / d["cycles"] if d.get("cycles") else None
    return d


def describe(d):
    """'cycles 1.23 G, instructions 2.46 G (IPC 2.00), cache misses 1.2 M of 10.0 M references'."""
    def n(v):
        for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if v >= div:
                return "%.2f %s" % (v / div, unit)
        return "%d" % v
    text = "cycles %s, instructions %s" % (n(d["cycles"]), n(d["instructions"]))
    if d.get("ipc") is not None:
        text += " (IPC %.2f)" % d["ipc"]
    if d.get("cache_misses") is not None and d.get("cache_references") is not None:
        text += ", cache misses %s of %s references" % (n(d["cache_misses"]),
                                                        n(d["cache_references"]))
    return text
