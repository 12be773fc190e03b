"""A small pipeline with known memory use, profiled by `make demo`.

load() keeps 10 arrays of 1,000,000 float64 (80 MB), transform() makes a
64 MB temporary at its peak, summarize() allocates many small objects.
"""
import numpy as np


def load():
    return [np.empty(1_000_000) for _ in range(10)]


def transform(parts):
    big = np.empty((1000, 8000))          # 64,000,000 bytes, freed on return
    big.fill(1.0)
    return [p * 2.0 for p in parts[:2]] + [float(big.sum())]


def summarize(parts):
    return {str(i): [float(x) for x in p[:1000]] for i, p in enumerate(parts[:2])}


parts = load()
result = transform(parts)
summary = summarize(parts)
print("pipeline done:", len(parts), "parts,", len(summary), "summaries")
