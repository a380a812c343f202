"""cases_examples.py — parity of the shipped example models (examples/*.nn).

Each case compiles the real example file, shrunk with -D overrides of its
consts so that one case runs in seconds, and mirrors it in PyTorch with the
same state_dict names (docs/language.md, "Parameter names" and "Parameter
names in blocks"): loss, every gradient, the outputs, then 10 steps of the
example's own optimizer. Inputs are real data: a few MNIST test images
(examples/data/mnist, IDX) for lenet, resnet_tiny and autoencoder, windows of
tiny Shakespeare (examples/data/tinyshakespeare/input.txt, ids = positions in
the sorted distinct bytes of the whole text, 65 symbols; targets = the next
character) for the character models. `tp` is test_parity, set by its loader.

  ex_lenet        conv2d, maxpool2d, flatten, dense; Adam
  ex_resnet_tiny  conv2d without bias, batchnorm (modes), a stack of two
                  residual blocks, maxpool2d, global_avgpool; Adam
  ex_char_lstm    embedding, lstm, dense over [B, T, V]; Adam
  ex_char_gru     embedding, gru, dense; Adam
  ex_char_rnn     embedding, rnn (tanh), dense; Adam
  ex_tiny_gpt     embedding, positional, a stack of pre-layernorm transformer
                  blocks (causal attention, tanh-GELU MLP), layernorm; AdamW
  ex_autoencoder  dense encoder/decoder, sigmoid, mse against the input; Adam
  ex_seq2seq      embedding, indexing, positional, encoder blocks, decoder
                  blocks with causal self-attention and cross-attention
                  (kv = the encoder's output), GELU MLPs, cross_entropy over
                  [B, T, V] on digit-reversal rows as examples/seq2seq_data.sh
                  writes them; AdamW
  ex_conv_autoencoder  stride-2 conv2d encoder, upsample (nearest), conv2d,
                  conv_transpose2d (output_padding 1), sigmoid, mse; Adam
  ex_bilstm       2-layer bidirectional lstm over MNIST rows, the last step
                  h[:, -1] (H shrunk to 12); Adam
  ex_vit          conv2d patches, a class token by expand, concat,
                  positional, a stack of pre-layernorm attention blocks
                  (GELU MLPs), h[:, 0]; AdamW
  ex_finetune_base  LeNet-style features, a 5-class head, on digits 0-4; AdamW
  ex_finetune_head  the same features frozen (freeze = [c1, c2, f]: no
                  gradient, no step, no decay, checked bit-identical after
                  the 10 steps) and a new head on digits 5-9 renumbered
                  0..4 (what train --classes 5-9 feeds); AdamW
(examples/vae.nn's case, ex_vae, is in cases_rand.py with the noise it draws.)

Adam's eps. Adam divides every element's step by that element's own gradient
magnitude, so an element whose gradient is within a few eps of zero turns
float32 round-off of its gradient into different steps on the two sides:

- tiny_gpt: the key part of in_proj_bias, rows [D, 2D), has an exactly zero
  gradient (cases_attn.py); with eps = 1e-8 its round-off (about 1e-9 on
  each side) becomes steps of up to lr, and in_proj_bias differs by 5e-2
  to 1e-1 relative after 10 steps, while every other parameter agrees
  within 1e-5.
- char_lstm, char_gru, char_rnn: weight_hh_l0 [4H/3H/H, 256] and the others
  hold hundreds of thousands of elements; some of them have first gradients
  of 1e-8 to 1e-7 while their round-off is about 1e-10. After 10 steps of
  Adam(eps = 1e-8) PyTorch float32 and PyTorch float64 themselves differ by
  3e-5 to 7e-4 relative (half the seeds beyond 1e-4), and nnc float32 lands
  as far from float64 as PyTorch float32 does, while nnc's gradients at
  every one of the 10 steps agree with float64 within 2e-6.

- vit: like tiny_gpt, in_proj_bias's key rows have exactly zero gradients.
  With eps = 1e-4 they still moved 1.2e-6 on nnc's AVX2 build (an AMD EPYC,
  seed 41), 1.2e-4 of the tensor's largest element, where PyTorch float32
  moved them 5e-8: round-off of about 1e-8 in a zero gradient, times lr / eps
  = 10 per step. Its case uses eps = 1e-3 (VIT_EPS): 6.6e-6 there.

Those five cases (and seq2seq) therefore compile the real example text with one change,
`eps = 1e-4` added to its train statement (written to a temporary folder at
load time; the rest of the file is the example byte for byte), and give
PyTorch the same eps, as cases_attn.py does: float32 and float64 PyTorch then
agree within 3e-6 after 10 steps. lenet, resnet_tiny, autoencoder,
conv_autoencoder, bilstm and the finetune pair use the examples as they are,
with their own optimizers.

Kinks. ReLU and max pooling branch on signs and ties, so a run whose
pre-activation passes within round-off of zero during the 10 steps sends the
two sides down different branches; resnet_tiny (batch norm over 4 images,
ReLU, two max pools) is the most exposed. With an Adam update exact to
round-off, seed 32 has no such event (PyTorch float32 and float64 agree
within 2e-6 after 10 steps); seeds 8 and 11 do (float32 PyTorch itself
departs from float64 by 2e-4 to 2e-3), so do not change the seeds lightly.
"""
import atexit
import os
import re
import shutil
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

