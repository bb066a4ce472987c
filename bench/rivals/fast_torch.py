#!/usr/bin/python3
"""bench/rivals/fast_torch.py: a copy of the team's reference script (../shared/reference),
unchanged, raced by `make bench BENCH_RIVALS=1`.

Fastest fair PyTorch-CPU version of the blog's Fashion-MNIST MLP recipe.

Same math as seed_recipe.py: same normalisation ((x/255 - 0.5)/0.5, computed with the
same float32 ops as ToTensor+Normalize), same 784-256-128-64-10 ReLU MLP with
log_softmax, NLLLoss (mean), Adam(lr=0.003), batch 64 with a fresh random permutation
per epoch (last batch 32, like DataLoader's drop_last=False), 5 epochs.

Differences are only in plumbing: the whole dataset is loaded once into one float
tensor, batches are sliced out of it by index (no DataLoader / PIL / per-sample
transform), zero_grad(set_to_none=True).

The per-epoch permutation is drawn exactly like DataLoader + RandomSampler (1.13) do
it: iter(DataLoader) draws one int64 base seed from the global RNG (unused without
workers), then RandomSampler draws one int64 that seeds a fresh torch.Generator, then
torch.randperm(n, generator=g). With the same --seed and thread count this replays the
exact batch sequence of seed_recipe.py, so the two scripts should be bit-identical
in losses and weights (checked when measured).
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn, optim  # noqa: E402

T_IMPORTED = time.perf_counter()

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=1)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--threads", type=int, default=0, help="0 = leave torch default")
p.add_argument("--root", default="/tmp/fmnist_root")
p.add_argument("--save", default="", help="save state_dict here after training")
p.add_argument("--eval-each-epoch", action="store_true",
               help="also evaluate test accuracy after every epoch (not in train time)")
p.add_argument("--foreach", type=int, default=-1,
               help="Adam foreach: -1 = torch default, 0 = off, 1 = on")
args = p.parse_args()

if args.threads > 0:
    torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)


def read_idx(path):
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    magic = int.from_bytes(buf[0:4], "big")
    nd = magic & 0xFF
    dims = [int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return torch.frombuffer(buf, dtype=torch.uint8, offset=4 + 4 * nd).reshape(dims)


raw = os.path.join(args.root, "FashionMNIST", "raw")


def load(prefix):
    x = read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte")).long()
    # Same float32 ops as ToTensor() (.float().div(255)) + Normalize (sub_(0.5).div_(0.5))
    # (in-place after the uint8->float copy: bit-identical values, lower peak RSS)
    x = x.reshape(x.shape[0], -1).float().div_(255).sub_(0.5).div_(0.5).contiguous()
    return x, y


Xtr, Ytr = load("train")
Xte, Yte = load("t10k")
T_DATA = time.perf_counter()


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


model = Classifier()
opt_kw = {} if args.foreach < 0 else {"foreach": bool(args.foreach)}
optimizer = optim.Adam(model.parameters(), lr=0.003, **opt_kw)


def evaluate():
    model.eval()
    with torch.inference_mode():
        pred = model(Xte).argmax(dim=1)
        correct = int((pred == Yte).sum())
    model.train()
    return correct


N, B = Xtr.shape[0], 64
epoch_s, epoch_loss, epoch_acc, epoch_eval_s = [], [], [], []
t_train0 = time.perf_counter()
for e in range(args.epochs):
    t0 = time.perf_counter()
    # Replay DataLoader's RNG use: iter(DataLoader) first draws a worker base seed
    # (unused with num_workers=0), then RandomSampler draws one int64 that seeds a
    # fresh generator for randperm.
    torch.empty((), dtype=torch.int64).random_()
    seed = int(torch.empty((), dtype=torch.int64).random_().item())
    g = torch.Generator()
    g.manual_seed(seed)
    perm = torch.randperm(N, generator=g)
    running_loss = 0.0
    nb = 0
    for i in range(0, N, B):
        idx = perm[i:i + B]
        xb = Xtr.index_select(0, idx)
        yb = Ytr.index_select(0, idx)
        loss = F.nll_loss(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        nb += 1
    epoch_s.append(time.perf_counter() - t0)
    epoch_loss.append(running_loss / nb)
    msg = f"epoch {e+1}: training loss {epoch_loss[-1]:.4f}  {epoch_s[-1]:.2f}s"
    if args.eval_each_epoch:
        te = time.perf_counter()
        c = evaluate()
        epoch_eval_s.append(time.perf_counter() - te)
        epoch_acc.append(c / Xte.shape[0])
        msg += f"  test acc {epoch_acc[-1]:.4f}"
    print(msg, flush=True)
train_s = sum(epoch_s)
wall_loop_s = time.perf_counter() - t_train0

# Final test accuracy + forward-only timing of the full 10k test set (one batch of 10000).
eval_times = []
for _ in range(5):
    t0 = time.perf_counter()
    correct = evaluate()
    eval_times.append(time.perf_counter() - t0)
# Same, in batches of 64 (like the recipe's testloader), forward only.
model.eval()
t0 = time.perf_counter()
with torch.inference_mode():
    c64 = 0
    for i in range(0, Xte.shape[0], 64):
        c64 += int((model(Xte[i:i + 64]).argmax(1) == Yte[i:i + 64]).sum())
eval64_s = time.perf_counter() - t0

if args.save:
    torch.save(model.state_dict(), args.save)

print(json.dumps({
    "script": "fast_torch", "seed": args.seed, "epochs": args.epochs,
    "torch": torch.__version__, "threads": torch.get_num_threads(),
    "adam_foreach": opt_kw.get("foreach", "default"),
    "import_s": round(T_IMPORTED - T_START, 3), "data_setup_s": round(T_DATA - T_IMPORTED, 3),
    "train_s": round(train_s, 3), "train_loop_wall_s": round(wall_loop_s, 3),
    "epoch_s": [round(s, 3) for s in epoch_s],
    "epoch_train_loss": [round(l, 5) for l in epoch_loss],
    "epoch_test_acc": [round(a, 5) for a in epoch_acc],
    "epoch_eval_s": [round(s, 4) for s in epoch_eval_s],
    "test_correct": correct, "test_total": int(Xte.shape[0]),
    "test_acc": round(correct / Xte.shape[0], 5),
    "test_acc_batch64": round(c64 / Xte.shape[0], 5),
    "eval10k_fwd_first_s": round(eval_times[0], 4), "eval10k_fwd_min_s": round(min(eval_times), 4),
    "eval10k_fwd_batch64_s": round(eval64_s, 4),
    "script_total_s": round(time.perf_counter() - T_START, 3),
}))
