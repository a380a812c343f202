#!/usr/bin/python3
"""Diagnostics goldens for bad ONNX files: each model below is written to build/onnx/diag/NAME.onnx
(by onnx.helper, or as raw bytes) and `nnc import` (and `nnc NAME.onnx`) must exit 1 with exactly
the message in tests/onnx/diag/NAME.err (paths relative to the repository).
Usage: tests/onnx/diag.py [--update]   (--update rewrites the goldens; review the diff)
"""
import os, subprocess, sys
import onnx
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join("build", "onnx", "diag")
GOLD = os.path.join("tests", "onnx", "diag")
F = TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def cases():
    x, y = vi("x", [2, 3]), vi("y", [2, 3])
    relu = helper.make_node("Relu", ["x"], ["y"], name="r1")
    yield "unsupported_op", model([helper.make_node("Erf", ["x"], ["y"], name="n3")], [x], [y])
    yield "dynamic_shape", model([relu], [vi("x", ["N", 3])], [y])
    yield "no_shape", model([relu], [helper.make_tensor_value_info("x", F, None)], [y])
    yield "double_input", model([relu], [vi("x", [2, 3], TensorProto.DOUBLE)], [vi("y", [2, 3], TensorProto.DOUBLE)])
    yield "string_init", model([helper.make_node("Add", ["x", "s"], ["y"], name="a")], [x], [y],
                               [helper.make_tensor("s", TensorProto.STRING, [1], [b"hi"])])
    yield "undefined_input", model([helper.make_node("Add", ["x", "z"], ["y"], name="a")], [x], [y])
    yield "opset_18", model([relu], [x], [y], opset=18)
    yield "other_domain", model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")], [x], [y])
    yield "conv_input_weight", model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                                     [vi("x", [1, 1, 4, 4]), vi("w", [1, 1, 3, 3])], [vi("y", [1, 1, 2, 2])])
    yield "wrong_output_shape", model([relu], [x], [vi("y", [3, 2])])
    yield "zero_dim", model([relu], [vi("x", [0, 3])], [y])
    short = helper.make_tensor("c", F, [2, 3], b"\0" * 24, raw=True)
    short.raw_data = b"\0" * 8
    yield "short_raw_data", model([helper.make_node("Add", ["x", "c"], ["y"], name="a")], [x], [y], [short])
    yield "no_op_type", model([helper.make_node("", ["x"], ["y"])], [x], [y])
    big = helper.make_tensor("s", TensorProto.INT64, [3], [100000, 100000, 100000])
    yield "huge_constant", model([helper.make_node("ConstantOfShape", ["s"], ["c"], name="k"),
                                  helper.make_node("Add", ["x", "c"], ["y"], name="a")], [x], [y], [big])
    huge = helper.make_tensor("c", F, [1], b"\0" * 4, raw=True)
    del huge.dims[:]
    huge.dims.extend([1 << 40, 1 << 40])
    yield "huge_initializer", model([helper.make_node("Add", ["x", "c"], ["y"], name="a")], [x], [y], [huge])
    yield "not_protobuf", b"this is not an ONNX model\n"
    yield "truncated", model([relu], [x], [y]).SerializeToString()[:-7]
    yield "empty", b""


def main():
    update = sys.argv[1:] == ["--update"]
    os.chdir(ROOT)
    os.makedirs(OUT, exist_ok=True)
    for name, m in cases():
        path = os.path.join(OUT, name + ".onnx")
        with open(path, "wb") as f:
            f.write(m if isinstance(m, bytes) else m.SerializeToString())
        r = subprocess.run(["build/nnc", "import", path, "-o", os.path.join(OUT, name + ".nn")],
                           capture_output=True, text=True)
        c = subprocess.run(["build/nnc", path, "-o", os.path.join(OUT, name + ".c")], capture_output=True, text=True)
        gold = os.path.join(GOLD, name + ".err")
        if update:
            with open(gold, "w") as f:
                f.write(r.stderr)
        want = open(gold).read() if os.path.exists(gold) else None
        if r.returncode != 1 or c.returncode != 1:
            print("FAIL onnx diag %s: exit status %d (import) and %d (compile), expected 1" % (
                name, r.returncode, c.returncode))
        elif want is None:
            print("FAIL onnx diag %s: no %s" % (name, gold))
        elif r.stderr != want or c.stderr != want:
            print("FAIL onnx diag %s: messages differ:\n%s%s" % (name, r.stderr, c.stderr))
        else:
            print("PASS onnx diag %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
