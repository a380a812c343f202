#!/usr/bin/python3
"""test_parity.py — nnc-generated C against PyTorch, case by case.

For each case: compile the .nn model with nnc into a temporary folder, build
tests/parity/harness.c against it, write one batch as IO.safetensors, and run

    harness init SEED W      the initial parameters nnc's initializers made
    harness grads SEED IO G  loss, loss_v, grad.<param>, out.<output>
    harness train SEED IO 10 T   loss.<k> of 10 optimizer steps, final params
                                 (and state buffers), out.<output> after them

Then build the same model in PyTorch with the same parameter names, load W,
and compare: loss, every gradient and every output after one
forward/backward, then the loss of every step and every parameter and
buffer after 10 steps of the torch.optim optimizer with the model's
hyper-parameters.

Cases with modes=True (dropout, batch norm: the model differs between
training and inference) compare _loss_v and the outputs with the torch
model in eval() mode, after the one training pass of `grads` (which moved
the running statistics once), and also the outputs after the 10 steps.

The relative error of a tensor is max|ours - torch| / max(max|torch|, 1e-12);
it must stay below 1e-4 in float32 (1e-9 for the --dtype=f64 variants, which
are compared with PyTorch in float64). A float32 parameter beyond 1e-4 after
the 10 steps is judged against PyTorch float64 (see NOISE_FLOOR_X).

Usage: /usr/bin/python3 tests/parity/test_parity.py [--nnc build/nnc]
           [--lib build/libnnrt.a] [--keep] [-v] [CASE...]
Prints one `PASS name ...` or `FAIL name: why` line per case and
`parity: N passed, M failed`; exits 1 if any case failed.
"""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import st  # noqa: E402

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:  # the suite needs Debian's python3-torch
    print(f"FAIL parity: cannot import torch ({exc}); run with /usr/bin/python3")
    print("parity: 0 passed, 1 failed")
    sys.exit(1)

STEPS = 10
TOL = {"f32": 1e-4, "f64": 1e-9}

# ---- the PyTorch side of every model --------------------------------------
#
# Each model is an nn.Module whose state_dict names are nnc's parameter names
# and whose forward(io) returns (loss or None, {output name: tensor}).


class Coffee(nn.Module):  # examples/coffee.nn
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, 1))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, io):
        return None, {"p": torch.sigmoid(io["x"] @ self.w + self.b)}


class Xor(nn.Module):  # examples/xor.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(2, 4)
        self.p = nn.Linear(4, 1)

    def forward(self, io):
        p = torch.sigmoid(self.p(torch.tanh(self.h(io["x"]))))
        return F.mse_loss(p, io["y"]), {"p": p}


class DigitsMLP(nn.Module):  # examples/digits_mlp.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.logits = nn.Linear(128, 10)

    def forward(self, io):
        logits = self.logits(self.h(io["image"]))
        return F.cross_entropy(logits, io["digit"].long()), {"probs": torch.softmax(logits, -1)}


class SgdNesterov(nn.Module):  # tests/parity/sgd_nesterov.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, io):
        h = self.h(io["x"])
        return F.mse_loss(h, io["y"]), {"p": h}


class Elementwise(nn.Module):  # tests/parity/elementwise.nn
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4, 4))
        self.s = nn.Parameter(torch.zeros(4))
        self.c = nn.Parameter(torch.zeros(4))

    def forward(self, io):
        a = (io["x"] @ self.w) * self.s + self.c
        sp = torch.log(1 + torch.exp(a))
        q = sp / (1 + torch.sigmoid(a)) - 0.25 * a
        r = torch.tanh(q) + torch.relu(-a) * 0.1 - torch.exp(-sp)
        d = r - io["y"]
        return (d * d).sum(dim=1).mean() / 2, {"out": r}


class NllAdamW(nn.Module):  # tests/parity/nll_adamw.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(6, 16)
        self.logits = nn.Linear(16, 5)

    def forward(self, io):
        logits = self.logits(torch.relu(self.h(io["x"])))
        lp = torch.log_softmax(logits, dim=-1)
        loss = -(lp * io["onehot"]).sum(dim=-1).mean()
        return loss, {"probs": torch.softmax(logits, dim=-1), "logp": lp}


