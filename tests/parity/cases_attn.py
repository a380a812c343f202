"""cases_attn.py — parity cases of the attn family (shape ops, bmm,
embeddings, attention). test_parity.py runs this file with the global `tp`
set to itself; CASES is the list of cases it adds.

  attn_gpt     embedding + positional + causal attention + dense +
               cross_entropy over [B, T, V], Adam. Its check also builds
               attn_range.c: an out-of-range token id makes _forward_v,
               _loss_v and _forward_backward_v return NNRT_ERR_RANGE.
  attn_shapes  reshape, transpose, permute, concat, slice, bmm; SGD.
  attn_stack   two attention layers in a pipeline, no mask, one without
               biases; AdamW.
  attn_cross   causal self-attention, then cross-attention over a memory
               of x's width and over one of another width (kdim/vdim)
               and length; Adam.
"""
import argparse
import os
import shutil
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

tp = globals()["tp"]  # injected by test_parity.py before this runs


def causal_mask(t):
    """True above the diagonal: the positions a query may not see."""
    return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)


class AttnGpt(nn.Module):  # tests/parity/attn_gpt.nn
    def __init__(self, T=6, V=11, D=16):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.h = nn.Embedding(T, D)  # positional(tok): the table added to every batch row
        self.a = nn.MultiheadAttention(D, 4, batch_first=True)
        self.logits = nn.Linear(D, V)
        self.T, self.V = T, V

    def forward(self, io):
        h = self.tok(io["ids"].long()) + self.h.weight
        a = self.a(h, h, h, need_weights=False, attn_mask=causal_mask(self.T))[0]
        logits = self.logits(h + a)
        loss = F.cross_entropy(logits.reshape(-1, self.V), io["next"].reshape(-1).long())
        return loss, {"probs": torch.softmax(logits, dim=-1)}


class AttnShapes(nn.Module):  # tests/parity/attn_shapes.nn
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(6, 6))
        self.u = nn.Parameter(torch.zeros(4, 3, 5))

    def forward(self, io):
        h = torch.tanh(io["x"] @ self.w)
        t = h.transpose(1, 2)
        q = h.reshape(4, 3, 2, 3).permute(0, 2, 3, 1).reshape(4, 6, -1)
        c = torch.cat([t[:, :, 0:2], q[:, :, 2:3]], dim=2)
        b = torch.matmul(c, self.u)
        b4 = b.reshape(2, 2, 6, 5)
        g = torch.matmul(b4, b4.transpose(-1, -2))
        e = torch.cat([b[0:1], b[3:4]], dim=0)
        loss = F.mse_loss(b, io["y"]) + 0.05 * g.mean() + (e * e).mean()
        return loss, {"o": b}


class AttnStack(nn.Module):  # tests/parity/attn_stack.nn
    def __init__(self):
        super().__init__()
        self.h = nn.ModuleList([nn.MultiheadAttention(8, 2, batch_first=True),
                                nn.MultiheadAttention(8, 4, bias=False, batch_first=True)])

    def forward(self, io):
        h = io["x"]
        for layer in self.h:
            h = layer(h, h, h, need_weights=False)[0]
        return F.mse_loss(h, io["y"]), {"o": h}


class AttnCross(nn.Module):  # tests/parity/attn_cross.nn
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 8)
        self.s = nn.MultiheadAttention(8, 2, batch_first=True)
        self.c = nn.MultiheadAttention(8, 4, batch_first=True)
        self.r = nn.MultiheadAttention(8, 2, bias=False, batch_first=True, kdim=6, vdim=6)

    def forward(self, io):
        x, m = io["x"], io["m"]
        enc = self.enc(m)
        s = x + self.s(x, x, x, need_weights=False, attn_mask=causal_mask(4))[0]
        c = s + self.c(s, enc, enc, need_weights=False)[0]
        r = self.r(c, m, m, need_weights=False)[0]
        return F.mse_loss(r, io["y"]), {"o": r}


