#!/bin/sh
# api.sh: libfmnist from outside: the public static library's only global
# symbols and the shared library's only exports are fmnist_* (nm); make
# install into a scratch DESTDIR installs fmnist.h, both libraries and
# fmnist.pc; examples/classify.c builds against that copy with
# pkg-config --cflags --libs fmnist, runs, and classifies as the CLI does.
set -u
top=$(pwd)
bin=${FMNIST_BIN:-./fmnist}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
build=${FMNIST_BUILD:-build}
fail=0
bad() { echo "api: $*"; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A sanitizer build's libraries need the sanitizer's runtime in whatever
# links them: make check SAN=1 does not make them, but make install (as
# tests/docs.sh runs it) does, so the build's kind is asked, not the files.
[ "${FMNIST_SAN:-}" != 1 ] ||
    { echo "api: skipped: a SAN=1 build (its libraries need the sanitizer's runtime)"; exit 77; }
[ -f "$build/public/libfmnist.so.0" ] && [ -f "$build/public/libfmnist.a" ] ||
    { echo "api: skipped: no public libraries in $build (make libs makes them)"; exit 77; }
for t in nm pkg-config; do
    command -v $t >/dev/null 2>&1 || { echo "api: skipped: no $t"; exit 77; }
done
leak=$(nm -g --defined-only "$build/public/libfmnist.a" | awk 'NF == 3 && $3 !~ /^fmnist_/ {print $3}')
[ -z "$leak" ] || bad "libfmnist.a exports more than fmnist_*: $(echo $leak | head -c 300)"
leak=$(nm -D --defined-only "$build/public/libfmnist.so.0" | awk '$3 !~ /^(fmnist_|FMNIST_0)/ {print $3}')
[ -z "$leak" ] || bad "libfmnist.so.0 exports more than fmnist_*: $(echo $leak | head -c 300)"
n=$(nm -D --defined-only "$build/public/libfmnist.so.0" | grep -c ' T fmnist_')
[ "$n" -eq "$(grep -c '^FMNIST_API ' include/fmnist.h)" ] || bad "$n functions exported, fmnist.h declares $(grep -c '^FMNIST_API ' include/fmnist.h)"
dest=$tmp/dest
make -s install BUILD="$build" DESTDIR="$dest" PREFIX=/usr > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; bad "make install failed"; }
for f in usr/include/fmnist.h usr/lib/libfmnist.a usr/lib/libfmnist.so.0 usr/lib/libfmnist.so usr/lib/pkgconfig/fmnist.pc; do
    [ -e "$dest/$f" ] || bad "make install did not install /$f"
done
# The example, built against the installed copy only (not the source tree).
export PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$(pkg-config --cflags --libs fmnist) || bad "pkg-config does not know fmnist"
cc -std=c11 -Wall -Wextra -Wpedantic -Werror examples/classify.c $flags -o "$tmp/classify" 2> "$tmp/cc.log" ||
    { cat "$tmp/cc.log"; bad "examples/classify.c does not build with pkg-config"; }
FMNIST_DATA=$top/data/sample "$bin" train --epochs 1 --quiet --model "$tmp/m.model" > /dev/null || bad "train"
pic=tests/fixtures/t1-white10x.png
want=$("$bin" classify --model "$tmp/m.model" "$pic")
got=$(FMNIST_MODEL=$tmp/m.model LD_LIBRARY_PATH="$dest/usr/lib" "$tmp/classify" "$pic") || bad "the example failed"
[ "$got" = "$want" ] || bad "the example says '$got', the CLI '$want'"
LD_LIBRARY_PATH="$dest/usr/lib" ldd "$tmp/classify" 2>/dev/null | grep -q "$dest/usr/lib/libfmnist.so.0" || bad "the example is not linked to the installed libfmnist.so.0"
# And statically, from the public archive.
cc -std=c11 examples/classify.c -I"$dest/usr/include" "$dest/usr/lib/libfmnist.a" \
    $(pkg-config --libs --static libpng zlib libjpeg 2>/dev/null || echo -lpng -lz -ljpeg) -lm -pthread \
    -o "$tmp/classify-static" 2> "$tmp/cc2.log" || { cat "$tmp/cc2.log"; bad "static link failed"; }
got=$(FMNIST_MODEL=$tmp/m.model "$tmp/classify-static" "$pic") || bad "the static example failed"
[ "$got" = "$want" ] || bad "the static example says '$got'"
make -s uninstall BUILD="$build" DESTDIR="$dest" PREFIX=/usr > /dev/null 2>&1
left=$(cd "$dest" && find . -type f)
[ -z "$left" ] || bad "make uninstall left: $left"
[ $fail -eq 0 ] && echo "api: only fmnist_* exported ($n functions, static and shared); installed, built with pkg-config, agrees with the CLI"
exit $fail
