#!/bin/sh
# mutate.sh [NAME...]: mutation testing of `make check` (make mutate).
#
# Each mutant of tools/mutants.txt (or $MUTANTS) is one exact text
# substitution in one file. In a copy of the work tree (its tracked and
# untracked, not ignored files as they are now; the work tree itself is
# never touched), every mutant is applied in turn, `make check FAILFAST=1`
# runs, and the file is restored. A mutant is caught when the build or a
# test fails; it survives when the whole suite passes. Lists the survivors.
#
# Before anything runs, every mutant must apply: its old text must occur
# exactly once in its file, or the script stops (status 2) naming it, so
# that a table gone stale after a refactoring is noticed. So must the
# unmutated suite pass (status 2 otherwise).
#
# A mutant marked cpu:FLAG is skipped (and counted so) on a CPU without
# that flag. Exit status: 0 every mutant run was caught, 1 some survived,
# 2 the table or the suite is broken, 130 interrupted. NAME... runs only
# those mutants.
# MUTATE_TIMEOUT (seconds, default 300) bounds each run; a mutant that
# hangs the suite counts as caught (and is named). MUTATE_JOBS: make -j.
# --check: only that every mutant applies to the work tree as it is (a
# second; tests/mutants.sh runs it in make check, so a change that leaves
# the table stale fails at once, not minutes into make mutate).
set -u
check_only=0
if [ "${1:-}" = --check ]; then check_only=1; shift; fi
top=$(cd "$(dirname "$0")/.." && pwd)
table=${MUTANTS:-$top/tools/mutants.txt}
timeout_s=${MUTATE_TIMEOUT:-300}
jobs=${MUTATE_JOBS:-2}

