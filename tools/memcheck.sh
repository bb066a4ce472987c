#!/bin/sh
# memcheck.sh [FMNIST]: runs the fmnist binary (default ./fmnist, the plain
# build: valgrind and ASan do not mix) under valgrind's memcheck:
#   train 1 epoch on 300 images of data/sample (2 threads), eval, export,
#   classify (PNGs, and JPEGs: turned by EXIF, progressive, CMYK), convert
#   (to ONNX, to safetensors, from safetensors; the MLP and the convolutional
#   network),
#   train the convolutional network on 100 images, classify with it,
# then six failing runs (a truncated PNG, a truncated JPEG, a damaged model
# file, truncated safetensors files of both networks, a truncated data set),
# because error paths are where leaks hide.
# Every run must report no memory error and no leak of any kind (definite,
# indirect, possible or still reachable); the failing runs must also exit
# with fmnist's status 1. valgrind's own error status is 99, so it is never
# mistaken for that. Takes about two minutes: valgrind runs one thread at a
# time and the pool's threads spin while they wait.
set -u
cd "$(dirname "$0")/.."
bin=${1:-./fmnist}
sh tools/deps.sh memcheck || exit 1
[ -x "$bin" ] || { echo "memcheck: $bin not built (make)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/fmnist-memcheck-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
failed=0
n=0

# vg EXPECTED_STATUS NAME ARGS...: one fmnist run under memcheck.
vg() {
    want=$1 name=$2
    shift 2
    n=$((n + 1))
    log=$T/vg-$n.log
    start=$(date +%s)
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all \
        --errors-for-leak-kinds=all --error-exitcode=99 --track-origins=yes \
        --log-file="$log" "$bin" "$@" >"$T/out-$n" 2>"$T/err-$n"
    st=$?
    secs=$(($(date +%s) - start))
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
    inuse=$(sed -n 's/.*in use at exit: \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ "$st" -eq "$want" ] && [ "${errors:-x}" = 0 ]; then
        echo "memcheck: $name: ok, exit $st, 0 errors, in use at exit: ${inuse:-?} (${secs} s)"
    else
        failed=$((failed + 1))
        echo "memcheck: $name: FAILED: exit $st (expected $want), ${errors:-?} errors"
        echo "---- fmnist stderr"
        cat "$T/err-$n"
        echo "---- valgrind"
        cat "$log"
    fi
}

# idx_head FILE COUNT ITEM_BYTES DIM_BYTES: the IDX file (gzipped) cut to its
# first COUNT items, its count rewritten, raw.
idx_head() {
    gunzip -c "$1" >"$T/idx.tmp"
    head -c 4 "$T/idx.tmp"
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' 0 0 $(($2 / 256)) $(($2 % 256)))"
    tail -c +9 "$T/idx.tmp" | head -c $(($4 + $2 * $3))
}
# small_set DIR TRAIN TEST [gzip]: the sample's first TRAIN training and
# TEST test images as a data set in DIR (gzipped with "gzip").
small_set() {
    dir=$1 zip=${4:-}
    mkdir "$dir"
    for f in "train-images-idx3-ubyte $2 784 8" "train-labels-idx1-ubyte $2 1 0" \
        "t10k-images-idx3-ubyte $3 784 8" "t10k-labels-idx1-ubyte $3 1 0"; do
        set -- $f
        idx_head "data/sample/$1.gz" "$2" "$3" "$4" >"$dir/$1"
        [ "$zip" != gzip ] || gzip -1 "$dir/$1"
    done
}
# A quarter of the sample, gzipped: every path of an epoch (inflate, a last
# partial batch, the evaluation), at a tenth of valgrind's time for the
# whole sample (108 s).
small_set "$T/mlp" 300 100 gzip
vg 0 "train --epochs 1 (300 gzipped images, 2 threads)" \
    train --epochs 1 --data "$T/mlp" --model "$T/x.model" --threads 2 --quiet
vg 0 "eval (100 gzipped images, 2 threads)" eval --data "$T/mlp" --model "$T/x.model" --threads 2
vg 0 "export" export --data data/sample --index 0 -o "$T/item.png"
vg 0 "classify (the exported image, a colour picture)" \
    classify --model "$T/x.model" --threads 2 "$T/item.png" \
    tests/fuzz/corpus/fuzz_png/rgb8-20x14-light-bg.png
vg 0 "classify (JPEGs: EXIF orientation 6, progressive, CMYK)" \
    classify --model "$T/x.model" tests/fixtures/t1-portrait.jpg \
    tests/fixtures/jpeg-progressive.jpg tests/fixtures/jpeg-cmyk.jpg
vg 0 "convert to ONNX" convert --model "$T/x.model" -o "$T/x.onnx"
vg 0 "convert to safetensors" convert --model "$T/x.model" -o "$T/x.safetensors"
vg 0 "convert from safetensors" convert --model "$T/x.safetensors" -o "$T/z.model"
# The convolutional network's epoch takes minutes under valgrind: its model
# is trained outside it, and under it a data set of the sample's first 120
# training and 20 test images (IDX files cut, their counts rewritten), 100
# of them trained on (20 held out) with each option of its step on, the
# last batch a partial block of 8.
small_set "$T/small" 120 20
vg 0 "train --net cnn (100 images, 2 threads, every option of its step)" \
    train --net cnn --epochs 1 --data "$T/small" --val 20 --batch-size 36 --threads 2 \
    --augment default --dropout 0.2 --ema 0.9 --model "$T/c1.model" --quiet
"$bin" train --net cnn --epochs 1 --data data/sample --model "$T/c.model" --quiet >/dev/null ||
    { echo "memcheck: train --net cnn failed"; exit 1; }
vg 0 "classify with the CNN (2 threads)" \
    classify --model "$T/c.model" --threads 2 "$T/item.png" tests/fixtures/t1-portrait.jpg
vg 0 "convert the CNN to ONNX" convert --model "$T/c.model" -o "$T/c.onnx"
vg 0 "convert the CNN to safetensors" convert --model "$T/c.model" -o "$T/c.safetensors"
vg 0 "convert the CNN from safetensors" convert --model "$T/c.safetensors" -o "$T/d.model"

# The failing runs.
head -c 100 "$T/item.png" >"$T/cut.png"
vg 1 "classify of a truncated PNG" classify --model "$T/x.model" "$T/cut.png"
head -c 3000 tests/fixtures/t1-portrait.jpg >"$T/cut.jpg"
vg 1 "classify of a truncated JPEG" classify --model "$T/x.model" "$T/cut.jpg"
cp "$T/x.model" "$T/bad.model"
printf 'X' | dd of="$T/bad.model" bs=1 seek=5000 conv=notrunc 2>/dev/null
vg 1 "eval of a damaged model" eval --data data/sample --model "$T/bad.model"
mkdir "$T/data"
cp data/sample/t10k-* "$T/data/"
head -c 300000 data/sample/train-images-idx3-ubyte.gz >"$T/data/train-images-idx3-ubyte.gz"
cp data/sample/train-labels-idx1-ubyte.gz "$T/data/"
head -c 971000 "$T/x.safetensors" >"$T/cut.safetensors"
vg 1 "convert of a truncated safetensors file" convert --model "$T/cut.safetensors" -o "$T/w.onnx"
head -c 423000 "$T/c.safetensors" >"$T/cutc.safetensors"
vg 1 "convert of a truncated safetensors file of the CNN" \
    convert --model "$T/cutc.safetensors" -o "$T/w.onnx"
vg 1 "train on a truncated data set" train --epochs 1 --data "$T/data" --model "$T/y.model"

if [ $failed -ne 0 ]; then
    echo "memcheck: $failed of $n runs failed"
    exit 1
fi
echo "memcheck: all $n runs clean"
