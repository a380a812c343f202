"""cases_conv.py — parity cases of the conv family (conv2d, pooling,
global_avgpool, flatten, conv_transpose2d, upsample). `tp` is test_parity, set by its loader."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvSmall(nn.Module):  # tests/parity/conv_small.nn
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=4)
        self.c3 = nn.Conv2d(8, 6, 1, bias=False)
        self.h = nn.Linear(32, 6)
        self.logits = nn.Linear(6, 5)

    def forward(self, io):
        c1 = F.max_pool2d(torch.relu(self.c1(io["x"])), 3, stride=2, padding=1)
        c2 = torch.relu(self.c2(c1))
        p = F.avg_pool2d(c2, 2, stride=1, padding=1)  # count_include_pad=True
        g = self.c3(p).mean(dim=(2, 3))
        f = torch.flatten(F.avg_pool2d(p, 2), 1)
        logits = self.logits(torch.relu(self.h(f) + g))
        return F.cross_entropy(logits, io["y"].long()), {"probs": torch.softmax(logits, -1)}


class LeNet5(nn.Module):  # tests/parity/conv_lenet5.nn
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.h = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())
        self.logits = nn.Linear(84, 10)

    def forward(self, io):
        c1 = F.max_pool2d(torch.relu(self.c1(io["image"])), 2)
        c2 = F.max_pool2d(torch.relu(self.c2(c1)), 2)
        logits = self.logits(self.h(c2))
        return F.cross_entropy(logits, io["label"].long()), {"probs": torch.softmax(logits, -1)}


class ConvEdges(nn.Module):  # tests/parity/conv_edges.nn
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 6, 2, stride=3, padding=2, dilation=2, groups=3)
        self.b = nn.Conv2d(6, 3, 1, stride=2, padding=1)
        self.e = nn.Conv2d(3, 4, 3, dilation=3, padding=3)
        self.logits = nn.ModuleDict({"1": nn.Linear(6, 3), "3": nn.Linear(6, 3), "4": nn.Linear(4, 3)})

    def forward(self, io):
        a = torch.tanh(self.a(io["x"]))
        c = F.max_pool2d(torch.tanh(self.b(a)), 1, stride=2)
        d = F.avg_pool2d(a, 3, stride=4, padding=1)
        g = F.max_pool2d(torch.tanh(self.e(io["x"])), 3, stride=1, padding=1).mean(dim=(2, 3))
        lg = self.logits
        logits = lg["1"](torch.flatten(c, 1)) + lg["3"](torch.flatten(d, 1)) + lg["4"](g)
        return F.cross_entropy(logits, io["y"].long()), {"probs": torch.softmax(logits, -1)}


class ConvTranspose(nn.Module):  # tests/parity/conv_transpose.nn
    def __init__(self):
        super().__init__()
        self.a = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
        self.b = nn.ConvTranspose2d(6, 4, 2, stride=3, padding=2, output_padding=2, dilation=2, groups=2, bias=False)
        self.c = nn.ConvTranspose2d(4, 3, 3, padding=2, dilation=2)
        self.e = nn.ConvTranspose2d(6, 2, 2, padding=1, dilation=2, output_padding=1)
        self.f = nn.ConvTranspose2d(6, 2, 2, stride=2, padding=1, dilation=3, output_padding=2, groups=2)
        self.pb = nn.Conv2d(4, 2, 4, stride=4)
        self.pv = nn.Conv2d(6, 2, 6, stride=6)
        self.hb, self.hu, self.hv, self.hz = nn.Linear(40, 3), nn.Linear(144, 3), nn.Linear(24, 3), nn.Linear(16, 3)
        self.he, self.hf = nn.Linear(126, 3), nn.Linear(504, 3)

    def forward(self, io):
        x = io["x"]
        a = torch.tanh(self.a(x))
        b = torch.tanh(self.b(a))
        u = torch.tanh(nn.Upsample(scale_factor=2)(self.c(x)))
        v = torch.tanh(nn.Upsample(scale_factor=3, mode="bilinear", align_corners=False)(a))
        z = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)(F.avg_pool2d(x, 3))
        o = (self.hb(torch.flatten(self.pb(b), 1)) + self.hu(torch.flatten(u, 1)) +
             self.hv(torch.flatten(self.pv(v), 1)) + self.hz(torch.flatten(z, 1)) +
             self.he(torch.flatten(torch.tanh(self.e(a)), 1)) + self.hf(torch.flatten(self.f(a), 1)))
        return F.mse_loss(o, io["y"]), {"o": o}


def check_tconv_init(res):
    """Glorot with PyTorch's fans for a [in, out/groups, k, k] weight: a's
    fan_in = 6 * 3 * 3, fan_out = 4 * 3 * 3; biases [out] at zero."""
    w, lim = res["init"], np.sqrt(6 / (54 + 36))
    errs = [] if 0.6 * lim < np.abs(w["a.weight"]).max() <= lim else [f"a.weight max |w|, expected limit {lim:.3f}"]
    if w["a.bias"].shape != (6,) or np.any(w["a.bias"] != 0):
        errs.append("a.bias is not 6 zeros")
    return errs


def batch_tconv(rng):
    return {"x": rng.standard_normal((2, 4, 3, 4)), "y": rng.standard_normal((2, 3))}


def batch_small(rng):
    return {"x": rng.standard_normal((4, 3, 12, 12)), "y": rng.integers(0, 5, 4).astype(np.int32)}


def batch_edges(rng):
    return {"x": rng.standard_normal((2, 3, 7, 4)), "y": rng.integers(0, 3, 2).astype(np.int32)}


def batch_lenet(rng):
    return {"image": rng.uniform(0, 1, (8, 1, 28, 28)), "label": rng.integers(0, 10, 8).astype(np.int32)}


def check_small_init(res):
    """init = auto: He for c1 (it feeds a relu; fan_in = 3*3*3), Glorot for
    the 1x1 c3 (fan_in 8, fan_out 6), zero biases."""
    w, errs = res["init"], []
    he = np.sqrt(2 / 27)
    if not 0.75 * he < w["c1.weight"].std() < 1.25 * he:
        errs.append(f"c1.weight std {w['c1.weight'].std():.3f}, expected He {he:.3f}")
    lim = np.sqrt(6 / (8 + 6))
    if not 0.6 * lim < np.abs(w["c3.weight"]).max() <= lim:
        errs.append(f"c3.weight max |w| {np.abs(w['c3.weight']).max():.3f}, expected Glorot limit {lim:.3f}")
    for k in ("c1.bias", "c2.bias"):
        if np.any(w[k] != 0):
            errs.append(f"{k} does not start at zero")
    return errs


CASES = [
    tp.Case("conv_small", tp._pt("conv_small.nn"), ConvSmall, batch_small,  # noqa: F821 (tp is injected)
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), seed=11, check=check_small_init),
    tp.Case("conv_edges", tp._pt("conv_edges.nn"), ConvEdges, batch_edges,  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), seed=13),
    tp.Case("conv_transpose", tp._pt("conv_transpose.nn"), ConvTranspose, batch_tconv,  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), seed=14, check=check_tconv_init),
    tp.Case("conv_lenet5", tp._pt("conv_lenet5.nn"), LeNet5, batch_lenet,  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4), seed=12),
]
