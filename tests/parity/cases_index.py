"""cases_index.py — parity cases of indexing, expand and flip (with a
const expression). test_parity.py runs this file with the global `tp` set
to itself; CASES is the list of cases it adds.

  index_expand_flip  x[:, -1], x[0:3, 1:5:2, -2], x[..., 1::4], clamped
                     slice ends; expand of a class token and of a size-1
                     axis; flip of one axis and of two; Adam.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

tp = globals()["tp"]  # injected by test_parity.py before this runs


class IndexExpandFlip(nn.Module):  # tests/parity/index_expand_flip.nn
    def __init__(self, D=6):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(D, D))
        self.cls = nn.Parameter(torch.zeros(1, 1, D))
        self.u = nn.Parameter(torch.zeros(5, 1))
        self.D = D

    def forward(self, io):
        h = torch.tanh(io["x"] @ self.w)
        z = torch.cat([self.cls.expand(3, 1, -1), h], dim=1)
        f = torch.flip(z, [1]) + torch.flip(z * z, [0, -1])
        g = f[:, 0] * (1 / math.sqrt(self.D))
        p = z[:, -1, ::2]
        q = z[0:3, 1:5:2, -2]
        r = f[..., 1::4]
        k = self.u.expand(3, 5, 2)
        loss = F.mse_loss(g[:, 2:100], io["y"]) + (p * p).mean() + q.mean() + (r[:, 1:] * k).mean()
        return loss, {"o": g}


CASES = [
    tp.Case("index_expand_flip", tp._pt("index_expand_flip.nn"), IndexExpandFlip,
            tp.batch_regress((3, 5, 6), (3, 4)), lambda p: torch.optim.Adam(p, lr=0.01), seed=21),
]
