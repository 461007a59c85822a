#!/usr/bin/env bash
# Runs every test of portsyncd, after installing what the tests need on a
# Debian machine when it is missing. Run it as root: the end-to-end tests
# create network namespaces and links (each in a namespace of its own).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v cc >/dev/null || missing+=(gcc)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

# Unit, scenario, fixture and allocation tests of every crate, plus doc tests
# and a build of every example. The output is kept to total it at the end.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# The core builds on its own with no default features...
cargo build -q -p portsyncd-core --no-default-features
# ...links into a binary without std (a duplicate panic handler would fail
# the link if anything pulled std in), and runs there.
cargo run -q --manifest-path core/no-std-check/Cargo.toml
echo "no_std check: portsyncd-core links and runs without std"
# Documentation builds without warnings.
RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps

# One closing line for the whole run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' "$log"
