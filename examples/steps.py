"""A pipeline in steps, each with known memory use (see `memtide steps`).

Run it tracked with the Python package:  PYTHONPATH=build/python python3 examples/steps.py
"""
import numpy as np

import memtide


def load():
    return [np.ones(1_000_000) for _ in range(10)]       # 10 x 8 MB kept


def transform(parts):
    big = np.concatenate(parts)                           # an 80 MB temporary
    return float(big.sum())


def save(parts):
    del parts[5:]                                         # half freed
    return len(parts)


with memtide.Tracker("steps.tide"):
    with memtide.step("load", expect="80 MB"):
        parts = load()
    with memtide.step("transform", expect="8 MB"):      # forgets the temporary
        total = transform(parts)
    with memtide.step("save"):
        kept = save(parts)
print("total", total, "kept", kept)
