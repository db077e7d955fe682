#!/usr/bin/env bash
# bench/stream.sh — benchmark 7b/7c: streaming decode of a model 4x larger than the memory it may
# use, inside a cgroup v1 memory group, against the disk limit, the mmap (llama.cpp-style) path,
# llama.cpp itself and an older sluice binary, all in the same cgroup in the same run.
# Results go to Documentation/performance.md ("Streaming decode"), by hand, with the commands
# this script prints.
#
#   bench/stream.sh            (as root: cgroup + drop_caches)
#   env: MODEL_SIZE=4G TYPE=f16|q8_0 DIM=1024|4096 MEM=MODEL_SIZE/4 RUNS=3 TOKENS=16 THREADS=nproc
#        VRAM=MEM/4 HOST_CACHE=MEM/2 ENGINES="uring mmap" KEEP=1 (keep the model)
#        MODEL=/var/tmp/sluice-stream-<size>-<type>-d<dim>.gguf SLUICE=build/sluice
#        SLUICE_OLD=/var/tmp/sluice-old/build/sluice  LLAMACPP=<llama-completion>
#   DIM            the model's width (gen-model --dim): 1024 (the default; small layers) or 4096
#                  (large layers: a 4G q8_0 model has ~23 layers of ~179 MiB)
#   ENGINES        sluice --io engines (uring mmap pread), old-ENGINE (the same with $SLUICE_OLD,
#                  same flags; SLUICE_OLD alone appends old-uring), and llamacpp: llama.cpp's
#                  llama-completion on the same file (mmap, --no-repack, -t THREADS, greedy,
#                  TOKENS tokens, EOS ignored, no warm-up, -fit off); LLAMACPP defaults to the one
#                  bench/llamacpp.sh builds (on first use: about 7 minutes on 2 cores)
#   Reference configuration (issue 8): MEM=1G VRAM=256M HOST_CACHE=512M MODEL_SIZE=4G TYPE=q8_0
#   (the defaults for a 4G model but TYPE), DIM=1024 and DIM=4096, ENGINES="uring mmap llamacpp",
#   SLUICE_OLD=... .  DIM=4096 needs VRAM >= ~183M (one 179 MiB layer + the resident tensors).
#
# Definitions (all for the decode phase, after the prompt):
#   MiB/token      what the uring run reports on its "decode:" line (bytes it read per token);
#                  the theoretical value, model tensor bytes - device-resident - host-pinned, too
#   disk limit     fio MiB/s (seq read, 1M, QD32, io_uring, O_DIRECT — as bench/io.sh) / MiB/token
#   fraction       decode tok/s / disk limit tok/s (target >= 0.9)
#   overlap        token time / max(io busy, compute), from the "decode:" line (target <= 1.15)
# `sluice run` times TOKENS-1 decode calls but divides by TOKENS (the last sampled token is not
# decoded), so its tok/s is high and its MiB/token low by TOKENS/(TOKENS-1); this script corrects
# both (their product, and so the fraction, is unaffected).
# Runs alternate fio / each engine RUNS times, page cache dropped before each; medians reported.
# The sluice engines (old and new) must print identical text, or the script stops; llama.cpp's
# text is only reported (its tokenizer and sampler differ).  llama.cpp's tok/s is its "eval
# time" line (decode calls only, so no correction); MiB/token, overlap and the io/compute times
# are sluice's own statistics and are "-" for it; its peak RSS is /usr/bin/time's.  "ratio vs
# llamacpp" is each engine's median tok/s over llama.cpp's.
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE=${SLUICE:-build/sluice}
MODEL_SIZE=${MODEL_SIZE:-4G}
TYPE=${TYPE:-f16}
RUNS=${RUNS:-3}
TOKENS=${TOKENS:-16}
ENGINES=${ENGINES:-uring mmap}
DIM=${DIM:-1024}
THREADS=${THREADS:-$(nproc)}
SLUICE_OLD=${SLUICE_OLD:-}
if [ -n "$SLUICE_OLD" ] && ! [[ " $ENGINES " =~ \ old- ]]; then ENGINES="$ENGINES old-uring"; fi
bytes() { numfmt --from=iec "$1"; }
MEM=${MEM:-$(( $(bytes "$MODEL_SIZE") / 4 ))}
MEM_B=$(bytes "$MEM")
VRAM=$(bytes "${VRAM:-$(( MEM_B / 4 ))}")               # in bytes, also when given as 256M
HOST_CACHE=$(bytes "${HOST_CACHE:-$(( MEM_B / 2 ))}")
MODEL=${MODEL:-/var/tmp/sluice-stream-$MODEL_SIZE-$TYPE-d$DIM.gguf}
PROMPT=${PROMPT:-Once upon a time}
CG=/sys/fs/cgroup/memory/sluice-stream.$$

