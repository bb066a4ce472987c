#!/usr/bin/env python3
"""Statistical parity of training: fmnist's and PyTorch's test accuracy over seeds.

    python3 tools/parity.py [--seeds 1-5] [--epochs 5] [--fmnist ./fmnist] [--threads N]
                            [--data DIR] [--recipe seed_recipe.py] [--torch-cache FILE.jsonl]
                            [--torch-python /usr/bin/python3]

Trains fmnist with its default recipe (`fmnist train --epochs E --seed S --json`) and
PyTorch with the tutorial's recipe (the reference seed_recipe.py: torchvision's
FashionMNIST, ToTensor + Normalize((0.5,), (0.5,)), DataLoader batch 64 with
shuffle, Adam lr 0.003) for every seed, one run after the other, and prints a
markdown table of each run's test accuracy with the means and sample standard
deviations, and the difference of the means with its standard error.

--torch-cache FILE reads PyTorch results from JSON lines the recipe printed before
("script": "seed_recipe", "seed", "epochs", "test_acc"), running only the seeds it
lacks. The recipe runs with --torch-python (Debian's python3-torch) and reads the
decompressed IDX files laid out as torchvision wants them, made here in a
temporary directory from DIR. fmnist's part needs nothing but the built binary.
"""
import argparse
import gzip
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def seed_list(text):
    seeds = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        seeds += list(range(int(a), int(b or a) + 1))
    return seeds


def fmnist_run(args, seed, tmp):
    cmd = [args.fmnist, "train", "--epochs", str(args.epochs), "--seed", str(seed), "--json",
           "--quiet", "--model", os.path.join(tmp, f"seed{seed}.model")]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.data:
        cmd += ["--data", args.data]
    t = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    last = json.loads(out.strip().splitlines()[-1])
    return last["test_accuracy"], time.time() - t


def torch_root(data, tmp):
    """torchvision's layout, ROOT/FashionMNIST/raw/<name>, decompressed."""
    src = data or os.environ.get("FMNIST_DATA") or "/usr/share/datasets/fashion-mnist"
    raw = os.path.join(tmp, "torch", "FashionMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in FILES:
        if os.path.exists(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(raw, name))
        else:
            with gzip.open(os.path.join(src, name + ".gz"), "rb") as f, \
                    open(os.path.join(raw, name), "wb") as g:
                shutil.copyfileobj(f, g)
    return os.path.join(tmp, "torch")


def torch_run(args, seed, root):
    if os.path.basename(args.recipe) == "torch_recipe.py":
        # The project's own: the tutorial's DataLoader pipeline, data read from DIR.
        src = args.data or os.environ.get("FMNIST_DATA") or "/usr/share/datasets/fashion-mnist"
        cmd = [args.torch_python, args.recipe, "--mode", "tutorial", "--data", src,
               "--seed", str(seed), "--epochs", str(args.epochs)]
    else:
        cmd = [args.torch_python, args.recipe, "--seed", str(seed), "--epochs", str(args.epochs),
               "--root", root]
    t = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    last = json.loads(out.strip().splitlines()[-1])
    return last.get("test_acc", last.get("test_accuracy")), time.time() - t


def torch_cached(path, epochs):
    found = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r.get("script") == "seed_recipe" and r.get("epochs") == epochs:
                found[int(r["seed"])] = float(r["test_acc"])
    return found


def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else float("nan"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1-5", help="e.g. 1-5 or 1,3,7 (default 1-5)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--fmnist", default="./fmnist")
    ap.add_argument("--threads", type=int, default=0, help="fmnist --threads (0: its default)")
    ap.add_argument("--data", help="directory of the four IDX files (default: fmnist's lookup)")
    ap.add_argument("--recipe",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench",
                                         "torch_recipe.py"),
                    help="the tutorial's PyTorch recipe (default: bench/torch_recipe.py, "
                         "its DataLoader mode; or a script taking --root like the reference)")
    ap.add_argument("--torch-cache", help="JSON lines of earlier recipe runs to reuse")
    ap.add_argument("--torch-python", default="/usr/bin/python3")
    args = ap.parse_args()
    seeds = seed_list(args.seeds)

    tmp = tempfile.mkdtemp(prefix="fmnist-parity-")
    fm, pt, source = {}, {}, {}
    try:
        for s in seeds:
            fm[s], secs = fmnist_run(args, s, tmp)
            print(f"fmnist  seed {s}: {fm[s]:.2%} ({secs:.1f} s)", file=sys.stderr)
        cache = torch_cached(args.torch_cache, args.epochs) if args.torch_cache else {}
        root = None
        for s in seeds:
            if s in cache:
                pt[s], source[s] = cache[s], "cache"
                continue
            if not os.path.exists(args.recipe):
                raise SystemExit(f"parity: {args.recipe}: no such recipe (give --recipe or "
                                 f"--torch-cache)")
            root = root or torch_root(args.data, tmp)
            pt[s], secs = torch_run(args, s, root)
            source[s] = "run"
            print(f"PyTorch seed {s}: {pt[s]:.2%} ({secs:.1f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"| seed | fmnist | PyTorch (tutorial recipe) |")
    print(f"|---:|---:|---:|")
    for s in seeds:
        note = " (cached)" if source[s] == "cache" else ""
        print(f"| {s} | {100 * fm[s]:.2f}% | {100 * pt[s]:.2f}%{note} |")
    mf, sf = mean_sd([fm[s] for s in seeds])
    mp, sp = mean_sd([pt[s] for s in seeds])
    n = len(seeds)
    if n < 2:
        print(f"\n{args.epochs} epoch(s), one seed: no spread to compare with.")
        return 0
    print(f"| mean ± sd | {100 * mf:.2f} ± {100 * sf:.2f}% | {100 * mp:.2f} ± {100 * sp:.2f}% |")
    se = math.sqrt((sf ** 2 + sp ** 2) / n)
    print(f"\n{args.epochs} epochs, {n} seeds each; sd is the sample standard deviation. "
          f"fmnist - PyTorch = {100 * (mf - mp):+.2f} points "
          f"(standard error of the difference {100 * se:.2f}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
