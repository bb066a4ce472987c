#!/bin/sh
# bench/run.sh: fmnist's speed on this machine (make bench runs it).
#
#   make bench                  # fmnist alone
#   make bench BENCH_RIVALS=1   # and its rivals at their best, alternately:
#                               # a C trainer on OpenBLAS (bench/rivals/train_openblas.c)
#                               # and PyTorch (bench/rivals/fast_torch.py); for the
#                               # convolutional network, PyTorch's own
#                               # (bench/rivals/fast_torch_cnn.py)
#   make bench BENCH_TUTORIAL=1 # and the tutorial's own PyTorch script (slow)
#
# Environment: FMNIST_BIN, BENCH_KERNELS (set by make), BENCH_RUNS (default 5 with
# rivals, else 3), FMNIST_DATA (the full data set; default: searched as fmnist does),
# BENCH_OUT (default bench/RESULTS.md), BENCH_PICTURES (PNGs classified, default 1000).
# BENCH_TORCH=1 is the old name of BENCH_RIVALS=1. Prints a markdown table and
# writes it to BENCH_OUT. Every figure is a median over BENCH_RUNS
# whole-process runs, the rivals run in turn with fmnist (fmnist, OpenBLAS,
# PyTorch, fmnist's CNN, PyTorch's, fmnist, ...) so that a slow spell of the
# machine hits all alike.
set -eu
bin=${FMNIST_BIN:-./fmnist}
kern=${BENCH_KERNELS:-build/bench/bench_kernels}
rivals=${BENCH_RIVALS:-${BENCH_TORCH:-0}}
tutorial=${BENCH_TUTORIAL:-0}
if [ "$rivals" = 1 ]; then runs=${BENCH_RUNS:-5}; else runs=${BENCH_RUNS:-3}; fi
out=${BENCH_OUT:-bench/RESULTS.md}
pictures=${BENCH_PICTURES:-1000}
for n in "$runs" "$pictures"; do
    case $n in
    '' | *[!0-9]* | 0*) echo "bench: BENCH_RUNS and BENCH_PICTURES must be counts from 1" >&2; exit 2 ;;
    esac
done
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
# need_pkgs WHY PACKAGE...: Debian packages bench needs (WHY: what for),
# installed when root, else a note.
need_pkgs() {
    why=$1
    shift
    missing=
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "bench: installing$missing: $why" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
    else
        echo "bench: $why needs$missing: sudo apt-get install$missing" >&2
        exit 1
    fi
}

# Every figure is timed by GNU time (Debian's package time, not in a minimal
# install).
[ -x /usr/bin/time ] || need_pkgs "timing every run" time
if [ "$rivals" = 1 ] || [ "$tutorial" = 1 ]; then
    /usr/bin/python3 -c 'import torch' 2>/dev/null || {
        echo "bench: the rivals need Debian's python3-torch (and python3-torchvision for BENCH_TUTORIAL)" >&2
        exit 1
    }
    # Debian's torch uses the system BLAS; the reference BLAS is several
    # times slower than OpenBLAS on this recipe. The C trainer needs OpenBLAS's
    # headers and its OpenMP build.
    need_pkgs "racing the rivals at their best" libopenblas0-pthread libopenblas0-openmp \
        libopenblas-dev
fi
if [ "$rivals" = 1 ]; then
    [ -e "$data/train-images-idx3-ubyte.gz" ] || {
        echo "bench: the C + OpenBLAS rival reads the .gz files; $data has none" >&2
        exit 1
    }
    cc -O3 -march=native -fno-math-errno -fopenmp bench/rivals/train_openblas.c \
        -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -lz -lm -o "$tmp/train_openblas"
    # fast_torch.py reads raw IDX files laid out as torchvision does.
    mkdir -p "$tmp/root/FashionMNIST/raw"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        if [ -e "$data/$f" ]; then cp "$data/$f" "$tmp/root/FashionMNIST/raw/"; else zcat "$data/$f.gz" > "$tmp/root/FashionMNIST/raw/$f"; fi
    done
fi
ncpu=$(nproc)

