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
# promtool checks the metrics text (Debian ships it in the prometheus package).
command -v promtool >/dev/null || missing+=(prometheus)
# The fleet test (tests/e2e/fleet.rs) runs a real Prometheus (the same package)
# and a real Alertmanager.
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
# systemd-analyze checks the units (packaging/check-deb.sh); installing the
# package starts nothing where systemd is not the init.
command -v systemd-analyze >/dev/null || missing+=(systemd)
# curl scrapes the metrics endpoint as another user would (tests/e2e/endpoint.rs,
# multi_asic.rs); setpriv and unshare are util-linux's, always there.
command -v curl >/dev/null || missing+=(curl)
# groff renders portsyncd(8) in its test (daemon/tests/man_page.rs).
command -v groff >/dev/null || missing+=(groff-base)
# The shell completions run in their shells (daemon/tests/completions.rs).
command -v zsh >/dev/null || missing+=(zsh)
command -v fish >/dev/null || missing+=(fish)
# The package's lintian check, its upgrade under supervisord
# (packaging/check-deb.sh) and the supervisord end-to-end test.
command -v lintian >/dev/null || missing+=(lintian)
command -v supervisord >/dev/null || missing+=(supervisor)
# The real rsyslogd, run privately by the syslog restart test (tests/e2e/syslog.rs).
command -v rsyslogd >/dev/null || missing+=(rsyslog)
# A disk whose fsyncs stall, by strace's fault injection (tests/e2e/state_dir.rs).
command -v strace >/dev/null || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
    # Install only: no service is started (the prometheus and alertmanager
    # servers and the system rsyslog would be).
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
    [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi

# Unit, scenario, fixture and allocation tests of every crate, plus doc tests
# and a build of every example. The output is kept to total it at the end.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# The build that ships (README, "Building for a switch"): static, on musl. The
# end-to-end suite runs again against it (PORTSYNCD_BIN).
musl_target="$(uname -m)-unknown-linux-musl"
rustup target list --installed | grep -qx "$musl_target" || rustup target add "$musl_target"
cargo build -q --release --locked -p portsyncd --target "$musl_target"
PORTSYNCD_BIN="$PWD/target/$musl_target/release/portsyncd" cargo test -p portsyncd --test e2e 2>&1 | tee -a "$log"
# The Debian package of that build: lintian; installed into a clean root:
# --version and --check-config from there, and the installed systemd units'
# gates (systemd-analyze verify, exposure at most 2.0); upgraded under the real
# supervisord, removed and purged in another. Installs cargo-deb if missing.
packaging/check-deb.sh
# The core builds on its own with no default features...
cargo build -q -p portsyncd-core --no-default-features
# ...links into a binary without std (a duplicate panic handler would fail
# the link if anything pulled std in), and runs there.
cargo run -q --manifest-path core/no-std-check/Cargo.toml
echo "no_std check: portsyncd-core links and runs without std"
# loom: every interleaving of the handoffs between the daemon's threads
# (the sync funnel is a crate of its own: nothing else is built with --cfg loom).
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p portsyncd-sync --test loom 2>&1 | tee -a "$log"
# Documentation builds without warnings.
RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps

# One closing line for the whole run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' "$log"
