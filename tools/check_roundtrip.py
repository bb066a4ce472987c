#!/usr/bin/python3
"""Models travel both ways: the same predictions in fmnist and in PyTorch, image by image.

    /usr/bin/python3 tools/check_roundtrip.py [--fmnist ./fmnist]
        [--predict build/tools/fmnist_predict] [--data DIR] [--net mlp|cnn|both]
        [--train-images 10000] [--cnn-train-images 2000] [--epochs 1]
        [--torch-model STATE_DICT.pt] [--fmnist-model MODEL] [--keep DIR]

(`make check` runs it through tools/check_roundtrip.sh when Debian's python3-torch
is there, and says "skipped" otherwise.)

For each of fmnist's two networks (--net; both by default): the tutorial's MLP
(tools/torch_reference.py's Classifier, trained on the first --train-images images)
and the convolutional network of `fmnist train --net cnn` (its ConvNet: conv1, conv2,
fc1, fc2; on the first --cnn-train-images, which keeps the check quick):
1. PyTorch trains the module with the tutorial's recipe (Adam lr 0.003, batch 64,
   a fresh shuffle per epoch, torch.manual_seed(1)) on the first N training images
   (or --torch-model gives a state_dict); tools/from_torch.py converts it; `fmnist
   eval --json` and tools/fmnist_predict (the same eval_run, per image) classify the
   test set with it.
2. `fmnist train` (with --net cnn for the CNN) trains a model on the same N images (or
   --fmnist-model gives one); tools/to_torch.py converts it; the module loads it
   (load_state_dict, strict) and PyTorch classifies the test set.
Each direction must give the same class for every test image, except near-ties:
images whose two best log-probabilities in PyTorch are within TIE of each other,
where float32 round-off may pick either; they are counted and reported. The
round-off itself is measured (the difference of the two best log-probabilities
between the two programs) and must stay under TIE / 8. The confusion matrix of
`fmnist eval --json` must equal PyTorch's but for the ties; its accuracy, number
correct, loss and every precision and recall must be PyTorch's (within what the
ties and the measured round-off allow) and those of its own confusion matrix;
and converting back must give the same bits. --torch-model and --fmnist-model need
--net to name their network.

DIR (default: $FMNIST_DATA, else /usr/share/datasets/fashion-mnist, else the
committed data/sample) holds the IDX files, raw or gzipped.
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ left in tools/
sys.path.insert(0, HERE)
import fmnist_model  # noqa: E402
import from_torch  # noqa: E402
import to_torch  # noqa: E402
from torch_reference import Classifier, ConvNet, find  # noqa: E402

# Two log-probabilities closer than this (nats) are a tie: the float32 round-off of
# the difference of the two best is a few ulps of the logits, ~1e-6 to 1e-5 for
# trained networks (measured each run; it must stay under TIE / 8).
TIE = 1e-3
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def data_dir(given):
    cands = [given] if given else [os.environ.get("FMNIST_DATA"),
                                   "/usr/share/datasets/fashion-mnist", "data/sample"]
    for d in cands:
        if d and all(os.path.exists(os.path.join(d, f)) or os.path.exists(os.path.join(d, f + ".gz"))
                     for f in FILES):
            return d
    raise SystemExit(f"check_roundtrip: no Fashion-MNIST files in {', '.join(c for c in cands if c)}")


def load(d, split):
    lab = read_all(find(d, f"{split}-labels-idx1-ubyte"))
    img = read_all(find(d, f"{split}-images-idx3-ubyte")).reshape(len(lab), 784)
    # As ToTensor + Normalize((0.5,), (0.5,)): float32 (p / 255 - 0.5) / 0.5.
    x = torch.from_numpy(img.copy()).to(torch.float32).div(255)
    x = x.sub_(torch.tensor(0.5)).div_(torch.tensor(0.5))
    return x, torch.from_numpy(lab.astype(np.int64))


def read_all(path):
    """Every item of an IDX file (raw or gzip) as uint8."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, int(np.prod(dims)), 4 + 4 * nd).reshape(dims)


# Each network: its PyTorch module and what `fmnist train` needs to train it.
NETS = {"mlp": (Classifier, []), "cnn": (ConvNet, ["--net", "cnn"])}


