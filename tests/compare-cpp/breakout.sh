#!/usr/bin/env bash
# Dynamic port breakout, run against SONiC's C++ portsyncd and ours in the
# same way, STATE_DB diffed (issue 21). Each daemon gets its own redis-server,
# network namespace and swss-common's real ConsumerStateTable client
# (mock_orchagent, from ../shared/reference/cpp-portsyncd) with the syncd side
# of benches/hostifs.py. The sequence, after PortInitDone: Ethernet0's MTU
# set (a port APPL_DB holds: written); a ProducerStateTable delete of APPL_DB
# PORT_TABLE:Ethernet0 (as portmgrd sends it), popped by the consumer; then
# Ethernet0's MTU and admin state changed (APPL_DB no longer holds it); then
# Ethernet4 changed (holds: written); then Ethernet0's host interface deleted.
# STATE_DB PORT_TABLE is printed after the gap's events and at the end, for
# both; the script exits 1 if they differ.
#
# usage (root): tests/compare-cpp/breakout.sh   [CPP_PORTSYNCD_DIR=...] [PORTSYNCD_BIN=<a build of ours>]
set -euo pipefail
cd "$(dirname "$0")/../.."
cpp="$(realpath "${CPP_PORTSYNCD_DIR:-$PWD/../shared/reference/cpp-portsyncd}")"
[ -x "$cpp/sonic-run" ] || { echo "no C++ portsyncd at $cpp" >&2; exit 2; }
. benches/lib.sh
bench_tools
"$cpp/install-deps.sh"
if [ -n "${PORTSYNCD_BIN:-}" ]; then ours="$PORTSYNCD_BIN"; else
    cargo build -q --release -p portsyncd
    ours="$PWD/target/release/portsyncd"
fi
pids=(); nss=(); dirs=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${nss[@]}"; do ip netns del "$p" 2>/dev/null || true; done
    for p in "${dirs[@]}"; do rm -rf "$p"; done
}
trap cleanup EXIT
exec 3>&2 2>/dev/null  # the killed helpers' job lines; errors of our own go to fd 3

# STATE_DB PORT_TABLE, one line per key, fields sorted.
state_db() {  # socket
    local k
    for k in $(redis-cli -s "$1" -n 6 KEYS 'PORT_TABLE|*' | sort); do
        echo "$k $(redis-cli -s "$1" -n 6 HGETALL "$k" | paste - - | sort | tr '\t\n' '= ')"
    done
}
wait_key() {  # socket db key want(1 present|0 absent)
    local _
    for _ in $(seq 500); do
        [ "$(redis-cli -s "$1" -n "$2" EXISTS "$3")" = "$4" ] && return 0
        sleep 0.02
    done
    echo "timed out waiting for $3" >&3; return 1
}
wait_field() {  # socket key field value
    local _
    for _ in $(seq 500); do
        [ "$(redis-cli -s "$1" -n 6 HGET "$2" "$3")" = "$4" ] && return 0
        sleep 0.02
    done
    echo "timed out waiting for $2 $3=$4" >&3; return 1
}

run() {  # kind cmd out-prefix
    local kind=$1 cmd=$2 out=$3 work ns sock port pid
    work="$(mktemp -d)"; dirs+=("$work"); ns="psbo$$$kind"; sock="$work/redis.sock"
    port=$(free_port)
    redis_start "$work" "$port"; pids+=("$redis_pid")
    db_config "$sock" "$work/db.json" "$port"
    printf '[log]\noutput = "STDERR"\n' > "$work/p.conf"
    seed_ports "$sock" 2
    [ "$kind" != cpp ] || redis-cli -s "$sock" -n 4 HSET "LOGGER|portsyncd" LOGLEVEL NOTICE LOGOUTPUT STDERR >/dev/null
    ip netns add "$ns"; nss+=("$ns")
    mkfifo "$work/fifo"
    python3 benches/hostifs.py "$work/fifo" "$ns" & pids+=($!)
    "$cpp/sonic-run" "$work/db.json" mock_orchagent "$work/fifo" 100 > "$work/orch.out" 2>&1 & pids+=($!)
    until grep -q READY "$work/orch.out" 2>/dev/null; do sleep 0.01; done
    DB_CONFIG="$work/db.json" WORK="$work" ip netns exec "$ns" sh -c "exec $cmd" > "$work/out" 2> "$work/log" &
    pid=$!; pids+=("$pid")
    wait_key "$sock" 0 "PORT_TABLE:PortInitDone" 1
    for p in 0 4; do ip -n "$ns" link set "v$p" up; done
    wait_field "$sock" "PORT_TABLE|Ethernet4" netdev_oper_status down
    ip -n "$ns" link set Ethernet0 mtu 9100
    wait_field "$sock" "PORT_TABLE|Ethernet0" mtu 9100
    # Breakout: APPL_DB's entry goes first (a ProducerStateTable delete), popped by the consumer.
    printf 'SADD PORT_TABLE_KEY_SET Ethernet0\nSADD PORT_TABLE_DEL_SET Ethernet0\nDEL _PORT_TABLE:Ethernet0\nPUBLISH PORT_TABLE_CHANNEL@0 G\n' \
        | redis-cli -s "$sock" -n 0 >/dev/null
    wait_key "$sock" 0 "PORT_TABLE:Ethernet0" 0
    ip -n "$ns" link set Ethernet0 mtu 1500
    ip -n "$ns" link set Ethernet0 up
    ip -n "$ns" link set Ethernet4 mtu 9000
    wait_field "$sock" "PORT_TABLE|Ethernet4" mtu 9000
    sleep 0.5
    state_db "$sock" > "$out.gap"
    # orchagent removed the port; its host interface goes.
    ip -n "$ns" link del Ethernet0
    wait_key "$sock" 6 "PORT_TABLE|Ethernet0" 0 || true
    sleep 0.5
    state_db "$sock" > "$out.end"
    kill -TERM "$pid" 2>/dev/null || true
}

out="$(mktemp -d)"; dirs+=("$out")
run cpp "$cpp/sonic-run \$DB_CONFIG portsyncd" "$out/cpp"
run ours "$ours --db-config \$DB_CONFIG --config \$WORK/p.conf --state-dir \$WORK/state" "$out/ours"
status=0
for step in gap end; do
    echo "== STATE_DB PORT_TABLE after the $step: C++ daemon"
    cat "$out/cpp.$step"
    echo "== ours"
    cat "$out/ours.$step"
    if diff -u "$out/cpp.$step" "$out/ours.$step"; then echo "== same"; else status=1; fi
done
exit $status
