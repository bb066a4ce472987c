#!/bin/sh
# mutants.sh: every mutant of tools/mutants.txt still applies (its old text
# occurs exactly once in its file), so that a change which rewrites a
# mutant's line fails here, in a second, and not minutes into make mutate
# (which stops on a stale table before running anything). Inside make
# mutate the tree holds one mutant applied: skipped there.
set -u
if [ -n "${FMNIST_MUTATING:-}" ]; then
    echo "mutants: skipped: inside make mutate ($FMNIST_MUTATING)"
    exit 77
fi
exec sh "$(dirname "$0")/../tools/mutate.sh" --check
