#!/usr/bin/env python3
"""quant_ref.py — the reference of nnc's --quantize int8 (codegen/c/k_quant.c)
for tests/e2e/quant.sh, on the UCI digits:

    quant_ref.py MODEL WEIGHTS CALIB DATA SCALE INT8_PROBS F32_PROBS

MODEL is digits_mlp (examples/), qconv (tests/e2e/qconv.nn) or qsigned
(tests/e2e/qsigned.nn: negative inputs to int8 layers); the *_PROBS
files are tests/e2e/quant_probs.c's output (C99 %a) of the int8 and the f32
--weights builds. Checked, with numpy:

  1. the same scheme computed here (int8 values, exact integer sums, the
     dequantization, bias and ReLU in float32 as the kernels do): the int8
     build's outputs within 1e-6 (only the softmax differs: nnc_expf);
  2. fake quantization in float64 (x and W quantized and dequantized, the
     layer then in float64): within 1e-4, the same class for at least 99%
     of the examples (a value that lands on a rounding step's edge may
     round the other way in float32);
  3. accuracy: the int8 build loses at most 0.5 points against f32.
Prints one line of numbers; exit status 1 when a check fails.
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        s, e = t["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32).reshape(t["shape"])
    return out


def round_away(t):
    """Round half away from zero (float64)."""
    return np.where(t < 0, -np.floor(-t + 0.5), np.floor(t + 0.5))


def quant_weights(w):
    """Per output row: s_w = max |row| / 127 (1 for a zero row), q in [-127, 127]."""
    rows = w.reshape(w.shape[0], -1).astype(np.float64)
    mx = np.abs(rows).max(axis=1)
    sw = np.where(mx > 0, mx / 127, 1.0)
    q = np.clip(round_away(rows / sw[:, None]), -127, 127)
    return q, sw


def input_scale(a):
    return a / 127 if a > 1e-30 else 1.0


def quant_input_f32(x, sx):
    """nnc_quant8: t = x * (float)(1 / s_x) in float32, clamped, rounded half away."""
    t = (x.astype(np.float32) * np.float32(1 / sx)).astype(np.float32)
    t = np.minimum(t, np.float32(127)).astype(np.float32)
    t = np.maximum(t, np.float32(-127)).astype(np.float32)
    k = np.trunc(t)
    f = (t - k).astype(np.float32)
    return k + (f >= 0.5) - (f <= -0.5)


def quant_input_f64(x, sx):
    return np.clip(round_away(x / sx), -127, 127)


def im2col(x, kh, kw, stride, pad, dil):
    """x [N, C, H, W] -> [N, OH, OW, C kh kw] (channel, kh, kw order), zero padding."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, :, i, j] = xp[:, :, i * dil:i * dil + stride * oh:stride,
                                        j * dil:j * dil + stride * ow:stride].transpose(0, 2, 3, 1)
    return cols.reshape(n, oh, ow, -1), oh, ow


class Layers:
    """The two schemes: exact (float32 around int8 sums) and fake (float64)."""

    def __init__(self, w, calib, exact):
        self.w, self.calib, self.exact = w, calib, exact

    def product(self, x2d, name):
        """x2d [M, K] times W^T with name's scales: [M, N]."""
        qw, sw = quant_weights(self.w[name + ".weight"])
        sx = input_scale(float(self.calib[name + ".weight.input_absmax"][0]))
        if self.exact:
            acc = quant_input_f32(x2d, sx).astype(np.int64) @ qw.astype(np.int64).T
            scale = (sx * sw).astype(np.float32)
            return (acc.astype(np.float32) * scale).astype(np.float32)
        return (quant_input_f64(x2d, sx) * sx) @ (qw * sw[:, None]).T

    def dense(self, x, name):
        y = self.product(x, name)
        return (y + self.bias(name)).astype(y.dtype)

    def conv(self, x, name, stride, pad, dil):
        w = self.w[name + ".weight"]
        cols, oh, ow = im2col(x, w.shape[2], w.shape[3], stride, pad, dil)
        y = self.product(cols.reshape(-1, cols.shape[-1]), name)
        y = y.reshape(x.shape[0], oh, ow, -1).transpose(0, 3, 1, 2)
        return (y + self.bias(name)[None, :, None, None]).astype(y.dtype)

    def bias(self, name):
        b = self.w[name + ".bias"]
        return b if self.exact else b.astype(np.float64)


def relu(x):
    return np.maximum(x, 0).astype(x.dtype)


def maxpool2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def forward(model, L, x):
    if model == "digits_mlp":
        h = relu(L.dense(x, "h.0"))
        h = relu(L.dense(h, "h.2"))
        return L.dense(h, "logits")
    img = x.reshape(-1, 1, 8, 8)
    if model == "qsigned":
        c2 = maxpool2(L.conv(L.conv(img, "c1", 1, 1, 1), "c2", 1, 1, 1))
        return L.dense(c2.reshape(c2.shape[0], -1), "logits")
    c1 = maxpool2(relu(L.conv(img, "c1", 1, 1, 1)))
    c2 = relu(L.conv(c1, "c2", 2, 2, 2))
    return L.dense(c2.reshape(c2.shape[0], -1), "logits")


def softmax(z):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def read_probs(path):
    return np.array([[float.fromhex(v) for v in line.split()] for line in open(path)])


def main():
    model, wpath, cpath, data, scale, p8path, p32path = sys.argv[1:8]
    w, calib = read_safetensors(wpath), read_safetensors(cpath)
    rows = np.loadtxt(data, delimiter=",", dtype=np.float64)
    x = (rows[:, :64].astype(np.float32) * np.float32(float(scale))).astype(np.float32)
    labels = rows[:, 64].astype(int)
    p8, p32 = read_probs(p8path), read_probs(p32path)
    exact = softmax(forward(model, Layers(w, calib, True), x))
    fake = softmax(forward(model, Layers(w, calib, False), x.astype(np.float64)))
    d_exact, d_fake = np.abs(p8 - exact).max(), np.abs(p8 - fake).max()
    agree = (p8.argmax(1) == fake.argmax(1)).mean() * 100
    acc8, acc32 = (p8.argmax(1) == labels).mean() * 100, (p32.argmax(1) == labels).mean() * 100
    ok = d_exact <= 1e-6 and d_fake <= 1e-4 and agree >= 99 and acc8 >= acc32 - 0.5
    print("%s: %d examples; int8 vs the same scheme in float32 %.2g (bound 1e-6), vs fake-quant float64 %.2g "
          "(bound 1e-4), same class %.1f%%; accuracy f32 %.2f%% int8 %.2f%%"
          % (model, len(labels), d_exact, d_fake, agree, acc32, acc8))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
