#!/usr/bin/env bash
# `webqx-sec hunt` beside fail2ban-regex and rsigma (issue 7): builds a large sshd log
# by repeating ../shared/data/ssh-logs/loghub_OpenSSH_2k.log, then measures in one run
#   1. webqx-sec hunt over the whole file: lines/s and max RSS (/usr/bin/time -v),
#      with --threads 2 and --threads 1;
#   2. fail2ban-regex --raw with Debian's sshd filter over a slice (it is ~100x slower;
#      the slice's lines/s is what is compared);
#   3. rsigma engine eval (0.23.0) with the same rule pack (rules/), re-alerts held back
#      10 minutes like our engine's realert_secs, over the same events
#      as NDJSON, written by `webqx-sec hunt --emit-events` from a slice;
# and prints the ratios.
#
#   bash bench/hunt.sh [SIZE_MB] [SLICE_LINES] [BINARY]
#     SIZE_MB      size of the repeated log (default 1024)
#     SLICE_LINES  lines given to fail2ban-regex and rsigma (default 200000)
#     BINARY       default target/release/webqx-sec
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb="${1:-1024}"
slice="${2:-200000}"
bin="${3:-target/release/webqx-sec}"
src=../shared/data/ssh-logs/loghub_OpenSSH_2k.log
rsigma="${RSIGMA:-$HOME/.cargo/bin/rsigma}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p webqx-cli" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "install Debian's time (apt-get install time)" >&2; exit 2; }
command -v fail2ban-regex >/dev/null || { echo "install Debian's fail2ban" >&2; exit 2; }
[ -x "$rsigma" ] || { echo "rsigma 0.23.0 expected at $rsigma" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "date: $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc)"
echo "binary: $bin; rsigma: $("$rsigma" --version 2>&1 | head -1)"
echo "fail2ban: $(fail2ban-regex --version 2>&1 | head -1)"

# The sample has no final newline: awk 1 adds it, so copies do not run together.
awk 1 "$src" > "$work/one.log"
one=$(wc -c < "$work/one.log")
copies=$(( size_mb * 1024 * 1024 / one + 1 ))
for _ in $(seq "$copies"); do cat "$work/one.log"; done > "$work/big.log"
lines=$(wc -l < "$work/big.log")
echo "input: $copies copies, $lines lines, $(( $(wc -c < "$work/big.log") / 1048576 )) MiB"

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
elapsed() { grep 'Elapsed (wall clock)' "$1" | awk '{print $NF}' |
    awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }'; }
rss() { grep 'Maximum resident' "$1" | awk '{print $NF}'; }

for threads in 2 1; do
    /usr/bin/time -v "$bin" hunt --threads "$threads" --fail-on none --year 2026 \
        "$work/big.log" > "$work/alerts.txt" 2> "$work/hunt$threads.time"
    grep '^hunt: [0-9]* lines' "$work/hunt$threads.time" || true
    s=$(elapsed "$work/hunt$threads.time")
    eval "hunt_rate_$threads=$(rate "$lines" "$s")"
    eval "echo \"webqx-sec hunt --threads $threads: $lines lines in $s s = \$hunt_rate_$threads lines/s, max RSS $(rss "$work/hunt$threads.time") KiB\""
done
echo "alerts (last run): $(($(wc -l < "$work/alerts.txt") - 1))"

head -n "$slice" "$work/big.log" > "$work/slice.log"
/usr/bin/time -v fail2ban-regex --raw "$work/slice.log" /etc/fail2ban/filter.d/sshd.conf \
    > "$work/f2b.txt" 2> "$work/f2b.time"
grep '^Lines:' "$work/f2b.txt"
s=$(elapsed "$work/f2b.time")
f2b_rate=$(rate "$slice" "$s")
echo "fail2ban-regex: $slice lines in $s s = $f2b_rate lines/s, max RSS $(rss "$work/f2b.time") KiB"

"$bin" hunt --threads 1 --fail-on none --year 2026 --emit-events "$work/events.ndjson" \
    "$work/slice.log" > /dev/null 2>&1
/usr/bin/time -v "$rsigma" engine eval -r rules --no-detections --suppress 10m --output-format ndjson \
    -e "@$work/events.ndjson" > "$work/rsigma.out" 2> "$work/rsigma.time" || true
grep -v '^\s' "$work/rsigma.time" | grep -iv 'command being' | head -3 || true
s=$(elapsed "$work/rsigma.time")
rsigma_rate=$(rate "$slice" "$s")
echo "rsigma engine eval: $slice events in $s s = $rsigma_rate events/s, max RSS $(rss "$work/rsigma.time") KiB, $(wc -l < "$work/rsigma.out") matches"

/usr/bin/time -v "$bin" hunt --threads 2 --fail-on none --year 2026 "$work/slice.log" \
    > /dev/null 2> "$work/hslice.time"
s=$(elapsed "$work/hslice.time")
echo "webqx-sec hunt on the same slice: $slice lines in $s s = $(rate "$slice" "$s") lines/s"

echo "ratios: hunt/fail2ban-regex = $(awk -v a="$hunt_rate_2" -v b="$f2b_rate" 'BEGIN{printf "%.1f", a/b}')x," \
    "hunt/rsigma = $(awk -v a="$hunt_rate_2" -v b="$rsigma_rate" 'BEGIN{printf "%.2f", a/b}')x"
