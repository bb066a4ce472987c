#!/bin/sh
# codegen.sh: what the compiler must not drop. The gather asks the caches
# for a batch's images before reading them (mlp.c, prefetch_images); gcc 12
# dropped every one of those requests without a word (it counts a prefetch
# as no effect, finds the function pure and its calls dead), which doubled
# the gather's time. An x86-64 object of mlp.c must hold prefetch
# instructions, at least one for each of the function's two callers (the
# default gcc -O2 build holds 4, clang's more).
set -u
obj=${FMNIST_BUILD:-build}/mlp.o
command -v objdump >/dev/null 2>&1 || { echo "codegen: skipped: no objdump"; exit 77; }
[ -f "$obj" ] || { echo "codegen: $obj: no such object"; exit 1; }
format=$(objdump -f "$obj" 2>&1) || { echo "codegen: objdump cannot read $obj: $format"; exit 1; }
case $format in
*elf64-x86-64*) ;;
*) echo "codegen: skipped: $obj is not an x86-64 object"; exit 77 ;;
esac
dis=$(objdump -d "$obj") || { echo "codegen: objdump cannot disassemble $obj"; exit 1; }
n=$(printf '%s\n' "$dis" | grep -c 'prefetcht')
[ "$n" -ge 2 ] || {
    echo "codegen: $obj: $n prefetch instructions, fewer than 2 (the gather's prefetches were dropped)"
    exit 1
}
echo "codegen: $obj holds $n prefetch instructions"
