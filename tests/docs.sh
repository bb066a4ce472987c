#!/bin/sh
# docs.sh: the option table reaches every place it is shown: each option of
# each command (tools/gen_docs list) is in that command's --help, in the man
# page, and in the bash and zsh completions; the man page passes mandoc's
# lint (or groff -ww); the bash completion completes commands, options and
# values; help COMMAND, -h and --version work in every command; make install
# and make uninstall into a DESTDIR install and remove exactly the files.
set -u
bin=${FMNIST_BIN:-./fmnist}
build=${FMNIST_BUILD:-build}
mkbuild=$build
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
doc=$build/doc
gen=$build/tools/gen_docs
fail=0 n=0
bad() { echo "docs: $*"; fail=1; }
for f in "$doc/fmnist.1" "$doc/fmnist.bash" "$doc/_fmnist" "$gen"; do
    [ -e "$f" ] || { echo "docs: $f is missing (make docs)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" list > "$tmp/list"
for c in train eval classify export convert; do
    "$bin" "$c" --help > "$tmp/help-$c" || bad "$c --help failed"
done
while read -r cmd opt short; do
    n=$((n + 1))
    grep -q -- "$opt" "$tmp/help-$cmd" || bad "$cmd --help does not show $opt"
    [ -z "$short" ] || grep -q -- "$short," "$tmp/help-$cmd" || bad "$cmd --help does not show $short"
    roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
    grep -q -- "$roff" "$doc/fmnist.1" || bad "the man page does not show $opt"
    grep -q "^        $cmd) local opts=.*$opt " "$doc/fmnist.bash" || bad "bash: $cmd lacks $opt"
    awk -v c="    $cmd)" '$0 == c {on = 1; next} /^    [a-z]+\)/ {on = 0} on' "$doc/_fmnist" |
        grep -q -- "'$opt\[" || bad "zsh: $cmd lacks $opt"
done < "$tmp/list"
[ "$n" -ge 40 ] || bad "only $n options listed"
# zsh: each option's description in _arguments is its whole help text, as
# --help shows it (without the default): ':', ']', '[', '\\' and quotes
# escaped, or _arguments cuts it (and splits the spec) there.
while read -r cmd opt short; do
    h=$(awk -v o="$opt" '
        on && /^       +[^ ]/ { sub(/^ +/, ""); t = t " " $0; next }
        on { exit }
        { l = $0; sub(/^ +(-[a-zA-Z], )?/, "", l) }
        /^ / && substr(l, 1, length(o) + 1) == o " " {
            l = substr(l, length(o) + 1); if (l ~ /^ [^ ]+( |$)/) sub(/^ [^ ]+/, "", l)
            sub(/^ +/, "", l); t = l; on = 1 }
        END { gsub(/  +/, " ", t); sub(/^ /, "", t); print t }' "$tmp/help-$cmd")
    for o in "$opt" $short; do
        z=$(awk -v c="    $cmd)" '$0 == c {on = 1; next} /^    [a-z]+\)/ {on = 0} on' "$doc/_fmnist" |
            sed -n "s/^        '$o\[\(\([^]\\\\]\|\\\\.\)*\)\]\(:\|'\).*/\1/p" |
            sed "s/'\\\\''/'/g; s/\\\\\(.\)/\1/g")
        # (--help breaks a word too long for a line after its commas, and
        # the lines are joined here with spaces: compared without them.)
        case $(printf '%s' "$h" | sed 's/, /,/g') in
            "$(printf '%s' "$z" | sed 's/, /,/g')"|"$(printf '%s' "$z" | sed 's/, /,/g') (default "*) ;;
            *) bad "zsh: $cmd $o: '$z' is not --help's '$h'" ;;
        esac
    done
done < "$tmp/list"
if command -v zsh > /dev/null 2>&1; then
    zsh -n "$doc/_fmnist" || bad "zsh -n $doc/_fmnist"
else
    echo "docs: skipped: zsh -n on the zsh completion (no zsh)"
fi
# The man page is well formed: mandoc's lint, and no warning from groff as
# a terminal shows it (man -l: 80 and 60 columns).
linted=0
if command -v mandoc >/dev/null 2>&1; then
    linted=1
    mandoc -T lint "$doc/fmnist.1" > "$tmp/lint" 2>&1 || { cat "$tmp/lint"; bad "mandoc -T lint"; }
