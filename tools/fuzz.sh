#!/bin/sh
# fuzz.sh SECONDS HARNESS...: runs libFuzzer harnesses built by `make fuzz`
# (build-fuzz/fuzz_NAME), each for SECONDS, one after the other, each one
# process and one thread (libFuzzer's default; no -jobs, no -fork).
#
# Each harness starts from its committed seeds (tests/fuzz/corpus/NAME), its
# regression inputs (tests/fuzz/regress/NAME) and what earlier runs found
# (build-fuzz/corpus/NAME, the only directory written to). A crash, hang,
# leak or excess memory use is written to build-fuzz/artifacts/NAME/ and
# fails the run; the log is build-fuzz/NAME.log.
set -u
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz.sh SECONDS HARNESS...}
shift
status=0
for h in "$@"; do
    case $h in
    fuzz_idx | fuzz_inflate | fuzz_png | fuzz_jpeg) max_len=1048576 ;;
    # A checkpoint of fmnist's own network (model plus Adam state) is 2.9 MB.
    fuzz_model) max_len=3145728 ;;
    fuzz_cli) max_len=4096 ;;
    # The JSON header; the harness frames it with either network's data itself.
    fuzz_safetensors) max_len=8192 ;;
    *) echo "fuzz.sh: unknown harness $h" >&2; exit 2 ;;
    esac
    work=build-fuzz/corpus/$h
    art=build-fuzz/artifacts/$h
    log=build-fuzz/$h.log
    mkdir -p "$work" "$art"
    # The arguments, in "$@" (the loop's list was expanded already).
    set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="$art/"
    [ -f "tests/fuzz/$h.dict" ] && set -- "$@" -dict="tests/fuzz/$h.dict"
    set -- "$@" "$work" "tests/fuzz/corpus/$h"
    [ -d "tests/fuzz/regress/$h" ] && set -- "$@" "tests/fuzz/regress/$h"
    echo "== $h: $secs s (log $log)"
    "build-fuzz/$h" "$@" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    units=$(ls "$work" | wc -l)
    if [ $rc -eq 0 ]; then
        echo "$h: ${runs:-?} executions in $secs s, $cov, $units inputs in $work; nothing found"
    else
        status=1
        tail -n 60 "$log"
        echo "$h: FOUND A PROBLEM after ${runs:-?} executions (exit $rc); inputs:"
        ls -1 "$art" | sed "s|^|    $art/|"
        echo "    reproduce: build-fuzz/$h INPUT    (or build/tests/replay_$h INPUT)"
        echo "    once fixed, copy the input to tests/fuzz/regress/$h/ so make check replays it"
    fi
done
exit $status
