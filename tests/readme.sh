#!/bin/sh
# readme.sh: runs every command the README and docs/ show (the indented
# "$ ./fmnist ..." lines) exactly as written, in order (README.md first, then
# docs/*.md by name), in one scratch directory, on the
# committed sample data ($FMNIST_DATA), and checks each exits 0 and prints
# what the README shows before its first ':' on each line (file names,
# "epoch 1/5", "accuracy", ...; the figures differ on the sample).
set -u
top=$(pwd)
bin=${FMNIST_BIN:-./fmnist}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ln -s "$bin" "$dir/fmnist"
ln -s "$top/tests" "$dir/tests"
export FMNIST_DATA="$top/data/sample"
fail=0 n=0
awk '
    /^    \$ / { if (cmd) print "END"; cmd = substr($0, 7); print "CMD " cmd; next }
    cmd && /^    / { print "OUT " substr($0, 5); next }
    { if (cmd) print "END"; cmd = "" }
    END { if (cmd) print "END" }
' README.md $(ls docs/*.md 2>/dev/null) > "$dir/script"
current="" expect=""
while IFS= read -r line; do
    case $line in
    "CMD "*) current=${line#CMD }; expect="" ;;
    "OUT "*) expect="$expect${line#OUT }
" ;;
    END)
        n=$((n + 1))
        out=$(cd "$dir" && sh -c "$current" 2>"$dir/stderr")
        rc=$?
        if [ $rc -ne 0 ]; then
            echo "readme: '$current' exited $rc: $(cat "$dir/stderr")"
            fail=1
            continue
        fi
        # Every shown line's text up to its first ':' (or its first word)
        # must appear in the real output.
        printf '%s' "$expect" | while IFS= read -r want; do
            key=$(printf '%s' "$want" | sed 's/:.*//; s/  .*//')
            [ -z "$key" ] && continue
            case $out in
            *"$key"*) ;;
            *) echo "readme: '$current' did not print '$key'"; exit 1 ;;
            esac
        done || fail=1
        ;;
    esac
done < "$dir/script"
[ $n -gt 0 ] || { echo "readme: no commands found"; exit 1; }
[ $fail -eq 0 ] && echo "readme: all $n commands shown in README.md and docs/ work as written"
exit $fail