class BceAdam(nn.Module):  # tests/parity/bce_adam.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(3, 6, bias=False)
        self.p = nn.Linear(6, 2)

    def forward(self, io):
        p = torch.sigmoid(self.p(torch.sigmoid(self.h(io["x"]))))
        return F.binary_cross_entropy(p, io["t"]), {"p": p}


class BceClamp(nn.Module):  # tests/parity/bce_clamp.nn
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.b = nn.Parameter(torch.zeros(2))

    def forward(self, io):
        p = torch.sigmoid(io["x"] * self.w + self.b)
        return F.binary_cross_entropy(p, io["t"]), {"p": p}


class SeqPool(nn.Module):  # tests/parity/seq_pool.nn with -D B=6 -D H=7
    def __init__(self, H=7):
        super().__init__()
        self.e = nn.Linear(5, H)
        self.logits = nn.Linear(H, 4)

    def forward(self, io):
        e = torch.tanh(self.e(io["x"]))
        logits = self.logits(e.mean(dim=1))
        outs = {"score": logits.sum(dim=-1), "total": logits.sum(), "avg": e.mean()}
        return F.cross_entropy(logits, io["label"].long()), outs


class Explicit(nn.Module):  # tests/parity/explicit.nn
    def __init__(self):
        super().__init__()
        shapes = {"w1": (3, 4), "b1": (4,), "g": (4,), "s": (1,), "w2": (4, 2), "lit": (2,),
                  "unused": (2,)}
        for k, shp in shapes.items():
            setattr(self, k, nn.Parameter(torch.zeros(shp)))

    def forward(self, io):
        z = (io["x"] @ self.w1 + self.b1) * self.g
        a = z / (self.s * self.s + 1) - self.b1
        yhat = torch.relu(a) @ self.w2 + self.lit
        loss = ((yhat - io["y"]) ** 2).mean(dim=0).mean()
        return loss, {"yhat": yhat, "aux": yhat * self.unused}


# ---- batches ---------------------------------------------------------------
#
# Each returns {io name: numpy array}, floats as float64 (cast to the case's
# dtype later) and labels as int32.


def batch_coffee(rng):
    return {"x": np.array([[5, 10], [9, 25]], np.float64)}


def batch_xor(rng):
    return {"x": np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64),
            "y": np.array([[0], [1], [1], [0]], np.float64)}


def batch_digits(rng, n=32):
    path = os.path.join(ROOT, "examples", "data", "digits", "digits_train.csv")
    data = np.loadtxt(path, delimiter=",", dtype=np.float64)
    rows = data[rng.choice(len(data), n, replace=False)]
    return {"image": rows[:, :64] / 16.0, "digit": rows[:, 64].astype(np.int32)}


def batch_regress(shape_x, shape_y):
    def make(rng):
        return {"x": rng.standard_normal(shape_x), "y": rng.standard_normal(shape_y)}
    return make


def batch_onehot(rng):
    labels = rng.integers(0, 5, 12)
    return {"x": rng.standard_normal((12, 6)), "onehot": np.eye(5)[labels]}


def batch_bce(rng):
    t = rng.uniform(0, 1, (10, 2))
    t[:5] = t[:5] > 0.5  # some hard 0/1 targets, some soft ones
    return {"x": rng.standard_normal((10, 3)) * 2, "t": t}


def batch_bce_clamp(rng):
    x = rng.standard_normal((6, 2))
    x[0] = [1000, -1000]  # sigmoid is exactly 1 and 0 here, in f32 and f64
    x[1] = [-2000, 3000]
    t = (rng.uniform(0, 1, (6, 2)) > 0.5).astype(np.float64)
    t[0] = [0, 1]  # wrong on purpose: log(1 - 1) and log(0) clamp to -100
    t[1] = [0.25, 1]  # a soft target on a saturated output
    return {"x": x, "t": t}


def batch_seq(rng):
    return {"x": rng.standard_normal((6, 3, 5)), "label": rng.integers(0, 4, 6).astype(np.int32)}


