#!/usr/bin/python3
"""Measures `fmnist classify` on photo-like variants of test images, next to
`fmnist eval` on the same images.

    /usr/bin/python3 tools/measure_variants.py [--model FILE] [--n 1000] [--data DIR]

Without --model it trains one first (`fmnist train --epochs 5`, the full
data set, found as fmnist finds it; about half a minute). It takes the first
N test images, writes each as PNG files in several variants (below) into a
temporary directory, classifies every variant with one `fmnist classify
--json` run, and evaluates the same N originals with `fmnist eval` (on an
IDX file of just those images). It prints a Markdown table for docs/pictures.md.
Needs numpy and PIL (Debian: python3-numpy python3-pil); builds ./fmnist
with make. Single-threaded classify, one process at a time.

Variants (each item as the data set has it: light on black, 28x28):
  export       28x28 8-bit gray, as `fmnist export` writes it
  16-bit       28x28 16-bit gray (v * 257)
  palette      2x, 8-bit palette of gray levels, dark on white, white transparent
  interlaced   2x, Adam7-interlaced gray+alpha, light on black
  10x nearest  280x280 RGB, dark on white, each pixel a 10x10 block
  10x smooth   280x280 RGB, dark on white, bicubic: a photo's soft edges
  transparent  4x bicubic RGBA, the item dark (its real colours) on alpha 0,
               with a soft alpha edge: a product cut-out
  off-centre   3x bicubic, dark, at a random place on a 400x300 light gray canvas
  colour photo 8x bicubic, the item in one of six cloth colours on an
               off-white (245,243,238) background, RGB
  light on transparent   4x bicubic RGBA, the item light (as in the data set)
               on alpha 0: classified as is and with --invert no
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pngwrite import GA, png  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = os.path.join(TOP, "fmnist")

CLOTH = [(25, 35, 70), (120, 20, 30), (40, 40, 40), (30, 90, 60), (150, 110, 60),
         (90, 60, 120)]


def find_data(data):
    dirs = [data] if data else [os.environ.get("FMNIST_DATA"), os.path.join(TOP, "data"),
                                "/usr/share/datasets/fashion-mnist",
                                os.path.expanduser("~/.pytorch/F_MNIST_data/FashionMNIST/raw")]
    for d in dirs:
        if not d:
            continue
        for ext in ("", ".gz"):
            p = os.path.join(d, "t10k-images-idx3-ubyte" + ext)
            if os.path.exists(p):
                return d, ext
    raise SystemExit("measure_variants: the test set was not found; pass --data DIR")


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def load_test(data, n):
    d, ext = find_data(data)
    img = read_idx(os.path.join(d, "t10k-images-idx3-ubyte" + ext))
    lab = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte" + ext))
    images = np.frombuffer(img, np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    labels = np.frombuffer(lab, np.uint8, offset=8)[:n]
    return d, images, labels


def bicubic(a, k):
    return np.asarray(Image.fromarray(a).resize((28 * k, 28 * k), Image.BICUBIC))


def variants(a, rng):
    """name -> (PIL image or PNG bytes) for one item a (28x28 uint8, light on black)."""
    v = {}
    v["export"] = Image.fromarray(a, "L")
    v["16-bit"] = Image.fromarray((a.astype(np.uint16) * 257), "I;16")
    pal = Image.fromarray(255 - np.kron(a, np.ones((2, 2), np.uint8)), "P")
    pal.putpalette([g for g in range(256) for _ in range(3)])
    pal.info["transparency"] = 255
    v["palette"] = pal
    big = np.kron(a, np.ones((2, 2), np.uint8))
    v["interlaced"] = png([[(int(x), 255) for x in row] for row in big], GA, 8, interlace=True)
    v["10x nearest"] = Image.fromarray(255 - np.kron(a, np.ones((10, 10), np.uint8))).convert("RGB")
    v["10x smooth"] = Image.fromarray(255 - bicubic(a, 10)).convert("RGB")
    item = bicubic(a, 4)
    mask = bicubic(np.where(a > 0, 255, 0).astype(np.uint8), 4)
    rgba = np.dstack([255 - item] * 3 + [mask]).astype(np.uint8)
    v["transparent"] = Image.fromarray(rgba, "RGBA")
    canvas = np.full((300, 400), 235, np.uint8)
    y, x = int(rng.integers(0, 300 - 84)), int(rng.integers(0, 400 - 84))
    canvas[y:y + 84, x:x + 84] = (235 * (255 - bicubic(a, 3).astype(np.int32)) // 255)
    v["off-centre"] = Image.fromarray(canvas).convert("RGB")
    cloth = np.array(CLOTH[int(rng.integers(len(CLOTH)))], np.float64)
    paper = np.array((245, 243, 238), np.float64)
    t = bicubic(a, 8).astype(np.float64)[..., None] / 255
    photo = paper * (1 - t) + cloth * t
    v["colour photo"] = Image.fromarray(np.clip(photo + 0.5, 0, 255).astype(np.uint8), "RGB")
    v["light on transparent"] = Image.fromarray(np.dstack([item] * 3 + [mask]), "RGBA")
    return v


# Variants classified a second time with extra options.
AGAIN = {"light on transparent": ["--invert", "no"]}


def png_kind(path):
    """The PNG's color type, bit depth and interlacing, from its IHDR."""
    with open(path, "rb") as f:
        data = f.read()
    w, h, depth, ctype, _, _, lace = struct.unpack(">IIBBBBB", data[16:29])
    kind = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}[ctype]
    trns = b"tRNS" in data[:data.find(b"IDAT")]
    return (f"{w}x{h} {kind} {depth}-bit{' + tRNS' if trns else ''}"
            f"{', interlaced' if lace else ''}")


