#!/usr/bin/python3
"""A LeNet from PyTorch through ONNX into nnc, trained one step against PyTorch.

torch.onnx.export writes the model; `nnc import` turns it into .nn and a safetensors file
(parameter names as PyTorch's state_dict: conv1.weight, fc1.bias, ...); a target, a
cross-entropy loss and an SGD train statement are appended to the imported .nn, which nnc
compiles as any model. One train step from the imported weights on a fixed batch must give
PyTorch's loss and updated parameters (relative 1e-4 of each tensor's largest value).
"""
import ctypes, json, os, re, subprocess, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "onnx", "lenet")
B, LR = 8, 0.1


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(torch.tanh(self.fc2(torch.relu(self.fc1(x)))))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=np.float32).reshape(v["shape"])
    return out


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))


def direct(onnx_path, x, want):
    """`nnc lenet.onnx -o direct.c`: imported in memory, the weights embedded; its forward pass"""
    c_path, so = os.path.join(OUT, "direct.c"), os.path.join(OUT, "direct.so")
    run([os.path.join(ROOT, "build", "nnc"), onnx_path, "--name", "direct", "-o", c_path])
    run(["cc", "-std=c99", "-O2", "-fPIC", "-shared", "-I" + os.path.join(ROOT, "runtime"), c_path, "-o", so,
         "-L" + os.path.join(ROOT, "build"), "-lnnrt", "-Wl,-rpath," + os.path.join(ROOT, "build"), "-lm"])
    lib = ctypes.CDLL(so)
    lib.direct_create.restype = ctypes.c_void_p
    lib.direct_create.argtypes = [ctypes.c_uint64]
    lib.direct_forward.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.direct_free.argtypes = [ctypes.c_void_p]
    m = lib.direct_create(1)
    out = np.zeros(want.shape, dtype=np.float32)
    st = lib.direct_forward(m, x.ctypes.data, out.ctypes.data)
    lib.direct_free(m)
    worst = float(np.abs(out - want).max() / np.abs(want).max())
    print("%s onnx lenet direct: nnc lenet.onnx (weights embedded), forward: worst relative difference %.2g" % (
        "PASS" if st == 0 and worst < 1e-5 else "FAIL", worst))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = LeNet()
    x = torch.randn(B, 1, 28, 28)
    y = torch.randint(0, 10, (B,))
    onnx_path = os.path.join(OUT, "lenet.onnx")
    torch.onnx.export(model, x, onnx_path, input_names=["x"], output_names=["logits"], opset_version=13)
    with torch.no_grad():
        direct(onnx_path, np.ascontiguousarray(x.numpy()), model(x).numpy())
    nn_path, w_path = os.path.join(OUT, "lenet.nn"), os.path.join(OUT, "lenet.safetensors")
    run([os.path.join(ROOT, "build", "nnc"), "import", onnx_path, "-o", nn_path, "--weights", w_path])
    src = open(nn_path).read()
    train = "    target y : i32[%d]\n    loss cross_entropy(logits, y)\n    train sgd(lr = %g)\n}\n" % (B, LR)
    src = src[:src.rstrip().rfind("}")] + train
    open(os.path.join(OUT, "lenet_train.nn"), "w").write(src)
    c_path = os.path.join(OUT, "lenet.c")
    run([os.path.join(ROOT, "build", "nnc"), os.path.join(OUT, "lenet_train.nn"), "--name", "lenet", "-o", c_path])
    so = os.path.join(OUT, "lenet.so")
    run(["cc", "-std=c99", "-O2", "-fPIC", "-shared", "-I" + os.path.join(ROOT, "runtime"), c_path, "-o", so,
         "-L" + os.path.join(ROOT, "build"), "-lnnrt", "-Wl,-rpath," + os.path.join(ROOT, "build"), "-lm"])
    lib = ctypes.CDLL(so)
    lib.lenet_create.restype = ctypes.c_void_p
    lib.lenet_create.argtypes = [ctypes.c_uint64]
    lib.lenet_load.argtypes = lib.lenet_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.lenet_train_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.lenet_free.argtypes = [ctypes.c_void_p]
    m = lib.lenet_create(1)
    ok = lib.lenet_load(m, w_path.encode()) == 0
    xs = np.ascontiguousarray(x.numpy(), dtype=np.float32)
    ys = np.ascontiguousarray(y.numpy(), dtype=np.int32)
    loss = ctypes.c_float()
    ok = ok and lib.lenet_train_step(m, xs.ctypes.data, ys.ctypes.data, ctypes.byref(loss)) == 0
    after = os.path.join(OUT, "after.safetensors")
    ok = ok and lib.lenet_save(m, after.encode()) == 0
    lib.lenet_free(m)
    if not ok:
        print("FAIL onnx lenet: loading, training or saving the imported model failed")
        return 1
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    ref = F.cross_entropy(model(x), y)
    opt.zero_grad()
    ref.backward()
    opt.step()
    got = read_safetensors(after)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    worst = abs(loss.value - ref.item()) / abs(ref.item())
    names = sorted(state)
    if sorted(got) != names:
        print("FAIL onnx lenet: parameters %s, PyTorch has %s" % (sorted(got), names))
        return 1
    for k in names:
        worst = max(worst, float(np.abs(got[k] - state[k]).max() / np.abs(state[k]).max()))
    verdict = "PASS" if worst < 1e-4 else "FAIL"
    print("%s onnx lenet: PyTorch -> ONNX -> nnc import, one SGD step: loss %.6f vs %.6f, worst relative "
          "difference %.2g over %d tensors" % (verdict, loss.value, ref.item(), worst, len(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
