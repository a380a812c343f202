#!/usr/bin/env python3
"""gpu.py — nnc's CUDA target against PyTorch on the GPU, measured in one run.
See bench/README.md ("make bench-gpu").

    gpu.py [--build DIR] [--only tiny_gpt,gpt2,lenet] [--gpt2-batch N] [--quick]
           [--json FILE] [--dry-run] [--python PY]

For each model: nnc --target cuda, nvcc (warnings as errors) of the model and
bench/gpu_driver.cu; the driver saves nnc's initial weights (P_save), runs three
training steps (eager, CUDA Graph capture, replay) and times P_train_step_dev
on device-resident batches (CUDA events); then PyTorch (this script with
--torch, in its own process) loads those weights, runs the same three steps
on the same batches and is timed the same way. The three losses must agree
within 1e-3 relative (exit status 1 otherwise). TF32 is off on both sides;
everything is float32.

--dry-run needs no GPU: it builds everything (nnc, nvcc), writes the data,
prints the FLOP and byte counts and the plan, and, where this python has
torch, rehearses the PyTorch side on the CPU against nnc's C target
(bench/driver.c, small sizes for gpt2): same weights, same batches, the
first two losses within 1e-3.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
import bench as cpu_bench  # noqa: E402  (the CPU bench: seed, data files, LeNet's FLOPs)

SEED = cpu_bench.SEED
TOL = 1e-3
NVFLAGS = ["-std=c++17", "-O2", "-gencode", "arch=compute_90,code=[sm_90,compute_90]", "-Werror", "all-warnings",
           "-Xcompiler", "-Wall,-Wextra,-Werror"]
# FP32 lanes (FMA units) per SM by compute capability: what a float32 cuBLAS
# product without TF32 runs on. sm_90 (H100, H200): 128.
FP32_LANES = {(7, 0): 64, (8, 0): 64, (8, 6): 128, (8, 9): 128, (9, 0): 128}


class Model:
    def __init__(self, key, title, nn_file, kind, opt, nb, defines=None, rehearse=None):
        self.key, self.title, self.nn_file, self.kind, self.opt, self.nb = key, title, nn_file, kind, opt, nb
        self.defines = defines or {}
        self.rehearse = rehearse or {}  # -D overrides for the CPU rehearsal of --dry-run

    def consts(self, defines):
        """The model's consts: the .nn file's `const X = N` lines, -D overrides applied."""
        with open(os.path.join(HERE, self.nn_file)) as f:
            c = {k: int(v) for k, v in re.findall(r"^const\s+(\w+)\s*=\s*(\d+)", f.read(), re.M)}
        c.update(defines)
        return c


def models(gpt2_batch):
    return [
        Model("tiny_gpt", "tiny_gpt", "tiny_gpt.nn", "gpt", "adamw", 8),
        Model("gpt2", "GPT-2 small", "gpt2_small.nn", "gpt", "adamw", 4, {"B": gpt2_batch},
              {"B": 1, "T": 64, "L": 2}),
        Model("lenet", "LeNet-5", "lenet_sgd.nn", "lenet", "sgd", 16, {"B": 64}),
    ]


# ---- counts -------------------------------------------------------------------

def flops(m, c):
    """Matmul FLOPs of one training step (3x the forward: forward, input
    gradient, weight gradient), and the formula."""
    if m.kind == "gpt":
        B, T, D, L, V = c["B"], c["T"], c["D"], c["L"], c["V"]
        # per token and layer: q, k, v, out projections 4 D^2 and the MLP 8 D^2
        # (2 FLOPs each), scores QK^T and the weighted sum AV over all T
        # positions 2 x 2 T D (both sides compute the full T x T square);
        # the logits 2 D V. The embeddings are gathers: no FLOPs.
        n_mm = 12 * L * D * D + D * V
        total = 6 * n_mm * B * T + 12 * L * T * T * D * B
        return total, (f"6 x N x tokens + 12 x L x T^2 x D x B; N = 12 L D^2 + D V = {n_mm / 1e6:.2f}M matmul weights"
                       f" (embeddings excluded), tokens = B T = {B * T}")
    B = c["B"]
    return 3 * B * cpu_bench.LENET_FWD, (f"3 x B x {cpu_bench.LENET_FWD:,} (forward FLOPs per image: the convolutions"
                                         f" as the matmuls of their im2col, and the dense layers)")


def bytes_moved(m, st):
    """Estimated compulsory device-memory traffic of one training step, from
    nnc's --stats: every activation kept for backward written once and read
    once; every weight read twice (forward, input gradient) and its gradient
    written once; the optimizer reads parameter and gradient (and AdamW's two
    moments) and writes the parameter (and moments)."""
    if "kept" not in st or "params" not in st:
        return None, "n/a (nnc --stats did not print 'kept for backward' and 'params')"
    opt = 7 if m.opt == "adamw" else 3
    b = 2 * st["kept"] + (3 + opt) * st["params"]
    return b, (f"2 x kept for backward ({st['kept'] / 1e9:.3f} GB) + {3 + opt} x parameter bytes "
               f"({st['params'] / 1e9:.3f} GB: read twice, gradient written, {m.opt} {opt} passes)")


def parse_stats(text):
    st = {}
    r = re.search(r"^\s*train\s+arena\s+(\d+) bytes.*?(\d+) kernels", text, re.M)
    if r:
        st["train_arena"], st["kernels"] = int(r.group(1)), int(r.group(2))
    r = re.search(r"kept for backward\s+(\d+) bytes", text)
    if r:
        st["kept"] = int(r.group(1))
    r = re.search(r"^\s*params\s+(\d+) tensors,\s+(\d+) bytes", text, re.M)
    if r:
        st["param_tensors"], st["params"] = int(r.group(1)), int(r.group(2))
    return st


# ---- PyTorch side (runs in its own process: gpu.py --torch SPEC.json) -----------

def torch_main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    dev = torch.device(spec["device"])
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    torch.manual_seed(0)
    c = spec["consts"]

    # The modules of bench/bench.py (its worker defines them inside
    # worker_main, so they cannot be imported), with nnc's parameter names;
    # the causal mask is a buffer here so that .to(device) moves it.
    class LeNet(nn.Module):  # bench/lenet_sgd.nn: c1, c2, f.1, f.3, logits
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 6, 5, padding=2)
            self.c2 = nn.Conv2d(6, 16, 5)
            self.f = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())
            self.logits = nn.Linear(84, 10)

        def forward(self, x):
            c1 = F.max_pool2d(torch.relu(self.c1(x)), 2)
            c2 = F.max_pool2d(torch.relu(self.c2(c1)), 2)
            return self.logits(self.f(c2))

    class GptBlock(nn.Module):  # block gpt_block: a.0 layernorm, a.1 attention, m.0, m.1, m.3
        def __init__(self, D, heads, T):
            super().__init__()
            self.a = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
            self.m = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 4 * D), nn.GELU(approximate="tanh"),
                                   nn.Linear(4 * D, D))
            # True: may not attend
            self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1), persistent=False)

        def forward(self, x):
            n = self.a[0](x)
            a = x + self.a[1](n, n, n, need_weights=False, attn_mask=self.mask)[0]
            return a + self.m(a)

    class Gpt(nn.Module):  # tok, h.0 (positions), h.1.i, h.2, logits
        def __init__(self, T, V, D, L, H):
            super().__init__()
            self.tok = nn.Embedding(V, D)
            self.h = nn.ModuleList([nn.Embedding(T, D), nn.Sequential(*[GptBlock(D, H, T) for _ in range(L)]),
                                    nn.LayerNorm(D)])
            self.logits = nn.Linear(D, V)

        def forward(self, x):
            h = self.tok(x) + self.h[0].weight
            return self.logits(self.h[2](self.h[1](h)))

    if spec["kind"] == "gpt":
        model = Gpt(c["T"], c["V"], c["D"], c["L"], c["H"])
        make_opt = lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01)  # noqa: E731
    else:
        model = LeNet()
        make_opt = lambda p: torch.optim.SGD(p, lr=0.01)  # noqa: E731
    with open(spec["weights"], "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    sd = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: dtype {e['dtype']}"
        b, end = e["data_offsets"]
        sd[name] = torch.from_numpy(np.frombuffer(blob[8 + n + b:8 + n + end], "<f4").reshape(e["shape"]).copy())
    del blob
    model.load_state_dict(sd, strict=True)
    del sd
    model.to(dev)
    opt = make_opt(model.parameters())

    nb = spec["nb"]
    xs, ys = [], []
    for i, io in enumerate(spec["io"]):
        arr = np.fromfile(f"{spec['data']}.io{i}.bin", "<f4" if io["dtype"] == "F32" else "<i4")
        arr = arr.reshape([nb] + io["shape"])
        t = torch.from_numpy(arr.astype(np.float32) if io["dtype"] == "F32" else arr.astype(np.int64)).to(dev)
        (xs if i == 0 else ys).extend(t[b].contiguous() for b in range(nb))

    def step(k):
        x, y = xs[k % nb], ys[k % nb]
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    nck = spec.get("check_steps", 2)
    res = {"torch": torch.__version__, "loss": [float(step(k).item()) for k in range(nck)]}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        res.update(name=p.name, sms=p.multi_processor_count,
                   flags=f"allow_tf32 matmul={torch.backends.cuda.matmul.allow_tf32} "
                         f"cudnn={torch.backends.cudnn.allow_tf32}")
    if spec.get("time"):
        k, t0, w = nck, time.perf_counter(), 0
        while w < 3 or time.perf_counter() - t0 < spec["warm_s"]:
            step(k)
            torch.cuda.synchronize()
            k, w = k + 1, w + 1
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        step(k)
        e1.record()
        e1.synchronize()
        k += 1
        iters = max(1, int(np.ceil(1e3 * spec["min_s"] / max(e0.elapsed_time(e1), 1e-3))))
        reps = []
        for _ in range(spec["reps"]):
            e0.record()
            for _ in range(iters):
                loss = step(k)
                k += 1
            e1.record()
            e1.synchronize()
            reps.append([iters, e0.elapsed_time(e1)])
        res.update(reps=reps, final_loss=float(loss.item()), warmup=[w + 1, time.perf_counter() - t0],
                   max_mem=torch.cuda.max_memory_allocated(dev))
    print("RESULT " + json.dumps(res), flush=True)


# ---- the orchestrator ---------------------------------------------------------------

def run(cmd, what, timeout=1800):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-4000:]}")
    return p.stdout, dt


def write_data(m, c, d, rng):
    """NB batches of the model's input and target, as bench.py makes them:
    windows of tiny Shakespeare (tiny_gpt), random ids (gpt2), MNIST test
    images scaled to [0, 1] (LeNet)."""
    n = c["B"] * m.nb
    if m.kind == "gpt":
        T = c["T"]
        if m.key == "tiny_gpt":
            text = np.fromfile(cpu_bench.SHAKESPEARE, np.uint8)
            ids = np.searchsorted(np.unique(text), text).astype(np.int32)
            assert ids.max() < c["V"]
            starts = rng.integers(0, len(ids) - T - 1, n)
            seq = np.stack([ids[s:s + T + 1] for s in starts])
        else:
            seq = rng.integers(0, c["V"], (n, T + 1), dtype=np.int32)
        x, y = seq[:, :T], seq[:, 1:]
        io = [{"dtype": "I32", "shape": [c["B"], T]}, {"dtype": "I32", "shape": [c["B"], T]}]
    else:
        img = np.fromfile(cpu_bench.MNIST_IMAGES, np.uint8)[16:].reshape(-1, 784).astype(np.float32) / 255.0
        lab = np.fromfile(cpu_bench.MNIST_LABELS, np.uint8)[8:].astype(np.int32)
        sel = rng.choice(len(img), n, replace=False)
        x, y = img[sel], lab[sel]
        io = [{"dtype": "F32", "shape": [c["B"], 1, 28, 28]}, {"dtype": "I32", "shape": [c["B"]]}]
    prefix = os.path.join(d, "data")
    np.ascontiguousarray(x).tofile(prefix + ".io0.bin")
    np.ascontiguousarray(y).tofile(prefix + ".io1.bin")
    return prefix, io


def build_model(m, args, work):
    """nnc (CUDA, with --stats), nvcc of the model, nvcc of the driver; timed."""
    d = os.path.join(work, m.key)
    os.makedirs(d, exist_ok=True)
    prefix = "bm_" + m.key
    cu = os.path.join(d, prefix + ".cu")
    dflags = [a for k, v in m.defines.items() for a in ("-D", f"{k}={v}")]
    out, t_nnc = run([args.nnc, os.path.join(HERE, m.nn_file), "--target", "cuda", "--stats", "--name", prefix,
                      "-o", cu] + dflags, "nnc")
    st = parse_stats(out)
    st["stats_text"] = out.strip()
    with open(os.path.join(d, prefix + ".h")) as f:
        r = re.search(r"#define\s+\w+_DEVICE_BYTES\s+(\d+)", f.read())
    st["device_bytes"] = int(r.group(1)) if r else None
    inc = ["-I" + os.path.join(ROOT, "runtime"), "-I" + os.path.join(ROOT, "runtime", "cuda")]
    obj = os.path.join(d, prefix + ".o")
    _, t_cu = run([args.nvcc] + NVFLAGS + inc + ["-c", cu, "-o", obj], "nvcc (model)")
    exe = os.path.join(d, "gpu_driver")
    _, t_drv = run([args.nvcc] + NVFLAGS + inc + ["-I" + d, f"-DMODEL={prefix}", "-include",
                                                  os.path.join(d, prefix + ".h"), os.path.join(HERE, "gpu_driver.cu"),
                                                  obj, args.libcuda, args.lib, "-lcublas", "-lm", "-o", exe],
                   "nvcc (driver)")
    return {"dir": d, "exe": exe, "stats": st, "times": {"nnc": t_nnc, "nvcc_model": t_cu, "nvcc_driver": t_drv},
            "cu_bytes": os.path.getsize(cu)}


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k and v:
            out[k] = v.strip()
    return out


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def med_mm(v):
    return statistics.median(v), min(v), max(v)


def gb(x):
    return f"{x / 1e9:.3f} GB"


def torch_run(args, spec, path):
    with open(path, "w") as f:
        json.dump(spec, f)
    out, _ = run([args.python, os.path.abspath(__file__), "--torch", path], "PyTorch (" + spec["device"] + ")")
    r = re.search(r"^RESULT (.*)$", out, re.M)
    if not r:
        raise RuntimeError("PyTorch printed no result:\n" + out[-4000:])
    return json.loads(r.group(1))


def rehearse(args, m, work, rng):
    """--dry-run: nnc's C target (bench/driver.c) and PyTorch on the CPU,
    same weights and batches, first two losses."""
    d = os.path.join(work, m.key, "cpu")
    os.makedirs(d, exist_ok=True)
    defines = dict(m.defines, **m.rehearse)
    c = m.consts(defines)
    prefix = "bm_" + m.key
    cfile = os.path.join(d, prefix + ".c")
    run([args.nnc, os.path.join(HERE, m.nn_file), "--name", prefix, "-o", cfile]
        + [a for k, v in defines.items() for a in ("-D", f"{k}={v}")], "nnc (C)")
    exe = os.path.join(d, "driver")
    run(["gcc"] + cpu_bench.CFLAGS + ["-I" + os.path.join(ROOT, "runtime"), "-I" + d, f"-DMODEL={prefix}",
                                      "-include", os.path.join(d, prefix + ".h"), os.path.join(HERE, "driver.c"),
                                      cfile, args.lib, "-lm", "-o", exe], "gcc (bench/driver.c)")
    data, io = write_data(m, c, d, rng)
    w = os.path.join(d, "w.safetensors")
    run([exe, "init", str(SEED), w], "driver init")
    out, _ = run([exe, "check", str(SEED), data, str(m.nb), os.path.join(d, "out.bin")], "driver check")
    ln = [float(v) for v in re.findall(r"^loss\d (\S+)$", out, re.M)]
    spec = {"kind": m.kind, "consts": c, "weights": w, "data": data, "io": io, "nb": m.nb, "device": "cpu"}
    lt = torch_run(args, spec, os.path.join(d, "torch.json"))["loss"]
    return c, ln, lt


def main():
    import argparse
    ap = argparse.ArgumentParser(description="nnc's CUDA target vs PyTorch on the GPU (see bench/README.md)")
    ap.add_argument("--build", default="build", help="nnc build folder: nnc, libnnrt.a, libnnrt_cuda.a")
    ap.add_argument("--only", default="", help="comma-separated subset of tiny_gpt,gpt2,lenet")
    ap.add_argument("--gpt2-batch", type=int, default=16, help="B of bench/gpt2_small.nn (default 16)")
    ap.add_argument("--quick", action="store_true", help="3 short repeats: a smoke test, not numbers")
    ap.add_argument("--dry-run", action="store_true", help="no GPU: build, count, print the plan, CPU rehearsal")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    ap.add_argument("--python", default=sys.executable, help="python with torch for the PyTorch side")
    ap.add_argument("--nvcc", default=os.environ.get("NVCC", "nvcc"))
    args = ap.parse_args()
    t_start = time.time()
    reps, min_s, warm_s = (3, 0.2, 0.5) if args.quick else (10, 1.0, 3.0)
    only = set(filter(None, args.only.split(",")))
    todo = [m for m in models(args.gpt2_batch) if not only or m.key in only]
    if only - {m.key for m in models(args.gpt2_batch)}:
        sys.exit(f"gpu.py: unknown model in --only: {','.join(sorted(only))}")

    build = os.path.abspath(args.build)
    args.nnc, args.lib, args.libcuda = (os.path.join(build, f) for f in ("nnc", "libnnrt.a", "libnnrt_cuda.a"))
    for f in (args.nnc, args.lib, args.libcuda):
        if not os.path.exists(f):
            sys.exit(f"gpu.py: {f} not found; run `make all cuda` (or `make bench-gpu`) first")
    work = os.path.join(build, "bench-gpu")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    report = {"models": {}}

    bar = "=" * 118
    print(bar)
    print("nnc benchmark on the GPU: nnc's CUDA target vs PyTorch, training steps"
          + ("  [--dry-run: nothing runs on a GPU]" if args.dry_run else "")
          + ("  [--quick: smoke test, numbers not meaningful]" if args.quick else ""))
    print(bar)

    # ---- build (in parallel: the GPT-2 model alone takes nvcc about half a minute) ----
    nvv = subprocess.run([args.nvcc, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()
    print(f"nvcc: {nvv[-1] if nvv else '?'}; flags {' '.join(NVFLAGS)}")
    with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as ex:
        futs = {m.key: ex.submit(build_model, m, args, work) for m in todo}
        built = {k: f.result() for k, f in futs.items()}
    rng = np.random.default_rng(7)
    for m in todo:
        b = built[m.key]
        c = m.consts(m.defines)
        b["consts"] = c
        b["data"], b["io"] = write_data(m, c, b["dir"], rng)
        t = b["times"]
        st = b["stats"]
        fl, fl_formula = flops(m, c)
        by, by_formula = bytes_moved(m, st)
        b.update(flops=fl, flops_formula=fl_formula, bytes=by, bytes_formula=by_formula)
        shape = ", ".join(f"{k}={v}" for k, v in c.items())
        print(f"{m.title} (bench/{m.nn_file}; {shape}; {m.opt}):")
        print(f"  built in this run: nnc --target cuda {t['nnc']:.2f} s ({b['cu_bytes'] / 1e3:.0f} kB of .cu), "
              f"nvcc model {t['nvcc_model']:.1f} s, nvcc driver + link {t['nvcc_driver']:.1f} s")
        if "train_arena" in st:
            print(f"  nnc --stats: train arena {gb(st['train_arena'])} ({st['kernels']} kernels), kept for backward "
                  f"{gb(st.get('kept', 0))}, parameters {st.get('param_tensors', '?')} tensors "
                  f"{gb(st.get('params', 0))}; one cudaMalloc of {gb(st['device_bytes'] or 0)} (P_DEVICE_BYTES)")
        print(f"  FLOPs per step {fl / 1e9:,.2f} G = {fl_formula}")
        print("  bytes per step (estimate) " + (f"{by / 1e9:.3f} GB = {by_formula}" if by else by_formula))
        report["models"][m.key] = {k: v for k, v in b.items() if k not in ("exe", "dir")}

    status = 0
    if args.dry_run:
        print("-" * 118)
        print("the plan on a GPU (nothing of it ran here):")
        print("  gpu_driver device; gpu_driver ceilings (1 GiB device copy, cublasSgemm 8192^3 without TF32)")
        for m in todo:
            b = built[m.key]
            print(f"  {m.title}: {os.path.relpath(b['exe'], ROOT)} run {SEED} DATA {m.nb} w.safetensors {warm_s} {min_s}"
                  f" {reps}; then PyTorch ({args.python} gpu.py --torch) on the same weights and batches:"
                  f" 3 checked steps, >= 3 steps and >= {warm_s} s of warm-up, {reps} repeats of ~{min_s} s")
        have_torch = subprocess.run([args.python, "-c", "import torch"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0
        print("-" * 118)
        if not have_torch:
            print(f"CPU rehearsal skipped: {args.python} has no torch (pass --python)")
        else:
            print(f"CPU rehearsal of the PyTorch side (measured here, on the CPU: nnc's C target via bench/driver.c"
                  f" vs PyTorch, same weights and batches; tolerance {TOL:g}):")
            for m in todo:
                c, ln, lt = rehearse(args, m, work, np.random.default_rng(7))
                errs = [rel(a, b) for a, b in zip(ln, lt)]
                good = len(errs) == 2 and all(e <= TOL for e in errs)
                status |= 0 if good else 1
                sizes = ", ".join(f"{k}={c[k]}" for k in m.rehearse) or "full size"
                print(f"  {m.title:12s} ({sizes}): loss nnc {ln[0]:.7f} PyTorch {lt[0]:.7f} rel {errs[0]:.1e};"
                      f" second step rel {errs[1]:.1e}  {'ok' if good else 'FAILED'}")
                report["models"][m.key]["rehearsal"] = {"consts": c, "nnc": ln, "torch": lt}
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
        print(f"total run time {time.time() - t_start:.0f} s")
        return status

    # ---- the device ----------------------------------------------------------
    drv = built[todo[0].key]["exe"]
    dv = parse_kv(run([drv, "device"], "gpu_driver device")[0])
    ce = parse_kv(run([drv, "ceilings"], "gpu_driver ceilings")[0])
    report["device"], report["ceilings"] = dv, ce
    cc = tuple(int(x) for x in dv["cc"].split("."))
    sms, clock = int(dv["sms"]), int(dv["clock_khz"]) * 1e3
    lanes = FP32_LANES.get(cc)
    peak = 2 * lanes * sms * clock if lanes else None
    mclk, bus = int(dv.get("mem_clock_khz", 0)) * 1e3, int(dv.get("bus_width_bits", 0))
    bw = 2 * mclk * bus / 8 if mclk and bus else None
    print("-" * 118)
    print(f"GPU: {dv['name']} (cc {dv['cc']}, {sms} SMs, {int(dv['total_mem']) / 2**30:.1f} GiB, "
          f"{int(dv['free_mem']) / 2**30:.1f} GiB free at the start; CUDA runtime {dv['cuda_runtime']}, "
          f"driver {dv['cuda_driver']}), queried in this run")
    print("  FP32 peak (no tensor cores: what cuBLAS runs without TF32) = 2 FLOP x FP32 lanes per SM x SMs x peak SM "
          "clock = " + (f"2 x {lanes} x {sms} x {clock / 1e6:.0f} MHz = {peak / 1e12:.1f} TFLOP/s" if peak else
                        f"n/a (FP32 lanes per SM unknown for cc {dv['cc']})"))
    print("  HBM bandwidth = 2 (double data rate) x memory clock x bus width / 8 = " +
          (f"2 x {mclk / 1e6:.0f} MHz x {bus} bit / 8 = {bw / 1e12:.2f} TB/s" if bw else
           "n/a (memory clock or bus width not reported)"))
    cp_ms = [float(x) for x in ce["copy_ms"].split()]
    sg_ms = [float(x) for x in ce["sgemm_ms"].split()]
    cp_bw = int(ce["copy_bytes"]) / (cp_ms[0] / 1e3)
    sg_rate = float(ce["sgemm_flop"]) / (sg_ms[0] / 1e3)
    print(f"  measured in this run: device copy of 1 GiB {cp_bw / 1e12:.2f} TB/s (read + written; median of 10,"
          f" {cp_ms[1]:.3f}-{cp_ms[2]:.3f} ms)" + (f" = {100 * cp_bw / bw:.0f}% of the formula" if bw else ""))
    print(f"  measured in this run: cublasSgemm 8192^3 (CUBLAS_DEFAULT_MATH) {sg_rate / 1e12:.1f} TFLOP/s (median of 10,"
          f" {sg_ms[1]:.2f}-{sg_ms[2]:.2f} ms; C(0,0) vs float64 {float(ce['sgemm_check']):.1e})"
          + (f" = {100 * sg_rate / peak:.0f}% of the formula" if peak else ""))
    if float(ce["sgemm_check"]) > 1e-5:
        print("  ** the SGEMM check is off: is TF32 forced (NVIDIA_TF32_OVERRIDE)? **")

    # ---- each model: nnc, then PyTorch ------------------------------------------
    results = {}
    for m in todo:
        b = built[m.key]
        print(f"running {m.title} ...", file=sys.stderr, flush=True)
        r = {"ok": False}
        try:
            w = os.path.join(b["dir"], "w.safetensors")
            out, _ = run([b["exe"], "run", str(SEED), b["data"], str(m.nb), w, str(warm_s), str(min_s), str(reps)],
                         "gpu_driver run")
            kv = parse_kv(out)
            r["nnc"] = {"loss": [float(kv[f"loss{i}"]) for i in range(3)],
                        "reps": [[int(a), float(t)] for a, t in re.findall(r"^rep (\d+) (\S+)$", out, re.M)],
                        "final_loss": float(kv["final_loss"]), "mem_used": int(kv["mem_used"]),
                        "warmup": [float(x) for x in kv["warmup"].split()]}
            spec = {"kind": m.kind, "consts": b["consts"], "weights": w, "data": b["data"], "io": b["io"],
                    "nb": m.nb, "device": "cuda", "check_steps": 3, "time": True, "warm_s": warm_s, "min_s": min_s, "reps": reps}
            r["torch"] = torch_run(args, spec, os.path.join(b["dir"], "torch.json"))
            r["errs"] = [rel(a, c) for a, c in zip(r["nnc"]["loss"], r["torch"]["loss"])]
            r["ok"] = (len(r["errs"]) == 3 and all(e <= TOL for e in r["errs"])
                       and all(np.isfinite(r[i]["final_loss"]) for i in ("nnc", "torch")))
        except (RuntimeError, KeyError, ValueError, subprocess.TimeoutExpired) as e:
            r["error"] = str(e)
            print(f"** {m.title}: {e}", flush=True)
        results[m.key] = r
        report["models"][m.key]["result"] = r
        if not r["ok"]:
            status = 1

    # ---- the table ---------------------------------------------------------------
    print("-" * 118)
    print(f"correctness guard (same weights, same batches, TF32 off on both sides; relative tolerance {TOL:g} on the"
          f" losses of steps 1-3; nnc: eager, graph capture, graph replay):")
    for m in todo:
        r = results[m.key]
        if "errs" in r:
            ln, lt = r["nnc"]["loss"], r["torch"]["loss"]
            print(f"  {m.title:12s} first-step loss nnc {ln[0]:.7f} PyTorch {lt[0]:.7f} rel {r['errs'][0]:.1e};"
                  f" steps 2, 3 rel {r['errs'][1]:.1e}, {r['errs'][2]:.1e}  {'ok' if r['ok'] else 'FAILED'}")
        else:
            print(f"  {m.title:12s} did not run to the end: FAILED")
    hdr = (f"{'model':12s} {'impl':8s} {'ms/step':>9s} {'min - max':>17s} {'items/s':>11s} {'TFLOP/s':>8s}"
           f" {'%FP32pk':>7s} {'%sgemm':>6s} {'GB/s est':>8s} {'%HBM':>5s} {'nnc/PT':>7s}")
    print("=" * 118)
    print(hdr)
    print("-" * 118)
    for m in todo:
        r, b = results[m.key], built[m.key]
        c = b["consts"]
        items = c["B"] * c["T"] if m.kind == "gpt" else c["B"]
        meds = {}
        for impl in ("nnc", "torch"):
            if impl not in r or "reps" not in r[impl]:
                continue
            v = [t / n for n, t in r[impl]["reps"]]
            med, lo, hi = med_mm(v)
            meds[impl] = med
            s = med / 1e3
            tf = b["flops"] / s
            ratio = ""
            if impl == "torch" and "nnc" in meds:
                ratio = f"{meds['torch'] / meds['nnc']:.2f}x" if r["ok"] else "n/a*"
            pk = f"{100 * tf / peak:6.1f}%" if peak else "n/a"
            gbs = f"{b['bytes'] / s / 1e9:8.0f}" if b["bytes"] else "n/a"
            hbm = f"{100 * b['bytes'] / s / bw:4.1f}%" if b["bytes"] and bw else "n/a"
            print(f"{m.title if impl == 'nnc' else '':12s} {'nnc' if impl == 'nnc' else 'PyTorch':8s} {med:9.3f}"
                  f" {f'{lo:.3f} - {hi:.3f}':>17s} {items / s:11,.0f} {tf / 1e12:8.2f}"
                  f" {pk:>7s} {100 * tf / sg_rate:5.1f}% {gbs:>8s} {hbm:>5s} {ratio:>7s}")
        print("-" * 118)
    print("ms/step: CUDA-event time of a training step (median and min-max over the repeats); items/s: tokens/s"
          " (GPTs) or images/s (LeNet);")
    print("TFLOP/s: counted matmul FLOPs / median time, against the FP32 formula peak (%FP32pk) and the measured"
          " cublasSgemm (%sgemm); GB/s est: the byte estimate / median time;")
    print("nnc/PT: PyTorch's median step time over nnc's (> 1: nnc is faster). nnc replays a CUDA Graph; PyTorch runs"
          " eagerly (no CUDA Graph, no torch.compile), default AdamW/SGD.")
    if any(not r["ok"] for r in results.values()):
        print("n/a*: the correctness guard failed for this model: no ratio given")
    print("limits per model (floors: counted FLOPs / FP32 formula peak, estimated bytes / HBM formula bandwidth;"
          " 'Nx the floor': median step time over the larger floor):")
    for m in todo:
        r, b = results[m.key], built[m.key]
        f_ms = 1e3 * b["flops"] / peak if peak else None
        m_ms = 1e3 * b["bytes"] / bw if bw and b["bytes"] else None
        parts = [f"compute floor {f_ms:.3f} ms" if f_ms is not None else "compute floor n/a",
                 f"memory floor {m_ms:.3f} ms" if m_ms is not None else "memory floor n/a"]
        line = f"  {m.title:12s} " + ", ".join(parts)
        if f_ms is not None and m_ms is not None:
            line += f" -> {'compute' if f_ms >= m_ms else 'memory'}-bound on paper"
        floor = max(f_ms or 0, m_ms or 0)
        for impl, name in (("nnc", "nnc"), ("torch", "PyTorch")):
            if impl in r and r[impl].get("reps") and floor:
                med = statistics.median(t / n for n, t in r[impl]["reps"])
                line += f"; {name} {med:.3f} ms = {med / floor:.1f}x the floor"
        print(line)
        if "nnc" in r and r["nnc"].get("reps") and floor:
            med = statistics.median(t / n for n, t in r["nnc"]["reps"])
            if med > 3 * floor:
                print(f"  {'':12s} nnc is far above both floors: launch/latency-bound, or more traffic than counted"
                      f" (re-reads, unfused kernels), not limited by the FP32 units or HBM")
        for impl in ("nnc", "torch"):
            if impl in r and "final_loss" in r[impl] and not np.isfinite(r[impl]["final_loss"]):
                print(f"  ** {m.title}: {impl}'s loss after the timed steps is {r[impl]['final_loss']}: FAILED **")
        if "nnc" in r and "torch" in r and "max_mem" in r["torch"]:
            print(f"  {'':12s} device memory: nnc {gb(r['nnc']['mem_used'])} in use after P_create (context and"
                  f" cuBLAS included); PyTorch peak allocated {gb(r['torch']['max_mem'])}")
    tv = next((r["torch"] for r in results.values() if "torch" in r), None)
    if tv:
        print(f"PyTorch {tv['torch']} on {tv.get('name')} ({tv.get('sms')} SMs; {tv.get('flags')}); python {args.python}")
        if tv.get("sms") != sms:
            print(f"  ** PyTorch reports {tv.get('sms')} SMs, the CUDA runtime {sms}: not the same device? **")
    print("measured in this run: the device properties, the copy and SGEMM ceilings, every step time and loss above;"
          " computed, not measured: FLOPs, byte estimates, the formula peaks and floors.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(f"total run time {time.time() - t_start:.0f} s")
    return status


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--torch":
        torch_main(sys.argv[2])
    else:
        sys.exit(main())
