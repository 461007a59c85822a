#!/usr/bin/env bash
# portsyncd end to end, measured: start-up, a flap storm, and a drain after
# SIGSTOP, against a real redis-server and real veth ports in a network
# namespace, with an orchagent stand-in. Prints markdown tables (min / median
# / max over the runs) with the machine and commit.
#
# usage (root): benches/e2e.sh [-n "32 128 512"] [-r RUNS=3] [-k CYCLES=10] [--compare 'CMD']
#
# --compare 'CMD' runs CMD the same way in the same run (inside the namespace,
# through sh -c, with $DB_CONFIG = the run's database_config.json and $WORK =
# its temp dir; CMD must find Redis through them) and prints the ratios. For
# example, as a sanity check: --compare "$PWD/target/release/portsyncd --db-config \$DB_CONFIG --state-dir \$WORK/s2"
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="32 128 512"; runs=3; cycles=10; compare=""
while [ $# -gt 0 ]; do
    case "$1" in
        -n) sizes="$2"; shift 2 ;;
        -r) runs="$2"; shift 2 ;;
        -k) cycles="$2"; shift 2 ;;
        --compare) compare="$2"; shift 2 ;;
        *) echo "usage: $0 [-n \"32 128 512\"] [-r RUNS] [-k CYCLES] [--compare 'CMD']" >&2; exit 2 ;;
    esac
done
. benches/lib.sh
bench_tools
cargo build -q --release -p portsyncd
ours="$PWD/target/release/portsyncd --db-config \$DB_CONFIG --config \$WORK/p.conf --state-dir \$WORK/state"
storm() {  # ns file final_mtu
    local i k
    for k in $(seq "$cycles"); do
        for i in $(seq 0 $((n - 1))); do echo "link set Ethernet$((i * 4)) down"; done
        for i in $(seq 0 $((n - 1))); do echo "link set Ethernet$((i * 4)) up"; done
    done > "$2"
    for i in $(seq 0 $((n - 1))); do echo "link set Ethernet$((i * 4)) mtu $3"; done >> "$2"
}

one_run() {  # command → one line of figures
    local cmd="$1" work ns sock redis_pid pid t0 tcfg tinit cpu_init
    work="$(mktemp -d)"; ns="psb$$x$RANDOM"; sock="$work/redis.sock"
    redis_start "$work"
    db_config "$sock" "$work/db.json"
    printf '[log]\noutput = "STDERR"\n' > "$work/p.conf"
    seed_ports "$sock" "$n"
    ip netns add "$ns"
    host_batches "$n" "$work"
    t0=$(now_ms)
    DB_CONFIG="$work/db.json" WORK="$work" ip netns exec "$ns" sh -c "exec $cmd" 2> "$work/log" &
    pid=$!
    # orchagent: once PortConfigDone is queued, pop everything and create the host interfaces.
    wait_config_done "$sock"
    tcfg=$(( $(now_ms) - t0 ))
    orchagent_pop "$sock"
    ip -n "$ns" -batch "$work/add.batch"
    wait_init_done "$sock"
    tinit=$(( $(now_ms) - t0 )); cpu_init=$(cpu_us "$pid")
    ip -n "$ns" -batch "$work/peers.batch"
    wait_idle "$pid" >/dev/null

    # Storm.
    storm "$ns" "$work/storm.batch" 9000
    ip netns exec "$ns" python3 benches/linkcount.py > "$work/count" & local counter=$!
    until grep -q ready "$work/count" 2>/dev/null; do sleep 0.01; done
    local c0 u0 ts tidle events
    c0=$(commands "$sock"); u0=$(cpu_us "$pid"); ts=$(now_ms)
    ip -n "$ns" -batch "$work/storm.batch"
    tidle=$(wait_idle "$pid")
    kill -TERM "$counter"; wait "$counter" || true
    events=$(tail -1 "$work/count" | cut -d' ' -f1)
    local storm_ms=$(( tidle - ts )) storm_cpu=$(( $(cpu_us "$pid") - u0 )) storm_cmds=$(( $(commands "$sock") - c0 ))
    local ok_storm=$([ "$(matching "$sock" up up 9000)" = "$n" ] && echo yes || echo NO)

    # Drain: stopped while a storm queues up, then continued.
    storm "$ns" "$work/drain.batch" 9100
    kill -STOP "$pid"
    ip -n "$ns" -batch "$work/drain.batch"
    local ud td
    ud=$(cpu_us "$pid"); td=$(now_ms)
    kill -CONT "$pid"
    tidle=$(wait_idle "$pid")
    local drain_ms=$(( tidle - td )) drain_cpu=$(( $(cpu_us "$pid") - ud ))
    local ok_drain=$([ "$(matching "$sock" up up 9100)" = "$n" ] && echo yes || echo NO)
    local hwm; hwm=$(grep VmHWM "/proc/$pid/status" | tr -s ' ' | cut -d' ' -f2)
    kill -TERM "$pid"; wait "$pid" || true
    local rt_batch; rt_batch=$(grep -o 'round trips [0-9]*' "$work/log" | grep -o '[0-9]*' || echo 0)
    local batches; batches=$(grep -o 'batches [0-9]*' "$work/log" | grep -o '[0-9]*' || echo 0)
    local redumps; redumps=$(grep -o 'redumps [0-9]*' "$work/log" | grep -o '[0-9]*' || echo "?")
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
    ip netns del "$ns"; rm -rf "$work"
    echo "$tcfg $tinit $cpu_init $hwm $ok_storm $storm_ms $events $storm_cpu $storm_cmds $ok_drain $drain_ms $drain_cpu $rt_batch $batches $redumps"
}

