#!/usr/bin/python3
"""A stand-in for a model fitted over a matrix of cases and sizes (see
`memtide bench` in the README): memory grows with --trees, and each case
loads data of its own size.

    memtide bench --param case=coal,bikes --param trees=50,100,200 \\
        -- examples/model.py --case {case} --trees {trees}
"""
import argparse

import numpy as np

import memtide

ROWS = {"coal": 200_000, "bikes": 600_000}

parser = argparse.ArgumentParser()
parser.add_argument("--case", choices=sorted(ROWS), required=True)
parser.add_argument("--trees", type=int, required=True)
args = parser.parse_args()

memtide.step("load")
data = np.random.default_rng(0).random((ROWS[args.case], 8))   # rows x 8 float64
memtide.step("fit")
trees = [np.zeros(ROWS[args.case] // 10) for _ in range(args.trees)]
predictions = sum(t.sum() for t in trees) + data.sum()
print(args.case, args.trees, "trees fitted")
