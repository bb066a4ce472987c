#!/usr/bin/python3
"""Converts a PyTorch state_dict of one of fmnist's networks into an fmnist model file.

    /usr/bin/python3 tools/from_torch.py STATE_DICT.pt MODEL [--meta KEY=VALUE]...

STATE_DICT.pt is what torch.save(model.state_dict(), path) writes for
  * the tutorial's Classifier (fc1 784->256, fc2 256->128, fc3 128->64, fc4 64->10,
    nn.Linear each): fc1.weight, fc1.bias, ..., fc4.bias; or
  * fmnist's convolutional network (`fmnist train --net cnn`; tools/torch_reference.py's
    ConvNet): conv1 (nn.Conv2d(1, 16, 3, padding=1)), conv2 (nn.Conv2d(16, 32, 3,
    padding=1)), each followed by ReLU and MaxPool2d(2), then fc1 (1568->64) and fc2
    (64->10): conv1.weight, conv1.bias, conv2.weight, ..., fc2.bias.
The keys decide which: convN.* present, a convolutional network, else an MLP. A dict
holding the state_dict under "state_dict" or "model_state_dict", and DataParallel's
"module." prefix, are accepted too. Any chain of fc1..fcN Linear layers converts, after
conv1..convM (square odd kernels, padding k // 2, stride 1, each with ReLU and a 2x2 max
pool; the input image's side follows from fc1's inputs); fmnist itself runs
784-256-128-64-10 and 28x28-conv3x16-conv3x32-1568-64-10.

The model file is written from the format include/model_file.h documents (see
tools/fmnist_model.py; format 2 with convolutions), with metadata source=pytorch,
torch_version, source_sha256 (of STATE_DICT.pt) and each --meta KEY=VALUE given
(epochs=5 seed=1 lr=0.003, say, which `fmnist eval` shows). The parameters are copied
bit for bit (float32); other float dtypes are converted, with a note. A development
tool: Debian's python3-torch.
"""
import argparse
import hashlib
import os
import re
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ left in tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_model  # noqa: E402


def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise SystemExit(f"from_torch: {path}: not a state_dict")
    sd = {}
    for k, v in obj.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if not torch.is_tensor(v):
            raise SystemExit(f"from_torch: {path}: {k} is not a tensor")
        sd[k] = v
    return sd


def numbered(sd, kind):
    """The numbers N of kind's keys (kindN.weight, kindN.bias), sorted."""
    return sorted({int(m.group(1)) for k in sd
                   if (m := re.fullmatch(kind + r"(\d+)\.(?:weight|bias)", k))})


def pairs_of(sd, path, kind, count, ndim):
    """[(weight, bias)] of kind1..kind<count> as float32 numpy arrays, each weight of ndim
    dimensions; the keys used are added to sd's "used" set."""
    out = []
    for n in range(1, count + 1):
        wk, bk = f"{kind}{n}.weight", f"{kind}{n}.bias"
        if wk not in sd or bk not in sd:
            raise SystemExit(f"from_torch: {path}: {kind}{n} needs both a weight and a bias")
        pair = []
        for k in (wk, bk):
            t = sd[k].detach().cpu()
            if t.dtype != torch.float32:
                print(f"from_torch: note: {k} is {t.dtype}, converted to float32", file=sys.stderr)
                t = t.to(torch.float32)
            pair.append(t.contiguous().numpy().astype(np.float32, copy=True))
        if pair[0].ndim != ndim or pair[1].ndim != 1:
            raise SystemExit(f"from_torch: {path}: {wk} has shape {list(pair[0].shape)} and "
                             f"{bk} {list(pair[1].shape)}; {kind} layers have a "
                             f"{ndim}-dimensional weight and a 1-dimensional bias")
        out.append(tuple(pair))
    return out


def input_side(convs, fc1_inputs, path):
    """The input image's side that the convolutions (each halving it) turn into
    fc1_inputs values."""
    ch = convs[-1][0].shape[0]
    last = int(round((fc1_inputs / ch) ** 0.5)) if fc1_inputs % ch == 0 else 0
    if last < 1 or last * last * ch != fc1_inputs:
        raise SystemExit(f"from_torch: {path}: fc1 takes {fc1_inputs} inputs, which is not "
                         f"the {ch} channels of a square image that conv{len(convs)} gives")
    return last << len(convs)


def layers_of(sd, path):
    """(convs, layers, side) of the state_dict: conv1..convM, fc1..fcN as float32 numpy
    arrays (convs empty for an MLP), every key used exactly once."""
    convs_n, fcs_n = numbered(sd, "conv"), numbered(sd, "fc")
    if (not fcs_n or fcs_n != list(range(1, len(fcs_n) + 1))
            or convs_n != list(range(1, len(convs_n) + 1))):
        raise SystemExit(f"from_torch: {path}: expected fc1.weight, fc1.bias, ... (after "
                         f"conv1.weight, conv1.bias, ... for a convolutional network), found "
                         f"{', '.join(sd) or 'nothing'}")
    convs = pairs_of(sd, path, "conv", len(convs_n), 4)
    layers = pairs_of(sd, path, "fc", len(fcs_n), 2)
    used = {f"{kind}{n}.{p}" for kind, ns in (("conv", convs_n), ("fc", fcs_n))
            for n in ns for p in ("weight", "bias")}
    extra = sorted(set(sd) - used)
    if extra:
        raise SystemExit(f"from_torch: {path}: unexpected entries {', '.join(extra)}")
    side = input_side(convs, layers[0][0].shape[1], path) if convs else 0
    return convs, layers, side


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("state_dict", help="a file torch.save wrote")
    ap.add_argument("model", help="the fmnist model file to write")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="a metadata line to add (repeatable)")
    args = ap.parse_args(argv)
    sd = load_state_dict(args.state_dict)
    convs, layers, side = layers_of(sd, args.state_dict)
    with open(args.state_dict, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    try:
        meta = (fmnist_model.meta_line("source", "pytorch")
                + fmnist_model.meta_line("torch_version", torch.__version__)
                + fmnist_model.meta_line("source_sha256", digest))
        keys = {"source", "torch_version", "source_sha256"}
        for kv in args.meta:
            key, sep, value = kv.partition("=")
            if not sep:
                raise fmnist_model.FormatError(f"--meta {kv!r}: KEY=VALUE expected")
            if key in keys:  # fmnist refuses a model file that has a key twice
                raise fmnist_model.FormatError(f"--meta {kv!r}: {key!r} is given already")
            keys.add(key)
            meta += fmnist_model.meta_line(key, value)
        data = fmnist_model.encode(layers, meta, convs=convs, side=side)
    except (fmnist_model.FormatError, UnicodeEncodeError) as e:
        raise SystemExit(f"from_torch: {e}")
    fmnist_model.write(args.model, data)
    model = fmnist_model.decode(data, args.model)
    print(f"{args.model}: {model.shape_text()}, "
          f"{sum(a.size for _, a in model.tensors())} parameters from {args.state_dict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
