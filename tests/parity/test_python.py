#!/usr/bin/python3
"""test_python.py — nnc's Python outputs against the C they bind and mirror.

  train     --emit=py's module trains the digits MLP from a numpy loop in the
            order of the C trainer (nnrt_shuffle, seed 1, 30 epochs)
            (examples/data/digits, the data of `make demo`) and scores the
            test set at least MIN_ACCURACY (the demo: 98.89%)
  errors    the module's clear errors: wrong shapes, dtypes, names, labels
            out of range, a missing library; nnc's error for an op the torch
            mirror cannot write (vae's randn), naming its source position
  mirror    for each example: the module's model after one train_step, its
            weights saved by the C (P_save) and read by scripts/safetensors.py
            into the --emit=torch mirror with load_state_dict(strict=True);
            the mirror's outputs on the same inputs equal the C forward's
            within 1e-4 relative (max |ours - torch| / max |torch|)
  objectives  the two objectives of tests/parity/gan.nn as two modules that
            train one set of parameters (bind_params)
  input_grad  tests/parity/input_grad.nn's input gradients against a central
            difference
  safetensors  scripts/safetensors.py: round trip (numpy and nested lists,
            metadata), the C loads what it writes, `list`, a bad file's error

Prints one `PASS name` or `FAIL name: why` line per check and exits 1 if any
failed. Needs numpy and Debian's torch (/usr/bin/python3).
Usage: tests/parity/test_python.py [--nnc build/nnc] [--keep] [CHECK...]
"""
import argparse
import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import safetensors as st  # noqa: E402

MIN_ACCURACY = 0.985  # make demo scores 98.89%; this loop, in the same order, the same here
TOL, TOL_F64 = 1e-4, 1e-9  # float32, and --dtype=f64 against the mirror in float64
# example, -D overrides that keep a case to a second or two
MIRRORS = [("digits_mlp", []), ("lenet", []), ("resnet_tiny", ["-D", "B=8"]), ("char_lstm", ["-D", "B=4"]),
           ("char_gru", ["-D", "B=4"]), ("tiny_gpt", ["-D", "B=2"]), ("vit", ["-D", "B=4"]), ("seq2seq", []),
           ("bilstm", []), ("conv_autoencoder", []), ("autoencoder", []), ("xor", []),
           ("tiny_gpt", ["-D", "B=2", "--dtype=f64"])]

results = []


def report(name, ok, why=""):
    results.append(ok)
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:600]}")
    return p


def build(args, tmp, example, defs=(), name=None, src=None):
    """nnc --emit=py (and the C, built as lib<name>.so) of an example (or of src): the module, the library's
    path."""
    name = name or example
    src = src or os.path.join(ROOT, "examples", example + ".nn")
    base = os.path.join(tmp, name)
    run([args.nnc, src, *defs, "--emit=py", "-o", base + ".py"])
    run([args.nnc, src, *defs, "-o", base + ".c"])
    lib = os.path.join(ROOT, "build")
    so = os.path.join(tmp, "lib" + name + ".so")
    run(["cc", "-shared", "-fPIC", "-O2", "-I" + os.path.join(ROOT, "runtime"), base + ".c", "-L" + lib,
         "-Wl,-rpath," + lib, "-lnnrt", "-lm", "-o", so])
    return load_module(base + ".py", "nncpy_" + name), so


def load_module(path, modname):
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def digits(name):
    data = np.loadtxt(os.path.join(ROOT, "examples", "data", "digits", name), delimiter=",", dtype=np.float64)
    return (data[:, :-1] * 0.0625).astype(np.float32), data[:, -1].astype(np.int32)


def accuracy(model, x, y, batch):
    right = 0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        pad = np.concatenate([xb, np.repeat(xb[-1:], batch - len(xb), 0)]) if len(xb) < batch else xb
        right += int((model.forward(pad)[:len(xb)].argmax(1) == y[i:i + batch]).sum())
    return right / len(x)


