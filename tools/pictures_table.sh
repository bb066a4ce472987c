#!/bin/sh
# pictures_table.sh: docs/pictures.md's table of recipes on people's pictures:
# for the tutorial's recipe, --preset best and --preset robust, 3 seeds
# each, the test accuracy and the accuracy on the development set
# (tools/devset_eval.py): all of it, each part (devset: Debian packages,
# devset-npm: npm's icon and emoji sets) and each style, and the seconds each
# training took (whole process). Uses ./fmnist and the data it finds.
#   sh tools/pictures_table.sh [SEEDS]     (default "1 2 3")
# ROWS="tutorial tuned robust-mlp robust" (the default) chooses the rows
# (robust-mlp: the robust recipe with the MLP and 60 epochs, as it was).
set -eu
bin=${FMNIST_BIN:-./fmnist}
seeds=${1:-1 2 3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
styles="devset devset-npm emoji outline icon clipart game photo"
row() { # name, options
    name=$1
    shift
    : > "$tmp/rows"
    for s in $seeds; do
        start=$(date +%s.%N)
        "$bin" train --quiet --json --seed "$s" --model "$tmp/m.model" "$@" > "$tmp/out"
        end=$(date +%s.%N)
        t=$("$bin" eval --json --model "$tmp/m.model" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')
        /usr/bin/python3 tools/devset_eval.py "$bin" "$tmp/m.model" > "$tmp/dev"
        secs=$(echo "$start $end" | awk '{printf "%.1f", $2 - $1}')
        line=$(awk -v t="$t" -v s="$secs" -v styles="$styles" '
            /^overall accuracy:/ { o = $3; sub("%", "", o) }
            $1 ~ /^[a-z-]+$/ && $3 ~ /%$/ { v = $3; sub("%", "", v); acc[$1] = v }
            END {
                n = split(styles, st, " "); printf "%.2f %s", 100 * t, o
                for (i = 1; i <= n; i++) printf " %s", (st[i] in acc) ? acc[st[i]] : "-"
                printf " %s\n", s
            }' "$tmp/dev")
        echo "$line" >> "$tmp/rows"
        echo "pictures: $name seed $s: test dev styles seconds: $line" >&2
    done
    awk -v name="$name" -v opts="$*" '
        { for (i = 1; i <= NF; i++) { sum[i] += $i; all[i] = all[i] (NR > 1 ? " / " : "") $i } n = NR; nf = NF }
        END {
            printf "| %s | `%s` | %s (mean %.2f) | %.1f |", name, opts, all[1], sum[1] / n, sum[2] / n
            for (i = 3; i < nf; i++) printf " %.1f |", sum[i] / n
            printf " %.1f |\n", sum[nf] / n
        }' "$tmp/rows"
}
echo "| recipe | options | test accuracy % (seeds $(echo $seeds | sed 's/ /, /g')) | development set % | $(echo $styles | sed 's/ / | /g') | seconds |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
rows=${ROWS:-tutorial tuned robust-mlp robust}
for r in $rows; do
    case $r in
    tutorial) row "tutorial (default)" --epochs 5 ;;
    tuned) row "tuned" --preset best ;;
    robust-mlp) row "robust, the MLP (as before --net cnn)" --preset robust --net mlp --epochs 60 ;;
    robust) row "robust" --preset robust ;;
    *) echo "pictures_table: unknown row $r" >&2; exit 2 ;;
    esac
done
