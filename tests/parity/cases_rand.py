"""cases_rand.py — parity of the random sources (randn, rand, randn_like,
rand_like), stop_gradient (x.detach()) and frozen parameters (train's
freeze = [...], requires_grad_(False)). `tp` is test_parity, set by its
loader.

PyTorch's generator differs, so the torch side draws nnc's noise: element i
of random op k in call c is word i % 4 of Philox(seed, 2**63 | c << 8 | k,
i / 4) (the numpy Philox of cases_norm.py), mapped as libnnrt's fills map
it: rand = u01(word), randn = Box-Muller in double on the word pairs. The
harness calls _forward_backward (call 0), _loss (call 1) and _forward
(call 2), then a fresh model 10 training steps (calls 0..9) and _forward
(call 10); the torch model counts its calls the same way (modes=True runs
_loss's twin in eval mode, which draws as training does)."""
import importlib.util
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def _norm_cases():
    """cases_norm.py (its numpy Philox), loaded as the suite loads it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases_norm.py")
    spec = importlib.util.spec_from_file_location("cases_norm_for_rand", path)
    mod = importlib.util.module_from_spec(spec)
    mod.tp = tp  # noqa: F821
    spec.loader.exec_module(mod)
    return mod


_NORM = _norm_cases()
philox4x32, philox_kat = _NORM.philox4x32, _NORM.philox_kat


def words(seed, counter, k, n, j_of):
    """Word j_of(i % 4) of block i / 4 of random op k in call `counter`."""
    i = np.arange(n, dtype=np.uint64)
    w = philox4x32(seed, (1 << 63) | (counter << 8) | k, i // np.uint64(4))
    return np.choose(j_of((i % np.uint64(4)).astype(np.int64)), w)


def u01(w):
    return (w >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)


def rand(seed, counter, k, n):
    return u01(words(seed, counter, k, n, lambda j: j)).astype(np.float64)


def randn(seed, counter, k, n):
    """nnrt_fill_normal's Box-Muller, in double."""
    a = u01(words(seed, counter, k, n, lambda j: j & ~1)).astype(np.float64)
    b = u01(words(seed, counter, k, n, lambda j: (j & ~1) + 1)).astype(np.float64)
    r, t = np.sqrt(-2.0 * np.log(1.0 - a)), 6.283185307179586476925286766559 * b
    odd = (np.arange(n) % 2) == 1
    return np.where(odd, r * np.sin(t), r * np.cos(t))


class RandVAE(nn.Module):  # tests/parity/rand_vae.nn
    def __init__(self, seed):
        super().__init__()
        self.seed, self.calls = seed, 0
        self.h = nn.Linear(6, 10)  # h = x -> dense(10) -> tanh: one layer, named h
        self.mu = nn.Linear(10, 3)
        self.logvar = nn.Linear(10, 3)
        self.r = nn.Sequential(nn.Linear(3, 10), nn.Tanh(), nn.Linear(10, 6))

    def load_state_dict(self, state_dict, strict=True):
        self.calls = 0  # a fresh model: nnc's harness starts every run at call 0
        return super().load_state_dict(state_dict, strict)

    def noise(self, fn, c, k, like):
        v = fn(self.seed, c, k, like.numel()).reshape(like.shape)
        return torch.from_numpy(v).to(like.dtype)  # rounded to the element type, as nnc stores it

    def forward(self, io):
        c = self.calls
        self.calls += 1
        h = torch.tanh(self.h(io["x"]))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * self.noise(randn, c, 0, mu)
        g = z * (0.5 + self.noise(rand, c, 1, z))
        kl = -0.5 * torch.mean(1 + logvar - mu * mu - torch.exp(logvar))
        loss = F.mse_loss(self.r(g), io["y"]) + 0.1 * kl + 0.2 * torch.mean(mu.detach() * mu)
        return loss, {"mean": mu}  # `eps` (noise only) is checked by check_eps


def check_eps(seed):
    """The output eps = randn([4, 5]) (random op 2) of _forward is the draw
    of call 2, and after the 10 steps that of call 10; the draws differ
    between calls; the numpy Philox matches the known answers."""
    def check(res):
        errs = philox_kat()
        for what, got, c in (("grads", res["grads"]["out.eps"], 2), ("train", res["train"]["out.eps"], 10)):
            want = randn(seed, c, 2, 20).reshape(4, 5).astype(got.dtype)
            if not np.allclose(got, want, rtol=1e-6 if got.dtype == np.float32 else 1e-13, atol=0):
                errs.append(f"{what}: eps is not randn of call {c}: {got.ravel()[:3]} vs {want.ravel()[:3]}")
        if np.array_equal(res["grads"]["out.eps"], res["train"]["out.eps"]):
            errs.append("eps of calls 2 and 10 are the same")
        return errs
    return check


CASES = [
    tp.Case("rand_vae", tp._pt("rand_vae.nn"), lambda: RandVAE(31), tp.batch_regress((8, 6), (8, 6)),  # noqa: F821
            lambda p: torch.optim.Adam(p, lr=0.01), seed=31, check=check_eps(31), modes=True),
]


