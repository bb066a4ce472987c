#!/usr/bin/python3
"""Converts an fmnist model file into a PyTorch state_dict.

    /usr/bin/python3 tools/to_torch.py MODEL STATE_DICT.pt

Reads MODEL from the format include/model_file.h documents (see tools/fmnist_model.py:
magic, version, CRC-32, exact length and metadata are all checked; a training
checkpoint's state blocks are left out) and writes torch.save of an OrderedDict of
float32 tensors, bit for bit, in state_dict order: for the MLP fc1.weight, fc1.bias, ...,
fc4.bias, which the tutorial's Classifier takes with load_state_dict; for the
convolutional network (`fmnist train --net cnn`) conv1.weight (16, 1, 3, 3), conv1.bias,
conv2.weight (32, 16, 3, 3), conv2.bias, fc1.weight (64, 1568), fc1.bias, fc2.weight,
fc2.bias, which a module with attributes conv1, conv2 (nn.Conv2d, padding 1) and fc1,
fc2 (nn.Linear) takes: tools/torch_reference.py's ConvNet. Prints the model's metadata.
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

# The networks fmnist trains, as fmnist_model.Model.shape_text() names them.
FMNIST_SHAPES = ("784-256-128-64-10", "28x28-conv3x16-conv3x32-1568-64-10")


def state_dict_of(model):
    """An fmnist_model.Model's tensors as a state_dict (copies, bit for bit)."""
    return collections.OrderedDict((k, torch.from_numpy(a.copy())) for k, a in model.tensors())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="an fmnist model file")
    ap.add_argument("state_dict", help="the file to torch.save the state_dict to")
    args = ap.parse_args(argv)
    try:
        model = fmnist_model.read(args.model)
    except (OSError, fmnist_model.FormatError) as e:
        raise SystemExit(f"to_torch: {e}")
    shape = model.shape_text()
    if shape not in FMNIST_SHAPES:
        print(f"to_torch: note: a {shape} network; fmnist's are {' and '.join(FMNIST_SHAPES)}",
              file=sys.stderr)
    tmp = args.state_dict + ".tmp"
    torch.save(state_dict_of(model), tmp)
    os.replace(tmp, args.state_dict)
    print(f"{args.state_dict}: {shape} from {args.model}")
    for line in model.meta.splitlines():
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
