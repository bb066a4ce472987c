#!/usr/bin/python3
"""arch_check.py: would another network do better on people's pictures?

Trains networks in PyTorch (a development tool; fmnist itself uses none) on
the same augmented training images, and scores each on the development set
as fmnist's classify prepares it and on the Fashion-MNIST test set:

    make build/tools/augment_dump
    /usr/bin/python3 tools/arch_check.py [--images N] [--seeds 1,2] [--nets mlp,cnn]

- the images: N training images changed by `--augment default`
  (build/tools/augment_dump, data seed 7): N = 600,000 is 10 epochs' worth,
  470 MB, written to $TMPDIR and read back;
  the test set is read from $FMNIST_DATA, else Debian's data set;
- the development set: what `fmnist classify --show` shows the network for each
  picture devset_eval.py reads (tests/fixtures/devset*/, or $DEVSET; the
  preprocessing does not depend on the model);
- the recipe, for every network: AdamW (lr 0.001, weight decay 0.05), batch 64,
  cosine schedule, label smoothing 0.1, inputs scaled to [-1, 1] as fmnist's;
  --ema D also evaluates a moving average of the weights, as fmnist's --ema.

Networks: mlp is fmnist's 784-256-128-64-10; cnn has two 5x5 convolutions
(16 and 32 channels, each with ReLU and 2x2 max pooling) before 64 hidden
units; cnn3 the same with 3x3 convolutions; cnnt 3x3 with 8 and 16 channels.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from devset_eval import devset_rows

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("FMNIST_DATA", "/usr/share/datasets/fashion-mnist")


def conv_net(c1, c2, k, hidden):
    return nn.Sequential(
        nn.Conv2d(1, c1, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 49, hidden), nn.ReLU(), nn.Linear(hidden, 10))


NETS = {
    "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                                 nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 64),
                                 nn.ReLU(), nn.Linear(64, 10)),
    "cnn": lambda: conv_net(16, 32, 5, 64),
    "cnn3": lambda: conv_net(16, 32, 3, 64),
    "cnnt": lambda: conv_net(8, 16, 3, 64),
}


def scaled(a):
    return torch.from_numpy(np.array(a, dtype=np.float32)).div(255).sub(0.5).div(0.5)


def devset(fmnist, model, tmp):
    """The 28x28 images classify gives the network, and their labels."""
    rows = devset_rows()
    paths = [r["path"] for r in rows]
    labels = [r["label"] for r in rows]
    styles = [r["style"] for r in rows]
    subprocess.run([fmnist, "classify", "--model", model, "--show",
                    os.path.join(tmp, "%d.png")] + paths, check=True, capture_output=True)
    from PIL import Image
    seen = []
    for i in range(len(paths)):
        a = np.array(Image.open(os.path.join(tmp, "%d.png" % (i + 1))).convert("L"))
        blocks = a.reshape(28, 10, 28, 10)  # --show enlarges 10x: a pixel, a 10x10 block
        if (blocks.min(axis=(1, 3)) != blocks.max(axis=(1, 3))).any():
            sys.exit("arch_check: %s: --show no longer writes 10x10 blocks" % paths[i])
        seen.append(a[5::10, 5::10])
    return scaled(np.array(seen).reshape(-1, 1, 28, 28)), torch.tensor(labels), styles


def test_set():
    def raw(name, offset):  # the raw IDX file, else its .gz, as fmnist reads them
        path = os.path.join(DATA, name)
        opener = open if os.path.exists(path) else gzip.open
        with opener(path if opener is open else path + ".gz", "rb") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
    x = raw("t10k-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)
    y = raw("t10k-labels-idx1-ubyte", 8).astype(np.int64)
    return scaled(x), torch.from_numpy(y)


def train(net, seed, x, y, ema, batch=64):
    torch.manual_seed(seed)
    m = NETS[net]()
    avg = [p.detach().clone() for p in m.parameters()]
    steps = len(y) // batch
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for s in range(steps):
        xb = scaled(x[s * batch:(s + 1) * batch])
        yb = torch.from_numpy(y[s * batch:(s + 1) * batch].astype(np.int64))
        loss = F.cross_entropy(m(xb), yb, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if ema:
            with torch.no_grad():
                for a, p in zip(avg, m.parameters()):
                    a.mul_(ema).add_(p, alpha=1 - ema)
    if ema:
        with torch.no_grad():
            for a, p in zip(avg, m.parameters()):
                p.copy_(a)
    return m.eval()


def accuracy(m, x, y):
    with torch.no_grad():
        return 100 * (m(x).argmax(1) == y).float().mean().item()


def by_style(m, x, y, styles, names):
    with torch.no_grad():
        right = (m(x).argmax(1) == y).tolist()
    out = []
    for name in names:
        got = [r for r, s in zip(right, styles) if s == name]
        out.append(100 * sum(got) / len(got) if got else float("nan"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fmnist", default=os.path.join(TOP, "fmnist"))
    ap.add_argument("--dump", default=os.path.join(TOP, "build", "tools", "augment_dump"))
    ap.add_argument("--model", default=os.path.join(TOP, "fmnist.model"),
                    help="any model file: classify needs one to run")
    ap.add_argument("--images", type=int, default=600000)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--nets", default="mlp,cnn")
    ap.add_argument("--ema", type=float, default=0,
                    help="evaluate a moving average of the weights (decay per step, as --ema)")
    a = ap.parse_args()
    for net in a.nets.split(","):
        if net not in NETS:
            sys.exit("arch_check: unknown network %s (%s)" % (net, ", ".join(NETS)))
    with tempfile.TemporaryDirectory() as tmp:
        xs, ys = os.path.join(tmp, "x.u8"), os.path.join(tmp, "y.u8")
        subprocess.run([a.dump, str(a.images), "7", xs, ys], check=True)
        x = np.fromfile(xs, dtype=np.uint8).reshape(-1, 1, 28, 28)
        y = np.fromfile(ys, dtype=np.uint8)
        dx, dy, styles = devset(a.fmnist, a.model, tmp)
    tx, ty = test_set()
    names = sorted(set(styles))
    print("| network | seed | development set % | " + " | ".join(names) + " | test % | seconds |")
    print("|---|---:|---:|" + "---:|" * len(names) + "---:|---:|")
    for net in a.nets.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            t0 = time.time()
            m = train(net, seed, x, y, a.ema)
            cols = " | ".join("%.1f" % v for v in by_style(m, dx, dy, styles, names))
            print("| %s | %d | %.1f | %s | %.2f | %.0f |" % (net, seed, accuracy(m, dx, dy), cols,
                                                           accuracy(m, tx, ty), time.time() - t0),
                  flush=True)


if __name__ == "__main__":
    main()