work=$(mktemp -d "${TMPDIR:-/tmp}/fmnist-mutate.XXXXXX") || exit 2
child=""
cleanup() {
    # timeout runs make in a process group of its own: end that run first.
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "mutate: interrupted" >&2; exit 130' INT TERM HUP

# check LOG [FIRST [NAME]]: make check FAILFAST=1 in the copy, bounded by
# timeout_s; run in the background and waited for, so that Ctrl-C is
# handled at once. CMOCKA_TEST_ABORT=1: a test program ends at its first
# failed assertion (its other tests would tell nothing more: test_pinned
# took 15 s a mutant, 2 when its first test catches it); TMPDIR: what such
# an ended test leaves behind goes with the work directory;
# FMNIST_MUTATING: "the baseline" or "mutant NAME" (tests/mutants.sh skips: the table
# does not apply to a tree holding a mutant).
check() {
    (cd "$work/tree" && CMOCKA_TEST_ABORT=1 TMPDIR="$work/tmp" \
        FMNIST_MUTATING="${3:-the baseline}" exec timeout "$timeout_s" make -j"$jobs" check FAILFAST=1 \
        CHECK_FIRST="${2:-}") >"$1" 2>&1 &
    child=$!
    wait "$child"
    rc=$?
    child=""
    return $rc
}

die() { echo "mutate: $*" >&2; exit 2; }

# ---- the table: "@ NAME FILE [TEST...]", then "- OLD", then "+ NEW" (text
# after the two-character prefix, to the end of the line, taken literally).
# TEST... are run first (CHECK_FIRST), which only saves time.
awk -v out="$work/m" '
    function flush() {
        if (name == "") return
        if (!have_old || !have_new) { printf "%s:%d: mutant %s lacks a - or + line\n", FILENAME, at, name > "/dev/stderr"; bad = 1 }
        n++
        printf "%s\n", name > (out "." n ".name")
        printf "%s\n", file > (out "." n ".file")
        printf "%s\n", first > (out "." n ".first")
        printf "%s\n", cpu > (out "." n ".cpu")
        close(out "." n ".first"); close(out "." n ".cpu")
        printf "%s", old > (out "." n ".old")
        printf "%s", new > (out "." n ".new")
        close(out "." n ".name"); close(out "." n ".file"); close(out "." n ".old"); close(out "." n ".new")
        name = ""
    }
    /^#/ || /^[ \t]*$/ { next }
    /^@ / { flush(); k = split(substr($0, 3), f, " "); name = f[1]; file = f[2]; at = FNR
            first = cpu = ""
            for (j = 3; j <= k; j++)
                if (f[j] ~ /^cpu:/) cpu = substr(f[j], 5)
                else first = first (first != "" ? " " : "") f[j]
            if (name == "" || file == "" || (name in seen)) { printf "%s:%d: bad or repeated mutant header\n", FILENAME, FNR > "/dev/stderr"; bad = 1 }
            seen[name] = 1; have_old = have_new = 0; next }
    /^- / { old = substr($0, 3); have_old = 1; next }
    /^\+ / { new = substr($0, 3); have_new = 1; next }
    { printf "%s:%d: not a mutant line: %s\n", FILENAME, FNR, $0 > "/dev/stderr"; bad = 1 }
    END { flush(); print n > (out ".count"); exit bad }
' "$table" || die "$table is malformed"
count=$(cat "$work/m.count")
[ "$count" -gt 0 ] || die "no mutants in $table"

# Which mutants: all, or those named.
sel=""
i=1
while [ $i -le "$count" ]; do
    name=$(cat "$work/m.$i.name")
    if [ $# -eq 0 ]; then
        sel="$sel $i"
    else
        for want; do [ "$want" = "$name" ] && sel="$sel $i"; done
    fi
    i=$((i + 1))
done
[ -n "$sel" ] || die "no mutant named $*"

# mutated N [TREE]: writes $work/mutated, TREE's file (the copy's by
# default) with mutant N applied; 0 when the old text occurs exactly once,
# else prints how often it does.
mutated() {
    f="${2:-$work/tree}/$(cat "$work/m.$1.file")"
    [ -f "$f" ] || { echo "no such file"; return 1; }
    OLD=$(cat "$work/m.$1.old"; printf x) NEW=$(cat "$work/m.$1.new"; printf x) awk '
        BEGIN { old = substr(ENVIRON["OLD"], 1, length(ENVIRON["OLD"]) - 1)
                new = substr(ENVIRON["NEW"], 1, length(ENVIRON["NEW"]) - 1) }
        { line[NR] = $0; s = $0
          while ((i = index(s, old)) > 0) { hits++; s = substr(s, i + length(old)) } }
        END {
            if (hits != 1) { printf "old text found %d times", hits > "/dev/stderr"; exit 1 }
            for (k = 1; k <= NR; k++) {
                l = line[k]; i = index(l, old)
                if (i > 0) l = substr(l, 1, i - 1) new substr(l, i + length(old))
                print l
            }
        }' "$f" > "$work/mutated"
}

# apply N: the mutated file replaces the copy's (status and message as
# mutated's).
apply() {
    mutated "$1" || return 1
    f="$work/tree/$(cat "$work/m.$1.file")"
    cp "$f" "$work/pristine"
    cat "$work/mutated" > "$f"
}

restore() {
    f="$work/tree/$(cat "$work/m.$1.file")"
    cat "$work/pristine" > "$f"
    touch "$f" # newer than the mutant's objects: rebuilt next time
}

if [ $check_only -eq 1 ]; then
    stale=0
    for i in $sel; do
        why=$(mutated "$i" "$top" 2>&1) || {
            echo "mutate: mutant $(cat "$work/m.$i.name") does not apply to $(cat "$work/m.$i.file"): $why" >&2
            stale=1
        }
    done
    [ $stale -eq 0 ] || die "the table is stale: fix or re-point the mutants above"
    echo "mutate: all $(echo $sel | wc -w) mutants of $table apply"
    exit 0
fi

# ---- the copy
mkdir "$work/tree" "$work/tmp"
(cd "$top" && git ls-files -z -co --exclude-standard | xargs -0 sh -c \
    'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh | tar --null -T - -cf -) |
    (cd "$work/tree" && tar -xf -) || die "cannot copy the work tree"
# The work tree's build, if any, with its times: make rebuilds only what
# is out of date, which saves the baseline a full build.
if [ -d "$top/build" ]; then
    (cd "$top" && tar -cf - build $( [ -f fmnist ] && echo fmnist )) | (cd "$work/tree" && tar -xf -) ||
        die "cannot copy the build"
fi

# Every mutant must apply before any runs.
stale=0
for i in $sel; do
    if ! why=$(apply "$i" 2>&1); then
        echo "mutate: mutant $(cat "$work/m.$i.name") does not apply to $(cat "$work/m.$i.file"): $why" >&2
        stale=1
    else
        restore "$i"
    fi
done
[ $stale -eq 0 ] || die "the table is stale: fix or re-point the mutants above"

start=$(date +%s)
echo "mutate: $(echo $sel | wc -w) mutants of $table; baseline make check in $work/tree"
if ! check "$work/baseline.log"; then
    tail -n 30 "$work/baseline.log" >&2
    die "make check fails without any mutant"
fi
echo "mutate: baseline passed ($(( $(date +%s) - start )) s)"

# The CPU's flags, for the mutants marked cpu:FLAG.
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "

survivors="" caught=0 skipped=0
for i in $sel; do
    name=$(cat "$work/m.$i.name")
    file=$(cat "$work/m.$i.file")
    need=$(cat "$work/m.$i.cpu")
    if [ -n "$need" ]; then
        case $flags in
        *" $need "*) ;;
        *)
            skipped=$((skipped + 1))
            printf 'skipped   %-28s %s (this CPU has no %s: no test runs that code)\n' "$name" "$file" "$need"
            continue
            ;;
        esac
    fi
    t0=$(date +%s)
    apply "$i" >/dev/null || die "mutant $name stopped applying"
    check "$work/run.log" "$(cat "$work/m.$i.first")" "mutant $name"
    rc=$?
    restore "$i"
    secs=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then
        survivors="$survivors $name"
        printf 'SURVIVED  %-28s %s (%d s)\n' "$name" "$file" "$secs"
    else
        caught=$((caught + 1))
        if [ $rc -eq 124 ]; then
            by="timed out after $timeout_s s"
        elif by=$(grep -m1 'failed (FAILFAST)' "$work/run.log"); then
            by=${by% failed (FAILFAST)}
        elif grep -q -m1 -e 'error:' -e 'Error [0-9]' "$work/run.log"; then
            by="the build"
        else
            by="make check (status $rc)"
        fi
        printf 'caught    %-28s %s by %s (%d s)\n' "$name" "$file" "$by" "$secs"
    fi
done
total=$(echo $sel | wc -w)
echo "mutate: $total mutants, $caught caught, $skipped skipped, $((total - caught - skipped)) survived ($(( $(date +%s) - start )) s)"
if [ -n "$survivors" ]; then
    echo "mutate: survivors:$survivors"
    exit 1
fi
exit 0