def batch_cross(rng):
    return {"x": rng.standard_normal((3, 4, 8)), "m": rng.standard_normal((3, 5, 6)),
            "y": rng.standard_normal((3, 4, 8))}


def batch_gpt(rng, B=4, T=6, V=11):
    ids = rng.integers(0, V, (B, T))
    ids[0, :3] = ids[0, 3]  # repeated ids: the embedding gradient accumulates rows
    return {"ids": ids.astype(np.int32), "next": rng.integers(0, V, (B, T)).astype(np.int32)}


def _paths():
    """The nnc and libnnrt the suite runs with (its own command line)."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--nnc", default=os.path.join(tp.ROOT, "build", "nnc"))
    ap.add_argument("--lib", default=os.path.join(tp.ROOT, "build", "libnnrt.a"))
    args, _ = ap.parse_known_args()
    return os.path.abspath(args.nnc), os.path.abspath(args.lib)


def check_range(res):
    """Build attn_range.c against attn_gpt.nn: token ids outside [0, V)
    make every entry point fail with NNRT_ERR_RANGE before running."""
    nnc, lib = _paths()
    tmp = tempfile.mkdtemp(prefix="nnc-parity-attn-range-")
    try:
        cfile = os.path.join(tmp, "attn_gpt.c")
        cmd = [nnc, tp._pt("attn_gpt.nn"), "-o", cfile]
        cc = ["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(tp.ROOT, "runtime"),
              "-I" + tmp, "-DMODEL=attn_gpt", "-include", os.path.join(tmp, "attn_gpt.h")]
        if res["dtype"] == "f64":
            cmd.append("--dtype=f64")
            cc.append("-DREAL=double")
        exe = os.path.join(tmp, "range")
        for c in (cmd, cc + [tp._pt("attn_range.c"), cfile, lib, "-lm", "-o", exe], [exe, "11"]):
            p = subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                return [f"range check: {os.path.basename(c[0])} exited with {p.returncode}: "
                        + " | ".join(p.stdout.strip().splitlines()[-4:])]
        lines = p.stdout.strip().splitlines()
        res["note"] = f"range check: {len(lines)} ok ({lines[0].split(': ', 1)[-1]})"
        return []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_init(res):
    """positional ~ N(0, 0.02), embedding ~ N(0, 1), attention biases 0."""
    w, errs = res["init"], []
    for k, lo, hi in (("h.weight", 0.01, 0.04), ("tok.weight", 0.7, 1.3)):
        if not lo < float(np.std(w[k])) < hi:
            errs.append(f"initial {k} has std {np.std(w[k]):.3g}, expected in ({lo}, {hi})")
    for k in ("a.in_proj_bias", "a.out_proj.bias"):
        if np.any(w[k] != 0):
            errs.append(f"initial {k} is not zero")
    return errs + check_range(res)


# The key part of in_proj_bias, rows [D, 2D), has an exactly zero gradient
# (it adds the same q.b_k to every score of a softmax row); both sides
# compute round-off of about 1e-9 there, which Adam's m / (sqrt(v) + eps)
# turns into steps of up to lr with the default eps = 1e-8, different on
# each side. eps = 1e-4 keeps those steps below 1e-6 and Adam's formula
# otherwise as tested.
CASES = [
    tp.Case("attn_gpt", tp._pt("attn_gpt.nn"), AttnGpt, batch_gpt,
            lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-4), seed=11, check=check_init),
    tp.Case("attn_shapes", tp._pt("attn_shapes.nn"), AttnShapes, tp.batch_regress((4, 3, 6), (4, 6, 5)),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), seed=12),
    tp.Case("attn_stack", tp._pt("attn_stack.nn"), AttnStack, tp.batch_regress((3, 5, 8), (3, 5, 8)),
            lambda p: torch.optim.AdamW(p, lr=0.01, eps=1e-4), seed=13),
    tp.Case("attn_cross", tp._pt("attn_cross.nn"), AttnCross, batch_cross,
            lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-4), seed=14),
]
