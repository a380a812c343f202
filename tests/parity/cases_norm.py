"""cases_norm.py — parity cases of the norm family (batchnorm, layernorm,
dropout, gelu, silu, leaky_relu, elu, sqrt, pow). `tp` is test_parity, set
by its loader.

Batch norm: nnc keeps no `num_batches_tracked`, so the torch side is
F.batch_norm over weight, bias and the running_mean / running_var buffers,
the call nn.BatchNorm1d/2d make (momentum is never None here). Dropout:
PyTorch's generator differs, so the torch side draws nnc's masks with a
numpy Philox4x32-10 (checked against Random123's known answers) and the
mapping of codegen/c/k_norm.c."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- nnc's dropout masks in numpy ------------------------------------------

U32 = np.uint64(0xFFFFFFFF)


def philox4x32(seed, ctr_hi, ctr_lo):
    """Philox4x32-10 blocks as libnnrt's nnrt_philox4x32 (runtime/philox.c):
    key = seed, counter = (ctr_hi, ctr_lo); ctr_lo may be an array. Returns
    the four words, each an array of uint64 values < 2^32."""
    u = np.uint64
    lo = np.asarray(ctr_lo, np.uint64)
    k0, k1 = u(seed & 0xFFFFFFFF), u(seed >> 32)
    c = [lo & U32, lo >> u(32), np.full_like(lo, ctr_hi & 0xFFFFFFFF), np.full_like(lo, ctr_hi >> 32)]
    for r in range(10):
        if r:
            k0, k1 = (k0 + u(0x9E3779B9)) & U32, (k1 + u(0xBB67AE85)) & U32
        p0, p1 = u(0xD2511F53) * c[0], u(0xCD9E8D57) * c[2]
        c = [(p1 >> u(32)) ^ c[1] ^ k0, p1 & U32, (p0 >> u(32)) ^ c[3] ^ k1, p0 & U32]
    return c


def philox_kat():
    """Random123's kat_vectors for philox4x32_10 (as tests/unit/test_runtime.c)."""
    want = {(0, 0, 0): [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
            (2**64 - 1, 2**64 - 1, 2**64 - 1): [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
            (0x299f31d0a4093822, 0x0370734413198a2e, 0x85a308d3243f6a88):
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]}
    errs = []
    for (key, hi, lo), w in want.items():
        got = [int(x[0]) for x in philox4x32(key, hi, [lo])]
        if got != w:
            errs.append(f"numpy Philox({key:#x}, {hi:#x}, {lo:#x}) = {[hex(g) for g in got]}, expected {[hex(x) for x in w]}")
    return errs


def dropout_mask(seed, counter, k, n, p):
    """Keep-mask of dropout op k in training call `counter`: element i is
    word i % 4 of Philox(seed, 2**63 | (counter << 8) | k, i / 4), kept when
    nnrt_u01(word) = (word >> 8) * 2^-24 >= (float)p, compared in float."""
    i = np.arange(n, dtype=np.uint64)
    words = philox4x32(seed, (1 << 63) | (counter << 8) | k, i // np.uint64(4))
    w = np.choose((i % np.uint64(4)).astype(np.int64), words)
    u = (w >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    return u >= np.float32(p)


class Dropout(nn.Module):
    """nn.Dropout(p) with nnc's masks: op k of the model, the call counter
    kept by the model (DropoutMLP)."""

    def __init__(self, owner, p, k):
        super().__init__()
        self.p, self.k = p, k
        self.owner = [owner]  # not a submodule

    def forward(self, x):
        if not self.training:
            return x
        o = self.owner[0]
        keep = dropout_mask(o.seed, o.calls, self.k, x.numel(), self.p).reshape(x.shape)
        scale = torch.tensor(1 / (1 - self.p), dtype=x.dtype)
        return x * (torch.from_numpy(keep).to(x.dtype) * scale)


class DropoutMLP(nn.Module):  # tests/parity/norm_dropout.nn
    def __init__(self, seed):
        super().__init__()
        self.seed, self.calls = seed, 0
        self.h = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), Dropout(self, 0.5, 0), nn.Linear(16, 16), nn.Tanh(),
                               Dropout(self, 0.2, 1), nn.Linear(16, 2))
        self.same = Dropout(self, 0.3, 2)

    def load_state_dict(self, state_dict, strict=True):
        self.calls = 0  # a fresh model: nnc's harness starts every run at call 0
        return super().load_state_dict(state_dict, strict)

    def forward(self, io):
        h = self.h(io["x"])
        outs = {"out": h, "same": self.same(io["x"])}
        if self.training:
            self.calls += 1
        return F.mse_loss(h, io["y"]), outs


# ---- batch norm and layer norm ---------------------------------------------


BatchNorm = tp.BatchNorm  # nn.BatchNorm1d/2d without num_batches_tracked


class BatchNormMLP(nn.Module):  # tests/parity/norm_batchnorm.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Sequential(nn.Linear(6, 12, bias=False), BatchNorm(12), nn.ReLU(), nn.Linear(12, 8, bias=False),
                               BatchNorm(8, momentum=0.3, eps=1e-3), nn.Tanh())
        self.w = nn.Sequential(nn.Linear(6, 300, bias=False), BatchNorm(300), nn.ReLU())
        self.logits = nn.ModuleList([nn.Linear(8, 4), nn.Linear(300, 4)])

    def forward(self, io):
        logits = self.logits[0](self.h(io["x"])) + self.logits[1](self.w(io["x"]))
        return F.cross_entropy(logits, io["label"].long()), {"probs": torch.softmax(logits, -1)}


