#!/usr/bin/env bash
# The main job, end to end: the real portsyncd against a throwaway Redis and
# real kernel links in a throwaway network namespace, narrated.
#
#  1. installs redis-server and iproute2 if missing, builds portsyncd;
#  2. starts redis-server on a unix socket in a temp dir, with a SONiC
#     database_config.json for it, and seeds CONFIG_DB with 4 ports;
#  3. creates a namespace holding Ethernet0 from "an earlier run" (it will be
#     brought down and ignored, as SONiC's portsyncd does on a cold start);
#  4. checks the settings with --check-config (nothing touched), then
#     starts portsyncd in the namespace; plays orchagent+syncd by creating
#     each port's host interface once APPL_DB has it;
#  5. flaps Ethernet4 (admin up, carrier down/up via its peer, MTU), breaks
#     Ethernet12 out (APPL_DB first: its MTU change is not written) and
#     deletes it, printing STATE_DB after each step;
#  6. bad input: a second portsyncd is refused before touching anything; a
#     free-text description that is not UTF-8 is carried byte for byte (as
#     SONiC does); LOGLEVEL changed + SIGHUP takes effect at once;
#  7. health and liveness: supervisord's heartbeat on stdout every 2 s (as
#     SONiC's swss container would watch it); Redis stopped for 6 s while a
#     port flaps: health degrades, recovers, and STATE_DB catches up;
#  8. self-healing: STATE_DB corrupted behind its back is repaired by a
#     reconciliation (SIGUSR1 asks for one at once);
#  9. metrics and alerts: the Prometheus endpoint on the namespace's loopback
#     (read with bash's /dev/tcp: no client needed), an alert rule firing
#     while Redis is stopped and resolving after;
# 10. stops portsyncd with SIGTERM, shows the warm-restart snapshot it left
#     (written beside its event loop), and cleans everything up.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
cargo build -q --release -p portsyncd
bin="$PWD/target/release/portsyncd"

work="$(mktemp -d)"
ns="psdemo$$"
redis_pid=""
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

sock="$work/redis.sock"
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" --appendonly no \
    --dir "$work" --daemonize no --loglevel warning >/dev/null &
