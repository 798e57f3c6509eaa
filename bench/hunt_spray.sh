#!/usr/bin/env bash
# `webqx-sec hunt` on a password spray from one address, beside the repeated OpenSSH
# log of bench/hunt.sh: the worst case of a `value_count` correlation, whose window for
# that address fills up (issue 7's bounded state; docs/benchmarks.md).
#
# The spray: LINES failed passwords for invalid users (seven names in turn) from
# 10.9.9.9, twenty a second, each on its own sshd process. Both files are read with
# --threads 1; the figures are hunt's own lines/s.
#
#   bash bench/hunt_spray.sh [LINES] [BINARY]
#     LINES   spray lines (default 100000)
#     BINARY  default target/release/webqx-sec
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-100000}"
bin="${2:-target/release/webqx-sec}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p webqx-cli" >&2; exit 2; }
[[ "$lines" =~ ^[1-9][0-9]*$ ]] || { echo "LINES must be a positive integer" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "date: $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg); binary: $bin"

bash bench/spray_inputs.sh "$lines" "$work"

for f in mixed spray; do
    printf '%-6s ' "$f"
    "$bin" hunt --threads 1 --fail-on none --year 2026 "$work/$f.log" 2>&1 >/dev/null | tail -n 1
done
