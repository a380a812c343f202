"""peers.py — what bench.py's worker processes share, and the peers that
`make bench PEERS=all` adds from the optional PyPI venv (bench/README.md):
JAX `jit` (training and inference) and ONNX Runtime (inference).

A worker is `bench.py --worker`, one process per peer and thread setting,
taking one JSON command per line on stdin and answering one JSON line:
    info                  versions
    load  name kind nb weights data io cfg
                          nnc's initial weights (safetensors, with nnc's
                          parameter names, which are PyTorch's) and the NB
                          batches of each io tensor (DATA.io<i>.bin)
    check name out        fresh weights; the forward output (softmax of the
                          logits) of batch 0 written to OUT as float32, and
                          the losses of two training steps (batches 0, 1)
    time  name mode min_s reps warm_s
                          fresh weights; per repeat [steps or calls, seconds]
The PyTorch worker (bench.py) answers these and `mm`; JaxPeer and OrtPeer
here answer them for JAX and ONNX Runtime (BENCH_PEER=jax or ort).

Each peer computes what bench.py's PyTorch modules compute, on the same
weights and batches: the MLP (dense, relu; cross-entropy; SGD), LeNet-5
(conv2d, relu, 2x2 max pooling, dense; SGD) and tiny_gpt (token and learned
position embeddings, pre-layernorm blocks of causal multi-head attention
with PyTorch's packed in_proj and a GELU (tanh) MLP; AdamW as
torch.optim.AdamW), and must pass bench.py's correctness guard.
"""
import json
import math
import os
import sys
import time

import numpy as np


def read_safetensors(path):
    """name -> float32 array of a safetensors file (F32 tensors only)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: {name} has dtype {e['dtype']}, expected F32")
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + b:8 + n + end], "<f4").reshape(e["shape"])
    return out


def read_batches(prefix, io, nb):
    """For each io tensor, its NB batches (float32 or int32 arrays)."""
    out = []
    for i, t in enumerate(io):
        arr = np.fromfile(f"{prefix}.io{i}.bin", "<f4" if t["dtype"] == "F32" else "<i4")
        arr = arr.reshape([nb] + t["shape"])
        out.append([np.ascontiguousarray(arr[b]) for b in range(nb)])
    return out


def timed(fn, min_s, reps, warm_s):
    """fn(k) for k = 0, 1, ...: at least warm_s seconds (and 2 calls) of
    warm-up, then reps repeats of at least min_s seconds each; per repeat
    [calls, seconds]."""
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < warm_s or k < 2:
        fn(k)
        k += 1
    out = []
    for _ in range(reps):
        n, start = 0, time.perf_counter()
        while True:
            fn(k)
            k, n = k + 1, n + 1
            t = time.perf_counter() - start
            if t >= min_s:
                break
        out.append([n, t])
    return out


def serve(proto, handlers):
    """Answer the commands on stdin with handlers[cmd](command dict) -> dict
    until `quit`; an exception is reported and the worker keeps serving."""
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        try:
            if cmd["cmd"] not in handlers:
                raise ValueError(f"unknown command {cmd['cmd']}")
            res = handlers[cmd["cmd"]](cmd)
            res["ok"] = True
        except Exception as exc:  # report, keep serving
            import traceback
            traceback.print_exc()
            res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(res) + "\n")
        proto.flush()


def pin_cpus(n):
    """Keep this process (and every thread a library starts) on its first n
    CPUs: the n-thread setting of a library without a thread count of its
    own (XLA's CPU client starts a thread per CPU it may run on)."""
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:n]))


# ==== JAX ========================================================================

