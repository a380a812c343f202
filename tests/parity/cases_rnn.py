"""Parity cases of the rnn family: rnn/lstm/gru against torch's nn.RNN,
nn.LSTM and nn.GRU (batch_first=True, output[0]), whose state_dict names
under the binding are nnc's parameter names. `tp` is test_parity, set by
the loader."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SeqDense(nn.Module):
    """h = KIND(x, H); output NAME = dense(h, out); loss mse or cross_entropy.
    The dense layer is the attribute NAME, as nnc names it after its binding."""

    def __init__(self, kind, inp, hidden, out, loss, name):
        super().__init__()
        self.h = CELLS[kind](inp, hidden, batch_first=True)
        setattr(self, name, nn.Linear(hidden, out))
        self.loss, self.name = loss, name

    def forward(self, io):
        h, _ = self.h(io["x"])
        out = getattr(self, self.name)(h)
        if self.loss == "mse":
            loss = F.mse_loss(out, io["y"])
        else:
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), io["label"].reshape(-1).long())
        return loss, {self.name: out}


class OneStep(nn.Module):  # tests/parity/rnn_one_step.nn
    def __init__(self):
        super().__init__()
        self.h = nn.ModuleList([nn.LSTM(3, 4, batch_first=True), nn.GRU(4, 4, batch_first=True)])
        self.p = nn.Linear(4, 2)

    def forward(self, io):
        h = io["x"]
        for layer in self.h:
            h, _ = layer(h)
        p = self.p(h)
        return F.mse_loss(p, io["y"]), {"p": p}


class Stack(nn.Module):  # tests/parity/rnn_stack.nn
    def __init__(self):
        super().__init__()
        self.h = nn.ModuleList([nn.LSTM(3, 8, batch_first=True), nn.GRU(8, 12, batch_first=True),
                                nn.RNN(12, 7, batch_first=True)])
        self.logits = nn.Linear(7, 4)

    def forward(self, io):
        h = io["x"]
        for layer in self.h:
            h, _ = layer(h)
        logits = self.logits(h)
        loss = F.cross_entropy(logits.reshape(-1, 4), io["label"].reshape(-1).long())
        return loss, {"logits": logits}


class Bidir(nn.Module):  # tests/parity/rnn_bidir.nn
    def __init__(self):
        super().__init__()
        kw = dict(num_layers=2, bidirectional=True, batch_first=True)
        self.h = nn.ModuleList([nn.LSTM(3, 5, **kw), nn.GRU(10, 4, **kw), nn.RNN(8, 7, **kw)])
        self.logits = nn.Linear(14, 4)

    def forward(self, io):
        h = io["x"]
        for layer in self.h:
            h, _ = layer(h)
        logits = self.logits(h)
        loss = F.cross_entropy(logits.reshape(-1, 4), io["label"].reshape(-1).long())
        return loss, {"logits": logits}


class Layers(nn.Module):  # tests/parity/rnn_layers.nn
    def __init__(self):
        super().__init__()
        self.h = nn.LSTM(4, 6, num_layers=3, batch_first=True)
        self.g = nn.GRU(4, 3, bidirectional=True, batch_first=True)
        self.p = nn.Linear(6, 2)

    def forward(self, io):
        p = self.p(self.h(io["x"])[0])
        g = self.g(io["x1"])[0]
        return F.mse_loss(p, io["y"]) + F.mse_loss(g, io["y1"]), {"p": p, "g": g}


def batch_layers(rng):
    return {"x": rng.standard_normal((3, 5, 4)), "x1": rng.standard_normal((3, 1, 4)),
            "y": rng.standard_normal((3, 5, 2)), "y1": rng.standard_normal((3, 1, 6))}


def batch_reg(b, t, i, o):
    def make(rng):
        return {"x": rng.standard_normal((b, t, i)), "y": rng.standard_normal((b, t, o))}
    return make


def batch_labels(b, t, i, classes):
    def make(rng):
        return {"x": rng.standard_normal((b, t, i)),
                "label": rng.integers(0, classes, (b, t)).astype("int32")}
    return make


def leaves(layers, bidir):
    """PyTorch's parameter names of a recurrent layer, in state_dict order."""
    return [f"{w}_l{k}{r}" for k in range(layers) for r in (("", "_reverse") if bidir else ("",))
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def check_init(layers, names=leaves(1, False)):
    """PyTorch's initialization: every weight and bias of a layer with H
    hidden units is U(-1/sqrt(H), 1/sqrt(H)), each tensor its own draw.
    layers: {binding prefix: H}."""
    def check(res):
        errs = []
        for prefix, hidden in layers.items():
            k = 1 / math.sqrt(hidden)
            seen = []
            for leaf in names:
                w = np.asarray(res["init"][prefix + leaf], np.float64)
                if not (np.max(np.abs(w)) <= k * (1 + 1e-6) and np.max(np.abs(w)) > k / 2):
                    errs.append(f"initial {prefix}{leaf} spans [{w.min():.3g}, {w.max():.3g}], not U(-{k:.3g}, {k:.3g})")
                if w.ndim == 2 and not abs(w.std() / (k / math.sqrt(3)) - 1) < 0.25:
                    errs.append(f"initial {prefix}{leaf} has std {w.std():.3g}, U(-k, k) has {k / math.sqrt(3):.3g}")
                seen.append(w.reshape(-1)[:4].tolist())
            if len({tuple(v) for v in seen}) != len(seen):
                errs.append(f"initial {prefix}* tensors repeat the same draws")
        return errs
    return check


CASES = [
    tp.Case("rnn_tanh", tp._pt("rnn_tanh.nn"), lambda: SeqDense("rnn", 4, 6, 2, "mse", "p"),
            batch_reg(3, 5, 4, 2), lambda p: torch.optim.Adam(p, lr=0.01), seed=21),
    tp.Case("rnn_lstm", tp._pt("rnn_lstm.nn"), lambda: SeqDense("lstm", 4, 6, 5, "xent", "logits"),
            batch_labels(3, 5, 4, 5), lambda p: torch.optim.Adam(p, lr=0.01), seed=22,
            check=check_init({"h.": 6})),
    tp.Case("rnn_gru", tp._pt("rnn_gru.nn"), lambda: SeqDense("gru", 4, 6, 3, "mse", "p"),
            batch_reg(3, 5, 4, 3), lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
            seed=23),
    tp.Case("rnn_stack", tp._pt("rnn_stack.nn"), Stack, batch_labels(6, 7, 3, 4),
            lambda p: torch.optim.Adam(p, lr=0.01), seed=24,
            check=check_init({"h.0.": 8, "h.1.": 12, "h.2.": 7})),
    tp.Case("rnn_one_step", tp._pt("rnn_one_step.nn"), OneStep, batch_reg(4, 1, 3, 2),
            lambda p: torch.optim.Adam(p, lr=0.01), seed=25),
    tp.Case("rnn_bidir", tp._pt("rnn_bidir.nn"), Bidir, batch_labels(4, 6, 3, 4),
            lambda p: torch.optim.Adam(p, lr=0.01), seed=26,
            check=check_init({"h.0.": 5, "h.1.": 4, "h.2.": 7}, leaves(2, True))),
    tp.Case("rnn_layers", tp._pt("rnn_layers.nn"), Layers, batch_layers,
            lambda p: torch.optim.Adam(p, lr=0.01), seed=27,
            check=check_init({"h.": 6}, leaves(3, False))),
]