tp = globals()["tp"]  # injected by test_parity.py before this runs

DATA = os.path.join(tp.ROOT, "examples", "data")
MNIST_IMAGES = os.path.join(DATA, "mnist", "t10k-images-idx3-ubyte")
MNIST_LABELS = os.path.join(DATA, "mnist", "t10k-labels-idx1-ubyte")
SHAKESPEARE = os.path.join(DATA, "tinyshakespeare", "input.txt")


# ---- data -------------------------------------------------------------------


def mnist(rng, n):
    """n distinct MNIST test images, [n, 28, 28] in [0, 1] (pixels / 255),
    and their labels as int32. IDX: a 16-byte header (magic 0x803, count,
    rows, cols, big-endian) then uint8 pixels; labels: an 8-byte header
    (magic 0x801, count) then uint8 labels."""
    img = np.memmap(MNIST_IMAGES, np.uint8, "r")
    lab = np.memmap(MNIST_LABELS, np.uint8, "r")
    head, lhead = img[:16].view(">u4"), lab[:8].view(">u4")
    assert tuple(head) == (0x803, 10000, 28, 28) and tuple(lhead) == (0x801, 10000), "not MNIST t10k"
    idx = np.sort(rng.choice(10000, n, replace=False))
    images = np.stack([np.asarray(img[16 + 784 * i:16 + 784 * (i + 1)]) for i in idx])
    return images.reshape(n, 28, 28).astype(np.float64) / 255.0, lab[8 + idx].astype(np.int32)


def batch_mnist_conv(B):
    def make(rng):
        images, labels = mnist(rng, B)
        return {"image": images[:, None], "digit": labels}
    return make


def batch_mnist_flat(B):
    def make(rng):
        return {"image": mnist(rng, B)[0].reshape(B, 784)}
    return make


_TEXT = {}


def shakespeare_ids():
    """The text as ids: id k is the k-th smallest distinct byte of the whole
    file (the trainer's vocabulary, docs/api.md), 65 of them."""
    if "ids" not in _TEXT:
        raw = np.fromfile(SHAKESPEARE, np.uint8)
        vocab = np.unique(raw)
        assert len(vocab) == 65, f"tiny Shakespeare has {len(vocab)} distinct bytes, expected 65"
        _TEXT["ids"] = np.searchsorted(vocab, raw).astype(np.int32)
    return _TEXT["ids"]


def batch_text(B, T):
    """B windows of T characters at random offsets; next = text shifted by one."""
    def make(rng):
        ids = shakespeare_ids()
        starts = rng.integers(0, len(ids) - T - 1, B)
        return {"text": np.stack([ids[s:s + T] for s in starts]),
                "next": np.stack([ids[s + 1:s + T + 1] for s in starts])}
    return make


# ---- the example files -------------------------------------------------------

TRAIN_RE = re.compile(r"^(\s*train\s+\w+\s*\()([^)]*)\)", re.M)
_DERIVED = {}


