#!/bin/sh
# recipes.sh: docs/recipes.md's table: the tutorial's recipe and
# --preset best, with each network, 3 seeds each, with validation and test
# accuracy and the time each training took (whole process). Uses ./fmnist
# and the data it finds.
#   sh tools/recipes.sh [SEEDS]     (default "1 2 3")
# ROWS="tutorial tuned cnn cnn-tuned" (the default) chooses the rows.
set -eu
bin=${FMNIST_BIN:-./fmnist}
seeds=${1:-1 2 3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
row() { # name, options
    name=$1
    shift
    vals="" tests="" times=""
    for s in $seeds; do
        start=$(date +%s.%N)
        "$bin" train --quiet --json --seed "$s" --model "$tmp/m.model" "$@" > "$tmp/out"
        end=$(date +%s.%N)
        meta=$("$bin" eval --json --model "$tmp/m.model")
        t=$(printf '%s' "$meta" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')
        v=$(printf '%s' "$meta" | sed -n 's/.*"val_accuracy":\([0-9.]*\).*/\1/p')
        e=$(printf '%s' "$meta" | sed -n 's/.*"best_epoch":\([0-9]*\).*/\1/p')
        tests="$tests $t"
        vals="$vals ${v:--}"
        times="$times $(echo "$start $end" | awk '{printf "%.1f", $2 - $1}')"
        echo "recipes: $name seed $s: test $t val ${v:--} epoch ${e:--}" >&2
    done
    echo "$name|$*|$vals|$tests|$times" | awk -F'|' '{
        n = split($4, t, " "); split($3, v, " "); split($5, s, " ");
        tv = ""; vv = ""; ss = ""; sum = 0; vs = 0; tt = 0; nv = 0
        for (i = 1; i <= n; i++) {
            tv = tv (i > 1 ? " / " : "") sprintf("%.2f", 100 * t[i]); sum += t[i]
            if (v[i] != "-") { vv = vv (i > 1 ? " / " : "") sprintf("%.2f", 100 * v[i]); vs += v[i]; nv++ }
            ss = ss (i > 1 ? " / " : "") s[i]; tt += s[i]
        }
        printf "| %s | `%s` | %s | %s (mean %.2f) | %s |\n", $1, $2,
            nv ? vv " (mean " sprintf("%.2f", 100 * vs / nv) ")" : "-", tv, 100 * sum / n, ss
    }'
}
echo "| recipe | options | validation accuracy % | test accuracy % | seconds |"
echo "|---|---|---|---|---|"
for r in ${ROWS:-tutorial tuned cnn cnn-tuned}; do
    case $r in
    tutorial) row "tutorial (default)" --epochs 5 ;;
    tuned) row "tuned" --preset best ;;
    cnn) row "convolutional" --net cnn --epochs 5 ;;
    cnn-tuned) row "convolutional, tuned" --preset best --net cnn ;;
    *) echo "recipes: unknown row $r" >&2; exit 2 ;;
    esac
done
