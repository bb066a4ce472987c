#!/bin/sh
# codegen.sh: what the compiler must not drop. The gather asks the caches
# for a batch's images before reading them (mlp.c, prefetch_images); gcc 12
# once dropped every one of those requests without a word (it counts a
# prefetch as no effect), which doubled the gather's time. On x86-64, the
# object must hold prefetch instructions.
set -u
obj=${FMNIST_BUILD:-build}/mlp.o
case $(uname -m) in
x86_64) ;;
*) echo "codegen: skipped: prefetch instructions checked on x86-64 only"; exit 77 ;;
esac
command -v objdump >/dev/null 2>&1 || { echo "codegen: skipped: no objdump"; exit 77; }
[ -f "$obj" ] || { echo "codegen: $obj: no such object"; exit 1; }
n=$(objdump -d "$obj" | grep -c 'prefetcht')
[ "$n" -gt 0 ] || { echo "codegen: $obj: no prefetch instruction (the gather's prefetches were dropped)"; exit 1; }
echo "codegen: $obj holds $n prefetch instructions"