[ "$(id -u)" = 0 ] || { echo "bench/stream.sh needs root (cgroup, drop_caches)"; exit 77; }
command -v fio >/dev/null || { echo "fio not installed"; exit 77; }
[ -d /sys/fs/cgroup/memory ] || { echo "no cgroup v1 memory controller"; exit 77; }
[ -x "$SLUICE" ] || { echo "$SLUICE missing: make -j2 all"; exit 1; }
REF=  # the first sluice engine: the others' output is compared with its, and its statistics
for e in $ENGINES; do
    case $e in
    llamacpp) ;;
    old-*) [ -x "$SLUICE_OLD" ] || { echo "$e: SLUICE_OLD (${SLUICE_OLD:-unset}) is not executable"; exit 1; }
           REF=${REF:-$e} ;;
    *) REF=${REF:-$e} ;;
    esac
done
[ -n "$REF" ] || { echo "ENGINES has no sluice engine"; exit 1; }
LLAMA=()
if [[ " $ENGINES " == *" llamacpp "* ]]; then
    LLAMACPP=${LLAMACPP:-$(bench/llamacpp.sh | grep '/llama-completion$')}
    [ -x "$LLAMACPP" ] || { echo "llama-completion ($LLAMACPP) missing: bench/llamacpp.sh"; exit 1; }
    LLAMA=(/usr/bin/time -f "llamacpp: peak RSS %M KiB" "$LLAMACPP" -m "$MODEL" -p "$PROMPT"
           -n "$TOKENS" --temp 0 -c 256 -t "$THREADS" -lm mmap -nr -fit off -no-cnv --ignore-eos
           --no-warmup)
fi
TMP=$(mktemp -d /var/tmp/sluice-stream.XXXXXX)
cleanup() {
    [ -d "$CG" ] && { cat "$CG/cgroup.procs" 2>/dev/null | grep -q . || rmdir "$CG"; }
    rm -rf "$TMP"
    [ "${KEEP:-1}" = 1 ] || rm -f "$MODEL"
}
trap cleanup EXIT

say() { echo "+ $*" >&2; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
field() { grep -o "$1" "$2" | head -1 | grep -o '[0-9.]*' | head -1; } # field REGEX FILE

if [ ! -e "$MODEL" ]; then
    say "$SLUICE" gen-model --size "$MODEL_SIZE" --dim "$DIM" --type "$TYPE" -q -o "$MODEL"
    "$SLUICE" gen-model --size "$MODEL_SIZE" --dim "$DIM" --type "$TYPE" -q -o "$MODEL" >&2
fi
FILE_B=$(stat -c %s "$MODEL")
TENSOR_B=$("$SLUICE" info "$MODEL" | awk '/^tensor bytes:/ {print $3}')

mkdir "$CG"
echo "$MEM_B" > "$CG/memory.limit_in_bytes"
[ -e "$CG/memory.memsw.limit_in_bytes" ] && echo "$MEM_B" > "$CG/memory.memsw.limit_in_bytes"
say "mkdir $CG; echo $MEM_B > memory.limit_in_bytes (and memory.memsw.limit_in_bytes)"

DEV=$(basename "$(findmnt -no SOURCE -T "$MODEL")")
sectors() { awk '{print $3}' "/sys/block/$DEV/stat" 2>/dev/null || echo 0; }  # sectors read, whole disk
# The same drive through sluice's own engine, reading every tensor of the model in file order at
# full queue depth: the I/O engine alone, without compute (see "I/O engine").
BIO=("$SLUICE" bench io "$MODEL" --engine uring --bs 1M --qd 32 --pattern tensors --json)
FIO=(fio --name=seq --ioengine=io_uring --direct=1 --iodepth=32 --fixedbufs=1 --output-format=json
     --filename="$MODEL" --rw=read --registerfiles=1 --bs=1M --size="$FILE_B")
RUN=("$SLUICE" run -m "$MODEL" -p "$PROMPT" -n "$TOKENS" --temp 0 -c 256 -t "$THREADS" --vram "$VRAM"
     --host-cache "$HOST_CACHE" --stats -v)
say "${FIO[*]}"
say "${BIO[*]}"
say "( echo \$BASHPID > $CG/cgroup.procs; exec ${RUN[*]} --io ENGINE )"
[ -z "$SLUICE_OLD" ] || say "( echo \$BASHPID > $CG/cgroup.procs; exec $SLUICE_OLD ${RUN[*]:1} --io ENGINE )"
[ ${#LLAMA[@]} = 0 ] || say "( echo \$BASHPID > $CG/cgroup.procs; exec ${LLAMA[*]} < /dev/null )"

in_cgroup() { ( echo "$BASHPID" > "$CG/cgroup.procs"; exec "$@" ); }
cmd() {  # cmd ENGINE: the command line of that engine, in CMD
    case $1 in
    llamacpp) CMD=("${LLAMA[@]}") ;;
    old-*) CMD=("$SLUICE_OLD" "${RUN[@]:1}" --io "${1#old-}") ;;
    *) CMD=("${RUN[@]}" --io "$1") ;;
    esac
}