# ---- extra checks: each returns a list of problems -------------------------


def check_coffee(res):
    """The README's numbers: sigmoid(0.5) = 0.6225, sigmoid(-3) = 0.0474."""
    p = res["grads"]["out.p"].reshape(-1)
    known = [0.6225, 0.0474]
    exact = [1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(3))]
    errs = []
    for i in range(2):
        if abs(p[i] - known[i]) > 5e-5:
            errs.append(f"p[{i}] = {p[i]:.6f}, expected {known[i]} (sigmoid({[0.5, -3][i]}))")
        if abs(p[i] - exact[i]) > (1e-6 if res["dtype"] == "f32" else 1e-12):
            errs.append(f"p[{i}] = {p[i]:.9g}, exact value {exact[i]:.9g}")
    w = res["init"]
    if not (np.array_equal(w["w"].reshape(-1), np.array([-0.5, -0.1], w["w"].dtype))
            and np.array_equal(w["b"], np.array([4.0], w["b"].dtype))):
        errs.append(f"initial w, b are {w['w'].tolist()}, {w['b'].tolist()}, not the literals")
    res["note"] = f"known values |err| {max(abs(p[i] - known[i]) for i in range(2)):.1e}"
    return errs


def check_explicit(res):
    """The deterministic initializers: zeros, ones, a fill value, a literal."""
    w, errs = res["init"], []
    want = {"b1": np.zeros(4), "g": np.ones(4), "s": np.array([2.0]), "lit": np.array([0.1, -0.2]),
            "unused": np.array([1.5, 1.5])}
    for k, v in want.items():
        if not np.array_equal(w[k], v.astype(w[k].dtype)):
            errs.append(f"initial {k} is {w[k].tolist()}, expected {v.tolist()}")
    if not w["w1"].std() > 0 or not w["w2"].std() > 0:
        errs.append("initial w1/w2 are constant: he/glorot did not run")
    return errs


def check_bce_clamp(res):
    """The batch really saturates: some outputs are exactly 0 or 1 and the
    loss carries the clamped -100 terms."""
    p, loss = res["grads"]["out.p"], float(res["grads"]["loss"])
    if not (np.sum((p == 0) | (p == 1)) >= 4 and loss > 200 / p.size):
        return [f"the batch does not saturate sigmoid (p = {p[:2].tolist()}, loss {loss})"]
    return []


def check_seq(res):
    """-D B=6 -D H=7 reached the generated shapes."""
    w = res["init"]
    if w["e.weight"].shape != (7, 5) or w["logits.weight"].shape != (4, 7):
        return [f"-D H=7 not applied: e.weight {w['e.weight'].shape}, logits.weight {w['logits.weight'].shape}"]
    return []


# ---- modules shared by the family case files (tp.BatchNorm) ---------------


class BatchNorm(nn.Module):
    """nn.BatchNorm1d/2d(C, eps, momentum) without num_batches_tracked, which nnc
    does not keep: F.batch_norm, the call nn.BatchNorm1d/2d makes."""

    def __init__(self, C, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(C))
        self.bias = nn.Parameter(torch.zeros(C))
        self.register_buffer("running_mean", torch.zeros(C))
        self.register_buffer("running_var", torch.ones(C))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)


# ---- the cases -------------------------------------------------------------


class Case:
    """extra(cmp, train, opt, model): more comparisons after the 10 steps
    (the harness is built with -DSCHED_OUT=1: lr.<k>, gnorm.<k>, clipped.<p>);
    runner(case, tmp, nnc, lib, verbose): the whole case instead of the
    model comparison (no f64 variant)."""

    def __init__(self, name, nn_file, module, batch, optim=None, defines=None, seed=1,
                 check=None, dtype="f32", modes=False, extra=None, runner=None, nnc_args=None):
        self.nnc_args = nnc_args or []  # more nnc options, e.g. ["--objective", "d_loss"]
        self.name, self.nn_file, self.module, self.batch = name, nn_file, module, batch
        self.optim, self.defines, self.seed, self.check = optim, defines or {}, seed, check
        self.dtype, self.modes, self.extra, self.runner = dtype, modes, extra, runner


