"""cases_sched.py — learning-rate schedules and gradient clipping against
torch.optim.lr_scheduler and torch.nn.utils.clip_grad_norm_ / clip_grad_value_.

sched_lr: every schedule kind position by position (libnnrt's nnrt_sched_lr
through the trainer's --schedule spec, tests/parity/sched_lr.c) against the
torch scheduler stepped once per optimizer step, over whole schedules (and
past their end where torch stays put): 1e-6 relative per position.

sched_*: the two-layer MLP of sgd_nesterov.nn with a schedule and/or
clipping in its train statement (written to a temporary folder at load
time), 10 steps against the torch optimizer wrapped with the scheduler and
the clipping; besides the usual loss, gradients and parameters, the rate of
every step (P_lr, 1e-6 relative in f32), the norm P_grad_norm reports
(clip_grad_norm_'s total_norm) and the gradients after the first update's
clipping. Warmups follow LambdaLR(n / warmup); cosine and linear after a
warmup are SequentialLR of it and CosineAnnealingLR / LinearLR; onecycle is
OneCycleLR(cycle_momentum=False). `tp` is test_parity, set by its loader.
"""
import atexit
import os
import shutil
import tempfile
import warnings

import torch

# SequentialLR steps its second scheduler with an epoch argument (closed form)
warnings.filterwarnings("ignore", category=UserWarning, module="torch.optim.lr_scheduler")

L = torch.optim.lr_scheduler
LR_TOL = {"f32": 1e-6, "f64": 1e-12}


def warm(o, w):
    return L.LambdaLR(o, lambda n: min(1.0, n / w))


def then(o, w, second):
    """LambdaLR(n / w) for w positions, then second."""
    return L.SequentialLR(o, [L.LambdaLR(o, lambda n: n / w), second], milestones=[w])


# spec for sched_lr, base lr, positions, torch scheduler factory
LR_CASES = [
    ("constant", 0.1, 10, lambda o: L.LambdaLR(o, lambda n: 1.0)),
    ("constant,warmup=5", 0.1, 20, lambda o: warm(o, 5)),
    ("step,step_size=7,gamma=0.5", 0.1, 40, lambda o: L.StepLR(o, 7, 0.5)),
    ("step,step_size=3", 0.3, 20, lambda o: L.StepLR(o, 3)),
    ("multistep,milestones=5/12/30,gamma=0.3", 0.1, 40, lambda o: L.MultiStepLR(o, [5, 12, 30], 0.3)),
    ("exponential,gamma=0.97", 0.1, 100, lambda o: L.ExponentialLR(o, 0.97)),
    ("cosine,total=100,eta_min=0.001", 0.1, 101, lambda o: L.CosineAnnealingLR(o, 100, 0.001)),
    ("cosine,warmup=10,total=100", 0.05, 101, lambda o: then(o, 10, L.CosineAnnealingLR(o, 90))),
    ("linear,total=50,end_factor=0.05", 0.1, 60, lambda o: L.LinearLR(o, 1.0, 0.05, 50)),
    ("linear,warmup=10,total=50", 0.1, 60, lambda o: then(o, 10, L.LinearLR(o, 1.0, 0.0, 40))),
    ("onecycle,total=100", 0.1, 100,
     lambda o: L.OneCycleLR(o, 0.1, total_steps=100, cycle_momentum=False)),
    ("onecycle,total=37,pct_start=0.25,div_factor=10,final_div_factor=100", 2.0, 37,
     lambda o: L.OneCycleLR(o, 2.0, total_steps=37, pct_start=0.25, div_factor=10, final_div_factor=100,
                            cycle_momentum=False)),
]


def torch_lrs(lr, n, make):
    p = [torch.nn.Parameter(torch.zeros(1))]
    o = torch.optim.SGD(p, lr=lr)
    s = make(o)
    out = []
    for _ in range(n):
        out.append(o.param_groups[0]["lr"])
        o.step()
        s.step()
    return out


def run_lr(case, tmp, nnc, lib, verbose):
    exe = os.path.join(tmp, "sched_lr")
    tp.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(tp.ROOT, "runtime"),
            os.path.join(tp.HERE, "sched_lr.c"), lib, "-lm", "-o", exe], "gcc")
    worst = 0.0
    for spec, lr, n, make in LR_CASES:
        ours = [float(v) for v in tp.run([exe, spec, repr(lr), str(n)], "sched_lr").split()]
        ref = torch_lrs(lr, n, make)
        if len(ours) != n:
            raise tp.Failure(f"{spec}: {len(ours)} rates, expected {n}")
        for k, (a, b) in enumerate(zip(ours, ref)):
            err = abs(a - b) / max(abs(b), 1e-12 * lr)
            worst = max(worst, err)
            if not err < LR_TOL["f32"]:
                raise tp.Failure(f"{spec}: position {k}: ours {a:.17g}, torch {b:.17g} (rel {err:.1e})")
    return f"{len(LR_CASES)} schedules, max lr rel {worst:.1e}"


