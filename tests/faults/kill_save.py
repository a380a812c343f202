#!/usr/bin/env python3
"""kill_save.py — saving survives SIGKILL and concurrent writers.

Usage: kill_save.py TRAINER DATA DIR
  TRAINER  a generated trainer (nnc --main) of a model with a few MB of weights
  DATA     a CSV it trains on
  DIR      a scratch directory
Environment: N (default 20) kills, PAIRS (default N / 5, at least 5)
concurrent pairs: N=100 for the full run gives 20 pairs.

1. Two complete saves with seeds 1 and 2 give the references A and B.
2. N times: a trainer (seed 1) saving over a file that holds B is killed
   with SIGKILL at a random moment of its run (most land in the save,
   the run's last part); the file must then be exactly A or B.
3. PAIRS times: two trainers (seeds 1 and 2) save to one path at once;
   the file must be exactly A or B.
Every file left must also load (the trainer's eval reads it). Temporaries
left by the kills must be hidden files named ".NAME.nnrt-tmp.*", never
W.safetensors itself or W.safetensors.tmp. Prints PASS/FAIL lines.
"""
import os
import random
import signal
import subprocess
import sys
import time


def run(trainer, data, seed, out, wait=True):
    cmd = [trainer, "train", "--data", data, "--epochs", "1", "--steps-per-epoch", "1",
           "--scale", "0.0625", "--seed", str(seed), "--save", out]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit("FAIL faults kill: reference save failed: " + err.decode(errors="replace"))
    return p


def loads(trainer, data, path):
    r = subprocess.run([trainer, "eval", "--data", data, "--scale", "0.0625", "--load", path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def main():
    trainer, data, d = sys.argv[1:4]
    n = int(os.environ.get("N", "20"))
    pairs = int(os.environ.get("PAIRS", str(max(5, n // 5))))
    rng = random.Random(int(os.environ.get("SEED", "12345")))
    a_path, b_path = os.path.join(d, "A.safetensors"), os.path.join(d, "B.safetensors")
    w = os.path.join(d, "W.safetensors")
    t0 = time.monotonic()
    run(trainer, data, 1, a_path)
    run_time = time.monotonic() - t0
    run(trainer, data, 2, b_path)
    a, b = open(a_path, "rb").read(), open(b_path, "rb").read()
    if a == b:
        sys.exit("FAIL faults kill: seeds 1 and 2 saved the same weights")
    failures = 0

    def check(what):
        nonlocal failures
        got = open(w, "rb").read() if os.path.exists(w) else None
        if got not in (a, b) or not loads(trainer, data, w):
            failures += 1
            print("FAIL faults kill: after %s the file is %s" % (what, "missing" if got is None else
                  "%d bytes, neither complete save" % len(got)))

    killed_in = 0
    for k in range(n):
        with open(w, "wb") as f:
            f.write(b)
        p = run(trainer, data, 1, w, wait=False)
        time.sleep(rng.uniform(0.3, 1.1) * run_time)
        if p.poll() is None:
            killed_in += 1
        p.send_signal(signal.SIGKILL)
        p.wait()
        check("kill %d" % (k + 1))
    for k in range(pairs):
        procs = [run(trainer, data, s, w, wait=False) for s in (1, 2)]
        for p in procs:
            p.wait()
        check("concurrent pair %d" % (k + 1))
    names = os.listdir(d)
    stale = [x for x in names if ".nnrt-tmp." in x]
    bad = [x for x in names if x.endswith(".tmp") or (".nnrt-tmp." in x and not x.startswith("."))]
    if bad:
        failures += 1
        print("FAIL faults kill: temporaries with visible names: %s" % bad)
    if failures == 0:
        print("PASS faults kill: %d SIGKILLs (%d during the run, a %.2f s run) and %d concurrent pairs left "
              "every file loadable and equal to one complete save (%d hidden temporaries left by kills)"
              % (n, killed_in, run_time, pairs, len(stale)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
