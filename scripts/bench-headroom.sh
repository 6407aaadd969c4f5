#!/usr/bin/env bash
# Is `duplex bench` the bottleneck? Server and load generator each get one
# CPU (taskset), the load runs as fast as it can, and the script reports
# how busy each CPU was and what each side spent per message. When the
# server's CPU is (nearly) saturated and the bench's is not, the bench can
# offer more load than the server can serve.
#
#   scripts/bench-headroom.sh            # tcp and ws, --pipeline 1 and 16
#   DURATION=10 scripts/bench-headroom.sh
#
# Only 127.0.0.1 is used. One bench run per row (1 s warm-up, then the
# measured window) with `--server-pid`: server and bench CPU per message over
# the same window come from the bench's JSON report; "busy" is CPU per
# message × messages per second (the share of one CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_setup

printf '%-5s %-9s %10s %12s %12s %14s %14s\n' \
    transport pipeline "msgs/s" "server busy" "bench busy" "server µs/msg" "bench µs/msg"
for transport in tcp ws; do
    for pipeline in 1 16; do
        extra=()
        [ "$transport" = ws ] && extra=(--text)
        start_server echo "$transport"
        json=$(bench -c 50 -s 64 --pipeline "$pipeline" "${extra[@]}" --warmup 1 -d "$DURATION" --server-pid "$SRV_PID" --json)
        stop_server
        read -r rate server bench errors <<<"$(result "$json")"
        if [ "$errors" != 0 ]; then
            echo "bench-headroom: $errors errors: $json" >&2
            exit 1
        fi
        awk -v t="$transport" -v p="$pipeline" -v r="$rate" -v s="$server" -v b="$bench" \
            'BEGIN { printf "%-5s %-9s %10.0f %11.0f%% %11.0f%% %14.2f %14.2f\n", t, p, r, s * r / 1e4, b * r / 1e4, s, b }'
    done
done
