#!/usr/bin/python3
"""Converts an fmnist model file into a PyTorch state_dict of the tutorial's Classifier.

    /usr/bin/python3 tools/to_torch.py MODEL STATE_DICT.pt

Reads MODEL from the format include/model_file.h documents (see tools/fmnist_model.py:
magic, version, CRC-32, exact length and metadata are all checked; a training
checkpoint's Adam moments are left out) and writes torch.save of an OrderedDict
fc1.weight, fc1.bias, ..., fc4.bias of float32 tensors, bit for bit, which the
tutorial's Classifier takes with load_state_dict. Prints the model's metadata.
A development tool: Debian's python3-torch.
"""
import argparse
import collections
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ left in tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_model  # noqa: E402


def state_dict_of(layers):
    sd = collections.OrderedDict()
    for i, (w, b) in enumerate(layers, 1):
        sd[f"fc{i}.weight"] = torch.from_numpy(w.copy())
        sd[f"fc{i}.bias"] = torch.from_numpy(b.copy())
    return sd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="an fmnist model file")
    ap.add_argument("state_dict", help="the file to torch.save the state_dict to")
    args = ap.parse_args(argv)
    try:
        layers, meta, widths = fmnist_model.read(args.model)
    except (OSError, fmnist_model.FormatError) as e:
        raise SystemExit(f"to_torch: {e}")
    if widths != [784, 256, 128, 64, 10]:
        print(f"to_torch: note: a {'-'.join(map(str, widths))} network; the tutorial's "
              f"Classifier is 784-256-128-64-10", file=sys.stderr)
    tmp = args.state_dict + ".tmp"
    torch.save(state_dict_of(layers), tmp)
    os.replace(tmp, args.state_dict)
    print(f"{args.state_dict}: {'-'.join(map(str, widths))} from {args.model}")
    for line in meta.splitlines():
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
