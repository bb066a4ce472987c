#!/usr/bin/python3
"""Writes tests/fixtures/torch_golden.bin.gz: what PyTorch computes for one batch.

    /usr/bin/python3 tools/torch_reference.py [--data /usr/share/datasets/fashion-mnist]
                                              [--seed 1] [--out tests/fixtures/torch_golden.bin.gz]

A development tool (Debian's python3-torch 1.13 + numpy); nothing builds, runs or tests
with it: the fixture it writes is committed and tests/test_torch_golden.c reads it.

What PyTorch computes, on one intra-op thread (so a rerun on the same CPU gives the
same bytes; another CPU may not, as PyTorch picks its kernels by CPU):
  * the tutorial's Classifier (784-256-128-64-10, ReLU, log_softmax) after
    torch.manual_seed(SEED): nn.Linear's default initialisation;
  * a batch of the first 64 training images (uint8) with their labels, normalised as
    ToTensor + Normalize((0.5,), (0.5,)) do it: (p / 255 - 0.5) / 0.5 in float32;
  * the forward pass: each layer's pre-activation z1, z2, z3, the logits, the
    log-probabilities and F.nll_loss (mean) of them;
  * the backward pass: the gradient of every parameter tensor, and of the loss with
    respect to the logits and to z3, z2, z1 (so that every operation can be checked
    alone, on PyTorch's own inputs);
  * the parameters after 1, 2 and 10 steps of torch.optim.Adam(lr=0.003, default
    betas and eps, foreach=False: 1.13's default single-tensor path), each step a
    forward, zero_grad, backward and step on that same batch, and the loss before
    each of the 10 steps;
  * how far two correct float32 runs of those 10 steps can land apart: the same
    steps rerun by PyTorch with different but equally valid rounding (in float64;
    in float32 from the same weights with each element moved by one ulp at random,
    two draws) and with the one event that is not round-off (in float32, at step 2
    the hidden ReLU input nearest zero taking the other side, as a rounding
    difference can make it), and how far each rerun lands from the float32 run:
    per snapshot and parameter tensor the 2-norm and the largest absolute
    difference, and per step the loss difference. Adam turns a gradient's sign
    into a step of lr, so once a ReLU input or a gradient element sits within
    round-off of zero the runs separate by more than round-off.

The file: gzip (zlib, mtime 0) of a little-endian stream
    8        magic "FMGOLDEN"
    4        format version (1)
    4        N, the number of tensors
    N times: 4  name length (1..64), then the name (printable ASCII)
             4  dtype: 1 = uint8, 2 = float32
             4  ndim (0..4), then ndim dims of 4 bytes each
             the elements, row-major (prod(dims) of them; 1 when ndim is 0)
    4        CRC-32 (zlib's crc32) of every byte before it
Tensor names: "meta" (uint8 text, "key=value\\n" lines), "images" (64, 784) uint8,
"labels" (64) uint8; the batch-major activations "z1" (64, 256), "z2" (64, 128),
"z3" (64, 64), "logits" (64, 10), "logp" (64, 10), "loss" (), and their gradients
"dz1", "dz2", "dz3", "dlogits" (same shapes); for each P of fc1.weight, fc1.bias,
..., fc4.bias (state_dict order, nn.Linear's (out, in) layout) "init/P", "grad/P",
"step1/P", "step2/P", "step10/P"; "step_losses" (10); and for the reruns
"rerun_l2" and "rerun_max" (4 reruns, 3 snapshots, 8 tensors) and "rerun_losses"
(4, 10), the signed loss differences rerun - float32. All float tensors are float32,
exactly as PyTorch produced them (the rerun figures rounded to float32).
"""
import argparse
import gzip
import os
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 64
LR = 0.003
STEPS = 10
SNAPSHOTS = (1, 2, 10)
DT_U8, DT_F32 = 1, 2


