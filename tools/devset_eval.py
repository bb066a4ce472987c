#!/usr/bin/python3
"""Accuracy of fmnist classify on the development set of real pictures.

Usage: tools/devset_eval.py FMNIST MODEL [CLASSIFY-ARGS...]
  e.g. tools/devset_eval.py ./fmnist fmnist.model --invert auto

Runs `FMNIST classify --json --model MODEL [CLASSIFY-ARGS] FILE...` once on
every picture listed in the labels.tsv of both parts of the set,
tests/fixtures/devset/ (Debian packages) and tests/fixtures/devset-npm/
(icon and emoji sets from the npm registry); DEVSET=DIR[:DIR...] chooses
others. Prints the accuracy overall, per part, per style and per class, the
confusion matrix and the misclassified files. Standard library only.
"""
import json
import os
import subprocess
import sys
from collections import defaultdict

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def devset_rows():
    """Every picture of the set, in order: the labels.tsv row's fields (file,
    label as an int, style, ...) and its path and part (the folder's name).
    tools/arch_check.py and tools/devset_ensemble.py read the set through it."""
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.join(here, "..", "tests", "fixtures")
    dirs = os.environ.get("DEVSET", os.path.join(fixtures, "devset") + ":" +
                          os.path.join(fixtures, "devset-npm")).split(":")
    rows = []
    for devset in dirs:
        with open(os.path.join(devset, "labels.tsv")) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                if not line.strip():
                    continue
                r = dict(zip(header, line.rstrip("\n").split("\t")))
                r["path"] = os.path.normpath(os.path.join(devset, r["file"]))
                r["label"] = int(r["label"])
                r["part"] = os.path.basename(os.path.normpath(devset))
                rows.append(r)
    return rows


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    fmnist, model, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = devset_rows()
    cmd = [fmnist, "classify", "--json", "--model", model] + extra + \
        [r["path"] for r in rows]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.stderr.write("devset_eval: %s exited with %d\n" % (fmnist, proc.returncode))
        return 1
    got = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            got[os.path.normpath(o["file"])] = o
    missing = [r["file"] for r in rows if r["path"] not in got]
    if missing:
        sys.stderr.write("devset_eval: no answer for %s\n" % ", ".join(missing))
        return 1

    by_part = defaultdict(lambda: [0, 0])
    by_style = defaultdict(lambda: [0, 0])
    by_class = defaultdict(lambda: [0, 0])
    by_cell = defaultdict(lambda: [0, 0])
    confusion = [[0] * 10 for _ in range(10)]
    wrong = []
    right = 0
    for r in rows:
        o = got[r["path"]]
        ok = o["label"] == r["label"]
        right += ok
        for d, k in ((by_part, r["part"]), (by_style, r["style"]), (by_class, r["label"]),
                     (by_cell, (r["label"], r["style"]))):
            d[k][0] += ok
            d[k][1] += 1
        confusion[r["label"]][o["label"]] += 1
        if not ok:
            wrong.append((r, o))

    def pct(a, n):
        return "%5.1f%%" % (100.0 * a / n) if n else "    -"

    styles = sorted(by_style)
    print("devset: %d pictures, model %s%s" % (len(rows), model,
          (", classify " + " ".join(extra)) if extra else ""))
    print("overall accuracy: %s (%d/%d)" % (pct(right, len(rows)), right, len(rows)))
    print()
    print("%-10s %7s %8s" % ("part", "n", "accuracy"))
    for p in sorted(by_part):
        a, n = by_part[p]
        print("%-10s %7d %8s" % (p, n, pct(a, n)))
    print()
    print("%-10s %7s %8s" % ("style", "n", "accuracy"))
    for s in styles:
        a, n = by_style[s]
        print("%-10s %7d %8s" % (s, n, pct(a, n)))
    print()
    print("%-14s" % "class" + "".join("%10s" % s for s in styles) + "%10s" % "all")
    for c in range(10):
        cells = []
        for s in styles:
            a, n = by_cell[(c, s)]
            cells.append("%10s" % ("%d/%d" % (a, n) if n else "-"))
        a, n = by_class[c]
        print("%-14s" % ("%d %s" % (c, CLASSES[c])) + "".join(cells) +
              "%10s" % (pct(a, n).strip() if n else "-"))
    print()
    print("confusion (rows: label, columns: answer)")
    print("      " + "".join("%4d" % c for c in range(10)))
    for c in range(10):
        print("%4d  " % c + "".join("%4s" % (confusion[c][p] or ".") for p in range(10)))
    print()
    print("misclassified (%d):" % len(wrong))
    for r, o in wrong:
        print("  %-40s %-8s %-12s -> %-12s %5.1f%%" % (
            r["file"], r["style"], CLASSES[r["label"]], CLASSES[o["label"]],
            100.0 * o["probability"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