def torch_train(x, y, epochs, seed, module):
    torch.manual_seed(seed)
    model = module()
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            loss = F.nll_loss(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def torch_logp(model, x):
    """The log-probabilities, 1000 images at a time (the CNN's activations of the
    whole test set at once would take gigabytes)."""
    model.eval()
    with torch.inference_mode():
        return np.concatenate([model(x[i:i + 1000]).numpy().astype(np.float64)
                               for i in range(0, len(x), 1000)])


def fmnist_predict(predict, model, d):
    out = subprocess.run([predict, model, d], check=True, capture_output=True, text=True).stdout
    a = np.array([line.split() for line in out.splitlines()], dtype=np.float64)
    return a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2:]


def fmnist_eval(fmnist, model, d):
    out = subprocess.run([fmnist, "eval", "--json", "--model", model, "--data", d, "--threads", "1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def confusion(labels, pred):
    c = np.zeros((10, 10), dtype=int)
    np.add.at(c, (labels, pred), 1)
    return c


def compare(title, labels, lp_torch, pred_fm, lp_fm, ev):
    """Prints the comparison; returns the number of problems found."""
    problems = 0
    n = len(labels)
    pred_t = lp_torch.argmax(axis=1)  # the first maximum, as fmnist takes it
    order = np.argsort(-lp_torch, axis=1, kind="stable")
    rows = np.arange(n)
    a, b = order[:, 0], order[:, 1]
    margin = lp_torch[rows, a] - lp_torch[rows, b]
    dmargin = np.abs(margin - (lp_fm[rows, a] - lp_fm[rows, b]))
    ties = margin < TIE
    exact_ties = margin == 0
    differ = pred_t != pred_fm
    dlp = np.abs(lp_torch - lp_fm)
    print(f"{title}: {n} test images")
    print(f"  PyTorch accuracy {np.mean(pred_t == labels):.2%}, fmnist eval "
          f"{ev['accuracy']:.2%} ({ev['correct']} of {ev['n']})")
    print(f"  log-probabilities: largest difference {dlp.max():.3g} (relative "
          f"{(dlp / np.maximum(1, np.abs(lp_torch))).max():.3g}); two best's margin: "
          f"smallest {margin.min():.3g}, largest difference {dmargin.max():.3g}")
    print(f"  same prediction for {n - differ.sum()} of {n}; near-ties (two best within "
          f"{TIE:g} in PyTorch): {ties.sum()} ({exact_ties.sum()} exact), "
          f"{(differ & ties).sum()} of them predicted differently")
    if dmargin.max() > TIE / 8:
        print(f"  FAIL: the margins differ by up to {dmargin.max():.3g}, not round-off "
              f"(< {TIE / 8:g})")
        problems += 1
    bad = np.flatnonzero(differ & ~ties)
    if len(bad):
        i = bad[0]
        print(f"  FAIL: {len(bad)} images predicted differently without a tie; image {i}: "
              f"PyTorch {pred_t[i]} (margin {margin[i]:.3g}), fmnist {pred_fm[i]}")
        problems += 1
    cm_t = confusion(labels, pred_t)
    cm_f = np.array(ev["confusion"])
    cm_pf = confusion(labels, pred_fm)
    if not np.array_equal(cm_f, cm_pf):
        print("  FAIL: fmnist eval's confusion matrix is not that of its per-image predictions")
        problems += 1
    cells = int(np.abs(cm_t - cm_f).sum()) // 2
    print(f"  confusion matrices: {'identical' if cells == 0 else f'{cells} images in other cells (ties)'}")
    problems += compare_figures(n, labels, pred_t, lp_torch, dlp.max(), int((differ & ties).sum()),
                                cm_t, cm_f, ev)
    return problems


def figures(cm):
    """Accuracy, per-class precision and recall of a confusion matrix (rows: true)."""
    diag = np.diag(cm).astype(np.float64)
    col, row = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.where(col > 0, diag / np.maximum(col, 1), np.nan)
    recall = np.where(row > 0, diag / np.maximum(row, 1), np.nan)
    return int(diag.sum()), precision, recall


def near(x, y, tol, undefined_ok=False):
    """x within tol of y; NaN (0 of 0, null in fmnist's JSON) only near NaN,
    unless undefined_ok (ties moved an image into or out of an empty line)."""
    if np.isnan(x) or np.isnan(y):
        return bool(np.isnan(x) and np.isnan(y)) or undefined_ok
    return abs(x - y) <= tol


def compare_figures(n, labels, pred_t, lp_torch, dlp_max, tie_flips, cm_t, cm_f, ev):
    """fmnist eval's reported numbers against PyTorch's: accuracy, correct,
    loss, every precision and recall. Agreement on predictions is not enough
    (an eval that counted the wrong answers as correct agreed on every one).
    Returns the number of problems."""
    problems = 0
    correct_t = int((pred_t == labels).sum())
    correct_f, prec_f, rec_f = figures(cm_f)
    _, prec_t, rec_t = figures(cm_t)
    # fmnist's own figures are those of its confusion matrix, to the 6 digits printed.
    if ev["n"] != n or ev["correct"] != correct_f or abs(ev["accuracy"] - correct_f / n) > 5e-7:
        print(f"  FAIL: fmnist eval reports {ev['correct']} of {ev['n']} correct ({ev['accuracy']}), "
              f"its confusion matrix has {correct_f} of {n}")
        problems += 1
    # Against PyTorch: a tie predicted otherwise moves one image.
    if abs(ev["correct"] - correct_t) > tie_flips:
        print(f"  FAIL: accuracy: PyTorch {correct_t / n:.2%} ({correct_t} of {n}), fmnist eval "
              f"{ev['accuracy']:.2%} ({ev['correct']}); ties predicted otherwise: {tie_flips}")
        problems += 1
    # The loss: the mean NLL moves by at most the largest log-probability difference.
    loss_t = float(-lp_torch[np.arange(n), labels].mean())
    if abs(ev["loss"] - loss_t) > dlp_max + 5e-7:
        print(f"  FAIL: loss: PyTorch {loss_t:.6f}, fmnist eval {ev['loss']:.6f}")
        problems += 1
    pc = ev["per_class"]
    before = problems
    for c in range(10):
        p, r = (np.nan if pc[c][k] is None else pc[c][k] for k in ("precision", "recall"))
        if pc[c]["label"] != c or not near(p, prec_f[c], 5e-7) or not near(r, rec_f[c], 5e-7):
            print(f"  FAIL: class {c}: fmnist eval's precision {p}, recall {r}; its confusion "
                  f"matrix gives {prec_f[c]:.6f}, {rec_f[c]:.6f}")
            problems += 1
        # Each image in another cell moves a precision by at most 1/(column - 1).
        col, row = cm_t[:, c].sum(), cm_t[c, :].sum()
        tol_p = cells_tol(cm_t, cm_f, col)
        tol_r = cells_tol(cm_t, cm_f, row)
        moved = bool((cm_t != cm_f).any())
        if not near(p, prec_t[c], tol_p, moved) or not near(r, rec_t[c], tol_r, moved):
            print(f"  FAIL: class {c}: precision {p:.6f} / recall {r:.6f} in fmnist eval, "
                  f"{prec_t[c]:.6f} / {rec_t[c]:.6f} in PyTorch")
            problems += 1
    print(f"  accuracy: PyTorch {correct_t / n:.2%}, fmnist eval {ev['accuracy']:.2%}; loss "
          f"{loss_t:.6f} and {ev['loss']:.6f}; precisions and recalls "
          f"{'equal' if problems == before else 'DIFFER'}")
    return problems


def cells_tol(cm_t, cm_f, denom):
    """How far a ratio over denom can move when the two matrices differ by ties."""
    moved = int(np.abs(cm_t - cm_f).sum()) // 2
    if moved == 0:
        return 5e-7
    return 5e-7 + 2.0 * moved / max(int(denom) - moved, 1)


def subset_dir(d, imgs, labs, out):
    """A data directory with the first len(labs) training images and d's test set."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "train-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(labs), 28, 28) + imgs.tobytes())
    with open(os.path.join(out, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, len(labs)) + labs.tobytes())
    for name in FILES[2:]:
        src = find(d, name)
        shutil.copyfile(src, os.path.join(out, os.path.basename(src)))
    return out


def from_torch_direction(args, net, d, sub, n_train, xte, labels, tmp):
    """PyTorch -> fmnist for one network; returns the number of problems."""
    module, _ = NETS[net]
    problems = 0
    pt, fm = os.path.join(tmp, f"{net}-torch.pt"), os.path.join(tmp, f"{net}-from_torch.model")
    if args.torch_model:
        pt = args.torch_model
        model = module()
        model.load_state_dict(from_torch.load_state_dict(pt))
        meta = []
    else:
        xtr, ytr = load(sub, "train")
        model = torch_train(xtr, ytr, args.epochs, 1, module)
        torch.save(model.state_dict(), pt)
        meta = ["--meta", f"epochs={args.epochs}", "--meta", "seed=1", "--meta", "lr=0.003",
                "--meta", f"train_images={n_train}"]
    from_torch.main([pt, fm] + meta)
    back = to_torch.state_dict_of(fmnist_model.read(fm))
    sd = model.state_dict()
    if list(back) != list(sd) or not all(torch.equal(back[k], sd[k]) for k in sd):
        print("FAIL: to_torch(from_torch(state_dict)) is not the same state_dict")
        problems += 1
    lab, pred, lp = fmnist_predict(args.predict, fm, d)
    if not np.array_equal(lab, labels) or not np.array_equal(pred, lp.argmax(axis=1)):
        print("FAIL: fmnist_predict's labels or predictions are inconsistent")
        problems += 1
    return problems + compare(f"{net}: PyTorch-trained model, converted to fmnist", labels,
                              torch_logp(model, xte), pred, lp, fmnist_eval(args.fmnist, fm, d))


def to_torch_direction(args, net, d, sub, xte, labels, tmp):
    """fmnist -> PyTorch for one network; returns the number of problems."""
    module, train_args = NETS[net]
    problems = 0
    fmm, pt2 = os.path.join(tmp, f"{net}-fmnist.model"), os.path.join(tmp, f"{net}-to_torch.pt")
    if args.fmnist_model:
        fmm = args.fmnist_model
    else:
        subprocess.run([args.fmnist, "train", "--epochs", str(args.epochs), "--seed", "1",
                        "--data", sub, "--model", fmm, "--quiet"] + train_args,
                       check=True, stdout=subprocess.DEVNULL)
    to_torch.main([fmm, pt2])
    m2 = module()
    m2.load_state_dict(torch.load(pt2))
    again = os.path.join(tmp, f"{net}-again.model")
    from_torch.main([pt2, again])
    a, b = fmnist_model.read(fmm).tensors(), fmnist_model.read(again).tensors()
    if len(a) != len(b) or not all(na == nb and np.array_equal(x.view(np.uint32), y.view(np.uint32))
                                   for (na, x), (nb, y) in zip(a, b)):
        print("FAIL: from_torch(to_torch(model)) does not give the same parameters")
        problems += 1
    lab, pred, lp = fmnist_predict(args.predict, fmm, d)
    return problems + compare(f"{net}: fmnist-trained model, converted to PyTorch", labels,
                              torch_logp(m2, xte), pred, lp, fmnist_eval(args.fmnist, fmm, d))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fmnist", default="./fmnist")
    ap.add_argument("--predict", default="build/tools/fmnist_predict")
    ap.add_argument("--data", help="directory with the four IDX files")
    ap.add_argument("--net", choices=("mlp", "cnn", "both"), default="both",
                    help="the network(s) to check (default both)")
    ap.add_argument("--train-images", type=int, default=10000,
                    help="train the MLPs on the first N training images (default 10000)")
    ap.add_argument("--cnn-train-images", type=int, default=2000,
                    help="train the CNNs on the first N training images (default 2000)")
    ap.add_argument("--epochs", type=int, default=1, help="of each trainer (default 1)")
    ap.add_argument("--torch-model", help="a state_dict to convert instead of training one")
    ap.add_argument("--fmnist-model", help="an fmnist model to convert instead of training one")
    ap.add_argument("--keep", help="keep the models in this directory")
    args = ap.parse_args()
    if (args.torch_model or args.fmnist_model) and args.net == "both":
        ap.error("--torch-model and --fmnist-model need --net mlp or --net cnn")
    torch.set_num_threads(1)
    t0 = time.time()
    d = data_dir(args.data)
    tmp = args.keep or tempfile.mkdtemp(prefix="fmnist-roundtrip-")
    os.makedirs(tmp, exist_ok=True)
    problems = 0
    try:
        all_labs = read_all(find(d, "train-labels-idx1-ubyte"))
        all_imgs = read_all(find(d, "train-images-idx3-ubyte"))
        xte, yte = load(d, "t10k")
        labels = yte.numpy()
        print(f"data: {d}: {len(labels)} test images; torch {torch.__version__}")
        for net in ("mlp", "cnn") if args.net == "both" else (args.net,):
            n = args.cnn_train_images if net == "cnn" else args.train_images
            labs, imgs = all_labs[:n], all_imgs[:n]
            sub = subset_dir(d, imgs, labs, os.path.join(tmp, f"data-{net}"))
            if not (args.torch_model and args.fmnist_model):
                print(f"{net}: trainers use the first {len(labs)} training images, "
                      f"{args.epochs} epoch(s)")
            problems += from_torch_direction(args, net, d, sub, len(labs), xte, labels, tmp)
            problems += to_torch_direction(args, net, d, sub, xte, labels, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"round trip: {'FAILED' if problems else 'passed'} ({time.time() - t0:.1f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
