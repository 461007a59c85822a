#!/usr/bin/env bash
# portsyncd end to end, measured: start-up, a flap storm, and a drain after
# SIGSTOP, against a real redis-server and real veth ports, with an orchagent
# stand-in. Prints markdown tables (min / median / max over the runs) with the
# machine and commit. Every figure is read from outside the daemon (Redis,
# /proc, the kernel), so any daemon fits; only the round-trip/batch/re-dump
# columns come from our own daemon's closing log line.
#
# usage (root): benches/e2e.sh [-n "32 128 512"] [-r RUNS=3] [-k CYCLES=10] [--build musl|glibc]
#                              [--compare 'CMD' | --compare-cpp] [--floor-mode MODE] [--floor-window US]
#                              [--samples N=100] [--burst N=64] [--syscalls DIR] [--floor-alongside]
#                              [--settings 'TOML']
#        benches/e2e.sh --floor-only ["MODE..."] [-n ...] [-r ...] [-k ...] [--floor-window US]
#
# Two network namespaces per run: the daemon's, which holds the ports
# (Ethernet0, Ethernet4, ...: one end of a veth pair each), and a peer
# namespace with the other ends (v0, v4, ...), as on a switch, where the far
# end of a port is no netdev of the host. So the daemon's namespace hears only
# its own ports' notifications: every "link event" counted (benches/linkcount.py,
# in the daemon's namespace) is one the daemon must read. The storm and the
# drain act on the daemon's side (`ip -n NS link set EthernetN down/up/mtu`).
# (Before, both ends were in the daemon's namespace: ~40 % of the events counted
# were the peers', which the daemon's kernel filter drops and a plain reader
# like the floor does not: per-event figures from before are not comparable.)
#
# Ours is the build that ships (README, "Building for a switch"): static, on
# musl (the rustup target is added if missing); --build glibc measures the
# default dynamic build instead.
#
# What is measured for every daemon (benches/README.md, "Instruments"):
# CPU (all threads, schedstat) at PortInitDone, in the storm and in the drain;
# redis-server's CPU in the storm per 1000 link events; wake-ups per 1000 link
# events in the storm (voluntary context switches, all threads); peak RSS
# (VmHWM); private dirty memory and PSS (/proc/PID/smaps_rollup, the largest
# of samples taken once idle after PortInitDone, after the storm, after the
# drain and after the latency runs); and, after the drain, latency from
# outside (benches/latency.py): from an RTM_SETLINK (an MTU change of
# Ethernet0) to STATE_DB showing it, N samples (--samples, default 100, plus
# a warm-up) of isolated events (one at a time, 20 ms apart) and N of events
# right after a burst of --burst (default 64) MTU changes on the other ports;
# p50 / p99 of each run (every sample: /tmp/portsyncd-e2e-<ports>.<kind>.latency).
#
# --settings 'TOML' adds lines (printf %b: \n for a newline) to our daemon's
# settings file (it is also the file a --compare command can name as
# $WORK/p.conf), e.g. --settings '[netlink]\ncoalesce_window_ms = 2\n'.
#
# --compare 'CMD' runs CMD the same way in the same run (inside the namespace,
# through sh -c, with $DB_CONFIG = the run's database_config.json and $WORK =
# its temp dir; CMD must find Redis through them) and prints the ratios. For
# example, as a sanity check: --compare "$PWD/target/release/portsyncd --db-config \$DB_CONFIG --state-dir \$WORK/s2"
#
# --compare-cpp (issue 13) compares with SONiC's C++ portsyncd from
# ../shared/reference/cpp-portsyncd (or $CPP_PORTSYNCD_DIR), run through its
# sonic-run, runs the floor (benches/floor: a reader that only receives and
# drops; --floor-mode picks its receive path, coalesce being the daemon's
# adaptive coalescing rule with a window of --floor-window µs, default 1000)
# under the same storms, and prints
# the issue's table: C++, ours, ours ÷ C++, the floor, each daemon ÷ the floor.
# In this mode both daemons get the same consumer: swss-common's own
# ConsumerStateTable client `mock_orchagent FIFO 100`, which pops nothing until
# 100 ms after PortConfigDone (the C++ daemon's start-up race needs it); a port
# name it writes to FIFO is the moment its host interface is created
# (benches/hostifs.py). The C++ daemon logs NOTICE (its default level, two lines
# per link event) to stderr, into a file nobody reads: CONFIG_DB
# LOGGER|portsyncd LOGOUTPUT=STDERR, as syslog has no /dev/log here.
#
# --syscalls DIR counts each daemon's syscalls (per kind, from the kernel's
# syscall tracepoints: `perf stat -p`, no ptrace) and context switches during
# the storm into DIR/<kind>-<ports>-<k>.txt, and prints them per 1000 link
# events. Counting costs a little per syscall: a run with it is for the
# counts, not for the CPU figures.
#
# --floor-alongside also runs the floor in each daemon's namespace during its
# storm (a third reader, competing for the same two cores) and prints its CPU
# per 1000 link events there; it takes CPU from the daemon under test, so the
# main figures of such a run are not the official ones.
#
# --floor-only runs only the floor, once per receive path (MODEs; default all
# five: recv recvmmsg epoll-recv epoll-recvmmsg coalesce), under the same
# storms, to choose the floor's path.
#
# The one command of issue 13:  benches/e2e.sh -n 512 -r 3 --compare-cpp
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="32 128 512"; runs=3; cycles=10; compare=""; cpp=""; floor_mode=recv; floor_only=""; sys_dir=""; alongside=""; build=musl
floor_window=1000; lat_samples=100; burst=64
usage() { echo "usage: $0 [-n \"32 128 512\"] [-r RUNS] [-k CYCLES] [--build musl|glibc] [--compare 'CMD' | --compare-cpp] [--floor-mode recv|recvmmsg|epoll-recv|epoll-recvmmsg|coalesce] [--floor-window US] [--samples N] [--burst N] [--syscalls DIR] [--floor-alongside] | --floor-only [\"MODE...\"]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n) [ $# -ge 2 ] || usage; sizes="$2"; shift 2 ;;
        -r) [ $# -ge 2 ] || usage; runs="$2"; shift 2 ;;
        -k) [ $# -ge 2 ] || usage; cycles="$2"; shift 2 ;;
        --compare) [ $# -ge 2 ] || usage; compare="$2"; shift 2 ;;
        --build) [ $# -ge 2 ] && [[ "$2" =~ ^(musl|glibc)$ ]] || usage; build="$2"; shift 2 ;;
        --compare-cpp) cpp="${CPP_PORTSYNCD_DIR:-$PWD/../shared/reference/cpp-portsyncd}"; shift ;;
        --floor-mode) [ $# -ge 2 ] || usage; floor_mode="$2"; shift 2 ;;
        --floor-window) [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || usage; floor_window="$2"; shift 2 ;;
        --samples) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage; lat_samples="$2"; shift 2 ;;
        --burst) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage; burst="$2"; shift 2 ;;
        --floor-alongside) alongside=1; shift ;;
        --settings) [ $# -ge 2 ] || usage; settings="$2"; shift 2 ;;
        --syscalls) [ $# -ge 2 ] || usage; sys_dir="$(realpath -m "$2")"; mkdir -p "$sys_dir"; shift 2 ;;
        --floor-only)
            floor_only="recv recvmmsg epoll-recv epoll-recvmmsg coalesce"
            if [ $# -ge 2 ] && [[ "$2" != -* ]]; then floor_only="$2"; shift; fi
            shift ;;
        *) usage ;;
    esac