echo "bench: measuring the FMA peak" >&2
peak=$("$kern" --peak "$(nproc)")
peak2=${peak% *}
peak512=${peak#* }
# The shares of the peak are of the widest vectors this CPU has.
if awk -v p="$peak512" 'BEGIN {exit !(p > 0)}'; then
    isa=AVX-512 peakbest=$peak512
else
    isa=AVX2 peakbest=$peak2
fi

# OpenBLAS at its best: with every CPU, or with one where sharing the work
# costs more than it gains (seen on a 2-CPU VM: 24 s with two threads, 6.6
# s with one). One epoch with each decides.
# openblas THREADS EPOCHS: one timed run of the C + OpenBLAS trainer, with
# flush-to-zero.
openblas() {
    FMNIST_DATA="$data" FTZ=1 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        timed "$tmp/train_openblas" "$1" "$2"
}
ob_threads=$ncpu
if [ "$rivals" = 1 ] && [ "$ncpu" -gt 1 ]; then
    echo "bench: C + OpenBLAS, one epoch with 1 and with $ncpu threads" >&2
    ob1=$(openblas 1 1 | awk '{print $1}')
    obn=$(openblas "$ncpu" 1 | awk '{print $1}')
    ob_threads=$(awk -v a="$ob1" -v b="$obn" -v n="$ncpu" 'BEGIN {print a < b ? 1 : n}')
fi

# 5 epochs of the recipe: 315.7 GFLOP of matrix work (README: "Speed").
gflop=315.70
: > "$tmp/train"
: > "$tmp/openblas"
: > "$tmp/torch_fast"
: > "$tmp/torch_tut"
: > "$tmp/cnn"
: > "$tmp/torch_cnn"
for i in $(seq "$runs"); do
    echo "bench: fmnist train --epochs 5, run $i of $runs" >&2
    t=$(timed "$bin" train --epochs 5 --json --quiet --data "$data" --model "$tmp/m.model")
    loop=$(awk -F'"train_seconds":' '{split($2, a, "}"); s += a[1]} END {print s}' "$tmp/stdout")
    acc=$(tail -n 1 "$tmp/stdout" | sed 's/.*"test_accuracy":\([0-9.]*\).*/\1/')
    echo "$t $loop $acc" >> "$tmp/train"
    if [ "$rivals" = 1 ]; then
        # OpenBLAS with flush-to-zero and its faster thread count.
        echo "bench: C + OpenBLAS, run $i" >&2
        t=$(openblas "$ob_threads" 5)
        echo "$t $(sed -n 's/^test acc \([0-9.]*\).*/\1/p' "$tmp/stdout")" >> "$tmp/openblas"
        # torch 1.13 at its default thread count, its fastest here.
        echo "bench: PyTorch, run $i" >&2
        t=$(timed /usr/bin/python3 bench/rivals/fast_torch.py --root "$tmp/root" --epochs 5 --seed 1)
        echo "$t $(tail -n 1 "$tmp/stdout" | sed 's/.*"test_acc": \([0-9.]*\).*/\1/')" >> "$tmp/torch_fast"
    fi
    # The convolutional network, 2 epochs, raced by PyTorch's own at its best.
    echo "bench: fmnist train --net cnn --epochs 2, run $i of $runs" >&2
    t=$(timed "$bin" train --net cnn --epochs 2 --json --quiet --data "$data" --model "$tmp/c.model")
    loop=$(awk -F'"train_seconds":' '{split($2, a, "}"); s += a[1]} END {print s}' "$tmp/stdout")
    echo "$t $loop $(tail -n 1 "$tmp/stdout" | sed 's/.*"test_accuracy":\([0-9.]*\).*/\1/')" >> "$tmp/cnn"
    if [ "$rivals" = 1 ]; then
        echo "bench: PyTorch's convolutional network, run $i" >&2
        t=$(timed /usr/bin/python3 bench/rivals/fast_torch_cnn.py --root "$tmp/root" --epochs 2 --seed 1)
        echo "$t $(tail -n 1 "$tmp/stdout" | sed 's/.*"test_acc": \([0-9.]*\).*/\1/')" >> "$tmp/torch_cnn"
    fi
    if [ "$tutorial" = 1 ]; then
        echo "bench: PyTorch, the tutorial's script, run $i" >&2
        timed /usr/bin/python3 bench/torch_recipe.py --mode tutorial --data "$data" | awk '{print $1}' >> "$tmp/torch_tut"
    fi
done
wall=$(awk '{print $1}' "$tmp/train" | median)
rss=$(awk '{print $2}' "$tmp/train" | median)
loop=$(awk '{print $3}' "$tmp/train" | median)
acc=$(awk '{print $4}' "$tmp/train" | median)
gfs=$(awk -v g=$gflop -v s="$loop" 'BEGIN {printf "%.1f", g / s}')
# The convolutional network's training steps: 6,476,544 FLOP an image (forward
# 2,234,112; weight gradients as much; input gradients 2,008,320), 2 x 60,000 images.
cnn_gflop=777.19
cnn=$(awk '{print $1}' "$tmp/cnn" | median)
cnn_rss=$(awk '{print $2}' "$tmp/cnn" | median)
cnn_loop=$(awk '{print $3}' "$tmp/cnn" | median)
cnn_acc=$(awk '{print $4}' "$tmp/cnn" | median)
ips=$(awk -v s="$loop" 'BEGIN {printf "%.0f", 5 * 60000 / s}')

echo "bench: where a step's time goes (bench_kernels --step)" >&2
img=$data/train-images-idx3-ubyte
[ -e "$img" ] || img=$img.gz
"$kern" --step "$img" > "$tmp/step"
"$kern" --step-cnn "$img" > "$tmp/step_cnn"

echo "bench: fmnist train --preset best (once)" >&2
preset=$(timed "$bin" train --preset best --quiet --data "$data" --model "$tmp/p.model" | awk '{print $1}')
preset_acc=$("$bin" eval --json --data "$data" --model "$tmp/p.model" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')
echo "bench: fmnist train --preset robust (once)" >&2
robust=$(timed "$bin" train --preset robust --quiet --data "$data" --model "$tmp/r.model" | awk '{print $1}')
robust_acc=$("$bin" eval --json --data "$data" --model "$tmp/r.model" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')

echo "bench: eval and classify" >&2
: > "$tmp/eval"
for i in $(seq 5); do timed "$bin" eval --data "$data" --model "$tmp/m.model" | awk '{print $1}' >> "$tmp/eval"; done
evalt=$(median < "$tmp/eval")
mkdir "$tmp/png"
i=0
while [ $i -lt "$pictures" ]; do
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
manyt=$(timed "$bin" classify --threads "$ncpu" --model "$tmp/m.model" "$tmp"/png/*.png | awk '{print $1}')

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
kernels=$("$bin" --version | sed -n 's/^kernels: \([a-z0-9]*\).*/\1/p')
{
    echo "# fmnist speed"
    echo
    echo "Measured by \`make bench$([ "$rivals" = 1 ] && echo " BENCH_RIVALS=1")$([ "$tutorial" = 1 ] && echo " BENCH_TUTORIAL=1")\` on $(date -u +%Y-%m-%d): $cpu, $(nproc) CPUs, kernels $kernels;"
    echo "medians of $runs whole-process runs (5 of eval; one classify: 5 x 20 in a row)$([ "$rivals" = 1 ] && echo ", the rivals run in turn with fmnist")."
    echo
    echo "| what | figure |"
    echo "|---|---|"
    echo "| \`fmnist train --epochs 5\`, whole process | $wall s |"
    echo "| its training loop (5 x 938 steps, evaluation excluded) | $loop s |"
    echo "| training images/s | $ips |"
    echo "| matrix work over the loop (315.7 GFLOP) | $gfs GFLOP/s |"
    if [ "$isa" = AVX-512 ]; then
        echo "| FMA peak of all CPUs, measured now | AVX2 $peak2 GFLOP/s, AVX-512 $peak512 GFLOP/s |"
        echo "| loop as a share of the peak | $(awk -v a="$gfs" -v b="$peak512" 'BEGIN {printf "%.0f%%", 100 * a / b}') of AVX-512, $(awk -v a="$gfs" -v b="$peak2" 'BEGIN {printf "%.0f%%", 100 * a / b}') of AVX2 |"
    else
        echo "| FMA peak of all CPUs, measured now | AVX2 $peak2 GFLOP/s (this CPU has no AVX-512) |"
        echo "| loop as a share of the peak | $(awk -v a="$gfs" -v b="$peak2" 'BEGIN {printf "%.0f%%", 100 * a / b}') of AVX2 |"
    fi
    echo "| peak resident memory of train | $(awk -v k="$rss" 'BEGIN {printf "%.1f MB", k / 1024}') |"
    echo "| test accuracy of those runs | $(awk -v a="$acc" 'BEGIN {printf "%.2f%%", 100 * a}') |"
    echo "| \`fmnist train --net cnn --epochs 2\` (the convolutional network), whole process | $cnn s, $(awk -v k="$cnn_rss" 'BEGIN {printf "%.0f MB", k / 1024}'), test $(awk -v a="$cnn_acc" 'BEGIN {printf "%.2f%%", 100 * a}') |"
    echo "| its training loop (2 x 938 steps; 777.2 GFLOP) | $cnn_loop s: $(awk -v g=$cnn_gflop -v s="$cnn_loop" 'BEGIN {printf "%.1f", g / s}') GFLOP/s, $(awk -v g=$cnn_gflop -v s="$cnn_loop" -v p="$peakbest" 'BEGIN {printf "%.0f%%", 100 * g / s / p}') of the $isa peak |"
    echo "| \`fmnist train --preset best\` (40 epochs), whole process | $preset s (test accuracy $(awk -v a="$preset_acc" 'BEGIN {printf "%.2f%%", 100 * a}')) |"
    echo "| \`fmnist train --preset robust\` (the convolutional network, 20 epochs, augmented), whole process | $robust s (test accuracy $(awk -v a="$robust_acc" 'BEGIN {printf "%.2f%%", 100 * a}')) |"
    echo "| \`fmnist eval\`, whole process | $evalt s |"
    echo "| \`fmnist classify\` of one PNG, whole process | $(awk -v s="$one" 'BEGIN {printf "%.1f ms", 1000 * s}') |"
    echo "| $pictures PNGs: $pictures calls / one call / one call with \`--threads $ncpu\` | $calls s / $many s / $manyt s |"
    if [ "$rivals" = 1 ]; then
        ob=$(awk '{print $1}' "$tmp/openblas" | median)
        obm=$(awk '{print $2}' "$tmp/openblas" | median)
        oba=$(awk '{print $3}' "$tmp/openblas" | median)
        tf=$(awk '{print $1}' "$tmp/torch_fast" | median)
        tfm=$(awk '{print $2}' "$tmp/torch_fast" | median)
        tfa=$(awk '{print $3}' "$tmp/torch_fast" | median)
        echo "| C + OpenBLAS sgemm ($ob_threads of $ncpu threads, the faster, bench/rivals/train_openblas.c), whole process | $ob s, $(awk -v k="$obm" 'BEGIN {printf "%.0f MB", k / 1024}'), test $(awk -v a="$oba" 'BEGIN {printf "%.2f%%", 100 * a}'): fmnist is $(awk -v a="$ob" -v b="$wall" 'BEGIN {printf "%.2fx", a / b}') faster |"
        echo "| PyTorch, data pre-loaded (bench/rivals/fast_torch.py), whole process | $tf s, $(awk -v k="$tfm" 'BEGIN {printf "%.0f MB", k / 1024}'), test $(awk -v a="$tfa" 'BEGIN {printf "%.2f%%", 100 * a}'): fmnist is $(awk -v a="$tf" -v b="$wall" 'BEGIN {printf "%.2fx", a / b}') faster |"
        tc=$(awk '{print $1}' "$tmp/torch_cnn" | median)
        tcm=$(awk '{print $2}' "$tmp/torch_cnn" | median)
        tca=$(awk '{print $3}' "$tmp/torch_cnn" | median)
        echo "| PyTorch's convolutional network, 2 epochs, data pre-loaded (bench/rivals/fast_torch_cnn.py), whole process | $tc s, $(awk -v k="$tcm" 'BEGIN {printf "%.0f MB", k / 1024}'), test $(awk -v a="$tca" 'BEGIN {printf "%.2f%%", 100 * a}'): fmnist's is $(awk -v a="$tc" -v b="$cnn" 'BEGIN {printf "%.2fx", a / b}') faster |"
    fi
    if [ "$tutorial" = 1 ]; then
        tt=$(median < "$tmp/torch_tut")
        echo "| PyTorch, the tutorial's script (DataLoader), whole process | $tt s ($(awk -v a="$tt" -v b="$wall" 'BEGIN {printf "%.1fx", a / b}') fmnist's time) |"
    fi
    if [ "$rivals" = 1 ] || [ "$tutorial" = 1 ]; then
        blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo "?")
        echo
        echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__, "with", torch.get_num_threads(), "threads")'), BLAS: $blas."
    fi
    echo
    echo "Where a training step's time goes (\`bench_kernels --step\`: one epoch of the recipe's"
    echo "steps, job by job, the quickest of 3; microseconds per step; a job's threads meet at its end):"
    echo
    cat "$tmp/step"
    echo
    echo "The same for the convolutional network (\`bench_kernels --step-cnn\`: 300 of its steps, batch 64,"
    echo "Adam; the convolutions' jobs take the batch in blocks of 8 images, a run of blocks a thread):"
    echo
    cat "$tmp/step_cnn"
} > "$tmp/table"
cat "$tmp/table"
cp "$tmp/table" "$out"
echo "bench: wrote $out" >&2
