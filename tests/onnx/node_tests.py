#!/usr/bin/python3
"""The ONNX backend node tests (Debian's libonnx-testdata) as nnc's external test suite.

For every case: integer inputs (indices, shapes, axes) and, when the importer asks for them,
weights are made initializers with the case's stored values (nnc needs them at compile time);
`nnc import` translates the model (a refusal is recorded as "not supported" with its reason);
`nnc` compiles the .nn with its weights embedded; all cases' C is built with make -j2 into one
shared object and every model runs through ctypes on the stored inputs, compared with the
stored outputs at the ONNX tolerances (rtol 1e-3, atol 1e-7). Prints PASS/FAIL per op family,
writes the table to build/onnx/onnx.md and checks that docs/onnx.md holds it below DOC_MARK.
Without CASE_PREFIX it also runs tests/onnx/training.py's optimizer checks, whose section ends the table.
Usage: tests/onnx/node_tests.py [--nnc build/nnc] [--data DIR] [CASE_PREFIX...]
"""
import ctypes, glob, os, re, subprocess, sys, time
from collections import defaultdict
import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = "/usr/include/onnx/backend/test/data/node"
OUT = os.path.join(ROOT, "build", "onnx")
RTOL, ATOL = 1e-3, 1e-7
INT_TYPES = {2, 3, 4, 5, 6, 7, 9, 12, 13}  # TensorProto's integer and bool types
WANT_INIT = re.compile(r"'([^']*)' must be an initializer")


def load_tensors(case, kind):
    files = sorted(glob.glob(os.path.join(case, "test_data_set_0", kind + "_*.pb")),
                   key=lambda p: int(re.search(r"_(\d+)\.pb$", p).group(1)))
    out = []
    for f in files:
        t = onnx.TensorProto()
        try:
            with open(f, "rb") as fh:
                t.ParseFromString(fh.read())
            out.append(numpy_helper.to_array(t))
        except Exception:  # a sequence, an optional or a map: not a tensor
            out.append(np.array(["not a tensor"]))
    return out


def bake(model, name, value):
    """graph input NAME becomes an initializer holding VALUE"""
    g = model.graph
    keep = [i for i in g.input if i.name != name]
    del g.input[:]
    g.input.extend(keep)
    g.initializer.append(numpy_helper.from_array(value, name))


def family(case_dir):
    """the op a case tests: its node's op, or for an _expanded case its twin's"""
    name = os.path.basename(case_dir)
    twin = os.path.join(os.path.dirname(case_dir), name[:-len("_expanded")]) if name.endswith("_expanded") else None
    try:
        m = onnx.load(os.path.join(twin if twin and os.path.isdir(twin) else case_dir, "model.onnx"))
        ops = [n.op_type for n in m.graph.node]
        return (ops[0] if len(set(ops)) == 1 or not twin else ops[0]) + (" (expanded)" if twin else "")
    except Exception:  # a model onnx cannot load: the importer's error says why
        return "(unreadable)"


def short(msg):
    msg = msg.strip().splitlines()[0] if msg.strip() else "(no message)"
    msg = re.sub(r"^nnc: error: ", "", msg)
    msg = re.sub(r"^\S*model\.onnx: ", "", msg)
    msg = re.sub(r"^\S*\.nn:\d+:\d+: error: ", "the .nn does not compile: ", msg)
    return msg.replace("|", "/")


def import_case(nnc, case_dir, work, inputs):
    """(status, reason, input values for the model's inputs in order)"""
    try:
        model = onnx.load(os.path.join(case_dir, "model.onnx"))
    except Exception as e:
        return "unsupported", "onnx cannot load the model: %s" % e, None
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(names) != len(inputs):
        return "unsupported", "the stored inputs do not match the graph inputs (optional inputs)", None
    values = dict(zip(names, inputs))
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    for n, v in values.items():
        if types.get(n) in INT_TYPES:
            bake(model, n, v)
    path = os.path.join(work, "model.onnx")
    for _ in range(8):
        onnx.save(model, path)
        r = subprocess.run([nnc, "import", path, "-o", os.path.join(work, "m.nn"), "--weights",
                            os.path.join(work, "m.safetensors")], capture_output=True, text=True)
        if r.returncode == 0:
            left = [i.name for i in model.graph.input if i.name in values and
                    i.name not in {t.name for t in model.graph.initializer}]
            return "ok", "", [values[n] for n in left]
        m = WANT_INIT.search(r.stderr)
        if not m or m.group(1) not in values:
            return "unsupported", short(r.stderr), None
        bake(model, m.group(1), values[m.group(1)])
    return "unsupported", short(r.stderr), None


def compile_case(nnc, work, prefix):
    w = os.path.join(work, "m.safetensors")
    args = [nnc, os.path.join(work, "m.nn"), "--name", prefix, "-o", os.path.join(work, prefix + ".c")]
    args += ["--weights", w] if os.path.exists(w) else ["--infer-only"]
    r = subprocess.run(args, capture_output=True, text=True)
    return None if r.returncode == 0 else short(r.stderr)


