#!/usr/bin/env python3
"""stack-usage.py — the stack high-water mark of a function, from GCC's
call-graph files (-fcallgraph-info=su writes FILE.ci beside each object).

    scripts/stack-usage.py ENTRY FILE.ci...

Prints "ENTRY: N bytes (DEEPEST CHAIN)": the largest sum of frame sizes
along a call chain from ENTRY, over the files given (the generated model
and libnnrt_core's gemm.c, gemm_dispatch.c). An indirect call counts as a call to
the largest chain of what it can reach: from an nnrt_* entry point of
gemm_dispatch.c, gemm.c's table (sgemm_ws_ep, dgemm_ep); from gemm.c, any
kernel epilogue kID_..._ep (the functions the generated code hands to
nnrt_sgemm_ws_ep). Compile the model with
-fno-ipa-icf, so that GCC merges no two kernels into one. A frame GCC reports as dynamic
and unbounded, recursion, or a missing callee other than memcpy, memset,
memmove, a libgcc helper (__aeabi_*: soft double arithmetic on a
single-precision FPU) or a libm function of the model's ops (sqrtf, expf,
logf, tanhf, powf, erff: leaf routines with frames of a few words, counted
as 0) is an error (exit 1): the mark would not be a bound.
"""
import re
import sys

LEAF = {"memcpy", "memset", "memmove"}


def read(paths):
    frames, edges = {}, {}
    for p in paths:
        for line in open(p, encoding="utf-8"):
            m = re.match(r'node: \{ title: "([^"]*)" label: "[^"]*\\n[^"]*\\n(\d+) bytes \(([^)]*)\)', line)
            if m:
                if "unbounded" in m.group(3):
                    sys.exit(f"stack-usage: {m.group(1)}: an unbounded dynamic frame")
                frames[m.group(1).split(":")[-1]] = int(m.group(2))
            m = re.match(r'edge: \{ sourcename: "([^"]*)" targetname: "([^"]*)"', line)
            if m:
                edges.setdefault(m.group(1).split(":")[-1], []).append(m.group(2).split(":")[-1])
    return frames, edges


def indirect(caller, frames):
    """what an indirect call from caller may reach"""
    if caller.startswith("nnrt_"):
        return [f for f in ("sgemm_ws_ep", "dgemm_ep") if f in frames]
    return [f for f in frames if re.fullmatch(r"k\d+_\w*_ep", f)]


def deepest(fn, frames, edges, stack, memo, caller=""):
    if fn == "__indirect_call":
        best = (0, ["(nothing)"])
        for f in indirect(caller, frames):
            best = max(best, deepest(f, frames, edges, stack, memo))
        return best
    if fn in memo:
        return memo[fn]
    if fn in stack:
        sys.exit(f"stack-usage: recursion through {fn}")
    if fn in LEAF or fn.startswith("__aeabi_") or re.fullmatch(r"(sqrt|exp|log|tanh|pow|erf)f?", fn):
        return 0, [fn]
    if fn not in frames:
        sys.exit(f"stack-usage: no frame size for {fn} (compile it with -fcallgraph-info=su)")
    stack.add(fn)
    sub = max((deepest(c, frames, edges, stack, memo, fn) for c in edges.get(fn, [])), default=(0, []))
    stack.discard(fn)
    memo[fn] = (frames[fn] + sub[0], [fn] + sub[1])
    return memo[fn]


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: stack-usage.py ENTRY FILE.ci...")
    frames, edges = read(sys.argv[2:])
    total, chain = deepest(sys.argv[1], frames, edges, set(), {})
    print(f"{sys.argv[1]}: {total} bytes ({' > '.join(chain)})")


main()
