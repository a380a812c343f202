#!/usr/bin/env python3
"""safetensors.py — read and write safetensors files with the standard library
alone (numpy is used when it is installed, never required).

The format: an 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}} (offsets from the end of the header), then the
little-endian data.

As a module:

    import safetensors as st            # scripts/ on sys.path
    tensors, meta = st.load("w.safetensors")         # {name: array}, {str: str}
    tensors, meta = st.load("w.safetensors", numpy=False)  # nested lists
    st.save("w.safetensors", {"w": array_or_nested_list}, {"note": "x"})

load gives numpy arrays (when numpy is there) or nested Python lists;
save takes numpy arrays (F64, F32, F16, I64, I32, I16, I8, U8, BOOL) or
nested lists of numbers (written as F32, or as `dtype` if given), and writes
safely (a temporary file renamed over the target). Every problem with a
file is a ValueError naming the file and what is wrong.

As a command:

    scripts/safetensors.py list FILE         # name, dtype, shape per tensor; metadata
    scripts/safetensors.py show FILE NAME    # the values of one tensor
    scripts/safetensors.py changed A B [PREFIX...]
        # "C of N": of A's N tensors (those whose names start with a PREFIX), C are
        # missing from B or hold other bytes there (frozen tensors after fine-tuning)
"""
import json
import os
import struct
import sys
import tempfile

try:
    import numpy as _np
except ImportError:  # the module works without numpy
    _np = None

# dtype: (struct code, bytes, numpy name)
DTYPES = {"F64": ("d", 8, "<f8"), "F32": ("f", 4, "<f4"), "F16": ("e", 2, "<f2"), "I64": ("q", 8, "<i8"),
          "I32": ("i", 4, "<i4"), "I16": ("h", 2, "<i2"), "I8": ("b", 1, "i1"), "U8": ("B", 1, "u1"),
          "BOOL": ("?", 1, "?")}
MAX_HEADER = 100 * 1024 * 1024


def _count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _nest(flat, shape):
    if not shape:
        return flat[0]
    step = _count(shape[1:])
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _check_entry(path, name, e, size):
    if not isinstance(e, dict) or set(e) - {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"{path}: tensor '{name}': malformed header entry")
    if e.get("dtype") not in DTYPES:
        raise ValueError(f"{path}: tensor '{name}': unsupported dtype {e.get('dtype')!r}")
    shape, off = e.get("shape"), e.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError(f"{path}: tensor '{name}': bad shape {shape!r}")
    if not (isinstance(off, list) and len(off) == 2 and all(isinstance(o, int) for o in off)):
        raise ValueError(f"{path}: tensor '{name}': bad data_offsets {off!r}")
    if not 0 <= off[0] <= off[1] <= size or off[1] - off[0] != _count(shape) * DTYPES[e["dtype"]][1]:
        raise ValueError(f"{path}: tensor '{name}': data_offsets {off} do not hold {e['dtype']}{shape} "
                         f"within the {size} data bytes")


def read_header(path):
    """The header of a file: ({name: entry}, metadata, data bytes offset)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f"{path}: too short for a safetensors file ({len(raw)} bytes)")
        (n,) = struct.unpack("<Q", raw)
        size = os.fstat(f.fileno()).st_size
        if n > MAX_HEADER or 8 + n > size:
            raise ValueError(f"{path}: header length {n} runs past the end of the file ({size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: the header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: __metadata__ must map strings to strings")
    for name, e in header.items():
        _check_entry(path, name, e, size - 8 - n)
    return header, meta, 8 + n


def load(path, numpy=True):
    """({name: numpy array or nested list}, metadata) in file order."""
    header, meta, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    for name, e in header.items():
        code, _, npname = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        if numpy and _np is not None:
            out[name] = _np.frombuffer(data[b:end], dtype=npname).reshape(e["shape"]).copy()
        else:
            flat = list(struct.unpack("<%d%s" % (_count(e["shape"]), code), data[b:end]))
            out[name] = _nest(flat, e["shape"])
    return out, meta


def _shape_of(x):
    shape = []
    while isinstance(x, (list, tuple)):
        shape.append(len(x))
        x = x[0] if x else 0
    return shape


def _flatten(x, shape, out):
    """x's numbers into out; False when x is not of that shape (ragged)."""
    if not shape:
        if isinstance(x, (list, tuple)):
            return False
        out.append(x)
        return True
    if not isinstance(x, (list, tuple)) or len(x) != shape[0]:
        return False
    return all(_flatten(v, shape[1:], out) for v in x)


