#!/usr/bin/env bash
# portsyncd soak: many storms in a row against the real daemon, watching that
# its memory, file descriptors and threads stay flat.
#
# usage (root): benches/soak.sh [-n PORTS=64] [-s STORMS=1000] [--bin PATH]
#
# Sets up like e2e.sh (benches/lib.sh): a throwaway redis-server on a unix
# socket, a SONiC database_config.json, PORTS ports in CONFIG_DB, a network
# namespace whose veth host interfaces are created once the orchagent stand-in
# has popped APPL_DB. Starts portsyncd (the release build, or --bin PATH) and
# waits for PortInitDone. Then STORMS storms, each one `ip -batch`:
#   - every 25th storm first deletes one port and creates it again (a DELLINK,
#     then NEWLINKs of a new ifindex), rotating through the ports;
#   - every port down, then every port up;
#   - every 10th storm, then, a new MTU on every port (9000 <-> 9100);
#   - last, the last port's MTU becomes the storm's marker, one below the
#     ports' MTU on odd storms and equal to it on even ones. Without it every
#     storm ends in the same all-up state, and STATE_DB would look converged
#     before the daemon had read anything. It adds one link event per storm.
# After each storm it waits (up to 30 s) until STATE_DB shows every port up/up
# with its expected MTU (one EVAL per poll); every 100 storms, and at the end,
# it compares STATE_DB with the kernel's flags and MTU of every Ethernet* link
# (and no key for a link that is gone). It samples the daemon's VmRSS, VmHWM,
# open fds, threads and CPU time after storms 1, 10, 50, then every 50 and
# after the last, once the daemon is idle, and prints them as a table with a
# verdict. Exits non-zero if fds or threads grew, RSS grew beyond the
# tolerance, a storm did not converge, STATE_DB differed from the kernel, or
# the daemon did not exit 0 on SIGTERM. Cleans up on exit and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
ports=64; storms=1000; bin=""
usage() { echo "usage: $0 [-n PORTS (default 64)] [-s STORMS (default 1000)] [--bin PATH]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n) [ $# -ge 2 ] || usage; ports="$2"; shift 2 ;;
        -s) [ $# -ge 2 ] || usage; storms="$2"; shift 2 ;;
        --bin) [ $# -ge 2 ] || usage; bin="$2"; shift 2 ;;
        *) usage ;;
    esac
done
[[ "$ports" =~ ^[1-9][0-9]*$ && "$storms" =~ ^[1-9][0-9]*$ ]] || usage
bench_tools
if [ -z "$bin" ]; then
    cargo build -q --release -p portsyncd
    bin="$PWD/target/release/portsyncd"
fi
[ -x "$bin" ] || { echo "soak: $bin is not an executable" >&2; exit 2; }
bin="$(realpath "$bin")"

# RSS tolerance: 5 % of the RSS at storm 50, or 256 KiB, whichever is larger.
# The daemon's RSS is 3.5-4 MiB at 64 ports, so 5 % alone would be ~190 KiB,
# and RSS moves by more than that without any leak: glibc grows and trims its
# heap in steps of 128 KiB (M_TOP_PAD, M_TRIM_THRESHOLD), and pages of the
# arenas are touched or given back as the allocation pattern shifts. Two such
# steps are noise; a leak is not: 1,000 storms at 64 ports are ~130,000 link
# events, so 256 KiB is ~2 bytes per event (or ~270 bytes per storm) kept for
# good, and anything the daemon keeps per event or per storm shows above it.
tolerance_pct=5; tolerance_min_kib=256

work="$(mktemp -d)"; ns="pssoak$$"; sock="$work/redis.sock"
redis_pid=""; pid=""; counter=""
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    [ -n "$counter" ] && { kill -TERM "$counter" 2>/dev/null; wait "$counter" 2>/dev/null; }
    [ -n "$redis_pid" ] && { kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; }
    ip netns del "$ns" 2>/dev/null
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

name() { echo "Ethernet$(($1 * 4))"; }
last="$(name $((ports - 1)))"

