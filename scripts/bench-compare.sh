#!/usr/bin/env bash
# Side-by-side comparison of `duplex serve echo` with minimal reference
# servers, on 127.0.0.1 only, with `duplex bench` as the load generator.
#
#   scripts/bench-compare.sh                  # every scenario, 3 rounds
#   scripts/bench-compare.sh ws64 ws64k idle-ws
#   ROUNDS=5 DURATION=10 scripts/bench-compare.sh tcp64
#
# Scenarios (servers compared):
#   tcp64     TCP, 64 B round trips, 50 connections      duplex tokio epoll
#   tcp16k    TCP, 16 KiB round trips, 50 connections    duplex tokio epoll
#   unix64    Unix socket, 64 B, 50 connections          duplex tokio
#   udp64     UDP, 64 B, 50 client sockets               duplex tokio
#   ws64      WebSocket, 64 B text, 50 connections       duplex tungstenite fastwebsockets tokio-websockets
#   ws64k     WebSocket, 64 KiB binary, 20 connections   (the same four)
#   connect   TCP connect + one 64 B echo + close, 50 at a time: per connection
#   idle-tcp  RSS per idle TCP connection at $IDLE_TCP connections
#   idle-ws   RSS per idle WebSocket connection at $IDLE_WS connections
#
# Servers: duplex = `duplex serve echo URL`; tokio = examples/ref_{tcp,unix,
# udp}_echo.rs; epoll = benches/ref_epoll_echo.c (gcc -O2, one thread,
# edge-triggered epoll); tungstenite / fastwebsockets / tokio-websockets =
# examples/ref_ws_*.rs.
#
# Method: the server is pinned to CPU $SERVER_CPU and the load to CPU
# $LOAD_CPU (taskset); every run gets a fresh server process; the order of
# the servers alternates between rounds (forward, reversed, forward, …); the
# tables show medians over the rounds. Throughput scenarios: a $WARMUP s
# warm-up run, then a $DURATION s measured run; messages/s from `duplex bench
# --json`, server CPU per message = utime+stime (all threads, from
# /proc/PID/stat) over the measured run ÷ verified messages. CPU per message
# is the steadier figure on a shared machine. Idle scenarios: (VmRSS with the
# connections held by `duplex bench --hold N` − VmRSS before) ÷ N; every held
# connection first echoes one verified message (WebSocket: after the
# handshake). Ratios are duplex ÷ the other server: below 1 means duplex
# used less.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_TCP=${IDLE_TCP:-10000}
IDLE_WS=${IDLE_WS:-5000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ALL="tcp64 tcp16k unix64 udp64 ws64 ws64k connect idle-tcp idle-ws"
SCENARIOS=${*:-$ALL}

need() { command -v "$1" >/dev/null || { echo "bench-compare: $1 is required ($2)" >&2; exit 1; }; }
need taskset "apt-get install -y util-linux"
need cargo "https://rustup.rs"
need gcc "apt-get install -y gcc"

IDLE_MAX=$((IDLE_TCP > IDLE_WS ? IDLE_TCP : IDLE_WS))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_MAX + 100)) ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ "$(ulimit -n)" -lt $((IDLE_MAX + 100)) ]; then
        echo "bench-compare: ulimit -n is $(ulimit -n); $((IDLE_MAX + 100)) file descriptors are needed (or set IDLE_TCP/IDLE_WS lower)" >&2
        exit 1
    fi
fi

