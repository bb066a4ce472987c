#!/bin/sh
# deps.sh build|test|data|fuzz|memcheck: checks for what fmnist needs from Debian.
# With DEPS_INSTALL=1 (make deps, and the README's set-up commands make run and
# make check) it installs what is missing when it can (root with apt-get);
# otherwise it prints the one command that would, and fails.
set -u
what=${1:-build}
missing=""
# PKG_CONFIG: the target's pkg-config in a cross build (the Makefile's).
pc=${PKG_CONFIG:-pkg-config}
have_pc() { "$pc" --exists "$1" 2>/dev/null; }
command -v "$pc" >/dev/null 2>&1 || missing="$missing pkg-config"
case $what in
build)
    have_pc libpng || missing="$missing libpng-dev"
    have_pc zlib || missing="$missing zlib1g-dev"
    have_pc libjpeg || missing="$missing libjpeg62-turbo-dev"
    ;;
test)
    have_pc cmocka || missing="$missing libcmocka-dev"
    # tests/docs.sh lints the man page.
    command -v mandoc >/dev/null 2>&1 || missing="$missing mandoc"
    # tests/bench.sh runs make bench's script, which times with GNU time.
    [ -x /usr/bin/time ] || missing="$missing time"
    ;;
fuzz)
    # clang with its libFuzzer runtime ($FUZZ_CC, default clang).
    cc=${FUZZ_CC:-clang}
    if ! command -v "$cc" >/dev/null 2>&1; then
        missing="$missing clang libclang-rt-dev"
    else
        rt=$("$cc" -print-file-name="libclang_rt.fuzzer-$(uname -m).a" 2>/dev/null)
        [ -f "$rt" ] || missing="$missing libclang-rt-dev"
    fi
    ;;
memcheck)
    command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"
    ;;
data)
    d=/usr/share/datasets/fashion-mnist
    [ -n "${FMNIST_DATA:-}" ] && exit 0
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        if [ ! -f "$d/$f.gz" ] && [ ! -f "$d/$f" ] && [ ! -f "data/$f.gz" ] && [ ! -f "data/$f" ]; then
            missing="$missing dataset-fashion-mnist"
            break
        fi
    done
    ;;
esac
[ -z "$missing" ] && exit 0
# A cross pkg-config (aarch64-linux-gnu-pkg-config) looks for the target's
# packages: name them with its Debian architecture (libpng-dev:arm64).
case ${pc##*/} in
*-pkg-config)
    triplet=${pc##*/}
    arch=$(dpkg-architecture -t "${triplet%-pkg-config}" -qDEB_HOST_ARCH 2>/dev/null) &&
        missing=$(for p in $missing; do
            case $p in pkg-config) p=pkgconf ;; esac
            case $p in dataset-*) printf ' %s' "$p" ;; *) printf ' %s:%s' "$p" "$arch" ;; esac
        done)
    ;;
esac
if [ "${DEPS_INSTALL:-}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fmnist: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $missing >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; } || {
        echo "fmnist: could not install$missing with apt-get" >&2
        exit 1
    }
    exit 0
fi
echo "fmnist: missing$missing; install with:" >&2
echo "    sudo apt-get install$missing" >&2
exit 1
