#!/bin/sh
# bench/run.sh: fmnist's speed on this machine (make bench runs it).
#
#   make bench                 # fmnist alone
#   make bench BENCH_TORCH=1   # and PyTorch side by side (Debian's python3-torch)
#
# Environment: FMNIST_BIN, BENCH_KERNELS (set by make), BENCH_RUNS (default 3),
# BENCH_TORCH=1, FMNIST_DATA (the full data set; default: searched as fmnist does).
# Prints a markdown table and writes it to bench/RESULTS.md. Every figure is a
# median over BENCH_RUNS whole-process runs (alternating fmnist and PyTorch).
set -eu
bin=${FMNIST_BIN:-./fmnist}
kern=${BENCH_KERNELS:-build/bench/bench_kernels}
runs=${BENCH_RUNS:-3}
out=bench/RESULTS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Where the real data is: as fmnist searches.
data=${FMNIST_DATA:-}
if [ -z "$data" ]; then
    for d in ./data /usr/share/datasets/fashion-mnist "$HOME/.pytorch/F_MNIST_data/FashionMNIST/raw"; do
        if [ -e "$d/train-images-idx3-ubyte.gz" ] || [ -e "$d/train-images-idx3-ubyte" ]; then
            data=$d
            break
        fi
    done
fi
[ -n "$data" ] || { echo "bench: the Fashion-MNIST files are needed (make deps-data)" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# wall seconds and peak RSS (KB) of a command: "SECONDS KB"
timed() { /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" > "$tmp/stdout" 2> "$tmp/stderr"; cat "$tmp/time"; }

if [ "${BENCH_TORCH:-0}" = 1 ]; then
    /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || {
        echo "bench: BENCH_TORCH=1 needs Debian's python3-torch and python3-torchvision" >&2
        exit 1
    }
    # The fastest honest PyTorch: Debian's torch uses the system BLAS, and the
    # reference BLAS is several times slower than OpenBLAS on this recipe.
    if ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "ok installed"; then
        if [ "$(id -u)" = 0 ]; then
            echo "bench: installing libopenblas0-pthread so that PyTorch runs at its best" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q libopenblas0-pthread >/dev/null
        else
            echo "bench: PyTorch will use the reference BLAS; for a fair race: sudo apt-get install libopenblas0-pthread" >&2
        fi
    fi
fi

echo "bench: measuring the FMA peak" >&2
peak=$("$kern" --peak "$(nproc)")
peak2=${peak% *}
peak512=${peak#* }

# 5 epochs of the recipe: 315.7 GFLOP of matrix work (README: "Speed").
gflop=315.70
: > "$tmp/train"
: > "$tmp/torch_fast"
: > "$tmp/torch_tut"
for i in $(seq "$runs"); do
    echo "bench: fmnist train --epochs 5, run $i of $runs" >&2
    t=$(timed "$bin" train --epochs 5 --json --quiet --data "$data" --model "$tmp/m.model")
    loop=$(awk -F'"train_seconds":' '{split($2, a, "}"); s += a[1]} END {print s}' "$tmp/stdout")
    acc=$(tail -n 1 "$tmp/stdout" | sed 's/.*"test_accuracy":\([0-9.]*\).*/\1/')
    echo "$t $loop $acc" >> "$tmp/train"
    if [ "${BENCH_TORCH:-0}" = 1 ]; then
        echo "bench: PyTorch, fast version, run $i" >&2
        timed /usr/bin/python3 bench/torch_recipe.py --mode fast --data "$data" | awk '{print $1}' >> "$tmp/torch_fast"
        echo "bench: PyTorch, the tutorial's script, run $i" >&2
        timed /usr/bin/python3 bench/torch_recipe.py --mode tutorial --data "$data" | awk '{print $1}' >> "$tmp/torch_tut"
    fi
done
wall=$(awk '{print $1}' "$tmp/train" | median)
rss=$(awk '{print $2}' "$tmp/train" | median)
loop=$(awk '{print $3}' "$tmp/train" | median)
acc=$(awk '{print $4}' "$tmp/train" | median)
gfs=$(awk -v g=$gflop -v s="$loop" 'BEGIN {printf "%.1f", g / s}')
ips=$(awk -v s="$loop" 'BEGIN {printf "%.0f", 5 * 60000 / s}')

echo "bench: fmnist train --preset best (once)" >&2
preset=$(timed "$bin" train --preset best --quiet --data "$data" --model "$tmp/p.model" | awk '{print $1}')
preset_acc=$("$bin" eval --json --data "$data" --model "$tmp/p.model" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')

echo "bench: eval and classify" >&2
: > "$tmp/eval"
for i in $(seq 5); do timed "$bin" eval --data "$data" --model "$tmp/m.model" | awk '{print $1}' >> "$tmp/eval"; done
evalt=$(median < "$tmp/eval")
mkdir "$tmp/png"
i=0
while [ $i -lt 1000 ]; do
    "$bin" export --data "$data" --index $i -o "$tmp/png/$i.png" > /dev/null
    i=$((i + 1))
done
# One classify is a few milliseconds: time 20 in a row, 5 times, median.
: > "$tmp/one"
for r in 1 2 3 4 5; do
    start=$(date +%s.%N)
    for i in $(seq 20); do "$bin" classify --model "$tmp/m.model" "$tmp/png/7.png" > /dev/null; done
    echo "$start $(date +%s.%N)" | awk '{printf "%.6f\n", ($2 - $1) / 20}' >> "$tmp/one"
done
one=$(median < "$tmp/one")
start=$(date +%s.%N)
for f in "$tmp"/png/*.png; do "$bin" classify --model "$tmp/m.model" "$f" > /dev/null; done
calls=$(echo "$start $(date +%s.%N)" | awk '{printf "%.3f", $2 - $1}')
many=$(timed "$bin" classify --model "$tmp/m.model" "$tmp"/png/*.png | awk '{print $1}')

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
kernels=$("$bin" --version | sed 's/.*kernels: \([a-z0-9]*\).*/\1/')
{
    echo "# fmnist speed"
    echo
    echo "Measured by \`make bench${BENCH_TORCH:+ BENCH_TORCH=$BENCH_TORCH}\` on $(date -u +%Y-%m-%d): $cpu, $(nproc) CPUs, kernels $kernels;"
    echo "medians of $runs whole-process runs (5 of eval; one classify: 5 x 20 in a row)."
    echo
    echo "| what | figure |"
    echo "|---|---|"
    echo "| \`fmnist train --epochs 5\`, whole process | $wall s |"
    echo "| its training loop (5 x 938 steps, evaluation excluded) | $loop s |"
    echo "| training images/s | $ips |"
    echo "| matrix work over the loop (315.7 GFLOP) | $gfs GFLOP/s |"
    echo "| FMA peak of all CPUs, measured now | AVX2 $peak2 GFLOP/s, AVX-512 $peak512 GFLOP/s |"
    echo "| loop as a share of the peak | $(awk -v a="$gfs" -v b="$peak512" 'BEGIN {printf "%.0f%%", 100 * a / b}') of AVX-512, $(awk -v a="$gfs" -v b="$peak2" 'BEGIN {printf "%.0f%%", 100 * a / b}') of AVX2 |"
    echo "| peak resident memory of train | $(awk -v k="$rss" 'BEGIN {printf "%.1f MB", k / 1024}') |"
    echo "| test accuracy of those runs | $(awk -v a="$acc" 'BEGIN {printf "%.2f%%", 100 * a}') |"
    echo "| \`fmnist train --preset best\` (40 epochs), whole process | $preset s (test accuracy $(awk -v a="$preset_acc" 'BEGIN {printf "%.2f%%", 100 * a}')) |"
    echo "| \`fmnist eval\`, whole process | $evalt s |"
    echo "| \`fmnist classify\` of one PNG, whole process | $(awk -v s="$one" 'BEGIN {printf "%.1f ms", 1000 * s}') |"
    echo "| 1,000 PNGs: 1,000 calls / one call | $calls s / $many s ($(awk -v a="$calls" -v b="$many" 'BEGIN {printf "%.0fx", a / b}')) |"
    if [ "${BENCH_TORCH:-0}" = 1 ]; then
        tf=$(median < "$tmp/torch_fast")
        tt=$(median < "$tmp/torch_tut")
        blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo "?")
        echo "| PyTorch, fast version (pre-loaded, sliced batches), whole process | $tf s ($(awk -v a="$tf" -v b="$wall" 'BEGIN {printf "%.1fx", a / b}') fmnist's time) |"
        echo "| PyTorch, the tutorial's script (DataLoader), whole process | $tt s ($(awk -v a="$tt" -v b="$wall" 'BEGIN {printf "%.1fx", a / b}') fmnist's time) |"
        echo
        echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__, "with", torch.get_num_threads(), "threads")'), BLAS: $blas."
    fi
} > "$tmp/table"
cat "$tmp/table"
cp "$tmp/table" "$out"
echo "bench: wrote $out" >&2
