#!/usr/bin/env bash
# Benchmark: encrypt and decrypt one file (2 GiB by default) with `webqx-sec file`
# (release build, data key from a private local server), with age (Debian package) and
# with rage (the Rust crate), and `openssl speed -evp aes-256-gcm` as the ceiling.
# Wall-clock MB/s (1 MB = 10^6 bytes), ratios to age, and peak RSS (/usr/bin/time -v).
#
#   bash bench/file_bench.sh [SIZE_MIB]        (default 2048; ROUNDS=3 alternating rounds, best kept)
#   BENCH_DIR=/dev/shm bash bench/file_bench.sh (files on tmpfs: the tools, not the disk)
#
# It needs three times SIZE_MIB of free space in BENCH_DIR (plain, encrypted, decrypted).
# rage is not committed or installed by CI; build it once with
#   cargo install rage --version 0.12 --root /tmp/rage
# (or set RAGE=/path/to/rage). Without it the rage rows say "not installed".
# Every tool's output is synced to disk inside its timing (webqx-sec syncs before its
# rename; age and rage are followed by `sync FILE`), so all pay the same for the disk.
# Prints a Markdown report; docs/benchmarks.md records the latest one.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-2048}
RAGE=${RAGE:-/tmp/rage/bin/rage}

for tool in age age-keygen openssl /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

cargo build --release -q -p webqx-cli
BIN=$PWD/target/release/webqx-sec
WORK=$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}")
cleanup() {
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- a private server for the data key ---------------------------------------------
DATA=$WORK/data
PORT=$(free_port)
"$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do [ -f "$DATA/addr" ] && break; sleep 0.1; done
"$BIN" --data-dir "$DATA" key create files >/dev/null

PLAIN=$WORK/plain
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$PLAIN"
# The input's own writeback must not be charged to whichever tool runs first.
sync
BYTES=$(stat -c %s "$PLAIN")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# measure NAME CMD...: runs CMD under /usr/bin/time -v; sets SECS and RSS_MIB.
measure() {
    local name=$1
    shift
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$WORK/time.$name" "$@"
    end=$(date +%s.%N)
    SECS=$(echo "$end - $start" | bc -l)
    RSS_MIB=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$WORK/time.$name")
}

mbps() { echo "scale=0; $BYTES / $1 / 1000000" | bc -l; }

declare -A ENC DEC ENC_RSS DEC_RSS

# best A B: the larger of two MB/s figures (A may be empty).
best() { if [ -z "${1:-}" ] || [ "$2" -gt "$1" ]; then echo "$2"; else echo "$1"; fi; }

# run_tool NAME ENC DEC: one encrypt and one decrypt; keeps the best MB/s over rounds.
run_tool() {
    local tool=$1 enc_cmd=$2 dec_cmd=$3
    rm -f "$WORK/ct" "$WORK/out"
    measure "$tool-enc" bash -c "$enc_cmd"
    ENC[$tool]=$(best "${ENC[$tool]:-}" "$(mbps "$SECS")")
    ENC_RSS[$tool]=$RSS_MIB
    sync
    measure "$tool-dec" bash -c "$dec_cmd"
    DEC[$tool]=$(best "${DEC[$tool]:-}" "$(mbps "$SECS")")
    DEC_RSS[$tool]=$RSS_MIB
    cmp -s "$PLAIN" "$WORK/out" || { echo "$tool: round trip differs" >&2; exit 1; }
    rm -f "$WORK/ct" "$WORK/out"
    sync
}

W="$BIN --data-dir $DATA"
age-keygen -o "$WORK/age.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/age.key")
# Rounds alternate the tools, so that none always runs first or after the same one; the
# table keeps each tool's best round (the disk's own hiccups only ever slow a run down).
for _ in $(seq 1 "${ROUNDS:-3}"); do
    run_tool webqx-sec \
        "$W file encrypt $PLAIN $WORK/ct --key files" \
        "$W file decrypt $WORK/ct $WORK/out"
    run_tool age \
        "age -r $RECIPIENT -o $WORK/ct $PLAIN && sync $WORK/ct" \
        "age -d -i $WORK/age.key -o $WORK/out $WORK/ct && sync $WORK/out"
    if [ -x "$RAGE" ]; then
        run_tool rage \
            "$RAGE -r $RECIPIENT -o $WORK/ct $PLAIN && sync $WORK/ct" \
            "$RAGE -d -i $WORK/age.key -o $WORK/out $WORK/ct && sync $WORK/out"
    fi
done

# openssl speed: 128 KiB blocks (webqx-sec's segment size), one core and every core.
speed() {
    openssl speed -evp aes-256-gcm -bytes 131072 -seconds 3 "$@" 2>/dev/null |
        awk 'tolower($1) == "aes-256-gcm" {v=$NF; sub(/k$/, "", v); printf "%d", v * 1000 / 1000000}'
}
SSL_ONE=$(speed)
SSL_ALL=$(speed -multi "$(nproc)")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { [ -n "${2:-}" ] && echo "scale=2; $1 / $2" | bc -l || echo "-"; }

echo "## File encryption, $SIZE_MIB MiB ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
echo "Files in $(df --output=fstype "$WORK" | tail -n 1) ($(dirname "$WORK")). Load average before: $LOAD_BEFORE; after: $LOAD_AFTER."
echo
echo "| tool | encrypt MB/s | decrypt MB/s | encrypt vs age | decrypt vs age | peak RSS encrypt | peak RSS decrypt |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for tool in webqx-sec age rage; do
    if [ -z "${ENC[$tool]:-}" ]; then
        echo "| $tool | not installed | | | | | |"
        continue
    fi
    echo "| $tool | ${ENC[$tool]} | ${DEC[$tool]} | $(ratio "${ENC[$tool]}" "${ENC[age]}")x | $(ratio "${DEC[$tool]}" "${DEC[age]}")x | ${ENC_RSS[$tool]} MiB | ${DEC_RSS[$tool]} MiB |"
done
echo "| openssl speed aes-256-gcm, 1 core | $SSL_ONE | | | | | |"
echo "| openssl speed aes-256-gcm, $(nproc) cores | $SSL_ALL | | | | | |"