for i in $(seq "$RUNS"); do
    drop
    "${FIO[@]}" > "$TMP/fio.json"
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["bw"]/1024))' \
        < "$TMP/fio.json" >> "$TMP/fio"
    drop
    "${BIO[@]}" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["mib_per_s"]))' >> "$TMP/bio"
    for e in $ENGINES; do
        drop
        echo 0 > "$CG/memory.max_usage_in_bytes"
        echo 0 > "$CG/memory.failcnt"
        rc=0
        s0=$(sectors)
        cmd "$e"
        in_cgroup "${CMD[@]}" < /dev/null > "$TMP/$e.$i.out" 2> "$TMP/$e.$i.err" || rc=$?
        l="$TMP/$e.$i.err"
        echo $(( ($(sectors) - s0) / 2048 )) >> "$TMP/$e.disk"
        oom=$(awk '/oom_kill / {print $2}' "$CG/memory.oom_control")
        cgmax=$(( $(cat "$CG/memory.max_usage_in_bytes") >> 20 ))
        if [ "$e" = llamacpp ]; then
            # "common_perf_print:        eval time =  X ms /  N runs   ( Y ms per token,  Z tokens per second)"
            ev=$(grep -v 'prompt eval' "$l" | grep -o 'eval time = .*' | head -1 || true)
            echo "run $i $e: rc $rc, load $(cut -d' ' -f1-3 /proc/loadavg), ${ev:-no eval time line}, cgroup max $cgmax MiB, failcnt $(cat "$CG/memory.failcnt"), oom_kill ${oom:-?}" >&2
            [ "$rc" = 0 ] && [ -n "$ev" ] || { tail -40 "$l" >&2; exit 1; }
            echo "$ev" | grep -o '[0-9.]* tokens per second' | awk '{print $1}' >> "$TMP/$e.tps"
            awk '/^llamacpp: peak RSS/ {printf "%.1f\n", $4 / 1024}' "$l" >> "$TMP/$e.rss"
            echo "$cgmax" >> "$TMP/$e.cgmax"
            cat "$CG/memory.failcnt" >> "$TMP/$e.failcnt"
            continue
        fi
        echo "run $i $e: rc $rc, load $(cut -d' ' -f1-3 /proc/loadavg), $(grep 'generated' "$l" | sed 's/.*| generated/generated/'), $(grep -o 'overlap efficiency [0-9.]*' "$l"), cgroup max $cgmax MiB, failcnt $(cat "$CG/memory.failcnt"), oom_kill ${oom:-?}" >&2
        [ "$rc" = 0 ] || { cat "$l" >&2; exit 1; }
        n=$(field 'generated [0-9]* tok' "$l")
        # correct sluice run's TOKENS/(TOKENS-1) bias (see the header)
        echo "$(calc "$(grep -o 'generated [0-9]* tok, [0-9.]* tok/s' "$l" | awk '{print $4}') * ($n - 1) / $n" 4)" >> "$TMP/$e.tps"
        echo "$(calc "$(field 'decode: [0-9.]* MiB' "$l") * $n / ($n - 1)" 2)" >> "$TMP/$e.mpt"
        field 'overlap efficiency [0-9.]*' "$l" >> "$TMP/$e.ovl"
        grep -o 'decode:.*' "$l" | sed 's/.*io wait \([0-9.]*\) s | io busy \([0-9.]*\) s | compute \([0-9.]*\) s.*/\1 \2 \3/' >> "$TMP/$e.times"
        field 'peak RSS [0-9.]*' "$l" >> "$TMP/$e.rss"
        echo "$cgmax" >> "$TMP/$e.cgmax"
        cat "$CG/memory.failcnt" >> "$TMP/$e.failcnt"
        if [ "$e" != "$REF" ] && [ -e "$TMP/$REF.$i.out" ] && ! cmp -s "$TMP/$e.$i.out" "$TMP/$REF.$i.out"; then
            echo "OUTPUT MISMATCH: $e vs $REF (run $i)" >&2
            diff "$TMP/$REF.$i.out" "$TMP/$e.$i.out" >&2 || true
            exit 1
        fi
    done
