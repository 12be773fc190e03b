"""@memtide.profile: memory line by line of one function, printed when a
call returns (memory_profiler's @profile, from exact allocation
accounting: `memtide lines` on a capture of the call).

The call runs under a Tracker writing a temporary capture; the table
counts only allocations whose stack passes through the function, so for
a generator or a coroutine, which the tracker follows from the first
resumption to the last, the code that runs between resumptions is not
charged to it.  A call made while a tracker is already recording (an
enclosing profiled call, a recursion, `memtide run`) runs untouched: its
allocations belong to that capture, where `memtide lines --function
NAME` finds them.
"""
import functools
import inspect
import os
import sys
import tempfile

from . import _cli


def profile(func=None, *, stream=None, min=None, native=False, keep=None):
    """Decorator: prints `memtide lines` for func when each call returns
    (or raises: the exception goes on unchanged).

    stream: where the table goes (default sys.stdout); min: leave out lines
    that allocated less (a size, e.g. "1 MiB"); native: record C frames
    too; keep: a path to keep the capture at (default: a temporary file,
    removed after the table is printed)."""
    if func is None:
        return functools.partial(profile, stream=stream, min=min, native=native, keep=keep)
    opts = dict(stream=stream, min=min, native=native, keep=keep)
    code = getattr(func, "__code__", None)
    if code is None:
        raise TypeError("memtide.profile: %r is not a Python function" % (func,))

    if inspect.isasyncgenfunction(func):
        @functools.wraps(func)
        async def agen_wrapper(*args, **kwargs):
            with _Profiled(code, opts):
                async for item in func(*args, **kwargs):
                    yield item
        return agen_wrapper
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def coro_wrapper(*args, **kwargs):
            with _Profiled(code, opts):
                return await func(*args, **kwargs)
        return coro_wrapper
    if inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def gen_wrapper(*args, **kwargs):
            with _Profiled(code, opts):
                return (yield from func(*args, **kwargs))
        return gen_wrapper

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _Profiled(code, opts):
            return func(*args, **kwargs)
    return wrapper


class _Profiled:
    """A tracker around one call, then its table; nothing when a tracker
    is already recording."""

    def __init__(self, code, opts):
        self.code = code
        self.opts = opts
        self.active = False

    def __enter__(self):
        from . import Tracker, tracking

        if tracking():
            return self
        keep = self.opts["keep"]
        if keep:
            self.path = os.fspath(keep)
        else:
            fd, self.path = tempfile.mkstemp(prefix="memtide-profile-", suffix=".tide")
            os.close(fd)
        self.tracker = Tracker(self.path, native=self.opts["native"])
        self.tracker.start()
        self.active = True
        return self

    def __exit__(self, *exc):
        if not self.active:
            return False
        self.tracker.stop()
        try:
            args = ["lines", "--function", self.code.co_name, "--file", self.code.co_filename,
                    "-w", "0"]
            if self.opts["min"] is not None:
                args += ["--min", str(self.opts["min"])]
            try:
                table = _cli.run(*args, self.path)
            except RuntimeError as e:   # nothing allocated in the function
                table = "memtide.profile: %s\n" % str(e).replace("memtide: ", "", 1)
            (self.opts["stream"] or sys.stdout).write(table)
        finally:
            if not self.opts["keep"]:
                os.unlink(self.path)
        return False