def train_statement(path):
    """The train statement of an example, e.g. 'train adam(lr = 2e-3)'."""
    m = TRAIN_RE.search(open(path).read())
    return re.sub(r"\s+", " ", m.group(0).strip()) if m else None


def with_eps(name, eps):
    """examples/NAME.nn with `eps = EPS` added to its train statement, as a
    file of the same name in a temporary folder removed at exit (see the
    top of this file for why). The real example if the statement is not
    found or sets eps already: check_train then fails the case."""
    real = tp._ex(name + ".nn")
    text = open(real).read()
    m = TRAIN_RE.search(text)
    if not m or len(TRAIN_RE.findall(text)) != 1 or "eps" in m.group(2):
        return real
    if "dir" not in _DERIVED:
        _DERIVED["dir"] = tempfile.mkdtemp(prefix="nnc-parity-examples-")
        atexit.register(shutil.rmtree, _DERIVED["dir"], True)
    path = os.path.join(_DERIVED["dir"], name + ".nn")
    with open(path, "w") as f:
        f.write(text[:m.start()] + m.group(1) + m.group(2) + f", eps = {eps})" + text[m.end():])
    return path


def check_train(name, statement, eps=None):
    """The example's train statement is the one its case's PyTorch optimizer
    mirrors, and (with eps) the file compiled is the example with only
    `, eps = EPS` added to that statement."""
    def check(res):
        real = tp._ex(name + ".nn")
        got = train_statement(real)
        if got != statement:
            return [f"examples/{name}.nn trains with '{got}', the case mirrors '{statement}'"]
        if eps is not None:
            text = open(real).read()
            m = TRAIN_RE.search(text)
            want = text[:m.start()] + m.group(1) + m.group(2) + f", eps = {eps})" + text[m.end():]
            path = os.path.join(_DERIVED.get("dir", ""), name + ".nn")
            if not os.path.exists(path) or open(path).read() != want:
                return [f"the file compiled is not examples/{name}.nn with eps = {eps} added"]
        return []
    return check


# ---- the PyTorch models ----------------------------------------------------


class LeNet(nn.Module):  # examples/lenet.nn
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)                    # c1 = image -> conv2d -> relu -> maxpool2d
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),   # f.1.*, f.3.*
                               nn.Linear(120, 84), nn.ReLU())
        self.logits = nn.Linear(84, 10)

    def forward(self, io):
        c1 = F.max_pool2d(torch.relu(self.c1(io["image"])), 2)
        c2 = F.max_pool2d(torch.relu(self.c2(c1)), 2)
        logits = self.logits(self.f(c2))
        return F.cross_entropy(logits, io["digit"].long()), {"probs": torch.softmax(logits, -1)}


BatchNorm = tp.BatchNorm  # nn.BatchNorm1d/2d without num_batches_tracked


class Residual(nn.Module):
    """block residual(x): a = x -> conv2d -> batchnorm -> relu (a.0, a.1),
    b = a -> conv2d -> batchnorm (b.0, b.1), return relu(x + b)."""

    def __init__(self, C):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), BatchNorm(C), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), BatchNorm(C))

    def forward(self, x):
        return torch.relu(x + self.b(self.a(x)))


class ResNetTiny(nn.Module):  # examples/resnet_tiny.nn
    def __init__(self, C=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, C, 3, padding=1, bias=False), BatchNorm(C), nn.ReLU(),
                                  nn.MaxPool2d(2))
        # r = stem -> stack(residual, 2) -> maxpool2d(2): the stack is the
        # statement's only layer, so its copies are r.0 and r.1
        self.r = nn.Sequential(Residual(C), Residual(C))
        self.logits = nn.Linear(C, 10)  # logits = r -> global_avgpool -> dense(10)

    def forward(self, io):
        r = F.max_pool2d(self.r(self.stem(io["image"])), 2)
        logits = self.logits(r.mean(dim=(2, 3)))
        return F.cross_entropy(logits, io["digit"].long()), {"probs": torch.softmax(logits, -1)}


CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharModel(nn.Module):  # examples/char_{lstm,gru,rnn}.nn
    def __init__(self, kind, V=65):
        super().__init__()
        self.e = nn.Embedding(V, 64)
        self.h = CELLS[kind](64, 256, batch_first=True)
        self.logits = nn.Linear(256, V)
        self.V = V

    def forward(self, io):
        h, _ = self.h(self.e(io["text"].long()))
        logits = self.logits(h)
        loss = F.cross_entropy(logits.reshape(-1, self.V), io["next"].reshape(-1).long())
        return loss, {"probs": torch.softmax(logits, dim=-1)}


def causal_mask(t):
    """True above the diagonal: the positions a query may not see."""
    return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)


class GptBlock(nn.Module):
    """block gpt_block(x, heads):
        a = x + attention(layernorm(x), heads, causal = true)   a.0 layernorm, a.1 attention
        m = a -> layernorm -> dense(4D) -> gelu(tanh) -> dense(D)  m.0, m.1, m.3
        return a + m                                             (no layers: no `out`)"""

    def __init__(self, D, heads):
        super().__init__()
        self.a = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
        self.m = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 4 * D), nn.GELU(approximate="tanh"),
                               nn.Linear(4 * D, D))

    def forward(self, x):
        n = self.a[0](x)
        a = x + self.a[1](n, n, n, need_weights=False, attn_mask=causal_mask(x.shape[1]))[0]
        return a + self.m(a)


class TinyGpt(nn.Module):  # examples/tiny_gpt.nn
    def __init__(self, T, V, D, L, H):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        # h = positional(tok) -> stack(gpt_block, L, H) -> layernorm: h.0 the
        # position table [T, D] (added to every batch row), h.1.i the copies, h.2
        self.h = nn.ModuleList([nn.Embedding(T, D), nn.Sequential(*[GptBlock(D, H) for _ in range(L)]),
                                nn.LayerNorm(D)])
        self.logits = nn.Linear(D, V)
        self.V = V

    def forward(self, io):
        h = self.tok(io["text"].long()) + self.h[0].weight
        h = self.h[2](self.h[1](h))
        logits = self.logits(h)
        loss = F.cross_entropy(logits.reshape(-1, self.V), io["next"].reshape(-1).long())
        return loss, {"probs": torch.softmax(logits, dim=-1)}


class Autoencoder(nn.Module):  # examples/autoencoder.nn
    def __init__(self):
        super().__init__()
        self.code = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 32), nn.ReLU())
        self.recon = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())

    def forward(self, io):
        recon = self.recon(self.code(io["image"]))
        return F.mse_loss(recon, io["image"]), {"recon": recon}


# ---- checks ----------------------------------------------------------------


def check_real_data(batch, key):
    """The batch function gives what it claims: MNIST pixels in [0, 1] with
    mostly blank background, or windows of ids within the 65-symbol
    vocabulary whose targets are the text shifted by one."""
    def check(res):
        b = batch(np.random.default_rng(0))
        x = b[key]
        if key == "image":
            if not (x.min() == 0 and x.max() == 1 and 0.6 < np.mean(x == 0) < 0.95):
                return [f"the MNIST batch does not look like MNIST (range [{x.min()}, {x.max()}], "
                        f"{np.mean(x == 0):.2f} blank)"]
        elif not (x.min() >= 0 and x.max() < 65 and np.array_equal(x[:, 1:], b["next"][:, :-1])):
            return ["the text batch is not shifted windows of 65-symbol ids"]
        return []
    return check


def check_running(res):
    """The running statistics moved in training and are saved (cases_norm)."""
    errs = []
    for k, v in res.get("train", {}).items():
        start = 0.0 if k.endswith("running_mean") else 1.0 if k.endswith("running_var") else None
        if start is not None and not np.any(np.abs(v - start) > 1e-6):
            errs.append(f"{k} after the steps is still at its start {start}")
    return errs


def both(*checks):
    return lambda res: [e for c in checks for e in c(res)]


# ---- the cases -------------------------------------------------------------