class Classifier(nn.Module):
    """The tutorial's network, as in its code."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 64)
        self.fc4 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return F.log_softmax(self.fc4(x), dim=1)


class ConvNet(nn.Module):
    """fmnist's convolutional network (`fmnist train --net cnn`, mlp_fmnist_cnn):
    Conv2d(1, 16, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(16, 32, 3, padding=1), ReLU,
    MaxPool2d(2), Flatten, Linear(1568, 64), ReLU, Linear(64, 10), log-softmax; its
    state_dict is what tools/to_torch.py writes and `fmnist convert` puts in safetensors.
    Takes [N, 784] (or [N, 1, 28, 28]) normalised pictures, as Classifier does."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(x.shape[0], 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


def read_idx(path, count):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = struct.unpack(">I", data[:4])[0]
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    item = int(np.prod(dims[1:])) if nd > 1 else 1
    off = 4 + 4 * nd
    return np.frombuffer(data, np.uint8, count * item, off).reshape((count,) + tuple(dims[1:]))


def find(src, name):
    for cand in (os.path.join(src, name), os.path.join(src, name + ".gz")):
        if os.path.exists(cand):
            return cand
    raise SystemExit(f"torch_reference: {name}[.gz] not found in {src}")


class Writer:
    def __init__(self):
        self.records = []

    def add(self, name, array):
        a = np.ascontiguousarray(array)
        if a.dtype == np.uint8:
            dt = DT_U8
        elif a.dtype == np.float32:
            dt = DT_F32
            a = a.astype("<f4", copy=False)
        else:
            raise TypeError(f"{name}: dtype {a.dtype}")
        assert 1 <= len(name) <= 64 and name.isascii() and name.isprintable() and a.ndim <= 4
        head = struct.pack("<I", len(name)) + name.encode() + struct.pack("<II", dt, a.ndim)
        head += struct.pack("<" + "I" * a.ndim, *a.shape)
        self.records.append(head + a.tobytes())

    def bytes(self):
        body = b"FMGOLDEN" + struct.pack("<II", 1, len(self.records)) + b"".join(self.records)
        body += struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
        return gzip.compress(body, compresslevel=9, mtime=0)


def nearest_kink(model, x):
    """(layer, flat index) of the hidden pre-activation nearest zero."""
    with torch.no_grad():
        best, h = None, x
        for layer, fc in enumerate((model.fc1, model.fc2, model.fc3)):
            z = fc(h)
            i = int(z.abs().argmin())
            if best is None or abs(float(z.flatten()[i])) < best[0]:
                best = (abs(float(z.flatten()[i])), layer, i)
            h = F.relu(z)
    return best[1], best[2]


def trajectory(model, x, y, record=None, kink_step=None):
    """STEPS Adam steps on (x, y) from model's weights, in model's dtype. Returns
    the loss before each step and the flat parameters (float64) after each step of
    SNAPSHOTS. record(model, tensors) sees step 1's forward and backward. At
    kink_step the ReLU of the hidden pre-activation nearest zero takes the other
    side (its value, near zero, passes or not): what a rounding difference does
    there."""
    opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=False)
    losses, snaps = [], {}
    for step in range(1, STEPS + 1):
        kink = nearest_kink(model, x) if step == kink_step else (None, None)
        # The forward pass spelled out as Classifier.forward computes it, keeping
        # the pre-activations (checked to be the same bits as model(x)).
        zs, h = [], x
        for layer, fc in enumerate((model.fc1, model.fc2, model.fc3)):
            z = fc(h)
            zs.append(z)
            if layer == kink[0]:
                mask = (z.detach() > 0).to(z.dtype).flatten()
                mask[kink[1]] = 1 - mask[kink[1]]
                h = z * mask.view_as(z)
            else:
                h = F.relu(z)
        logits = model.fc4(h)
        logp = F.log_softmax(logits, dim=1)
        z1, z2, z3 = zs
        if step == 1 and record:
            with torch.no_grad():
                assert torch.equal(logp, model(x))
            for t in (z1, z2, z3, logits):
                t.retain_grad()
        loss = F.nll_loss(logp, y)
        opt.zero_grad()
        loss.backward()
        if step == 1 and record:
            record(model, dict(z1=z1, z2=z2, z3=z3, logits=logits, logp=logp, loss=loss))
        losses.append(loss.item())
        opt.step()
        if step in SNAPSHOTS:
            snaps[step] = [p.detach().to(torch.float64).numpy().copy()
                           for p in model.parameters()]
    return np.array(losses), snaps


def one_ulp_moved(model, seed, make):
    """A copy of model (a new make()) with each parameter element moved by one ulp
    up, down or not."""
    g = torch.Generator().manual_seed(seed)
    m = make()
    with torch.no_grad():
        for p, q in zip(m.parameters(), model.parameters()):
            d = torch.randint(-1, 2, q.shape, generator=g).to(torch.float32)
            p.copy_(torch.where(d == 0, q, torch.nextafter(q, q + d)))
    return m


# The reruns that bound what "the same computation" may differ by: from the
# same initial weights, in float64, with the weights moved by one ulp (two
# draws), and with the ReLU nearest its kink at step 2 on the other side.
RERUNS = ("float64", "float32, weights moved by one ulp (draw 1)",
          "float32, weights moved by one ulp (draw 2)",
          "float32, at step 2 the ReLU nearest its kink on the other side")


