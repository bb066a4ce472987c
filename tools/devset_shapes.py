#!/usr/bin/python3
"""How far the development set's shapes are from the data set's.

Usage: tools/devset_shapes.py FMNIST MODEL [DATA]
  e.g. /usr/bin/python3 tools/devset_shapes.py ./fmnist fmnist.model

Takes the 28x28 image classify gives the network for each picture of the
development set (`FMNIST classify --show`; MODEL is only needed to run
classify, the images do not depend on it) and the data set's training images
(DATA, default /usr/share/datasets/fashion-mnist), and prints:

- per class, the median aspect (width / height of the item's box) and fill
  (the share of the box the item covers) of the drawings and of the data
  set's images (the first 20,000);
- the accuracy of nearest neighbours among the 60,000 training images
  (1 and 10 neighbours; raw pixels, and silhouettes: pixels over 20 with
  their holes filled), over the whole set and without the game tiles.

A classifier that only matched shapes to the data set's would score what the
silhouettes' neighbours score. Needs numpy, scipy and PIL.
"""
import gzip
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = [os.path.join(HERE, "..", "tests", "fixtures", p) for p in ("devset", "devset-npm")]


def devset():
    rows = []
    for d in PARTS:
        with open(os.path.join(d, "labels.tsv")) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                r = dict(zip(header, line.rstrip("\n").split("\t")))
                if "label" in r:
                    rows.append((os.path.join(d, r["file"]), int(r["label"]), r["style"]))
    return rows


def seen(fmnist, model, paths):
    """The 28x28 images classify gives the network (--show enlarges 10x)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([fmnist, "classify", "--model", model, "--show",
                        os.path.join(tmp, "%d.png")] + paths,
                       check=True, stdout=subprocess.DEVNULL)
        return np.array([np.asarray(Image.open(os.path.join(tmp, "%d.png" % (i + 1)))
                                    .convert("L"))[5::10, 5::10]
                         for i in range(len(paths))], dtype=np.float32)


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def silhouettes(a):
    return np.array([ndimage.binary_fill_holes(x > 20) for x in a], dtype=np.float32)


def box_stats(sil):
    out = []
    for s in sil:
        r, c = np.where(s.any(1))[0], np.where(s.any(0))[0]
        if not len(r):
            out.append((np.nan, np.nan))
            continue
        h, w = r[-1] - r[0] + 1, c[-1] - c[0] + 1
        out.append((w / h, s.sum() / (w * h)))
    return np.array(out)


def neighbours(q, ref, ref_labels, k):
    qf, rf = q.reshape(len(q), -1), ref.reshape(len(ref), -1)
    d = (qf ** 2).sum(1)[:, None] - 2 * qf @ rf.T + (rf ** 2).sum(1)[None, :]
    near = ref_labels[np.argsort(d, 1)[:, :k]]
    return np.array([np.bincount(v, minlength=10).argmax() for v in near])


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    data = argv[2] if len(argv) > 2 else "/usr/share/datasets/fashion-mnist"
    rows = devset()
    x = seen(argv[0], argv[1], [r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    keep = np.array([r[2] != "game" for r in rows])
    t = idx(os.path.join(data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    tl = idx(os.path.join(data, "train-labels-idx1-ubyte.gz"), 8)
    t = t.astype(np.float32)
    xs, ts = silhouettes(x), silhouettes(t)
    a, b = box_stats(xs), box_stats(ts[:20000])
    print("class  drawings: n aspect fill   data set: aspect (10%-90%) fill")
    for c in range(10):
        m, n = (y == c) & keep, tl[:20000] == c
        print("%5d  %11d %6.2f %4.2f %16.2f (%.2f-%.2f) %4.2f" % (
            c, m.sum(), np.nanmedian(a[m, 0]), np.nanmedian(a[m, 1]), np.median(b[n, 0]),
            np.percentile(b[n, 0], 10), np.percentile(b[n, 0], 90), np.median(b[n, 1])))
    print()
    for name, q, ref in (("pixels", x / 255, t / 255), ("silhouettes", xs, ts)):
        for k in (1, 10):
            ok = neighbours(q, ref, tl, k) == y
            print("nearest %2d by %-11s: %5.1f%% of %d, %5.1f%% of the %d without game tiles" % (
                k, name, 100 * ok.mean(), len(y), 100 * ok[keep].mean(), keep.sum()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