TEXT = {"B": 4, "T": 8}
GPT = {"B": 4, "T": 8, "D": 32, "L": 2, "H": 4}
S2S = {"B": 4, "T": 6, "D": 16, "H": 2}
EPS = 1e-4  # see the top of this file
class EncBlock(nn.Module):
    """block enc_block(x, heads): a = x + attention(layernorm(x), heads)   a.0, a.1
    return a + (a -> layernorm -> dense(2D) -> gelu -> dense(D))      out.0, out.1, out.3"""

    def __init__(self, D, heads):
        super().__init__()
        self.a = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
        self.out = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def forward(self, x):
        n = self.a[0](x)
        a = x + self.a[1](n, n, n, need_weights=False)[0]
        return a + self.out(a)


class DecBlock(nn.Module):
    """block dec_block(x, mem, heads): causal self-attention s.0, s.1; cross-
    attention over mem c.0, c.1; the MLP out.0, out.1, out.3"""

    def __init__(self, D, heads):
        super().__init__()
        self.s = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
        self.c = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
        self.out = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def forward(self, x, mem):
        n = self.s[0](x)
        s = x + self.s[1](n, n, n, need_weights=False, attn_mask=causal_mask(x.shape[1]))[0]
        n = self.c[0](s)
        c = s + self.c[1](n, mem, mem, need_weights=False)[0]
        return c + self.out(c)


class Seq2Seq(nn.Module):  # examples/seq2seq.nn
    def __init__(self, T, V, D, H):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.src = nn.Embedding(T, D)  # positional(emb[:, :T]): its [T, D] table
        self.enc = nn.ModuleList([EncBlock(D, H), EncBlock(D, H), nn.LayerNorm(D)])
        self.dec = nn.Embedding(T, D)
        self.d1, self.d2 = DecBlock(D, H), DecBlock(D, H)
        self.logits = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, V))
        self.T, self.V = T, V

    def forward(self, io):
        e = self.emb(io["tokens"].long())
        enc = e[:, :self.T] + self.src.weight
        for layer in self.enc:
            enc = layer(enc)
        d = e[:, self.T:] + self.dec.weight
        logits = self.logits(self.d2(self.d1(d, enc), enc))
        loss = F.cross_entropy(logits.reshape(-1, self.V), io["digits"].reshape(-1).long())
        return loss, {"probs": torch.softmax(logits, dim=-1)}


def batch_reverse(B, T):
    """Rows as examples/seq2seq_data.sh writes them: T source digits, the
    start token 10 and the reversed string's first T - 1 digits; targets the
    reversed string."""
    def make(rng):
        s = rng.integers(0, 10, (B, T))
        r = s[:, ::-1]
        tokens = np.concatenate([s, np.full((B, 1), 10), r[:, :-1]], axis=1)
        return {"tokens": tokens.astype(np.int32), "digits": r.astype(np.int32).copy()}
    return make


RESNET_SEED = 32  # see "Kinks" at the top of this file


def _text_case(kind, seed):
    name = f"char_{kind}"
    batch = batch_text(TEXT["B"], TEXT["T"])
    return tp.Case("ex_" + name, with_eps(name, EPS), lambda: CharModel(kind), batch,
                   lambda p: torch.optim.Adam(p, lr=2e-3, eps=EPS), defines=dict(TEXT), seed=seed,
                   check=both(check_train(name, "train adam(lr = 2e-3)", EPS), check_real_data(batch, "text")))


def _mnist_case(name, module, batch, optim, statement, seed, modes=False, extra=()):
    return tp.Case("ex_" + name, tp._ex(name + ".nn"), module, batch, optim, defines={"B": 4}, seed=seed,
                   modes=modes, check=both(check_train(name, statement), check_real_data(batch, "image"), *extra))


