#!/usr/bin/python3
"""bench.py — nnc's generated code against PyTorch (and nnc's GEMM against
OpenBLAS), measured in one run on this machine. See bench/README.md.

Run by bench/run.sh (`make bench`) with Debian's /usr/bin/python3 (torch
1.13, numpy). Usage:

    bench.py [--build DIR] [--quick] [--only NAME,...] [--peers-python PY [--peers LIST]]

--build is the nnc build folder (nnc, libnnrt.a; default build). Scratch
files go to DIR/bench. --quick runs 2 short repeats (a smoke test, not for
numbers). --only runs a subset: mlp_train, mlp_b1, mlp_b256, lenet,
gpt, gemm, compile, int8 (nnc --quantize int8 against f32), dispatch
(libnnrt's run-time GEMM dispatch against a -march=native libnnrt).
nnc's code is built for -march=native and -march=x86-64-v3.
--peers-python (PEERS=all in run.sh) adds PyTorch 2 eager and
torch.compile, JAX jit and ONNX Runtime from that python (peers.py), each
on 1 thread and on 2.

Three PyTorch worker processes stay up for the whole run (`bench.py
--worker`), one per thread setting, because OMP_NUM_THREADS only acts
before torch is imported:
    t1      torch.set_num_threads(1)
    t2      torch.set_num_threads(2)
    t2omp1  OMP_NUM_THREADS=1 in the environment, torch.set_num_threads(2)
They take one JSON command per line on stdin and answer one JSON line
(the protocol: peers.py).
Measurements are interleaved per workload (nnc, then each PyTorch setting)
so that a ratio compares numbers taken seconds apart.
"""
import json
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "examples", "data")
MNIST_IMAGES = os.path.join(DATA, "mnist", "t10k-images-idx3-ubyte")
MNIST_LABELS = os.path.join(DATA, "mnist", "t10k-labels-idx1-ubyte")
SHAKESPEARE = os.path.join(DATA, "tinyshakespeare", "input.txt")

SEED = 1234     # nnc's P_create seed: the initial weights of every model
TOL = 1e-4      # relative agreement of nnc and PyTorch before timing
CFLAGS = ["-std=c99", "-O2", "-march=native", "-Wall", "-Wextra"]
# nnc's code is also built for AVX2 + FMA without AVX-512 (x86-64-v3), the
# target of most AMD and older Intel servers, when this CPU can run it: the
# generated convolutions and libnnrt's GEMM are shaped by the ISA they are
# compiled for (codegen/c/k_conv.c, runtime/gemm.c), so an AVX-512 machine
# measures both code paths. Its libnnrt is built with NNRT_ARCH.
V3 = "x86-64-v3"
CFLAGS_V3 = [f if f != "-march=native" else "-march=" + V3 for f in CFLAGS]


