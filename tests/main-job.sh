#!/usr/bin/env bash
# The main job, end to end, as far as the project goes today: real kernel
# links in a throwaway network namespace → raw rtnetlink bytes → portsyncd's
# core → the Redis writes and link actions it decides, printed.
#
# It creates veth ports named like switch ports (Ethernet0/4/8/12 before the
# "start", Ethernet16/20 after), flaps one (admin, carrier, MTU), enslaves one
# to a bridge, adds a PortChannel and a port whose name contains '|', deletes
# ports, then replays what the kernel said through the core as a cold start
# with CONFIG_DB ports Ethernet16 and Ethernet20. Needs root; installs
# iproute2 and python3 if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

capture="$(mktemp -d)"
trap 'rm -rf "$capture"' EXIT
echo "== capturing rtnetlink messages from a fresh network namespace"
python3 core/tests/fixtures/capture.py "$capture"
echo "== captured $(ls "$capture"/*.bin | wc -l) datagrams; replaying them through the core"
cargo run -q --release -p portsyncd-core --example replay -- --ports Ethernet16,Ethernet20 "$capture"
