#!/usr/bin/env bash
# Smoke-runs every fuzz target for SECONDS (default 20) each, seeded with the
# kernel fixtures and with earlier findings (fuzz/regressions/<target>/). Needs the nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Usage: fuzz/smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
seeds=../core/tests/fixtures/kernel
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    extra=()
    case "$target" in parse_*) extra+=("$seeds") ;; esac
    if [ -d "regressions/$target" ]; then extra+=("regressions/$target"); fi
    echo "== $target: ${seconds}s"
    cargo +nightly fuzz run "$target" "corpus/$target" "${extra[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY|Done)' || true
    if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "findings in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