col() { printf '%s\n' "${@:2}" | cut -d' ' -f"$1"; }
mmm() { local v; mapfile -t v < <(col "$@" | sort -n); echo "${v[0]} / ${v[$(( ${#v[@]} / 2 ))]} / ${v[-1]}"; }
med() { local v; mapfile -t v < <(col "$@" | sort -n); echo "${v[$(( ${#v[@]} / 2 ))]}"; }
yes_count() { col "$@" | grep -c yes || true; }

report() {  # label, results...
    local label="$1"; shift
    local r=("$@") per1000=() cpe=() eps=() line
    for line in "${r[@]}"; do
        set -- $line
        per1000+=("$(echo "scale=2; $8 / 1000 * 1000 / $7" | bc)")
        cpe+=("$(echo "scale=2; $9 / $7" | bc)")
        eps+=("$(echo "$7 * 1000 / ($6 + 1)" | bc)")
    done
    echo "| $label | $n | $(mmm 1 "${r[@]}") | $(mmm 2 "${r[@]}") | $(mmm 3 "${r[@]}" | awk '{printf "%.1f / %.1f / %.1f", $1/1000, $3/1000, $5/1000}') | $(mmm 4 "${r[@]}") | $(yes_count 5 "${r[@]}")/${#r[@]} | $(mmm 6 "${r[@]}") | $(mmm 7 "${r[@]}") | $(printf '%s\n' "${eps[@]}" | sort -n | sed -n "$(( (${#eps[@]} + 1) / 2 ))p") | $(printf '%s\n' "${per1000[@]}" | sort -n | sed -n "$(( (${#per1000[@]} + 1) / 2 ))p") | $(printf '%s\n' "${cpe[@]}" | sort -n | sed -n "$(( (${#cpe[@]} + 1) / 2 ))p") | $(yes_count 10 "${r[@]}")/${#r[@]} | $(mmm 11 "${r[@]}") | $(mmm 12 "${r[@]}" | awk '{printf "%.1f / %.1f / %.1f", $1/1000, $3/1000, $5/1000}') | $(mmm 15 "${r[@]}") |"
}

# One row: for each figure, the other command's median over ours (">1": ours is better
# for times, CPU, memory and commands; the converged counts are shown as they are).
ratios() {  # ours-results-file other-results-file
    local a b
    medf() { cut -d' ' -f"$1" "$2" | sort -n | sed -n "$(( ($(wc -l < "$2") + 1) / 2 ))p"; }
    per1000() { awk '{ if ($7 > 0) print $8 / $7 }' "$1" | sort -n | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; }
    perev() { awk '{ if ($7 > 0) print $9 / $7 }' "$1" | sort -n | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; }
    r() { awk -v x="$1" -v y="$2" 'BEGIN { if (x > 0) printf "%.2f×", y / x; else printf "–" }'; }
    printf '| compare ÷ ours | %s | %s | %s | %s | %s | | %s | | | %s | %s | | %s | %s | |\n' "$n" \
        "$(r "$(medf 1 "$1")" "$(medf 1 "$2")")" "$(r "$(medf 2 "$1")" "$(medf 2 "$2")")" \
        "$(r "$(medf 3 "$1")" "$(medf 3 "$2")")" "$(r "$(medf 4 "$1")" "$(medf 4 "$2")")" \
        "$(r "$(medf 6 "$1")" "$(medf 6 "$2")")" "$(r "$(per1000 "$1")" "$(per1000 "$2")")" \
        "$(r "$(perev "$1")" "$(perev "$2")")" "$(r "$(medf 11 "$1")" "$(medf 11 "$2")")" \
        "$(r "$(medf 12 "$1")" "$(medf 12 "$2")")"
}

echo "## portsyncd end to end: $runs runs per size, storms of $cycles down/up cycles + an MTU change (min / median / max)"
echo
machine_line
echo
echo "| daemon | ports | start → PortConfigDone (ms) | start → PortInitDone (ms) | CPU at PortInitDone (ms) | peak RSS (KiB) | storm converged | storm: to idle (ms) | link events | events/s | CPU ms per 1000 events | Redis commands per event | drain converged | drain: to idle (ms) | drain CPU (ms) | re-dumps (overruns) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $sizes; do
    results=(); others=()
    for _ in $(seq "$runs"); do
        results+=("$(one_run "$ours")")
        [ -n "$compare" ] && others+=("$(one_run "$compare")")
    done
    report portsyncd "${results[@]}"
    printf '%s\n' "${results[@]}" > "/tmp/portsyncd-e2e-$n.raw"
    if [ -n "$compare" ]; then
        report "compare" "${others[@]}"
        printf '%s\n' "${others[@]}" > "/tmp/portsyncd-e2e-$n.compare.raw"
        ratios "/tmp/portsyncd-e2e-$n.raw" "/tmp/portsyncd-e2e-$n.compare.raw"
    fi
done
