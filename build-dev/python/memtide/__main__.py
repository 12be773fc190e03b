"""`python -m memtide ARGS...` and the `memtide` console script: the memtide
command inside the package, exec()ed with the same arguments, so its exit
status and signals are the caller's.  It is told which interpreter this is
(MEMTIDE_PYTHON), for `memtide run script.py` to run scripts with it."""
import os
import sys

from ._cli import binary


def main():
    exe = binary()
    if sys.executable:
        os.environ["MEMTIDE_PYTHON"] = sys.executable
    try:
        os.execv(exe, ["memtide", *sys.argv[1:]])
    except OSError as e:
        sys.exit(f"memtide: cannot run {exe}: {e.strerror}")


if __name__ == "__main__":
    main()