def add_reruns(w, trajectory, make, init, x, y, snaps, losses, nparams):
    """Runs RERUNS with the network's trajectory, each from a new make() given
    the initial state_dict init, and adds to w each one's 2-norm and largest
    distance from snaps, parameter by parameter at each of SNAPSHOTS, and its
    loss differences. Returns (runs, l2) for print_reruns."""
    def fresh():
        m = make()
        m.load_state_dict(init)
        return m
    runs = [trajectory(fresh().double(), x.double(), y),
            trajectory(one_ulp_moved(fresh(), 1, make), x, y),
            trajectory(one_ulp_moved(fresh(), 2, make), x, y),
            trajectory(fresh(), x, y, kink_step=2)]
    l2 = np.zeros((len(runs), len(SNAPSHOTS), nparams), np.float32)
    mx = np.zeros_like(l2)
    for r, (_, rs) in enumerate(runs):
        for k, step in enumerate(SNAPSHOTS):
            for j in range(nparams):
                d = rs[step][j] - snaps[step][j]
                l2[r, k, j] = np.sqrt(np.sum(d * d))
                mx[r, k, j] = np.max(np.abs(d))
    w.add("rerun_l2", l2)
    w.add("rerun_max", mx)
    w.add("rerun_losses", np.array([rl - losses for rl, _ in runs], np.float32))
    return runs, l2


def save(w, out):
    """Writes w's fixture to out atomically; returns its bytes."""
    blob = w.bytes()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, out)
    return blob


def print_reruns(runs, l2, losses):
    for r, name in enumerate(RERUNS):
        tot = np.sqrt(np.sum(l2[r] ** 2, axis=1))
        print(f"  rerun {name}: distance after steps {SNAPSHOTS}: "
              + ", ".join(f"{t:.3g}" for t in tot)
              + f"; loss difference at step {STEPS}: {runs[r][0][-1] - losses[-1]:+.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory with train-{images-idx3,labels-idx1}-ubyte[.gz]")
    ap.add_argument("--seed", type=int, default=1, help="torch.manual_seed for the weights")
    ap.add_argument("--out", default="tests/fixtures/torch_golden.bin.gz")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = Classifier()
    init = {k: v.clone() for k, v in model.state_dict().items()}

    images = read_idx(find(args.data, "train-images-idx3-ubyte"), BATCH).reshape(BATCH, 784)
    labels = read_idx(find(args.data, "train-labels-idx1-ubyte"), BATCH).reshape(BATCH)
    # ToTensor: byte tensor .to(float32).div(255); Normalize: sub_(mean).div_(std).
    x = torch.from_numpy(images.copy()).to(torch.float32).div(255)
    x = x.sub_(torch.tensor(0.5)).div_(torch.tensor(0.5))
    y = torch.from_numpy(labels.astype(np.int64))

    w = Writer()
    meta = (f"torch_version={torch.__version__}\nnumpy_version={np.__version__}\n"
            f"torch_seed={args.seed}\nthreads=1\nbatch=first {BATCH} training images\n"
            f"optimizer=torch.optim.Adam(lr={LR}, foreach=False)\nsteps={STEPS}\n"
            + "".join(f"rerun{i}={r}\n" for i, r in enumerate(RERUNS)))
    w.add("meta", np.frombuffer(meta.encode(), np.uint8))
    w.add("images", images)
    w.add("labels", labels)
    for name, p in model.named_parameters():
        w.add(f"init/{name}", p.detach().numpy().copy())

    def record(m, t):
        for name in ("z1", "z2", "z3", "logits", "logp"):
            w.add(name, t[name].detach().numpy().copy())
        w.add("loss", t["loss"].detach().numpy().copy().reshape(()))
        for name in ("z1", "z2", "z3", "logits"):
            w.add("d" + name, t[name].grad.numpy().copy())
        for name, p in m.named_parameters():
            w.add(f"grad/{name}", p.grad.numpy().copy())

    losses, snaps = trajectory(model, x, y, record)
    names = [n for n, _ in model.named_parameters()]
    for step in SNAPSHOTS:
        for name, a in zip(names, snaps[step]):
            w.add(f"step{step}/{name}", a.astype(np.float32))
    w.add("step_losses", losses.astype(np.float32))

    # The reruns, from the same initial weights.
    runs, l2 = add_reruns(w, trajectory, Classifier, init, x, y, snaps, losses, len(names))

    blob = save(w, args.out)
    print(f"{args.out}: {len(w.records)} tensors, {len(blob)} bytes; "
          f"loss {losses[0]:.6f} -> {losses[-1]:.6f} over {STEPS} Adam steps")
    print_reruns(runs, l2, losses)


if __name__ == "__main__":
    main()
