"""check.py — one exported model against nnc's own forward (tests/onnx_export/run.sh).

usage: check.py MODEL.onnx DRIVER WEIGHTS WORKDIR [--checker-only]

Validates MODEL.onnx with onnx.checker (full check: shape inference too), checks that every
graph input and output has a name and a static shape, makes inputs (f32: normal draws; i32: ids
below the row count of the Gather that reads them), runs DRIVER forward (nnc's generated code)
and ONNX Runtime on them and compares every output element: |ort - nnc| <= 1e-5 + 1e-4 |nnc|.
Prints one line: what matched (or what did not); exit status 0 when it all matched."""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

RTOL, ATOL = 1e-4, 1e-5


def static_shape(vi):
    dims = vi.type.tensor_type.shape.dim
    if not vi.name or any(not d.HasField("dim_value") for d in dims):
        raise ValueError(f"value '{vi.name}' has no name or a shape that is not static")
    return [d.dim_value for d in dims]


def id_limit(model, name):
    """the row count of the Gather data that input `name` indexes, else 2"""
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == name and node.input[0] in inits:
            return inits[node.input[0]].dims[0]
    return 2


def make_inputs(model, rng):
    feeds = {}
    for vi in model.graph.input:
        shape = static_shape(vi)
        if vi.type.tensor_type.elem_type == TensorProto.INT32:
            feeds[vi.name] = rng.integers(0, id_limit(model, vi.name), size=shape).astype(np.int32)
        else:
            feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def nnc_outputs(model, driver, weights, work, feeds):
    inp, out = os.path.join(work, "in.bin"), os.path.join(work, "out.bin")
    with open(inp, "wb") as f:
        for vi in model.graph.input:
            f.write(feeds[vi.name].tobytes())
    subprocess.run([driver, "forward", weights, inp, out], check=True)
    flat = np.fromfile(out, dtype=np.float32)
    res, at = [], 0
    for vi in model.graph.output:
        shape = static_shape(vi)
        n = int(np.prod(shape))
        res.append(flat[at:at + n].reshape(shape))
        at += n
    return res


def main():
    path, driver, weights, work = sys.argv[1:5]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    for vi in list(model.graph.output):
        static_shape(vi)
    outs = [o.name for o in model.graph.output]
    if "--checker-only" in sys.argv:
        print(f"valid (onnx.checker), inputs {[i.name for i in model.graph.input]}, outputs {outs}")
        return 0
    import onnxruntime as ort
    feeds = make_inputs(model, np.random.default_rng(7))
    want = nnc_outputs(model, driver, weights, work, feeds)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(outs, feeds)
    worst = 0.0
    for name, g, w in zip(outs, got, want):
        if g.shape != w.shape:
            print(f"output {name}: ONNX Runtime gives shape {g.shape}, nnc {w.shape}")
            return 1
        bad = np.abs(g - w) > ATOL + RTOL * np.abs(w)
        if bad.any():
            i = np.unravel_index(np.argmax(np.abs(g - w)), g.shape)
            print(f"output {name}: {bad.sum()} of {g.size} elements differ, worst at {i}: "
                  f"ONNX Runtime {g[i]!r}, nnc {w[i]!r}")
            return 1
        worst = max(worst, float(np.max(np.abs(g - w))) if g.size else 0.0)
    nodes = len(model.graph.node)
    print(f"valid, {nodes} nodes, ONNX Runtime matches nnc on {outs} (max |diff| {worst:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
