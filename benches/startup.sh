#!/usr/bin/env bash
# Start-up of portsyncd with N ports, R times: time from start to PortInitDone,
# the daemon's CPU time at that moment (/proc/PID/schedstat, ns) and its peak
# RSS (VmHWM). Real redis-server on a unix socket, real veth host interfaces in
# a fresh namespace, an orchagent stand-in that pops APPL_DB and creates every
# host interface in one `ip -batch` as soon as PortConfigDone is queued.
# Usage (root): benches/startup.sh [N=64] [R=5]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-64}"
reps="${2:-5}"
cargo build -q --release -p portsyncd
bin="$PWD/target/release/portsyncd"

one_run() {
    local work ns sock redis_pid daemon_pid
    work="$(mktemp -d)"; ns="psbench$$x$1"; sock="$work/redis.sock"
    redis-server --port 0 --unixsocket "$sock" --save "" --appendonly no --dir "$work" --daemonize no \
        --loglevel warning >/dev/null &
    redis_pid=$!
    for _ in $(seq 100); do redis-cli -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.02; done
    printf '{"INSTANCES":{"redis":{"hostname":"127.0.0.1","port":6379,"unix_socket_path":"%s"}},"DATABASES":{"APPL_DB":{"id":0,"separator":":","instance":"redis"},"CONFIG_DB":{"id":4,"separator":"|","instance":"redis"},"STATE_DB":{"id":6,"separator":"|","instance":"redis"}},"VERSION":"1.0"}' "$sock" > "$work/db.json"
    printf '[log]\noutput = "STDERR"\n' > "$work/p.conf"
    for i in $(seq 0 $((n - 1))); do
        echo "HSET PORT|Ethernet$((i * 4)) admin_status up alias etp$i index $i lanes $((i*4)),$((i*4+1)),$((i*4+2)),$((i*4+3)) mtu 9100 speed 100000"
    done | redis-cli -s "$sock" -n 4 >/dev/null
    ip netns add "$ns"
    for i in $(seq 0 $((n - 1))); do
        echo "link add Ethernet$((i * 4)) type veth peer name v$((i * 4))"
    done > "$work/links.batch"
    ip netns exec "$ns" "$bin" --db-config "$work/db.json" --config "$work/p.conf" --state-dir "$work/state" \
        2> "$work/log" &
    daemon_pid=$!
    # orchagent: once PortConfigDone is queued, pop everything and create the host interfaces.
    for _ in $(seq 2000); do
        [ "$(redis-cli -s "$sock" -n 0 SISMEMBER PORT_TABLE_KEY_SET PortConfigDone)" = 1 ] && break; sleep 0.001
    done
    redis-cli -s "$sock" -n 0 EVAL "for _, k in ipairs(redis.call('SMEMBERS', 'PORT_TABLE_KEY_SET')) do local f = redis.call('HGETALL', '_PORT_TABLE:'..k); if #f > 0 then redis.call('HSET', 'PORT_TABLE:'..k, unpack(f)) end; redis.call('DEL', '_PORT_TABLE:'..k); redis.call('SREM', 'PORT_TABLE_KEY_SET', k) end" 0 >/dev/null
    ip -n "$ns" -batch "$work/links.batch"
    for _ in $(seq 5000); do grep -q "PortInitDone after" "$work/log" && break; sleep 0.001; done
    local init cpu_ns hwm
    init="$(grep -o 'PortInitDone after [0-9]* ms' "$work/log" | grep -o '[0-9]*')"
    cpu_ns="$(cut -d' ' -f1 "/proc/$daemon_pid/schedstat")"
    hwm="$(grep VmHWM "/proc/$daemon_pid/status" | tr -s ' ' | cut -d' ' -f2)"
    kill -TERM "$daemon_pid"; wait "$daemon_pid" || true
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
    ip netns del "$ns"; rm -rf "$work"
    echo "$init $((cpu_ns / 1000)) $hwm"
}

results=()
for r in $(seq "$reps"); do results+=("$(one_run "$r")"); done
col() { printf '%s\n' "${results[@]}" | cut -d' ' -f"$1" | sort -n; }
stat3() { local v; mapfile -t v < <(col "$1"); echo "${v[0]} / ${v[$(( ${#v[@]} / 2 ))]} / ${v[-1]}"; }
echo "## portsyncd start-up, $n ports, $reps runs (min / median / max)"
echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| start → PortInitDone (ms) | daemon CPU at PortInitDone (µs) | peak RSS (KiB) |"
echo "|---:|---:|---:|"
echo "| $(stat3 1) | $(stat3 2) | $(stat3 3) |"
