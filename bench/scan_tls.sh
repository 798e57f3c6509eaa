#!/usr/bin/env bash
# Wall time of `webqx-sec scan tls` beside sslyze on the same endpoint (issue 5 target:
# at least 5x faster). Starts two private `openssl s_server` endpoints on loopback:
#   weak    TLS 1.0 + 1.2, ALL:@SECLEVEL=0 (many suites: the scanners' worst case)
#   default OpenSSL's defaults (TLS 1.2 + 1.3)
# and times each tool RUNS times per endpoint, printing the median and best.
#
#   bash bench/scan_tls.sh [RUNS] [BINARY]    (defaults: 5, target/release/webqx-sec,
#                                              falling back to target/debug/webqx-sec)
# sslyze runs the same checks as webqx-sec: certinfo (with the same CA file), the five
# protocol versions' suites, elliptic curves, HTTP headers.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
bin="${2:-target/release/webqx-sec}"
[ -x "$bin" ] || bin=target/debug/webqx-sec
[ -x "$bin" ] || { echo "build webqx-sec first (cargo build --release -p webqx-cli)" >&2; exit 2; }
python3 -m sslyze --help >/dev/null || { echo "pip install sslyze" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$work/ca.key" -out "$work/ca.pem" -subj /CN=BenchCA \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
    -out "$work/leaf.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n' \
    > "$work/ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 20 -extfile "$work/ext" -out "$work/leaf.pem" 2>/dev/null

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
serve() {
    local p=$1; shift
    openssl s_server -quiet -www -accept "127.0.0.1:$p" -cert "$work/leaf.pem" \
        -key "$work/leaf.key" "$@" </dev/null >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return; sleep 0.1; done
    echo "s_server on $p did not start" >&2; exit 1
}

ms() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; echo $(( ($(date +%s%N) - s) / 1000000 )); }
stats() { sort -n | awk '{a[NR]=$1} END {printf "%d %d\n", a[int((NR+1)/2)], a[1]}'; }

printf '| endpoint | webqx-sec median (best) | sslyze median (best) | speed-up (median) |\n'
printf '| --- | --- | --- | --- |\n'
for endpoint in weak default; do
    p=$(port)
    if [ "$endpoint" = weak ]; then
        serve "$p" -min_protocol TLSv1 -max_protocol TLSv1.2 -no_tls1_1 -cipher 'ALL:@SECLEVEL=0'
    else
        serve "$p"
    fi
    ours=(); theirs=()
    for _ in $(seq "$runs"); do
        ours+=("$(ms "$bin" scan tls --json --sni localhost --ca-file "$work/ca.pem" "127.0.0.1:$p")")
        theirs+=("$(ms python3 -m sslyze --quiet --certinfo --certinfo_ca_file="$work/ca.pem" \
            --http_headers --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 --elliptic_curves \
            --json_out="$work/s.json" "localhost:$p{127.0.0.1}")")
    done
    read -r om ob < <(printf '%s\n' "${ours[@]}" | stats)
    read -r tm tb < <(printf '%s\n' "${theirs[@]}" | stats)
    printf '| %s | %d ms (%d) | %d ms (%d) | %sx |\n' "$endpoint" "$om" "$ob" "$tm" "$tb" \
        "$(awk -v a="$tm" -v b="$om" 'BEGIN {printf "%.1f", a / (b ? b : 1)}')"
done
echo
echo "binary: $bin; runs: $runs; $(python3 -m sslyze --help >/dev/null && pip show sslyze 2>/dev/null | grep ^Version)"
