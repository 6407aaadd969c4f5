#!/usr/bin/env bash
# Is `duplex bench` cheaper than the server it drives? Bench CPU ÷ server CPU
# per message, both read from /proc over the same seconds of one run, for
# 64 B echo over tcp, unix, udp and ws (text), with `duplex serve echo` as
# the server. Two bench binaries can be compared side by side (alternating
# rounds), e.g. an older build against this one; the server is the same
# binary for both.
#
#   scripts/bench-ratio.sh                              # this build, 3 rounds
#   BENCHES="old=/tmp/duplex-old new=target/release/duplex" ROUNDS=5 scripts/bench-ratio.sh
#   TRANSPORTS="tcp udp" SERVER=/tmp/duplex-old scripts/bench-ratio.sh
#
# Method: server pinned to CPU $SERVER_CPU, bench to CPU $LOAD_CPU
# (taskset), 50 connections, a fresh server per run. The bench runs for
# $WARMUP + $DURATION + 1 s; utime+stime of both processes (all threads)
# is read after $WARMUP s and again $DURATION s later, so both figures
# cover the same window (this works for builds without --server-pid too).
# The table shows the median ratio over the rounds and its range; order of
# the benches alternates between rounds. Only 127.0.0.1 and a Unix socket
# in a temporary directory are used.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-2}
WARMUP=${WARMUP:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TRANSPORTS=${TRANSPORTS:-tcp unix udp ws}

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_setup
BENCHES=${BENCHES:-this=$DUPLEX}
DUPLEX=${SERVER:-$DUPLEX}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# one BENCH-BINARY TRANSPORT: prints the ratio and msgs/s of one run.
one() {
    local bin=$1 transport=$2 extra=() s0 b0 s1 b1 pid
    [ "$transport" = ws ] && extra=(--text)
    start_server echo "$transport"
    taskset -c "$LOAD_CPU" "$bin" bench "$URL" -c 50 -s 64 "${extra[@]}" \
        -d "$((WARMUP + DURATION + 1))" --json >"$WORK/bench.json" &
    pid=$!
    sleep "$WARMUP"
    s0=$(ticks "$SRV_PID") b0=$(ticks "$pid")
    sleep "$DURATION"
    s1=$(ticks "$SRV_PID") b1=$(ticks "$pid")
    wait "$pid" || { echo "$NAME: the bench failed: $(cat "$WORK/bench.json")" >&2; exit 1; }
    stop_server
    awk -v s=$((s1 - s0)) -v b=$((b1 - b0)) -v r="$(json_num messages_per_sec <"$WORK/bench.json")" \
        'BEGIN { if (s > 0) printf "%.3f %.0f\n", b / s, r; else print "- 0" }'
}

read -ra names <<<"$BENCHES"
echo "machine: $(nproc) CPUs, Linux $(uname -r); server $DUPLEX on CPU $SERVER_CPU, bench on CPU $LOAD_CPU"
printf '%-6s %-6s %-10s %10s %12s\n' round trans bench "msgs/s" "bench÷server"
for round in $(seq "$ROUNDS"); do
    order=("${names[@]}")
    [ $((round % 2)) -eq 0 ] && read -ra order <<<"$(reverse "${names[@]}")"
    for entry in "${order[@]}"; do
        for t in $TRANSPORTS; do
            read -r r rate <<<"$(one "${entry#*=}" "$t")"
            printf '%-6s %-6s %-10s %10s %12s\n' "$round" "$t" "${entry%%=*}" "$rate" "$r"
            echo "$r" >>"$WORK/${entry%%=*}.$t"
        done
    done
done
echo
echo "-- bench CPU ÷ server CPU, median of $ROUNDS rounds (min–max)"
printf '%-6s' trans
for entry in "${names[@]}"; do printf ' %-22s' "${entry%%=*}"; done
echo
for t in $TRANSPORTS; do
    printf '%-6s' "$t"
    for entry in "${names[@]}"; do
        f=$WORK/${entry%%=*}.$t
        printf ' %-22s' "$(median <"$f") ($(sort -g "$f" | head -n1)–$(sort -g "$f" | tail -n1))"
    done
    echo
done