def unity(cases, k):
    """the C of cases as one translation unit: each file's static kernels and helpers renamed with its prefix"""
    path = os.path.join(OUT, "unity%d.c" % k)
    with open(path, "w") as f:
        for c in cases:
            src = open(os.path.join(c["work"], c["prefix"] + ".c")).read()
            src = re.sub(r"\b(k\d+_|nnc_\w+)", c["prefix"] + r"_\1", src)
            f.write('#line 1 "%s"\n%s\n' % (os.path.join(c["work"], c["prefix"] + ".c"), src))
    return path


def build(cases, groups=8):
    """all cases' C into build/onnx/nodes.so with make -j2, in a few translation units; when one does
    not compile, each case is built alone to find those that do not"""
    chunks = [cases[i::groups] for i in range(groups) if cases[i::groups]]
    units = [unity(ch, k) for k, ch in enumerate(chunks)]
    objs = [u[:-2] + ".o" for u in units]
    for o in objs:
        if os.path.exists(o):
            os.remove(o)
    with open(os.path.join(OUT, "Makefile"), "w") as f:
        f.write("CFLAGS = -std=c99 -O0 -fPIC -w -I%s/runtime %s\n" % (
            ROOT, " ".join("-I" + c["work"] for c in cases)))
        f.write("nodes.so: %s\n\tcc -shared -o $@ $^ -L%s/build -lnnrt -Wl,-rpath,%s/build -lm\n"
                % (" ".join(objs), ROOT, ROOT))
        f.write("%.o: %.c\n\tcc $(CFLAGS) -c $< -o $@\n")
    r = subprocess.run(["make", "-s", "-k", "-j2", "-C", OUT, "nodes.so"], capture_output=True, text=True)
    if r.returncode == 0:
        return ctypes.CDLL(os.path.join(OUT, "nodes.so"))
    if groups < len(cases):  # find the culprits: one translation unit per case
        return build(cases, len(cases))
    for ch, o in zip(chunks, objs):
        if not os.path.exists(o):
            ch[0]["status"], ch[0]["reason"] = "fail", "the generated C does not compile"
    good = [c for c in cases if c["status"] == "ok"]
    return build(good, len(cases)) if good and len(good) < len(cases) else None


def run_case(lib, c):
    p = c["prefix"]
    create = getattr(lib, p + "_create")
    create.restype = ctypes.c_void_p
    create.argtypes = [ctypes.c_uint64]
    fwd = getattr(lib, p + "_forward_v")
    fwd.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    free = getattr(lib, p + "_free")
    free.argtypes = [ctypes.c_void_p]
    m = create(1)
    ins = [np.ascontiguousarray(v, dtype=np.float32) for v in c["inputs"]]
    outs = [np.zeros(o.shape, dtype=np.float32) for o in c["expected"]]
    io = (ctypes.c_void_p * max(1, len(ins)))(*[a.ctypes.data for a in ins])
    ob = (ctypes.c_void_p * max(1, len(outs)))(*[a.ctypes.data for a in outs])
    st = fwd(m, io, ob)
    free(m)
    if st != 0:
        return "the forward pass returned status %d" % st
    for k, (got, want) in enumerate(zip(outs, c["expected"])):
        want = want.astype(np.float64)
        bad = ~((np.abs(got - want) <= ATOL + RTOL * np.abs(want)) | (np.isnan(got) & np.isnan(want)))
        if bad.any():
            i = int(np.argmax(bad.reshape(-1)))
            return "output %d differs: %d of %d values, e.g. %.7g, expected %.7g" % (
                k, int(bad.sum()), bad.size, got.reshape(-1)[i], want.reshape(-1)[i])
    return None


def prepare(nnc, dirs):
    cases = []
    for k, d in enumerate(dirs):
        name = os.path.basename(d)
        work = os.path.join(OUT, name)
        os.makedirs(work, exist_ok=True)
        for f in glob.glob(os.path.join(work, "*")):
            os.remove(f)
        c = {"name": name, "family": family(d), "work": work, "prefix": "n%d" % k}
        inputs, c["expected"] = load_tensors(d, "input"), load_tensors(d, "output")
        dtypes = {v.dtype.kind for v in inputs + c["expected"]}
        if not c["expected"] or any(v.dtype.kind not in "fiub" for v in inputs + c["expected"]):
            c["status"], c["reason"] = "unsupported", "inputs or outputs that are not numeric tensors"
        else:
            c["status"], c["reason"], c["inputs"] = import_case(nnc, d, work, inputs)
        if c["status"] == "ok" and "f" in dtypes and any(v.dtype != np.float32 for v in inputs + c["expected"]
                                                          if v.dtype.kind == "f"):
            c["status"], c["reason"] = "unsupported", "f64 or f16 data (nnc computes in f32)"
        if c["status"] == "ok":
            why = compile_case(nnc, work, c["prefix"])
            if why:
                c["status"], c["reason"] = "fail", why
        cases.append(c)
    return cases