def check_train(args, tmp):
    mod, _ = build(args, tmp, "digits_mlp")  # the module finds libdigits_mlp.so beside it
    x, y = digits("digits_train.csv")
    keep = len(x) - round(0.1 * len(x))  # the demo's --val-split 0.1: the last tenth is held out
    x, y = x[:keep], y[:keep]
    batch = mod.INPUTS[0][2][0]
    model, start = mod.Model(seed=1), time.time()
    # the trainer's order: libnnrt's nnrt_shuffle (Philox, seed 1, epochs 1..30), full batches only
    shuffle, order = model.lib.nnrt_shuffle, np.empty(len(x), np.int64)
    shuffle.restype, shuffle.argtypes = None, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64]
    for epoch in range(1, 31):
        shuffle(order.ctypes.data, len(x), 1, epoch)
        losses = [model.train_step(x[b], y[b]) for b in
                  (order[i:i + batch] for i in range(0, len(x) - batch + 1, batch))]
    xt, yt = digits("digits_test.csv")
    acc = accuracy(model, xt, yt, batch)
    why = f"test accuracy {acc:.2%} (last epoch's loss {np.mean(losses):.4f}) below {MIN_ACCURACY:.0%}"
    report(f"train: the digits MLP from a numpy loop, 30 epochs in {time.time() - start:.1f} s: "
           f"test accuracy {acc:.2%}", acc >= MIN_ACCURACY, why)
    return mod, model


def expect_error(name, exc_type, text, fn):
    try:
        fn()
    except exc_type as exc:
        report(f"errors: {name}", text in str(exc), f"message {str(exc)!r} lacks {text!r}")
        return
    except Exception as exc:  # noqa: BLE001 - a wrong kind of error is a failure
        report(f"errors: {name}", False, f"{type(exc).__name__}: {exc}")
        return
    report(f"errors: {name}", False, "no error")


def check_errors(args, tmp, mod, model):
    x, y = np.zeros((32, 64), np.float32), np.zeros(32, np.int32)
    expect_error("a batch of the wrong size", ValueError, "input 'image' of model digits_mlp needs shape [32, 64]",
                 lambda: model.forward(x[:16]))
    expect_error("float labels", ValueError, "target 'digit' of model digits_mlp needs int32[32], got float64[32]",
                 lambda: model.loss(x, y.astype(np.float64)))
    expect_error("a string for an array", ValueError, "needs float32[32, 64]", lambda: model.forward("abc"))
    expect_error("a label out of range", mod.NNCError, "digit 10 at index 3 is not in [0, 10)",
                 lambda: model.train_step(x, np.where(np.arange(32) == 3, 10, 0)))
    expect_error("a missing argument", TypeError, "missing 'digit'", lambda: model.loss(x))
    sd = model.state_dict()
    sd["extra"] = sd.pop("logits.bias")
    expect_error("state_dict names", ValueError, "missing ['logits.bias'], unexpected ['extra']",
                 lambda: model.load_state_dict(sd))
    sd = model.state_dict()
    sd["logits.bias"] = np.zeros(11)
    expect_error("state_dict shapes", ValueError, "parameter 'logits.bias' of model digits_mlp needs shape [10]",
                 lambda: model.load_state_dict(sd))
    expect_error("a missing weights file", mod.NNCError, "nothing.safetensors",
                 lambda: model.load(os.path.join(tmp, "nothing.safetensors")))
    expect_error("a missing library", FileNotFoundError, "no shared library of model digits_mlp; build it with",
                 lambda: mod.Model(lib=os.path.join(tmp, "libnone.so")))
    x64 = np.asfortranarray(np.random.default_rng(2).random((32, 64)))  # float64, not C-contiguous: copied
    report("errors: float64 Fortran-order input is converted",
           np.array_equal(model.forward(x64), model.forward(x64.astype(np.float32).copy())), "outputs differ")
    f64 = os.path.join(tmp, "digits_f64.py")
    run([args.nnc, os.path.join(ROOT, "examples", "digits_mlp.nn"), "--dtype=f64", "--emit=py", "-o", f64])
    expect_error("a library built with other options", RuntimeError,  # that module's own NNCError
                 "inputs and targets of model digits_mlp are [('image', 'f32', (32, 64)), ('digit', 'i32', (32,))], "
                 "not [('image', 'f64', (32, 64)), ('digit', 'i32', (32,))] as this module was generated for",
                 lambda: load_module(f64, "nncpy_f64").Model(lib=os.path.join(tmp, "libdigits_mlp.so")))
    p = subprocess.run([args.nnc, os.path.join(ROOT, "examples", "vae.nn"), "--emit=torch"], capture_output=True,
                       text=True)
    want = "vae.nn:13:34: error: --emit=torch: op 'randn' has no PyTorch translation (model 'vae')"
    report("errors: --emit=torch names an op it cannot write", p.returncode == 1 and want in p.stderr,
           f"exit {p.returncode}, stderr {p.stderr!r}")


