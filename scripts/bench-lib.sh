# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run; sourcing only defines
# functions): checking tools, building, a work directory, free ports,
# starting servers that log a `listening` line and stopping them by PID,
# and the arithmetic of the tables. `bench_setup` and the one-server
# functions serve scripts/bench-services.sh and scripts/bench-headroom.sh
# (scripts/bench-compare.sh runs forking servers under a subreaper and has
# its own). The caller sets SERVER_CPU and LOAD_CPU where it pins.

NAME=${0##*/}
NAME=${NAME%.sh}

# bench_setup: checks the tools, builds duplex (release), makes a work
# directory and stops the server on exit.
bench_setup() {
    need taskset "apt-get install -y util-linux"
    build_release
    work_dir
}

# build_release [CARGO-BUILD-ARGS…]: `cargo build --release` of what is
# named (by default the duplex binary alone); sets DUPLEX.
build_release() {
    need cargo "https://rustup.rs"
    [ $# -gt 0 ] || set -- --bin duplex
    echo "building (release): $*" >&2
    cargo build --release --quiet "$@"
    DUPLEX=target/release/duplex
}

# work_dir: a fresh WORK directory, removed (and the server stopped) on
# exit by `cleanup`.
work_dir() {
    WORK=$(mktemp -d)
    SRV_PID=
    trap cleanup EXIT
}

need() { command -v "$1" >/dev/null || { echo "$NAME: $1 is required ($2)" >&2; exit 1; }; }

# need_apt TOOL PACKAGE: installs PACKAGE from Debian when TOOL is missing
# and this is root; fails naming both otherwise.
need_apt() {
    command -v "$1" >/dev/null && return
    if [ "$(id -u)" -eq 0 ]; then
        echo "$NAME: installing $2 (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || true
    fi
    need "$1" "apt-get install -y $2"
}

# free_port: a loopback TCP port nothing listens on, for the tools that
# cannot report the one they chose.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_line LOG PATTERN PID [TRIES]: waits (TRIES × 0.1 s, default 100)
# for the first line of LOG matching PATTERN (sed) while PID lives; sets
# LINE, and returns non-zero if none came.
wait_line() {
    local log=$1 pattern=$2 pid=$3 tries=${4:-100}
    LINE=
    for _ in $(seq "$tries"); do
        LINE=$(grep -m1 -e "$pattern" "$log" || true)
        [ -n "$LINE" ] && return
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    LINE=$(grep -m1 -e "$pattern" "$log" || true)
    [ -n "$LINE" ]
}

# ws_url LINE: the WebSocket URL of a `listening … URL` or `listening …
# PORT` line.
ws_url() {
    case ${1##* } in
        ws://*) echo "${1##* }" ;;
        *) echo "ws://127.0.0.1:${1##* }/" ;;
    esac
}

# stop_pid [-g] [-t SECONDS] PID: SIGTERM to PID (to its process group
# with -g), SECONDS (default 5) to exit, then SIGKILL; reaps it.
stop_pid() {
    local group='' grace=5
    while [ $# -gt 1 ]; do
        case $1 in
            -g) group=- ;;
            -t) grace=$2; shift ;;
        esac
        shift
    done
    kill -- "$group$1" 2>/dev/null || true
    for _ in $(seq $((grace * 20))); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL -- "$group$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

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
        unix) url="unix://$WORK/$service.sock" ;;
        *) url="$transport://127.0.0.1:0" ;;
    esac
    : >"$out"
    # taskset execs duplex: $! is the server itself.
    taskset -c "$SERVER_CPU" "$DUPLEX" -q serve "$service" "$url" >"$out" 2>"$WORK/server.err" &
    SRV_PID=$!
    if wait_line "$out" "^listening $service " "$SRV_PID"; then
        URL=${LINE##* }
        return
    fi
    echo "$NAME: $service ($transport) did not start: $(cat "$WORK/server.err")" >&2
    exit 1
}

stop_server() {
    stop_pid "$SRV_PID"
    SRV_PID=
}

# A number from `duplex bench --json` on stdin (keys are unique in a
# report of one URL).
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
# result JSON: "msgs_per_sec server_cpu_us_per_msg bench_cpu_us_per_msg
# errors" from a `duplex bench --server-pid PID --json` report, which
# measured the server and itself over the same window; fails when nothing
# was measured.
result() {
    awk -v r="$(json_num messages_per_sec <<<"$1")" -v s="$(json_num cpu_us_per_message <<<"$1")" \
        -v b="$(json_num bench_cpu_us_per_message <<<"$1")" -v e="$(json_num total <<<"$1")" \
        'BEGIN { if (r == "" || s == "" || r == 0) exit 1; printf "%.0f %.3f %.3f %d\n", r, s, b, e }'
}
# `duplex bench` against the current server, pinned to $LOAD_CPU.
bench() { taskset -c "$LOAD_CPU" "$DUPLEX" bench "$URL" "$@"; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
reverse() { local out=() i; for ((i = $#; i > 0; i--)); do out+=("${!i}"); done; echo "${out[@]}"; }
