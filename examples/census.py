"""What fills the heap, by type and by line (see memtide.census()).

Run it with the Python package:  PYTHONPATH=build/python python3 examples/census.py
"""
import numpy as np

import memtide


class Node:
    def __init__(self, i):
        self.i = i


def grow():
    return [Node(1000 + i) for i in range(50000)]


before = memtide.census()
nodes = [Node(1000 + i) for i in range(100000)]
arrays = [np.ones(10 * 2**20) for _ in range(3)]        # 80 MiB each
names = ["%08d" % i * 125 for i in range(1000)]         # 1 MB of strings
print(memtide.census().top(5), end="\n\n")
print(memtide.census() - before, end="\n\n")             # what the lines above made
print(memtide.census().by_type["Node"], end="\n\n")

# by the line that allocated them: Python's allocators traced
with memtide.Tracker("census.tide", trace_python_allocators=True):
    start = memtide.census(by=("type", "site"))
    more = grow()
    print((memtide.census(by=("type", "site")) - start).top(2))
