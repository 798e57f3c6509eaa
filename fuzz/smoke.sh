#!/usr/bin/env bash
# Builds every fuzz target on the stable toolchain and runs each for a bounded time,
# starting from a copy of its seeds. Exits non-zero if a target fails to build or
# crashes; the crashing input is kept under fuzz/artifacts/<target>/.
#
#   bash fuzz/smoke.sh [SECONDS_PER_TARGET]   (default 20)
#
# Targets come from `cargo fuzz list`; among them tang_jwk (the Tang /rec JWK parser).
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds per target, a positive integer]" >&2
    exit 2
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir"

# Stable Rust has no AddressSanitizer for cargo-fuzz: panics, aborts and overflow
# checks are what these runs catch.
sanitizer=(--sanitizer none)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing; installing it" >&2
    cargo install cargo-fuzz --locked
fi

mapfile -t targets < <(cargo fuzz list)
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "no fuzz targets found in $fuzz_dir" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "building ${#targets[@]} targets"
cargo fuzz build "${sanitizer[@]}"

failed=()
for target in "${targets[@]}"; do
    corpus="$work/$target"
    mkdir -p "$corpus"
    if [[ -d "seeds/$target" ]]; then
        cp -- "seeds/$target"/* "$corpus"/
    fi

    echo "fuzzing $target for ${seconds}s"
    # -rss_limit_mb guards the 2-core CI machine; -max_len leaves room for seeds.
    if ! cargo fuzz run "${sanitizer[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
        -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz smoke run FAILED: ${failed[*]} (inputs under $fuzz_dir/artifacts/)" >&2
    exit 1
fi
echo "fuzz smoke run passed: ${targets[*]}, ${seconds}s each"
