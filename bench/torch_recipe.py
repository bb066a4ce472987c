#!/usr/bin/python3
"""The tutorial's recipe in PyTorch, for side-by-side timing with fmnist.

    /usr/bin/python3 bench/torch_recipe.py --mode tutorial|fast --data DIR [--seed N] [--epochs N]

--mode tutorial: as the tutorial runs it (torchvision's FashionMNIST dataset,
  ToTensor + Normalize((0.5,), (0.5,)), DataLoader(batch_size=64, shuffle=True)).
--mode fast: the fastest honest CPU version of the same computation: the
  whole set pre-loaded as one float tensor, batches sliced from a fresh
  random permutation each epoch (the last partial batch kept), no DataLoader.
Both: 784-256-128-64-10 MLP with ReLU and log_softmax, NLLLoss, Adam(lr=0.003),
torch's default thread count. DIR holds the four official IDX files (.gz or raw).
Prints one JSON line: whole-process seconds, training seconds, test accuracy.
"""
import time

T0 = time.perf_counter()
import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn, optim  # noqa: E402

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(d, name):
    for path in (os.path.join(d, name), os.path.join(d, name + ".gz")):
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    raise SystemExit(f"torch_recipe: {name} not found in {d}")


class Classifier(nn.Module):
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


def tensors(d, prefix):
    img = bytearray(read_idx(d, f"{prefix}-images-idx3-ubyte"))
    lab = bytearray(read_idx(d, f"{prefix}-labels-idx1-ubyte"))
    x = torch.frombuffer(img, dtype=torch.uint8, offset=16).reshape(-1, 784)
    y = torch.frombuffer(lab, dtype=torch.uint8, offset=8).long()
    # ToTensor (x / 255) then Normalize ((x - 0.5) / 0.5), each in float32.
    return x.float().div_(255).sub_(0.5).div_(0.5), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["tutorial", "fast"], required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = Classifier()
    opt = optim.Adam(model.parameters(), lr=0.003)
    tmp = None
    if a.mode == "tutorial":
        from torchvision import datasets, transforms
        # torchvision wants ROOT/FashionMNIST/raw/<raw files>.
        tmp = tempfile.mkdtemp(prefix="fmnist-torch-")
        raw = os.path.join(tmp, "FashionMNIST", "raw")
        os.makedirs(raw)
        for n in NAMES:
            with open(os.path.join(raw, n), "wb") as f:
                f.write(read_idx(a.data, n))
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        trainset = datasets.FashionMNIST(tmp, download=False, train=True, transform=tf)
        testset = datasets.FashionMNIST(tmp, download=False, train=False, transform=tf)
        loader = torch.utils.data.DataLoader(trainset, batch_size=64, shuffle=True)
        testloader = torch.utils.data.DataLoader(testset, batch_size=64)
        t1 = time.perf_counter()
        for _ in range(a.epochs):
            for images, labels in loader:
                loss = F.nll_loss(model(images), labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
        train_s = time.perf_counter() - t1
        correct = 0
        with torch.no_grad():
            for images, labels in testloader:
                correct += int((model(images).argmax(1) == labels).sum())
        n = len(testset)
    else:
        xtr, ytr = tensors(a.data, "train")
        xte, yte = tensors(a.data, "t10k")
        t1 = time.perf_counter()
        for _ in range(a.epochs):
            perm = torch.randperm(xtr.shape[0])
            for i in range(0, xtr.shape[0], 64):
                idx = perm[i:i + 64]
                loss = F.nll_loss(model(xtr.index_select(0, idx)), ytr.index_select(0, idx))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        train_s = time.perf_counter() - t1
        with torch.inference_mode():
            correct = int((model(xte).argmax(1) == yte).sum())
        n = xte.shape[0]
    if tmp:
        shutil.rmtree(tmp)
    print(json.dumps({"mode": a.mode, "seed": a.seed, "epochs": a.epochs,
                      "threads": torch.get_num_threads(), "train_s": round(train_s, 3),
                      "test_accuracy": correct / n,
                      "process_s": round(time.perf_counter() - T0, 3)}))


if __name__ == "__main__":
    main()
