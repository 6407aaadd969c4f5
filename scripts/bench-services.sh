#!/usr/bin/env bash
# Requests per second and server CPU per request of the line services
# (`duplex serve random|daytime|counter`) over TCP and WebSocket, measured
# with `duplex bench --request`, on 127.0.0.1 only; an echo row (64 B) per
# transport is the baseline.
#
#   scripts/bench-services.sh                     # 3 rounds of 4 s
#   ROUNDS=1 DURATION=2 scripts/bench-services.sh
#   TRANSPORTS=ws CONNS=200 scripts/bench-services.sh
#
# Rows (per transport):
#   echo      -s 64 (ws: --text), the echo baseline
#   random    --request '1 6'   one number from 1 to 6 per request
#   daytime   --request now --greeting   (the greeting of every connection is
#             read first and is not a message)
#   counter   --request count
#
# Method, as in scripts/bench-compare.sh: every run gets a fresh server
# pinned to CPU $SERVER_CPU, the load (`duplex bench`, $CONNS connections,
# closed loop) is pinned to CPU $LOAD_CPU (taskset); one run with a $WARMUP s
# warm-up and a $DURATION s measured window. req/s and server CPU per
# request from `duplex bench --server-pid --json`, which reads the server's
# CPU (all threads) at the edges of that window. The order of the rows alternates
# between rounds; the last table shows medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TRANSPORTS=${TRANSPORTS:-tcp ws}
SERVICES="echo random daytime counter"

for t in $TRANSPORTS; do
    case $t in
        tcp | ws) ;;
        *) echo "bench-services: unknown transport '$t' in TRANSPORTS (known: tcp ws)" >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_setup

# set_args SERVICE TRANSPORT: ARGS, the bench arguments of that row, and
# LABEL, the same for the table.
set_args() {
    case $1/$2 in
        echo/ws) ARGS=(-s 64 --text) ;;
        echo/*) ARGS=(-s 64) ;;
        random/*) ARGS=(--request "1 6") ;;
        daytime/*) ARGS=(--request now --greeting) ;;
        counter/*) ARGS=(--request count) ;;
    esac
    LABEL="${ARGS[*]}"
    [ "$1" = random ] && LABEL="--request '1 6'"
    return 0
}

# run SERVICE TRANSPORT: one measured run; sets RESULT to
# "req_per_sec server_cpu_us_per_req bench_cpu_us_per_req errors".
run() {
    local service=$1 transport=$2 json
    set_args "$service" "$transport"
    start_server "$service" "$transport"
    json=$(bench -c "$CONNS" "${ARGS[@]}" --warmup "$WARMUP" -d "$DURATION" --server-pid "$SRV_PID" --json) || true
    stop_server
    RESULT=$(result "$json") || {
        echo "bench-services: no requests measured against $service ($transport): $json" >&2
        exit 1
    }
}


ROWS=()
for t in $TRANSPORTS; do
    for s in $SERVICES; do ROWS+=("$s/$t"); done
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; $CONNS connections; $ROUNDS rounds; ${DURATION} s measured after ${WARMUP} s warm-up"
echo
printf '%-6s %-5s %-8s %12s %14s %14s %7s\n' round trans service "req/s" "CPU µs/req" "bench µs/req" errors
for round in $(seq "$ROUNDS"); do
    order=("${ROWS[@]}")
    [ $((round % 2)) -eq 0 ] && read -ra order <<<"$(reverse "${ROWS[@]}")"
    for row in "${order[@]}"; do
        service=${row%/*}
        transport=${row#*/}
        run "$service" "$transport"
        read -r rate cpu bcpu errors <<<"$RESULT"
        printf '%-6s %-5s %-8s %12s %14s %14s %7s\n' "$round" "$transport" "$service" "$rate" "$cpu" "$bcpu" "$errors"
        echo "$RESULT" >>"$WORK/$service.$transport"
    done
done

col() { awk -v c="$2" '{ print $c }' "$WORK/$1" | median; }
echo
echo "-- medians of $ROUNDS rounds; CPU ÷ echo = server CPU per request ÷ per 64 B echo on the same transport"
printf '%-5s %-8s %-26s %12s %12s %11s %14s %7s\n' trans service bench "req/s" "CPU µs/req" "CPU ÷ echo" "bench µs/req" errors
for t in $TRANSPORTS; do
    echo_cpu=$(col "echo.$t" 2)
    for s in $SERVICES; do
        f="$s.$t"
        errs=$(awk '{ s += $4 } END { print s }' "$WORK/$f")
        set_args "$s" "$t"
        printf '%-5s %-8s %-26s %12s %12s %11s %14s %7s\n' "$t" "$s" "$LABEL" \
            "$(col "$f" 1)" "$(col "$f" 2)" "$(ratio "$(col "$f" 2)" "$echo_cpu")" "$(col "$f" 3)" "$errs"
    done
done