echo "building (release)…" >&2
cargo build --release --bins --examples --quiet
WORK=$(mktemp -d)
gcc -O2 -o "$WORK/ref_epoll_echo" benches/ref_epoll_echo.c
DUPLEX=target/release/duplex
EX=target/release/examples
CLK_TCK=$(getconf CLK_TCK)
SRV_PID=
BENCH_PID=
cleanup() {
    [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_server SERVER TRANSPORT: a fresh pinned server; sets SRV_PID and URL.
start_server() {
    local server=$1 transport=$2 out=$WORK/server.out sock=$WORK/echo.sock cmd
    : >"$out"
    rm -f "$sock"
    case $server/$transport in
        duplex/unix) cmd=("$DUPLEX" -q serve echo "unix://$sock") ;;
        duplex/ws) cmd=("$DUPLEX" -q serve echo "ws://127.0.0.1:0/") ;;
        duplex/*) cmd=("$DUPLEX" -q serve echo "$transport://127.0.0.1:0") ;;
        tokio/tcp) cmd=("$EX/ref_tcp_echo" 127.0.0.1:0) ;;
        tokio/unix) cmd=("$EX/ref_unix_echo" "$sock") ;;
        tokio/udp) cmd=("$EX/ref_udp_echo" 127.0.0.1:0) ;;
        epoll/tcp) cmd=("$WORK/ref_epoll_echo" 127.0.0.1 0) ;;
        tungstenite/ws) cmd=("$EX/ref_ws_tungstenite" 127.0.0.1:0) ;;
        fastwebsockets/ws) cmd=("$EX/ref_ws_fastwebsockets" 127.0.0.1:0) ;;
        tokio-websockets/ws) cmd=("$EX/ref_ws_tokio_websockets" 127.0.0.1:0) ;;
        *) echo "bench-compare: no $server server for $transport" >&2; exit 1 ;;
    esac
    taskset -c "$SERVER_CPU" "${cmd[@]}" >"$out" 2>"$WORK/server.err" &
    SRV_PID=$!
    local line
    for _ in $(seq 200); do
        line=$(grep -m1 listening "$out" || true)
        if [ -n "$line" ]; then
            local last=${line##* }
            case $last in
                *://*) URL=$last ;;
                /*) URL="unix://$last" ;;
                *) case $transport in
                       ws) URL="ws://127.0.0.1:$last/" ;;
                       *) URL="$transport://127.0.0.1:$last" ;;
                   esac ;;
            esac
            return
        fi
        sleep 0.05
    done
    echo "bench-compare: $server server ($transport) did not start: $(cat "$WORK/server.err")" >&2
    exit 1
}

stop_server() {
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
bench() { taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" "$@"; }

# throughput SERVER TRANSPORT BENCH-ARGS…: one measured run; sets RESULT to
# "msgs_per_sec server_cpu_us_per_msg bench_cpu_us_per_msg errors".
throughput() {
    local server=$1 transport=$2
    shift 2
    start_server "$server" "$transport"
    bench "$@" -d "$WARMUP" --json >/dev/null || true
    local before after json
    before=$(cpu_ticks "$SRV_PID")
    json=$(bench "$@" -d "$DURATION" --json) || true
    after=$(cpu_ticks "$SRV_PID")
    stop_server
    local msgs rate bench_cpu errors
    msgs=$(json_num messages <<<"$json")
    rate=$(json_num messages_per_sec <<<"$json")
    bench_cpu=$(json_num cpu_secs <<<"$json")
    errors=$(sed -n 's/.*"total":\([0-9]*\).*/\1/p' <<<"$json")
    if [ -z "$msgs" ] || [ "$msgs" -eq 0 ]; then
        echo "bench-compare: no messages measured against $server ($transport): $json" >&2
        exit 1
    fi
    RESULT=$(awk -v m="$msgs" -v r="$rate" -v t=$((after - before)) -v hz="$CLK_TCK" -v b="$bench_cpu" -v e="$errors" \
        'BEGIN { printf "%.0f %.3f %.3f %d\n", r, t / hz * 1e6 / m, b * 1e6 / m, e }')
}

# idle SERVER TRANSPORT N: sets RESULT to "bytes_per_idle_connection".
idle() {
    local server=$1 transport=$2 n=$3
    start_server "$server" "$transport"
    sleep 0.2
    local before after
    before=$(rss_kib "$SRV_PID")
    # Started directly so that $! is the bench itself and SIGINT reaches it.
    taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" --hold "$n" -d 300s --json \
        >"$WORK/hold.json" 2>"$WORK/hold.err" &
    BENCH_PID=$!
    for _ in $(seq 3000); do
        grep -q holding "$WORK/hold.err" && break
        kill -0 "$BENCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q holding "$WORK/hold.err"; then
        local status=0
        kill -0 "$BENCH_PID" 2>/dev/null && kill "$BENCH_PID"
        wait "$BENCH_PID" || status=$?
        BENCH_PID=
        echo "bench-compare: could not open $n connections to $server (bench exit status $status): $(cat "$WORK/hold.err" "$WORK/hold.json")" >&2
        exit 1
    fi
    sleep 1
    after=$(rss_kib "$SRV_PID")
    kill -INT "$BENCH_PID"
    wait "$BENCH_PID" || { echo "bench-compare: errors while holding connections to $server: $(cat "$WORK/hold.json")" >&2; exit 1; }
    BENCH_PID=
    stop_server
    RESULT=$(((after - before) * 1024 / n))
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
reverse() { local out=() i; for ((i = $#; i > 0; i--)); do out+=("${!i}"); done; echo "${out[@]}"; }

# scenario NAME: transport, servers, kind (throughput|idle), bench arguments.
scenario() {
    case $1 in
        tcp64) echo "tcp|duplex tokio epoll|throughput|TCP 64 B, 50 conns|-c 50 -s 64" ;;
        tcp16k) echo "tcp|duplex tokio epoll|throughput|TCP 16 KiB, 50 conns|-c 50 -s 16384" ;;
        unix64) echo "unix|duplex tokio|throughput|Unix 64 B, 50 conns|-c 50 -s 64" ;;
        udp64) echo "udp|duplex tokio|throughput|UDP 64 B, 50 clients|-c 50 -s 64" ;;
        ws64) echo "ws|duplex tungstenite fastwebsockets tokio-websockets|throughput|WebSocket 64 B text, 50 conns|-c 50 -s 64 --text" ;;
        ws64k) echo "ws|duplex tungstenite fastwebsockets tokio-websockets|throughput|WebSocket 64 KiB binary, 20 conns|-c 20 -s 65536" ;;
        connect) echo "tcp|duplex tokio epoll|throughput|TCP connect+echo+close, 50 at a time|-c 50 -s 64 --connect-rate" ;;
        idle-tcp) echo "tcp|duplex tokio epoll|idle|idle TCP, $IDLE_TCP conns|$IDLE_TCP" ;;
        idle-ws) echo "ws|duplex tungstenite fastwebsockets tokio-websockets|idle|idle WebSocket, $IDLE_WS conns|$IDLE_WS" ;;
        *) echo "bench-compare: unknown scenario '$1' (known: $ALL)" >&2; exit 2 ;;
    esac
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; $ROUNDS rounds; ${DURATION} s measured after ${WARMUP} s warm-up"
SUMMARY=$WORK/summary.md
: >"$SUMMARY"