done

first=$REF
l="$TMP/$first.1.err"
RES=$(field 'placement: [0-9.]* MiB resident' "$l")
PIN=$(field 'host placement: [0-9.]* MiB' "$l")
THEO=$(calc "$TENSOR_B / 1048576 - $RES - $PIN" 1)
FIO_M=$(median < "$TMP/fio")
MPT=$(median < "$TMP/$first.mpt")
LIMIT=$(calc "$FIO_M / $MPT" 4)
BIO_M=$(median < "$TMP/bio")
BLIMIT=$(calc "$BIO_M / $MPT" 4)

echo
echo "# $(date -u +%F) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "# model $MODEL: $TYPE, $((FILE_B >> 20)) MiB file, $((TENSOR_B >> 20)) MiB tensors; cgroup limit $((MEM_B >> 20)) MiB; --vram $((VRAM >> 20))M --host-cache $((HOST_CACHE >> 20))M -c 256; $TOKENS tokens; $RUNS runs"
echo "# placement: $RES MiB device-resident, $PIN MiB host-pinned -> theoretical $THEO MiB/token; measured ($first) $MPT MiB/token"
echo "# fio runs (MiB/s): $(tr '\n' ' ' < "$TMP/fio")-> median $FIO_M; disk limit $FIO_M / $MPT = $LIMIT tok/s"
echo "# sluice bench io --pattern tensors runs (MiB/s): $(tr '\n' ' ' < "$TMP/bio")-> median $BIO_M; engine limit $BIO_M / $MPT = $BLIMIT tok/s"
echo "# output (identical for all sluice engines, every run): $(head -c 120 "$TMP/$first.1.out" | cat -v | tr '\n' ' ')"
LL=  # llama.cpp's median tok/s, when it ran
if [ ${#LLAMA[@]} != 0 ]; then
    LL=$(median < "$TMP/llamacpp.tps")
    echo "# llama.cpp: $LLAMACPP, $("$LLAMACPP" --version 2>&1 | head -1)"
    echo "# llama.cpp output (not compared): $(head -c 120 "$TMP/llamacpp.1.out" | cat -v | tr '\n' ' ')"
fi
echo
RH='' RD='' RE=''  # the "ratio vs llamacpp" column: header, rule, empty cell
[ -z "$LL" ] || { RH=" ratio vs llamacpp |"; RD="---|"; RE=" |"; }
echo "| engine | tok/s (median) |$RH fraction of disk limit (fio) | fraction of engine limit (bench io) | MiB/token | disk MiB read, whole run (median) | overlap eff. | io wait / io busy / compute s (last run) | peak RSS MiB | cgroup max MiB (limit $((MEM_B >> 20))) | failcnt | tok/s runs |"
echo "|---|---|$RD---|---|---|---|---|---|---|---|---|---|"
stat_() { [ -s "$1" ] && "${@:2}" < "$1" || echo -; }  # stat_ FILE CMD...: CMD < FILE, or - without data
for e in $ENGINES; do
    t=$(median < "$TMP/$e.tps")
    r=; [ -z "$LL" ] || r=" $(calc "$t / $LL" 2) |"
    printf '| %s | %.3f |%s %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s|\n' "$e" "$t" "$r" "$(calc "$t / $LIMIT" 4)" \
        "$(calc "$t / $BLIMIT" 4)" "$(stat_ "$TMP/$e.mpt" median)" "$(median < "$TMP/$e.disk")" "$(stat_ "$TMP/$e.ovl" median)" \
        "$(stat_ "$TMP/$e.times" tail -1 | sed 's/ / \/ /g')" \
        "$(stat_ "$TMP/$e.rss" sort -g | tail -1)" "$(sort -g "$TMP/$e.cgmax" | tail -1)" \
        "$(sort -g "$TMP/$e.failcnt" | tail -1)" "$(tr '\n' ' ' < "$TMP/$e.tps")"
done
echo "| disk limit (fio $FIO_M MiB/s) | $LIMIT |$RE 1.00 | | $MPT | | | | | | | |"
echo "| engine limit (bench io $BIO_M MiB/s) | $BLIMIT |$RE | 1.00 | $MPT | | | | | | | |"
