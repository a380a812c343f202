"""compare.py A.safetensors B.safetensors [A.csv B.csv]: the parameters and the
per-step losses (--log --log-every 1) of two runs agree within 1e-6 relative
(max |a - b| / max(|a|, |b|, 1e-6) per value); prints the worst and exits 1 if not."""
import json, struct, sys

def tensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        fmt = {"F32": "f", "F64": "d"}[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = list(struct.unpack("<%d%s" % ((b - a) // struct.calcsize(fmt), fmt), raw[8 + n + a:8 + n + b]))
    return out

def losses(path):
    rows = [l.split(",") for l in open(path).read().split("\n")[1:] if l.startswith("step,")]
    return [float(r[4]) for r in rows]

def rel(a, b):
    return max([abs(x - y) / max(abs(x), abs(y), 1e-6) for x, y in zip(a, b)] + [0.0])

ta, tb = tensors(sys.argv[1]), tensors(sys.argv[2])
la, lb = (losses(sys.argv[3]), losses(sys.argv[4])) if len(sys.argv) > 4 else ([0.0], [0.0])
bad = sorted(ta) != sorted(tb) or len(la) != len(lb) or not la or any(len(ta[k]) != len(tb[k]) for k in ta)
worst = 0.0 if bad else max([rel(ta[k], tb[k]) for k in ta] + [rel(la, lb)])
steps = ", steps %d" % len(la) if len(sys.argv) > 4 else ""
print("tensors %d%s, worst relative difference %.3g" % (len(ta), steps, worst))
sys.exit(1 if bad or worst > 1e-6 else 0)
