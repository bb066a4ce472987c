#!/usr/bin/python3
"""devset_ensemble.py: would averaging several models help on people's pictures?

Usage: tools/devset_ensemble.py FMNIST MODEL MODEL...

Runs `FMNIST classify --json` with each model on the development set (as
tools/devset_eval.py reads it: tests/fixtures/devset*/, or $DEVSET), then
averages the models' probabilities per picture and prints the accuracy of one
model, and of every pair, every three and all of them together (means over
the combinations). classify reports its three most
likely classes; the other classes count as 0.0001. Standard library only.
"""
import itertools
import json
import os
import subprocess
import sys

from devset_eval import devset_rows


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    fmnist, models = sys.argv[1], sys.argv[2:]
    rows = [(r["path"], r["label"]) for r in devset_rows()]
    prob = {}
    for m in models:
        out = subprocess.run([fmnist, "classify", "--json", "--model", m] + [p for p, _ in rows],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                o = json.loads(line)
                v = [1e-4] * 10
                for t in o["top"]:
                    v[t["label"]] = t["probability"]
                prob[(m, os.path.normpath(o["file"]))] = v
    missing = [p for p, _ in rows for m in models if (m, p) not in prob]
    if missing:
        sys.exit("devset_ensemble: classify gave no answer for %s" % missing[0])

    def accuracy(group):
        right = 0
        for path, label in rows:
            total = [sum(prob[(m, path)][k] for m in group) for k in range(10)]
            right += max(range(10), key=lambda k: total[k]) == label
        return 100 * right / len(rows)

    for n in sorted({1, 2, 3, len(models)}):
        if n > len(models):
            continue
        groups = list(itertools.combinations(models, n))
        print("%d model%s: %.1f%% (mean of %d)" % (n, "s" if n > 1 else "",
              sum(accuracy(g) for g in groups) / len(groups), len(groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
