"""Runs a workload script inside memtide.Tracker (no LD_PRELOAD), for the
bench: tracker_run.py [--trace-python-allocators | --profile] CAPTURE SCRIPT.
--profile runs the script in a function decorated with @memtide.profile
(the Tracker plus its `memtide lines` table at the end, thrown away).
The package is found beside the memtide binary's build (MEMTIDE_PYTHONPATH)."""
import os
import runpy
import sys

args = sys.argv[1:]
mode = args[0] if args and args[0].startswith("--") else None
if mode:
    args = args[1:]
capture, script = args[0], args[1]
sys.path.insert(0, os.environ["MEMTIDE_PYTHONPATH"])
import memtide  # noqa: E402

sys.argv = [script]
if mode == "--profile":
    @memtide.profile(keep=capture, stream=open(os.devnull, "w"))
    def workload():
        runpy.run_path(script, run_name="__main__")
    workload()
else:
    with memtide.Tracker(capture, trace_python_allocators=mode == "--trace-python-allocators"):
        runpy.run_path(script, run_name="__main__")