for name in $SCENARIOS; do
    IFS='|' read -r transport servers kind title args <<<"$(scenario "$name")"
    read -ra list <<<"$servers"
    echo
    echo "== $name: $title"
    if [ "$kind" = throughput ]; then
        printf '%-6s %-17s %12s %12s %14s %7s\n' round server msgs/s "CPU µs/msg" "bench µs/msg" errors
    else
        printf '%-6s %-17s %14s\n' round server "RSS B/conn"
    fi
    for round in $(seq "$ROUNDS"); do
        order=("${list[@]}")
        [ $((round % 2)) -eq 0 ] && read -ra order <<<"$(reverse "${list[@]}")"
        for server in "${order[@]}"; do
            if [ "$kind" = throughput ]; then
                # shellcheck disable=SC2086 # the bench arguments are words
                throughput "$server" "$transport" $args
                read -r rate cpu bcpu errors <<<"$RESULT"
                printf '%-6s %-17s %12s %12s %14s %7s\n' "$round" "$server" "$rate" "$cpu" "$bcpu" "$errors"
            else
                idle "$server" "$transport" "$args"
                printf '%-6s %-17s %14s\n' "$round" "$server" "$RESULT"
            fi
            echo "$RESULT" >>"$WORK/$name.$server"
        done
    done
    col() { awk -v c="$2" '{ print $c }' "$WORK/$name.$1" | median; }
    echo "-- medians of $ROUNDS rounds; ratio = duplex ÷ server"
    if [ "$kind" = throughput ]; then
        printf '%-17s %12s %12s %9s %14s %7s\n' server msgs/s "CPU µs/msg" "CPU ratio" "bench µs/msg" errors
        dcpu=$(col duplex 2)
        echo "| $title | server | msgs/s | server CPU µs/msg | duplex CPU ÷ this | bench CPU µs/msg | errors |" >>"$SUMMARY"
        echo "|---|---|---:|---:|---:|---:|---:|" >>"$SUMMARY"
        for server in "${list[@]}"; do
            rate=$(col "$server" 1)
            cpu=$(col "$server" 2)
            bcpu=$(col "$server" 3)
            errs=$(awk '{ s += $4 } END { print s }' "$WORK/$name.$server")
            printf '%-17s %12s %12s %9s %14s %7s\n' "$server" "$rate" "$cpu" "$(ratio "$dcpu" "$cpu")" "$bcpu" "$errs"
            echo "| | $server | $rate | $cpu | $(ratio "$dcpu" "$cpu") | $bcpu | $errs |" >>"$SUMMARY"
        done
    else
        printf '%-17s %14s %9s\n' server "RSS B/conn" ratio
        drss=$(col duplex 1)
        echo "| $title | server | RSS bytes per idle connection | duplex ÷ this |" >>"$SUMMARY"
        echo "|---|---|---:|---:|" >>"$SUMMARY"
        for server in "${list[@]}"; do
            rss=$(col "$server" 1)
            printf '%-17s %14s %9s\n' "$server" "$rss" "$(ratio "$drss" "$rss")"
            echo "| | $server | $rss | $(ratio "$drss" "$rss") |" >>"$SUMMARY"
        done
    fi
    echo >>"$SUMMARY"
done

echo
echo "== summary (markdown)"
cat "$SUMMARY"