fi
if command -v groff >/dev/null 2>&1; then
    linted=1
    groff -ww -z -Tutf8 -man "$doc/fmnist.1" > "$tmp/lint" 2>&1
    [ -s "$tmp/lint" ] && { cat "$tmp/lint"; bad "groff -ww warns"; }
    if command -v man >/dev/null 2>&1; then
        for w in 80 60; do
            MANWIDTH=$w man -l "$doc/fmnist.1" 2>&1 > /dev/null | grep . > "$tmp/lint"
            [ -s "$tmp/lint" ] && { cat "$tmp/lint"; bad "man -l warns at $w columns"; }
        done
    fi
fi
[ $linted = 1 ] || echo "docs: skipped: the man page lint (needs mandoc or groff)"
# Every variable fmnist reads is in ENVIRONMENT (but the tests' hook,
# FMNIST_STOP_AFTER_STEP), and FILES names the models searched.
sed -n '/^\.SH ENVIRONMENT$/,/^\.SH /p' "$doc/fmnist.1" > "$tmp/env"
for v in $(grep -oh 'getenv("[A-Za-z_]*")' src/*.c | sed 's/getenv("\(.*\)")/\1/' | sort -u); do
    [ "$v" = FMNIST_STOP_AFTER_STEP ] || grep -qx "\.B $v" "$tmp/env" || bad "the man page's ENVIRONMENT lacks $v"
done
sed -n '/^\.SH FILES$/,/^\.SH /p' "$doc/fmnist.1" | sed 's/\\[%:]//g; s/\\-/-/g' > "$tmp/files-sec"
for f in fmnist.model '${XDG_DATA_HOME:-~/.local/share}/fmnist/fmnist.model' PREFIX/share/fmnist/fmnist.model; do
    grep -qxF ".I $f" "$tmp/files-sec" || bad "the man page's FILES lacks $f"
done
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
    grep -q "^\.SH $s\$" "$doc/fmnist.1" || grep -q "^\.SH \"$s\"\$" "$doc/fmnist.1" || bad "the man page has no $s"
done
# The bash completion, driven as bash drives it.
complete_words() { # words... ; the last is the one being completed
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _fmnist; printf "%s\n" "${COMPREPLY[@]}"' \
        sh "$doc/fmnist.bash" "$@"
}
complete_words fmnist cl | grep -qx classify || bad "bash: 'fmnist cl' does not complete to classify"
complete_words fmnist train --sch | grep -qx -- --schedule || bad "bash: --sch does not complete"
[ "$(complete_words fmnist train --schedule c | sort | tr '\n' ' ')" = "const cosine " ] ||
    bad "bash: --schedule c does not complete to const cosine"
complete_words fmnist classify --invert '' | grep -qx auto || bad "bash: --invert values"
complete_words fmnist export --split t | grep -qx train || bad "bash: --split values"
complete_words fmnist train --preset r | grep -qx robust || bad "bash: --preset values"
complete_words fmnist train --keep b | grep -qx best || bad "bash: --keep values"
(cd "$tmp" && touch model-a.model && complete_words fmnist eval --model model-) | grep -qx model-a.model ||
    bad "bash: --model does not complete files"
complete_words fmnist eval --ep | grep -q -- --epochs && bad "bash: eval completes train's --epochs"
# Names with spaces: one completion each, and -o filenames (bash then quotes
# what it inserts and marks folders with '/'; compopt, which works only
# while bash completes, is recorded here).
complete_names() { # as complete_words, and a last line "filenames" if compopt -o filenames ran
    bash -c 'F=$1; compopt() { [ "$1 $2" != "-o filenames" ] || echo filenames > "$F"; }; . "$2"; shift 2
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _fmnist
        [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort; cat "$F" 2> /dev/null' \
        sh "$tmp/compopt" "$doc/fmnist.bash" "$@"
}
mkdir "$tmp/names" && (cd "$tmp/names" && touch "my shirt.png" other.png 'x[1].png' x1.png &&
    mkdir "dir one")
names() { # expected, then the words
    want=$1; shift
    got=$(cd "$tmp/names" && complete_names "$@" | tr '\n' '|'); rm -f "$tmp/compopt"
    [ "$got" = "$want" ] || bad "bash: '$*' completes to '$got', not '$want'"
}
names "my shirt.png|filenames|" fmnist classify my
names "my shirt.png|filenames|" fmnist classify 'my\ s'
names "my shirt.png|filenames|" fmnist classify '"my s'
names "my shirt.png|filenames|" fmnist classify "'my s"
names "dir one|filenames|" fmnist train --data dir
names "my shirt.png|filenames|" fmnist eval --model my
# A command that takes no operands offers its options, not files, for an empty word.
got=$(cd "$tmp/names" && complete_words fmnist train '' | tr '\n' ' ')
case $got in *--epochs*) ;; *) bad "bash: 'fmnist train ' does not offer --epochs: $got" ;; esac
case $got in *other.png*) bad "bash: 'fmnist train ' offers files: $got" ;; esac
(cd "$tmp/names" && complete_words fmnist classify '') | grep -qx other.png ||
    bad "bash: 'fmnist classify ' does not offer the pictures"
[ -z "$(cd "$tmp/names" && complete_words fmnist train -- '')" ] ||
    bad "bash: 'fmnist train -- ' offers something"
(cd "$tmp/names" && complete_words fmnist classify -- '') | grep -qx other.png ||
    bad "bash: 'fmnist classify -- ' does not offer the pictures"
grep -q "^    help) compadd -- train eval classify export convert ;;$" "$doc/_fmnist" ||
    bad "zsh: 'fmnist help' does not complete every command"
# Names are not globbed on their way into COMPREPLY: x[1].png stays itself.
names "x1.png|x[1].png|filenames|" fmnist classify x
# After "--", files only, never options.
names "filenames|" fmnist classify -- --
names "dir one|my shirt.png|other.png|x1.png|x[1].png|filenames|" fmnist classify -- x.png ''
names "--model|" fmnist classify --mo
# help, -h and --version everywhere.
for c in train eval classify export convert; do
    "$bin" help "$c" > "$tmp/h1" && cmp -s "$tmp/h1" "$tmp/help-$c" || bad "help $c differs from $c --help"
    "$bin" "$c" -h > "$tmp/h2" && cmp -s "$tmp/h2" "$tmp/help-$c" || bad "$c -h differs from $c --help"
    "$bin" "$c" --version | grep -q "^fmnist " || bad "$c --version"
done
"$bin" train --epoch 3 2> "$tmp/err"; [ $? -eq 2 ] || bad "a misspelt option is not a usage error"
grep -q "did you mean --epochs?" "$tmp/err" || bad "no suggestion for --epoch: $(cat "$tmp/err")"
# make install / make uninstall into a DESTDIR (with a space: every path
# is quoted; nothing is made elsewhere, in the source tree either).
dest="$tmp/dest dir"
find . -maxdepth 1 -type d | sort > "$tmp/top-before"
# A model of the user's own where make install would put one: make install
# without a model (MODEL names no file) must not list it, uninstall must
# leave it.
mkdir -p "$dest/usr/share/fmnist" && echo mine > "$dest/usr/share/fmnist/fmnist.model"
if make -s install BUILD="$mkbuild" DESTDIR="$dest" PREFIX=/usr MODEL="$tmp/none.model" > "$tmp/install.log" 2>&1; then
    (cd "$dest" && find . ! -type d | sort) > "$tmp/files"
    printf '%s\n' ./usr/bin/fmnist ./usr/share/bash-completion/completions/fmnist \
        ./usr/share/doc/fmnist/LICENSE ./usr/share/doc/fmnist/README.md \
        ./usr/share/man/man1/fmnist.1 ./usr/share/zsh/vendor-completions/_fmnist \
        ./usr/include/fmnist.h ./usr/lib/libfmnist.a ./usr/lib/libfmnist.so.0 \
        ./usr/lib/libfmnist.so ./usr/lib/pkgconfig/fmnist.pc \
        ./usr/share/doc/fmnist/examples/classify.c > "$tmp/want"
    for f in docs/*.md bench/rivals/fast_torch.py bench/rivals/fast_torch_cnn.py bench/rivals/train_openblas.c; do echo "./usr/share/doc/fmnist/$f"; done >> "$tmp/want"
    # The libraries are not made in a sanitizer build.
    if [ ! -f "$build/public/libfmnist.a" ]; then
        grep -v '^./usr/lib\|^./usr/include' "$tmp/want" > "$tmp/want2"; mv "$tmp/want2" "$tmp/want"
    fi
    # The manifest lists exactly what was installed (not the user's model).
    sed 's|^/|./|' "$dest/usr/share/fmnist/install_manifest.txt" | sort > "$tmp/manifest"
    sort -o "$tmp/want" "$tmp/want"
    cmp -s "$tmp/manifest" "$tmp/want" || { diff "$tmp/want" "$tmp/manifest"; bad "make install's manifest"; }
    printf '%s\n' ./usr/share/fmnist/fmnist.model ./usr/share/fmnist/install_manifest.txt >> "$tmp/want"
    sort -o "$tmp/want" "$tmp/want"
    cmp -s "$tmp/files" "$tmp/want" || { diff "$tmp/want" "$tmp/files"; bad "make install's files"; }
    "$dest/usr/bin/fmnist" --version | grep -q "^fmnist " || bad "the installed fmnist does not run"
    # The installed docs' links to files resolve.
    for f in "$dest/usr/share/doc/fmnist/README.md" "$dest/usr/share/doc/fmnist/docs/"*.md; do
        for l in $(grep -o '](\([^#):]*\)[#)]' "$f" | sed 's/^](//; s/.$//'); do
            [ -e "$(dirname "$f")/$l" ] || bad "the installed ${f##*/fmnist/} links to $l, not installed"
        done
    done
    make -s uninstall BUILD="$mkbuild" DESTDIR="$dest" PREFIX=/usr > /dev/null 2>&1 || bad "make uninstall failed"
    left=$(cd "$dest" && find . ! -type d)
    [ "$left" = ./usr/share/fmnist/fmnist.model ] || bad "make uninstall left (or removed the user's model): $left"
    [ ! -d "$dest/usr/share/doc/fmnist" ] || bad "make uninstall left the empty /usr/share/doc/fmnist"
    [ -d "$dest/usr/bin" ] || bad "make uninstall removed the shared /usr/bin"
    # Again: nothing to do, nothing said, status 0.
    # (MAKEFLAGS emptied: under make -j check, a jobserver warning.)
    MAKEFLAGS= make --no-print-directory uninstall BUILD="$mkbuild" DESTDIR="$dest" PREFIX=/usr > "$tmp/un2.log" 2>&1 || bad "a second make uninstall failed"
    [ ! -s "$tmp/un2.log" ] || bad "a second make uninstall says: $(cat "$tmp/un2.log")"
    [ -f "$dest/usr/share/fmnist/fmnist.model" ] || bad "a second make uninstall removed the user's model"
