# shellcheck shell=bash
# What the end-to-end benchmarks (e2e.sh, soak.sh) share: the tools they need,
# clock and CPU readings, a throwaway redis-server with a SONiC
# database_config.json, CONFIG_DB ports, veth host interfaces, and the
# orchagent stand-in. Sourced from the repository root; it only defines
# functions.

# Installs what the benchmarks run (as root, with apt-get) when it is missing.
bench_tools() {
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v bc >/dev/null || missing+=(bc)
    command -v python3 >/dev/null || missing+=(python3)
    [ ${#missing[@]} -eq 0 ] || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
}

# The machine, Redis and commit the figures come from, as one line.
machine_line() {
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r), redis $(redis-server --version | grep -o 'v=[0-9.]*'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# CPU time of the whole process (every thread: the redis crate runs tasks on its own), in µs.
cpu_us() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%d\n", ns / 1000}'; }
# Waits until the daemon's CPU time has not moved for 300 ms; prints when it last moved (ms).
wait_idle() {
    local pid=$1 last moved cpu
    last=$(cpu_us "$pid"); moved=$(now_ms)
    while [ $(( $(now_ms) - moved )) -lt 300 ]; do
        sleep 0.02
        cpu=$(cpu_us "$pid")
        if [ "$cpu" != "$last" ]; then last=$cpu; moved=$(now_ms); fi
    done
    echo "$moved"
}
# Redis commands served so far, without the benchmark's own (INFO, EVAL, ...).
commands() { redis-cli -s "$1" INFO commandstats | grep -v -E '^cmdstat_(info|eval|script|ping|config|select|client|hello)' | grep -o 'calls=[0-9]*' | cut -d= -f2 | paste -sd+ - | bc; }
# Counts STATE_DB ports matching admin/oper/mtu.
matching() {
    redis-cli -s "$1" -n 6 EVAL "local n = 0; for _, k in ipairs(redis.call('KEYS', 'PORT_TABLE|Ethernet*')) do
        local h = redis.call('HGETALL', k); local f = {}; for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
        if f.admin_status == ARGV[1] and f.netdev_oper_status == ARGV[2] and f.mtu == ARGV[3] then n = n + 1 end end; return n" 0 "$2" "$3" "$4"
}

# Starts a redis-server on the unix socket DIR/redis.sock (no TCP, no persistence)
# and waits for it to answer. Sets redis_pid (declare it local in the caller to
# keep it there).
redis_start() {  # dir
    redis-server --port 0 --unixsocket "$1/redis.sock" --save "" --appendonly no --dir "$1" --daemonize no --loglevel warning >/dev/null &
    redis_pid=$!
    for _ in $(seq 100); do redis-cli -s "$1/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.02; done
}
# A SONiC database_config.json for that Redis: APPL_DB 0, CONFIG_DB 4, STATE_DB 6.
db_config() {  # socket file
    printf '{"INSTANCES":{"redis":{"hostname":"127.0.0.1","port":6379,"unix_socket_path":"%s"}},"DATABASES":{"APPL_DB":{"id":0,"separator":":","instance":"redis"},"CONFIG_DB":{"id":4,"separator":"|","instance":"redis"},"STATE_DB":{"id":6,"separator":"|","instance":"redis"}},"VERSION":"1.0"}' "$1" > "$2"
}
# CONFIG_DB PORT|Ethernet0, Ethernet4, ... : N ports.
seed_ports() {  # socket N
    local i
    for i in $(seq 0 $(($2 - 1))); do
        echo "HSET PORT|Ethernet$((i * 4)) admin_status up alias etp$i index $i lanes $((i*4)),$((i*4+1)),$((i*4+2)),$((i*4+3)) mtu 9100 speed 100000"
    done | redis-cli -s "$1" -n 4 >/dev/null
}
# `ip -batch` files in DIR: add.batch creates the N host interfaces (veth
# EthernetX with peer vX), peers.batch brings the peers up.
host_batches() {  # N dir
    local i
    for i in $(seq 0 $(($1 - 1))); do echo "link add Ethernet$((i * 4)) type veth peer name v$((i * 4))"; done > "$2/add.batch"
    for i in $(seq 0 $(($1 - 1))); do echo "link set v$((i * 4)) up"; done > "$2/peers.batch"
}
# Waits until APPL_DB has PortConfigDone queued. With PID, gives up (status 1)
# if that process is gone.
wait_config_done() {  # socket [pid]
    until [ "$(redis-cli -s "$1" -n 0 SISMEMBER PORT_TABLE_KEY_SET PortConfigDone)" = 1 ]; do
        [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
        sleep 0.001
    done
}
# Waits until APPL_DB has PortInitDone (queued or popped). With PID, as above.
wait_init_done() {  # socket [pid]
    until [ "$(redis-cli -s "$1" -n 0 EXISTS _PORT_TABLE:PortInitDone PORT_TABLE:PortInitDone)" != 0 ]; do
        [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
        sleep 0.001
    done
}
# orchagent: pops everything queued in APPL_DB PORT_TABLE (the producer's
# _PORT_TABLE:<key> hashes and key set) into PORT_TABLE:<key>.
orchagent_pop() {  # socket
    redis-cli -s "$1" -n 0 EVAL "for _, k in ipairs(redis.call('SMEMBERS', 'PORT_TABLE_KEY_SET')) do local f = redis.call('HGETALL', '_PORT_TABLE:'..k); if #f > 0 then redis.call('HSET', 'PORT_TABLE:'..k, unpack(f)) end; redis.call('DEL', '_PORT_TABLE:'..k); redis.call('SREM', 'PORT_TABLE_KEY_SET', k) end" 0 >/dev/null
}