redis_pid=$!
for _ in $(seq 100); do redis-cli -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
cat > "$work/database_config.json" <<JSON
{
  "INSTANCES": { "redis": { "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "$sock" } },
  "DATABASES": {
    "APPL_DB": { "id": 0, "separator": ":", "instance": "redis" },
    "CONFIG_DB": { "id": 4, "separator": "|", "instance": "redis" },
    "STATE_DB": { "id": 6, "separator": "|", "instance": "redis" }
  },
  "VERSION": "1.0"
}
JSON
cat > "$work/portsyncd.conf" <<'TOML'
[log]
output = "STDERR"
[liveness]
supervisor_heartbeat_ms = 2000
[metrics]
addr = "127.0.0.1:9101"
# The shipped rules, plus one quick enough to see here.
[[alerts.rule]]
name = "RedisAway"
metric = "portsyncd_redis_connected"
below = 1
for_ms = 500
severity = "MAJOR"
TOML
cfg() { redis-cli -s "$sock" -n 4 "$@" >/dev/null; }
appl() { redis-cli -s "$sock" -n 0 "$@"; }
state_db() { redis-cli -s "$sock" -n 6 "$@"; }
for i in 0 1 2 3; do
    cfg HSET "PORT|Ethernet$((i * 4))" admin_status up alias "etp$((i + 1))" index "$i" \
        lanes "$((i * 4)),$((i * 4 + 1)),$((i * 4 + 2)),$((i * 4 + 3))" mtu 9100 speed 100000
done
# A free-text description in Latin-1 (not UTF-8): Redis values are bytes.
printf 'HSET PORT|Ethernet8 description "caf\\xe9 uplink"\n' | redis-cli -s "$sock" -n 4 >/dev/null
echo "== CONFIG_DB: 4 ports (Ethernet0..Ethernet12); Ethernet8's description is not UTF-8"

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add Ethernet0 type veth peer name old0
ip -n "$ns" link set Ethernet0 up
echo "== namespace $ns: Ethernet0 exists from an earlier run (ifindex $(ip -n "$ns" -o link show Ethernet0 | cut -d: -f1))"

echo "== portsyncd --check-config: the settings and database_config.json checked, nothing touched"
"$bin" --check-config --db-config "$work/database_config.json" --config "$work/portsyncd.conf" \
    --state-dir "$work/state" | sed -n '1p;6,9p;/coalesce_window_ms/p;/reconcile.interval_ms/p;/liveness/p'

echo "== starting portsyncd"
ip netns exec "$ns" "$bin" --db-config "$work/database_config.json" --config "$work/portsyncd.conf" \
    --state-dir "$work/state" &
daemon_pid=$!

# A scrape of the metrics endpoint, inside the namespace (its loopback).
scrape() {
    ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9101 &&
        printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' | grep -E "$1" | sed 's/^/   /'
}

show() {
    echo "-- STATE_DB after: $1"
    for key in $(state_db --scan --pattern 'PORT_TABLE|*' | sort); do
        printf '   %-22s %s\n' "$key" "$(state_db HGETALL "$key" | paste -sd' ' -)"
    done
}

# orchagent + syncd: once APPL_DB PORT_TABLE has a port, create its host interface.
for _ in $(seq 100); do [ "$(appl SCARD PORT_TABLE_KEY_SET)" -ge 5 ] && break; sleep 0.05; done
echo "== APPL_DB queued for orchagent: $(appl SMEMBERS PORT_TABLE_KEY_SET | sort | paste -sd' ' -)"
echo "   PortConfigDone: $(appl HGETALL _PORT_TABLE:PortConfigDone | paste -sd' ' -)"
for key in $(appl SMEMBERS PORT_TABLE_KEY_SET); do
    appl EVAL "redis.call('HSET', 'PORT_TABLE:'..ARGV[1], unpack(redis.call('HGETALL', '_PORT_TABLE:'..ARGV[1]))) redis.call('DEL', '_PORT_TABLE:'..ARGV[1]) redis.call('SREM', 'PORT_TABLE_KEY_SET', ARGV[1])" 0 "$key" >/dev/null
    case "$key" in Ethernet*)
        ip -n "$ns" link del "$key" 2>/dev/null || true
        ip -n "$ns" link add "$key" type veth peer name "v${key#Ethernet}"
        ip -n "$ns" link set "v${key#Ethernet}" up ;;
    esac
done
sleep 0.5
show "orchagent popped the ports and syncd created their host interfaces"
echo "   APPL_DB PortInitDone: $(appl HGETALL _PORT_TABLE:PortInitDone | paste -sd' ' -)"

ip -n "$ns" link set Ethernet4 up; sleep 0.5; show "ip link set Ethernet4 up"
ip -n "$ns" link set v4 down; sleep 0.5; show "its peer down (carrier lost)"
ip -n "$ns" link set v4 up; sleep 0.5; show "its peer up again"
ip -n "$ns" link set Ethernet4 mtu 9100; sleep 0.3; show "ip link set Ethernet4 mtu 9100"
# Dynamic port breakout: APPL_DB loses the port first (portmgrd's delete,
# popped by orchagent), its host interface only later. A link event in
# between writes nothing: each STATE_DB write checks APPL_DB as it lands.
appl DEL PORT_TABLE:Ethernet12 >/dev/null
ip -n "$ns" link set Ethernet12 mtu 4000; sleep 0.3
show "breakout: APPL_DB PORT_TABLE:Ethernet12 deleted, then its MTU set to 4000 (not written)"
ip -n "$ns" link del Ethernet12; sleep 0.3; show "ip link del Ethernet12"
echo "-- metrics meanwhile (what 'curl -s 127.0.0.1:9101/metrics' shows inside the namespace; read here"
echo "   with bash's /dev/tcp, so that no client is needed), the flaps and health among them:"
sleep 1
scrape '^portsyncd_port_flaps_total\{port="Ethernet4"\}|^portsyncd_health_(state |info)|^portsyncd_state_db_(writes|deletes)_total '

echo "== bad input"
echo "-- APPL_DB PORT_TABLE:Ethernet8 description, byte for byte: $(appl --no-raw HGET PORT_TABLE:Ethernet8 description)"
echo "-- a second portsyncd in the same namespace:"
if ip netns exec "$ns" "$bin" --db-config "$work/database_config.json" --config "$work/portsyncd.conf" \
    --state-dir "$work/state2" 2>&1 | sed 's/^/   /'; then :; fi
echo "-- LOGLEVEL INFO in CONFIG_DB, then SIGHUP (read at once; each link event is now logged):"
cfg HSET "LOGGER|portsyncd" LOGLEVEL INFO
kill -HUP "$daemon_pid"; sleep 0.3
ip -n "$ns" link set Ethernet4 down; sleep 0.3

echo "== health and alerts: Redis stopped (SIGSTOP) for 6 s while Ethernet4 comes back up"
kill -STOP "$redis_pid"
ip -n "$ns" link set Ethernet4 up
sleep 6
kill -CONT "$redis_pid"
sleep 1.5
show "Redis answering again"

echo "== self-healing: STATE_DB changed behind portsyncd's back, then SIGUSR1 (reconcile now;"
echo "   every [reconcile] interval_ms, 5 min by default, it does so by itself)"
state_db DEL "PORT_TABLE|Ethernet0" >/dev/null
state_db HSET "PORT_TABLE|Ethernet4" netdev_oper_status down >/dev/null
state_db HSET "PORT_TABLE|Ethernet12" state ok admin_status up netdev_oper_status up mtu 9100 >/dev/null
show "Ethernet0 deleted, Ethernet4 said down, Ethernet12 (no link) written back"
kill -USR1 "$daemon_pid"; sleep 0.5
show "SIGUSR1: the kernel dumped, STATE_DB read back, 3 entries repaired, nothing else written"

echo "== metrics (Prometheus text at 127.0.0.1:9101/metrics in the namespace), a few of them:"
scrape '^portsyncd_(state_db_writes|appl_db_produces|netlink_datagrams|redis_reconnects)_total |^portsyncd_port_flaps_total|^portsyncd_health_state |^portsyncd_port_init_done_seconds |^portsyncd_event_to_write_seconds_(count|bucket\{le="0.005"\})|^portsyncd_alerts|^process_resident_memory_bytes '

echo "== stopping portsyncd (SIGTERM)"
kill -TERM "$daemon_pid"
wait "$daemon_pid" && echo "== portsyncd exited 0"
daemon_pid=""
echo "== the warm-restart snapshot it left (written beside the event loop, by a thread per save:"
echo "   at most every 10 s while ports change, and on SIGTERM)"
ls -l "$work/state/portsyncd.snapshot" | awk '{ print "   " $5 " bytes, " $NF }' | sed "s|$work/||"