else
    cat "$tmp/install.log"
    bad "make install failed"
fi
# make install with another PREFIX than the build's (no DESTDIR): the
# installed fmnist finds the installed model from any folder.
top=$(pwd)
prefix="$tmp/pre fix"
"$bin" train --epochs 1 --data data/sample --quiet --model "$tmp/m.model" > /dev/null || bad "train failed"
# ./fmnist stays as it was built: make install for another DATADIR links
# a copy of its own (build/fmnist-install).
bin_sum=$(cksum < "$bin")
if make -s install BUILD="$mkbuild" PREFIX="$prefix" MODEL="$tmp/m.model" > "$tmp/install2.log" 2>&1; then
    [ "$(cksum < "$bin")" = "$bin_sum" ] || bad "make install PREFIX=... rebuilt $bin"
    [ -f "$prefix/share/fmnist/fmnist.model" ] || bad "make install MODEL=... did not install the model"
    # fmnist.pc escapes the spaces, as pkg-config reads and prints them.
    if command -v pkg-config > /dev/null 2>&1; then
        flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags fmnist)
        eval "set -- $flags"
        [ "$1" = "-I$prefix/include" ] || bad "fmnist.pc with a space: --cflags $flags"
    fi
    mkdir -p "$tmp/empty" "$tmp/home"
    (cd "$tmp/empty" && env -u FMNIST_MODEL -u XDG_DATA_HOME HOME="$tmp/home" \
        "$prefix/bin/fmnist" classify "$top/tests/fixtures/t1-white10x.png") > "$tmp/out" 2>&1 ||
        bad "make install PREFIX=...: the installed fmnist does not find its model: $(cat "$tmp/out")"
    make -s uninstall BUILD="$mkbuild" PREFIX="$prefix" > /dev/null 2>&1 || bad "make uninstall PREFIX=... failed"
    left=$(cd "$prefix" && find . ! -type d)
    [ -z "$left" ] || bad "make uninstall PREFIX=... left: $left"
    for d in share/fmnist share/doc/fmnist; do
        [ ! -d "$prefix/$d" ] || bad "make uninstall left the empty $d"
    done
else
    cat "$tmp/install2.log"
    bad "make install PREFIX=... failed"
fi
find . -maxdepth 1 -type d | sort > "$tmp/top-after"
cmp -s "$tmp/top-before" "$tmp/top-after" ||
    bad "make install/uninstall made in the source tree: $(diff "$tmp/top-before" "$tmp/top-after")"
for d in "$tmp/dest" "$tmp/pre"; do
    [ ! -e "$d" ] || bad "make install made $d (a path split at its space)"
done
[ $fail -eq 0 ] && echo "docs: $n options of 5 commands in --help, the man page and both completions; install, uninstall: passed"
exit $fail
