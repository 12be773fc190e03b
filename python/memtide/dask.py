"""memtide for Dask: a capture per worker, a step per task.

    from memtide.dask import MemtidePlugin, collect

    client.register_worker_plugin(MemtidePlugin("/scratch/run1"))
    # (client.register_plugin(...) on Dask releases that have it)
    ... the computation ...
    collect(client, "captures")          # every worker's capture, here
    # $ memtide stats captures           # per worker, combined, top tasks

MemtidePlugin starts a memtide.Tracker in every worker, workers that
join later included, writing DIRECTORY/worker-<host>-<pid>.tide on the
worker's machine.  All its captures carry one session id, so
`memtide stats DIR` takes them as one job.  Each task is a step named by
its key's prefix ("random_sample", "sum-aggregate"...): `memtide steps`
shows the tasks of one worker, `memtide stats DIR` the top tasks of all.

Steps belong to a process, tasks to a worker's threads: with one thread
per worker (threads_per_worker=1, or dask worker --nthreads 1) a step is
exactly one task.  With more threads, tasks overlap: the step is the task
started last among those still running, and a step's figures include
what the overlapping tasks allocated meanwhile.

collect() stops the trackers and copies their captures through the
workers (they may be on other machines) into one local directory.
Workers need the memtide package, as they need any module the client
sends them.
"""
import os
import re
import secrets
import socket

from distributed import WorkerPlugin
from dask.utils import key_split

from . import Tracker, _ext

__all__ = ["MemtidePlugin", "collect"]

CHUNK_BYTES = 32 << 20  # collect() moves captures in pieces of this size


class MemtidePlugin(WorkerPlugin):
    """A worker plugin that records each worker's allocations.

    directory: where each worker writes its capture, on the worker's own
    machine (created if missing; relative to the worker's working
    directory).  native, trace_python_allocators: as for memtide.Tracker.
    session: the id written into every capture (default: "dask-" and 16
    random hex digits, made once here, so workers share it).
    """

    name = "memtide"    # the name Dask registers it under by default

    def __init__(self, directory, native=False, trace_python_allocators=False,
                 session=None):
        self.directory = os.fspath(directory)
        self.native = bool(native)
        self.trace_python_allocators = bool(trace_python_allocators)
        self.session = session or "dask-" + secrets.token_hex(8)
        self._reset()

    def _reset(self):
        self.path = None        # this worker's capture, once set up
        self._tracker = None
        self._running = {}      # running task key -> its step name, oldest first
        self._current = None    # the key whose step is open

    def __getstate__(self):     # what goes to the workers: the settings only
        return {"directory": self.directory, "native": self.native,
                "trace_python_allocators": self.trace_python_allocators,
                "session": self.session}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    def setup(self, worker):
        directory = os.path.abspath(self.directory)
        os.makedirs(directory, exist_ok=True)
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
        path = os.path.join(directory, "worker-%s-%d.tide" % (host, os.getpid()))
        tracker = Tracker(path, native=self.native,
                          trace_python_allocators=self.trace_python_allocators,
                          session=self.session)
        try:
            tracker.start()
        except RuntimeError as e:
            raise RuntimeError(
                "memtide: cannot record worker %s: %s (MemtidePlugin needs one "
                "worker per process, e.g. LocalCluster(processes=True))"
                % (worker.address, e)) from None
        self._tracker, self.path = tracker, path

    def transition(self, key, start, finish, **kwargs):
        if self._tracker is None:
            return
        if finish == "executing":
            self._running[key] = key_split(key)
            self._current = key
            _ext().step(self._running[key])
        elif start in ("executing", "long-running") and finish != "long-running":
            self._running.pop(key, None)
            if key == self._current:
                # the task started last among those still running, if any
                self._current = next(reversed(self._running), None)
                _ext().step(self._running[self._current] if self._current else None)

    def stop(self):
        """Ends this worker's capture; returns its path (None if none)."""
        if self._tracker is not None:
            self._tracker.stop()
            self._tracker = None
        return self.path

    def teardown(self, worker):
        self.stop()


# ---- collect(): run in the workers through client.run ------------------

def _stop_capture(dask_worker):
    """The worker's capture, ended: its path and size (None: none)."""
    for plugin in list(dask_worker.plugins.values()):  # under any name
        path = plugin.stop() if isinstance(plugin, MemtidePlugin) else None
        if path and os.path.exists(path):
            return {"path": path, "size": os.path.getsize(path)}
    return None


def _read_capture(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def collect(client, directory):
    """Stops the trackers of the client's workers and copies every
    worker's capture into directory (created if missing), read through
    the workers, so they may be on other machines.  Returns the local
    paths, one per worker that recorded, sorted.  Tasks that run after
    this are not recorded.  A worker that left the cluster earlier left
    its capture on its machine only."""
    os.makedirs(directory, exist_ok=True)
    found = client.run(_stop_capture)
    paths = []
    for address, cap in sorted(found.items()):
        if cap is None:
            continue
        dest = os.path.join(directory, os.path.basename(cap["path"]))
        part = dest + ".part"   # the source may be this very file
        with open(part, "wb") as f:
            offset = 0
            while offset < cap["size"]:
                data = client.run(_read_capture, cap["path"], offset, CHUNK_BYTES,
                                  workers=[address])[address]
                if not data:
                    break
                f.write(data)
                offset += len(data)
        if offset != cap["size"]:
            os.unlink(part)
            raise RuntimeError("memtide: %s's capture %s ended at %d bytes of %d"
                               % (address, cap["path"], offset, cap["size"]))
        os.replace(part, dest)
        paths.append(dest)
    return sorted(paths)