# Waits until STATE_DB shows every port admin up, oper up, with MTU $2 (the
# last port: $3). Status 1 after 30 s (printing the ports that differ), 2 if
# the daemon is gone.
converged() {  # ports mtu marker
    local deadline=$(( $(now_ms) + 30000 )) ok
    while :; do
        ok=$(redis-cli -s "$sock" -n 6 EVAL "local ok = 0; for i = 0, ARGV[1] - 1 do
            local v = redis.call('HMGET', 'PORT_TABLE|Ethernet' .. i * 4, 'admin_status', 'netdev_oper_status', 'mtu')
            local want = ARGV[2]; if i == ARGV[1] - 1 then want = ARGV[3] end
            if v[1] == 'up' and v[2] == 'up' and v[3] == want then ok = ok + 1 end end; return ok" 0 "$1" "$2" "$3")
        [ "$ok" = "$1" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 2
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "soak: storm $k: $ok of $1 ports converged after 30 s; STATE_DB differs for:" >&2
            redis-cli -s "$sock" -n 6 EVAL "local out = {}; for i = 0, ARGV[1] - 1 do
                local k = 'PORT_TABLE|Ethernet' .. i * 4
                local v = redis.call('HMGET', k, 'admin_status', 'netdev_oper_status', 'mtu')
                local want = ARGV[2]; if i == ARGV[1] - 1 then want = ARGV[3] end
                if not (v[1] == 'up' and v[2] == 'up' and v[3] == want) then
                    out[#out + 1] = k .. ' ' .. tostring(v[1]) .. '/' .. tostring(v[2]) .. '/' .. tostring(v[3]) end end
                return out" 0 "$1" "$2" "$3" | head -10 | sed 's/^/    /' >&2
            return 1
        fi
        sleep 0.01
    done
}

# STATE_DB against the kernel, every Ethernet* link (lib.sh's state_vs_kernel):
# prints one line; status 1 on a difference (the differences on stderr).
full_check() {
    local bad links
    read -r bad links < <(state_vs_kernel "$sock" "$ns")
    if [ "$bad" -ne 0 ]; then
        echo "STATE_DB differs from the kernel for $bad of $links links"
        return 1
    fi
    echo "STATE_DB = kernel for all $links links (admin, oper, mtu)"
}

# Resident KiB of each mapping of the daemon ("file" or "anon@start"), sorted.
smaps_rss() {  # pid
    awk '/^[0-9a-f]+-[0-9a-f]+ / { n = ($6 != "" ? $6 : "anon@" substr($1, 1, index($1, "-") - 1)) }
         /^Rss:/ { rss[n] += $2 } END { for (n in rss) print n, rss[n] }' "/proc/$1/smaps" | sort
}

rows=()  # "storm rss hwm fds threads"
sample() {  # storm
    local rss hwm thr fds cpu
    wait_idle "$pid" >/dev/null
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    thr=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
    # The fds, not counting a snapshot being saved: the daemon saves at most once
    # a second, so a save can still be due after 300 ms of idle, and its .tmp file
    # is open for a few ms (seen: 18 fds instead of 17). Retried, not ignored.
    for _ in $(seq 20); do
        find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -printf '%f %l\n' | sort -n > "$work/fds.$1"
        grep -q '\.snapshot\.tmp$' "$work/fds.$1" || break
        sleep 0.05
    done
    fds=$(wc -l < "$work/fds.$1")
    [ "$1" != 50 ] || smaps_rss "$pid" > "$work/smaps.50"
    [ "$1" != "$storms" ] || smaps_rss "$pid" > "$work/smaps.end"
    cpu=$(cpu_us "$pid")
    rows+=("$1 $rss $hwm $fds $thr")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$rss" "$hwm" "$fds" "$thr" \
        "$(awk -v u="$cpu" 'BEGIN { printf "%.2f", u / 1e6 }')" "$(( ($(now_ms) - t_soak) / 1000 ))"
}

# Set up: Redis, CONFIG_DB, the namespace, the daemon; orchagent pops APPL_DB and
# the host interfaces appear; PortInitDone.
redis_start "$work"
db_config "$sock" "$work/db.json"
printf '[log]\noutput = "STDERR"\n' > "$work/p.conf"
seed_ports "$sock" "$ports"
ip netns add "$ns"
host_batches "$ports" "$work"
echo "## portsyncd soak: $storms storms at $ports ports"
echo
echo "$(machine_line)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "daemon: $bin"
t0=$(now_ms)
ip netns exec "$ns" "$bin" --db-config "$work/db.json" --config "$work/p.conf" --state-dir "$work/state" 2> "$work/log" &
pid=$!
wait_config_done "$sock" "$pid" || { echo "soak: portsyncd exited before PortConfigDone:" >&2; tail -5 "$work/log" >&2; exit 1; }
orchagent_pop "$sock"
ip -n "$ns" -batch "$work/add.batch"
wait_init_done "$sock" "$pid" || { echo "soak: portsyncd exited before PortInitDone:" >&2; tail -5 "$work/log" >&2; exit 1; }
echo "PortInitDone $(( $(now_ms) - t0 )) ms after start"
ip -n "$ns" -batch "$work/peers.batch"
wait_idle "$pid" >/dev/null

# Every link event of the soak, counted on a socket of its own (64 MiB buffer).
ip netns exec "$ns" python3 benches/linkcount.py > "$work/count" &
counter=$!
until grep -q ready "$work/count" 2>/dev/null; do sleep 0.01; done

for i in $(seq 0 $((ports - 1))); do echo "link set $(name "$i") down"; done > "$work/flap.batch"
for i in $(seq 0 $((ports - 1))); do echo "link set $(name "$i") up"; done >> "$work/flap.batch"
mtu=$(ip -n "$ns" -o link show "$(name 0)" | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
echo
echo "| storm | RSS KiB | HWM KiB | fds | threads | daemon CPU s | elapsed s |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
t_soak=$(now_ms)
sample 0
not_converged=0; full_bad=0; recreated=0; dels_seen=0
for k in $(seq "$storms"); do
    victim=""
    {
        if [ $((k % 25)) -eq 0 ]; then
            victim=$(name $(( (k / 25 - 1) % ports )))
            echo "link del $victim"
            echo "link add $victim type veth peer name v${victim#Ethernet}"
            echo "link set v${victim#Ethernet} up"
            echo "link set $victim mtu $mtu"
        fi
        cat "$work/flap.batch"
        if [ $((k % 10)) -eq 0 ]; then
            if [ "$mtu" = 9100 ]; then mtu=9000; else mtu=9100; fi
            for i in $(seq 0 $((ports - 1))); do echo "link set $(name "$i") mtu $mtu"; done
        fi
    } > "$work/storm.batch"
    # (the braces run in this shell, so $mtu and $victim are set here)
    marker=$(( mtu - k % 2 ))
    echo "link set $last mtu $marker" >> "$work/storm.batch"
    # A field of our own in the victim's STATE_DB hash: its DELLINK must delete
    # the whole hash, so the field is gone once the port is back.
    [ -z "$victim" ] || redis-cli -s "$sock" -n 6 HSET "PORT_TABLE|$victim" soak_before_del 1 >/dev/null
    ip -n "$ns" -batch "$work/storm.batch"
    status=0; converged "$ports" "$mtu" "$marker" || status=$?
    if [ "$status" = 2 ]; then
        echo "soak: portsyncd is gone (storm $k); its last lines:" >&2; tail -5 "$work/log" >&2; exit 1
    fi
    [ "$status" = 0 ] || not_converged=$((not_converged + 1))
    if [ -n "$victim" ]; then
        recreated=$((recreated + 1))
        [ "$(redis-cli -s "$sock" -n 6 HEXISTS "PORT_TABLE|$victim" soak_before_del)" = 1 ] || dels_seen=$((dels_seen + 1))
    fi
    if [ $((k % 100)) -eq 0 ] && [ "$k" -ne "$storms" ]; then
        full_check > "$work/check" || { full_bad=$((full_bad + 1)); echo "soak: storm $k: $(cat "$work/check")" >&2; }
    fi
    case "$k" in 1 | 10 | "$storms") sample "$k" ;; *) [ $((k % 50)) -ne 0 ] || sample "$k" ;; esac
done
t_end=$(now_ms)

# Verdict: the median of the last 5 samples against the sample at storm 50
# (or the first after storm 0 when the soak is shorter).
base=""
for r in "${rows[@]}"; do set -- $r; [ "$1" = 50 ] && base="$r"; done
[ -n "$base" ] || base="${rows[1]}"
tail5=("${rows[@]:$(( ${#rows[@]} > 5 ? ${#rows[@]} - 5 : 0 ))}")
med() { printf '%s\n' "${tail5[@]}" | cut -d' ' -f"$1" | sort -n | sed -n "$(( (${#tail5[@]} + 1) / 2 ))p"; }
set -- $base; b_storm=$1 b_rss=$2 b_fds=$4 b_thr=$5
e_rss=$(med 2); e_fds=$(med 4); e_thr=$(med 5)
first_storm=$(echo "${tail5[0]}" | cut -d' ' -f1); last_storm=$(echo "${tail5[-1]}" | cut -d' ' -f1)
growth=$(( e_rss - b_rss ))
tolerance=$(( b_rss * tolerance_pct / 100 )); [ "$tolerance" -ge "$tolerance_min_kib" ] || tolerance=$tolerance_min_kib
fail=()
[ "$growth" -le "$tolerance" ] || fail+=("RSS grew by more than $tolerance KiB")
[ "$e_fds" -le "$b_fds" ] || fail+=("fds grew")
[ "$e_thr" -le "$b_thr" ] || fail+=("threads grew")
[ "$not_converged" = 0 ] || fail+=("$not_converged storms did not converge")
echo
printf 'verdict: RSS %s KiB at storm %s, %s KiB median of storms %s-%s: %+d KiB (%s %%; tolerance %s KiB = max(%s %%, %s KiB)); fds %s -> %s (%s); threads %s -> %s (%s); %s\n' \
    "$b_rss" "$b_storm" "$e_rss" "$first_storm" "$last_storm" "$growth" \
    "$(awk -v g="$growth" -v b="$b_rss" 'BEGIN { printf "%+.1f", 100 * g / b }')" "$tolerance" "$tolerance_pct" "$tolerance_min_kib" \
    "$b_fds" "$e_fds" "$([ "$e_fds" = "$b_fds" ] && echo equal || echo NOT equal)" \
    "$b_thr" "$e_thr" "$([ "$e_thr" = "$b_thr" ] && echo equal || echo NOT equal)" \
    "$([ ${#fail[@]} -eq 0 ] && echo flat || echo "NOT flat")"
[ "$storms" -ge 300 ] || echo "(fewer than 300 storms: the last 5 samples overlap the start; the verdict means little)"
if [ -f "$work/smaps.50" ]; then
    echo "resident KiB by mapping, storm 50 -> $storms (the mappings that changed):"
    join -a1 -a2 -e 0 -o 0,1.2,2.2 "$work/smaps.50" "$work/smaps.end" \
        | awk '$2 != $3 { d = $3 - $2; printf "%d\t    %-60s %6d -> %6d (%+d)\n", d < 0 ? -d : d, $1, $2, $3, d }' \
        | sort -rn | head -8 | cut -f2 | grep . || echo "    (none)"
fi
if [ "$e_fds" != "$b_fds" ]; then
    echo "fds at storm $b_storm and at storm $storms:"
    diff "$work/fds.$b_storm" "$work/fds.$storms" | sed 's/^/    /'
fi

# The end: STATE_DB against the kernel, then SIGTERM and the exit status.
full_check > "$work/check" || full_bad=$((full_bad + 1))
echo "final check: $(cat "$work/check")"
[ "$full_bad" = 0 ] || fail+=("STATE_DB differed from the kernel at $full_bad checks")
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || fail+=("portsyncd exited $rc on SIGTERM")
kill -TERM "$counter"; wait "$counter" || true
counter=""
read -r events overruns < <(tail -1 "$work/count")
echo "portsyncd exit status on SIGTERM: $rc"
echo "storms: $storms in $(awk -v ms=$((t_end - t_soak)) 'BEGIN { printf "%.1f", ms / 1000 }') s (with the idle waits before samples); not converged in 30 s: $not_converged; STATE_DB = kernel at every check (each 100 storms and the end): $([ "$full_bad" = 0 ] && echo yes || echo "NO ($full_bad)")"
echo "link events: $events (counter overruns: $overruns); port re-creations: $recreated, DELLINK seen in STATE_DB (hash deleted) for $dels_seen"
echo "daemon log: $(wc -l < "$work/log") lines; most repeated (digits as #):"
sed 's/[0-9]\+/#/g' "$work/log" | sort | uniq -c | sort -rn | head -3 | sed 's/^/    /'
echo "daemon's final log line: $(tail -1 "$work/log")"
echo "its counters, the line before: $(grep 'stopped:' "$work/log" | tail -1)"
if [ ${#fail[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "$(IFS=';'; echo "${fail[*]}")"
    exit 1
fi
