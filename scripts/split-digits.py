#!/usr/bin/env python3
"""Make examples/data/digits/digits_{train,test}.csv from the UCI digits CSV:
a seeded random 80/20 split (1,437 / 360 rows), each file in the original
row order. Usage: split-digits.py digits.csv OUTDIR"""
import random
import sys

rows = open(sys.argv[1]).read().strip().split("\n")
assert len(rows) == 1797, len(rows)
idx = list(range(len(rows)))
random.Random(20261121).shuffle(idx)
test, train = sorted(idx[:360]), sorted(idx[360:])
for name, part in (("digits_train.csv", train), ("digits_test.csv", test)):
    with open(f"{sys.argv[2]}/{name}", "w") as f:
        f.write("\n".join(rows[i] for i in part) + "\n")
