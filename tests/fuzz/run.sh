#!/usr/bin/env bash
# tests/fuzz/run.sh — run every libFuzzer target for a set time (`make fuzz` builds them first).
#
#   bash tests/fuzz/run.sh BUILD SECONDS [TARGET...]      TARGET: gguf tokenize cli_parse
#
# The seed corpus is made from the real models (../shared/models, or $SLUICE_MODELS) by
# BUILD/tests/fuzz/mkseeds, every run: nothing of it is committed.  What the fuzzer adds is
# kept in BUILD/fuzz/corpus/TARGET, so later runs start where earlier ones stopped.  A
# crash, a sanitizer report, a leak, a timeout (10 s per input) or a 2 GB memory blow-up
# fails the run; the input that did it is BUILD/fuzz/crash-TARGET-*, and the log
# BUILD/fuzz/TARGET.log.  Reproduce with: BUILD/tests/fuzz/fuzz_TARGET FILE
#
# Environment: FUZZ_JOBS=N runs the targets N at a time (default 1); FUZZ_NICE=N runs them
# under nice -n N; FUZZ_ARGS adds libFuzzer flags.
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: run.sh BUILD SECONDS [TARGET...]}
SECS=${2:?usage: run.sh BUILD SECONDS [TARGET...]}
shift 2
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gguf tokenize cli_parse)
MODELS=${SLUICE_MODELS:-$(cd .. && pwd)/shared/models}
WORK=$BUILD/fuzz
mkdir -p "$WORK/corpus"
rm -rf "$WORK/seeds"
"$BUILD/tests/fuzz/mkseeds" "$MODELS" "$WORK/seeds" || { echo "fuzz: no seed corpus"; exit 1; }
export SLUICE_FUZZ_VOCAB=$MODELS/stories260K.gguf

max_len() {
    case $1 in
        gguf) echo 1048576 ;;   # the metadata of a 32000-token vocabulary is ~0.7 MB
        tokenize) echo 4096 ;;
        *) echo 256 ;;
    esac
}

run_target() {  # run_target NAME: one target, its summary line, its status
    local t=$1 log=$WORK/$1.log bin=$BUILD/tests/fuzz/fuzz_$1 rc execs
    mkdir -p "$WORK/corpus/$t"
    rm -f "$WORK"/crash-"$t"-* "$WORK"/leak-"$t"-* "$WORK"/timeout-"$t"-* "$WORK"/oom-"$t"-*
    ${FUZZ_NICE:+nice -n "$FUZZ_NICE"} "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$WORK/" ${FUZZ_ARGS:-} \
        "$WORK/corpus/$t" "$WORK/seeds/$t" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then
        echo "PASS: fuzz_$t: ${execs:-?} executions in ${SECS}s, corpus $(ls "$WORK/corpus/$t" | wc -l) inputs"
    else
        echo "FAIL: fuzz_$t: exit $rc after ${execs:-?} executions; log $log"
        grep -E 'ERROR|SUMMARY|Test unit written|abort|runtime error' "$log" | head -n 8 | sed 's/^/    /'
    fi
    echo $rc > "$WORK/$t.status"
}

fail=0
for t in "${TARGETS[@]}"; do
    rm -f "$WORK/$t.status"
    [ -x "$BUILD/tests/fuzz/fuzz_$t" ] || { echo "FAIL: fuzz_$t: not built (make fuzz)"; fail=1; continue; }
    run_target "$t" &
    while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-1}" ]; do sleep 1; done
done
wait
npass=0 nfail=0
for t in "${TARGETS[@]}"; do
    if [ "$(cat "$WORK/$t.status" 2>/dev/null)" = 0 ]; then npass=$((npass + 1)); else nfail=$((nfail + 1)); fail=1; fi
done
# the runner's closing line, as tests/run.sh ends
echo "fuzz: $npass passed, $nfail failed, 0 skipped"
exit $fail
