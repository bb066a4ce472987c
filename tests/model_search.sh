#!/bin/sh
# model_search.sh: eval and classify without --model find the model in
# $FMNIST_MODEL (alone when set: naming no file is an error), then ./fmnist.model, then ${XDG_DATA_HOME:-~/.local/share}/
# fmnist/fmnist.model (then the installed one); none: one error listing
# where they looked, status 1.
set -u
top=$(pwd)
bin=${FMNIST_BIN:-./fmnist}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "model_search: $*"; fail=1; }
export FMNIST_DATA="$top/data/sample" HOME="$tmp/home" XDG_DATA_HOME=
unset FMNIST_MODEL
mkdir -p "$tmp/home" "$tmp/work" "$tmp/xdg/fmnist"
pic=$top/tests/fixtures/t1-white10x.png
"$bin" train --epochs 1 --quiet --model "$tmp/m.model" > /dev/null || bad "train failed"
cd "$tmp/work"
"$bin" classify "$pic" > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] || bad "no model: not status 1"
grep -q "no model file found; looked for fmnist.model, $tmp/home/.local/share/fmnist/fmnist.model, " "$tmp/err" ||
    bad "no model: $(cat "$tmp/err")"
FMNIST_MODEL=$tmp/m.model "$bin" classify "$pic" > /dev/null || bad "\$FMNIST_MODEL not used"
# A $FMNIST_MODEL that names nothing is an error, even with ./fmnist.model there.
cp "$tmp/m.model" fmnist.model
FMNIST_MODEL=$tmp/m.modle "$bin" classify "$pic" > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] || bad "a missing \$FMNIST_MODEL: not status 1"
[ "$(cat "$tmp/err")" = "fmnist: $tmp/m.modle: No such file or directory (the model \$FMNIST_MODEL names; unset it to search ./fmnist.model and the rest)" ] ||
    bad "a missing \$FMNIST_MODEL: $(cat "$tmp/err")"
rm fmnist.model
mkdir -p "$tmp/home/.local/share/fmnist" && cp "$tmp/m.model" "$tmp/home/.local/share/fmnist/fmnist.model"
"$bin" eval --json > "$tmp/out" || bad "~/.local/share not used"
grep -q "\"model\":\"$tmp/home/.local/share/fmnist/fmnist.model\"" "$tmp/out" || bad "eval names another model"
cp "$tmp/m.model" "$tmp/xdg/fmnist/fmnist.model"
XDG_DATA_HOME=$tmp/xdg "$bin" eval --json | grep -q "\"model\":\"$tmp/xdg/fmnist/fmnist.model\"" ||
    bad "\$XDG_DATA_HOME not used"
cp "$tmp/m.model" fmnist.model
XDG_DATA_HOME=$tmp/xdg "$bin" eval --json | grep -q '"model":"fmnist.model"' || bad "./fmnist.model is not first"
FMNIST_MODEL=$tmp/m.model "$bin" eval --json | grep -q "\"model\":\"$tmp/m.model\"" ||
    bad "\$FMNIST_MODEL is not first"
"$bin" eval --model "$tmp/m.model" --json | grep -q "\"model\":\"$tmp/m.model\"" || bad "--model"
# -o -: export writes the PNG to standard output, classify - reads it.
"$bin" export --index 4 -o - 2> "$tmp/note" | "$bin" classify --model "$tmp/m.model" - > "$tmp/out" ||
    bad "export -o - | classify - failed"
grep -q '^<stdin>: ' "$tmp/out" || bad "classify - did not classify the exported picture"
grep -q '^<stdout>: test image 4, label 6 (Shirt)$' "$tmp/note" || bad "export -o - note: $(cat "$tmp/note")"
"$bin" export --index 4 -o- > "$tmp/a.png" 2>/dev/null && "$bin" export --index 4 --output "$tmp/b.png" > /dev/null &&
    cmp -s "$tmp/a.png" "$tmp/b.png" || bad "-o- and --output FILE differ"
[ $fail -eq 0 ] && echo "model_search: --model, \$FMNIST_MODEL, ./fmnist.model, XDG data home, in that order: passed"
exit $fail