def write_idx_subset(d, images, labels):
    os.makedirs(d, exist_ok=True)
    n = len(labels)
    with open(os.path.join(d, "t10k-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
    with open(os.path.join(d, "t10k-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a trained model (default: train one, 5 epochs)")
    ap.add_argument("--n", type=int, default=1000, help="test images (default 1000)")
    ap.add_argument("--data", help="directory of the test set (default: as fmnist finds it)")
    args = ap.parse_args()
    subprocess.run(["make", "-s", "-C", TOP, "fmnist"], check=True)
    tmp = tempfile.mkdtemp(prefix="fmnist-variants-")
    model = args.model
    if not model:
        model = os.path.join(tmp, "full.model")
        cmd = [FMNIST, "train", "--epochs", "5", "--quiet", "--model", model]
        if args.data:
            cmd += ["--data", args.data]
        print("training:", " ".join(cmd[1:]), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    where, images, labels = load_test(args.data, args.n)
    n = len(labels)

    sub = os.path.join(tmp, "subset")
    write_idx_subset(sub, images, labels)
    ev = json.loads(subprocess.run([FMNIST, "eval", "--threads", "1", "--json", "--data", sub,
                                    "--model", model], check=True, capture_output=True,
                                   text=True).stdout)

    rng = np.random.default_rng(5)
    files = {}
    for i in range(n):
        for name, img in variants(images[i], rng).items():
            d = os.path.join(tmp, name.replace(" ", "-"))
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, f"{i:05d}.png")
            if isinstance(img, bytes):
                with open(path, "wb") as f:
                    f.write(img)
            else:
                img.save(path)
            files.setdefault(name, []).append(path)

    rows = []
    for name, paths in files.items():
        for extra in ([], AGAIN.get(name)):
            if extra is None:
                continue
            r = subprocess.run([FMNIST, "classify", "--threads", "1", "--json", "--model", model]
                               + extra + paths, capture_output=True, text=True)
            got = [json.loads(line) for line in r.stdout.splitlines()]
            if r.returncode != 0 or len(got) != n:
                raise SystemExit(f"measure_variants: classify failed on {name}: {r.stderr[:500]}")
            correct = sum(g["label"] == int(labels[i]) for i, g in enumerate(got))
            size = sum(os.path.getsize(p) for p in paths) / n
            label = name + (f" (`{' '.join(extra)}`)" if extra else "")
            rows.append((label, correct / n, size, png_kind(paths[0])))

    print(f"{n} test images (the first {n} of {where}), model {os.path.basename(model)}")
    print(f"`fmnist eval` on the originals: **{100 * ev['accuracy']:.2f}%** "
          f"({ev['correct']} of {ev['n']})\n")
    print("| variant | PNG (mean size) | classify accuracy | vs eval |")
    print("|---|---|---:|---:|")
    for name, acc, size, kind in rows:
        print(f"| {name} | {kind} ({size / 1024:.1f} KB) | {100 * acc:.2f}% | "
              f"{100 * (acc - ev['accuracy']):+.2f} |")
    subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    main()