done
[ -z "$compare" ] || [ -z "$cpp" ] || { echo "e2e: --compare and --compare-cpp exclude each other" >&2; exit 2; }
. benches/lib.sh
bench_tools
# Ours is the build that ships: static, on musl (README, "Building for a
# switch"); --build glibc measures the default dynamic build instead.
if [ "$build" = musl ]; then
    musl_target="$(uname -m)-unknown-linux-musl"
    rustup target list --installed | grep -qx "$musl_target" || rustup target add "$musl_target"
    cargo build -q --release -p portsyncd --target "$musl_target"
    ours_bin="$PWD/target/$musl_target/release/portsyncd"
else
    cargo build -q --release -p portsyncd
    ours_bin="$PWD/target/release/portsyncd"
fi
# A binary just linked sits in the page cache as dirty pages until written
# back, and smaps counts a mapping of them as Private_Dirty: written out
# now (every file: a --compare build too), its text and read-only data are
# clean file pages, as on a switch.
sync
ours="$ours_bin --db-config \$DB_CONFIG --config \$WORK/p.conf --state-dir \$WORK/state"
if [ -n "$cpp" ] || [ -n "$floor_only" ] || [ -n "$alongside" ]; then
    cargo build -q --release --manifest-path benches/floor/Cargo.toml --target-dir target
    floor_bin="$PWD/target/release/portsyncd-floor"
    sync
fi
if [ -n "$cpp" ]; then
    cpp="$(realpath "$cpp")"
    [ -x "$cpp/sonic-run" ] || { echo "e2e: no C++ portsyncd at $cpp (set CPP_PORTSYNCD_DIR)" >&2; exit 2; }
    "$cpp/install-deps.sh"
    compare="$cpp/sonic-run \$DB_CONFIG portsyncd"
fi

# Whatever a run left behind if the script stops half-way. Each run is a
# subshell ($(one_run ...)), which does not inherit traps: each sets its own,
# and empties the lists when it has cleaned up itself.
live_pids=(); live_ns=()
cleanup() {
    local p n
    for p in "${live_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for n in "${live_ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

# The tracepoints --syscalls counts: every syscall in all, the context
# switches, and the syscalls of receive / send / wait loops one by one (all
# ~360 syscall tracepoints at once would slow the daemons threefold).
syscall_events() {
    local s out="raw_syscalls:sys_enter,cs"
    for s in recvfrom recvmsg recvmmsg sendto sendmsg sendmmsg read write writev epoll_wait epoll_pwait epoll_ctl timerfd_settime futex select pselect6 poll ppoll; do
        out+=",syscalls:sys_enter_$s"
    done
    echo "$out"
}
storm() {  # file final_mtu
    local i k
    for k in $(seq "$cycles"); do
        for i in $(seq 0 $((n - 1))); do echo "link set Ethernet$((i * 4)) down"; done
        for i in $(seq 0 $((n - 1))); do echo "link set Ethernet$((i * 4)) up"; done
    done > "$1"
    for i in $(seq 0 $((n - 1))); do echo "link set Ethernet$((i * 4)) mtu $2"; done >> "$1"
}
# Counts the link notifications of namespace NS (benches/linkcount.py, 64 MiB
# buffer: it loses none) from counter_start until counter_stop, which first
# lets it read all that is queued (a Python reader can lag a busy storm), then
# sets `counted` to the count. Not in $(...): the counter must be our child.
# The drain: the process is stopped while a storm queues up, then continued.
# Sets the caller's drain_events, drain_ms, drain_cpu and drain_drops.
drain() {  # pid ns work
    local pid=$1 ns=$2 work=$3 d0 ud td tidle counter
    storm "$work/drain.batch" 9100
    d0=$(netlink_drops "$pid")
    kill -STOP "$pid"
    counter_start "$ns" "$work"
    ip -n "$ns" -batch "$work/drain.batch"
    sleep 1.2  # the kernel's linkwatch sends the last carrier changes up to a second later
    counter_stop "$work"; drain_events=$counted
    ud=$(cpu_us "$pid"); td=$(now_ms)
    kill -CONT "$pid"
    tidle=$(wait_idle "$pid")
    drain_ms=$(( tidle - td )); drain_cpu=$(( $(cpu_us "$pid") - ud ))
    drain_drops=$(( $(netlink_drops "$pid") - d0 ))
}

counter_start() {  # ns work
    : > "$2/count"
    ip netns exec "$1" python3 benches/linkcount.py > "$2/count" & counter=$!
    live_pids+=("$counter")
    until grep -q ready "$2/count" 2>/dev/null; do sleep 0.01; done
}
counter_stop() {  # work
    local quiet=0
    while [ "$quiet" -lt 3 ]; do
        if [ "$(netlink_queued "$counter")" = 0 ]; then quiet=$((quiet + 1)); else quiet=0; fi
        sleep 0.02
    done
    kill -TERM "$counter"; wait "$counter" || true
    counted=$(tail -1 "$1/count" | cut -d' ' -f1)
}
# Waits (up to 60 s) for a milestone; status 1 if it did not come or PID ended.
wait_for() {  # what socket pid
    local deadline=$(( $(now_ms) + 60000 )) q
    case "$1" in
        config) q="EXISTS _PORT_TABLE:PortConfigDone PORT_TABLE:PortConfigDone" ;;
        init) q="EXISTS _PORT_TABLE:PortInitDone PORT_TABLE:PortInitDone" ;;
    esac
    until [ "$(redis-cli -s "$2" -n 0 $q)" != 0 ]; do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.001
    done
}

