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
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r), redis $(redis-server --version | grep -o 'v=[0-9.]*'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes')"
}

# Waits until the machine is quiet: under 15 % of all CPUs busy in two 0.5 s
# windows in a row (the previous run's namespace is torn down by kernel workers
# after `ip netns del` returns; another build may be running). Gives up after
# 20 s with a note on stderr. Prints the busy % of the last window.
wait_quiet() {
    local deadline=$(( $(date +%s) + 20 )) ok=0 a b busy
    while [ "$ok" -lt 2 ]; do
        a=$(awk '/^cpu / {print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat); sleep 0.5
        b=$(awk '/^cpu / {print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)
        busy=$(echo "$a $b" | awk '{ t = $3 - $1; i = $4 - $2; v = 0; if (t > 0) v = 100 * (t - i) / t; printf "%d\n", v }')
        if [ "$busy" -lt 15 ]; then ok=$((ok + 1)); else ok=0; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then echo "bench: machine still ${busy}% busy after 20 s; measuring anyway" >&2; break; fi
    done
    echo "$busy"
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
# CPU time from /proc/PID/stat: "utime stime" in ms (clock ticks of 10 ms).
# The process's own line sums every thread, those that ended included.
cpu_stat() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d %d\n", $12 * 1000 / hz, $13 * 1000 / hz }' "/proc/$1/stat"; }
# CPU time of each live thread: "tid comm µs" per line (schedstat: ns).
thread_cpu() {  # pid
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s %d\n' "${t##*/}" "$(tr ' ' _ < "$t/comm")" "$(awk '{print int($1 / 1000)}' "$t/schedstat")"
    done
}
# CPU time of every thread but the main one (µs).
other_threads_us() { thread_cpu "$1" | awk -v main="$1" '$1 != main {s += $3} END {printf "%d\n", s}'; }
# Memory a process holds, from /proc/PID/smaps_rollup: "<Private_Dirty>
# <Pss>" in KiB. Private dirty: pages only this process has written (its heap,
# stacks, written data), what it really costs a machine; PSS: resident pages,
# each shared page divided by the number of processes mapping it.
smaps_kib() {  # pid
    if [ -r "/proc/$1/smaps_rollup" ]; then
        awk '/^Private_Dirty:/ { d = $2 } /^Pss:/ { p = $2 } END { printf "%d %d\n", d, p }' "/proc/$1/smaps_rollup"
    else echo "0 0"; fi
}
# Sleeps so far, all threads (the sum of voluntary_ctxt_switches): a thread
# that waits (epoll_wait, a blocking recv, a Redis reply) and is woken counts
# one. Its difference over a storm is the process's wake-ups.
wakeups() {  # pid
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches:/ { s += $2 } END { printf "%d\n", s }'
}
# Notifications the kernel dropped for PID's netlink sockets (their sk_drops in
# /proc/PID/net/netlink, matched by inode): events the process never saw.
netlink_drops() {  # pid
    local inodes
    inodes=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | paste -sd' ' -)
    awk -v inodes=" $inodes " 'NR > 1 && index(inodes, " " $10 " ") { d += $9 } END { printf "%d\n", d }' "/proc/$1/net/netlink"
}
# The receive buffer (sk_rcvbuf, bytes) of the rtnetlink socket in namespace
# NS that joined the link group, the largest if several (run it when only the
# daemon listens there).
link_rcvbuf() {  # ns
    ip netns exec "$1" ss -f netlink -e -m | awk '$3 ~ /^rtnl:/ && $3 !~ /:kernel$/ && /groups=0x[0-9a-f]*[13579bdf][^0-9a-f]/ {
        if (match($0, /rb[0-9]+/)) { v = substr($0, RSTART + 2, RLENGTH - 2) + 0; if (v > m) m = v } } END { printf "%d\n", m }'
}
# Bytes queued in PID's netlink sockets, not yet read (their Rmem).
netlink_queued() {  # pid
    local inodes
    inodes=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | paste -sd' ' -)
    awk -v inodes=" $inodes " 'NR > 1 && index(inodes, " " $10 " ") { q += $5 } END { printf "%d\n", q }' "/proc/$1/net/netlink"
}
# Calls of the given Redis commands so far, added up (INFO commandstats; a
# command a script runs counts too), e.g. `calls SOCK hset del`.
calls() {  # socket command...
    local sock=$1; shift
    redis-cli -s "$sock" INFO commandstats | tr -d '\r' | awk -v want=" $* " -F'[:=,]' \
        '/^cmdstat_/ { c = substr($1, 9); if (index(want, " " c " ")) n += $3 } END { printf "%d\n", n }'
}
# STATE_DB against the kernel for every Ethernet* link in namespace NS (admin =
# IFF_UP, oper = IFF_RUNNING, mtu; a STATE_DB port without a link counts too):
# prints "<links that differ> <links>", and the first differences on stderr.
state_vs_kernel() {  # socket ns
    ip netns exec "$2" python3 "$(dirname "${BASH_SOURCE[0]}")/statecheck.py" "$1"
}
# Redis commands served so far, without the benchmark's own (INFO, EVAL, ...).
commands() { redis-cli -s "$1" INFO commandstats | grep -v -E '^cmdstat_(info|eval|script|ping|config|select|client|hello)' | grep -o 'calls=[0-9]*' | cut -d= -f2 | paste -sd+ - | bc; }
# Counts STATE_DB ports matching admin/oper/mtu.
matching() {
    redis-cli -s "$1" -n 6 EVAL "local n = 0; for _, k in ipairs(redis.call('KEYS', 'PORT_TABLE|Ethernet*')) do
        local h = redis.call('HGETALL', k); local f = {}; for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
        if f.admin_status == ARGV[1] and f.netdev_oper_status == ARGV[2] and f.mtu == ARGV[3] then n = n + 1 end end; return n" 0 "$2" "$3" "$4"
}

