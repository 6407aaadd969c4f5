# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run; sourcing only defines
# functions). The arithmetic of the tables serves all of them;
# `bench_setup` and the one-server functions serve scripts/bench-services.sh
# and scripts/bench-headroom.sh (scripts/bench-compare.sh runs forking
# servers under a subreaper and has its own). The caller sets SERVER_CPU
# and LOAD_CPU.

NAME=${0##*/}
NAME=${NAME%.sh}

# bench_setup: checks the tools, builds duplex (release), makes a work
# directory and stops the server on exit.
bench_setup() {
    need taskset "apt-get install -y util-linux"
    need cargo "https://rustup.rs"
    echo "building (release)…" >&2
    cargo build --release --bin duplex --quiet
    DUPLEX=target/release/duplex
    # shellcheck disable=SC2034 # read by the scripts that source this file
    CLK_TCK=$(getconf CLK_TCK)
    WORK=$(mktemp -d)
    SRV_PID=
    trap cleanup EXIT
}

need() { command -v "$1" >/dev/null || { echo "$NAME: $1 is required ($2)" >&2; exit 1; }; }

cleanup() {
    [ -n "$SRV_PID" ] && stop_server
    rm -rf "$WORK"
}

# start_server SERVICE TRANSPORT: a fresh `duplex serve` pinned to
# $SERVER_CPU on an ephemeral loopback port; sets SRV_PID and URL (from its
# `listening SERVICE URL` line).
start_server() {
    local service=$1 transport=$2 out=$WORK/server.out url
    case $transport in
        ws) url="ws://127.0.0.1:0/" ;;
        *) url="$transport://127.0.0.1:0" ;;
    esac
    : >"$out"
    # taskset execs duplex: $! is the server itself.
    taskset -c "$SERVER_CPU" "$DUPLEX" -q serve "$service" "$url" >"$out" 2>"$WORK/server.err" &
    SRV_PID=$!
    URL=
    for _ in $(seq 200); do
        URL=$(sed -n "s/^listening $service //p" "$out" | head -n1)
        [ -n "$URL" ] && return
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "$NAME: $service ($transport) did not start: $(cat "$WORK/server.err")" >&2
    exit 1
}

stop_server() {
    kill "$SRV_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
}

# The server's CPU time so far, in clock ticks (utime + stime, all threads).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SRV_PID/stat"; }
# A number from `duplex bench --json` on stdin.
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
# `duplex bench` against the current server, pinned to $LOAD_CPU.
bench() { taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" "$@"; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
reverse() { local reversed=() i; for ((i = $#; i > 0; i--)); do reversed+=("${!i}"); done; echo "${reversed[@]}"; }
