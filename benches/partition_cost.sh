#!/usr/bin/env bash
# What partitioned instances cost: one portsyncd against four sharing one
# namespace and one Redis (`[instance] count = 4, partition = "even"`, each
# with its own --state-dir, config and log, all on one --db-config), in one
# run on this machine, the two configurations alternating run by run.
# Set-up as benches/e2e.sh (benches/lib.sh): a throwaway redis-server on a
# unix socket, CONFIG_DB with PORTS ports (`index` 0..PORTS-1), a network
# namespace, the orchagent stand-in (pops APPL_DB once PortConfigDone is
# queued and creates the host interfaces as veths; pops again for
# PortInitDone), the peers brought up. Then the storm of e2e.sh: every port
# down/up FLAPS times (admin), then an MTU change, one `ip -batch`.
#
# Each run measures, for all the run's daemons added up and for each one:
#   - start → PortConfigDone queued, start → PortInitDone popped (ms);
#   - CPU at PortInitDone (utime+stime from /proc/PID/stat, ms; 10 ms ticks);
#   - the storm: its CPU until every daemon is idle again (no CPU for 300 ms),
#     user and system, also from the threads' schedstat (ns; live threads);
#     the time from the storm's start until STATE_DB equals the kernel for
#     every port (Redis polled every 20 ms for the final admin/oper/MTU of
#     all ports, then benches/statecheck.py on the whole table once idle);
#     redis-server's CPU; STATE_DB writes (HSET/HMSET/DEL calls); the
#     notifications the kernel dropped for each daemon;
#   - from each daemon's stop line: link messages, state sets, redumps.
# Prints markdown tables (min / median / max over the runs; ratios of the
# medians) with the machine and the commit.
#
# usage (root): benches/partition_cost.sh [-r RUNS=3] [-n PORTS=512] [-k FLAPS=10] BIN
# BIN: a release portsyncd; the commit shown is that of the git tree it lies
# in (a worktree's target/release), or set COMMIT.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs=3; ports=512; flaps=10
usage() { echo "usage: $0 [-r RUNS=3] [-n PORTS=512] [-k FLAPS=10] BIN" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -r) [ $# -ge 2 ] || usage; runs="$2"; shift 2 ;;
        -n) [ $# -ge 2 ] || usage; ports="$2"; shift 2 ;;
        -k) [ $# -ge 2 ] || usage; flaps="$2"; shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || usage
bin="$(realpath "$1")"
[ -x "$bin" ] || { echo "partition_cost: $bin is not an executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "partition_cost: run as root (network namespaces)" >&2; exit 2; }
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
bench_tools
commit="${COMMIT:-$(git -C "$(dirname "$bin")" rev-parse --short HEAD 2>/dev/null || echo unknown)}"

out="$(mktemp -d /tmp/partition_cost.XXXXXX)"   # results; removed at the end
live_pids=(); live_ns=(); live_dirs=()
cleanup() {
    local p n d
    for p in "${live_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${live_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "${live_ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    for d in "${live_dirs[@]}"; do rm -rf "$d"; done
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms_stat() { cpu_stat "$1" | awk '{ print $1 + $2 }'; }   # utime+stime, ms
# Busy CPU time of the whole machine so far (/proc/stat: all but idle and iowait), ms.
machine_busy_ms() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%d\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000 / hz }' /proc/stat; }
# CPU of this shell's waited-for children (getrusage through `times`, written
# by the shell itself: in a subshell it would count the subshell's), ms.
children_ms() { awk 'END { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60000 + a[2] * 1000 } printf "%d\n", t }' "$1"; }
# The same, this shell's own CPU and its children's.
script_ms() { awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60000 + a[2] * 1000 } } END { printf "%d\n", t }' "$1"; }
stop_field() { grep -o "$2 [0-9]*" "$1" | tail -1 | grep -o '[0-9]*$' || echo "?"; }  # log, name

# The storm (as e2e.sh): every port down then up, FLAPS times, then MTU 9000.
storm_batch() {  # file
    local i k
    for k in $(seq "$flaps"); do
        for i in $(seq 0 $((ports - 1))); do echo "link set Ethernet$((i * 4)) down"; done
        for i in $(seq 0 $((ports - 1))); do echo "link set Ethernet$((i * 4)) up"; done
    done > "$1"
    for i in $(seq 0 $((ports - 1))); do echo "link set Ethernet$((i * 4)) mtu 9000"; done >> "$1"
}

# Waits until redis-cli -n 0 EXISTS KEYS... is non-zero, up to 60 s; status 1
# if it did not come or a daemon ended.
wait_key() {  # socket keys...
    local sock=$1 deadline=$(( $(now_ms) + 60000 )) p; shift
    until [ "$(redis-cli -s "$sock" -n 0 EXISTS "$@")" != 0 ]; do
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.001
    done
}

# One run of COUNT instances (1: no [instance] section). Writes "name value"
# lines to FILE.
one_run() {  # count file
    local count=$1 res=$2 work ns sock redis_pid t0 i pids=() p
    local -a s0 s1 q0 q1 init_cpu init_sched
    wait_quiet >/dev/null
    work="$(mktemp -d)"; live_dirs+=("$work"); ns="pcost$$x$RANDOM"; sock="$work/redis.sock"
    redis_start "$work"; live_pids+=("$redis_pid")
    db_config "$sock" "$work/db.json"
    seed_ports "$sock" "$ports"
    ip netns add "$ns"; live_ns+=("$ns")
    host_batches "$ports" "$work"
    storm_batch "$work/storm.batch"
    for i in $(seq 0 $((count - 1))); do
        printf '[log]\noutput = "STDERR"\n' > "$work/i$i.conf"
        [ "$count" = 1 ] || printf '[instance]\nid = %d\ncount = %d\npartition = "even"\n' "$i" "$count" >> "$work/i$i.conf"
        mkdir "$work/state$i"
    done

    t0=$(now_ms)
    for i in $(seq 0 $((count - 1))); do
        ip netns exec "$ns" "$bin" --db-config "$work/db.json" --config "$work/i$i.conf" \
            --state-dir "$work/state$i" > "$work/i$i.out" 2> "$work/i$i.log" &
        pids+=($!); live_pids+=($!)
    done
    wait_key "$sock" _PORT_TABLE:PortConfigDone PORT_TABLE:PortConfigDone \
        || { echo "partition_cost: $count instances: no PortConfigDone" >&2; tail -n 5 "$work"/i*.log >&2; return 1; }
    echo "config_ms $(( $(now_ms) - t0 ))" > "$res"
    # orchagent: pop everything, create the host interfaces.
    orchagent_pop "$sock"
    ip -n "$ns" -batch "$work/add.batch"
    wait_key "$sock" _PORT_TABLE:PortInitDone PORT_TABLE:PortInitDone \
        || { echo "partition_cost: $count instances: no PortInitDone within 60 s" >&2; tail -n 5 "$work"/i*.log >&2; return 1; }
    orchagent_pop "$sock"   # PortInitDone popped: the moment measured
    local tinit=$(( $(now_ms) - t0 ))
    for i in "${!pids[@]}"; do init_cpu[i]=$(ms_stat "${pids[i]}"); init_sched[i]=$(cpu_us "${pids[i]}"); done
    echo "init_ms $tinit" >> "$res"
    for i in "${!pids[@]}"; do echo "init_cpu.$i ${init_cpu[i]}"; echo "init_sched.$i $(( init_sched[i] / 1000 ))"; done >> "$res"

    # The peers up, everything idle and STATE_DB the kernel before the storm.
    ip -n "$ns" -batch "$work/peers.batch"
    local deadline=$(( $(now_ms) + 30000 ))
    until [ "$(state_vs_kernel "$sock" "$ns" 2>/dev/null | cut -d' ' -f1)" = 0 ]; do
        [ "$(now_ms)" -lt "$deadline" ] || { echo "partition_cost: $count instances: STATE_DB not the kernel before the storm" >&2; return 1; }
        sleep 0.1
    done
    for p in "${pids[@]}"; do wait_idle "$p" >/dev/null; done
    wait_quiet >/dev/null

    # The storm.
    local w0 r0 ts tb tconv="" u=0 sy=0 sch=0 d0=() d1
    w0=$(calls "$sock" hset hmset del); r0=$(cpu_us "$redis_pid")
    for i in "${!pids[@]}"; do
        s0[i]=$(cpu_stat "${pids[i]}"); q0[i]=$(cpu_us "${pids[i]}"); d0[i]=$(netlink_drops "${pids[i]}")
    done
    local m0; m0=$(machine_busy_ms)
    ts=$(now_ms)
    times > "$work/times0"
    ip -n "$ns" -batch "$work/storm.batch"
    times > "$work/times1"
    tb=$(( $(now_ms) - ts ))
    local ip_cpu=$(( $(children_ms "$work/times1") - $(children_ms "$work/times0") ))
    deadline=$(( ts + 60000 ))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if [ "$(matching "$sock" up up 9000)" = "$ports" ]; then tconv=$(( $(now_ms) - ts )); break; fi
        sleep 0.02
    done
    for p in "${pids[@]}"; do wait_idle "$p" >/dev/null; done
    for i in "${!pids[@]}"; do s1[i]=$(cpu_stat "${pids[i]}"); q1[i]=$(cpu_us "${pids[i]}"); done
    local machine_cpu=$(( $(machine_busy_ms) - m0 ))
    times > "$work/times2"
    local script_cpu=$(( $(script_ms "$work/times2") - $(script_ms "$work/times0") - ip_cpu ))
    local redis_cpu=$(( $(cpu_us "$redis_pid") - r0 )) writes=$(( $(calls "$sock" hset hmset del) - w0 ))
    local diff; diff=$(state_vs_kernel "$sock" "$ns" | cut -d' ' -f1)
    {
        echo "batch_ms $tb"
        echo "converge_ms ${tconv:--}"
        echo "converged $([ -n "$tconv" ] && [ "$diff" = 0 ] && echo 1 || echo 0)"
        echo "redis_cpu $(( redis_cpu / 1000 ))"
        echo "ip_cpu $ip_cpu"
        echo "machine_cpu $machine_cpu"
        echo "script_cpu $script_cpu"
        echo "writes $writes"
        for i in "${!pids[@]}"; do
            local su=$(( ${s1[i]% *} - ${s0[i]% *} )) ss=$(( ${s1[i]#* } - ${s0[i]#* } ))
            echo "storm_user.$i $su"; echo "storm_sys.$i $ss"; echo "storm_cpu.$i $(( su + ss ))"
            echo "storm_sched.$i $(( (q1[i] - q0[i]) / 1000 ))"
            d1=$(netlink_drops "${pids[i]}"); echo "drops.$i $(( d1 - d0[i] ))"
        done
    } >> "$res"

    for p in "${pids[@]}"; do kill -TERM "$p"; done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" || echo "partition_cost: instance $i of $count exited $?" >&2
        echo "messages.$i $(stop_field "$work/i$i.log" 'link messages')" >> "$res"
        echo "sets.$i $(stop_field "$work/i$i.log" 'state sets')" >> "$res"
        echo "redumps.$i $(stop_field "$work/i$i.log" 'redumps')" >> "$res"
    done
    if [ "$count" -gt 1 ]; then grep -h -o 'instance [0-9]* of [0-9]*: owns [0-9]* of [0-9]* configured ports[^"]*' "$work"/i*.log | sed 's/^/  /' >&2 || true; fi
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
    ip netns del "$ns"; rm -rf "$work"
    live_pids=(); live_ns=(); live_dirs=()
}

# Busy compilers skew every figure: wait (up to 5 min) for them to end.
wait_no_build() {
    local t=0
    while pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; do
        [ "$t" -lt 300 ] || { echo "partition_cost: a build is still running after 5 min; measuring anyway" >&2; return 0; }
        sleep 5; t=$((t + 5))
    done
}

configs=(1 4)
echo "partition_cost: $runs runs of each, $ports ports, storm of $flaps down/up + MTU; results in $out" >&2
for r in $(seq "$runs"); do
    for c in "${configs[@]}"; do
        wait_no_build
        echo "partition_cost: run $r, $c instance(s)" >&2
        one_run "$c" "$out/$c.$r"
    done
done

# Figures. vals CONFIG EXPR: one value per run (EXPR: awk over the run's
# name→value map v, e.g. 'v["init_ms"]' or 'sum("storm_cpu")').
vals() {
    local c=$1 expr=$2 r
    for r in $(seq "$runs"); do
        awk "{ v[\$1] = \$2 }
            function sum(p,   k, s) { s = 0; for (k in v) if (index(k, p \".\") == 1) s += v[k]; return s }
            END { x = $expr; print x }" "$out/$c.$r"
    done | sort -g
}
mmm() { vals "$@" | awk -v f="${3:-%d}" '{ a[NR] = $1 } END { printf f " / " f " / " f "\n", a[1], a[int((NR + 1) / 2)], a[NR] }'; }
med() { vals "$@" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x > 0) printf "%.2f×", y / x; else printf "–" }'; }
row() {  # label expr [fmt]
    echo "| $1 | $(mmm 1 "$2" "${3:-%d}") | $(mmm 4 "$2" "${3:-%d}") | $(ratio "$(med 1 "$2")" "$(med 4 "$2")") |"
}

echo "## Partitioned instances: 1 against 4 (\`even\`), $ports ports, $runs runs each, alternating"
echo
echo "machine: $(lscpu | grep 'Model name' | cut -d: -f2 | xargs), nproc $(nproc), Linux $(uname -r), redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2), commit $commit"
echo
echo "Storm: every port down/up $flaps times (admin), then MTU 9000, one \`ip -batch\`. CPU: utime+stime"
echo "from /proc/PID/stat (10 ms ticks) summed over the instances, unless said. min / median / max."
echo
echo "| figure | 1 instance | 4 instances (sum) | 4 ÷ 1 (medians) |"
echo "|---|---:|---:|---:|"
row "storm: daemon CPU, total (ms)" 'sum("storm_cpu")'
row "storm: daemon user CPU (ms)" 'sum("storm_user")'
row "storm: daemon system CPU (ms)" 'sum("storm_sys")'
row "storm: daemon CPU from schedstat (ms)" 'sum("storm_sched")'
row "storm: redis-server CPU (ms)" 'v["redis_cpu"]'
row "storm: start → STATE_DB equals the kernel (ms)" 'v["converge_ms"]'
row "storm: end of the \`ip -batch\` → STATE_DB equals the kernel (ms)" 'v["converge_ms"] - v["batch_ms"]'
row "storm: the \`ip -batch\` itself (ms)" 'v["batch_ms"]'
row "storm: the \`ip -batch\` process's CPU (ms; the kernel copies each notification to every listener there)" 'v["ip_cpu"]'
row "storm: whole machine busy CPU, storm start → all idle (ms, /proc/stat)" 'v["machine_cpu"]'
row "storm: of which this script's polling and waiting (ms)" 'v["script_cpu"]'
row "storm: whole machine less this script's polling (daemons, redis, ip, kernel workers; ms)" 'v["machine_cpu"] - v["script_cpu"]'
row "storm: STATE_DB writes (HSET/HMSET/DEL)" 'v["writes"]'
row "storm: notifications dropped by the kernel" 'sum("drops")'
row "storms converged (STATE_DB = kernel)" 'v["converged"]'
row "start → PortConfigDone queued (ms)" 'v["config_ms"]'
row "start → PortInitDone popped (ms)" 'v["init_ms"]'
row "CPU at PortInitDone, total (ms)" 'sum("init_cpu")'
row "CPU at PortInitDone, total, schedstat (ms)" 'sum("init_sched")'
row "link messages received, whole run (all instances)" 'sum("messages")'
row "STATE_DB state sets, whole run (all instances)" 'sum("sets")'
row "netlink re-dumps, whole run" 'sum("redumps")'
echo
echo "### Each of the 4 instances (min / median / max over the runs)"
echo
echo "| instance | storm CPU (ms) | storm user / system (ms, medians) | CPU at PortInitDone (ms; schedstat median) | link messages, whole run | state sets, whole run | storm drops | re-dumps |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in 0 1 2 3; do
    echo "| $i$([ "$i" = 0 ] && echo ' (leader)') | $(mmm 4 "v[\"storm_cpu.$i\"]") | $(med 4 "v[\"storm_user.$i\"]") / $(med 4 "v[\"storm_sys.$i\"]") | $(mmm 4 "v[\"init_cpu.$i\"]") (sched $(med 4 "v[\"init_sched.$i\"]")) | $(mmm 4 "v[\"messages.$i\"]") | $(mmm 4 "v[\"sets.$i\"]") | $(mmm 4 "v[\"drops.$i\"]") | $(mmm 4 "v[\"redumps.$i\"]") |"
done
echo "| the single instance | $(mmm 1 'v["storm_cpu.0"]') | $(med 1 'v["storm_user.0"]') / $(med 1 'v["storm_sys.0"]') | $(mmm 1 'v["init_cpu.0"]') (sched $(med 1 'v["init_sched.0"]')) | $(mmm 1 'v["messages.0"]') | $(mmm 1 'v["sets.0"]') | $(mmm 1 'v["drops.0"]') | $(mmm 1 'v["redumps.0"]') |"
echo
echo "raw (per run, name value): $(for c in "${configs[@]}"; do for r in $(seq "$runs"); do printf '%s ' "$c.$r:"; awk '{ printf "%s=%s ", $1, $2 }' "$out/$c.$r"; done; done)"