# Starts a redis-server on the unix socket DIR/redis.sock (no persistence; no
# TCP unless PORT is given: then also 127.0.0.1:PORT) and waits for it to
# answer. Sets redis_pid (declare it local in the caller to keep it there).
redis_start() {  # dir [tcp-port]
    redis-server --port "${2:-0}" --bind 127.0.0.1 --unixsocket "$1/redis.sock" --save "" --appendonly no --dir "$1" --daemonize no --loglevel warning >/dev/null &
    redis_pid=$!
    for _ in $(seq 100); do redis-cli -s "$1/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.02; done
}
# A SONiC database_config.json for that Redis: APPL_DB 0, CONFIG_DB 4, STATE_DB 6.
# PORT: the instance's TCP port (default 6379, which nothing listens on unless
# redis_start was given it); clients that connect over TCP (swss-common's
# mock_orchagent) need the real one.
db_config() {  # socket file [tcp-port]
    printf '{"INSTANCES":{"redis":{"hostname":"127.0.0.1","port":%s,"unix_socket_path":"%s"}},"DATABASES":{"APPL_DB":{"id":0,"separator":":","instance":"redis"},"CONFIG_DB":{"id":4,"separator":"|","instance":"redis"},"STATE_DB":{"id":6,"separator":"|","instance":"redis"}},"VERSION":"1.0"}' "${3:-6379}" "$1" > "$2"
}
# A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# CONFIG_DB PORT|Ethernet0, Ethernet4, ... : N ports.
seed_ports() {  # socket N
    local i
    for i in $(seq 0 $(($2 - 1))); do
        echo "HSET PORT|Ethernet$((i * 4)) admin_status up alias etp$i index $i lanes $((i*4)),$((i*4+1)),$((i*4+2)),$((i*4+3)) mtu 9100 speed 100000"
    done | redis-cli -s "$1" -n 4 >/dev/null
}
# `ip -batch` files in DIR: add.batch creates the N host interfaces (veth
# EthernetX with peer vX), peers.batch brings the peers up. With PEER_NS, each
# peer vX is created in that namespace (run add.batch in the daemon's
# namespace and peers.batch in PEER_NS): the daemon's namespace then hears only
# its own ports' notifications, as on a switch, where the other end of a port
# is not a netdev of the host. Without it, both ends are in one namespace.
host_batches() {  # N dir [peer-ns]
    local i peer=""
    [ -z "${3:-}" ] || peer=" netns $3"
    for i in $(seq 0 $(($1 - 1))); do echo "link add Ethernet$((i * 4)) type veth peer name v$((i * 4))$peer"; done > "$2/add.batch"
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
