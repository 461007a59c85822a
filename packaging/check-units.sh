#!/usr/bin/env bash
# The systemd units' gates (issue 14): `systemd-analyze verify` (the units are
# well formed, their ExecStart is an executable, every dependency resolves) and
# `systemd-analyze security --offline=true --threshold=20` (an exposure of at
# most 2.0 of 10), for portsyncd.service and an instance of the per-namespace
# template, portsyncd@asic0.service.
#
# usage: packaging/check-units.sh BINARY
# The units are checked in a scratch root holding this machine's own systemd
# units, the units under test, and BINARY as /usr/bin/portsyncd.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: packaging/check-units.sh BINARY}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -r /lib/systemd/system "$root/usr/lib/systemd/"
install -m 0755 "$bin" "$root/usr/bin/portsyncd"
cp packaging/systemd/portsyncd.service packaging/systemd/portsyncd@.service "$root/etc/systemd/system/"
units=(portsyncd.service portsyncd@asic0.service)
systemd-analyze verify --root="$root" "${units[@]}"
echo "units: systemd-analyze verify passed (${units[*]})"
systemd-analyze security --offline=true --root="$root" --threshold=20 --no-pager "${units[@]}" |
    grep -E '^→ Overall exposure'
echo "units: exposure at most 2.0 (systemd-analyze security --threshold=20)"
