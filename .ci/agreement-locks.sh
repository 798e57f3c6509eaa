#!/usr/bin/env bash
# Downloads the Cargo.lock of six real projects at old releases (from their crates.io
# .crate archives, which carry the lock of a binary crate) into DIR, for the
# cargo-audit agreement test (crates/cli/tests/vuln.rs reads $WEBQX_AGREEMENT_LOCKS).
# The locks belong to those projects and are never committed. Idempotent: a lock
# already in DIR is kept. Every archive is checked against its sha256 before use.
set -euo pipefail
dir=${1:?usage: agreement-locks.sh DIR}
mkdir -p "$dir"
# NAME VERSION SHA256 of NAME-VERSION.crate (recorded 2026-12-05).
while read -r name version sum; do
    out="$dir/$name-$version.Cargo.lock"
    [ -s "$out" ] && continue
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    curl -fsSL --retry 3 -o "$tmp/c.crate" \
        "https://static.crates.io/crates/$name/$name-$version.crate"
    echo "$sum  $tmp/c.crate" | sha256sum -c --quiet -
    tar -xzf "$tmp/c.crate" -C "$tmp" "$name-$version/Cargo.lock"
    mv "$tmp/$name-$version/Cargo.lock" "$out.part"
    mv "$out.part" "$out"
    rm -rf "$tmp"
    trap - EXIT
done <<'LIST'
ripgrep 11.0.2 d903146d825e92f77f95d1e1e8e5272f42253978c07d58c2294467a14dca126f
bat 0.15.0 c511711c116f9845e4a8212e21f72c4201414649c9e7e584ab8a68cd0ad2de46
fd-find 8.0.0 c2c514a6aab9cfbfc920668f39bb745e4ac24545408ab817aa8a4554f639e635
hyperfine 1.10.0 d3a10992f4fd470843f823e1e4784f1cd0237708e5158f54d011dac088e9d231
tokei 12.0.0 eae11be73ce01c6e59da06c9124e2c343862f5d270bb598ce254492d3f22cd83
cargo-edit 0.6.0 96c6c218e759311574120f7ac8fd6b0c3ed155e1240c00f751a2f47c10068e8a
LIST
