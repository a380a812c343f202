"""cases_block.py — parity of user-defined blocks and stack (frontend).

The PyTorch side mirrors nnc's naming: a block is an nn.Module whose
attributes are named after the block's bindings and params, with `out` for
the layers of its return statement; stack(blk, n) is an nn.Sequential of n
such modules. `tp` (test_parity) is set by the loader.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    """block mlp(x, width = 16, out = 4) { h = x -> dense(width) -> relu
    return dense(h, out) }"""

    def __init__(self, inp, width=16, out=4):
        super().__init__()
        self.h = nn.Linear(inp, width)
        self.out = nn.Linear(width, out)

    def forward(self, x):
        return self.out(torch.relu(self.h(x)))


class BlockTwice(nn.Module):  # tests/parity/block_twice.nn
    def __init__(self):
        super().__init__()
        self.enc = Mlp(6, width=12, out=8)
        self.logits = Mlp(8, out=3)

    def forward(self, io):
        logits = self.logits(torch.tanh(self.enc(io["x"])))
        return F.cross_entropy(logits, io["label"].long()), {"probs": torch.softmax(logits, -1)}


class Residual(nn.Module):
    """block residual(x) { param scale : f32[1] = 1.0
    return x + scale * relu(dense(x, dim(x, -1))) }"""

    def __init__(self, d):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.out = nn.Linear(d, d)

    def forward(self, x):
        return x + self.scale * torch.relu(self.out(x))


class BlockStack(nn.Module):  # tests/parity/block_stack.nn
    def __init__(self, d=5):
        super().__init__()
        self.h = nn.Sequential(nn.Linear(4, d), nn.Sequential(*[Residual(d) for _ in range(3)]),
                               nn.Tanh(), nn.Linear(d, 2))

    def forward(self, io):
        h = self.h(io["x"])
        return F.mse_loss(h, io["y"]), {"p": h}


def batch_labels(rng):
    return {"x": rng.standard_normal((8, 6)), "label": rng.integers(0, 3, 8).astype(np.int32)}


def check_stack(res):
    """Every copy has its own parameters: scale starts at 1.0 in each, and
    the three copies' weights were drawn separately."""
    w, errs = res["init"], []
    for i in range(3):
        if not np.array_equal(w[f"h.1.{i}.scale"], np.ones(1, w[f"h.1.{i}.scale"].dtype)):
            errs.append(f"h.1.{i}.scale starts at {w[f'h.1.{i}.scale'].tolist()}, not 1.0")
    ws = [w[f"h.1.{i}.out.weight"] for i in range(3)]
    if np.array_equal(ws[0], ws[1]) or np.array_equal(ws[1], ws[2]):
        errs.append("the copies of the residual block share their initial weights")
    return errs


CASES = [
    tp.Case("block_twice", tp._pt("block_twice.nn"), BlockTwice, batch_labels,  # noqa: F821
            lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01), seed=21),
    tp.Case("block_stack", tp._pt("block_stack.nn"), BlockStack,
            tp.batch_regress((8, 4), (8, 2)),  # noqa: F821
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), seed=22, check=check_stack),
]
