#!/bin/sh
# progress.sh: train's live progress line on a pseudo-terminal (script(1))
# of 40, 80 and 200 columns: every redraw fits the width (no wrapping, so no
# scrolling; the results' own lines may wrap), the line is cleared before
# each epoch's result, and only the results, the total time and "saved" end
# lines.
set -u
bin=${FMNIST_BIN:-./fmnist}
command -v script >/dev/null 2>&1 || { echo "progress: skipped: no script(1) for a pseudo-terminal"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for w in 40 80 200; do
    script -qec "stty cols $w; $bin train --data data/sample --epochs 3 --model $tmp/m.model" /dev/null \
        > "$tmp/out.$w" 2>&1 || { echo "progress: train failed at $w columns"; fail=1; continue; }
    # Pieces between carriage returns and newlines, escape sequences removed.
    tr '\r' '\n' < "$tmp/out.$w" | sed 's/\x1b\[K//g' > "$tmp/pieces.$w"
    long=$(grep ' ETA ' "$tmp/pieces.$w" | awk -v w="$w" 'length($0) > w - 1')
    [ -z "$long" ] || { echo "progress: at $w columns, wider than $((w - 1)): $long"; fail=1; }
    grep -q '^epoch 1/3 \[' "$tmp/pieces.$w" || grep -q '^epoch [0-9]/3 .*%' "$tmp/pieces.$w" ||
        { echo "progress: at $w columns no progress line"; fail=1; }
    grep -q '%.*ETA' "$tmp/pieces.$w" || { echo "progress: at $w columns no ETA"; fail=1; }
    # The lines that end: 3 results, the total time, saved.
    n=$(grep -c '' "$tmp/out.$w")
    [ "$n" -eq 5 ] || { echo "progress: at $w columns $n lines, not 5:"; cat -A "$tmp/out.$w"; fail=1; }
    grep -q '^trained to epoch 3 in ' "$tmp/pieces.$w" || { echo "progress: no total time"; fail=1; }
done
[ $fail -eq 0 ] && echo "progress: fits 40, 80 and 200 columns on a pseudo-terminal"
exit $fail