# One run of a daemon: start-up, storm, drain. Prints one line of figures:
#  1 start→PortConfigDone ms  2 start→PortInitDone ms  3 CPU at PortInitDone µs  4 VmHWM KiB
#  5 storm converged  6 storm to idle ms  7 storm link events  8 storm CPU µs  9 storm Redis commands
# 10 drain converged 11 drain to idle ms 12 drain CPU µs 13-15 (ours only, from its log) round
# trips, batches, re-dumps; 16 17 storm user / system CPU ms (/proc/PID/stat); 18 storm STATE_DB
# writes (HSET, HMSET, DEL); 19 20 ports differing from the kernel after storm / drain; 21 22
# notifications the kernel dropped for the daemon during storm / drain; 23 threads; 24 CPU of the
# threads other than the main one over the whole run µs; 25 redis-server CPU in the storm µs;
# 26 drain link events; 27 CPU ms of each thread over the whole run ("comm:ms,..."; the first is
# the main thread); 28 the receive buffer of its link socket (sk_rcvbuf, bytes, from ss).
# 29 the floor's CPU alongside in the storm µs (--floor-alongside); 30 31 isolated event → STATE_DB
# p50 / p99 µs; 32 33 the same right after a burst; 34 35 private dirty memory / PSS KiB (the
# largest of the smaps_rollup samples); 36 wake-ups in the storm (voluntary context switches).
# "-": not measured for this daemon.
one_run() {  # kind (ours|other|cpp) command
    local kind="$1" cmd="$2" work ns peer sock redis_pid pid t0 tcfg tinit cpu_init port="" orch="" hostifs=""
    trap cleanup EXIT
    wait_quiet >/dev/null
    work="$(mktemp -d)"; ns="psb$$x$RANDOM"; peer="${ns}p"; sock="$work/redis.sock"
    [ -z "$cpp" ] || port=$(free_port)
    redis_start "$work" "$port"; live_pids+=("$redis_pid")
    db_config "$sock" "$work/db.json" "$port"
    printf '[log]\noutput = "STDERR"\n%b' "${settings:-}" > "$work/p.conf"
    seed_ports "$sock" "$n"
    # The C++ daemon: its default level, to stderr (see the header).
    [ "$kind" != cpp ] || redis-cli -s "$sock" -n 4 HSET "LOGGER|portsyncd" LOGLEVEL NOTICE LOGOUTPUT STDERR >/dev/null
    # The daemon's namespace holds the ports (EthernetN), the peer namespace
    # the other ends (vN): the daemon hears only its own ports' notifications.
    ip netns add "$ns"; live_ns+=("$ns"); ip netns add "$peer"; live_ns+=("$peer")
    host_batches "$n" "$work" "$peer"
    if [ -n "$cpp" ]; then
        mkfifo "$work/fifo"
        python3 benches/hostifs.py "$work/fifo" "$ns" "$peer" & hostifs=$!
        "$cpp/sonic-run" "$work/db.json" mock_orchagent "$work/fifo" 100 > "$work/orch.out" 2>&1 & orch=$!
        live_pids+=("$hostifs" "$orch")
        until grep -q READY "$work/orch.out" 2>/dev/null; do
            kill -0 "$orch" 2>/dev/null || { echo "e2e: mock_orchagent did not start: $(cat "$work/orch.out")" >&2; return 1; }
            sleep 0.01
        done
    fi
    t0=$(now_ms)
    DB_CONFIG="$work/db.json" WORK="$work" ip netns exec "$ns" sh -c "exec $cmd" > "$work/out" 2> "$work/log" &
    pid=$!; live_pids+=("$pid")
    wait_for config "$sock" "$pid" || { echo "e2e: $kind: no PortConfigDone" >&2; return 1; }
    tcfg=$(( $(now_ms) - t0 ))
    if [ -z "$cpp" ]; then
        # orchagent: once PortConfigDone is queued, pop everything and create the host interfaces.
        orchagent_pop "$sock"
        ip -n "$ns" -batch "$work/add.batch"
    fi
    wait_for init "$sock" "$pid" || { echo "e2e: $kind: no PortInitDone within 60 s" >&2; return 1; }
    tinit=$(( $(now_ms) - t0 )); cpu_init=$(cpu_us "$pid")
    local rcvbuf; rcvbuf=$(link_rcvbuf "$ns")
    ip -n "$peer" -batch "$work/peers.batch"
    wait_idle "$pid" >/dev/null
    # Private dirty memory and PSS: the largest of the samples taken here,
    # after the storm, after the drain and after the latency runs.
    local mem_pd=0 mem_pss=0
    mem_peak() { local a b; read -r a b < <(smaps_kib "$pid"); [ "$a" -le "$mem_pd" ] || mem_pd=$a; [ "$b" -le "$mem_pss" ] || mem_pss=$b; }
    mem_peak

    # Storm.
    storm "$work/storm.batch" 9000
    local c0 w0 u0 s0 r0 d0 ts tidle events
    c0=$(commands "$sock"); w0=$(calls "$sock" hset hmset del); u0=$(cpu_us "$pid"); s0=$(cpu_stat "$pid")
    local tracer="" trace_out=""
    if [ -n "$sys_dir" ]; then
        trace_out="$sys_dir/$kind-$n-$(( $(find "$sys_dir" -name "$kind-$n-*.txt" | wc -l) + 1 )).txt"
        perf stat -x, -o "$trace_out.raw" -e "$(syscall_events)" -p "$pid" & tracer=$!
        sleep 0.5
    fi
    local counter fpid="" f0=0 floor_cpu=-; counter_start "$ns" "$work"
    if [ -n "$alongside" ]; then
        ip netns exec "$ns" "$floor_bin" --mode "$floor_mode" --window-us "$floor_window" > "$work/floor.out" & fpid=$!; live_pids+=("$fpid")
        until grep -q ready "$work/floor.out" 2>/dev/null; do sleep 0.01; done
        f0=$(cpu_us "$fpid")
    fi
    local k0; k0=$(wakeups "$pid")
    r0=$(cpu_us "$redis_pid"); d0=$(netlink_drops "$pid"); ts=$(now_ms)
    ip -n "$ns" -batch "$work/storm.batch"
    tidle=$(wait_idle "$pid")
    local storm_wakeups=$(( $(wakeups "$pid") - k0 ))
    mem_peak
    counter_stop "$work"; events=$counted
    if [ -n "$fpid" ]; then
        floor_cpu=$(( $(cpu_us "$fpid") - f0 ))
        echo "e2e: $kind, $n ports: the floor alongside: $floor_cpu µs for $events link events, $(echo "scale=2; $floor_cpu / $events" | bc) ms per 1000 ($(netlink_drops "$fpid") lost)" >&2
        kill -KILL "$fpid"; wait "$fpid" 2>/dev/null || true
    fi
    if [ -n "$tracer" ]; then
        kill -INT "$tracer"; wait "$tracer" || true
        { echo "link events $events"; grep -v '^#' "$trace_out.raw" | grep .; } > "$trace_out"; rm -f "$trace_out.raw"
    fi
    local storm_ms=$(( tidle - ts )) storm_cpu=$(( $(cpu_us "$pid") - u0 )) storm_cmds=$(( $(commands "$sock") - c0 ))
    local storm_writes=$(( $(calls "$sock" hset hmset del) - w0 )) storm_redis=$(( $(cpu_us "$redis_pid") - r0 ))
    local storm_drops=$(( $(netlink_drops "$pid") - d0 )) s1 storm_user storm_sys
    s1=$(cpu_stat "$pid")
    storm_user=$(( ${s1% *} - ${s0% *} )); storm_sys=$(( ${s1#* } - ${s0#* } ))
    local storm_diff ok_storm
    storm_diff=$(state_vs_kernel "$sock" "$ns" | cut -d' ' -f1)
    ok_storm=$([ "$storm_diff" = 0 ] && [ "$(matching "$sock" up up 9000)" = "$n" ] && echo yes || echo NO)

    # Drain: stopped while a storm queues up, then continued.
    local drain_events drain_ms drain_cpu drain_drops
    drain "$pid" "$ns" "$work"
    mem_peak
    local drain_diff ok_drain
    drain_diff=$(state_vs_kernel "$sock" "$ns" | cut -d' ' -f1)
    ok_drain=$([ "$drain_diff" = 0 ] && [ "$(matching "$sock" up up 9100)" = "$n" ] && echo yes || echo NO)
    # Latency (benches/latency.py): from the request to the kernel to STATE_DB
    # showing it, one MTU change of Ethernet0 at a time, $lat_samples samples
    # (plus a warm-up) each way: isolated (a quiet daemon, 20 ms apart), and
    # right after a burst of $burst MTU changes on the other ports. p50 and
    # p99 (nearest rank), µs.
    local samples lat="- -" lat_burst="- -"
    pctl() { tr ' ' '\n' | tail -n +2 | sort -n | awk '{ a[NR] = $1 } END { p = int(NR * 0.99); if (p < NR * 0.99) p++; print a[int((NR + 1) / 2)], a[p] }'; }
    wait_idle "$pid" >/dev/null
    # Every sample (µs, the warm-up first) is kept in /tmp/portsyncd-e2e-<ports>.<kind>.latency.
    if samples=$(ip netns exec "$ns" python3 benches/latency.py "$sock" Ethernet0 $((lat_samples + 1))); then
        lat=$(echo "$samples" | pctl); echo "isolated: $samples" >> "/tmp/portsyncd-e2e-$n.$kind.latency"
    fi
    if [ "$n" -gt 1 ] && samples=$(ip netns exec "$ns" python3 benches/latency.py "$sock" Ethernet0 $((lat_samples + 1)) --after-burst "$burst"); then
        lat_burst=$(echo "$samples" | pctl); echo "after a burst of $burst: $samples" >> "/tmp/portsyncd-e2e-$n.$kind.latency"
    fi
    mem_peak
    local hwm threads others
    hwm=$(grep VmHWM "/proc/$pid/status" | tr -s ' ' | cut -d' ' -f2)
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status"); others=$(other_threads_us "$pid")
    local by_thread; by_thread=$(thread_cpu "$pid" | awk '{ printf "%s%s:%.1f", (NR > 1 ? "," : ""), $2, $3 / 1000 }')
    kill -TERM "$pid"; wait "$pid" || true
    local rt_batch=- batches=- redumps=-
    if [ "$kind" != cpp ]; then  # our daemon's closing line; the C++ daemon's log is not ours to read
        rt_batch=$(grep -o 'round trips [0-9]*' "$work/log" | grep -o '[0-9]*' || echo 0)
        batches=$(grep -o 'batches [0-9]*' "$work/log" | grep -o '[0-9]*' || echo 0)
        redumps=$(grep -o 'redumps [0-9]*' "$work/log" | grep -o '[0-9]*' || echo "?")
    fi
    if [ -n "$orch" ]; then kill -TERM "$orch" 2>/dev/null || true; wait "$orch" 2>/dev/null || true; fi
    if [ -n "$hostifs" ]; then kill -TERM "$hostifs" 2>/dev/null || true; wait "$hostifs" 2>/dev/null || true; fi
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
    ip netns del "$ns"; ip netns del "$peer"; rm -rf "$work"; live_pids=(); live_ns=()
    echo "$tcfg $tinit $cpu_init $hwm $ok_storm $storm_ms $events $storm_cpu $storm_cmds $ok_drain $drain_ms $drain_cpu $rt_batch $batches $redumps $storm_user $storm_sys $storm_writes $storm_diff $drain_diff $storm_drops $drain_drops $threads $others $storm_redis $drain_events $by_thread $rcvbuf $floor_cpu $lat $lat_burst $mem_pd $mem_pss $storm_wakeups"
}

# The floor under the same storm and drain: N veth ports in a namespace (their
# peers in another, as for the daemons), the floor reader (only receives and
# drops) instead of a daemon, no Redis. The same line as one_run, "-" where
# nothing applies (4: VmHWM; 21/22: drops; 34/35: its memory after the drain).
floor_run() {
    local work ns peer pid
    trap cleanup EXIT
    wait_quiet >/dev/null
    work="$(mktemp -d)"; ns="psf$$x$RANDOM"; peer="${ns}p"
    ip netns add "$ns"; live_ns+=("$ns"); ip netns add "$peer"; live_ns+=("$peer")
    host_batches "$n" "$work" "$peer"
    ip -n "$ns" -batch "$work/add.batch"; ip -n "$peer" -batch "$work/peers.batch"
    ip netns exec "$ns" "$floor_bin" --mode "$floor_mode" --window-us "$floor_window" > "$work/out" & pid=$!; live_pids+=("$pid")
    until grep -q ready "$work/out" 2>/dev/null; do sleep 0.01; done
    wait_idle "$pid" >/dev/null
    local rcvbuf; rcvbuf=$(link_rcvbuf "$ns")
    storm "$work/storm.batch" 9000
    local u0 s0 d0 ts tidle events
    local tracer="" trace_out=""
    if [ -n "$sys_dir" ]; then
        trace_out="$sys_dir/floor-$n-$(( $(find "$sys_dir" -name "floor-$n-*.txt" | wc -l) + 1 )).txt"
        perf stat -x, -o "$trace_out.raw" -e "$(syscall_events)" -p "$pid" & tracer=$!
        sleep 0.5
    fi
    local counter; counter_start "$ns" "$work"
    local k0; k0=$(wakeups "$pid")
    u0=$(cpu_us "$pid"); s0=$(cpu_stat "$pid"); d0=$(netlink_drops "$pid"); ts=$(now_ms)
    ip -n "$ns" -batch "$work/storm.batch"
    tidle=$(wait_idle "$pid")
    local storm_wakeups=$(( $(wakeups "$pid") - k0 ))
    counter_stop "$work"; events=$counted
    if [ -n "$tracer" ]; then
        kill -INT "$tracer"; wait "$tracer" || true
        { echo "link events $events"; grep -v '^#' "$trace_out.raw" | grep .; } > "$trace_out"; rm -f "$trace_out.raw"
    fi
    local storm_ms=$(( tidle - ts )) storm_cpu=$(( $(cpu_us "$pid") - u0 )) storm_drops=$(( $(netlink_drops "$pid") - d0 )) s1
    s1=$(cpu_stat "$pid")
    local drain_events drain_ms drain_cpu drain_drops
    drain "$pid" "$ns" "$work"
    local hwm mem; hwm=$(grep VmHWM "/proc/$pid/status" | tr -s ' ' | cut -d' ' -f2); mem=$(smaps_kib "$pid")
    kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
    ip netns del "$ns"; ip netns del "$peer"; rm -rf "$work"; live_pids=(); live_ns=()
    echo "- - - $hwm - $storm_ms $events $storm_cpu - - $drain_ms $drain_cpu - - - $(( ${s1% *} - ${s0% *} )) $(( ${s1#* } - ${s0#* } )) - - - $storm_drops $drain_drops 1 0 - $drain_events - $rcvbuf - - - - - $mem $storm_wakeups"
}

col() { printf '%s\n' "${@:2}" | cut -d' ' -f"$1"; }
mmm() { local v; mapfile -t v < <(col "$@" | sort -n); echo "${v[0]} / ${v[$(( ${#v[@]} / 2 ))]} / ${v[-1]}"; }
med() { local v; mapfile -t v < <(col "$@" | sort -n); echo "${v[$(( ${#v[@]} / 2 ))]}"; }
yes_count() { col "$@" | grep -c yes || true; }

# min / median / max (mmx) or the median (medx) over result lines of an awk
# expression of their fields, printed with FMT; lines where it is "" are left
# out ("–" if none is left).
xvals() {  # expr results...
    local expr=$1; shift
    printf '%s\n' "$@" | awk "{ v = $expr; if (v != \"\") print v }" | sort -g
}
mmx() {  # fmt expr results...
    local fmt=$1; shift
    xvals "$@" | awk -v f="$fmt" '{ a[NR] = $1 } END { if (NR == 0) print "–"; else printf f " / " f " / " f "\n", a[1], a[int((NR + 1) / 2)], a[NR] }'
}
medx() {  # fmt expr results...
    local fmt=$1; shift
    xvals "$@" | awk -v f="$fmt" '{ a[NR] = $1 } END { if (NR == 0) print "–"; else printf f "\n", a[int((NR + 1) / 2)] }'
}
# The figures that are not in the original columns, as awk expressions of
# one_run's fields (latency: "" where it was not measured).
x_redis='$7 > 0 ? $25 / $7 : ""'           # redis-server CPU ms per 1000 link events
x_wake='$7 > 0 ? $36 * 1000 / $7 : ""'      # wake-ups per 1000 link events
x_lat() { echo "\$$1 ~ /^[0-9]+\$/ ? \$$1 / 1000 : \"\""; }  # field µs → ms

report() {  # label, results...
    local label="$1"; shift
    local r=("$@") per1000=() cpe=() eps=() line
    for line in "${r[@]}"; do
        set -- $line
        per1000+=("$(echo "scale=2; $8 / 1000 * 1000 / $7" | bc)")
        cpe+=("$(echo "scale=2; $9 / $7" | bc)")
        eps+=("$(echo "$7 * 1000 / ($6 + 1)" | bc)")
    done
    echo "| $label | $n | $(mmm 1 "${r[@]}") | $(mmm 2 "${r[@]}") | $(mmm 3 "${r[@]}" | awk '{printf "%.1f / %.1f / %.1f", $1/1000, $3/1000, $5/1000}') | $(mmm 4 "${r[@]}") | $(mmx %d '$34' "${r[@]}") | $(mmx %d '$35' "${r[@]}") | $(yes_count 5 "${r[@]}")/${#r[@]} | $(mmm 6 "${r[@]}") | $(mmm 7 "${r[@]}") | $(printf '%s\n' "${eps[@]}" | sort -n | sed -n "$(( (${#eps[@]} + 1) / 2 ))p") | $(printf '%s\n' "${per1000[@]}" | sort -n | sed -n "$(( (${#per1000[@]} + 1) / 2 ))p") | $(mmx %.2f "$x_redis" "${r[@]}") | $(medx %.0f "$x_wake" "${r[@]}") | $(printf '%s\n' "${cpe[@]}" | sort -n | sed -n "$(( (${#cpe[@]} + 1) / 2 ))p") | $(yes_count 10 "${r[@]}")/${#r[@]} | $(mmm 11 "${r[@]}") | $(mmm 12 "${r[@]}" | awk '{printf "%.1f / %.1f / %.1f", $1/1000, $3/1000, $5/1000}') | $(mmm 15 "${r[@]}") | $(medx %.2f "$(x_lat 30)" "${r[@]}") / $(medx %.2f "$(x_lat 31)" "${r[@]}") | $(medx %.2f "$(x_lat 32)" "${r[@]}") / $(medx %.2f "$(x_lat 33)" "${r[@]}") |"
}

# One row: for each figure, the other command's median over ours (">1": ours is better
# for times, CPU, memory and commands; the converged counts are shown as they are).
ratios() {  # ours-results-file other-results-file
    local a b
    mapfile -t a < "$1"; mapfile -t b < "$2"
    r() {  # expr: the other's median ÷ ours
        awk -v x="$(medx %.6g "$1" "${a[@]}")" -v y="$(medx %.6g "$1" "${b[@]}")" 'BEGIN { if (x != "–" && y != "–" && x > 0) printf "%.2f×", y / x; else printf "–" }'
    }
    printf '| compare ÷ ours | %s | %s | %s | %s | %s | %s | %s | | %s | | | %s | %s | %s | %s | | %s | %s | | %s / %s | %s / %s |\n' "$n" \
        "$(r '$1')" "$(r '$2')" "$(r '$3')" "$(r '$4')" "$(r '$34')" "$(r '$35')" \
        "$(r '$6')" "$(r '$7 > 0 ? $8 / $7 : ""')" "$(r "$x_redis")" "$(r "$x_wake")" \
        "$(r '$7 > 0 ? $9 / $7 : ""')" "$(r '$11')" "$(r '$12')" \
        "$(r "$(x_lat 30)")" "$(r "$(x_lat 31)")" "$(r "$(x_lat 32)")" "$(r "$(x_lat 33)")"
}

# The table of issue 13 from the raw lines of C++, ours and the floor. A cell
# is "min / median / max" over the runs of one figure (an awk expression over
# the fields of one_run's line); a ratio is of the medians.
issue13() {  # cpp-file ours-file floor-file
    local cppf=$1 oursf=$2 floorf=$3 cpp_writes
    vals() { awk "{ v = $2; if (v != \"\") print v }" "$1" | sort -g; }
    cell() {  # file expr fmt
        vals "$1" "$2" | awk -v f="$3" '{ a[NR] = $1 } END { if (NR == 0) print "–"; else printf f " / " f " / " f "\n", a[1], a[int((NR + 1) / 2)], a[NR] }'
    }
    medof() { vals "$1" "$2" | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
    ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x != "" && y != "" && x > 0) printf "%.2f", y / x; else printf "–" }'; }
    cpp_writes=$(medof "$cppf" '$18')
    row() {  # label expr fmt [floor-expr]: C++, ours, ours ÷ C++, floor, ours ÷ floor, C++ ÷ floor
        local cm om fm="" fcell="" of="" cf=""
        cm=$(medof "$cppf" "$2"); om=$(medof "$oursf" "$2")
        if [ -n "${4:-}" ]; then
            fcell=$(cell "$floorf" "$4" "$3"); fm=$(medof "$floorf" "$4")
            of=$(ratio "$fm" "$om"); cf=$(ratio "$fm" "$cm")
        fi
        echo "| $1 | $(cell "$cppf" "$2" "$3") | $(cell "$oursf" "$2" "$3") | $(ratio "$cm" "$om") | $fcell | $of | $cf |"
    }
    count() {  # label field: runs whose field is "yes"
        echo "| $1 | $(awk -v f="$2" '$f == "yes"' "$cppf" | wc -l)/$(wc -l < "$cppf") | $(awk -v f="$2" '$f == "yes"' "$oursf" | wc -l)/$(wc -l < "$oursf") | | | | |"
    }
    echo "| figure | C++ | ours | ours ÷ C++ | floor | ours ÷ floor | C++ ÷ floor |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    row "daemon CPU per storm (s)" '$8 / 1e6' '%.3f' '$8 / 1e6'
    row "CPU ms per 1000 link events (storm)" '$8 / $7' '%.2f' '$8 / $7'
    row "storm CPU µs per C++ STATE_DB write (C++: $cpp_writes writes)" "\$8 / $cpp_writes" '%.1f'
    row "storm: user CPU (ms, /proc/PID/stat)" '$16' '%d' '$16'
    row "storm: system CPU (ms, /proc/PID/stat)" '$17' '%d' '$17'
    row "link events per storm" '$7' '%d' '$7'
    row "STATE_DB writes per storm (HSET, HMSET, DEL)" '$18' '%d'
    row "Redis commands per link event (storm)" '$9 / $7' '%.2f'
    row "redis-server CPU per storm (ms)" '$25 / 1000' '%.0f'
    row "redis-server CPU ms per 1000 link events (storm)" '$25 / $7' '%.2f'
    row "wake-ups per 1000 link events (storm; voluntary context switches)" '$36 * 1000 / $7' '%.0f' '$36 * 1000 / $7'
    row "notifications lost per storm (kernel drops)" '$21' '%d' '$21'
    row "ports differing from the kernel after the storm" '$19' '%d'
    count "storms reaching the kernel's final state" 5
    row "start → PortConfigDone (ms)" '$1' '%d'
    row "start → PortInitDone (ms)" '$2' '%d'
    row "CPU at PortInitDone (ms)" '$3 / 1000' '%.1f'
    row "peak RSS (MiB, VmHWM)" '$4 / 1024' '%.2f' '$4 / 1024'
    row "private dirty memory (KiB, smaps_rollup, largest sample)" '$34' '%d' '$34'
    row "PSS (KiB, smaps_rollup, largest sample)" '$35' '%d' '$35'
    row "drain CPU (ms, same backlog)" '$12 / 1000' '%.1f' '$12 / 1000'
    row "isolated event → STATE_DB p50 (ms; each run's $lat_samples samples)" "$(x_lat 30)" '%.2f'
    row "isolated event → STATE_DB p99 (ms)" "$(x_lat 31)" '%.2f'
    row "event right after a burst of $burst → STATE_DB p50 (ms)" "$(x_lat 32)" '%.2f'
    row "event right after a burst of $burst → STATE_DB p99 (ms)" "$(x_lat 33)" '%.2f'
    row "drain: link events" '$26' '%d' '$26'
    row "link socket receive buffer (MiB, sk_rcvbuf)" '$28 / 1048576' '%.0f' '$28 / 1048576'
    row "drain: notifications lost (kernel drops)" '$22' '%d' '$22'
    row "ports differing from the kernel after the drain" '$20' '%d'
    count "drains reaching the kernel's final state" 10
    row "threads at the end" '$23' '%d'
    row "CPU outside the main thread, whole run (ms)" '$24 / 1000' '%.1f'
    echo
    echo "CPU by thread over the whole run (ms; main thread first), each run: C++ $(cut -d' ' -f27 "$cppf" | paste -sd' ' -); ours $(cut -d' ' -f27 "$oursf" | paste -sd' ' -)"
}

if [ -n "$floor_only" ]; then
    echo "## The floor's receive paths: $runs runs per size, storms of $cycles down/up cycles + an MTU change (min / median / max; coalesce: --window-us $floor_window)"
    echo
    machine_line
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| receive path | ports | link events | storm CPU (ms) | CPU ms per 1000 events | wake-ups per 1000 events | storm user / system (ms) | drain CPU (ms) | drain events | drain: notifications lost | peak RSS (KiB) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for n in $sizes; do
        declare -A by_mode=()
        for _ in $(seq "$runs"); do
            for floor_mode in $floor_only; do
                [ -z "$sys_dir" ] || mkdir -p "$sys_dir/$floor_mode"
                by_mode[$floor_mode]+="$(sys_dir=${sys_dir:+$sys_dir/$floor_mode} floor_run)"$'\n'
            done
        done
        for floor_mode in $floor_only; do
            mapfile -t r < <(printf '%s' "${by_mode[$floor_mode]}")
            per1000=$(for line in "${r[@]}"; do set -- $line; echo "scale=2; $8 / $7" | bc; done | sort -n | sed -n "$(( (${#r[@]} + 1) / 2 ))p")
            echo "| $floor_mode | $n | $(mmm 7 "${r[@]}") | $(mmm 8 "${r[@]}" | awk '{printf "%.1f / %.1f / %.1f", $1/1000, $3/1000, $5/1000}') | $per1000 | $(medx %.0f "$x_wake" "${r[@]}") | $(med 16 "${r[@]}") / $(med 17 "${r[@]}") | $(mmm 12 "${r[@]}" | awk '{printf "%.1f / %.1f / %.1f", $1/1000, $3/1000, $5/1000}') | $(med 26 "${r[@]}") | $(mmm 22 "${r[@]}") | $(med 4 "${r[@]}") |"
        done
        unset by_mode
    done
    echo
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

echo "## portsyncd end to end: $runs runs per size, storms of $cycles down/up cycles + an MTU change (min / median / max)"
echo
machine_line
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| daemon | ports | start → PortConfigDone (ms) | start → PortInitDone (ms) | CPU at PortInitDone (ms) | peak RSS (KiB) | private dirty (KiB) | PSS (KiB) | storm converged | storm: to idle (ms) | link events | events/s | CPU ms per 1000 events | redis-server CPU ms per 1000 events | wake-ups per 1000 events | Redis commands per event | drain converged | drain: to idle (ms) | drain CPU (ms) | re-dumps (overruns) | isolated event → STATE_DB p50 / p99 (ms, medians of the runs) | after a burst of $burst: p50 / p99 (ms, medians of the runs) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
issue13_tables=()
for n in $sizes; do
    results=(); others=(); floors=()
    rm -f /tmp/portsyncd-e2e-"$n".*.latency
    for _ in $(seq "$runs"); do
        results+=("$(one_run ours "$ours")")
        if [ -n "$cpp" ]; then
            others+=("$(one_run cpp "$compare")")
            floors+=("$(floor_run)")
        elif [ -n "$compare" ]; then
            others+=("$(one_run other "$compare")")
        fi
    done
    report portsyncd "${results[@]}"
    printf '%s\n' "${results[@]}" > "/tmp/portsyncd-e2e-$n.raw"
    if [ -n "$compare" ]; then
        report "$([ -n "$cpp" ] && echo "C++ portsyncd" || echo compare)" "${others[@]}"
        printf '%s\n' "${others[@]}" > "/tmp/portsyncd-e2e-$n.compare.raw"
        ratios "/tmp/portsyncd-e2e-$n.raw" "/tmp/portsyncd-e2e-$n.compare.raw"
    fi
    if [ -n "$cpp" ]; then
        printf '%s\n' "${floors[@]}" > "/tmp/portsyncd-e2e-$n.floor.raw"
        issue13_tables+=("$n")
    fi
done
for n in "${issue13_tables[@]}"; do
    echo
    echo "### Against the C++ daemon (issue 13): $n ports, $runs runs, storms of $cycles down/up cycles + an MTU change (min / median / max; ratios of the medians; floor: benches/floor --mode $floor_mode$([ "$floor_mode" != coalesce ] || echo " --window-us $floor_window"))"
    echo
    issue13 "/tmp/portsyncd-e2e-$n.compare.raw" "/tmp/portsyncd-e2e-$n.raw" "/tmp/portsyncd-e2e-$n.floor.raw"
done
# Latency over every run's samples together (each run's warm-up left out):
# with R runs, R × --samples samples per cell, so a p99 steadier than one run's.
echo
echo "### Latency, every run's samples pooled (ms: p50 / p99 / max; samples)"
echo
echo "| daemon | ports | isolated | right after a burst of $burst |"
echo "|---|---:|---:|---:|"
for n in $sizes; do
    for kind in ours other cpp; do
        f="/tmp/portsyncd-e2e-$n.$kind.latency"
        [ -f "$f" ] || continue
        pooled() {  # prefix
            grep "^$1" "$f" | cut -d: -f2 | awk '{ for (i = 2; i <= NF; i++) print $i }' | sort -n |
                awk '{ a[NR] = $1 } END { if (NR == 0) { print "–"; exit } p = int(NR * 0.99); if (p < NR * 0.99) p++
                       printf "%.2f / %.2f / %.2f; %d\n", a[int((NR + 1) / 2)] / 1000, a[p] / 1000, a[NR] / 1000, NR }'
        }
        echo "| $(case $kind in ours) echo portsyncd ;; other) echo compare ;; cpp) echo "C++ portsyncd" ;; esac) | $n | $(pooled isolated) | $(pooled after) |"
    done
done
if [ -n "$sys_dir" ]; then
    # Per 1000 link events of the storm, each daemon's median over its runs.
    for n in $sizes; do
        echo
        echo "### syscalls and context switches per 1000 link events in the storm ($n ports; perf stat -p; median of the runs)"
        echo
        for f in "$sys_dir"/*-"$n"-*.txt; do
            awk -F, -v kind="$(basename "$f" | cut -d- -f1)" 'NR == 1 { split($0, h, " "); ev = h[3]; next }
                { e = $3; sub(/^(raw_)?syscalls:sys_enter_?/, "", e); if (e == "") e = "all syscalls"; if (e == "cs") e = "context switches"
                  print kind "\t" e "\t" ($1 ~ /^[0-9]+$/ ? $1 * 1000 / ev : 0) }' "$f"
        done | sort -t$'\t' -k1,1 -k2,2 -k3,3g | awk -F'\t' '
            { k = $1 "\t" $2; n[k]++; v[k, n[k]] = $3; kinds[$1] = 1; evs[$2] = 1 }
            END { nk = 0; for (k in kinds) kk[++nk] = k
                  printf "| per 1000 link events |"; for (i = 1; i <= nk; i++) printf " %s |", kk[i]; print ""
                  printf "|---|"; for (i = 1; i <= nk; i++) printf "---:|"; print ""
                  for (e in evs) { line = "| " e " |"; any = 0
                      for (i = 1; i <= nk; i++) { k = kk[i] "\t" e; m = n[k] ? v[k, int((n[k] + 1) / 2)] : 0
                          if (m >= 0.5) any = 1; line = line sprintf(" %.0f |", m) }
                      if (any) print line } }'
    done
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw lines: /tmp/portsyncd-e2e-<ports>{,.compare,.floor}.raw, latency samples: /tmp/portsyncd-e2e-<ports>.<ours|other|cpp>.latency"
