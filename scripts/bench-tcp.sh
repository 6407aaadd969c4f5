#!/usr/bin/env bash
# Compares `duplex serve echo tcp://…` with the minimal tokio echo server in
# examples/ref_tcp_echo.rs, side by side in one run, on 127.0.0.1 only.
#
#   scripts/bench-tcp.sh            # 3 rounds (A B, B A, A B), ~2 minutes
#   ROUNDS=5 DURATION=10 scripts/bench-tcp.sh
#
# Scenario 1: 64-byte round trips over 50 connections for DURATION seconds:
#   messages/s (from `duplex bench --json`) and server CPU time per message
#   (utime+stime from /proc/PID/stat over the measured run ÷ messages).
# Scenario 2: server RSS per idle TCP connection at IDLE connections:
#   (VmRSS with the connections open − VmRSS before) ÷ IDLE, the connections
#   held by `duplex bench --hold` (each echoes one message first, so the server
#   has really accepted and served it).
#
# The server is pinned to CPU $SERVER_CPU and the load to CPU $LOAD_CPU
# (taskset); every scenario gets a fresh server process; the order of the two
# servers alternates between rounds; the table shows medians. CPU per message
# is the steadier figure on a shared machine: messages/s moves with whatever
# else runs, CPU per message much less.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
SIZE=${SIZE:-64}
IDLE=${IDLE:-5000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

need() { command -v "$1" >/dev/null || { echo "bench-tcp: $1 is required ($2)" >&2; exit 1; }; }
need taskset "apt-get install -y util-linux"
need cargo "https://rustup.rs"

# Each process holds IDLE sockets plus a few: raise the soft limit if needed.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE + 100)) ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ "$(ulimit -n)" -lt $((IDLE + 100)) ]; then
        echo "bench-tcp: ulimit -n is $(ulimit -n); $((IDLE + 100)) file descriptors are needed (or set IDLE lower)" >&2
        exit 1
    fi
fi

echo "building (release)…" >&2
cargo build --release --bins --examples --quiet
DUPLEX=target/release/duplex
REF=target/release/examples/ref_tcp_echo
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
SRV_PID=
BENCH_PID=
cleanup() {
    [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_server duplex|ref: starts a fresh pinned server, sets SRV_PID and PORT.
start_server() {
    local out=$WORK/server.out
    : >"$out"
    case $1 in
        duplex) taskset -c "$SERVER_CPU" "$DUPLEX" -q serve echo tcp://127.0.0.1:0 >"$out" 2>"$WORK/server.err" & ;;
        ref) taskset -c "$SERVER_CPU" "$REF" 127.0.0.1:0 >"$out" 2>"$WORK/server.err" & ;;
    esac
    SRV_PID=$!
    for _ in $(seq 100); do
        if grep -q listening "$out"; then
            PORT=$(grep -m1 listening "$out" | sed 's/.*[: ]\([0-9][0-9]*\)$/\1/')
            return
        fi
        sleep 0.05
    done
    echo "bench-tcp: $1 server did not start: $(cat "$WORK/server.err")" >&2
    exit 1
}

stop_server() {
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
}

# CPU ticks (utime + stime, every thread) of a process.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

bench() { taskset -c "$LOAD_CPU" "$DUPLEX" bench "tcp://127.0.0.1:$PORT" "$@"; }

# Scenario 1 for one server: sets THROUGHPUT to
# "msgs_per_sec server_cpu_us_per_msg bench_cpu_us_per_msg errors".
throughput() {
    start_server "$1"
    # Warm the server (and the page cache, the CPU frequency) first.
    bench -c "$CONNS" -s "$SIZE" -d "$WARMUP" --json >/dev/null
    local before after json
    before=$(cpu_ticks "$SRV_PID")
    json=$(bench -c "$CONNS" -s "$SIZE" -d "$DURATION" --json) || true
    after=$(cpu_ticks "$SRV_PID")
    stop_server
    local msgs rate bench_cpu errors
    msgs=$(json_num messages <<<"$json")
    rate=$(json_num messages_per_sec <<<"$json")
    bench_cpu=$(json_num cpu_secs <<<"$json")
    errors=$(sed -n 's/.*"total":\([0-9]*\).*/\1/p' <<<"$json")
    if [ -z "$msgs" ] || [ "$msgs" -eq 0 ]; then
        echo "bench-tcp: no messages measured against $1: $json" >&2
        exit 1
    fi
    THROUGHPUT=$(awk -v m="$msgs" -v r="$rate" -v t=$((after - before)) -v hz="$CLK_TCK" -v b="$bench_cpu" -v e="$errors" \
        'BEGIN { printf "%.0f %.3f %.3f %d\n", r, t / hz * 1e6 / m, b * 1e6 / m, e }')
}

# Scenario 2 for one server: sets RSS to the bytes per idle connection.
idle_memory() {
    start_server "$1"
    sleep 0.2
    local before after
    before=$(rss_kib "$SRV_PID")
    # Started directly (not through a function) so that $! is the bench
    # itself and Ctrl-C (SIGINT) reaches it.
    taskset -c "$LOAD_CPU" "$DUPLEX" bench "tcp://127.0.0.1:$PORT" --hold "$IDLE" -d 120s --json \
        >"$WORK/hold.json" 2>"$WORK/hold.err" &
    BENCH_PID=$!
    for _ in $(seq 1200); do
        grep -q holding "$WORK/hold.err" && break
        kill -0 "$BENCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q holding "$WORK/hold.err"; then
        local status=0
        kill -0 "$BENCH_PID" 2>/dev/null && kill "$BENCH_PID"
        wait "$BENCH_PID" || status=$?
        BENCH_PID=
        echo "bench-tcp: could not open $IDLE connections to $1 (bench exit status $status): $(cat "$WORK/hold.err" "$WORK/hold.json")" >&2
        exit 1
    fi
    sleep 1
    after=$(rss_kib "$SRV_PID")
    kill -INT "$BENCH_PID"
    wait "$BENCH_PID" || { echo "bench-tcp: errors while holding connections to $1: $(cat "$WORK/hold.json")" >&2; exit 1; }
    BENCH_PID=
    stop_server
    RSS=$(((after - before) * 1024 / IDLE))
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; $ROUNDS rounds; ${CONNS} connections × ${SIZE} B for ${DURATION} s; $IDLE idle connections"
echo
printf '%-6s %-7s %12s %14s %14s %7s %14s\n' round server msgs/s "CPU µs/msg" "bench µs/msg" errors "RSS B/idle"
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="duplex ref"; else order="ref duplex"; fi
    for server in $order; do
        throughput "$server"
        read -r rate cpu bcpu errors <<<"$THROUGHPUT"
        idle_memory "$server"
        rss=$RSS
        printf '%-6s %-7s %12s %14s %14s %7s %14s\n' "$round" "$server" "$rate" "$cpu" "$bcpu" "$errors" "$rss"
        echo "$rate $cpu $bcpu $errors $rss" >>"$WORK/$server"
    done
done

col() { awk -v c="$2" '{ print $c }' "$WORK/$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "medians of $ROUNDS rounds"
printf '%-34s %12s %12s %8s\n' "" duplex reference ratio
for row in "messages/s:1" "server CPU µs/message:2" "bench CPU µs/message:3" "RSS bytes per idle connection:5"; do
    name=${row%:*}
    c=${row##*:}
    d=$(col duplex "$c")
    r=$(col ref "$c")
    printf '%-34s %12s %12s %8s\n' "$name" "$d" "$r" "$(ratio "$d" "$r")"
done
errs=$(cat "$WORK/duplex" "$WORK/ref" | awk '{ s += $4 } END { print s }')
echo "errors over all runs: $errs"
