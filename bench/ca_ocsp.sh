#!/usr/bin/env bash
# OCSP responder throughput: webqx-sec (`POST /v1/pki/ocsp`, HTTPS TLS 1.3 keep-alive)
# beside OpenSSL's own responder (`openssl ocsp -index`, plain HTTP, its own P-256 CA,
# 2 worker processes; it listens on every interface, being given only a port),
# both driven by wrk with the same kind of request (one SHA-1
# CertID, no nonce) for a good certificate. Prints a Markdown table.
#
#   bash bench/ca_ocsp.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-16}

for tool in wrk openssl curl; do
    command -v "$tool" >/dev/null 2>&1 ||
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq wrk openssl curl >/dev/null
done
cargo build --release -q -p webqx-cli
BIN=$PWD/target/release/webqx-sec
WORK=$(mktemp -d)
cleanup() {
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
    # openssl ocsp -multi: its worker processes first, then the parent.
    [ -n "${PEER_PID:-}" ] && { pkill -TERM -P "$PEER_PID" 2>/dev/null; kill "$PEER_PID" 2>/dev/null; } || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Our server and a certificate it issued.
export WEBQX_DATA_DIR=$WORK/data
"$BIN" serve --listen "127.0.0.1:$(free_port)" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [ -f "$WORK/data/addr" ] && break; sleep 0.1; done
ADDR=$(cat "$WORK/data/addr")
"$BIN" cert issue localhost --out-cert "$WORK/chain.pem" --out-key "$WORK/leaf.key" \
    --out-root "$WORK/root.pem" 2>/dev/null
awk '/BEGIN CERT/{n++} {print > ("'"$WORK"'/c" n ".pem")}' "$WORK/chain.pem"
openssl ocsp -issuer "$WORK/c2.pem" -cert "$WORK/c1.pem" -no_nonce -reqout "$WORK/ours.req" 2>/dev/null

# The peer: OpenSSL's CA files and responder.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=peer-ca -keyout "$WORK/peer-ca.key" -out "$WORK/peer-ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$WORK/peer-leaf.key" -out "$WORK/peer-leaf.csr" 2>/dev/null
openssl x509 -req -in "$WORK/peer-leaf.csr" -CA "$WORK/peer-ca.pem" -CAkey "$WORK/peer-ca.key" \
    -set_serial 0x1234 -days 30 -out "$WORK/peer-leaf.pem" 2>/dev/null
printf 'V\t%s\t\t1234\tunknown\t/CN=localhost\n' "$(date -u -d '+30 days' +%y%m%d%H%M%SZ)" \
    >"$WORK/index.txt"
PEER_PORT=$(free_port)
openssl ocsp -index "$WORK/index.txt" -port "$PEER_PORT" -rsigner "$WORK/peer-ca.pem" \
    -rkey "$WORK/peer-ca.key" -CA "$WORK/peer-ca.pem" -multi 2 -ignore_err \
    >"$WORK/peer.log" 2>&1 &
PEER_PID=$!
openssl ocsp -issuer "$WORK/peer-ca.pem" -cert "$WORK/peer-leaf.pem" -no_nonce \
    -reqout "$WORK/peer.req" 2>/dev/null
sleep 1

# Both answer "good" with a signature that verifies.
curl -s --cacert "$WORK/data/tls/ca.pem" --data-binary @"$WORK/ours.req" \
    -H 'content-type: application/ocsp-request' "$ADDR/v1/pki/ocsp" -o "$WORK/ours.resp"
openssl ocsp -respin "$WORK/ours.resp" -issuer "$WORK/c2.pem" -cert "$WORK/c1.pem" \
    -CAfile "$WORK/root.pem" -no_nonce 2>&1 | grep -q ': good'
curl -s --data-binary @"$WORK/peer.req" -H 'content-type: application/ocsp-request' \
    "http://127.0.0.1:$PEER_PORT/" -o "$WORK/peer.resp"
openssl ocsp -respin "$WORK/peer.resp" -issuer "$WORK/peer-ca.pem" -cert "$WORK/peer-leaf.pem" \
    -CAfile "$WORK/peer-ca.pem" -no_nonce 2>&1 | grep -q ': good'

lua() {
    cat >"$WORK/$1.lua" <<LUA
local f = io.open("$2", "rb"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA
}
lua ours "$WORK/ours.req"
lua peer "$WORK/peer.req"
ours=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/ours.lua" "$ADDR/v1/pki/ocsp")
peer=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/peer.lua" "http://127.0.0.1:$PEER_PORT/")
rate() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
echo "| responder | requests/s ($CONNS connections, ${DURATION} s) |"
echo "| --- | --- |"
echo "| webqx-sec POST /v1/pki/ocsp (HTTPS, TLS 1.3) | $(rate "$ours") |"
echo "| openssl ocsp -index -multi 2 (plain HTTP) | $(rate "$peer") |"
echo
echo '```'
echo "$ours"
echo "$peer"
echo '```'
