#!/bin/sh
# cross_arm64.sh [--quick] [--scan]: the default build on arm64, from an
# x86-64 Debian machine. Builds fmnist with the normal Makefile and Debian's
# cross compiler and arm64 libraries (multiarch) into build-arm64/, runs its
# tests under qemu-aarch64, then trains with one seed on x86-64 (every kernel
# this CPU has, and as an x86-64 without AVX2/FMA would) and on arm64, and
# compares the model files byte for byte: the default recipe, --preset best
# and --preset robust (the convolutional network).
#   --quick  leaves out the slow tests under qemu: test_options, test_cli,
#            test_resume, tests/*.sh and the PyTorch round trip (3 minutes in
#            all on the 2-core machine, against 17 without it)
#   --scan   also compares every libm result training depends on, exhaustively
#            (tools/libm_scan.c; 6 more minutes)
# Missing packages are installed when root (adding the arm64 architecture to
# dpkg); otherwise the commands that would do it are printed.
# Ends with "N passed, N failed"; exit status 0 only when nothing failed.
set -u
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)
quick=0 scan=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --scan) scan=1 ;;
    *) echo "usage: sh tools/cross_arm64.sh [--quick] [--scan]" >&2; exit 2 ;;
    esac
done
case $(uname -m) in
x86_64) ;;
*) echo "cross_arm64: runs on x86-64 (this is $(uname -m))" >&2; exit 2 ;;
esac

# ---- what it needs ----
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
tools="gcc-aarch64-linux-gnu qemu-user"
libs="libpng-dev:arm64 zlib1g-dev:arm64 libjpeg62-turbo-dev:arm64 libcmocka-dev:arm64 pkgconf:arm64"
need_tools="" need_libs="" need_arch=0
for p in $tools; do installed "$p" || need_tools="$need_tools $p"; done
dpkg --print-foreign-architectures | grep -qx arm64 || need_arch=1
for p in $libs; do installed "$p" || need_libs="$need_libs $p"; done
if [ -n "$need_tools$need_libs" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "cross_arm64: missing$need_tools$need_libs; install with:" >&2
        [ $need_arch = 1 ] && echo "    sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
        echo "    sudo apt-get install --no-remove$need_tools$need_libs" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "cross_arm64: installing$need_tools$need_libs" >&2
    if [ -n "$need_tools" ]; then
        apt-get install -y -q --no-remove $need_tools >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q --no-remove $need_tools >/dev/null; } ||
            { echo "cross_arm64: could not install$need_tools" >&2; exit 1; }
    fi
    if [ -n "$need_libs" ]; then
        # --no-remove: an arm64 package must never replace a native one.
        { [ $need_arch = 0 ] || dpkg --add-architecture arm64; } &&
            apt-get update -q >/dev/null &&
            apt-get install -y -q --no-remove $need_libs >/dev/null ||
            echo "cross_arm64: could not install$need_libs (multiarch): compiling only" >&2
    fi
fi
have_libs=1
for p in $libs; do installed "$p" || have_libs=0; done

# ---- build ----
B=build-arm64
XMAKE="make BUILD=$B CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar PKG_CONFIG=aarch64-linux-gnu-pkg-config"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
summary() { echo "$pass passed, $fail failed"; [ $fail = 0 ]; exit $?; }

tests=""
for f in tests/test_*.c; do tests="$tests $B/${f%.c}"; done
if [ $have_libs = 0 ]; then
    # Without arm64 libpng, zlib and cmocka nothing links: compile every
    # library object, which needs only the headers (the same on every CPU).
    objs=""
    for f in src/*.c; do [ "$f" = src/main.c ] || objs="$objs $B/$(basename "${f%.c}").o"; done
    mkdir -p $B && touch $B/.deps
    if $XMAKE PKG_CONFIG=pkg-config $objs >"$log/build" 2>&1 && ! grep -q "warning:" "$log/build"; then
        ok "compiled the library for arm64 without a warning"
    else
        cat "$log/build"
        bad "compile for arm64"
    fi
    bad "nothing linked, tested or compared on arm64: no$need_libs"
    summary
fi
# docs: tests/docs.sh, run below with the arm64 binary, reads the native man page.
make fmnist docs build/tools/libm_scan >"$log/native" 2>&1 || { cat "$log/native"; bad "native build"; summary; }
if $XMAKE $B/fmnist $tests $B/tools/fmnist_predict $B/tools/libm_scan >"$log/build" 2>&1; then
    if grep -q "warning:" "$log/build"; then
        grep "warning:" "$log/build"
        bad "arm64 build has warnings"
    else
        ok "arm64 build in $B/ ($(aarch64-linux-gnu-readelf -h $B/fmnist | sed -n "s/^ *Machine: *//p")), no warnings"
    fi
else
    cat "$log/build"
    bad "arm64 build"
    summary
fi

# ---- tests under qemu ----
# Multiarch's libc6:arm64 puts the arm64 loader where the binaries look for
# it; otherwise the cross compiler's copy, through qemu's prefix.
[ -e /lib/ld-linux-aarch64.so.1 ] || export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
# The CLI tests run $FMNIST_BIN through the shell: a wrapper under qemu.
for b in fmnist tools/fmnist_predict; do
    printf '#!/bin/sh\nexec qemu-aarch64 "%s/%s/%s" "$@"\n' "$top" $B $b >"$log/${b##*/}"
    chmod +x "$log/${b##*/}"
