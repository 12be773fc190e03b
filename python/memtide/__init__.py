"""memtide: a memory profiler for Python and native programs.

    with memtide.Tracker("out.tide"):
        run_pipeline()

records every allocation made inside the block (C extensions such as
numpy included) into a capture that every `memtide` report reads:
`memtide stats out.tide`, `memtide tree`, `memtide flamegraph`...

    memtide.step("load halos")          # starts a step (ends the last one)
    with memtide.step("fit"): ...        # a step that ends with the block

marks pipeline steps for `memtide steps out.tide`.  They work under a
Tracker and under `memtide run` alike.

    memtide.census()                     # live objects by type, like guppy
    memtide.census() - before            # what grew since `before`

counts and sizes the live Python objects (see memtide._census).
"""
import os

from . import _cli
from ._census import Census, census

__all__ = ["Census", "Tracker", "census", "step", "tracking"]
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
    (<stem>.<pid>.tide).  Only one tracker can run at a time.
    """

    def __init__(self, path, native=False, trace_python_allocators=False,
                 follow_fork=False, force=True):
        self.path = os.fspath(path)
        self.native = bool(native)
        self.trace_python_allocators = bool(trace_python_allocators)
        self.follow_fork = bool(follow_fork)
        self.force = force

    def start(self):
        if not self.force and os.path.exists(self.path):
            raise FileExistsError(f"'{self.path}' already exists (force=True replaces it)")
        _ext().start(self.path, _cli.library(), native=self.native,
                     trace_python_allocators=self.trace_python_allocators,
                     follow_fork=self.follow_fork)
        return self

    def stop(self):
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
    """

    def __init__(self, name):
        self.name = str(name)
        _ext().step(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _ext().step(None)
        return False


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