def _ex(f):
    return os.path.join(ROOT, "examples", f)


def _pt(f):
    return os.path.join(HERE, f)


BASE_CASES = [
    Case("coffee", _ex("coffee.nn"), Coffee, batch_coffee, check=check_coffee),
    Case("xor", _ex("xor.nn"), Xor, batch_xor,
         lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9), seed=1),
    Case("digits_mlp", _ex("digits_mlp.nn"), DigitsMLP, batch_digits,
         lambda p: torch.optim.Adam(p, lr=1e-3), seed=2),
    Case("sgd_nesterov", _pt("sgd_nesterov.nn"), SgdNesterov, batch_regress((16, 5), (16, 3)),
         lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0, nesterov=True,
                                   weight_decay=1e-3), seed=3),
    Case("elementwise", _pt("elementwise.nn"), Elementwise, batch_regress((8, 4), (8, 4)),
         lambda p: torch.optim.SGD(p, lr=0.3), seed=4),
    Case("nll_adamw", _pt("nll_adamw.nn"), NllAdamW, batch_onehot,
         lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.85, 0.995), eps=1e-7,
                                     weight_decay=0.05), seed=5),
    Case("bce_adam", _pt("bce_adam.nn"), BceAdam, batch_bce,
         lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6,
                                    weight_decay=0.01), seed=6),
    Case("bce_clamp", _pt("bce_clamp.nn"), BceClamp, batch_bce_clamp,
         lambda p: torch.optim.SGD(p, lr=0.1), seed=9, check=check_bce_clamp),
    Case("seq_pool", _pt("seq_pool.nn"), SeqPool, batch_seq,
         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.5, weight_decay=0.01),
         defines={"B": 6, "H": 7}, seed=7, check=check_seq),
    Case("explicit", _pt("explicit.nn"), Explicit, batch_regress((8, 3), (8, 2)),
         lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.5), seed=8, check=check_explicit),
]


