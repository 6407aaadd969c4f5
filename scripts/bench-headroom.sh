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
# Only 127.0.0.1 is used. Server CPU is utime+stime of every server thread
# from /proc/PID/stat over the measured run (after a 1 s warm-up run);
# bench CPU is the bench's own `cpu_secs` (getrusage) from its --json
# report; "busy" is CPU time ÷ wall time of the measured run.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
command -v python3 >/dev/null || { echo "bench-headroom: python3 is required" >&2; exit 1; }

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
        bench -c 50 -s 64 --pipeline "$pipeline" "${extra[@]}" -d 1 --json >/dev/null
        before=$(cpu_ticks)
        bench -c 50 -s 64 --pipeline "$pipeline" "${extra[@]}" -d "$DURATION" --json >"$WORK/bench.json"
        after=$(cpu_ticks)
        stop_server
        python3 - "$WORK/bench.json" "$before" "$after" "$CLK_TCK" "$transport" "$pipeline" <<'EOF_PY'
import json, sys
r = json.load(open(sys.argv[1]))
before, after, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
server = (after - before) / tck
wall, msgs = r["duration_secs"], r["messages"]
if r["errors"]["total"]:
    sys.exit(f"bench-headroom: {r['errors']['total']} errors")
print(f"{sys.argv[5]:<5} {sys.argv[6]:<9} {r['messages_per_sec']:>10.0f} "
      f"{100 * server / wall:>11.0f}% {100 * r['cpu_secs'] / wall:>11.0f}% "
      f"{1e6 * server / msgs:>14.2f} {1e6 * r['cpu_secs'] / msgs:>14.2f}")
EOF_PY
    done
done
