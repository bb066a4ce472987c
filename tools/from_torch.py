#!/usr/bin/python3
"""Converts a PyTorch state_dict of the tutorial's Classifier into an fmnist model file.

    /usr/bin/python3 tools/from_torch.py STATE_DICT.pt MODEL [--meta KEY=VALUE]...

STATE_DICT.pt is what torch.save(model.state_dict(), path) writes for the tutorial's
Classifier (fc1 784->256, fc2 256->128, fc3 128->64, fc4 64->10, nn.Linear each):
fc1.weight, fc1.bias, ..., fc4.bias. A dict holding it under "state_dict" or
"model_state_dict", and DataParallel's "module." prefix, are accepted too. Any chain
of fc1..fcN Linear layers converts; fmnist itself runs 784-256-128-64-10.

The model file is written from the format include/model_file.h documents (see
tools/fmnist_model.py), with metadata source=pytorch, torch_version, source_sha256
(of STATE_DICT.pt) and each --meta KEY=VALUE given (epochs=5 seed=1 lr=0.003, say,
which `fmnist eval` shows). The parameters are copied bit for bit (float32); other
float dtypes are converted, with a note. A development tool: Debian's python3-torch.
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


def layers_of(sd, path):
    """[(weight, bias)] of fc1..fcN as float32 numpy arrays, every key used exactly once."""
    names = sorted({m.group(1) for k in sd if (m := re.fullmatch(r"fc(\d+)\.(?:weight|bias)", k))},
                   key=int)
    if not names or names != [str(i) for i in range(1, len(names) + 1)]:
        raise SystemExit(f"from_torch: {path}: expected fc1.weight, fc1.bias, ..., found "
                         f"{', '.join(sd) or 'nothing'}")
    used, layers = set(), []
    for n in names:
        wk, bk = f"fc{n}.weight", f"fc{n}.bias"
        if wk not in sd or bk not in sd:
            raise SystemExit(f"from_torch: {path}: fc{n} needs both a weight and a bias")
        used |= {wk, bk}
        pair = []
        for k in (wk, bk):
            t = sd[k].detach().cpu()
            if t.dtype != torch.float32:
                print(f"from_torch: note: {k} is {t.dtype}, converted to float32", file=sys.stderr)
                t = t.to(torch.float32)
            pair.append(t.contiguous().numpy().astype(np.float32, copy=True))
        layers.append(tuple(pair))
    extra = sorted(set(sd) - used)
    if extra:
        raise SystemExit(f"from_torch: {path}: unexpected entries {', '.join(extra)}")
    return layers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("state_dict", help="a file torch.save wrote")
    ap.add_argument("model", help="the fmnist model file to write")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="a metadata line to add (repeatable)")
    args = ap.parse_args(argv)
    sd = load_state_dict(args.state_dict)
    layers = layers_of(sd, args.state_dict)
    with open(args.state_dict, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    try:
        meta = (fmnist_model.meta_line("source", "pytorch")
                + fmnist_model.meta_line("torch_version", torch.__version__)
                + fmnist_model.meta_line("source_sha256", digest))
        for kv in args.meta:
            key, sep, value = kv.partition("=")
            if not sep:
                raise fmnist_model.FormatError(f"--meta {kv!r}: KEY=VALUE expected")
            meta += fmnist_model.meta_line(key, value)
        data = fmnist_model.encode(layers, meta)
    except (fmnist_model.FormatError, UnicodeEncodeError) as e:
        raise SystemExit(f"from_torch: {e}")
    fmnist_model.write(args.model, data)
    widths = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
    print(f"{args.model}: {'-'.join(map(str, widths))}, "
          f"{sum(w.size + b.size for w, b in layers)} parameters from {args.state_dict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