class BatchNorm2d(nn.Module):  # tests/parity/norm_batchnorm2d.nn
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.zeros(6))
        self.t = nn.Parameter(torch.zeros(6))
        self.h = BatchNorm(3, momentum=0.2)
        self.g = BatchNorm(3, eps=1e-3)

    def forward(self, io):
        h = self.h(io["x"] * self.s + self.t)
        g = self.g(torch.tanh(h) * self.s)
        return F.mse_loss(g, io["y"]), {"out": g}


class LayerNormNet(nn.Module):  # tests/parity/norm_layernorm.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8),
                               nn.LayerNorm(8, eps=1e-3))
        self.p = nn.Linear(8, 3)

    def forward(self, io):
        p = self.p(self.h(io["x"]) + io["x"])
        return F.mse_loss(p, io["y"]), {"out": p}


class Activations(nn.Module):  # tests/parity/norm_act.nn
    def __init__(self):
        super().__init__()
        self.h = nn.Sequential(nn.Linear(5, 12), nn.GELU(), nn.Linear(12, 12), nn.GELU(approximate="tanh"),
                               nn.Linear(12, 10), nn.SiLU())
        self.k = nn.Sequential(nn.Linear(10, 10), nn.LeakyReLU(0.1), nn.Linear(10, 8), nn.ELU(alpha=0.8),
                               nn.Linear(8, 3))

    def forward(self, io):
        k = self.k(self.h(io["x"]))
        s = (torch.sqrt(torch.exp(k) + 1) + torch.pow(k, 3) * 0.1 + torch.pow(torch.sigmoid(k), 0.5)
             - torch.pow(torch.exp(k), -1.5) * 0.2)
        return F.mse_loss(s, io["y"]), {"out": s, "lrelu": F.leaky_relu(k)}


# ---- batches and checks ----------------------------------------------------


def batch_bn(rng):
    return {"x": rng.standard_normal((16, 6)) * 2 + 1, "label": rng.integers(0, 4, 16).astype(np.int32)}


def batch_bn2d(rng):
    return {"x": rng.standard_normal((4, 3, 5, 6)) * 1.5 - 0.5, "y": rng.standard_normal((4, 3, 5, 6))}


def check_running(res):
    """The running statistics moved away from their start (zeros, ones) and
    are saved with the parameters."""
    errs = []
    for k, v in res["train"].items():
        start = 0.0 if k.endswith("running_mean") else 1.0 if k.endswith("running_var") else None
        if start is not None and not np.all(np.abs(v - start) > 1e-6):
            errs.append(f"{k} after the steps is still at its start {start}: {v.tolist()[:4]}")
        if start is not None and not np.array_equal(res["init"][k], np.full_like(res["init"][k], start)):
            errs.append(f"initial {k} is {res['init'][k].tolist()[:4]}, expected all {start}")
    return errs


def batch_dropout(rng):
    return {"x": rng.standard_normal((8, 6)), "y": rng.standard_normal((8, 2))}


def check_dropout(seed):
    """The numpy Philox matches the known answers; the masks differ between
    seeds (both cases pass parity, each with its own seed), between training
    calls and between ops; about 1 - p is kept; _forward is the identity
    (`same` is exactly the batch's x)."""
    def check(res):
        errs = philox_kat()
        other = 12 if seed == 11 else 11
        m = dropout_mask(seed, 0, 0, 4096, 0.5)
        for what, m2 in (("seed", dropout_mask(other, 0, 0, 4096, 0.5)), ("call", dropout_mask(seed, 1, 0, 4096, 0.5)),
                         ("op", dropout_mask(seed, 0, 1, 4096, 0.5))):
            if np.array_equal(m, m2):
                errs.append(f"the masks of two {what}s are the same")
        if not 0.45 < m.mean() < 0.55:
            errs.append(f"p = 0.5 keeps {m.mean():.3f} of the elements")
        x = batch_dropout(np.random.default_rng(1000 + seed))["x"].astype(res["grads"]["out.same"].dtype)
        if not np.array_equal(res["grads"]["out.same"], x):
            errs.append("_forward's dropout(x) is not exactly x")
        return errs
    return check


CASES = [
    tp.Case("norm_act", tp._pt("norm_act.nn"), Activations, tp.batch_regress((8, 5), (8, 3)),  # noqa: F821
            lambda p: torch.optim.Adam(p, lr=0.01), seed=21),
    tp.Case("norm_layernorm", tp._pt("norm_layernorm.nn"), LayerNormNet,  # noqa: F821
            tp.batch_regress((4, 6, 8), (4, 6, 3)),  # noqa: F821
            lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), seed=22),
    tp.Case("norm_batchnorm", tp._pt("norm_batchnorm.nn"), BatchNormMLP, batch_bn,  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), seed=23, check=check_running, modes=True),
    tp.Case("norm_batchnorm2d", tp._pt("norm_batchnorm2d.nn"), BatchNorm2d, batch_bn2d,  # noqa: F821
            lambda p: torch.optim.Adam(p, lr=0.05), seed=24, check=check_running, modes=True),
    tp.Case("norm_dropout", tp._pt("norm_dropout.nn"), lambda: DropoutMLP(11), batch_dropout,  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), seed=11, check=check_dropout(11), modes=True),
    tp.Case("norm_dropout_seed12", tp._pt("norm_dropout.nn"), lambda: DropoutMLP(12), batch_dropout,  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), seed=12, check=check_dropout(12), modes=True),
]