done
xbin=$log/fmnist
for t in $tests; do
    name=${t##*/}
    case $quick:$name in 1:test_options | 1:test_cli | 1:test_resume) continue ;; esac
    s=$(date +%s)
    if FMNIST_BIN=$xbin qemu-aarch64 "$t" >"$log/$name.out" 2>&1; then
        ok "$name under qemu-aarch64 ($(grep -c '^\[       OK' "$log/$name.out") tests, $(($(date +%s) - s)) s)"
    else
        cat "$log/$name.out"
        bad "$name under qemu-aarch64"
    fi
done
if [ $quick = 0 ]; then
    for t in tests/*.sh; do
        # These two test the build's objects and libraries (native ones
        # here: the arm64 build makes no public libraries), not the binary.
        case $t in
        tests/api.sh | tests/codegen.sh)
            echo "SKIPPED: $t (it tests the native build's library and objects, not the arm64 binary)"
            continue
            ;;
        esac
        if FMNIST_BIN=$xbin sh "$t" >"$log/sh.out" 2>&1; then
            ok "$t with the arm64 binary"
        else
            cat "$log/sh.out"
            bad "$t with the arm64 binary"
        fi
    done
    sh tools/check_roundtrip.sh "$xbin" "$log/fmnist_predict" >"$log/rt.out" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
        ok "tools/check_roundtrip.sh with the arm64 binaries: $(tail -n 1 "$log/rt.out")"
    elif [ $rc = 77 ]; then
        echo "SKIPPED: tools/check_roundtrip.sh with the arm64 binaries: $(tail -n 1 "$log/rt.out")"
    else
        cat "$log/rt.out"
        bad "tools/check_roundtrip.sh with the arm64 binaries"
    fi
fi

# ---- the same bits ----
# The reference: x86-64 with the kernel it picks. Then every other way.
m=$log/models
mkdir -p "$m"
check() { # NAME REF COMMAND...: trains with COMMAND, compares with REF's model
    n=$1 r=$2
    shift 2
    if ! "$@" --quiet --model "$m/$n.model" >"$m/$n.out" 2>&1; then
        if grep -q "not supported by this CPU" "$m/$n.out"; then
            echo "#     $n: not on this CPU"
        else
            cat "$m/$n.out"
            bad "$n: training failed"
        fi
    elif [ "$n" = "$r" ]; then
        echo "#     $n: $(sha256sum <"$m/$n.model" | cut -c1-16)"
    elif cmp -s "$m/$n.model" "$m/$r.model"; then
        ok "$n: the same model file as $r"
    else
        bad "$n: model file differs from $r's ($(cmp "$m/$n.model" "$m/$r.model" | head -n 1))"
    fi
}
for recipe in default extended robust; do
    args="--data data/sample --epochs 2 --seed 7"
    [ $recipe = extended ] && args="$args --preset best --val 500 --warmup 1"
    # the convolutional network, its pooling kernels and the augmentation
    [ $recipe = robust ] && args="$args --preset robust --val 500"
    echo "# fmnist train $args"
    r=x86-$recipe
    check "$r" "$r" ./fmnist train $args
    [ -f "$m/$r.model" ] || continue
    for k in avx512 avx2 generic ref; do
        check "x86-$recipe-$k" "$r" env FMNIST_KERNEL=$k ./fmnist train $args
    done
    # An x86-64 without AVX2/FMA: the portable kernels, and glibc's libm
    # without the FMA versions it otherwise picks at run time.
    check "x86-nofma-$recipe" "$r" env GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA \
        FMNIST_KERNEL=generic ./fmnist train $args
    check "arm64-$recipe" "$r" qemu-aarch64 $B/fmnist train $args
    if [ $recipe = default ]; then
        check "arm64-$recipe-ref" "$r" env FMNIST_KERNEL=ref qemu-aarch64 $B/fmnist train $args
        check "arm64-$recipe-1thread" "$r" qemu-aarch64 $B/fmnist train $args --threads 1
    fi
done

# ---- libm, exhaustively ----
if [ $scan = 1 ]; then
    echo "# libm_scan hash: x86-64, x86-64 without glibc's FMA versions, arm64"
    if ! { ./build/tools/libm_scan hash >"$log/s-x86" &&
        GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA ./build/tools/libm_scan hash >"$log/s-nofma" &&
        qemu-aarch64 $B/tools/libm_scan hash >"$log/s-arm64"; }; then
        bad "libm_scan failed"
    fi
    for what in kernel_expf logf adam cosine expf; do
        a=$(grep "^$what " "$log/s-x86" | md5sum) b=$(grep "^$what " "$log/s-nofma" | md5sum)
        c=$(grep "^$what " "$log/s-arm64" | md5sum)
        if [ "$a" = "$b" ] && [ "$a" = "$c" ]; then
            ok "libm scan: $what gives the same bits on all three"
        elif [ $what = expf ]; then
            # libm's own expf is not what training calls: reported, not failed.
            echo "#     libm's expf differs between x86-64 and arm64 in $(diff "$log/s-x86" "$log/s-arm64" | grep -c '^< expf ') of its 2048 blocks of 2^20 inputs: why training calls kernel_expf"
        else
            bad "libm scan: $what differs between machines"
        fi
    done
fi
summary
