"""Runs a workload script inside memtide.Tracker (no LD_PRELOAD), for the
bench: tracker_run.py [--trace-python-allocators] CAPTURE SCRIPT.
The package is found beside the memtide binary's build (MEMTIDE_PYTHONPATH)."""
import os
import runpy
import sys

args = sys.argv[1:]
tpa = args and args[0] == "--trace-python-allocators"
if tpa:
    args = args[1:]
capture, script = args[0], args[1]
sys.path.insert(0, os.environ["MEMTIDE_PYTHONPATH"])
import memtide  # noqa: E402

sys.argv = [script]
with memtide.Tracker(capture, trace_python_allocators=tpa):
    runpy.run_path(script, run_name="__main__")
