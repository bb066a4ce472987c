#!/usr/bin/python3
"""fmnist convert, checked from outside: ONNX by the onnx checker and a numpy run of its graph,
safetensors by a reader written here from the format alone; for both of fmnist's networks.

    /usr/bin/python3 tools/check_onnx.py [--fmnist ./fmnist]
        [--predict build/tools/fmnist_predict] [--data DIR] [--model MODEL]
        [--cnn-train-images 2000] [--keep DIR]

(`make check` runs it through tools/check_onnx.sh where Debian's python3-onnx and
python3-numpy are there, and says "skipped" otherwise.)

1. The models: --model (one, of either network), else two: `fmnist train --epochs 1` on
   DIR's training set (the MLP) and `fmnist train --net cnn --epochs 1` on its first
   --cnn-train-images (the convolutional network; a subset keeps the check quick).
For each:
2. `fmnist convert -o model.onnx`: onnx.checker.check_model (with shape inference)
   passes; the doc string names the network; a numpy evaluation of the graph, node by
   node (Div, Sub, Mul, Add, Gemm, Relu, LogSoftmax, and for the convolutional network
   Reshape, Conv, MaxPool, Flatten, each as the ONNX operator defines it, from the
   initializers; onnx's own reference evaluator is not in Debian's onnx 1.12), on DIR's
   test images as raw 0..255 floats gives the same class as fmnist's own per-image
   predictions (tools/fmnist_predict: the eval_run that `fmnist eval` runs) for every
   image but near-ties (two best log-probabilities within 1e-3, where summation order may
   pick either), and log-probabilities within 1e-3.
3. `fmnist convert -o model.safetensors`: read here with struct and json only (the
   8-byte little-endian header length, the JSON header, the data), the tensors are the
   network's (conv1.weight, ..., fc1.weight, ... as PyTorch names them) and each equals
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


def reshape(x, shape, at):
    """ONNX Reshape (allowzero 0: a 0 copies the input's dimension)."""
    shape = [x.shape[i] if v == 0 else int(v) for i, v in enumerate(shape)]
    return x.reshape(shape)


def conv(x, w, b, at):
    """ONNX Conv of x (N, C, H, W) with w (O, C, k, k): pads, stride 1, one group, as an
    im2col matrix product in float32."""
    if any(v != 1 for v in at.get("strides", [1, 1]) + at.get("dilations", [1, 1])) \
            or at.get("group", 1) != 1 or at.get("auto_pad", b"NOTSET") != b"NOTSET":
        raise SystemExit(f"check_onnx: Conv {at}: only stride 1, dilation 1, one group here")
    k = w.shape[2:]
    if list(at.get("kernel_shape", k)) != list(k):
        raise SystemExit(f"check_onnx: Conv kernel_shape {at['kernel_shape']}, weight {w.shape}")
    t, l, bo, r = at.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    win = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(2, 3))  # N C H W kh kw
    n, c, h, wd = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * k[0] * k[1])
    y = cols @ w.reshape(w.shape[0], -1).T
    if b is not None:
        y = y + b
    return y.reshape(n, h, wd, -1).transpose(0, 3, 1, 2).astype(np.float32)