class Scheduled:
    """A torch optimizer with clipping before each step and a scheduler stepped
    after it; records the rate of every step, the norm clip_grad_norm_
    returns (or would) and the gradients the first step used."""

    def __init__(self, params, opt, make, clip_norm=0.0, clip_value=0.0):
        self.params, self.opt, self.sched = params, opt, make(opt)
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.lrs, self.norms, self.clipped, self.largest = [], [], None, 0.0

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        self.lrs.append(self.opt.param_groups[0]["lr"])
        grads = [p.grad.detach() for p in self.params if p.grad is not None]
        norm = torch.norm(torch.stack([torch.norm(g, 2.0) for g in grads]), 2.0)
        if self.clipped is None:
            self.largest = max(float(g.abs().max()) for g in grads)
        if self.clip_norm:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        if self.clip_value:
            torch.nn.utils.clip_grad_value_(self.params, self.clip_value)
        self.norms.append(float(norm))
        if self.clipped is None:
            self.clipped = [g.clone() for g in grads]
        self.opt.step()
        self.sched.step()


def extra(cmp, t, opt, model, clip_norm=0.0, clip_value=0.0):
    dt = "f64" if t["loss.0"].dtype.itemsize == 8 else "f32"
    for k, ref in enumerate(opt.lrs):
        ours = float(tp.get(t, f"lr.{k}", "train"))
        err = abs(ours - ref) / max(abs(ref), 1e-12)
        cmp.groups["lr"] = max(cmp.groups.get("lr", 0.0), err)
        if not err < LR_TOL[dt]:
            cmp.bad.append((err, f"lr.{k}: ours {ours:.9g}, torch {ref:.9g}"))
    for k, ref in enumerate(opt.norms):
        cmp.add("gnorm", f"gnorm.{k}", tp.get(t, f"gnorm.{k}", "train"), ref)
    if clip_norm and not opt.norms[0] > clip_norm:
        cmp.bad.append((1.0, f"the first gradient norm {opt.norms[0]:.3g} is not above clip_norm {clip_norm}"))
    if clip_value and not opt.largest > clip_value:
        cmp.bad.append((1.0, f"no first gradient is above clip_value {clip_value}"))
    for (name, _), ref in zip(model.named_parameters(), opt.clipped):
        cmp.add("clipped", f"clipped.{name}", tp.get(t, f"clipped.{name}", "train"), ref.numpy())


MODEL = """const B = 16
model {name} {{
    input  x : f32[B, 5]
    target y : f32[B, 3]
    h = x -> dense(8) -> tanh -> dense(3)
    output p = h
    loss mse(h, y)
    train {train}
}}
"""

_DIR = tempfile.mkdtemp(prefix="nnc-parity-sched-")
atexit.register(shutil.rmtree, _DIR, True)


def model_case(name, train, optim, make, clip_norm=0.0, clip_value=0.0, seed=11):
    path = os.path.join(_DIR, name + ".nn")
    with open(path, "w") as f:
        f.write(MODEL.format(name=name, train=train))

    def factory(params):
        return Scheduled(params, optim(params), make, clip_norm, clip_value)

    return tp.Case(name, path, tp.SgdNesterov, tp.batch_regress((16, 5), (16, 3)), factory, seed=seed,
                   extra=lambda cmp, t, opt, model: extra(cmp, t, opt, model, clip_norm, clip_value))


CASES = [
    tp.Case("sched_lr", None, None, None, runner=run_lr),
    model_case("sched_step", "sgd(lr = 0.1, momentum = 0.9, schedule = step, step_size = 3, gamma = 0.5)",
               lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), lambda o: L.StepLR(o, 3, 0.5)),
    model_case("sched_multistep", "adam(lr = 0.01, schedule = multistep, milestones = [2, 5, 7], gamma = 0.3)",
               lambda p: torch.optim.Adam(p, lr=0.01), lambda o: L.MultiStepLR(o, [2, 5, 7], 0.3)),
    model_case("sched_exponential", "adamw(lr = 0.01, weight_decay = 0.1, schedule = exponential, gamma = 0.8)",
               lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), lambda o: L.ExponentialLR(o, 0.8)),
    model_case("sched_cosine",
               "adamw(lr = 0.02, schedule = cosine, warmup = 3, total = 10, eta_min = 0.001, clip_norm = 0.05)",
               lambda p: torch.optim.AdamW(p, lr=0.02), lambda o: then(o, 3, L.CosineAnnealingLR(o, 7, 0.001)),
               clip_norm=0.05),
    model_case("sched_linear", "sgd(lr = 0.1, schedule = linear, warmup = 2, total = 10, end_factor = 0.1)",
               lambda p: torch.optim.SGD(p, lr=0.1), lambda o: then(o, 2, L.LinearLR(o, 1.0, 0.1, 8))),
    model_case("sched_onecycle", "sgd(lr = 0.2, momentum = 0.9, schedule = onecycle, total = 10)",
               lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
               lambda o: L.OneCycleLR(o, 0.2, total_steps=10, cycle_momentum=False)),
    model_case("sched_warmup_clip_value", "sgd(lr = 0.1, warmup = 4, clip_value = 0.02)",
               lambda p: torch.optim.SGD(p, lr=0.1), lambda o: warm(o, 4), clip_value=0.02),
    model_case("clip_norm_adam", "adam(lr = 0.01, clip_norm = 0.05)",
               lambda p: torch.optim.Adam(p, lr=0.01), lambda o: L.LambdaLR(o, lambda n: 1.0), clip_norm=0.05),
]
