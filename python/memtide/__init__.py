"""memtide: a memory profiler for Python and native programs.

    with memtide.Tracker("out.tide"):
        run_pipeline()

records every allocation made inside the block (C extensions such as
numpy included) into a capture that every `memtide` report reads:
`memtide stats out.tide`, `memtide tree`, `memtide flamegraph`...

    memtide.step("load halos")          # starts a step (ends the last one)
    with memtide.step("fit"): ...        # a step that ends with the block
    memtide.step("load halos", expect="2.5 GB")   # with an estimate

marks pipeline steps for `memtide steps out.tide`.  They work under a
Tracker and under `memtide run` alike.

    @memtide.profile
    def load(): ...

prints the memory of each line of load() when a call returns (see
`memtide lines`).

    memtide.census()                     # live objects by type, like guppy
    memtide.census() - before            # what grew since `before`

counts and sizes the live Python objects (see memtide._census).
"""
import os

from . import _cli
from ._census import Census, census

__all__ = ["Census", "Tracker", "census", "profile", "step", "tracking"]
__version__ = "0.1.0"


def _ext():
    from . import _memtide
    return _memtide


class Tracker:
    """Records the allocations of this process while active.

    path: the capture file to write (an existing one is replaced unless
    force=False).  native: record native (C/C++) frames too.
    trace_python_allocators: also record Python's own allocators
    (pymalloc), i.e. every object, not only the arenas that hold them.
    follow_fork: forked children write captures of their own
    (<stem>.<pid>.tide).  session: an id (up to 63 characters) written
    into the capture, so that `memtide stats DIR` takes the captures of
    several processes marked with it as one job (memtide.dask does
    this).  sample_rate (a size: "512 KiB", or a number of bytes): record
    a heap block of n bytes with probability 1 - exp(-n/sample_rate) only,
    as `memtide run --sample-rate` does; the reports give estimates.
    MEMTIDE_SAMPLE_SEED, when set, seeds the sampling.  aggregate: keep
    per-stack figures instead of every event, in a small capture rewritten
    every second (as `memtide run --aggregate`; not with sample_rate).
    Only one tracker can run at a time.
    """

    def __init__(self, path, native=False, trace_python_allocators=False,
                 follow_fork=False, force=True, session=None, sample_rate=None,
                 aggregate=False):
        self.sample_rate = _sample_rate(sample_rate)
        self.path = os.fspath(path)
        self.native = bool(native)
        self.trace_python_allocators = bool(trace_python_allocators)
        self.follow_fork = bool(follow_fork)
        self.aggregate = bool(aggregate)
        if self.aggregate and self.sample_rate:
            raise ValueError("aggregate and sample_rate: not together (an aggregated "
                             "capture keeps exact figures)")
        self.force = force
        if session is not None and (not isinstance(session, str) or
                                    not 0 < len(session.encode()) < 64):
            raise ValueError("session must be a string of 1 to 63 bytes")
        self.session = session

    def start(self):
        if not self.force and os.path.exists(self.path):
            raise FileExistsError(f"'{self.path}' already exists (force=True replaces it)")
        _ext().start(self.path, _cli.library(), native=self.native,
                     trace_python_allocators=self.trace_python_allocators,
                     follow_fork=self.follow_fork, session=self.session,
                     sample_rate=self.sample_rate, aggregate=self.aggregate)
        return self

    def stop(self):
        _end_counted_step()
        _ext().stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class step:
    """Marks the start of a pipeline step named `name`.

    As a call, the step lasts until the next step() or the end of the
    capture; as a context manager, until the end of the block.  Does
    nothing when no tracker is recording.

    expect (a size: "2.5 GB", "300 MiB", or a number of bytes) or
    expect_bytes (an int) is the estimate of how far the heap will go above
    its level at the step's start; `memtide steps` sets what was measured
    against it.  KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024.

    perf=True also records the step's hardware counters (cycles,
    instructions, cache references and misses of this process, user
    space), which `memtide steps` shows; where the machine has none, one
    line on stderr says why and the step is recorded without them.
    """

    def __init__(self, name, expect=None, expect_bytes=None, perf=False):
        self.name = str(name)
        self.expected_bytes = _expected_bytes(self.name, expect, expect_bytes)
        _end_counted_step()
        _ext().step(self.name, self.expected_bytes)
        if perf and self.name:
            _begin_counted_step(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _end_counted_step()
        _ext().step(None)
        return False


def profile(func=None, **options):
    """Decorator: memory line by line of func, printed when each call
    returns; options: stream, min, native, keep (see memtide._profile)."""
    from ._profile import profile as _profile
    return _profile(func, **options)


# The counters of this process once opened (memtide._perf.Counters), or
# why they are unavailable; the open step(perf=True) and its start counts.
_counters = None
_counted_step = None


def _begin_counted_step(name):
    global _counters, _counted_step
    from . import _perf
    if _counters is None:
        try:
            _counters = _perf.Counters()
        except _perf.Unavailable as e:
            _counters = str(e)
            import sys
            print("memtide: perf counters unavailable: %s" % e, file=sys.stderr)
        else:
            import atexit
            atexit.register(_end_counted_step)  # a last step that runs to the end
    if not isinstance(_counters, str):
        _counted_step = (name, _counters.read())


def _end_counted_step():
    """Records the counters of the open step(perf=True), if any."""
    global _counted_step
    if _counted_step is None:
        return
    from . import _perf
    name, start = _counted_step
    _counted_step = None
    d = _perf.delta(start, _counters.read())
    _ext().step_counters(name, tuple(-1 if d[k] is None else d[k] for k, _ in _perf.EVENTS))


def _sample_rate(rate):
    """Tracker's sample_rate in bytes (0: every allocation); ValueError on a bad one."""
    if rate is None:
        return 0
    from ._measure import parse_size
    value = parse_size(rate)
    if not 1 <= value <= 1 << 30:
        raise ValueError("sample_rate %r: it must be from 1 byte to 1 GiB" % (rate,))
    return value


def _expected_bytes(name, expect, expect_bytes):
    """The estimate of step(), in bytes, or None; ValueError/TypeError on a bad one."""
    if expect is not None and expect_bytes is not None:
        raise TypeError("step() takes expect or expect_bytes, not both")
    if expect_bytes is not None:
        if isinstance(expect_bytes, bool) or not isinstance(expect_bytes, int):
            raise TypeError("expect_bytes must be an int (a number of bytes), not %r"
                            % (expect_bytes,))
        value = expect_bytes
    elif expect is not None:
        from ._measure import parse_size
        value = parse_size(expect)
    else:
        return None
    if not 0 <= value < 2 ** 63:
        raise ValueError("an estimate of %r bytes: it must be from 0 to 2**63 - 1" % (value,))
    if not name:
        raise ValueError("a step with an estimate needs a name")
    return value


def tracking():
    """True when a tracker (or `memtide run`) is recording this process."""
    return _ext().active()


def load_ipython_extension(ipython):
    """`%load_ext memtide` (see memtide.ipython)."""
    from . import ipython as _ipython
    _ipython.load_ipython_extension(ipython)


def unload_ipython_extension(ipython):
    from . import ipython as _ipython
    _ipython.unload_ipython_extension(ipython)