CASES = [
    _mnist_case("lenet", LeNet, batch_mnist_conv(4), lambda p: torch.optim.Adam(p, lr=1e-3),
                "train adam(lr = 1e-3)", 31),
    _mnist_case("resnet_tiny", ResNetTiny, batch_mnist_conv(4), lambda p: torch.optim.Adam(p, lr=2e-3),
                "train adam(lr = 2e-3)", RESNET_SEED, modes=True, extra=(check_running,)),
    _text_case("lstm", 33),
    _text_case("gru", 34),
    _text_case("rnn", 35),
    tp.Case("ex_tiny_gpt", with_eps("tiny_gpt", EPS),
            lambda: TinyGpt(GPT["T"], 65, GPT["D"], GPT["L"], GPT["H"]), batch_text(GPT["B"], GPT["T"]),
            lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01, eps=EPS), defines=dict(GPT), seed=36,
            check=both(check_train("tiny_gpt", "train adamw(lr = 1e-3, weight_decay = 0.01)", EPS),
                       check_real_data(batch_text(GPT["B"], GPT["T"]), "text"))),
    _mnist_case("autoencoder", Autoencoder, batch_mnist_flat(4), lambda p: torch.optim.Adam(p, lr=1e-3),
                "train adam(lr = 1e-3)", 37),
    tp.Case("ex_seq2seq", with_eps("seq2seq", EPS), lambda: Seq2Seq(S2S["T"], 11, S2S["D"], S2S["H"]),
            batch_reverse(S2S["B"], S2S["T"]),
            lambda p: torch.optim.AdamW(p, lr=2e-3, weight_decay=0.01, eps=EPS), defines=dict(S2S), seed=38,
            check=check_train("seq2seq", "train adamw(lr = 2e-3, weight_decay = 0.01)", EPS)),
]


# ---- conv_autoencoder, bilstm, vit, finetune_base, finetune_head -----------


class ConvAutoencoder(nn.Module):  # examples/conv_autoencoder.nn
    def __init__(self):
        super().__init__()
        self.e1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)     # e1 = image -> conv2d -> relu (one layer: e1.*)
        self.code = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.d1 = nn.Conv2d(8, 16, 3, padding=1)               # d1 = code -> upsample(2) -> conv2d -> relu
        self.recon = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, io):
        x = io["image"]
        code = torch.relu(self.code(torch.relu(self.e1(x))))
        d1 = torch.relu(self.d1(F.interpolate(code, scale_factor=2, mode="nearest")))
        recon = torch.sigmoid(self.recon(d1))
        return F.mse_loss(recon, x), {"recon": recon}


def batch_mnist_images(B):
    """B MNIST images [B, 1, 28, 28], no labels (an autoencoder)."""
    def make(rng):
        return {"image": mnist(rng, B)[0][:, None]}
    return make


class BiLstm(nn.Module):  # examples/bilstm.nn
    def __init__(self, H):
        super().__init__()
        self.h = nn.LSTM(28, H, num_layers=2, bidirectional=True, batch_first=True)
        self.logits = nn.Linear(2 * H, 10)

    def forward(self, io):
        h, _ = self.h(io["image"])
        logits = self.logits(h[:, -1])
        return F.cross_entropy(logits, io["digit"].long()), {"probs": torch.softmax(logits, -1)}


def batch_mnist_rows(B):
    """B MNIST images as sequences of 28 rows [B, 28, 28], and their labels."""
    def make(rng):
        images, labels = mnist(rng, B)
        return {"image": images, "digit": labels}
    return make


class VitBlock(nn.Module):
    """block vit_block(x, heads): a = x + attention(layernorm(x), heads)   a.0, a.1
    m = a -> layernorm -> dense(2D) -> gelu -> dense(D)                    m.0, m.1, m.3"""

    def __init__(self, D, heads):
        super().__init__()
        self.a = nn.ModuleList([nn.LayerNorm(D), nn.MultiheadAttention(D, heads, batch_first=True)])
        self.m = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def forward(self, x):
        n = self.a[0](x)
        a = x + self.a[1](n, n, n, need_weights=False)[0]
        return a + self.m(a)


class Vit(nn.Module):  # examples/vit.nn
    def __init__(self, D, L, H):
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, D))
        self.p = nn.Conv2d(1, D, 4, stride=4)
        # h = positional(x) -> stack(vit_block, L, H) -> layernorm: h.0 the
        # [50, D] position table, h.1.i the blocks, h.2 the layernorm
        self.h = nn.ModuleList([nn.Embedding(50, D), nn.Sequential(*[VitBlock(D, H) for _ in range(L)]),
                                nn.LayerNorm(D)])
        self.logits = nn.Linear(D, 10)
        self.D = D

    def forward(self, io):
        p = self.p(io["image"])
        B = p.shape[0]
        tokens = p.reshape(B, self.D, 49).permute(0, 2, 1)
        x = torch.cat([self.cls.expand(B, 1, self.D), tokens], 1) + self.h[0].weight
        logits = self.logits(self.h[2](self.h[1](x))[:, 0])
        return F.cross_entropy(logits, io["digit"].long()), {"probs": torch.softmax(logits, -1)}