def max_pool(x, at):
    """ONNX MaxPool with windows that tile x (kernel_shape == strides, no pads)."""
    kh, kw = at["kernel_shape"]
    if list(at.get("strides", [1, 1])) != [kh, kw] or any(at.get("pads", [0])):
        raise SystemExit(f"check_onnx: MaxPool {at}: only non-overlapping windows here")
    n, c, h, w = x.shape
    x = x[:, :, :h - h % kh, :w - w % kw]
    return x.reshape(n, c, h // kh, kh, w // kw, kw).max(axis=(3, 5))


OPS = {"Div": lambda x, y, at: x / y, "Sub": lambda x, y, at: x - y,
       "Mul": lambda x, y, at: x * y, "Add": lambda x, y, at: x + y,
       "Relu": lambda x, at: np.maximum(x, np.float32(0)),
       "LogSoftmax": lambda x, at: log_softmax(x, at.get("axis", -1)),
       "Gemm": lambda a, b, c=None, at=None: gemm(a, b, c, at),
       "Reshape": lambda x, shape, at: reshape(x, shape, at),
       "Conv": lambda x, w, b=None, at=None: conv(x, w, b, at),
       "MaxPool": lambda x, at: max_pool(x, at),
       "Flatten": lambda x, at: x.reshape(int(np.prod(x.shape[:at.get("axis", 1)])), -1)}


def run_graph(model, pixels, chunk=1000):
    """The graph's output for pixels, evaluated node by node, chunk images at a time."""
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type not in OPS:
            raise SystemExit(f"check_onnx: node {node.name}: {node.op_type} is not evaluated here")
    outs = []
    for i in range(0, len(pixels), chunk):
        vals = dict(inits)
        vals[g.input[0].name] = pixels[i:i + chunk]
        for node in g.node:
            args = [vals[n] for n in node.input]
            out = OPS[node.op_type](*args, at=attrs(node))
            vals[node.output[0]] = np.asarray(out, dtype=np.float32)
        outs.append(vals[g.output[0].name])
    return np.concatenate(outs)


def check_onnx(path, model, images, labels, pred_fm, lp_fm):
    problems = 0
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    print(f"  onnx.checker.check_model (full_check, onnx {onnx.__version__}): passed; "
          f"IR version {m.ir_version}, opset {m.opset_import[0].version}, "
          f"{len(m.graph.node)} nodes: {' '.join(n.op_type for n in m.graph.node)}")
    want_doc = ("a convolutional network (" + model.shape_text() + ")" if model.convs
                else "an MLP")
    print(f"  doc string: {m.doc_string!r}")
    if want_doc not in m.doc_string:
        print(f"  FAIL: the doc string does not say {want_doc!r}")
        problems += 1
    props = {p.key: p.value for p in m.metadata_props}
    for line in model.meta.splitlines():
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


def check_safetensors(path, model):
    problems = 0
    tensors, meta = read_safetensors(path)
    names = [k for k, _ in model.tensors()]
    if list(tensors) != names:
        print(f"  FAIL: tensors {list(tensors)}, the network's are {names}")
        return 1
    for k, want in model.tensors():
        if not same_bits(tensors[k], want):
            print(f"  FAIL: {k} differs from the model file's")
            problems += 1
    want_meta = dict(line.partition("=")[::2] for line in model.meta.splitlines())
    got_meta = {k: v for k, v in meta.items() if k != "format"}
    if got_meta != want_meta or meta.get("format") != "pt":
        print(f"  FAIL: __metadata__ {meta} is not the model's {want_meta} with format=pt")
        problems += 1
    shapes = ", ".join(f"{k} {list(tensors[k].shape)}" for k in names[:2])
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
    pt = os.path.join(tmp, "model.pt")
    run(sys.executable, os.path.join(HERE, "to_torch.py"), model, pt)
    sd = torch.load(pt)
    tensors, _ = read_safetensors(st_path)
    bad = [k for k in tensors if k not in sd or not same_bits(sd[k].numpy(), tensors[k])]
    bad += [k for k in sd if k not in tensors]
    m2 = os.path.join(tmp, "from_torch.model")
    run(sys.executable, os.path.join(HERE, "from_torch.py"), pt, m2)
    t1, t2 = fmnist_model.read(m2).tensors(), fmnist_model.read(back_model).tensors()
    same = len(t1) == len(t2) and all(a == c and same_bits(b, d) for (a, b), (c, d) in zip(t1, t2))
    print(f"  PyTorch {torch.__version__}: to_torch.py's state_dict = the safetensors tensors: "
          f"{'yes' if not bad else 'NO ' + ', '.join(bad)}; from_torch.py's model = "
          f"convert's from safetensors: {'yes' if same else 'NO'}")
    return len(bad) + (not same)


def subset_dir(d, n, out):
    """A data directory with d's first n training images and d's test set."""
    os.makedirs(out, exist_ok=True)
    imgs = read_idx(find(d, "train-images-idx3-ubyte"))[:n]
    labs = read_idx(find(d, "train-labels-idx1-ubyte"))[:len(imgs)]
    with open(os.path.join(out, "train-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(labs), 28, 28) + imgs.tobytes())
    with open(os.path.join(out, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, len(labs)) + labs.tobytes())
    for name in FILES[2:]:
        src = find(d, name)
        shutil.copyfile(src, os.path.join(out, os.path.basename(src)))
    return out


def check_model(args, fm, d, model_path, tmp):
    """Steps 2 to 5 for one model; returns the number of problems."""
    model = fmnist_model.read(model_path)
    print(f"check_onnx: {model_path} ({model.shape_text()}) on {d}")
    onnx_path, st_path = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "model.safetensors")
    back = os.path.join(tmp, "back.model")
    run(fm, "convert", "--model", model_path, "-o", onnx_path)
    run(fm, "convert", "--model", model_path, "-o", st_path)
    run(fm, "convert", "--model", st_path, "-o", back)
    out = run(args.predict, model_path, d)
    a = np.array([line.split() for line in out.splitlines()], dtype=np.float64)
    images = read_idx(find(d, "t10k-images-idx3-ubyte"))
    labels = read_idx(find(d, "t10k-labels-idx1-ubyte")).astype(int)
    if not np.array_equal(a[:, 0].astype(int), labels):
        raise SystemExit("check_onnx: fmnist_predict's labels are not the test set's")
    problems = check_onnx(onnx_path, model, images, labels, a[:, 1].astype(int), a[:, 2:])
    problems += check_safetensors(st_path, model)
    with open(model_path, "rb") as f1, open(back, "rb") as f2:
        same = f1.read() == f2.read()
    print("  model -> safetensors -> model: " + ("the same bytes" if same else "FAIL: different bytes"))
    problems += not same
    return problems + check_torch(tmp, model_path, st_path, back)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fmnist", default="./fmnist")
    ap.add_argument("--predict", default="build/tools/fmnist_predict")
    ap.add_argument("--data")
    ap.add_argument("--model", help="a model to convert (default: train an MLP and a CNN)")
    ap.add_argument("--cnn-train-images", type=int, default=2000,
                    help="train the CNN on the first N training images (default 2000)")
    ap.add_argument("--keep", help="keep the files made in this folder")
    args = ap.parse_args(argv)
    d = data_dir(args.data)
    fm = os.path.abspath(args.fmnist)
    tmp = args.keep or tempfile.mkdtemp(prefix="fmnist-onnx-")
    os.makedirs(tmp, exist_ok=True)
    problems = 0
    try:
        models = [args.model] if args.model else []
        if not args.model:
            mlp, cnn = os.path.join(tmp, "fmnist.model"), os.path.join(tmp, "cnn.model")
            run(fm, "train", "--data", d, "--epochs", "1", "--quiet", "--model", mlp)
            sub = subset_dir(d, args.cnn_train_images, os.path.join(tmp, "data-cnn"))
            run(fm, "train", "--net", "cnn", "--data", sub, "--epochs", "1", "--quiet",
                "--model", cnn)
            models = [mlp, cnn]
        for i, model in enumerate(models):
            work = os.path.join(tmp, f"model-{i + 1}")
            os.makedirs(work, exist_ok=True)
            problems += check_model(args, fm, d, model, work)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("check_onnx: " + ("passed" if not problems else f"{problems} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