def table(cases):
    fam = defaultdict(lambda: defaultdict(int))
    for c in cases:
        fam[c["family"]][c["status"]] += 1
    n = len(cases)
    cnt = defaultdict(int)
    for c in cases:
        cnt[c["status"]] += 1
    lines = ["## ONNX backend node tests", "",
             "Produced by `make test` (tests/onnx/run.sh; the suite fails when this file differs from what",
             "it computes). The cases are Debian's libonnx-testdata (onnx 1.12, `%s`):" % DATA,
             "each case's model is imported with `nnc import`, compiled with its weights embedded, run on the",
             "stored inputs and compared with the stored outputs (rtol 1e-3, atol 1e-7). Integer inputs",
             "(indices, shapes, axes) and the weights nnc's layers own are made initializers with the stored",
             "values first, since nnc needs them at compile time.", "",
             "%d cases: **%d pass**, %d fail, %d not supported." % (n, cnt["pass"], cnt["fail"], cnt["unsupported"]),
             "", "### Supported ops", "",
             "An op is supported when at least one of its cases imports. `(expanded)` is the case written",
             "with primitive ops (an ONNX function's body).", "",
             "| op | cases | pass | fail | not supported |", "|---|---|---|---|---|"]
    for f in sorted(fam):
        s = fam[f]
        if s["pass"] or s["fail"]:
            lines.append("| %s | %d | %d | %d | %d |" % (f, sum(s.values()), s["pass"], s["fail"], s["unsupported"]))
    lines += ["", "### Failing cases", "", "| case | reason |", "|---|---|"]
    lines += ["| %s | %s |" % (c["name"], c["reason"]) for c in cases if c["status"] == "fail"]
    lines += ["", "### Variants of supported ops that are not supported", "", "| case | reason |", "|---|---|"]
    sup = {f for f in fam if fam[f]["pass"] or fam[f]["fail"]}
    lines += ["| %s | %s |" % (c["name"], c["reason"]) for c in cases
              if c["status"] == "unsupported" and c["family"] in sup]
    lines += ["", "### Ops not supported", "", "| op | cases | reason (first case) |", "|---|---|---|"]
    for f in sorted(fam):
        if f not in sup:
            first = next(c for c in cases if c["family"] == f)
            lines.append("| %s | %d | %s |" % (f, sum(fam[f].values()), first["reason"]))
    return "\n".join(lines) + "\n"


def main():
    args = sys.argv[1:]
    nnc = os.path.join(ROOT, "build", "nnc")
    data = DATA
    while args and args[0].startswith("--"):
        if args[0] == "--nnc":
            nnc = os.path.abspath(args[1])
        elif args[0] == "--data":
            data = args[1]
        args = args[2:]
    if not os.path.isdir(data):
        print("SKIP onnx: no ONNX node tests at %s (Debian's libonnx-testdata)" % data)
        return 0
    t0 = time.time()
    os.makedirs(OUT, exist_ok=True)
    dirs = sorted(d for d in glob.glob(os.path.join(data, "test_*"))
                  if not args or any(os.path.basename(d).startswith(a) for a in args))
    cases = prepare(nnc, dirs)
    ok = [c for c in cases if c["status"] == "ok"]
    lib = build(ok) if ok else None
    for c in ok:
        if c["status"] == "ok":
            why = run_case(lib, c) if lib else "the shared object did not build"
            c["status"], c["reason"] = ("fail", why) if why else ("pass", "")
    fam = defaultdict(list)
    for c in cases:
        fam[c["family"]].append(c)
    failed = 0
    for f in sorted(fam):
        cs = fam[f]
        p = sum(c["status"] == "pass" for c in cs)
        bad = [c for c in cs if c["status"] == "fail"]
        if not p and not bad:
            continue
        failed += bool(bad)
        print("%s onnx %s: %d of %d pass%s" % ("FAIL" if bad else "PASS", f, p, len(cs),
                                                  "".join("\n    %s: %s" % (c["name"], c["reason"]) for c in bad)))
    text = table(cases)
    if not args:  # the optimizer cases, checked against nnc's optimizers (tests/onnx/training.py)
        import training
        res = training.check_all(nnc, data)
        print("\n".join(training.report(res)[0]))
        text += training.table(res)
    with open(os.path.join(OUT, "onnx.md"), "w") as f:
        f.write(text)
    total = sum(c["status"] == "pass" for c in cases)
    print("onnx node tests: %d pass, %d fail, %d not supported, of %d (%.0f s)" % (
        total, sum(c["status"] == "fail" for c in cases), sum(c["status"] == "unsupported" for c in cases),
        len(cases), time.time() - t0))
    if not args:
        doc = os.path.join(ROOT, "docs", "onnx.md")
        part = open(doc).read().split(DOC_MARK + "\n", 1) if os.path.exists(doc) else []
        same = len(part) == 2 and part[1] == text
        print("%s onnx docs/onnx.md's node-test part is the table make test produces%s" % (
            "PASS" if same else "FAIL", "" if same else
            " (replace what follows the line '%s' in docs/onnx.md with build/onnx/onnx.md)" % DOC_MARK))
    return 0


# docs/onnx.md: hand-written above this line, the table this script writes below it
DOC_MARK = "<!-- produced by make test (tests/onnx/node_tests.py): everything below this line -->"


if __name__ == "__main__":
    sys.exit(main())
