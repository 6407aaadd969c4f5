#!/usr/bin/env bash
# User-space instructions per 64 B WebSocket echo (valgrind callgrind),
# for WebSocket servers side by side: repeatable on a busy machine, where
# CPU time is not. Each server runs under callgrind twice, driven by
# `duplex bench` with N1 and then N2 messages (50 connections, 64 B text);
# instructions per message = (Ir(N2) − Ir(N1)) ÷ (N2 − N1), which cancels
# start-up, handshakes and shutdown.
#
#   scripts/callgrind-ws.sh                              # every server
#   SERVERS="duplex yawc" scripts/callgrind-ws.sh
#   N1=5000 N2=25000 SIZE=64 scripts/callgrind-ws.sh
#   BUILD=0 SERVERS="duplex duplex-prev" DUPLEX_PREV=… scripts/callgrind-ws.sh
#
# Servers: duplex (`duplex serve echo`), duplex-prev (the same with the
# binary $DUPLEX_PREV, another build of duplex; see scripts/bench-compare.sh),
# tokio-websockets, fastwebsockets, yawc, yawc-small (1 KiB socket buffers)
# (examples/ref_ws_*.rs). Needs valgrind (apt-get install -y valgrind, done
# here when missing and possible).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVERS=${SERVERS:-duplex tokio-websockets fastwebsockets yawc yawc-small}
N1=${N1:-10000}
N2=${N2:-30000}
SIZE=${SIZE:-64}
CONNS=${CONNS:-50}
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
    else
        echo "callgrind-ws: valgrind is required (apt-get install -y valgrind)" >&2
        exit 1
    fi
fi
if [ "${BUILD:-1}" = 0 ]; then
    echo "BUILD=0: using the binaries in target/release as they are" >&2
else
    echo "building (release)…" >&2
    # The examples only for the reference servers, and duplex on its own
    # after them (their dev-dependencies would turn on tokio's test-util).
    case " $SERVERS " in
        *" tokio-websockets "* | *" fastwebsockets "* | *" yawc"*) cargo build --release --examples --quiet ;;
    esac
    cargo build --release --bin duplex --quiet
fi
DUPLEX=target/release/duplex
EX=target/release/examples
WORK=$(mktemp -d)
PID=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# instructions SERVER N: total Ir of one server run serving N messages.
instructions() {
    local cmd out=$WORK/server.out line url=
    case $1 in
        duplex) cmd=("$DUPLEX" -q serve echo ws://127.0.0.1:0/) ;;
        tokio-websockets) cmd=("$EX/ref_ws_tokio_websockets" 127.0.0.1:0) ;;
        fastwebsockets) cmd=("$EX/ref_ws_fastwebsockets" 127.0.0.1:0) ;;
        yawc) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0) ;;
        yawc-small) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0 --buffer 1024) ;;
        duplex-prev) cmd=("${DUPLEX_PREV:?duplex-prev needs DUPLEX_PREV=PATH to another duplex binary}" -q serve echo ws://127.0.0.1:0/) ;;
        *) echo "callgrind-ws: unknown server $1" >&2; exit 2 ;;
    esac
    : >"$out"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "${cmd[@]}" >"$out" 2>"$WORK/valgrind.err" &
    PID=$!
    for _ in $(seq 300); do
        line=$(grep -m1 listening "$out" || true)
        [ -n "$line" ] && break
        sleep 0.1
    done
    [ -n "$line" ] || { echo "callgrind-ws: $1 did not start: $(tail -n 5 "$WORK/valgrind.err")" >&2; exit 1; }
    case ${line##* } in
        ws://*) url=${line##* } ;;
        *) url="ws://127.0.0.1:${line##* }/" ;;
    esac
    "$DUPLEX" bench "$url" -c "$CONNS" -n "$2" -s "$SIZE" --text --timeout 60s --json >"$WORK/bench.json"
    grep -q '"total":0' "$WORK/bench.json" || { echo "callgrind-ws: errors against $1: $(cat "$WORK/bench.json")" >&2; exit 1; }
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$WORK/cg.out"
}

printf '%-18s %14s %14s %16s\n' server "Ir ($N1 msgs)" "Ir ($N2 msgs)" "Ir per message"
for server in $SERVERS; do
    a=$(instructions "$server" "$N1")
    b=$(instructions "$server" "$N2")
    printf '%-18s %14s %14s %16s\n' "$server" "$a" "$b" "$(awk -v a="$a" -v b="$b" -v n=$((N2 - N1)) 'BEGIN { printf "%.0f", (b - a) / n }')"
done