def check_objectives(args, tmp):
    """tests/parity/gan.nn's two objectives: one module each, sharing the parameters through bind_params."""
    mods = {obj: build(args, tmp, "gan", ["--objective", obj], "gan_" + obj, os.path.join(HERE, "gan.nn"))[0]
            for obj in ("d_loss", "g_loss")}
    d, g = mods["d_loss"].Model(seed=3), mods["g_loss"].Model(seed=3)
    g.bind_params(d)
    rng = np.random.default_rng(3)
    io = [rng.random((4, 3)), rng.random((4, 2)), np.ones((4, 1)), np.zeros((4, 1))]
    before = d.state_dict()
    g.train_step(*io)  # trains gen.* in d's parameters
    moved = d.state_dict()
    d.train_step(*io)  # trains dw, db, dv
    after, seen = d.state_dict(), g.state_dict()
    ok = (not np.array_equal(before["gen.weight"], moved["gen.weight"]) and np.array_equal(before["dw"], moved["dw"])
          and not np.array_equal(moved["dw"], after["dw"]) and all(np.array_equal(after[k], seen[k]) for k in after))
    report("objectives: gan's d_loss and g_loss modules train one shared set of parameters (bind_params)", ok,
           "the parameters did not move as the objectives say")
    expect_error("forward of a model without outputs", RuntimeError, "model gan has no forward: it has no output",
                 lambda: d.forward(*io[:2]))


def check_input_grad(args, tmp):
    """tests/parity/input_grad.nn: input_grad of x against a central difference of the loss."""
    mod, _ = build(args, tmp, "input_grad", src=os.path.join(HERE, "input_grad.nn"))
    model, rng = mod.Model(seed=1), np.random.default_rng(1)
    io = [rng.random((6, 8)), rng.random((6, 4)), rng.random((6, 4)), rng.integers(0, 3, 6)]
    model.forward_backward(*io)
    gx, gz = model.input_grad("x"), model.input_grad("z")
    lo, hi = [a.copy() for a in io], [a.copy() for a in io]
    lo[0][2, 5] -= 1e-2
    hi[0][2, 5] += 1e-2
    fd = (model.loss(*hi) - model.loss(*lo)) / 2e-2
    report(f"input_grad: d loss / d x[2, 5] = {gx[2, 5]:.6f}, central difference {fd:.6f}; z's is 0",
           abs(gx[2, 5] - fd) < 1e-4 and not gz.any() and gx.shape == (6, 8), f"{gx[2, 5]} vs {fd}, z {gz}")
    expect_error("input_grad of an input without requires_grad", mod.NNCError,
                 "model input_grad has no input_grad: no such input is declared requires_grad",
                 lambda: model.input_grad("c"))


def example_io(mod, rng):
    """Random inputs and targets for a module's model: floats in [0, 1), ids and labels in [0, 10)."""
    def one(kind, shape):
        return rng.integers(0, 10, shape).astype(np.int32) if kind == "i32" else rng.random(shape).astype(np.float32)
    return [one(k, s) for _, k, s in mod.INPUTS], [one(k, s) for _, k, s in mod.TARGETS]


