#!/bin/sh
# bench.sh: make bench's arithmetic. bench/run.sh turns timings into the
# figures of bench/RESULTS.md (medians, GFLOP/s, shares of the FMA peak on
# AVX2 or AVX-512, images/s, accuracies); nothing else checks them. Here it
# runs against stand-ins for fmnist and bench_kernels that report chosen
# timings, and every figure derived from them must come out exact.
set -u
[ -x /usr/bin/time ] || { echo "bench: skipped: no /usr/bin/time (Debian's package time)"; exit 77; }
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "bench: $*"; fails=$((fails + 1)); }

# The stand-ins. fmnist's training prints one JSON object an epoch, as
# `train --json` does; its runs take turns through three timings, so that
# each median is the middle one, not the first or the last.
mkdir "$tmp/data"
: > "$tmp/data/train-images-idx3-ubyte.gz"
cat > "$tmp/fmnist" <<'EOF'
#!/bin/sh
dir=$(dirname "$0")
next() { # next COUNTER: 1, 2, 3, 1, ...
    n=$(($(cat "$dir/$1" 2>/dev/null || echo 0) % 3 + 1))
    echo $n > "$dir/$1"
    echo $n
}
epochs() { # epochs N SECONDS ACCURACY
    e=1
    while [ $e -le $1 ]; do
        echo "{\"format\":1,\"epoch\":$e,\"test_accuracy\":$3,\"seconds\":9,\"train_seconds\":$2}"
        e=$((e + 1))
    done
}
case "$*" in
--version*) echo "fmnist 0"; echo "kernels: stub (a test)" ;;
*--preset*) ;;
*"--net cnn"*)
    case $(next cnn) in 1) epochs 2 1.5 0.88 ;; 2) epochs 2 2.5 0.89 ;; 3) epochs 2 2.0 0.87 ;; esac ;;
train*)
    # loops of 1.0, 3.0 and 2.5 s: the median 2.5
    case $(next mlp) in 1) epochs 5 0.2 0.85 ;; 2) epochs 5 0.6 0.87 ;; 3) epochs 5 0.5 0.86 ;; esac ;;
"eval --json"*) echo '{"format":1,"accuracy":0.901200,"accuracy_stderr":0.003}' ;;
eval*) echo "accuracy: 90.12%" ;;
export*) while [ $# -gt 1 ]; do [ "$1" = -o ] && : > "$2"; shift; done ;;
classify*) echo "Sneaker" ;;
*) exit 2 ;;
esac
EOF
cat > "$tmp/bench_kernels" <<'EOF'
#!/bin/sh
case $1 in
--peak) echo "$BENCH_TEST_PEAK" ;;
--step) echo "| the step table |" ;;
--step-cnn) echo "| the CNN's step table |" ;;
esac
EOF
chmod +x "$tmp/fmnist" "$tmp/bench_kernels"

# bench PEAK: run.sh with the stand-ins and bench_kernels --peak saying PEAK.
bench() {
    rm -f "$tmp/mlp" "$tmp/cnn" "$tmp/out.md"
    (cd "$here" && BENCH_TEST_PEAK=$1 FMNIST_BIN="$tmp/fmnist" BENCH_KERNELS="$tmp/bench_kernels" \
        FMNIST_DATA="$tmp/data" BENCH_OUT="$tmp/out.md" BENCH_PICTURES=3 BENCH_RUNS=3 \
        sh bench/run.sh > "$tmp/stdout" 2> "$tmp/stderr") || {
        fail "run.sh failed: $(tail -n 3 "$tmp/stderr")"
        return 1
    }
    cmp -s "$tmp/stdout" "$tmp/out.md" || fail "the table printed is not the one written"
}
# has LINE: the table holds LINE exactly.
has() {
    grep -qxF -- "$1" "$tmp/out.md" || fail "no line \"$1\" in the table:
$(cat "$tmp/out.md")"
}

# An AVX2 machine: 315.7 GFLOP in 2.5 s is 126.3 GFLOP/s, 63% of 200;
# the CNN's 777.19 GFLOP in 4.0 s (three runs of 3.0, 5.0, 4.0 s) is 194.3
# GFLOP/s, 97% of the AVX2 peak.
if bench "200.0 0.0"; then
    has "| its training loop (5 x 938 steps, evaluation excluded) | 2.5 s |"
    has "| training images/s | 120000 |"
    has "| matrix work over the loop (315.7 GFLOP) | 126.3 GFLOP/s |"
    has "| FMA peak of all CPUs, measured now | AVX2 200.0 GFLOP/s (this CPU has no AVX-512) |"
    has "| loop as a share of the peak | 63% of AVX2 |"
    has "| test accuracy of those runs | 86.00% |"
    has "| its training loop (2 x 938 steps; 777.2 GFLOP) | 4 s: 194.3 GFLOP/s, 97% of the AVX2 peak |"
    grep -q "^| \`fmnist train --net cnn --epochs 2\` (the convolutional network), whole process | [0-9.]* s, [0-9]* MB, test 88.00% |$" \
        "$tmp/out.md" || fail "no CNN whole-process line with its median accuracy 88.00%"
    has "| \`fmnist train --preset best\` (40 epochs), whole process | $(sed -n 's/^| `fmnist train --preset best` (40 epochs), whole process | \([0-9.]*\) s.*/\1/p' "$tmp/out.md") s (test accuracy 90.12%) |"
    has "| the step table |"
    has "| the CNN's step table |"
    grep -q "^| 3 PNGs: 3 calls / one call / one call with \`--threads [0-9]*\` | [0-9.]* s / [0-9.]* s / [0-9.]* s |$" \
        "$tmp/out.md" || fail "no line for the 3 PNGs classified"
    grep -q "kernels stub;" "$tmp/out.md" || fail "the kernels fmnist --version names are not reported"
fi

# An AVX-512 machine: the shares are of AVX-512's peak, AVX2's beside.
if bench "200.0 400.0"; then
    has "| FMA peak of all CPUs, measured now | AVX2 200.0 GFLOP/s, AVX-512 400.0 GFLOP/s |"
    has "| loop as a share of the peak | 32% of AVX-512, 63% of AVX2 |"
    has "| its training loop (2 x 938 steps; 777.2 GFLOP) | 4 s: 194.3 GFLOP/s, 49% of the AVX-512 peak |"
fi

# A count that is not one is refused before anything runs.
for bad in 0 x 07 "1 2"; do
    (cd "$here" && BENCH_RUNS=$bad FMNIST_BIN=/nonexistent sh bench/run.sh > /dev/null 2>&1)
    [ $? -eq 2 ] || fail "BENCH_RUNS='$bad' not refused with status 2"
done

[ $fails -eq 0 ] || exit 1
echo "bench: make bench's figures come out exact (AVX2 and AVX-512 peaks)"
