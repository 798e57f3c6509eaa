#!/usr/bin/env bash
# The server's monitor under a password spray from one address, beside ordinary
# OpenSSH lines (issue 7; docs/benchmarks.md). The same inputs as bench/hunt_spray.sh:
# LINES failed passwords for invalid users from 10.9.9.9, and LINES lines of the
# repeated OpenSSH log. Each goes into a fresh `serve` (SQLite, release build) with
# `webqx-sec events send`; the time is from the start of the send until
# /v1/sys/health shows every event accepted and the queue empty.
#
#   bash bench/server_spray.sh [LINES] [BINARY] [PORT]
#     LINES   lines of each input (default 100000)
#     BINARY  default target/release/webqx-sec
#     PORT    127.0.0.1 port for the servers (default 18443)
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-100000}"
bin="${2:-target/release/webqx-sec}"
port="${3:-18443}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p webqx-cli" >&2; exit 2; }
[[ "$lines" =~ ^[1-9][0-9]*$ ]] || { echo "LINES must be a positive integer" >&2; exit 2; }
command -v curl >/dev/null || { echo "install curl" >&2; exit 2; }
bin=$(realpath "$bin")

work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
echo "date: $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg); binary: $bin"

bash bench/spray_inputs.sh "$lines" "$work"

addr="https://127.0.0.1:$port"
for f in mixed spray; do
    data="$work/data-$f"
    "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" > "$work/serve-$f.log" 2>&1 &
    pid=$!
    for _ in $(seq 120); do
        "$bin" status --data-dir "$data" --addr "$addr" > /dev/null 2>&1 && break
        sleep 0.5
    done
    health() { curl -s --cacert "$data/tls/ca.pem" "$addr/v1/sys/health"; }
    start=$(date +%s.%N)
    "$bin" events send --data-dir "$data" --addr "$addr" "$work/$f.log" > "$work/send-$f.txt" || {
        echo "$f: events send failed:" >&2
        tail -n 5 "$work/send-$f.txt" >&2
        exit 1
    }
    sent=$(date +%s.%N)
    # Drained: every line accepted over HTTP and nothing queued (ten minutes at most).
    waited=0
    until health | grep -q "\"queued\":0,.*\"http\":$lines[,}]"; do
        waited=$((waited + 1))
        if [ "$waited" -gt 6000 ]; then
            echo "$f: the server did not accept all $lines lines within ten minutes:" >&2
            cat "$work/send-$f.txt" >&2
            exit 1
        fi
        sleep 0.1
    done
    end=$(date +%s.%N)
    alerts=$("$bin" alerts list --data-dir "$data" --addr "$addr" --limit 1000 --json 2>/dev/null |
        grep -o '"rule_id"' | wc -l || true)
    awk -v f="$f" -v n="$lines" -v a="$start" -v b="$sent" -v c="$end" -v k="$alerts" 'BEGIN {
        printf "%-6s %d lines: sent in %.1f s, drained in %.1f s = %.0f events/s; %d alerts\n",
            f, n, b - a, c - a, n / (c - a), k }'
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
done
