#!/usr/bin/python3
"""bench/rivals/fast_torch_cnn.py: fmnist's convolutional network (`fmnist train --net cnn`)
in PyTorch, written as fast as PyTorch on a CPU allows, raced by `make bench BENCH_RIVALS=1`.

The network of docs/recipes.md: Conv2d(1, 16, 3, padding=1), ReLU, MaxPool2d(2),
Conv2d(16, 32, 3, padding=1), ReLU, MaxPool2d(2), Flatten, Linear(1568, 64), ReLU,
Linear(64, 10), log_softmax; NLLLoss (mean), Adam(lr=0.003), batch 64, a fresh random
permutation each epoch, the test set evaluated after each epoch (as fmnist does).

The plumbing is fast_torch.py's: the data set is loaded once into one float tensor
(the same float32 normalisation), batches are sliced out of it by index (no DataLoader,
no PIL), zero_grad(set_to_none=True), evaluation in batches of 1000 under
inference_mode. At its best here (torch 1.13 with oneDNN, 2 CPUs), measured per epoch:
channels_last tensors 6.2 s against 8.3 s channels-first; its default of one thread
against 10.2 s on two; oneDNN off 12.2 s.
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn, optim  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=1)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--threads", type=int, default=0, help="0 = leave torch default")
p.add_argument("--root", default="/tmp/fmnist_root")
args = p.parse_args()

if args.threads > 0:
    torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)


def read_idx(path):
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    nd = int.from_bytes(buf[0:4], "big") & 0xFF
    dims = [int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return torch.frombuffer(buf, dtype=torch.uint8, offset=4 + 4 * nd).reshape(dims)


raw = os.path.join(args.root, "FashionMNIST", "raw")


def load(prefix):
    x = read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte")).long()
    x = x.reshape(x.shape[0], 1, 28, 28).float().div_(255).sub_(0.5).div_(0.5)
    return x.contiguous(memory_format=torch.channels_last), y


Xtr, Ytr = load("train")
Xte, Yte = load("t10k")


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


model = CNN().to(memory_format=torch.channels_last)
optimizer = optim.Adam(model.parameters(), lr=0.003)


def evaluate():
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, Xte.shape[0], 1000):
            correct += int((model(Xte[i:i + 1000]).argmax(1) == Yte[i:i + 1000]).sum())
    model.train()
    return correct


N, B = Xtr.shape[0], 64
epoch_s = []
for e in range(args.epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(N)
    running_loss = 0.0
    for i in range(0, N, B):
        idx = perm[i:i + B]
        loss = F.nll_loss(model(Xtr.index_select(0, idx)), Ytr.index_select(0, idx))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    correct = evaluate()
    epoch_s.append(time.perf_counter() - t0)
    print(f"epoch {e + 1}: training loss {running_loss / ((N + B - 1) // B):.4f}  "
          f"test acc {correct / Xte.shape[0]:.4f}  {epoch_s[-1]:.2f}s", flush=True)

print(json.dumps({
    "script": "fast_torch_cnn", "seed": args.seed, "epochs": args.epochs,
    "torch": torch.__version__, "threads": torch.get_num_threads(),
    "epoch_s": [round(s, 3) for s in epoch_s],
    "test_acc": round(correct / Xte.shape[0], 5),
    "script_total_s": round(time.perf_counter() - T_START, 3),
}))
