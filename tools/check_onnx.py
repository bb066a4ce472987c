#!/usr/bin/python3
"""fmnist convert, checked from outside: ONNX by the onnx checker and a numpy run of its graph,
safetensors by a reader written here from the format alone.

    /usr/bin/python3 tools/check_onnx.py [--fmnist ./fmnist]
        [--predict build/tools/fmnist_predict] [--data DIR] [--model MODEL] [--keep DIR]

(`make check` runs it through tools/check_onnx.sh where Debian's python3-onnx and
python3-numpy are there, and says "skipped" otherwise.)

1. A model: --model, else `fmnist train --epochs 1` on DIR's training set.
2. `fmnist convert -o model.onnx`: onnx.checker.check_model (with shape inference)
   passes; a numpy evaluation of the graph, node by node (Div, Sub, Mul, Add, Gemm, Relu,
   LogSoftmax), on DIR's test images as raw 0..255 floats gives the same class as
   fmnist's own per-image predictions (tools/fmnist_predict: the eval_run that `fmnist
   eval` runs) for every image but near-ties (two best log-probabilities within 1e-3,
   where summation order may pick either), and log-probabilities within 1e-3.
3. `fmnist convert -o model.safetensors`: read here with struct and json only (the
   8-byte little-endian header length, the JSON header, the data), every tensor equals
   the model file's parameters bit for bit, __metadata__ equals its metadata.
4. `fmnist convert --model model.safetensors -o back.model` gives the model file's bytes.
5. Where torch imports: tools/to_torch.py's state_dict equals the safetensors tensors bit
   for bit, and tools/from_torch.py's model file has the same parameters as back.model.

DIR: --data, else $FMNIST_DATA, else /usr/share/datasets/fashion-mnist, else data/sample.
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ left in tools/
sys.path.insert(0, HERE)
import fmnist_model  # noqa: E402

TIE = 1e-3
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NAMES = [f"fc{i}.{k}" for i in range(1, 5) for k in ("weight", "bias")]


def find(d, name):
    for cand in (os.path.join(d, name), os.path.join(d, name + ".gz")):
        if os.path.exists(cand):
            return cand
    return None


def data_dir(given):
    cands = [given] if given else [os.environ.get("FMNIST_DATA"),
                                   "/usr/share/datasets/fashion-mnist", "data/sample"]
    for d in cands:
        if d and all(find(d, f) for f in FILES):
            return d
    raise SystemExit(f"check_onnx: no Fashion-MNIST files in {', '.join(c for c in cands if c)}")


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, int(np.prod(dims)), 4 + 4 * nd).reshape(dims)


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


# ---- ONNX, evaluated by walking the graph

def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    s = x - m
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def gemm(a, b, c, at):
    if at.get("transA", 0):
        a = a.T
    if at.get("transB", 0):
        b = b.T
    y = np.float32(at.get("alpha", 1.0)) * (a @ b)
    if c is not None:
        y = y + np.float32(at.get("beta", 1.0)) * c
    return y.astype(np.float32)


def run_graph(model, pixels):
    g = model.graph
    vals = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    vals[g.input[0].name] = pixels
    ops = {"Div": lambda x, y, at: x / y, "Sub": lambda x, y, at: x - y,
           "Mul": lambda x, y, at: x * y, "Add": lambda x, y, at: x + y,
           "Relu": lambda x, at: np.maximum(x, np.float32(0)),
           "LogSoftmax": lambda x, at: log_softmax(x, at.get("axis", -1)),
           "Gemm": lambda a, b, c=None, at=None: gemm(a, b, c, at)}
    for node in g.node:
        if node.op_type not in ops:
            raise SystemExit(f"check_onnx: node {node.name}: {node.op_type} is not evaluated here")
        args = [vals[i] for i in node.input]
        at = attrs(node)
        out = ops[node.op_type](*args, at=at)
        vals[node.output[0]] = np.asarray(out, dtype=np.float32)
    return vals[g.output[0].name]


def check_onnx(path, model_meta, images, labels, pred_fm, lp_fm):
    problems = 0
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    print(f"  onnx.checker.check_model (full_check, onnx {onnx.__version__}): passed; "
          f"IR version {m.ir_version}, opset {m.opset_import[0].version}, "
          f"{len(m.graph.node)} nodes: {' '.join(n.op_type for n in m.graph.node)}")
    props = {p.key: p.value for p in m.metadata_props}
    for line in model_meta.splitlines():
        k, _, v = line.partition("=")
        if props.get(k) != v:
            print(f"  FAIL: metadata_props {k!r} is {props.get(k)!r}, the model's {v!r}")
            problems += 1
    lp = run_graph(m, images.reshape(len(images), 784).astype(np.float32)).astype(np.float64)
    pred = lp.argmax(axis=1)
    order = np.argsort(-lp, axis=1, kind="stable")
    rows = np.arange(len(lp))
    margin = lp[rows, order[:, 0]] - lp[rows, order[:, 1]]
    differ = pred != pred_fm
    ties = margin < TIE
    dmax = np.abs(lp - lp_fm).max()
    print(f"  numpy run of the graph on {len(lp)} test images: the same class as fmnist for "
          f"{len(lp) - differ.sum()}; near-ties {ties.sum()}, {(differ & ties).sum()} of them "
          f"predicted differently; largest log-probability difference {dmax:.2e}; "
          f"accuracy {(pred == labels).mean() * 100:.2f}% (fmnist {(pred_fm == labels).mean() * 100:.2f}%)")
    if (differ & ~ties).any():
        print(f"  FAIL: {(differ & ~ties).sum()} images classified differently without a tie")
        problems += 1
    if dmax > TIE:
        print(f"  FAIL: log-probabilities differ by {dmax:.2e} (> {TIE})")
        problems += 1
    return problems


# ---- safetensors, read with struct and json alone

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors, spans = {}, []
    for name, t in header.items():
        assert t["dtype"] == "F32", (name, t["dtype"])
        begin, end = t["data_offsets"]
        assert 0 <= begin <= end <= len(body), (name, begin, end)
        count = int(np.prod(t["shape"])) if t["shape"] else 1
        assert end - begin == 4 * count, (name, t["shape"], begin, end)
        tensors[name] = np.frombuffer(body[begin:end], "<f4").reshape(t["shape"])
        spans.append((begin, end))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "overlapping tensors"
    assert sum(e - b for b, e in spans) == len(body), "bytes no tensor holds"
    return tensors, meta


def same_bits(a, b):
    a, b = np.ascontiguousarray(a, "<f4"), np.ascontiguousarray(b, "<f4")
    return a.shape == b.shape and np.array_equal(a.view("<u4"), b.view("<u4"))


def check_safetensors(path, layers, model_meta):
    problems = 0
    tensors, meta = read_safetensors(path)
    if sorted(tensors) != sorted(NAMES):
        print(f"  FAIL: tensors {sorted(tensors)}")
        return 1
    for i, (w, b) in enumerate(layers, 1):
        for k, want in (("weight", w), ("bias", b)):
            if not same_bits(tensors[f"fc{i}.{k}"], want):
                print(f"  FAIL: fc{i}.{k} differs from the model file's")
                problems += 1
    want_meta = dict(line.partition("=")[::2] for line in model_meta.splitlines())
    got_meta = {k: v for k, v in meta.items() if k != "format"}
    if got_meta != want_meta or meta.get("format") != "pt":
        print(f"  FAIL: __metadata__ {meta} is not the model's {want_meta} with format=pt")
        problems += 1
    shapes = ", ".join(f"{k} {list(tensors[k].shape)}" for k in NAMES[:2])
    print(f"  safetensors read with struct + json: {len(tensors)} F32 tensors ({shapes}, ...), "
          f"each bit for bit the model's; __metadata__ = the model's metadata + format=pt: "
          f"{'yes' if not problems else 'NO'}")
    return problems


def check_torch(tmp, model, st_path, back_model):
    try:
        import torch  # noqa: F401
    except ImportError:
        print("  PyTorch cross-check skipped: torch does not import (Debian: python3-torch)")
        return 0
    problems = 0
    pt = os.path.join(tmp, "model.pt")
    run(sys.executable, os.path.join(HERE, "to_torch.py"), model, pt)
    sd = torch.load(pt)
    tensors, _ = read_safetensors(st_path)
    bad = [k for k in NAMES if not same_bits(sd[k].numpy(), tensors[k])]
    m2 = os.path.join(tmp, "from_torch.model")
    run(sys.executable, os.path.join(HERE, "from_torch.py"), pt, m2)
    l1, _, _ = fmnist_model.read(m2)
    l2, _, _ = fmnist_model.read(back_model)
    same = all(same_bits(a, c) and same_bits(b, d) for (a, b), (c, d) in zip(l1, l2))
    print(f"  PyTorch {torch.__version__}: to_torch.py's state_dict = the safetensors tensors: "
          f"{'yes' if not bad else 'NO ' + ', '.join(bad)}; from_torch.py's model = "
          f"convert's from safetensors: {'yes' if same else 'NO'}")
    return problems + len(bad) + (not same)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fmnist", default="./fmnist")
    ap.add_argument("--predict", default="build/tools/fmnist_predict")
    ap.add_argument("--data")
    ap.add_argument("--model", help="a model to convert (default: train one for 1 epoch)")
    ap.add_argument("--keep", help="keep the files made in this folder")
    args = ap.parse_args(argv)
    d = data_dir(args.data)
    fm = os.path.abspath(args.fmnist)
    tmp = args.keep or tempfile.mkdtemp(prefix="fmnist-onnx-")
    os.makedirs(tmp, exist_ok=True)
    try:
        model = args.model
        if not model:
            model = os.path.join(tmp, "fmnist.model")
            run(fm, "train", "--data", d, "--epochs", "1", "--quiet", "--model", model)
        print(f"check_onnx: {model} on {d}")
        layers, meta, _ = fmnist_model.read(model)
        onnx_path, st_path = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "model.safetensors")
        back = os.path.join(tmp, "back.model")
        run(fm, "convert", "--model", model, "-o", onnx_path)
        run(fm, "convert", "--model", model, "-o", st_path)
        run(fm, "convert", "--model", st_path, "-o", back)
        out = run(args.predict, model, d)
        a = np.array([line.split() for line in out.splitlines()], dtype=np.float64)
        images = read_idx(find(d, "t10k-images-idx3-ubyte"))
        labels = read_idx(find(d, "t10k-labels-idx1-ubyte")).astype(int)
        if not np.array_equal(a[:, 0].astype(int), labels):
            raise SystemExit("check_onnx: fmnist_predict's labels are not the test set's")
        problems = check_onnx(onnx_path, meta, images, labels, a[:, 1].astype(int), a[:, 2:])
        problems += check_safetensors(st_path, layers, meta)
        with open(model, "rb") as f1, open(back, "rb") as f2:
            same = f1.read() == f2.read()
        print(f"  model -> safetensors -> model: {'the same bytes' if same else 'FAIL: different bytes'}")
        problems += not same
        problems += check_torch(tmp, model, st_path, back)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("check_onnx: " + ("passed" if not problems else f"{problems} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