class JaxPeer:
    """The models in jax.numpy, a training step and the forward pass each
    one jax.jit (the step's parameters and optimizer state donated)."""

    def __init__(self):
        import jax
        import jax.numpy as jnp
        from jax import lax
        self.jax, self.jnp, self.lax = jax, jnp, lax
        self.models = {}

    def info(self, cmd):
        return {"version": "JAX " + self.jax.__version__, "devices": str(self.jax.devices())}

    # ---- the models (names as in bench.py's PyTorch modules) ----------------
    def dense(self, p, name, x):
        return x @ p[name + ".weight"].T + p[name + ".bias"]

    def mlp(self, p, x, cfg):
        relu = self.jax.nn.relu
        h = relu(self.dense(p, "h.2", relu(self.dense(p, "h.0", x))))
        return self.dense(p, "logits", h)

    def conv(self, p, name, x, pad):
        y = self.lax.conv_general_dilated(x, p[name + ".weight"], (1, 1), ((pad, pad), (pad, pad)),
                                          dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + p[name + ".bias"][None, :, None, None]

    def pool2(self, x):
        return self.lax.reduce_window(x, -self.jnp.inf, self.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def lenet(self, p, x, cfg):
        relu = self.jax.nn.relu
        c1 = self.pool2(relu(self.conv(p, "c1", x, 2)))
        c2 = self.pool2(relu(self.conv(p, "c2", c1, 0)))
        f = relu(self.dense(p, "f.3", relu(self.dense(p, "f.1", c2.reshape(c2.shape[0], -1)))))
        return self.dense(p, "logits", f)

    def layernorm(self, p, name, x):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / self.jnp.sqrt(v + 1e-5) * p[name + ".weight"] + p[name + ".bias"]

    def attention(self, p, name, x, heads):
        """nn.MultiheadAttention(D, heads, batch_first=True) on (x, x, x)
        with a causal mask."""
        jnp = self.jnp
        B, T, D = x.shape
        hd = D // heads
        qkv = x @ p[name + ".in_proj_weight"].T + p[name + ".in_proj_bias"]
        q, k, v = (t.reshape(B, T, heads, hd).transpose(0, 2, 1, 3) for t in jnp.split(qkv, 3, axis=-1))
        s = (q / math.sqrt(hd)) @ k.transpose(0, 1, 3, 2)
        s = jnp.where(jnp.tril(jnp.ones((T, T), bool)), s, -jnp.inf)
        a = (self.jax.nn.softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        return a @ p[name + ".out_proj.weight"].T + p[name + ".out_proj.bias"]

    def gelu_tanh(self, x):
        return 0.5 * x * (1 + self.jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    def gpt(self, p, x, cfg):
        h = p["tok.weight"][x] + p["h.0.weight"]
        for i in range(cfg["layers"]):
            b = f"h.1.{i}."
            a = h + self.attention(p, b + "a.1", self.layernorm(p, b + "a.0", h), cfg["heads"])
            m = self.dense(p, b + "m.3", self.gelu_tanh(self.dense(p, b + "m.1", self.layernorm(p, b + "m.0", a))))
            h = a + m
        return self.dense(p, "logits", self.layernorm(p, "h.2", h))

    # ---- loss, optimizers, the jitted functions -----------------------------
    def xent(self, logits, y):
        lp = self.jax.nn.log_softmax(logits.reshape(-1, logits.shape[-1]), axis=-1)
        return -self.jnp.mean(self.jnp.take_along_axis(lp, y.reshape(-1, 1), axis=-1))

    def make_step(self, model, cfg):
        """step(params, state, x, y) -> (params, state, loss): SGD as
        torch.optim.SGD (p -= lr g), or AdamW as torch.optim.AdamW."""
        jax, jnp = self.jax, self.jnp
        tree_map = jax.tree_util.tree_map
        grad = jax.value_and_grad(lambda p, x, y: self.xent(model(p, x, cfg), y))
        lr = cfg["lr"]
        if cfg["opt"] == "sgd":
            def step(p, s, x, y):
                loss, g = grad(p, x, y)
                return tree_map(lambda a, b: a - lr * b, p, g), s, loss
        else:
            b1, b2, eps, wd = 0.9, 0.999, 1e-8, cfg["wd"]

            def step(p, s, x, y):
                loss, g = grad(p, x, y)
                t = s["t"] + 1
                m = tree_map(lambda a, b: b1 * a + (1 - b1) * b, s["m"], g)
                v = tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, s["v"], g)
                c1, c2 = 1 - b1 ** t, jnp.sqrt(1 - b2 ** t)
                p = tree_map(lambda a, mm, vv: a * (1 - lr * wd) - (lr / c1) * mm / (jnp.sqrt(vv) / c2 + eps), p, m, v)
                return p, {"t": t, "m": m, "v": v}, loss
        return jax.jit(step, donate_argnums=(0, 1))

    def fresh(self, st):
        """nnc's weights, and AdamW's step count and moments at zero (SGD
        has no state). Every array its own buffer: the step donates them."""
        jnp = self.jnp
        st["p"] = {k: jnp.array(v) for k, v in st["weights"].items()}
        st["s"] = {}
        if st["cfg"]["opt"] == "adamw":
            def zeros():
                return {k: jnp.zeros(v.shape, jnp.float32) for k, v in st["p"].items()}
            st["s"] = {"t": jnp.zeros((), jnp.float32), "m": zeros(), "v": zeros()}

    def train_step(self, st, k):
        x, y = st["x"][k % st["nb"]], st["y"][k % st["nb"]]
        st["p"], st["s"], loss = st["step"](st["p"], st["s"], x, y)
        return loss.block_until_ready()

    def forward(self, st, k):
        return st["fwd"](st["p"], st["x"][k % st["nb"]]).block_until_ready()

    def load(self, cmd):
        jnp = self.jnp
        model = {"mlp": self.mlp, "lenet": self.lenet, "gpt": self.gpt}[cmd["kind"]]
        cfg = dict(cmd["cfg"])
        w = read_safetensors(cmd["weights"])
        cfg["layers"] = sum(1 for k in w if k.startswith("h.1.") and k.endswith(".a.0.weight"))
        ios = read_batches(cmd["data"], cmd["io"], cmd["nb"])
        st = {"weights": w, "nb": cmd["nb"], "cfg": cfg, "x": [jnp.asarray(a) for a in ios[0]],
              "y": [jnp.asarray(a) for a in ios[1]] if len(ios) > 1 else None,
              "step": self.make_step(model, cfg),
              "fwd": self.jax.jit(lambda p, x: self.jax.nn.softmax(model(p, x, cfg), axis=-1))}
        self.models[cmd["name"]] = st
        return {}

    def check(self, cmd):
        st = self.models[cmd["name"]]
        self.fresh(st)
        np.asarray(self.forward(st, 0), np.float32).tofile(cmd["out"])
        return {"loss": [float(self.train_step(st, k)) for k in range(2)] if st["y"] is not None else None}

    def time(self, cmd):
        st = self.models[cmd["name"]]
        if cmd.get("fresh", True):
            self.fresh(st)
        fn = (lambda k: self.train_step(st, k)) if cmd["mode"] == "train" else (lambda k: self.forward(st, k))
        return {"reps": timed(fn, cmd["min_s"], cmd["reps"], cmd["warm_s"])}


# ==== ONNX Runtime ===============================================================

class OrtPeer:
    """Inference of the MLP: its graph written with onnx.helper (Gemm with
    transB, Relu, Softmax; opset 13) around nnc's weights, run by an
    InferenceSession on the CPU with `threads` intra-op threads."""

    def __init__(self, threads):
        import onnxruntime
        self.ort, self.threads, self.models = onnxruntime, threads, {}

    def info(self, cmd):
        return {"version": "ONNX Runtime " + self.ort.__version__}

    def graph(self, w, batch):
        from onnx import TensorProto, helper, numpy_helper
        names = ["h.0", "h.2", "logits"]
        nodes, x = [], "image"
        for i, n in enumerate(names):
            nodes.append(helper.make_node("Gemm", [x, n + ".weight", n + ".bias"], [f"g{i}"], transB=1))
            x = f"g{i}"
            if n != "logits":
                nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
                x = f"r{i}"
        nodes.append(helper.make_node("Softmax", [x], ["probs"], axis=1))
        inits = [numpy_helper.from_array(np.ascontiguousarray(w[n + s]), n + s) for n in names for s in (".weight",
                                                                                                       ".bias")]
        classes = w["logits.weight"].shape[0]
        g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 784])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, classes])], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        return m.SerializeToString()

    def load(self, cmd):
        if cmd["kind"] != "mlp":
            raise ValueError(f"the ONNX Runtime peer runs the MLP only, not {cmd['kind']}")
        w = read_safetensors(cmd["weights"])
        ios = read_batches(cmd["data"], cmd["io"], cmd["nb"])
        so = self.ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = self.threads, 1
        so.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = self.ort.InferenceSession(self.graph(w, ios[0][0].shape[0]), so, providers=["CPUExecutionProvider"])
        self.models[cmd["name"]] = {"sess": sess, "x": ios[0], "nb": cmd["nb"]}
        return {}

    def forward(self, st, k):
        return st["sess"].run(None, {"image": st["x"][k % st["nb"]]})[0]

    def check(self, cmd):
        st = self.models[cmd["name"]]
        np.asarray(self.forward(st, 0), np.float32).tofile(cmd["out"])
        return {"loss": None}  # inference only

    def time(self, cmd):
        if cmd["mode"] != "forward":
            raise ValueError("the ONNX Runtime peer runs inference only")
        st = self.models[cmd["name"]]
        return {"reps": timed(lambda k: self.forward(st, k), cmd["min_s"], cmd["reps"], cmd["warm_s"])}


def main(kind, threads):
    """The worker of BENCH_PEER=jax or ort: answers go to the real stdout,
    anything a library prints to stderr."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    if kind == "jax":
        pin_cpus(threads)  # XLA's CPU client has no thread count of its own
        peer = JaxPeer()
    else:
        peer = OrtPeer(threads)
    serve(proto, {"info": peer.info, "load": peer.load, "check": peer.check, "time": peer.time})
