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
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

SERVERS=${SERVERS:-duplex tokio-websockets fastwebsockets yawc yawc-small}
N1=${N1:-10000}
N2=${N2:-30000}
SIZE=${SIZE:-64}
CONNS=${CONNS:-50}
need_apt valgrind valgrind
if [ "${BUILD:-1}" = 0 ]; then
    echo "BUILD=0: using the binaries in target/release as they are" >&2
else
    # The examples only for the reference servers, and duplex on its own
    # after them (their dev-dependencies would turn on tokio's test-util).
    case " $SERVERS " in
        *" tokio-websockets "* | *" fastwebsockets "* | *" yawc"*) build_release --examples ;;
    esac
    build_release
fi
DUPLEX=target/release/duplex
EX=target/release/examples
work_dir

# instructions SERVER N: total Ir of one server run serving N messages.
instructions() {
    local cmd log=$WORK/server.out url
    case $1 in
        duplex) cmd=("$DUPLEX" -q serve echo ws://127.0.0.1:0/) ;;
        tokio-websockets) cmd=("$EX/ref_ws_tokio_websockets" 127.0.0.1:0) ;;
        fastwebsockets) cmd=("$EX/ref_ws_fastwebsockets" 127.0.0.1:0) ;;
        yawc) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0) ;;
        yawc-small) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0 --buffer 1024) ;;
        duplex-prev) cmd=("${DUPLEX_PREV:?duplex-prev needs DUPLEX_PREV=PATH to another duplex binary}" -q serve echo ws://127.0.0.1:0/) ;;
        *) echo "$NAME: unknown server $1" >&2; exit 2 ;;
    esac
    : >"$log"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "${cmd[@]}" >"$log" 2>"$WORK/valgrind.err" &
    SRV_PID=$!
    wait_line "$log" listening "$SRV_PID" 300 ||
        { echo "$NAME: $1 did not start: $(tail -n 5 "$WORK/valgrind.err")" >&2; exit 1; }
    url=$(ws_url "$LINE")
    "$DUPLEX" bench "$url" -c "$CONNS" -n "$2" -s "$SIZE" --text --timeout 60s --json >"$WORK/bench.json"
    grep -q '"total":0' "$WORK/bench.json" || { echo "$NAME: errors against $1: $(cat "$WORK/bench.json")" >&2; exit 1; }
    # callgrind writes its profile when the server exits: slowly, on a
    # busy machine.
    stop_pid -t 120 "$SRV_PID"
    SRV_PID=
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$WORK/cg.out"
}

printf '%-18s %14s %14s %16s\n' server "Ir ($N1 msgs)" "Ir ($N2 msgs)" "Ir per message"
for server in $SERVERS; do
    a=$(instructions "$server" "$N1")
    b=$(instructions "$server" "$N2")
    printf '%-18s %14s %14s %16s\n' "$server" "$a" "$b" "$(awk -v a="$a" -v b="$b" -v n=$((N2 - N1)) 'BEGIN { printf "%.0f", (b - a) / n }')"
done
