#!/usr/bin/env bash
# tests/run.sh — run every test and count the results.
#
# A test is one of:
#   $BUILD/tests/unit/test_*   a compiled program
#   tests/*/test_*.sh          a shell script
# and exits 0 (pass), 77 (skip; first output line says why) or anything else (fail).
#   tests/*/suite_*.sh         a suite: prints lines "PASS: name", "FAIL: name: why", "SKIP: name: why",
#                              each counted on its own (the VM harness is one).
# Each gets a timeout: 120 s, or what a "sluice-timeout: N" line in the script (a unit test: its
# source) says.
# Environment given to tests: SLUICE_BUILD, SLUICE_BIN (the CLI), SLUICE_MODELS (../shared/models),
# SLUICE_TMP (a scratch folder removed afterwards).
#
# Usage: tests/run.sh [--build DIR] [--no-vm] [FILTER...]   (FILTER: substrings of test names)
set -u
cd "$(dirname "$0")/.."
BUILD=build
NO_VM=0
FILTERS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$2; shift 2 ;;
        --no-vm) NO_VM=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) FILTERS+=("$1"); shift ;;
    esac
done

export SLUICE_BUILD=$(cd "$BUILD" && pwd)
export SLUICE_BIN=$SLUICE_BUILD/sluice
export SLUICE_MODELS=${SLUICE_MODELS:-$(cd .. && pwd)/shared/models}
SLUICE_TMP=$(mktemp -d /var/tmp/sluice-tests.XXXXXX)
export SLUICE_TMP
LOGS=$SLUICE_BUILD/test-logs
mkdir -p "$LOGS"
trap 'rm -rf "$SLUICE_TMP"' EXIT

pass=0; fail=0; skip=0; failed_names=()

wanted() {
    [ ${#FILTERS[@]} -eq 0 ] && return 0
    local f; for f in "${FILTERS[@]}"; do case "$1" in *"$f"*) return 0 ;; esac; done
    return 1
}

timeout_of() {
    local t
    t=$(grep -m1 -o 'sluice-timeout: *[0-9]*' "$1" 2>/dev/null | grep -o '[0-9]*$')
    echo "${t:-120}"
}

record() {  # record STATUS NAME DETAIL
    case "$1" in
        PASS) pass=$((pass + 1)); printf 'PASS  %s%s\n' "$2" "${3:+ ($3)}" ;;
        SKIP) skip=$((skip + 1)); printf 'SKIP  %s: %s\n' "$2" "$3" ;;
        *)    fail=$((fail + 1)); failed_names+=("$2"); printf 'FAIL  %s%s\n' "$2" "${3:+: $3}" ;;
    esac
}

run_one() {  # run_one NAME TIMEOUT CMD...
    local name=$1 to=$2; shift 2
    local log=$LOGS/${name//\//_}.log start end rc
    start=$(date +%s.%N)
    timeout --kill-after=10 "$to" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    end=$(date +%s.%N)
    local secs; secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1fs", b-a}')
    case $rc in
        0) record PASS "$name" "$secs" ;;
        77) record SKIP "$name" "$(grep -m1 -v '^$' "$log" | cut -c1-160)" ;;
        124|137) record FAIL "$name" "timed out after ${to}s"; tail -n 20 "$log" | sed 's/^/      /' ;;
        *) record FAIL "$name" "exit $rc"; tail -n 30 "$log" | sed 's/^/      /' ;;
    esac
}

run_suite() {  # run_suite NAME TIMEOUT SCRIPT
    local name=$1 to=$2 script=$3 log=$LOGS/${1//\//_}.log rc line n=0
    timeout --kill-after=10 "$to" bash "$script" >"$log" 2>&1 </dev/null
    rc=$?
    while IFS= read -r line; do
        case "$line" in
            PASS:\ *) n=$((n + 1)); record PASS "$name/${line#PASS: }" ;;
            SKIP:\ *) n=$((n + 1)); line=${line#SKIP: }; record SKIP "$name/${line%%: *}" "${line#*: }" ;;
            FAIL:\ *) n=$((n + 1)); line=${line#FAIL: }; record FAIL "$name/${line%%: *}" "${line#*: }" ;;
        esac
    done < "$log"
    if [ $rc -eq 77 ] && [ $n -eq 0 ]; then
        record SKIP "$name" "$(grep -m1 -v '^$' "$log" | cut -c1-160)"
    elif [ $rc -ne 0 ]; then
        record FAIL "$name" "suite exited $rc"; tail -n 30 "$log" | sed 's/^/      /'
    fi
}

for t in "$SLUICE_BUILD"/tests/unit/test_*; do
    [ -x "$t" ] && [ "${t%.d}" = "$t" ] && [ "${t%.o}" = "$t" ] || continue
    name=unit/$(basename "$t")
    wanted "$name" || continue
    run_one "$name" "$(timeout_of "tests/unit/$(basename "$t").c")" "$t"
done

for t in tests/*/test_*.sh; do
    [ -f "$t" ] || continue
    name=${t#tests/}; name=${name%.sh}
    wanted "$name" || continue
    run_one "$name" "$(timeout_of "$t")" bash "$t"
done

for t in tests/*/suite_*.sh; do
    [ -f "$t" ] || continue
    case "$t" in tests/vm/*) [ $NO_VM -eq 1 ] && continue ;; esac
    name=${t#tests/}; name=${name%.sh}
    wanted "$name" || continue
    run_suite "$name" "$(timeout_of "$t")" "$t"
done

if [ $fail -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
    echo "logs: $LOGS"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