def family_cases():
    """Cases of the op families: every tests/parity/cases_*.py defines CASES,
    a list of Case. It finds this module as the global `tp` (tp.Case, tp._pt,
    tp.batch_digits, ...), set before it runs."""
    import glob
    import importlib.util
    found = []
    for path in sorted(glob.glob(os.path.join(HERE, "cases_*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        mod.tp = sys.modules[__name__]
        spec.loader.exec_module(mod)
        found.extend(mod.CASES)
    return found


def all_cases():
    base = BASE_CASES + family_cases()
    cases = list(base)
    for c in base:  # the same models generated with --dtype=f64
        if not c.runner:
            cases.append(Case(c.name + "_f64", c.nn_file, c.module, c.batch, c.optim, c.defines,
                              c.seed, c.check, "f64", c.modes, c.extra, nnc_args=c.nnc_args))
            cases[-1].prefix = getattr(c, "prefix", None)
    return cases


# ---- running one case ------------------------------------------------------


class Failure(Exception):
    pass


def run(cmd, what):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        msg = p.stdout.strip().splitlines()
        tail = " | ".join(msg[-6:]) if msg else "(no output)"
        raise Failure(f"{what} exited with status {p.returncode}: {tail}")
    return p.stdout


def build(case, tmp, nnc, lib):
    base = os.path.splitext(os.path.basename(case.nn_file))[0]
    cfile = os.path.join(tmp, base + ".c")
    cmd = [nnc] + case.nnc_args
    for k, v in case.defines.items():
        cmd += ["-D", f"{k}={v}"]
    if case.dtype == "f64":
        cmd.append("--dtype=f64")
    run(cmd + [case.nn_file, "-o", cfile], "nnc")
    header = open(os.path.join(tmp, base + ".h")).read()
    m = re.search(r"^typedef struct (\w+) \1;", header, re.M)
    if not m:
        raise Failure(f"cannot find the model's typedef in {base}.h")
    prefix = getattr(case, "prefix", None) or m.group(1)  # a part of a one-file build: its prefix
    has = {
        "HAS_FORWARD": f"{prefix}_forward_v(" in header,
        "HAS_TRAIN": f"{prefix}_forward_backward_v(" in header,
        "HAS_LOSS": f"{prefix}_loss_v(" in header,
        "HAS_INPUT_GRAD": f"{prefix}_input_grad(" in header,
    }
    exe = os.path.join(tmp, "harness")
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(ROOT, "runtime"),
           "-I" + tmp, f"-DMODEL={prefix}", "-include", os.path.join(tmp, base + ".h")]
    cmd += [f"-D{k}={int(v)}" for k, v in has.items()]
    if case.dtype == "f64":
        cmd.append("-DREAL=double")
    if case.extra:
        cmd.append("-DSCHED_OUT=1")
    cmd += [os.path.join(HERE, "harness.c"), cfile, lib, "-lm", "-o", exe]
    run(cmd, "gcc")
    return exe, has


def rel_err(ours, ref):
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return math.inf
    if ref.size == 0:
        return 0.0
    if not (np.all(np.isfinite(ours)) and np.all(np.isfinite(ref))):
        return 0.0 if np.array_equal(ours, ref, equal_nan=True) else math.inf
    return float(np.max(np.abs(ours - ref)) / max(float(np.max(np.abs(ref))), 1e-12))


def describe(name, ours, ref):
    """Where the worst element of a mismatch is, for the FAIL line."""
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return f"{name}: shape {list(ours.shape)} vs torch {list(ref.shape)}"
    if ours.size == 0:
        return f"{name}: empty"
    d = np.abs(ours - ref).reshape(-1)
    d[np.isnan(d)] = np.inf
    k = int(np.argmax(d))
    at = f" at {list(map(int, np.unravel_index(k, ours.shape)))}" if ours.ndim else ""
    return (f"{name} rel {rel_err(ours, ref):.1e} (worst{at}: "
            f"ours {ours.reshape(-1)[k]:.9g}, torch {ref.reshape(-1)[k]:.9g})")


def get(tensors, key, what):
    """tensors[key], or a Failure naming the harness file that lacks it."""
    if key not in tensors:
        raise Failure(f"harness {what} wrote no tensor '{key}' (it has {sorted(tensors)})")
    return tensors[key]


# The noise floor of the parameters after STEPS optimizer steps. Adam
# divides each element's step by that element's own gradient magnitude, so
# where a gradient is near Adam's eps, float32 round-off in it moves the
# element by a share of lr, differently on the two sides. Where nnc float32
# and PyTorch float32 end more than the tolerance apart, both are measured
# against PyTorch in float64 from the same start: the tensor passes if nnc is
# within the tolerance of float64, or no farther from it than
# NOISE_FLOOR_X times PyTorch float32's own distance (the PASS line says
# so); otherwise the FAIL line shows the float32 comparison and both distances.
NOISE_FLOOR_X = 2.0


def train_steps(case, model, init, tio, npdt):
    """STEPS steps of the case's optimizer on model from nnc's initial
    weights (floats as npdt); (the optimizer, each step's loss)."""
    model.load_state_dict({k: torch.from_numpy(np.array(v, npdt if v.dtype.kind == "f" else v.dtype))
                           for k, v in init.items()})
    opt, losses = case.optim(list(model.parameters())), []
    for _ in range(STEPS):
        opt.zero_grad()
        loss, _ = model(tio)
        loss.backward()
        opt.step()
        losses.append(loss.detach().numpy())
    return opt, losses


def steps_f64(case, init, batch):
    """{name: float64 array}: the state dict after train_steps in float64."""
    model = case.module().to(torch.float64)
    tio = {k: torch.from_numpy(v if v.dtype == np.int32 else v.astype(np.float64)) for k, v in batch.items()}
    train_steps(case, model, init, tio, np.float64)
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


class Compare:
    """Collects relative errors by group and the mismatches beyond tol."""

    def __init__(self, tol):
        self.tol, self.groups, self.bad = tol, {}, []

    def add(self, group, name, ours, ref, tol=None):
        r = rel_err(ours, ref)
        self.groups[group] = max(self.groups.get(group, 0.0), r)
        if not r < (self.tol if tol is None else tol):
            self.bad.append((r, describe(name, ours, ref)))


def run_case(case, nnc, lib, keep, verbose):
    tmp = tempfile.mkdtemp(prefix=f"nnc-parity-{case.name}-")
    try:
        return (case.runner or _run_case)(case, tmp, nnc, lib, verbose)
    finally:
        if keep:
            print(f"  (files kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_case(case, tmp, nnc, lib, verbose):
    exe, has = build(case, tmp, nnc, lib)
    npdt = np.float32 if case.dtype == "f32" else np.float64
    tdt = torch.float32 if case.dtype == "f32" else torch.float64
    tol = TOL[case.dtype]

    rng = np.random.default_rng(1000 + case.seed)
    batch = {k: (v if v.dtype == np.int32 else v.astype(npdt)) for k, v in case.batch(rng).items()}
    io_path, w_path = os.path.join(tmp, "io.safetensors"), os.path.join(tmp, "w.safetensors")
    g_path, t_path = os.path.join(tmp, "grads.safetensors"), os.path.join(tmp, "train.safetensors")
    st.save(io_path, batch)
    run([exe, "init", str(case.seed), w_path], "harness init")
    run([exe, "grads", str(case.seed), io_path, g_path], "harness grads")
    res = {"init": st.load(w_path), "grads": st.load(g_path), "dtype": case.dtype}
    if has["HAS_TRAIN"]:
        run([exe, "train", str(case.seed), io_path, str(STEPS), t_path], "harness train")
        res["train"] = st.load(t_path)

    # PyTorch, from nnc's initial weights
    model = case.module().to(tdt)
    init = res["init"]
    sd = model.state_dict()
    if set(sd) != set(init):
        raise Failure(f"parameter names differ: nnc {sorted(init)}, torch {sorted(sd)}")
    for k, v in init.items():
        if tuple(sd[k].shape) != v.shape:
            raise Failure(f"parameter {k}: nnc shape {list(v.shape)}, torch {list(sd[k].shape)}")
        if v.dtype != npdt:
            raise Failure(f"parameter {k}: nnc saved {v.dtype}, expected {np.dtype(npdt)}")
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in init.items()})
    tio = {k: torch.from_numpy(np.array(v)) for k, v in batch.items()}

    cmp = Compare(tol)
    g = res["grads"]
    for k, v in tio.items():  # inputs declared requires_grad: d loss / d input (igrad.<name>)
        if "igrad." + k in g:
            v.requires_grad_(True)
    if case.modes and not has["HAS_TRAIN"]:
        model.eval()  # nnc ran no training pass
    loss, outs = model(tio)
    loss_v = loss
    if case.modes and has["HAS_TRAIN"]:  # _loss_v and _forward_v: inference, after one training pass
        model.eval()
        with torch.no_grad():
            loss_v, outs = model(tio)
        model.train()
    if has["HAS_FORWARD"]:
        for k, v in outs.items():
            cmp.add("out", "out." + k, get(g, "out." + k, "grads"), v.detach().numpy())
    if has["HAS_TRAIN"]:
        model.zero_grad()
        loss.backward()
        cmp.add("loss", "loss", get(g, "loss", "grads"), loss.detach().numpy())
        if "loss_v" in g:
            cmp.add("loss", "loss_v", g["loss_v"], loss_v.detach().numpy())
        for k, p in model.named_parameters():
            ref = p.grad.numpy() if p.grad is not None else np.zeros(p.shape)
            cmp.add("grad", "grad." + k, get(g, "grad." + k, "grads"), ref)
        for k, v in tio.items():
            if "igrad." + k in g:
                ref = v.grad.numpy() if v.grad is not None else np.zeros(v.shape)
                cmp.add("grad", "igrad." + k, g["igrad." + k], ref)
                v.requires_grad_(False)

        # STEPS optimizer steps on the same batch, from the same start
        opt, losses = train_steps(case, model, init, tio, npdt)
        t = res["train"]
        for step, loss in enumerate(losses):
            cmp.add("steploss", f"loss.{step}", get(t, f"loss.{step}", "train"), loss)
        after = {k: v.detach().numpy() for k, v in model.state_dict().items()}  # parameters and running statistics
        if case.extra:
            case.extra(cmp, t, opt, model)
        judge = None
        for k, ref in after.items():
            ours, label, limit = get(t, k, "train"), f"{k} after {STEPS} steps", tol
            if case.dtype == "f32" and not rel_err(ours, ref) < tol:
                judge = judge or steps_f64(case, init, batch)
                e_ours, e_torch = rel_err(ours, judge[k]), rel_err(ref, judge[k])
                what = f"against PyTorch float64: nnc {e_ours:.1e}, PyTorch float32 {e_torch:.1e}"
                if e_ours < max(tol, NOISE_FLOOR_X * e_torch):
                    ref, limit = judge[k], max(tol, NOISE_FLOOR_X * e_torch)
                    note = f"{k} at the float32 noise floor, {what}"
                    res["note"] = res["note"] + "; " + note if "note" in res else note
                else:
                    label += f" ({what}, not within {NOISE_FLOOR_X:g}x)"
            cmp.add("params", label, ours, ref, limit)
        if case.modes and has["HAS_FORWARD"]:  # inference with the state the 10 steps left
            model.eval()
            with torch.no_grad():
                _, outs = model(tio)
            model.train()
            for k, v in outs.items():
                cmp.add("out", f"out.{k} after {STEPS} steps", get(t, "out." + k, "train"), v.numpy())

    problems = [d for _, d in sorted(cmp.bad, key=lambda x: -x[0])]
    if case.check:
        problems += case.check(res)
    if problems:
        extra = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise Failure("; ".join(problems[:3]) + extra)

    gr = cmp.groups
    parts = []
    if "loss" in gr:
        parts.append(f"loss rel {gr['loss']:.1e}")
        parts.append(f"max grad rel {gr['grad']:.1e}")
    if "out" in gr:
        parts.append(f"out rel {gr['out']:.1e}")
    if "params" in gr:
        parts.append(f"params({STEPS} steps) rel {gr['params']:.1e}")
        parts.append(f"step losses rel {gr['steploss']:.1e}")
    for g in ("lr", "gnorm", "clipped"):  # cases with extra (cases_sched.py)
        if g in gr:
            parts.append(f"{g} rel {gr[g]:.1e}")
    if "note" in res:
        parts.append(res["note"])
    return "  ".join(parts)


def main():
    ap = argparse.ArgumentParser(description="nnc vs PyTorch parity tests")
    ap.add_argument("--nnc", default=os.path.join(ROOT, "build", "nnc"))
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "libnnrt.a"))
    ap.add_argument("--keep", action="store_true", help="keep each case's temporary folder")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("cases", nargs="*", help="case names to run (default: all)")
    args = ap.parse_args()
    nnc = os.path.abspath(args.nnc)
    lib = os.path.abspath(args.lib)
    for path in (nnc, lib):
        if not os.path.exists(path):
            print(f"FAIL parity: {path} does not exist (run `make all` first)")
            print("parity: 0 passed, 1 failed")
            return 1
    torch.set_num_threads(1)
    cases = all_cases()
    if args.cases:
        known = {c.name for c in cases}
        for n in args.cases:
            if n not in known:
                print(f"unknown case '{n}'; cases: {' '.join(sorted(known))}", file=sys.stderr)
                return 2
        cases = [c for c in cases if c.name in args.cases]
    passed = failed = 0
    t0 = time.time()
    for case in cases:
        try:
            summary = run_case(case, nnc, lib, args.keep, args.verbose)
            print(f"PASS {case.name}  {summary}", flush=True)
            passed += 1
        except Failure as exc:
            print(f"FAIL {case.name}: {exc}", flush=True)
            failed += 1
        except Exception as exc:  # a bug in the test itself: still one line per case
            print(f"FAIL {case.name}: {type(exc).__name__}: {exc}", flush=True)
            failed += 1
    if args.verbose:
        print(f"({time.time() - t0:.1f} s)")
    print(f"parity: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
