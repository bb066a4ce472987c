#!/usr/bin/env python3
"""Cuts the committed sample data set (data/sample/) from the official files.

    python3 tools/make_sample.py [--src /usr/share/datasets/fashion-mnist] [--out data/sample]

Takes the first 2,000 training and 1,000 test images with their labels, keeps
the official IDX layout and file names, and gzips them with a zero timestamp so
the output is the same bytes on every run. Standard library only.
"""
import argparse
import gzip
import os
import struct

SPLITS = {"train": 2000, "t10k": 1000}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def find(src, name):
    for cand in (os.path.join(src, name), os.path.join(src, name + ".gz")):
        if os.path.exists(cand):
            return cand
    raise SystemExit(f"make_sample: {name}[.gz] not found in {src}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="data/sample")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for split, n in SPLITS.items():
        img = read(find(args.src, f"{split}-images-idx3-ubyte"))
        lab = read(find(args.src, f"{split}-labels-idx1-ubyte"))
        assert struct.unpack(">IIII", img[:16])[:2] == (0x803, len(img[16:]) // 784)
        assert struct.unpack(">II", lab[:8])[0] == 0x801
        out_img = struct.pack(">IIII", 0x803, n, 28, 28) + img[16:16 + n * 784]
        out_lab = struct.pack(">II", 0x801, n) + lab[8:8 + n]
        for name, blob in ((f"{split}-images-idx3-ubyte.gz", out_img),
                           (f"{split}-labels-idx1-ubyte.gz", out_lab)):
            with open(os.path.join(args.out, name), "wb") as f:
                f.write(gzip.compress(blob, compresslevel=9, mtime=0))
            print(f"{args.out}/{name}: {n} items")


if __name__ == "__main__":
    main()
