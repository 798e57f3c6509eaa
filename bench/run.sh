#!/usr/bin/env bash
# Benchmark: webqx-sec encrypt of 1 KiB over HTTPS keep-alive beside nginx serving a
# static 1 KiB file over TLS 1.3, with the same client (wrk), the same certificate and
# the same machine; plus batch encryption throughput and resident memory.
#
#   bash bench/run.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Prints a Markdown report; docs/benchmarks.md records the latest one.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNS=${2:-32}
THREADS=2

for tool in nginx wrk curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        apt-get -o DPkg::Lock::Timeout=300 update -qq
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq nginx-light wrk curl >/dev/null
        break
    fi
done

cargo build --release -q -p webqx-cli
BIN=$PWD/target/release/webqx-sec
WORK=$(mktemp -d)
cleanup() {
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# --- webqx-sec -------------------------------------------------------------------
DATA=$WORK/data
PORT=$(free_port)
"$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do [ -f "$DATA/addr" ] && break; sleep 0.1; done
sleep 3
RSS_IDLE=$(rss_kib "$SERVER_PID")
TOKEN=$(cat "$DATA/admin.token")
"$BIN" --data-dir "$DATA" key create bench >/dev/null

PLAIN_B64=$(head -c 1024 /dev/urandom | base64 -w0)
cat >"$WORK/encrypt.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"plaintext":"$PLAIN_B64"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
python3 - "$WORK/batch.json" "$PLAIN_B64" <<'PY'
import json, sys
json.dump({"batch_input": [{"plaintext": sys.argv[2]}] * 1000}, open(sys.argv[1], "w"))
PY
cat >"$WORK/batch.lua" <<LUA
wrk.method = "POST"
local f = io.open("$WORK/batch.json", "r"); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

# --- nginx, same certificate, TLS 1.3 only ---------------------------------------
NPORT=$(free_port)
mkdir -p "$WORK/nginx/www" "$WORK/nginx/logs"
head -c 1024 /dev/urandom >"$WORK/nginx/www/1k"
cat >"$WORK/nginx/nginx.conf" <<CONF
user $(id -un);
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT ssl http2;
        ssl_protocols TLSv1.3;
        ssl_certificate $DATA/tls/server.pem;
        ssl_certificate_key $DATA/tls/server.key;
        root $WORK/nginx/www;
    }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
sleep 1

run_wrk() { wrk -t"$THREADS" -c"$1" -d"${DURATION}s" --latency "${@:2}"; }
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }

curl -sf --cacert "$DATA/tls/ca.pem" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"plaintext\":\"$PLAIN_B64\"}" "https://127.0.0.1:$PORT/v1/keys/bench/encrypt" >/dev/null
curl -sf --cacert "$DATA/tls/ca.pem" "https://localhost:$NPORT/1k" -o /dev/null || {
    echo "nginx does not serve the file:"; cat "$WORK/nginx/logs/error.log"; exit 1; }

run_wrk "$CONNS" -s "$WORK/encrypt.lua" "https://127.0.0.1:$PORT/v1/keys/bench/encrypt" >"$WORK/wq.txt"
run_wrk "$CONNS" "https://127.0.0.1:$NPORT/1k" >"$WORK/nginx.txt"
run_wrk 4 -s "$WORK/batch.lua" "https://127.0.0.1:$PORT/v1/keys/bench/encrypt" >"$WORK/batch.txt"
sleep 5
RSS_AFTER=$(rss_kib "$SERVER_PID")

WQ=$(rate "$WORK/wq.txt"); NG=$(rate "$WORK/nginx.txt"); BATCH=$(rate "$WORK/batch.txt")
grep -q "Non-2xx" "$WORK/wq.txt" && { echo "encrypt run had errors:"; cat "$WORK/wq.txt"; exit 1; }
RECORDS=$("$BIN" --data-dir "$DATA" --json audit verify --remote | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')

cat <<REPORT
| measure | webqx-sec | nginx | ratio |
| --- | --- | --- | --- |
| requests/s, 1 KiB, TLS 1.3 keep-alive, $CONNS connections, ${DURATION}s | $WQ (encrypt) | $NG (static file) | $(python3 -c "print(f'{$WQ/$NG:.2f}')") |
| p99 latency | $(p99 "$WORK/wq.txt") | $(p99 "$WORK/nginx.txt") | |
| batch encrypt, 1000 x 1 KiB per request, 4 connections | $(python3 -c "print(f'{$BATCH*1000:.0f}')") items/s | | |
| resident memory idle after start | $((RSS_IDLE / 1024)) MiB | | |
| resident memory idle after the runs | $((RSS_AFTER / 1024)) MiB | | |

Audit records written during the run (every request is audited): $RECORDS.
Machine: $(nproc) cores, $(uname -r); client and servers share the cores.
REPORT
echo
echo "--- wrk, webqx-sec encrypt"; cat "$WORK/wq.txt"
echo "--- wrk, nginx static"; cat "$WORK/nginx.txt"
echo "--- wrk, batch encrypt"; cat "$WORK/batch.txt"