# ---- frozen parameters --------------------------------------------------------


class Mlp(nn.Module):  # block mlp(x) { fc = dense(x, 5); return tanh(fc) }
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class FreezeAdamW(nn.Module):  # tests/parity/freeze_adamw.nn
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.zeros(2))
        self.enc = Mlp()
        self.h = nn.Linear(5, 5)
        self.out = nn.Linear(5, 2)
        self.s.requires_grad_(False)
        self.enc.requires_grad_(False)

    def forward(self, io):
        out = self.out(torch.tanh(self.h(self.enc(io["x"])))) * self.s
        return F.mse_loss(out, io["y"]), {"out": out}


def check_frozen(names):
    """The frozen tensors are bit-identical after the 10 AdamW steps, their
    gradient slots are zero, and the trained ones moved."""
    def check(res):
        errs = []
        for k, v in res["init"].items():
            same = np.array_equal(res["train"][k], v)
            if same != (k in names):
                errs.append(f"{k} {'did not move' if same else 'moved'} in 10 steps")
            if k in names and np.any(res["grads"]["grad." + k]):
                errs.append(f"frozen {k} has a nonzero gradient")
        return errs
    return check


CASES.append(tp.Case("freeze_adamw", tp._pt("freeze_adamw.nn"), FreezeAdamW,  # noqa: F821
                     tp.batch_regress((8, 6), (8, 2)),  # noqa: F821
                     lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), seed=32,
                     check=check_frozen({"s", "enc.fc.weight", "enc.fc.bias"})))


# ---- gradients with respect to inputs ----------------------------------------------


class InputGrad(nn.Module):  # tests/parity/input_grad.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(8, 10)
        self.g = nn.Linear(10, 4)
        self.logits = nn.Linear(4, 3)

    def forward(self, io):
        g = self.g(torch.tanh(self.h(io["x"]))) + io["z"].detach() * io["c"]
        logits = self.logits(g)
        loss = F.cross_entropy(logits, io["label"].long()) + 0.01 * torch.mean(io["x"] * io["x"])
        return loss, {"probs": torch.softmax(logits, -1)}


def batch_input_grad(rng):
    return {"x": rng.standard_normal((6, 8)), "z": rng.standard_normal((6, 4)), "c": rng.standard_normal((6, 4)),
            "label": rng.integers(0, 3, 6).astype(np.int32)}


def check_input_grads(res):
    """P_input_grad returned x's and z's gradients (z's all zero), not c's."""
    g = res["grads"]
    errs = [f"no igrad.{k}" for k in ("x", "z") if "igrad." + k not in g]
    if "igrad.c" in g:
        errs.append("igrad.c: c is not declared requires_grad")
    if "igrad.z" in g and np.any(g["igrad.z"]):
        errs.append("z reaches the loss only through stop_gradient, but its gradient is not zero")
    if "igrad.x" in g and not np.any(g["igrad.x"]):
        errs.append("x's gradient is all zero")
    return errs


CASES.append(tp.Case("input_grad", tp._pt("input_grad.nn"), InputGrad, batch_input_grad,  # noqa: F821
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), seed=33, check=check_input_grads))


# ---- examples/vae.nn: one training step and 10 Adam steps on 4 MNIST images ----------


def _example_cases():
    """cases_examples.py (its MNIST batches), loaded as the suite loads it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases_examples.py")
    spec = importlib.util.spec_from_file_location("cases_examples_for_rand", path)
    mod = importlib.util.module_from_spec(spec)
    mod.tp = tp  # noqa: F821
    spec.loader.exec_module(mod)
    return mod


class Vae(nn.Module):  # examples/vae.nn
    def __init__(self, seed):
        super().__init__()
        self.seed, self.calls = seed, 0
        self.h = nn.Linear(784, 400)
        self.mu = nn.Linear(400, 20)
        self.logvar = nn.Linear(400, 20)
        self.recon = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())

    def load_state_dict(self, state_dict, strict=True):
        self.calls = 0  # a fresh model: nnc's harness starts every run at call 0
        return super().load_state_dict(state_dict, strict)

    noise = RandVAE.noise

    def forward(self, io):
        c = self.calls
        self.calls += 1
        h = torch.relu(self.h(io["image"]))
        mu, logvar = self.mu(h), self.logvar(h)
        recon = self.recon(mu + torch.exp(0.5 * logvar) * self.noise(randn, c, 0, mu))
        kl = -10 * torch.mean(1 + logvar - mu * mu - torch.exp(logvar))
        # `recon` depends on _forward's own draw (call 2): not compared
        return 784 * F.binary_cross_entropy(recon, io["image"]) + kl, {}


CASES.append(tp.Case("ex_vae", tp._ex("vae.nn"), lambda: Vae(38), _example_cases().batch_mnist_flat(4),  # noqa: F821
                     lambda p: torch.optim.Adam(p, lr=1e-3), defines={"B": 4}, seed=38, modes=True))