def can_run_v3():
    """x86-64 with AVX2 and FMA (/proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return False
    return os.uname().machine == "x86_64" and "avx2" in flags and "fma" in flags

# ---- workloads ----------------------------------------------------------------
#
# FLOPs are counted analytically: 2*M*N*K per matmul (a convolution is the
# matmul of its im2col: M = output positions, N = output channels, K =
# in_channels * kh * kw), per example (per token for the GPT); a training
# step counts 3x the forward (forward, input gradient, weight gradient) less
# the input gradient of the first layer, which no side computes (the
# model's input needs none; the GPT's first layer is an embedding, a gather
# that is not counted). Counting it would put rates above the FMA peak.
# Elementwise ops, softmax, norms and the optimizer are not counted.

D_IN, H1, H2, C = 784, 128, 128, 10
MLP_FWD = 2 * (D_IN * H1 + H1 * H2 + H2 * C)
MLP_TRAIN = 3 * MLP_FWD - 2 * D_IN * H1
LENET_FWD = (2 * (28 * 28) * 6 * (1 * 5 * 5)      # conv1: 28x28 outputs (padding 2), 6 channels, 1x5x5
             + 2 * (10 * 10) * 16 * (6 * 5 * 5)   # conv2: 10x10 outputs, 16 channels, 6x5x5
             + 2 * (400 * 120 + 120 * 84 + 84 * 10))
LENET_TRAIN = 3 * LENET_FWD - 2 * (28 * 28) * 6 * (1 * 5 * 5)
GPT = {"B": 32, "T": 64, "D": 128, "L": 4, "H": 4, "V": 65}
# per token and layer: q, k, v, out projections (4 D^2), MLP (8 D^2), and
# the scores QK^T and weighted sum AV over all T positions (2 x 2 T D;
# both sides compute the full T x T scores and mask them)
GPT_FWD = GPT["L"] * (2 * 12 * GPT["D"] ** 2 + 2 * 2 * GPT["T"] * GPT["D"]) + 2 * GPT["D"] * GPT["V"]


class Workload:
    def __init__(self, key, title, nn_file, kind, mode, batch, defines, nb, unit, flops_per_item,
                 items_per_call):
        self.key, self.title, self.nn_file, self.kind, self.mode = key, title, nn_file, kind, mode
        self.batch, self.defines, self.nb, self.unit = batch, defines, nb, unit
        self.flops_per_item, self.items_per_call = flops_per_item, items_per_call


WORKLOADS = [
    Workload("mlp_train", "MLP 784-128-128-10 train B=64", "mlp.nn", "mlp", "train", 64, {"B": 64}, 16,
             "examples/s", MLP_TRAIN, 64),
    Workload("mlp_b1", "MLP inference B=1", "mlp.nn", "mlp", "forward", 1, {"B": 1}, 64,
             "us/call", MLP_FWD, 1),
    Workload("mlp_b256", "MLP inference B=256", "mlp.nn", "mlp", "forward", 256, {"B": 256}, 4,
             "examples/s", MLP_FWD, 256),
    Workload("lenet", "LeNet-5 train B=64 SGD", "lenet_sgd.nn", "lenet", "train", 64, {"B": 64}, 16,
             "examples/s", LENET_TRAIN, 64),
    Workload("gpt", "tiny_gpt train B=32 T=64 AdamW", "tiny_gpt.nn", "gpt", "train", 32, {}, 8,
             "tokens/s", 3 * GPT_FWD, GPT["B"] * GPT["T"]),
]

# (title, ta, tb, M, N, K): 1024^3 and the MLP's own products (nnc's dense
# forward is x W^T: NT; its weight gradient dY^T X: TN)
GEMMS = [
    ("GEMM 1024x1024x1024 NN", 0, 0, 1024, 1024, 1024),
    ("GEMM 64x128x784 NT (MLP fwd)", 0, 1, 64, 128, 784),
    ("GEMM 128x784x64 TN (MLP dW)", 1, 0, 128, 784, 64),
    ("GEMM 64x128x128 NT (MLP fwd)", 0, 1, 64, 128, 128),
    ("GEMM 64x10x128 NT (MLP logits)", 0, 1, 64, 10, 128),
    ("GEMM 64x128x10 NN (MLP logits dX)", 0, 0, 64, 128, 10),
    ("GEMM 10x128x64 TN (MLP logits dW)", 1, 0, 10, 128, 64),
    ("GEMM 256x128x784 NT (B=256)", 0, 1, 256, 128, 784),
    ("GEMM 2048x384x128 NT (GPT qkv)", 0, 1, 2048, 384, 128),
    ("GEMM 2048x128x512 NT (GPT mlp)", 0, 1, 2048, 128, 512),
    ("GEMM 64x64x32 NT (GPT scores)", 0, 1, 64, 64, 32),
]
OMP2 = {"OMP_NUM_THREADS": "2"}  # nnc's OpenMP build on two threads

# torch.set_num_threads sets PyTorch's OpenMP threads (and MKL's), not the
# pool of an OpenBLAS that Debian's torch may call through libblas.so.3:
# OPENBLAS_NUM_THREADS gives that one the same count.
WORKERS = {  # name: (environment changes, torch.set_num_threads, label)
    "t1": ({"OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": "1"}, 1, "set_num_threads(1)"),
    "t2": ({"OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": "2"}, 2, "set_num_threads(2)"),
    "t2omp1": ({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2"}, 2, "OMP=1 + set_num_threads(2)"),
}
# The peers of `make bench PEERS=all` (--peers-python: bench/run.sh's PyPI
# venv): name: (BENCH_PEER of the worker, label after its version). Each
# runs twice, on 1 thread (worker NAME) and on 2 (worker NAME@2). ONNX
# Runtime runs the inference workloads only.
VENV_PEERS = {
    "pt2": ("torch", "eager (PyPI)"),
    "pt2c": ("torch_compile", "torch.compile (PyPI)"),
    "jax": ("jax", "jit"),
    "ort": ("ort", ""),
}


def peer_runs(name, w):
    """Does the peer (a WORKERS or VENV_PEERS worker name) run workload w?"""
    return name.split("@")[0] != "ort" or (w.kind == "mlp" and w.mode == "forward")


# ==== the PyTorch worker =========================================================

def worker_main():
    """A worker (peers.py has the protocol): PyTorch eager, or with
    BENCH_PEER=torch_compile its module under torch.compile; BENCH_PEER=jax
    or ort: peers.py's JAX and ONNX Runtime peers."""
    import peers
    kind = os.environ.get("BENCH_PEER", "torch")
    threads = int(os.environ["BENCH_TORCH_THREADS"])
    if kind in ("jax", "ort"):
        peers.main(kind, threads)
        return
    proto = os.fdopen(os.dup(1), "w")  # answers; anything torch prints goes to stderr
    os.dup2(2, 1)
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind == "torch_compile" and not hasattr(torch, "compile"):
        raise SystemExit(f"bench worker: torch {torch.__version__} has no torch.compile (PyTorch 2 needed)")

    class MLP(nn.Module):  # bench/mlp.nn: h.0, h.2, logits
        def __init__(self):
            super().__init__()
            self.h = nn.Sequential(nn.Linear(D_IN, H1), nn.ReLU(), nn.Linear(H1, H2), nn.ReLU())
            self.logits = nn.Linear(H2, C)

        def forward(self, x):
            return self.logits(self.h(x))

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

    class GptBlock(nn.Module):
        """block gpt_block: a.0 layernorm, a.1 attention, m.0 layernorm,
        m.1 dense(4D), m.3 dense(D)."""

        def __init__(self, D, heads, mask):
            super().__init__()
            self.a = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
            self.m = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 4 * D), nn.GELU(approximate="tanh"),
                                   nn.Linear(4 * D, D))
            self.mask = mask

        def forward(self, x):
            n = self.a[0](x)
            a = x + self.a[1](n, n, n, need_weights=False, attn_mask=self.mask)[0]
            return a + self.m(a)

    class TinyGpt(nn.Module):  # bench/tiny_gpt.nn: tok, h.0 (positions), h.1.i, h.2, logits
        def __init__(self, T, V, D, L, H):
            super().__init__()
            mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True: may not attend
            self.tok = nn.Embedding(V, D)
            self.h = nn.ModuleList([nn.Embedding(T, D), nn.Sequential(*[GptBlock(D, H, mask) for _ in range(L)]),
                                    nn.LayerNorm(D)])
            self.logits = nn.Linear(D, V)

        def forward(self, x):
            h = self.tok(x) + self.h[0].weight
            return self.logits(self.h[2](self.h[1](h)))

    def build(kind):
        if kind == "mlp":
            return MLP(), lambda p: torch.optim.SGD(p, lr=0.01)
        if kind == "lenet":
            return LeNet(), lambda p: torch.optim.SGD(p, lr=0.01)
        g = GPT
        return (TinyGpt(g["T"], g["V"], g["D"], g["L"], g["H"]),
                lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01))

    models = {}

    def fresh(st):
        """The module with nnc's weights, and its optimizer; under
        torch.compile, "run" is the compiled module (its first calls compile)."""
        model, make_opt = build(st["kind"])
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in st["weights"].items()}, strict=True)
        st["model"], st["opt"] = model, make_opt(model.parameters())
        st["run"] = torch.compile(model) if kind == "torch_compile" else model

    def train_step(st, k):
        x, y = st["x"][k % st["nb"]], st["y"][k % st["nb"]]
        st["opt"].zero_grad(set_to_none=True)
        logits = st["run"](x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        st["opt"].step()
        return loss

    def forward(st, k):
        with torch.inference_mode():
            return torch.softmax(st["run"](st["x"][k % st["nb"]]), dim=-1)

    def blas_libs():
        libs = set()
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if re.search(r"blas|mkl|dnnl|gomp", os.path.basename(path)):
                    libs.add(os.path.realpath(path))
        return sorted(libs)

    def info(cmd):
        a = torch.randn(64, 64)
        (a @ a).sum().item()  # loads the BLAS
        return {"torch": torch.__version__, "version": f"PyTorch {torch.__version__}",
                "threads": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS", "unset"),
                "libs": blas_libs()}

    def load(cmd):
        st = {"kind": cmd["kind"], "nb": cmd["nb"], "weights": peers.read_safetensors(cmd["weights"])}
        ios = [[torch.from_numpy(a.astype(np.float32) if a.dtype == np.float32 else a.astype(np.int64)) for a in t]
               for t in peers.read_batches(cmd["data"], cmd["io"], cmd["nb"])]
        st["x"] = ios[0]
        st["y"] = ios[1] if len(ios) > 1 else None
        fresh(st)
        models[cmd["name"]] = st
        return {}

    def check(cmd):
        st = models[cmd["name"]]
        fresh(st)
        np.asarray(forward(st, 0).numpy(), np.float32).tofile(cmd["out"])
        return {"loss": [float(train_step(st, k).item()) for k in range(2)]}

    def time_(cmd):
        st = models[cmd["name"]]
        if cmd.get("fresh", True):
            fresh(st)
        fn = (lambda k: train_step(st, k)) if cmd["mode"] == "train" else (lambda k: forward(st, k))
        return {"reps": peers.timed(fn, cmd["min_s"], cmd["reps"], cmd["warm_s"])}

    def mm(cmd):
        ta, tb, M, N, K = cmd["shape"]
        g = torch.Generator().manual_seed(0)
        a = torch.rand(K, M, generator=g) * 2 - 1 if ta else torch.rand(M, K, generator=g) * 2 - 1
        b = torch.rand(N, K, generator=g) * 2 - 1 if tb else torch.rand(K, N, generator=g) * 2 - 1
        A, B = (a.t() if ta else a), (b.t() if tb else b)
        out = torch.empty(M, N)
        torch.mm(A, B, out=out)
        rows = torch.arange(0, M, max(1, M // 16))  # 16 rows against float64
        ref = A[rows].double() @ B.double()
        err = float((out[rows].double() - ref).abs().max() / ref.abs().max())
        return {"check": err,
                "reps": peers.timed(lambda k: torch.mm(A, B, out=out), cmd["min_s"], cmd["reps"], cmd["warm_s"])}

    peers.serve(proto, {"info": info, "load": load, "check": check, "time": time_, "mm": mm})


# ==== the orchestrator ===========================================================

class Worker:
    def __init__(self, name, python, peer="torch", threads=1):
        """A WORKERS setting of Debian's PyTorch, or (peer given) a
        VENV_PEERS peer on `threads` threads; label is set from its info."""
        env_changes, threads, self.label = (WORKERS[name] if name in WORKERS else
                                            ({"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)},
                                             threads, name))
        env = dict(os.environ)
        env["BENCH_PEER"] = peer
        for k, v in env_changes.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        env["BENCH_TORCH_THREADS"] = str(threads)
        self.name, self.threads = name, threads
        self.p = subprocess.Popen([python, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"PyTorch worker {self.name} died (see its error above)")
        res = json.loads(line)
        if not res.get("ok"):
            raise RuntimeError(f"PyTorch worker {self.name}: {res.get('error')}")
        return res

    def close(self):
        try:
            self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=30)


def sh(cmd, what=None, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=None if env is None else {**os.environ, **env})
    if p.returncode != 0:
        raise RuntimeError(f"{what or cmd[0]} failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}")
    return p.stdout


# The workloads' repeats are interleaved: round r runs one repeat of every
# implementation (nnc's builds and every peer), in an order rotated each
# round, each after a short warm-up of its own (REWARM_S; the first round
# after the full warm-up). On a shared machine whatever else runs comes and
# goes over seconds; run one implementation's repeats after another's and a
# busy spell falls on one of them (on a 2-core EPYC guest the same code built
# twice measured 19% apart that way), interleaved it falls on all alike.
REWARM_S = 0.1


class DriverTimer:
    """nnc's bench/driver.c in `serve` mode: one repeat per request."""

    def __init__(self, cmd, what, env=None):
        self.what = what
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=None if env is None else {**os.environ, **env})

    def rep(self, min_s, warm_s):
        self.p.stdin.write(f"{min_s} {warm_s}\n")
        self.p.stdin.flush()
        r = parse_reps(self.p.stdout.readline())
        if not r:
            raise RuntimeError(f"{self.what} failed (exit status {self.p.poll()})")
        return r[0]

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


class WorkerTimer:
    """A peer worker's timing of workload w: the first repeat from its
    initial state (fresh), the rest continuing from there."""

    def __init__(self, wk, w):
        self.wk, self.w, self.fresh = wk, w, True

    def rep(self, min_s, warm_s):
        r = self.wk.ask(cmd="time", name=self.w.key, mode=self.w.mode, min_s=min_s, reps=1, warm_s=warm_s,
                        fresh=self.fresh)
        self.fresh = False
        return r["reps"][0]

    def close(self):
        pass


def interleaved(timers, reps, min_s, warm_s):
    """{name: [[iters, seconds] per repeat]}: `reps` rounds, each one repeat
    of every timer in an order rotated by one per round."""
    names, out = list(timers), {name: [] for name in timers}
    try:
        for r in range(reps):
            for i in range(len(names)):
                name = names[(i + r) % len(names)]
                out[name].append(timers[name].rep(min_s, warm_s if r == 0 else REWARM_S))
    finally:
        for t in timers.values():
            t.close()
    return out


def parse_reps(text):
    return [[int(a), float(b)] for a, b in re.findall(r"^rep (\d+) ([0-9.eE+-]+)$", text, re.M)]


def machine_header(python):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lscpu = {}
    try:
        for line in sh(["lscpu"]).splitlines():
            k, _, v = line.partition(":")
            lscpu[k.strip()] = v.strip()
    except (RuntimeError, OSError):
        pass
    logical = os.cpu_count()
    cores = lscpu.get("Core(s) per socket", "?")
    sockets = lscpu.get("Socket(s)", "1")
    tpc = lscpu.get("Thread(s) per core", "?")
    try:
        phys = int(cores) * int(sockets)
    except ValueError:
        phys = "?"
    hyper = lscpu.get("Hypervisor vendor")
    print(f"CPU: {cpu}; {logical} logical CPUs = {phys} cores x {tpc} threads per core"
          + (f" (a {hyper} virtual machine: its cores may share physical cores with other guests)" if hyper else ""))
    gcc = sh(["gcc", "--version"]).splitlines()[0]
    print(f"compiler: {gcc}; flags {' '.join(CFLAGS)}; the x86-64-v3 build: -march={V3}")
    return cpu, logical


def cpu_busy_seconds():
    """CPU-seconds all CPUs spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU-seconds of this process and its finished (waited-for) children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def busy_cores(seconds=0.5):
    """CPUs busy with other work before the bench starts."""
    b0, t0 = cpu_busy_seconds(), time.time()
    time.sleep(seconds)
    return (cpu_busy_seconds() - b0) / (time.time() - t0)


def median_minmax(values):
    return statistics.median(values), min(values), max(values)


def fmt_num(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


def peer_cfg(w):
    """What a peer needs besides the weights: the optimizer (as
    bench.py's PyTorch modules have it) and the GPT's heads."""
    if w.kind == "gpt":
        return {"opt": "adamw", "lr": 1e-3, "wd": 0.01, "heads": GPT["H"]}
    return {"opt": "sgd", "lr": 0.01}


def peers_info(peers_):
    """Label each venv peer with its version, and say what runs."""
    for name, wk in peers_.items():
        i = wk.ask(cmd="info")
        base = name.split("@")[0]
        wk.label = (f"{i['version']} {VENV_PEERS[base][1]}".strip()
                    + f", {wk.threads} thread{'s' if wk.threads > 1 else ''}")
        print(f"  peer (PEERS=all): {wk.label}" + (" (inference workloads only)" if base == "ort" else ""))


def peers_guard(peers_, w, work, out_nnc, loss_nnc):
    """The correctness guard of the venv peers against nnc's native build:
    the forward output of batch 0 and the losses of two steps (none for
    ONNX Runtime) within TOL. Returns name -> passed."""
    ok = {}
    for name, wk in peers_.items():
        if not peer_runs(name, w):
            continue
        out = os.path.join(work, w.key, f"out_{name}.bin")
        lp = wk.ask(cmd="check", name=w.key, out=out)["loss"]
        b = np.fromfile(out, np.float32)
        out_err = (float(np.abs(b - out_nnc).max() / max(np.abs(out_nnc).max(), 1e-12)) if b.shape == out_nnc.shape
                   else float("inf"))
        errs = [abs(x - y) / max(abs(x), 1e-12) for x, y in zip(loss_nnc, lp or [])]
        ok[name] = (lp is None or len(errs) == 2) and all(e <= TOL for e in errs) and out_err <= TOL
        losses = (f"first-step loss {lp[0]:.7f} rel {errs[0]:.1e}; second step rel {errs[1]:.1e}; "
                  if len(errs) == 2 else "")
        print(f"  {w.title:34s} {wk.label}: {losses}forward output rel {out_err:.1e} (against nnc)"
              f"  {'ok' if ok[name] else 'FAILED'}")
    return ok


def main():
    import argparse
    ap = argparse.ArgumentParser(description="nnc vs PyTorch benchmark (see bench/README.md)")
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="2 short repeats: a smoke test, not numbers")
    ap.add_argument("--only", default="",
                    help="comma-separated: mlp_train,mlp_b1,mlp_b256,lenet,gpt,gemm,compile,int8,dispatch")
    ap.add_argument("--peers-python", default=None,
                    help="a python with PyTorch 2, JAX, ONNX Runtime and onnx (bench/run.sh makes it for PEERS=all):"
                         " adds those peers")
    ap.add_argument("--peers", default=",".join(VENV_PEERS),
                    help="with --peers-python, which of them: " + ",".join(VENV_PEERS))
    ap.add_argument("--openblas-libs", default=None,
                    help="link flags for OpenBLAS (default: -lopenblas when Debian's libopenblas-dev is installed)")
    args = ap.parse_args()
    t_start, busy_start, own_start = time.time(), cpu_busy_seconds(), own_cpu_seconds()
    reps, min_s, warm_s = (2, 0.1, 0.1) if args.quick else (5, 0.3, 0.5)
    only = set(filter(None, args.only.split(",")))
    workloads = [w for w in WORKLOADS if not only or w.key in only]
    do_gemm = not only or "gemm" in only

    build = os.path.abspath(args.build)
    nnc, lib = os.path.join(build, "nnc"), os.path.join(build, "libnnrt.a")
    for f in (nnc, lib):
        if not os.path.exists(f):
            sys.exit(f"bench: {f} not found; run `make all` (or `make bench`) first")
    work = os.path.join(build, "bench")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    python = sys.executable

    print("=" * 100)
    print("nnc benchmark: nnc-generated C vs PyTorch, measured in this run"
          + ("  [--quick: smoke test, numbers not meaningful]" if args.quick else ""))
    print("=" * 100)
    machine_header(python)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    busy = busy_cores()
    print(f"load average {' '.join(load)}; CPUs busy with other work just before the start: {busy:.2f}"
          + ("  ** the machine is not idle: numbers are noisy, 2-thread numbers especially **" if busy > 0.25 else ""))
    print(f"method: median of {reps} repeats of >= {min_s} s each after >= {warm_s} s of warm-up; the workloads'"
          f" repeats interleaved (one of each implementation per round, {REWARM_S} s of warm-up before each);"
          f" nnc weights seed {SEED}")

    # ---- build --------------------------------------------------------------
    status = 0
    cc_rt = ["gcc"] + CFLAGS + ["-I" + os.path.join(ROOT, "runtime")]
    v3 = can_run_v3()
    if v3:  # libnnrt for x86-64-v3 (`make NNRT_ARCH=-march=x86-64-v3`) and the drivers against it
        v3_build = os.path.join(work, "v3")
        lib_v3 = os.path.join(v3_build, "libnnrt.a")
        sh(["make", "-s", "-C", ROOT, f"B={v3_build}", f"NNRT_ARCH=-march={V3}", lib_v3], "make NNRT_ARCH")
        cc_v3 = ["gcc"] + CFLAGS_V3 + ["-I" + os.path.join(ROOT, "runtime")]
    else:
        print(f"the {V3} build is not run: this CPU lacks AVX2 or FMA (or is not x86-64)")
    exe, exe_v3 = {}, {}
    for w in workloads:
        d = os.path.join(work, w.key)
        os.makedirs(d)
        prefix = "bm_" + w.key
        cfile = os.path.join(d, prefix + ".c")
        cmd = [nnc, os.path.join(HERE, w.nn_file), "--name", prefix, "-o", cfile]
        for k, v in w.defines.items():
            cmd += ["-D", f"{k}={v}"]
        sh(cmd, "nnc")
        model = ["-I" + d, f"-DMODEL={prefix}", "-include", os.path.join(d, prefix + ".h"),
                 os.path.join(HERE, "driver.c"), cfile]
        exe[w.key] = os.path.join(d, "driver")
        sh(cc_rt + model + [lib, "-lm", "-o", exe[w.key]], "gcc (driver)")
        if v3:
            exe_v3[w.key] = os.path.join(d, "driver_v3")
            sh(cc_v3 + model + [lib_v3, "-lm", "-o", exe_v3[w.key]], f"gcc -march={V3} (driver)")
    # the same drivers built with -fopenmp against an OpenMP libnnrt
    # (`make OPENMP=1`): nnc's 2-thread rows
    omp_build = os.path.join(work, "omp")
    sh(["make", "-s", "-C", ROOT, f"B={omp_build}", "OPENMP=1", os.path.join(omp_build, "libnnrt.a")], "make OPENMP=1")
    lib_omp = os.path.join(omp_build, "libnnrt.a")
    exe_omp = {}
    for w in workloads:
        d = os.path.join(work, w.key)
        prefix = "bm_" + w.key
        exe_omp[w.key] = os.path.join(d, "driver_omp")
        sh(cc_rt + ["-fopenmp", "-I" + d, f"-DMODEL={prefix}", "-include", os.path.join(d, prefix + ".h"),
                    os.path.join(HERE, "driver.c"), os.path.join(d, prefix + ".c"), lib_omp, "-lm", "-o",
                    exe_omp[w.key]], "gcc -fopenmp (driver)")
    peak_exe = os.path.join(work, "peak")
    sh(["gcc"] + CFLAGS + ["-pthread", os.path.join(HERE, "peak.c"), "-o", peak_exe], "gcc (peak)")

    blas_flags = args.openblas_libs
    blas_note = ""
    if blas_flags is None:
        q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libopenblas-dev"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        if "install ok installed" in q.stdout:
            blas_flags = "-lopenblas"
        else:
            blas_note = ("OpenBLAS is not installed (Debian package libopenblas-dev): the GEMM rows show nnc"
                         " and torch.mm only, without the OpenBLAS comparison")
    gemm_exe = os.path.join(work, "gemm")
    if do_gemm:
        cmd = cc_rt + [os.path.join(HERE, "gemm.c"), lib, "-lm", "-o", gemm_exe]
        if blas_flags:
            cmd = cc_rt + ["-DHAVE_OPENBLAS", os.path.join(HERE, "gemm.c"), lib] + blas_flags.split() + ["-lm", "-o",
                                                                                                        gemm_exe]
        sh(cmd, "gcc (gemm)")
        sh(cc_rt + ["-fopenmp", os.path.join(HERE, "gemm.c"), lib_omp, "-lm", "-o", gemm_exe + "_omp"], "gcc (gemm omp)")
        if v3:
            sh(cc_v3 + [os.path.join(HERE, "gemm.c"), lib_v3, "-lm", "-o", gemm_exe + "_v3"], f"gcc -march={V3} (gemm)")

    # ---- data and weights --------------------------------------------------
    img = np.fromfile(MNIST_IMAGES, np.uint8)[16:].reshape(-1, 784).astype(np.float32) / 255.0
    lab = np.fromfile(MNIST_LABELS, np.uint8)[8:].astype(np.int32)
    text = np.fromfile(SHAKESPEARE, np.uint8)
    ids = np.searchsorted(np.unique(text), text).astype(np.int32)
    rng = np.random.default_rng(7)
    meta = {}
    for w in workloads:
        d = os.path.join(work, w.key)
        n = w.batch * w.nb
        if w.kind == "gpt":
            T = GPT["T"]
            starts = rng.integers(0, len(ids) - T - 1, n)
            x = np.stack([ids[s:s + T] for s in starts])
            y = np.stack([ids[s + 1:s + T + 1] for s in starts])
            io = [{"dtype": "I32", "shape": [w.batch, T]}, {"dtype": "I32", "shape": [w.batch, T]}]
        else:
            sel = rng.choice(len(img), n, replace=False)
            x, y = img[sel], lab[sel]
            shape = [w.batch, 1, 28, 28] if w.kind == "lenet" else [w.batch, 784]
            io = [{"dtype": "F32", "shape": shape}, {"dtype": "I32", "shape": [w.batch]}]
        prefix = os.path.join(d, "data")
        x.tofile(prefix + ".io0.bin")
        y.tofile(prefix + ".io1.bin")
        weights = os.path.join(d, "w.safetensors")
        sh([exe[w.key], "init", str(SEED), weights], "driver init")
        meta[w.key] = {"data": prefix, "weights": weights, "io": io}

    # ---- PyTorch workers ----------------------------------------------------
    workers = {name: Worker(name, python) for name in WORKERS}
    peers_ = {}  # name -> Worker of the venv peers
    if args.peers_python:
        for name in filter(None, args.peers.split(",")):
            if name not in VENV_PEERS:
                sys.exit(f"bench: unknown peer '{name}' (--peers: {','.join(VENV_PEERS)})")
            peers_[name] = Worker(name, args.peers_python, VENV_PEERS[name][0])
            peers_[name + "@2"] = Worker(name + "@2", args.peers_python, VENV_PEERS[name][0], threads=2)
    try:
        info = workers["t1"].ask(cmd="info")
        print(f"PyTorch {info['torch']} ({python}); libraries it loaded: {', '.join(info['libs'])}")
        for lib_path in info["libs"]:
            if os.path.basename(lib_path).startswith("libblas"):
                pkg = subprocess.run(["dpkg", "-S", lib_path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True).stdout.split(":")[0]
                kind = ("OpenBLAS" if "openblas" in lib_path else
                        "the reference (netlib) BLAS, unoptimized" if "/blas/" in lib_path else "unknown")
                print(f"  PyTorch's BLAS (its Linear layers and torch.mm): {lib_path}"
                      f"{' from package ' + pkg if pkg else ''} = {kind}")
        print("  PyTorch settings: " + "; ".join(
            f"{WORKERS[n][2]}" + (f" with OMP_NUM_THREADS={WORKERS[n][0]['OMP_NUM_THREADS']}"
                                  if WORKERS[n][0]["OMP_NUM_THREADS"] else " (OMP_NUM_THREADS unset)")
            for n in WORKERS) + "; each with OPENBLAS_NUM_THREADS = its thread count (in case torch calls OpenBLAS)")
        for name, wk in workers.items():
            if name != "t1":
                i = wk.ask(cmd="info")
                if i["threads"] != wk.threads:
                    print(f"  note: worker {name} asked for {wk.threads} threads, torch reports {i['threads']}")
        peers_info(peers_)
        for w in workloads:
            m = meta[w.key]
            for name, wk in list(workers.items()) + list(peers_.items()):
                if peer_runs(name, w):
                    wk.ask(cmd="load", name=w.key, kind=w.kind, nb=w.nb, weights=m["weights"], data=m["data"],
                           io=m["io"], cfg=peer_cfg(w))

        # ---- peak -----------------------------------------------------------
        print("-" * 100)
        measured, by_isa = {}, {}
        for t in (1, 2):
            out = sh([peak_exe, str(t), str(reps), str(min_s)], "peak")
            best = None
            for line in out.splitlines():
                f = line.split()
                vals = [float(v) for v in f[3:]]
                med, lo, hi = median_minmax(vals)
                print(f"peak FMA {f[1]:6s} {t} thread{'s' if t > 1 else ' '}: {med:7.1f} GFLOP/s"
                      f" (min-max {lo:.1f}-{hi:.1f}; per CPU second of each thread)")
                best = med if best is None else max(best, med)
                by_isa[f[1], t] = med
            measured[t] = best
        # the ceilings of the rows: native 1 thread, native 2 threads, the x86-64-v3 build (AVX2, 1 thread)
        peak = {1: measured[1], 2: 2 * measured[1], V3: by_isa.get(("avx2", 1))}
        print(f"% of peak below: 1-thread rows against the one-core peak {peak[1]:.1f} GFLOP/s, 2-thread rows against"
              f" twice that, {peak[2]:.1f}" + (f"; the {V3} rows against the AVX2 peak {peak[V3]:.1f}"
                                               if v3 and peak[V3] else "") + ".")
        print(f"  two threads at once reached {measured[2] / measured[1]:.2f}x one core"
              + ("" if measured[2] > 1.8 * measured[1] else
                 ": the two threads share one core's FMA units (2-thread numbers suffer)"))

        # ---- correctness guard ----------------------------------------------
        print("-" * 100)
        print(f"correctness guard (same weights, same batches; relative tolerance {TOL:g}):")
        ok = {}
        for w in workloads:
            m = meta[w.key]
            out_pt = os.path.join(work, w.key, "out_torch.bin")
            lt = workers["t1"].ask(cmd="check", name=w.key, out=out_pt)["loss"]
            b = np.fromfile(out_pt, np.float32)
            for build, ex in (("native", exe), (V3, exe_v3)):
                if w.key not in ex:
                    continue
                out_nnc = os.path.join(work, w.key, f"out_nnc_{build}.bin")
                text_ = sh([ex[w.key], "check", str(SEED), m["data"], str(w.nb), out_nnc], "driver check")
                ln = [float(v) for v in re.findall(r"^loss\d (\S+)$", text_, re.M)]
                a = np.fromfile(out_nnc, np.float32)
                out_err = (float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) if a.shape == b.shape
                           else float("inf"))
                errs = [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(ln, lt)]
                good = len(errs) == 2 and all(e <= TOL for e in errs) and out_err <= TOL
                ok[w.key, build] = good
                if not good:
                    status = 1
                print(f"  {w.title:34s} {build:9s} first-step loss nnc {ln[0]:.7f} PyTorch {lt[0]:.7f}"
                      f" rel {errs[0]:.1e}; second step rel {errs[1]:.1e}; forward output rel {out_err:.1e}"
                      f"  {'ok' if good else 'FAILED'}")
                if build == "native":
                    for name, good in peers_guard(peers_, w, work, a, ln).items():
                        ok[w.key, name] = good
                        status |= 0 if good else 1

        # ---- timing ---------------------------------------------------------
        rows = []  # (workload title, unit, threads, impl, [per-repeat values], flops per value unit, is_nnc, ratio)
        for w in workloads:
            m = meta[w.key]
            print(f"timing {w.title} ...", file=sys.stderr, flush=True)
            args_ = ["serve", w.mode, str(SEED), m["data"], str(w.nb)]
            timers = {"nnc": DriverTimer([exe[w.key]] + args_, "driver"),
                      "nnc2": DriverTimer([exe_omp[w.key]] + args_, "driver (OpenMP)", env=OMP2)}
            if v3:
                timers["v3"] = DriverTimer([exe_v3[w.key]] + args_, f"driver ({V3})")
            for name, wk in workers.items():
                timers["pt:" + name] = WorkerTimer(wk, w)
            for name, wk in peers_.items():
                if peer_runs(name, w):
                    timers["peer:" + name] = WorkerTimer(wk, w)
            r = interleaved(timers, reps, min_s, warm_s)
            r_pt = {name: r["pt:" + name] for name in workers}
            r_peers = {name: (wk.label, r["peer:" + name], ok[w.key, name], wk.threads)
                       for name, wk in peers_.items() if peer_runs(name, w)}
            rows.append(result_rows(w, r["nnc"], r.get("v3"), r["nnc2"], r_pt, ok[w.key, "native"],
                                    ok.get((w.key, V3)), r_peers))

        gemm_rows = []
        if do_gemm:
            print("-" * 100)
            for title, ta, tb, M, N, K in GEMMS:
                print(f"timing {title} ...", file=sys.stderr, flush=True)
                shape = [str(v) for v in (ta, tb, M, N, K)]
                res = {}
                out = sh([gemm_exe, "nnrt", "1", str(min_s), str(reps), str(warm_s)] + shape, "gemm")
                res["nnrt"] = (parse_reps(out), float(re.search(r"^check (\S+)", out, re.M).group(1)),
                               re.search(r"^isa (\S+)", out, re.M).group(1))
                out = sh([gemm_exe + "_omp", "nnrt", "2", str(min_s), str(reps), str(warm_s)] + shape, "gemm omp",
                         env=OMP2)
                res["nnrt2"] = (parse_reps(out), float(re.search(r"^check (\S+)", out, re.M).group(1)))
                if v3:
                    out = sh([gemm_exe + "_v3", "nnrt", "1", str(min_s), str(reps), str(warm_s)] + shape, "gemm v3")
                    res["nnrt_v3"] = (parse_reps(out), float(re.search(r"^check (\S+)", out, re.M).group(1)),
                                      re.search(r"^isa (\S+)", out, re.M).group(1))
                if blas_flags:
                    for t in (1, 2):
                        out = sh([gemm_exe, "openblas", str(t), str(min_s), str(reps), str(warm_s)] + shape, "gemm")
                        res[f"openblas{t}"] = (parse_reps(out), float(re.search(r"^check (\S+)", out, re.M).group(1)))
                for name in ("t1", "t2", "t2omp1"):
                    r = workers[name].ask(cmd="mm", shape=[ta, tb, M, N, K], min_s=min_s, reps=reps, warm_s=warm_s)
                    res["mm_" + name] = (r["reps"], r["check"])
                gemm_rows.append(((title, ta, tb, M, N, K), res))
    finally:
        for wk in list(workers.values()) + list(peers_.values()):
            wk.close()

    status |= print_table(rows, gemm_rows, workers, peak, blas_flags, blas_note)
    if not only or "compile" in only:
        compile_times(nnc, work, 3 if args.quick else 5)
    if not only or "int8" in only:
        int8_rows(nnc, lib, work, reps, min_s, warm_s)
    if not only or "dispatch" in only:
        dispatch_rows(lib, work, reps, min_s if args.quick else 0.2, warm_s if args.quick else 0.1)
    wall = time.time() - t_start
    others = (cpu_busy_seconds() - busy_start - (own_cpu_seconds() - own_start)) / wall
    print(f"other processes on this machine used {max(others, 0):.2f} of its {os.cpu_count()} CPUs on average"
          f" during the run" + (" (numbers are not from an idle machine)" if others > 0.25 else ""))
    print(f"total run time {wall:.0f} s")
    return status


# The dispatch rows (--only dispatch): libnnrt's default build, whose
# nnrt_sgemm picks its AVX-512, AVX2+FMA or portable C kernels at run time
# (runtime/gemm_dispatch.c), against the same GEMM built with
# `make NNRT_ARCH=-march=native` (into BUILD/bench/native/), on the shapes
# the examples' models run through nnrt_sgemm, 1 thread. The two programs
# (bench/gemm.c) alternate, one repeat each, so that the machine's drift
# falls on both; a row whose best time is over 5% above native's best is flagged.
DISPATCH_GEMMS = [  # (title, ta, tb, M, N, K)
    ("MLP B=1 layer 1", 0, 1, 1, 128, 784), ("MLP layer 1", 0, 1, 64, 128, 784),
    ("MLP layer 2", 0, 1, 64, 128, 128), ("MLP logits", 0, 1, 64, 10, 128),
    ("MLP logits dX", 0, 0, 64, 128, 10), ("MLP logits dW", 1, 0, 10, 128, 64),
    ("MLP layer 1 dW", 1, 0, 128, 784, 64), ("LeNet dense 1", 0, 1, 64, 120, 400),
    ("LeNet dense 1 dW", 1, 0, 120, 400, 64)]
DISPATCH_SLOWER = 1.05


def dispatch_rows(lib, work, reps, min_s, warm_s):
    """Print the dispatch table; 1 if a row is over DISPATCH_SLOWER."""
    native = os.path.join(work, "native")
    lib_native = os.path.join(native, "libnnrt.a")
    sh(["make", "-s", "-C", ROOT, f"B={native}", "NNRT_ARCH=-march=native", lib_native], "make NNRT_ARCH")
    exe = {}
    for name, lb in (("dispatch", lib), ("native", lib_native)):
        exe[name] = os.path.join(work, "gemm_" + name)
        sh(["gcc"] + CFLAGS + ["-I" + os.path.join(ROOT, "runtime"), os.path.join(HERE, "gemm.c"), lb, "-lm", "-o",
                               exe[name]], "gcc (gemm " + name + ")")
    rounds = max(reps, 11) if reps > 2 else reps
    print("-" * 100)
    print(f"nnrt_sgemm, runtime dispatch (default libnnrt) against -march=native, 1 thread, best of {rounds}"
          " interleaved repeats")
    print(f"{'shape':<34s} {'isa':>8s} {'dispatch GF/s':>14s} {'native GF/s':>12s} {'time ratio':>10s}")
    flagged = 0
    for title, ta, tb, M, N, K in DISPATCH_GEMMS:
        rate, isa = {"dispatch": [], "native": []}, "?"
        for r in range(rounds):
            for name in (("dispatch", "native") if r % 2 == 0 else ("native", "dispatch")):
                out = sh([exe[name], "nnrt", "1", str(min_s), "1", str(warm_s), str(ta), str(tb), str(M), str(N),
                          str(K)], "gemm " + name)
                isa = re.search(r"^isa (\S+)", out, re.M).group(1) if name == "dispatch" else isa
                rate[name] += [it * 2 * M * N * K / sec / 1e9 for it, sec in parse_reps(out)]
        # the best repeat of each: both run the same kernels, and what a shared machine adds
        # (another guest, a frequency drop) only slows a repeat down
        d, n = max(rate["dispatch"]), max(rate["native"])
        slow = n / d > DISPATCH_SLOWER
        flagged |= slow
        shape = f"{title} {M}x{N}x{K} {'T' if ta else 'N'}{'T' if tb else 'N'}"
        print(f"{shape:<34s} {isa:>8s} {d:14.1f} {n:12.1f} {n / d:10.3f}" + ("  OVER 5% SLOWER" if slow else ""))
    print("time ratio: dispatch time / native time (best GFLOP/s of native / of dispatch); over"
          f" {DISPATCH_SLOWER:.2f} is flagged")
    return flagged


# The int8 rows (--only int8): nnc --quantize int8 against the f32
# --weights build of the same trained weights, 1 thread, -march=native, at
# batch 1 (us/call) and 256 (examples/s). Weights: 1 epoch of the model's
# calibrating trainer (--main --quantize int8) on the first 8,000 MNIST
# test images, which it then calibrates on; the last 2,000 are the held-out
# images whose classes both builds must give (agreement printed).
INT8_MODELS = [("MLP 784-128-128-10", "mlp.nn", [784]), ("LeNet-5", "lenet_sgd.nn", [1, 28, 28])]


def int8_build(nnc, lib, d, nn, batch, quant):
    """The f32 or int8 (quant: the calibration file) --weights build at
    batch, with bench/driver.c: the executable's path."""
    name = f"i8_{batch}_{'q' if quant else 'f'}"
    cfile = os.path.join(d, name + ".c")
    cmd = [nnc, "-D", f"B={batch}", nn, "--weights", os.path.join(d, "w.safetensors"), "--name", name, "-o", cfile]
    sh(cmd + (["--quantize", "int8", "--calibrate", quant] if quant else []), "nnc (int8 bench)")
    exe = os.path.join(d, name)
    sh(["gcc"] + CFLAGS + ["-I" + os.path.join(ROOT, "runtime"), "-I" + d, f"-DMODEL={name}", "-DHAS_TRAIN=0",
                           "-include", os.path.join(d, name + ".h"), os.path.join(HERE, "driver.c"), cfile, lib,
                           "-lm", "-o", exe], "gcc (int8 bench driver)")
    return exe


def int8_model(nnc, lib, work, title, nn_file, shape, timing, img):
    """Train, calibrate, build and time one model: its result lines."""
    d = os.path.join(work, "int8_" + nn_file.split(".")[0])
    os.makedirs(d)
    nn, trainer = os.path.join(HERE, nn_file), os.path.join(d, "trainer")
    sh([nnc, nn, "--main", "--quantize", "int8", "-o", trainer + ".c"], "nnc --main --quantize int8")
    sh(["gcc"] + CFLAGS + ["-I" + os.path.join(ROOT, "runtime"), trainer + ".c", lib, "-lm", "-o", trainer], "gcc")
    data = ["--data", MNIST_IMAGES, "--labels", MNIST_LABELS, "--val-split", "0.2"]
    sh([trainer, "train", "--epochs", "1", "--seed", "1", "--save", os.path.join(d, "w.safetensors")] + data, "train")
    calib = os.path.join(d, "calib.safetensors")
    sh([trainer, "calibrate", "--split", "train", "--load", os.path.join(d, "w.safetensors"), "--out", calib] + data,
       "calibrate")
    lines = []
    for batch, nb in ((1, 64), (256, 4)):
        prefix = os.path.join(d, f"data{batch}")
        x = img[-batch * nb:] if batch * nb <= 2000 else img[-2000:][:batch * nb]
        x.reshape([batch * nb] + shape).tofile(prefix + ".io0.bin")
        res, cls = {}, {}
        for kind, quant in (("f32", None), ("int8", calib)):
            exe = int8_build(nnc, lib, d, nn, batch, quant)
            res[kind] = parse_reps(sh([exe, "time", "forward", str(SEED), prefix, str(nb)] + timing, "driver time"))
            out = os.path.join(d, f"out{batch}_{kind}.bin")
            sh([exe, "check", str(SEED), prefix, str(nb), out], "driver check")
            cls[kind] = np.fromfile(out, np.float32).reshape(batch, -1).argmax(1)
        lines.append((f"{title} B={batch}", "us/call" if batch == 1 else "examples/s", batch, res,
                      float((cls["f32"] == cls["int8"]).mean() * 100)))
    return lines


def int8_rows(nnc, lib, work, reps, min_s, warm_s):
    """Print the int8 table."""
    img = np.fromfile(MNIST_IMAGES, np.uint8)[16:].reshape(-1, 784).astype(np.float32) / 255.0
    timing = [str(min_s), str(reps), str(warm_s)]
    print("=" * 100)
    print("int8 (nnc --quantize int8) against f32 (nnc --weights), the same trained weights; 1 thread, -march=native")
    print(f"{'workload':28s} {'unit':10s} {'f32 median':>11s} {'min - max':>19s} {'int8 median':>11s}"
          f" {'min - max':>19s} {'int8/f32':>8s} {'same class':>10s}")
    for title, nn_file, shape in INT8_MODELS:
        print(f"timing int8 {title} ...", file=sys.stderr, flush=True)
        for name, unit, batch, res, agree in int8_model(nnc, lib, work, title, nn_file, shape, timing, img):
            v = {}
            for kind, r in res.items():
                v[kind] = [t / n * 1e6 for n, t in r] if batch == 1 else [n * batch / t for n, t in r]
            mf, lf, hf = median_minmax(v["f32"])
            mq, lq, hq = median_minmax(v["int8"])
            speed = mf / mq if batch == 1 else mq / mf
            print(f"{name:28s} {unit:10s} {fmt_num(mf):>11s} {fmt_num(lf) + ' - ' + fmt_num(hf):>19s}"
                  f" {fmt_num(mq):>11s} {fmt_num(lq) + ' - ' + fmt_num(hq):>19s} {speed:7.2f}x {agree:9.1f}%")
    print("int8/f32 > 1: int8 faster; same class: the argmax of both builds on the first batch of the held-out images")


def compile_times(nnc, work, reps):
    """nnc's own time per example (median of reps runs) and gcc -O2 on its output (one run)."""
    d = os.path.join(work, "compile")
    os.makedirs(d, exist_ok=True)
    print("compile times (targets: nnc under 100 ms, gcc -O2 under 10 s per example):")
    worst_nnc = worst_cc = 0.0
    for nn in sorted(glob.glob(os.path.join(ROOT, "examples", "*.nn"))):
        name = os.path.splitext(os.path.basename(nn))[0]
        out = os.path.join(d, name + ".c")
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            sh([nnc, nn, "--main", "-o", out], "nnc")
            ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sh(["gcc", "-std=c99", "-O2", "-I" + os.path.join(ROOT, "runtime"), "-c", out, "-o", out + ".o"], "gcc -O2")
        tc = time.perf_counter() - t0
        worst_nnc, worst_cc = max(worst_nnc, statistics.median(ts)), max(worst_cc, tc)
        print(f"  {name:14s} nnc {1e3 * statistics.median(ts):6.1f} ms (min {1e3 * min(ts):.1f})"
              f"   gcc -O2 {tc:5.2f} s   {os.path.getsize(out) // 1024} KiB of C")
    print(f"  slowest: nnc {1e3 * worst_nnc:.1f} ms, gcc -O2 {worst_cc:.2f} s"
          + ("" if worst_nnc < 0.1 and worst_cc < 10 else "  ** over target **"))


def result_rows(w, r_nnc, r_v3, r_nnc2, r_pt, ok, ok_v3, r_peers):
    """Per-repeat values in the workload's unit, and the rows of the table."""
    def values(reps_):
        if w.unit == "us/call":
            return [1e6 * t / n for n, t in reps_]
        return [n * w.items_per_call / t for n, t in reps_]

    v_pt = {k: values(v) for k, v in r_pt.items()}
    # the best 2-thread PyTorch setting: the one with the best median throughput
    def thr(vals):  # throughput (higher is better) from the unit
        med = statistics.median(vals)
        return 1 / med if w.unit == "us/call" else med
    best2 = max(("t2", "t2omp1"), key=lambda k: thr(v_pt[k]))
    return {"w": w, "nnc": values(r_nnc), "v3": values(r_v3) if r_v3 else None, "nnc2": values(r_nnc2),
            "pt": v_pt, "best2": best2, "ok": ok, "ok_v3": ok_v3,
            "peers": {name: (label, values(reps_), good, t) for name, (label, reps_, good, t) in r_peers.items()}}


def gflops(w, med):
    per_s = 1e6 / med if w.unit == "us/call" else med  # items per second
    return per_s * w.flops_per_item / 1e9


NNC2 = "-fopenmp, OMP_NUM_THREADS=2"


class Table:
    """The result table: one line() per row; rows whose FLOP rate exceeds
    their peak are marked '!' and listed by warnings()."""
    WT, WU, WI = 30, 10, 44

    def __init__(self, peak):
        self.peak, self.over, self.group = peak, [], ""
        self.width = self.WT + self.WU + self.WI + 3 + 9 + 17 + 8 + 8 + 7 + 7 + 12

    def head(self):
        print("=" * self.width)
        print(f"{'workload':{self.WT}s} {'unit':{self.WU}s} {'thr':>3s}  {'implementation':{self.WI}s} {'median':>9s}"
              f"  {'min - max':>17s}  {'nnc/peer':>8s} {'v3/peer':>8s} {'GFLOP/s':>7s} {'%peak':>7s}")
        print("-" * self.width)

    def line(self, title, unit, t, impl, vals=None, gf=None, ratio=None, ratio_v3=None, pk=None):
        """pk: the row's peak (default: the native one for its thread count)."""
        if vals is None:  # a peer that is not there
            print(f"{title:{self.WT}s} {unit:{self.WU}s} {t:>3d}  {impl:{self.WI}s} {'-':>9s}  {'-':>17s}"
                  f"  {'n/a':>8s}")
            return
        med, lo, hi = median_minmax(vals)

        def rs(r):
            return r if isinstance(r, str) else (f"{r:.2f}x" if r is not None else "")
        pk = pk or self.peak[t]
        self.group = title.strip() or self.group
        mark = "!" if gf > pk else " "
        if gf > pk:
            self.over.append(f"{self.group}, {impl}: {gf:.1f} GFLOP/s, above the peak {pk:.1f}")
        print(f"{title:{self.WT}s} {unit:{self.WU}s} {t:>3d}  {impl:{self.WI}s} {fmt_num(med):>9s}  "
              f"{fmt_num(lo) + ' - ' + fmt_num(hi):>17s}  {rs(ratio):>8s} {rs(ratio_v3):>8s} {gf:7.1f}"
              f" {100 * gf / pk:5.1f}%{mark}")

    def warnings(self):
        for o in self.over:
            print("WARNING: a row runs faster than the measured FMA peak (the peak loop, or the FLOP count, is"
                  " wrong): " + o)


def workload_rows(tab, r):
    """The rows of one workload: nnc native and x86-64-v3 against PyTorch on
    1 thread, nnc's OpenMP build against PyTorch's best 2-thread setting."""
    w = r["w"]

    def ratio(nnc_vals, vals, good):
        if not good:
            return "n/a*"
        m, mn = statistics.median(vals), statistics.median(nnc_vals)
        return m / mn if w.unit == "us/call" else mn / m  # > 1: nnc faster

    for t in (1, 2):
        v_nnc = r["nnc"] if t == 1 else r["nnc2"]
        tab.line(w.title if t == 1 else "", w.unit if t == 1 else "", t,
                 "nnc -march=native" if t == 1 else f"nnc ({NNC2})", v_nnc, gflops(w, statistics.median(v_nnc)))
        if t == 1 and r["v3"]:
            tab.line("", "", t, f"nnc -march={V3}", r["v3"], gflops(w, statistics.median(r["v3"])), pk=tab.peak[V3])
        key = "t1" if t == 1 else r["best2"]
        peers = [("PyTorch, " + WORKERS[key][2] + (" (best)" if t == 2 else ""), r["pt"][key], True)]
        peers += [(label, vals, good) for label, vals, good, pt in r["peers"].values() if pt == t]
        for impl, vals, good in peers:
            rv3 = ratio(r["v3"], vals, r["ok_v3"] and good) if t == 1 and r["v3"] else None
            tab.line("", "", t, impl, vals, gflops(w, statistics.median(vals)), ratio(v_nnc, vals, r["ok"] and good),
                     rv3)
    print("-" * tab.width)


def best_peer(r, t=1):
    """The peer on t threads with the best median throughput (Debian's
    PyTorch, its best 2-thread setting for t = 2, and the venv peers that
    passed the guard): (label, median)."""
    w = r["w"]
    key = "t1" if t == 1 else r["best2"]
    cands = [("PyTorch, " + WORKERS[key][2], r["pt"][key])]
    cands += [(label, vals) for label, vals, good, pt in r["peers"].values() if good and pt == t]

    def thr(vals):
        m = statistics.median(vals)
        return 1 / m if w.unit == "us/call" else m
    label, vals = max(cands, key=lambda c: thr(c[1]))
    return label, statistics.median(vals)


def gemm_rows_print(tab, shape, res, blas_flags):
    """The rows of one GEMM shape: nnrt_sgemm (native, x86-64-v3, OpenMP)
    against OpenBLAS and torch.mm."""
    title, ta, tb, M, N, K = shape
    flop = 2.0 * M * N * K

    def rate(key):
        return [n * flop / t_ / 1e9 for n, t_ in res[key][0]]
    for t in (1, 2):
        v_nnc = rate("nnrt" if t == 1 else "nnrt2")
        med_nnc = statistics.median(v_nnc)
        med_v3 = statistics.median(rate("nnrt_v3")) if t == 1 and "nnrt_v3" in res else None
        tab.line(title if t == 1 else "", "GFLOP/s" if t == 1 else "", t,
                 f"nnrt_sgemm ({res['nnrt'][2]})" if t == 1 else f"nnrt_sgemm ({NNC2})", v_nnc, med_nnc)
        if med_v3:
            tab.line("", "", t, f"nnrt_sgemm -march={V3} ({res['nnrt_v3'][2]})", rate("nnrt_v3"), med_v3,
                     pk=tab.peak[V3])
        peers = []
        if blas_flags:
            peers.append((f"OpenBLAS cblas_sgemm, {t} thread{'s' if t > 1 else ''}", rate(f"openblas{t}")))
        keys = ["mm_t1"] if t == 1 else ["mm_t2", "mm_t2omp1"]
        k = max(keys, key=lambda k_: statistics.median(rate(k_)))
        peers.append(("torch.mm, " + WORKERS[k[3:]][2] + (" (best)" if t == 2 else ""), rate(k)))
        if not blas_flags:
            tab.line("", "", t, "OpenBLAS: not installed")
        for lbl, v in peers:
            m = statistics.median(v)
            tab.line("", "", t, lbl, v, m, med_nnc / m, med_v3 / m if med_v3 else None)
    print("-" * tab.width)


def print_table(rows, gemm_rows, workers, peak, blas_flags, blas_note):
    status = 0
    tab = Table(peak)
    tab.head()
    notes = []
    for r in rows:
        w = r["w"]
        workload_rows(tab, r)
        other = "t2omp1" if r["best2"] == "t2" else "t2"
        notes.append(f"{w.title}: {WORKERS[r['best2']][2]} {fmt_num(statistics.median(r['pt'][r['best2']]))}, "
                     f"{WORKERS[other][2]} {fmt_num(statistics.median(r['pt'][other]))} {w.unit}")
        if not r["ok"] or r["ok_v3"] is False:
            status = 1
    for shape, res in gemm_rows:
        gemm_rows_print(tab, shape, res, blas_flags)
        errs = [res[k][1] for k in res]
        if max(errs) > TOL:
            status = 1
            notes.append(f"{shape[0]}: a result disagrees with float64 by {max(errs):.1e} (> {TOL:g})")
    print("median/min-max: per-repeat throughput in the unit shown (us/call: lower is better; every other unit:"
          " higher is better).")
    print("nnc/peer, v3/peer: the median throughput of nnc -march=native (nnrt_sgemm for GEMMs), and of its"
          f" -march={V3} build, over the peer's (PyTorch, OpenBLAS or torch.mm) in the same row group;"
          " > 1 means nnc is faster.")
    print("GFLOP/s: analytic matmul/conv FLOPs (2MNK each; training = 3x forward less the first layer's input"
          " gradient) / time;"
          " %peak: of the measured one-core FMA peak, x2 on 2-thread rows; the"
          f" {V3} rows of the AVX2 peak; '!': above it.")
    print("2-thread rows: nnc's generated code compiled with -fopenmp and linked against libnnrt built with"
          " `make OPENMP=1`, run with OMP_NUM_THREADS=2 (nnrt_sgemm splits products of >= 2^20 multiply-adds);")
    print("PyTorch's 2-thread row is the better of its two settings (OMP=1: OMP_NUM_THREADS=1 in its environment);"
          " medians of both:")
    for n in notes:
        print("  " + n)
    for t in (1, 2):
        print(f"best {t}-thread peer per workload, and nnc's ratio to it"
              + (" (native, x86-64-v3):" if t == 1 else f" (nnc {NNC2}):"))
        for r in rows:
            label, med = best_peer(r, t)
            w = r["w"]

            def rel(vals):
                m = statistics.median(vals)
                return med / m if w.unit == "us/call" else m / med
            print(f"  {w.title}: {label} {fmt_num(med)} {w.unit}; nnc {rel(r['nnc' if t == 1 else 'nnc2']):.2f}x"
                  + (f", x86-64-v3 {rel(r['v3']):.2f}x" if r["v3"] and t == 1 else ""))
    if any(not r["ok"] or r["ok_v3"] is False for r in rows):
        print("n/a*: the correctness guard failed for this workload: nnc and PyTorch did not compute the same"
              " thing, no ratio given")
    if gemm_rows:
        worst = max(max(res[k][1] for k in res) for _, res in gemm_rows)
        print(f"GEMM results checked against float64 (sampled for nnrt/OpenBLAS): worst relative error {worst:.1e}")
    tab.warnings()
    if blas_note:
        print("NOTE: " + blas_note + ".")
    return status


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main()
    else:
        sys.exit(main())
