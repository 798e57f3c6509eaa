#!/usr/bin/env bash
# `webqx-sec vuln` beside cargo-audit (issue 8): imports all of ../shared/data/osv into a
# fresh database (timed), then scans the same Cargo.lock files with both tools through
# hyperfine (one process per lock, RUNS runs each, default 20) and prints each mean,
# their sums and the ratio.
#
#   bash bench/vuln_scan.sh [LOCK_DIR] [BINARY]
#     LOCK_DIR  extra locks (default $WEBQX_AGREEMENT_LOCKS; see .ci/agreement-locks.sh)
#     BINARY    default target/release/webqx-sec, falling back to target/debug/webqx-sec
#
# cargo-audit reads a git copy of ../shared/data/osv/rustsec-advisory-db, made here as
# /tmp/advisory-db-copy when missing (the same advisories as the OSV export we import).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/data/osv
locks_dir="${1:-${WEBQX_AGREEMENT_LOCKS:-}}"
bin="${2:-target/release/webqx-sec}"
[ -x "$bin" ] || bin=target/debug/webqx-sec
[ -x "$bin" ] || { echo "build webqx-sec first (cargo build --release -p webqx-cli)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "install hyperfine (Debian: hyperfine)" >&2; exit 2; }
cargo audit --version >/dev/null || { echo "cargo install cargo-audit --locked" >&2; exit 2; }
echo "binary: $bin; load: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc)"

adb=/tmp/advisory-db-copy
if [ ! -d "$adb/.git" ]; then
    rm -rf "$adb"
    cp -r "$shared/rustsec-advisory-db" "$adb"
    (cd "$adb" && git init -q && git add -A &&
        git -c user.name=bench -c user.email=bench@localhost commit -qm snapshot)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== import of all of $shared (RustSec, Go, PyPA, samples)"
start=$(date +%s.%N)
"$bin" vuln db import --db "$work/db" "$shared/rustsec-osv/crates" \
    "$shared/go-vulndb-osv/data/osv" "$shared/pypa-advisory-db/vulns" "$shared/samples"
end=$(date +%s.%N)
printf 'import: %.2f s\n' "$(echo "$end - $start" | bc)"

locks=("$shared"/lockfiles/*Cargo.lock)
if [ -n "$locks_dir" ]; then locks+=("$locks_dir"/*.Cargo.lock); fi
echo "== scans of ${#locks[@]} Cargo.lock files"
# One process per lock and tool, no shell between (hyperfine -N); exit status 1 (found
# vulnerabilities) is expected, so -i. A scan that could not run (exit 2 or more) would
# time an error: each lock is scanned once first and must exit 0 or 1.
for f in "${locks[@]}"; do
    set +e
    "$bin" vuln scan "$f" --db "$work/db" --format json >/dev/null 2>"$work/err"
    rc=$?
    set -e
    [ "$rc" -le 1 ] || { echo "webqx-sec vuln scan $f exited $rc: $(cat "$work/err")" >&2; exit 1; }
done
list=$(IFS=,; echo "${locks[*]}")
hyperfine -N -i --warmup 2 --runs "${RUNS:-20}" --export-json "$work/h.json" -L lock "$list" \
    "$bin vuln scan {lock} --db $work/db --format json" \
    "cargo audit --no-fetch --no-yanked --db $adb -f {lock}" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
ours = theirs = 0.0
for x in json.load(open(sys.argv[1]))["results"]:
    words = x["command"].split()
    tool = "webqx-sec" if "vuln" in words else "cargo-audit"
    lock = next(w for w in words if w.endswith("Cargo.lock"))
    if tool == "webqx-sec":
        ours += x["mean"]
    else:
        theirs += x["mean"]
    print(f"{tool:12} {x['mean'] * 1000:8.1f} ms (sd {x['stddev'] * 1000:.1f}) {lock.rsplit('/', 1)[-1]}")
print(f"all locks, sum of means: webqx-sec {ours:.3f} s, cargo-audit {theirs:.3f} s, "
      f"ratio cargo-audit/webqx-sec = {theirs / ours:.1f}x")
PY