class Finetune(nn.Module):  # examples/finetune_base.nn, examples/finetune_head.nn
    def __init__(self, head):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f = nn.Linear(400, 120)   # f = c2 -> flatten -> dense(120) -> relu: one layer, f.*
        if head:  # head = f -> dense(84) -> relu -> dense(5), the features frozen
            self.head = nn.Sequential(nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 5))
            for m in (self.c1, self.c2, self.f):
                m.requires_grad_(False)
        else:
            self.logits = nn.Linear(120, 5)
        self.is_head = head

    def forward(self, io):
        c1 = F.max_pool2d(torch.relu(self.c1(io["image"])), 2)
        c2 = F.max_pool2d(torch.relu(self.c2(c1)), 2)
        f = torch.relu(self.f(c2.flatten(1)))
        logits = self.head(f) if self.is_head else self.logits(f)
        return F.cross_entropy(logits, io["digit"].long()), {"probs": torch.softmax(logits, -1)}


def batch_mnist_classes(B, first):
    """B MNIST images [B, 1, 28, 28] of the digits first..first+4, labels
    renumbered 0..4 (what train --classes first-(first+4) feeds)."""
    def make(rng):
        images, labels = mnist(rng, 200)
        keep = np.flatnonzero((labels >= first) & (labels < first + 5))[:B]
        return {"image": images[keep][:, None], "digit": (labels[keep] - first).astype(np.int32)}
    return make


def check_frozen_features(res):
    """finetune_head: c1, c2 and f are bit-identical after the 10 AdamW
    steps (no gradient, no state, no decay), with zero gradients; the head moved."""
    errs = []
    for k, v in res["init"].items():
        frozen = k.split(".")[0] in ("c1", "c2", "f")
        same = np.array_equal(res["train"][k], v)
        if same != frozen:
            errs.append(f"{k} {'did not move' if same else 'moved'} in 10 steps")
        if frozen and np.any(res["grads"]["grad." + k]):
            errs.append(f"frozen {k} has a nonzero gradient")
    return errs


BILSTM = {"B": 4, "H": 12}
VIT = {"B": 4, "D": 16, "L": 2, "H": 2}
VIT_EPS = 1e-3
CASES += [
    _mnist_case("conv_autoencoder", ConvAutoencoder, batch_mnist_images(4), lambda p: torch.optim.Adam(p, lr=2e-3),
                "train adam(lr = 2e-3)", 39),
    tp.Case("ex_bilstm", tp._ex("bilstm.nn"), lambda: BiLstm(BILSTM["H"]), batch_mnist_rows(BILSTM["B"]),
            lambda p: torch.optim.Adam(p, lr=1e-3), defines=dict(BILSTM), seed=40,
            check=both(check_train("bilstm", "train adam(lr = 1e-3)"),
                       check_real_data(batch_mnist_rows(BILSTM["B"]), "image"))),
    tp.Case("ex_vit", with_eps("vit", VIT_EPS), lambda: Vit(VIT["D"], VIT["L"], VIT["H"]), batch_mnist_conv(VIT["B"]),
            lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.05, eps=VIT_EPS), defines=dict(VIT), seed=41,
            check=both(check_train("vit", "train adamw(lr = 1e-3, weight_decay = 0.05)", VIT_EPS),
                       check_real_data(batch_mnist_conv(VIT["B"]), "image"))),
    _mnist_case("finetune_base", lambda: Finetune(False), batch_mnist_classes(4, 0),
                lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
                "train adamw(lr = 1e-3, weight_decay = 0.01)", 42),
    _mnist_case("finetune_head", lambda: Finetune(True), batch_mnist_classes(4, 5),
                lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
                "train adamw(lr = 1e-3, weight_decay = 0.01, freeze = [c1, c2, f])", 43,
                extra=(check_frozen_features,)),
]