def check_mirror(args, tmp, example, defs):
    import torch
    start, f64 = time.time(), "--dtype=f64" in defs
    name = example + ("_f64" if f64 else "")
    mod, so = build(args, tmp, example, defs, name)
    torch_py = os.path.join(tmp, name + "_torch.py")
    run([args.nnc, os.path.join(ROOT, "examples", example + ".nn"), *defs, "--emit=torch", "-o", torch_py])
    mirror = load_module(torch_py, "nnctorch_" + name).Model()
    model, rng = mod.Model(seed=7, lib=so), np.random.default_rng(7)
    xs, ts = example_io(mod, rng)
    if mod.TRAINABLE:
        model.train_step(*xs, *ts)  # weights (and batch norm's running statistics) off their initial values
    weights = os.path.join(tmp, name + ".safetensors")
    model.save(weights)
    tensors, _ = st.load(weights)
    mirror.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    ours = model.forward(*xs)
    ours = ours if isinstance(ours, tuple) else (ours,)
    with torch.no_grad():
        theirs = mirror(*[torch.from_numpy(x) for x in xs])
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    errs = [float(np.abs(a - b.numpy()).max() / max(float(np.abs(b.numpy()).max()), 1e-12))
            for a, b in zip(ours, theirs)]
    tol = TOL_F64 if f64 else TOL
    report(f"mirror {name}: strict state_dict, {len(ours)} output(s), rel err {max(errs):.1e} (< {tol:g}), "
           f"{time.time() - start:.1f} s", len(ours) == len(theirs) and max(errs) < tol, f"relative errors {errs}")


def check_safetensors(tmp, mod, model):
    path, again = os.path.join(tmp, "w.safetensors"), os.path.join(tmp, "w2.safetensors")
    model.save(path)
    tensors, _ = st.load(path)
    sd = model.state_dict()
    report("safetensors: reads what the C writes", list(tensors) == list(sd) and
           all(np.array_equal(tensors[k], sd[k]) for k in sd), "tensors differ")
    lists, _ = st.load(path, numpy=False)
    report("safetensors: nested lists without numpy", np.array_equal(np.array(lists["h.0.weight"], np.float32),
                                                                     sd["h.0.weight"]), "values differ")
    doubled = {k: v * 2 for k, v in tensors.items()}
    st.save(again, doubled, {"note": "doubled"})
    model.load(again)
    back, meta = st.load(again)
    report("safetensors: the C loads what it writes, metadata kept", meta == {"note": "doubled"} and
           all(np.array_equal(model.state_dict()[k], doubled[k]) for k in doubled), f"metadata {meta}")
    st.save(again, {"a": [[1, 2, 3], [4, 5, 6]], "b": np.arange(4, dtype=np.int32)}, dtype="I32")
    back, _ = st.load(again)
    report("safetensors: lists and int32 round trip", back["a"].dtype == np.int32 and
           back["a"].tolist() == [[1, 2, 3], [4, 5, 6]] and back["b"].tolist() == [0, 1, 2, 3], f"{back}")
    cli = [sys.executable, os.path.join(ROOT, "scripts", "safetensors.py")]
    out = subprocess.run(cli + ["list", path], capture_output=True, text=True).stdout
    report("safetensors: list", out.splitlines()[0] == "h.0.weight\tF32\t[128, 64]", f"output {out!r}")
    with open(again, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    p = subprocess.run(cli + ["list", again], capture_output=True, text=True)
    report("safetensors: a truncated file is one error line", p.returncode == 1 and
           p.stderr.strip() == f"safetensors.py: error: {again}: header length 16 runs past the end of the file "
           "(10 bytes)", f"exit {p.returncode}, {p.stderr!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnc", default=os.path.join(ROOT, "build", "nnc"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("checks", nargs="*")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nnc-python-")
    want = set(args.checks) or {"train", "errors", "objectives", "input_grad", "mirror", "safetensors"}
    try:
        mod, model = check_train(args, tmp) if want & {"train", "errors", "safetensors"} else (None, None)
        if "errors" in want:
            check_errors(args, tmp, mod, model)
        if "safetensors" in want:
            check_safetensors(tmp, mod, model)
        if "objectives" in want:
            check_objectives(args, tmp)
        if "input_grad" in want:
            check_input_grad(args, tmp)
        for example, defs in MIRRORS if "mirror" in want else []:
            try:
                check_mirror(args, tmp, example, defs)
            except Exception as exc:  # noqa: BLE001 - one failing example must not hide the others
                report(f"mirror {example} {' '.join(defs)}", False, f"{type(exc).__name__}: {exc}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"python: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
