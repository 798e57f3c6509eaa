#!/usr/bin/env bash
# Access tokens: verifications and issues per second through webqx-oauth beside raw
# aws-lc-rs on the same signing input (crates/oauth/examples/jwt_bench.rs), then PyJWT
# verifying the very same tokens (bench/pyjwt_verify.py). One thread each.
#
#   bash bench/oauth_jwt.sh [SECONDS_PER_FIGURE]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3}"
python3 -c 'import jwt, cryptography' 2>/dev/null || pip install --quiet pyjwt
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo build --release --quiet -p webqx-oauth --example jwt_bench
JWT_BENCH_OUT="$out" ./target/release/examples/jwt_bench "$seconds"
python3 bench/pyjwt_verify.py "$out" "$seconds"
