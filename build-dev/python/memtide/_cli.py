"""Where the memtide command and tracker library are, and running reports.

The package carries both (memtide/bin/memtide, memtide/libmemtide.so);
in the build tree they are also found in build/bin and build/lib.
"""
import os

_here = os.path.dirname(os.path.abspath(__file__))


def _first(*paths):
    for p in paths:
        if os.path.exists(p):
            return p
    return paths[0]


def library():
    return _first(os.path.join(_here, "libmemtide.so"),
                  os.path.join(_here, "..", "..", "lib", "libmemtide.so"))


def binary():
    return os.environ.get("MEMTIDE_BIN") or _first(
        os.path.join(_here, "bin", "memtide"),
        os.path.join(_here, "..", "..", "bin", "memtide"))


def run(*args):
    """Runs `memtide ARGS...` and returns its stdout; raises RuntimeError."""
    import subprocess  # here: the console script imports this module too

    res = subprocess.run([binary(), *map(str, args)], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr.strip() or f"memtide {args[0]} failed")
    return res.stdout


def report(*args):
    """The JSON output of `memtide ARGS... --json`."""
    import json

    return json.loads(run(*args, "--json"))