def _encode(path, name, value, dtype):
    """(dtype, shape, bytes) of one tensor."""
    if _np is not None and isinstance(value, _np.ndarray):
        for code, (_, _, npname) in DTYPES.items():
            if value.dtype.kind == _np.dtype(npname).kind and value.dtype.itemsize == _np.dtype(npname).itemsize:
                return code, list(value.shape), _np.ascontiguousarray(value, dtype=npname).tobytes()
        raise ValueError(f"{path}: tensor '{name}': unsupported numpy dtype {value.dtype}")
    if dtype not in DTYPES:
        raise ValueError(f"{path}: unsupported dtype {dtype!r}")
    shape, flat = _shape_of(value), []
    if not _flatten(value, shape, flat):
        raise ValueError(f"{path}: tensor '{name}': a ragged nested list")
    try:
        return dtype, shape, struct.pack("<%d%s" % (len(flat), DTYPES[dtype][0]), *flat)
    except struct.error as exc:
        raise ValueError(f"{path}: tensor '{name}': values do not fit {dtype} ({exc})") from None


def save(path, tensors, metadata=None, dtype="F32"):
    """Write {name: numpy array or nested list} (and metadata {str: str})
    to path, through a temporary file in the same directory."""
    header, blobs, pos = {}, [], 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError(f"{path}: metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    for name, value in tensors.items():
        if name == "__metadata__":
            raise ValueError(f"{path}: '__metadata__' is not a tensor name")
        code, shape, data = _encode(path, name, value, dtype)
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [pos, pos + len(data)]}
        blobs.append(data)
        pos += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    fd, tmp = tempfile.mkstemp(prefix=".safetensors.", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def raw(path):
    """{name: the tensor's data bytes}, in file order."""
    header, _, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    return {name: data[e["data_offsets"][0]:e["data_offsets"][1]] for name, e in header.items()}


def _changed(path_a, path_b, prefixes):
    a, b = raw(path_a), raw(path_b)
    names = [k for k in a if not prefixes or k.startswith(tuple(prefixes))]
    print(f"{sum(k not in b or a[k] != b[k] for k in names)} of {len(names)}")


def _list(path):
    header, meta, _ = read_header(path)
    for name, e in header.items():
        print(f"{name}\t{e['dtype']}\t{e['shape']}")
    for k, v in meta.items():
        print(f"# {k} = {v}")


def _show(path, name):
    tensors, _ = load(path, numpy=False)
    if name not in tensors:
        raise ValueError(f"{path}: no tensor '{name}'")
    print(json.dumps(tensors[name]))


def main(argv):
    usage = "usage: safetensors.py list FILE | show FILE NAME | changed A B [PREFIX...]"
    if len(argv) >= 3 and argv[0] == "changed":
        action = lambda: _changed(argv[1], argv[2], argv[3:])  # noqa: E731
    elif len(argv) == 2 and argv[0] == "list":
        action = lambda: _list(argv[1])  # noqa: E731
    elif len(argv) == 3 and argv[0] == "show":
        action = lambda: _show(argv[1], argv[2])  # noqa: E731
    else:
        print(usage, file=sys.stderr)
        return 2
    try:
        action()
    except (OSError, ValueError) as exc:
        print(f"safetensors.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
