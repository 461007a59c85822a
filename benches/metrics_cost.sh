#!/usr/bin/env bash
# What the Prometheus metrics endpoint costs: two builds in one run, on this
# machine, against a throwaway redis-server and veth host interfaces in a
# network namespace (benches/lib.sh). Three daemons, alternating run by run:
#   OLD     the build before the endpoint (its binary given first),
#   NEW off the build with it, no --metrics-addr,
#   NEW on  the same, with --metrics-addr 127.0.0.1:9100 (inside the namespace).
# Each run: start with PORTS configured ports whose host interfaces exist;
# idle and peak RSS (VmRSS / VmHWM) ~3 s after PortInitDone; the daemon's
# CPU over IDLE seconds of nothing; NEW on only: SCRAPES back-to-back scrapes
# of /metrics (curl, one connection each: the endpoint closes every
# exchange), less the daemon's CPU over the same wall time with no scrape
# (measured right after, the same length), and the response size; then a
# storm of PORTS x FLAPS down/up flaps in one `ip -batch`, its CPU until the
# daemon is idle again, and whether STATE_DB ended as the kernel.
# CPU is read two ways: utime+stime of /proc/PID/stat (clock ticks, 10 ms)
# and the threads' schedstat (ns; exact, but threads that ended are lost).
#
# usage (root): benches/metrics_cost.sh [-r RUNS=3] [-n PORTS=64] [-s SCRAPES=200]
#                                       [-k FLAPS=10] [-i IDLE_S=5] OLD_BIN NEW_BIN
# The commits shown are those of the git tree each binary lies in (a
# worktree's target/release), or set OLD_COMMIT / NEW_COMMIT.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs=3; ports=64; scrapes=200; flaps=10; idle_s=5
usage() { echo "usage: $0 [-r RUNS=3] [-n PORTS=64] [-s SCRAPES=200] [-k FLAPS=10] [-i IDLE_S=5] OLD_BIN NEW_BIN" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -r) [ $# -ge 2 ] || usage; runs="$2"; shift 2 ;;
        -n) [ $# -ge 2 ] || usage; ports="$2"; shift 2 ;;
        -s) [ $# -ge 2 ] || usage; scrapes="$2"; shift 2 ;;
        -k) [ $# -ge 2 ] || usage; flaps="$2"; shift 2 ;;
        -i) [ $# -ge 2 ] || usage; idle_s="$2"; shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || usage
old_bin="$(realpath "$1")"; new_bin="$(realpath "$2")"
[ -x "$old_bin" ] && [ -x "$new_bin" ] || { echo "metrics_cost: $old_bin or $new_bin is not an executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "metrics_cost: needs root (network namespaces)" >&2; exit 2; }
. "$here/lib.sh"
bench_tools
command -v size >/dev/null || { apt-get update -qq && apt-get install -y -qq binutils; }
hz=$(getconf CLK_TCK)
metrics_port=9100

commit_of() {  # binary
    local d; d="$(dirname "$1")"
    if git -C "$d" rev-parse --short HEAD >/dev/null 2>&1; then
        echo "$(git -C "$d" rev-parse --short HEAD)$(git -C "$d" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' + uncommitted changes')"
    else echo unknown; fi
}
old_commit="${OLD_COMMIT:-$(commit_of "$old_bin")}"; new_commit="${NEW_COMMIT:-$(commit_of "$new_bin")}"

# Whatever is live, for the trap: processes, namespaces, temp dirs.
live_pids=(); live_ns=(); live_dirs=()
cleanup() {
    local p n d
    for p in "${live_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for n in "${live_ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    for d in "${live_dirs[@]}"; do rm -rf "$d"; done
    live_pids=(); live_ns=(); live_dirs=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
results="$(mktemp -d)"; live_dirs+=("$results")

# Waits (up to 60 s) for a milestone in APPL_DB (queued or popped); status 1
# if it did not come or PID ended.
wait_for() {  # config|init socket pid
    local deadline=$(( $(now_ms) + 60000 )) key
    case "$1" in config) key=PortConfigDone ;; init) key=PortInitDone ;; esac
    until [ "$(redis-cli -s "$2" -n 0 EXISTS "_PORT_TABLE:$key" "PORT_TABLE:$key")" != 0 ]; do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.005
    done
}
# utime+stime of the whole process (ms, from clock ticks).
ticks_ms() { awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%d\n", ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# SCRAPES GETs of /metrics from inside namespace NS, back to back, one
# client process. Sets scrape_ok (answers 200), scrape_bytes (the last body's size).
scrape() {  # ns work count
    local url="http://127.0.0.1:$metrics_port/metrics" i
    if command -v curl >/dev/null; then
        for i in $(seq "$3"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done > "$2/curl.cfg"
        ip netns exec "$1" curl -s -K "$2/curl.cfg" -w '%{http_code} %{size_download}\n' > "$2/scrapes" || true
    else  # no curl: bash's /dev/tcp, one connection per scrape; the size is the Content-Length
        cat > "$2/scrape.sh" <<'SCRAPE'
for _ in $(seq "$1"); do
    exec 3<>"/dev/tcp/127.0.0.1/$2"
    printf 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
    head=$(LC_ALL=C cat <&3 | tr -d '\r' | sed '/^$/q'); exec 3<&-
    echo "$(echo "$head" | head -1 | cut -d' ' -f2) $(echo "$head" | awk -F': ' 'tolower($1) == "content-length" { print $2 }')"
done
SCRAPE
        ip netns exec "$1" bash "$2/scrape.sh" "$3" "$metrics_port" > "$2/scrapes" || true
    fi
    scrape_ok=$(grep -c '^200 ' "$2/scrapes" || true)
    scrape_bytes=$(tail -1 "$2/scrapes" | cut -d' ' -f2)
    [ "$scrape_ok" = "$3" ] || { echo "metrics_cost: only $scrape_ok of $3 scrapes answered 200 (last: $(tail -1 "$2/scrapes"))" >&2; return 1; }
}

# One run of one daemon; appends one line to $results/KIND:
#  1 VmRSS KiB  2 VmHWM KiB (~3 s after PortInitDone)  3 idle CPU over IDLE_S, ticks ms
#  4 the same, schedstat µs  5 storm CPU ticks ms  6 storm CPU µs  7 storm to idle ms
#  8 storm converged (yes/NO)  9 scrapes answered 200  10 response bytes  11 scrape wall ms
# 12 scrape CPU ticks ms  13 scrape CPU µs  14 idle CPU over the scrape wall time, ticks ms
# 15 the same µs  16 VmRSS KiB after the scrapes  17 VmHWM KiB after the scrapes
# 18 start → PortInitDone ms.  "-": not measured for this daemon.
one_run() {  # kind bin [extra args...]
    local kind=$1 bin=$2; shift 2
    local work ns sock redis_pid pid t0 tinit i k
    wait_quiet >/dev/null
    work="$(mktemp -d)"; live_dirs+=("$work"); ns="psm$$x$RANDOM"; sock="$work/redis.sock"
    redis_start "$work"; live_pids+=("$redis_pid")
    db_config "$sock" "$work/db.json"
    printf '[log]\noutput = "STDERR"\n' > "$work/p.conf"
    seed_ports "$sock" "$ports"
    ip netns add "$ns"; live_ns+=("$ns")
    ip -n "$ns" link set lo up  # a new namespace's loopback is down: the endpoint would be unreachable
    host_batches "$ports" "$work"
    for k in $(seq "$flaps"); do
        for i in $(seq 0 $((ports - 1))); do echo "link set Ethernet$((i * 4)) down"; done
        for i in $(seq 0 $((ports - 1))); do echo "link set Ethernet$((i * 4)) up"; done
    done > "$work/storm.batch"
    t0=$(now_ms)
    ip netns exec "$ns" "$bin" --db-config "$work/db.json" --config "$work/p.conf" --state-dir "$work/state" "$@" \
        > "$work/out" 2> "$work/log" &
    pid=$!; live_pids+=("$pid")
    wait_for config "$sock" "$pid" || { echo "metrics_cost: $kind: no PortConfigDone; log: $(tail -5 "$work/log")" >&2; return 1; }
    orchagent_pop "$sock"                      # orchagent: the ports are taken,
    ip -n "$ns" -batch "$work/add.batch"       # and their host interfaces created
    ip -n "$ns" -batch "$work/peers.batch"
    wait_for init "$sock" "$pid" || { echo "metrics_cost: $kind: no PortInitDone; log: $(tail -5 "$work/log")" >&2; return 1; }
    tinit=$(( $(now_ms) - t0 ))
    sleep 3
    local rss hwm; rss=$(kib "$pid" VmRSS); hwm=$(kib "$pid" VmHWM)

    # Idle: IDLE_S seconds of nothing.
    wait_idle "$pid" >/dev/null
    local i0 u0 idle_t idle_u
    i0=$(ticks_ms "$pid"); u0=$(cpu_us "$pid"); sleep "$idle_s"
    idle_t=$(( $(ticks_ms "$pid") - i0 )); idle_u=$(( $(cpu_us "$pid") - u0 ))

    # Scrapes (metrics on only), then the same wall time with none.
    local s_ok=- s_bytes=- s_ms=- s_t=- s_u=- q_t=- q_u=- rss2=- hwm2=-
    if [ "$kind" = on ]; then
        wait_idle "$pid" >/dev/null
        local w0
        i0=$(ticks_ms "$pid"); u0=$(cpu_us "$pid"); w0=$(now_ms)
        scrape "$ns" "$work" "$scrapes"
        s_ms=$(( $(now_ms) - w0 )); s_t=$(( $(ticks_ms "$pid") - i0 )); s_u=$(( $(cpu_us "$pid") - u0 ))
        s_ok=$scrape_ok; s_bytes=$scrape_bytes
        rss2=$(kib "$pid" VmRSS); hwm2=$(kib "$pid" VmHWM)
        wait_idle "$pid" >/dev/null
        i0=$(ticks_ms "$pid"); u0=$(cpu_us "$pid")
        sleep "$(awk -v ms="$s_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
        q_t=$(( $(ticks_ms "$pid") - i0 )); q_u=$(( $(cpu_us "$pid") - u0 ))
    fi

    # Storm: PORTS x FLAPS down/up in one ip -batch, until the daemon is idle.
    wait_idle "$pid" >/dev/null
    local ts st_t st_u st_ms check ok
    i0=$(ticks_ms "$pid"); u0=$(cpu_us "$pid"); ts=$(now_ms)
    ip -n "$ns" -batch "$work/storm.batch"
    st_ms=$(( $(wait_idle "$pid") - ts ))
    st_t=$(( $(ticks_ms "$pid") - i0 )); st_u=$(( $(cpu_us "$pid") - u0 ))
    check=$(state_vs_kernel "$sock" "$ns")  # "<links that differ> <links>"
    ok=$([ "$check" = "0 $ports" ] && echo yes || echo NO)

    kill -TERM "$pid"; wait "$pid" || true
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
    ip netns del "$ns"; rm -rf "$work"; live_pids=(); live_ns=(); live_dirs=("$results")
    echo "$rss $hwm $idle_t $idle_u $st_t $st_u $st_ms $ok $s_ok $s_bytes $s_ms $s_t $s_u $q_t $q_u $rss2 $hwm2 $tinit" >> "$results/$kind"
}

# Waits (up to 5 min) until no compiler runs on the machine.
wait_no_build() {
    local deadline=$(( $(date +%s) + 300 ))
    while pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "metrics_cost: a build is still running after 5 min; measuring anyway" >&2; builds_seen=yes; return
        fi
        sleep 5
    done
}
builds_seen=no

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$runs"); do
    wait_no_build; one_run old "$old_bin"
    wait_no_build; one_run off "$new_bin"
    wait_no_build; one_run on "$new_bin" --metrics-addr "127.0.0.1:$metrics_port"
    echo "metrics_cost: run $r of $runs done" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# "min / median / max" of an awk expression over the fields of KIND's lines.
cell() {  # kind expr fmt
    awk "{ v = $2; if (v != \"-\") print v }" "$results/$1" | sort -g |
        awk -v f="$3" '{ a[NR] = $1 } END { if (NR == 0) print "–"; else if (NR == 1) printf f "\n", a[1]; else printf f " / " f " / " f "\n", a[1], a[int((NR + 1) / 2)], a[NR] }'
}
row() {  # label expr fmt [kinds: default old off on]
    local k line="| $1 |"
    for k in old off on; do
        if [[ " ${4:-old off on} " == *" $k "* ]]; then line+=" $(cell "$k" "$2" "$3") |"; else line+=" – |"; fi
    done
    echo "$line"
}
text_of() { size -A "$1" | awk '$1 == ".text" { print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f %%", (b - a) * 100 / a }'; }

echo "## The metrics endpoint's cost: $runs runs each, alternating (min / median / max)"
echo
echo "machine: $(lscpu | grep 'Model name' | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r), redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
echo "OLD: $old_commit ($old_bin); NEW: $new_commit ($new_bin)"
echo "$ports configured ports with host interfaces; storm: $ports ports x $flaps down/up flaps in one ip -batch ($((ports * flaps * 2)) link changes); $scrapes scrapes of /metrics back to back over TCP ($(command -v curl >/dev/null && echo curl || echo bash /dev/tcp), a connection each)"
echo "load before: $load_before; after: $load_after; a build was running during the measurement: $builds_seen"
echo
echo "| figure | OLD | NEW, metrics off | NEW, metrics on |"
echo "|---|---:|---:|---:|"
os=$(stat -c %s "$old_bin"); ns_=$(stat -c %s "$new_bin"); ot=$(text_of "$old_bin"); nt=$(text_of "$new_bin")
echo "| binary size (bytes) | $os | $ns_ ($(ratio "$os" "$ns_")) | $ns_ |"
echo "| .text (bytes) | $ot | $nt ($(ratio "$ot" "$nt")) | $nt |"
row "start → PortInitDone (ms)" '$18' '%d'
row "idle RSS ~3 s after PortInitDone (KiB, VmRSS)" '$1' '%d'
row "peak RSS ~3 s after PortInitDone (KiB, VmHWM)" '$2' '%d'
row "idle CPU over ${idle_s} s (ms, utime+stime)" '$3' '%d'
row "idle CPU over ${idle_s} s (ms, schedstat)" '$4 / 1000' '%.2f'
row "$scrapes scrapes answered 200" '$9' '%d' on
row "response size (bytes, text format 0.0.4)" '$10' '%d' on
row "wall time of $scrapes scrapes (ms)" '$11' '%d' on
row "daemon CPU during the scrapes (ms, utime+stime)" '$12' '%d' on
row "daemon CPU, same wall time, no scrape (ms, utime+stime)" '$14' '%d' on
row "CPU per scrape (µs, utime+stime: (scrapes − idle) / $scrapes)" "(\$12 - \$14) * 1000 / $scrapes" '%.0f' on
row "CPU per scrape (µs, schedstat: (scrapes − idle) / $scrapes)" "(\$13 - \$15) / $scrapes" '%.0f' on
row "RSS after the scrapes (KiB, VmRSS)" '$16' '%d' on
row "peak RSS after the scrapes (KiB, VmHWM)" '$17' '%d' on
row "storm: daemon CPU (ms, utime+stime)" '$5' '%d'
row "storm: daemon CPU (ms, schedstat)" '$6 / 1000' '%.1f'
row "storm: daemon CPU per commanded link change (µs, schedstat)" "\$6 / $((ports * flaps * 2))" '%.2f'
row "storm: to idle (ms)" '$7' '%d'
echo "| storms ending with STATE_DB as the kernel | $(grep -c ' yes ' "$results/old" || true)/$runs | $(grep -c ' yes ' "$results/off" || true)/$runs | $(grep -c ' yes ' "$results/on" || true)/$runs |"
