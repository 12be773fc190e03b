#!/usr/bin/env python3
"""bench/census.py - how long memtide.census() takes on a big heap.

For each size, a fresh interpreter builds a heap of that many objects (on
top of its own ~15,000): records made of an instance of a class, an int,
a str and a float (and, before 3.11, the instance's dict), then times,
best of --runs:
  gc.get_objects()     the list of tracked objects the census starts from
  gc.collect()         the full collection a census runs first
  census(collect=False)  the walk alone: every object counted and sized
  census()             what a user calls: the collection, then the walk
and checks that the census counted every object it was given.

usage: bench/census.py [--objects 1000000 10000000] [--runs 3]
                       [--python /usr/bin/python3]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "..", "build", "python")

CHILD = r"""
import gc, json, sys, time
import memtide

class Rec:
    def __init__(self, i):
        self.n = i + 1000
        self.s = "s%d" % i
        self.f = i * 0.5

def best(f):
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        r = f()
        t.append(time.perf_counter() - s)
        del r
    return min(t)


n, runs = int(sys.argv[1]), int(sys.argv[2])
per = 4 + (sys.version_info < (3, 11))      # Rec, int, str, float (and dict)
recs = None
before = memtide.census().total_count
recs = [Rec(i) for i in range(n // per)]
out = {"python": sys.version.split()[0], "objects": memtide.census().total_count,
       "made": len(recs) * per + 2, "before": before,    # + the list, + the int before
       "get_objects": best(gc.get_objects), "collect": best(gc.collect),
       "walk": best(lambda: memtide.census(collect=False)),
       "census": best(memtide.census)}
print(json.dumps(out))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, nargs="+", default=[1000000, 10000000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.path.abspath(PKG))
    print("%-8s %11s %11s %9s %9s %9s %9s" % ("python", "objects", "counted", "get_obj",
                                            "collect", "walk", "census"))
    for n in args.objects:
        p = subprocess.run([args.python, "-c", CHILD, str(n), str(args.runs)], env=env,
                           capture_output=True, text=True)
        if p.returncode:
            sys.exit("census.py: the child failed:\n" + p.stderr[-2000:])
        r = json.loads(p.stdout)
        if r["objects"] != r["made"] + r["before"]:
            sys.exit("census.py: counted %d objects, expected %d" % (
                r["objects"], r["made"] + r["before"]))
        print("%-8s %11d %11d %8.3fs %8.3fs %8.3fs %8.3fs" % (
            r["python"], n, r["objects"], r["get_objects"], r["collect"], r["walk"],
            r["census"]))


if __name__ == "__main__":
    main()
