#!/usr/bin/env bash
# What running several instances costs, side by side in one run
# (BENCHMARKS.md, "Many instances"):
#
#   counter   `counter` requests on 50 kept connections, and new clients
#             (--connect-rate, one request each), with the count in this
#             process and with --counter-store (Redis on this machine);
#             Redis's INFO commandstats shows the INCRs and GETs each run
#             cost.
#   haproxy   new connections (echo, --connect-rate) straight to one
#             instance, through HAProxy (mode tcp) without a PROXY header,
#             and through HAProxy with send-proxy-v2 to a --proxy-protocol
#             instance: what the balancer costs, and what reading the header
#             costs the server.
#   reuse     two --reuse-port instances against one: connections/s and
#             64 B echo messages/s.
#   instructions
#             the server under callgrind, through HAProxy with and without
#             PROXY v2: instructions per connection, and the share of the
#             header's parsing and of reading it.
#
#   scripts/bench-instances.sh                   # all, 3 rounds
#   ROUNDS=5 DURATION=5 scripts/bench-instances.sh counter haproxy
#
# Method: release build; a fresh server per run, pinned to CPU $SERVER_CPU,
# the bench (and HAProxy) on CPU $LOAD_CPU, `duplex bench --server-pid` for
# the server's CPU time over the measured window; the order of the variants
# alternates between rounds; medians. Redis is not pinned. In "reuse" no
# process is pinned: the question there is what a second process adds on
# this machine. Only 127.0.0.1 is used; redis-server and haproxy run in the
# foreground and are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(counter haproxy reuse instructions)

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
# Everything a part needs, checked before any is measured: curl and
# valgrind are not among what scripts/test.sh installs.
need redis-server "apt-get install -y redis-server"
need redis-cli "apt-get install -y redis-tools"
need haproxy "apt-get install -y haproxy"
need curl "apt-get install -y curl"
need python3 "apt-get install -y python3"
if [[ " ${PARTS[*]} " == *" instructions "* ]]; then
    need valgrind "apt-get install -y valgrind"
    need callgrind_annotate "apt-get install -y valgrind"
fi
bench_setup
PIDS=()
REDIS_PID=
HAPROXY_PID=
trap 'stop_all; [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

# serve CPU ARGS…: a `duplex -q serve ARGS…` (pinned to CPU unless "any");
# its PID joins PIDS, its service's first URL is in URL and its --metrics
# URL, if any, in MURL.
serve() {
    local cpu=$1 log=$WORK/serve.$RANDOM pid
    shift
    : >"$log"
    if [ "$cpu" = any ]; then
        "$DUPLEX" -q serve "$@" >"$log" 2>"$log.err" &
    else
        taskset -c "$cpu" "$DUPLEX" -q serve "$@" >"$log" 2>"$log.err" &
    fi
    pid=$!
    PIDS+=("$pid")
    if wait_line "$log" '^listening \(echo\|counter\) ' "$pid"; then
        URL=${LINE##* }
        MURL=$(sed -n 's/^listening metrics tcp:/http:/p' "$log")
        return
    fi
    echo "$NAME: duplex serve $* did not start: $(cat "$log.err")" >&2
    exit 1
}

stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
    if [ -n "$HAPROXY_PID" ]; then
        kill "$HAPROXY_PID" 2>/dev/null || true
        wait "$HAPROXY_PID" 2>/dev/null || true
        HAPROXY_PID=
    fi
}

redis_start() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile '' >/dev/null &
    REDIS_PID=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && return
        sleep 0.05
    done
    echo "$NAME: redis-server did not start" >&2
    exit 1
}
calls() { redis-cli -p "$REDIS_PORT" INFO commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\).*/\1/p" | awk '{ print $1 + 0 } END { if (NR == 0) print 0 }' | head -n1; }

# haproxy_start TARGET_PORT SERVER_OPTIONS: HAProxy (mode tcp) on CPU
# $LOAD_CPU in front of one server; sets HURL.
haproxy_start() {
    local port cfg=$WORK/haproxy.cfg
    port=$(free_port)
    cat >"$cfg" <<EOF
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:$port
    default_backend one
backend one
    server s1 127.0.0.1:$1 $2
EOF
    taskset -c "$LOAD_CPU" haproxy -db -f "$cfg" >"$WORK/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    for _ in $(seq 100); do
        grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp && break
        sleep 0.05
    done
    HURL=tcp://127.0.0.1:$port
}

# measure URL SERVER_PID BENCH_ARGS…: "rate cpu_us_per_message errors" of
# one bench run (connects/s for --connect-rate, messages/s otherwise).
measure() {
    local url=$1 pid=$2 json rate
    shift 2
    json=$(taskset -c "$LOAD_CPU" "$DUPLEX" bench "$url" "$@" --warmup "${WARMUP}s" \
        -d "${DURATION}s" --server-pid "$pid" --json) || {
        echo "$NAME: bench $url $* failed: $json" >&2
        exit 1
    }
    rate=$(json_num messages_per_sec <<<"$json")
    printf '%s %s %s\n' "$rate" "$(json_num cpu_us_per_message <<<"$json")" "$(json_num total <<<"$json")"
}

# table TITLE UNIT VARIANT…: medians of $WORK/VARIANT.runs ("rate cpu
# errors" per line), and each CPU per message against the first variant's.
table() {
    local title=$1 unit=$2 first base v rate cpu
    shift 2
    first=$1
    echo
    echo "$title"
    printf '  %-28s %12s %16s %8s %8s\n' variant "$unit" "server µs/each" "÷ first" errors
    base=$(awk '{ print $2 }' "$WORK/$first.runs" | median)
    for v in "$@"; do
        rate=$(awk '{ print $1 }' "$WORK/$v.runs" | median)
        cpu=$(awk '{ print $2 }' "$WORK/$v.runs" | median)
        printf '  %-28s %12.0f %16.2f %8s %8s\n' "$v" "$rate" "$cpu" "$(ratio "$cpu" "$base")" \
            "$(awk '{ s += $3 } END { print s + 0 }' "$WORK/$v.runs")"
    done
}

# served: "CLIENTS REQUESTS" the server's /metrics counted (every
# transport), before it stops.
served() {
    curl -s "$MURL/metrics" | awk '/^duplex_connections_accepted_total/ { c += $2 } /^duplex_requests_total/ { r += $2 } END { printf "%d %d", c, r }'
}

# commandstats WHAT INCR0 GET0: the INCRs and GETs since INCR0 and GET0,
# beside the clients and requests the server counted over the same run.
commandstats() {
    local n
    read -ra n <<<"$(served)"
    echo "$1: ${n[0]} clients, ${n[1]} requests: $(($(calls incr) - $2)) INCR, $(($(calls get) - $3)) GET" >>"$WORK/commandstats"
}

part_counter() {
    redis_start
    local round v order
    for round in $(seq "$ROUNDS"); do
        order=(local store)
        ((round % 2)) || order=(store local)
        for v in "${order[@]}"; do
            local store=()
            [ "$v" = store ] && store=(--counter-store "redis://127.0.0.1:$REDIS_PORT/0")
            # Requests on 50 kept connections.
            serve "$SERVER_CPU" counter tcp://127.0.0.1:0 --metrics tcp://127.0.0.1:0 "${store[@]}"
            local i0 g0
            i0=$(calls incr) g0=$(calls get)
            measure "$URL" "${PIDS[0]}" -c 50 --request '' >>"$WORK/req-$v.runs"
            [ "$v" = store ] && commandstats "kept connections, round $round" "$i0" "$g0"
            stop_all
            # A new client per request.
            serve "$SERVER_CPU" counter tcp://127.0.0.1:0 --metrics tcp://127.0.0.1:0 "${store[@]}"
            i0=$(calls incr) g0=$(calls get)
            measure "$URL" "${PIDS[0]}" --connect-rate -c 20 --request '' >>"$WORK/conn-$v.runs"
            [ "$v" = store ] && commandstats "a client per request, round $round" "$i0" "$g0"
            stop_all
        done
    done
    table "counter: requests on 50 kept connections" "requests/s" req-local req-store
    table "counter: a new client per request (--connect-rate -c 20)" "clients/s" conn-local conn-store
    echo
    echo "Redis INFO commandstats, differences over each --counter-store run:"
    sed 's/^/  /' "$WORK/commandstats"
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
}

part_haproxy() {
    local round v order port
    for round in $(seq "$ROUNDS"); do
        order=(straight haproxy haproxy+proxy-v2)
        ((round % 2)) || order=(haproxy+proxy-v2 haproxy straight)
        for v in "${order[@]}"; do
            case $v in
                straight)
                    serve "$SERVER_CPU" echo tcp://127.0.0.1:0
                    measure "$URL" "${PIDS[0]}" --connect-rate -c 20 >>"$WORK/$v.runs"
                    ;;
                haproxy)
                    serve "$SERVER_CPU" echo tcp://127.0.0.1:0
                    port=${URL##*:}
                    haproxy_start "$port" ""
                    measure "$HURL" "${PIDS[0]}" --connect-rate -c 20 >>"$WORK/$v.runs"
                    ;;
                haproxy+proxy-v2)
                    serve "$SERVER_CPU" echo tcp://127.0.0.1:0 --proxy-protocol
                    port=${URL##*:}
                    haproxy_start "$port" send-proxy-v2
                    measure "$HURL" "${PIDS[0]}" --connect-rate -c 20 >>"$WORK/$v.runs"
                    ;;
            esac
            stop_all
        done
    done
    table "new connections (echo, one 64 B message each, -c 20): the server's CPU per connection" \
        "conns/s" straight haproxy haproxy+proxy-v2
}

part_reuse() {
    local round v order
    for round in $(seq "$ROUNDS"); do
        order=(one two)
        ((round % 2)) || order=(two one)
        for v in "${order[@]}"; do
            local mode
            for mode in conn echo; do
                serve any echo tcp://127.0.0.1:0 --reuse-port
                [ "$v" = two ] && serve any echo "$URL" --reuse-port
                local args=(-c 50 -s 64)
                [ "$mode" = conn ] && args=(--connect-rate -c 20)
                local json
                json=$("$DUPLEX" bench "$URL" "${args[@]}" --warmup "${WARMUP}s" -d "${DURATION}s" --json)
                printf '%s 0 %s\n' "$(json_num messages_per_sec <<<"$json")" "$(json_num total <<<"$json")" \
                    >>"$WORK/reuse-$mode-$v.runs"
                stop_all
            done
        done
    done
    echo
    echo "--reuse-port: one instance against two on one port (nothing pinned)"
    printf '  %-28s %12s %12s %8s\n' variant "conns/s" "64 B msgs/s" errors
    for v in one two; do
        printf '  %-28s %12.0f %12.0f %8s\n' "$v" \
            "$(awk '{ print $1 }' "$WORK/reuse-conn-$v.runs" | median)" \
            "$(awk '{ print $1 }' "$WORK/reuse-echo-$v.runs" | median)" \
            "$(cat "$WORK/reuse-conn-$v.runs" "$WORK/reuse-echo-$v.runs" | awk '{ s += $3 } END { print s + 0 }')"
    done
}

# callgrind_run N VARIANT: the server's instructions (callgrind Ir) for N
# new connections through HAProxy; VARIANT proxy-v2 sends and reads a
# PROXY v2 header, plain does not. Prints "total parse accept": the whole
# program, duplex::proxy_header::parse and duplex::server::proxied::accept
# (inclusive).
callgrind_run() {
    local count=$1 v=$2 port pp=() send="" file=$WORK/callgrind.$1.$2
    port=$(free_port)
    if [ "$v" = proxy-v2 ]; then
        pp=(--proxy-protocol)
        send="send-proxy-v2"
    fi
    valgrind --tool=callgrind --callgrind-out-file="$file" "$DUPLEX" -q serve echo \
        "tcp://127.0.0.1:$port" "${pp[@]}" >/dev/null 2>"$file.err" &
    PIDS+=("$!")
    for _ in $(seq 200); do
        grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp && break
        sleep 0.05
    done
    haproxy_start "$port" "$send"
    "$DUPLEX" bench "$HURL" --connect-rate -c 4 -n "$count" --timeout 30s >/dev/null
    stop_all
    callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null | awk '
        /PROGRAM TOTALS/ { gsub(",", "", $1); t = $1 }
        /duplex::proxy_header::parse \[/ { gsub(",", "", $1); p = $1 }
        /duplex::server::proxied::accept::\{\{closure\}\} \[/ { gsub(",", "", $1); a = $1 }
        END { printf "%d %d %d\n", t, p + 0, a + 0 }'
}

# Instructions per connection from runs of 1,000 and 3,000 connections (the
# difference leaves start-up and shutdown out), for both variants.
part_instructions() {
    local v lo hi
    echo
    echo "server instructions per new connection through HAProxy (callgrind Ir, user space only)"
    printf '  %-12s %12s %18s %22s\n' variant "Ir/conn" "parse: Ir/conn (%)" "header read: Ir/conn (%)"
    for v in plain proxy-v2; do
        read -ra lo <<<"$(callgrind_run 1000 "$v")"
        read -ra hi <<<"$(callgrind_run 3000 "$v")"
        awk -v t=$((hi[0] - lo[0])) -v p=$((hi[1] - lo[1])) -v a=$((hi[2] - lo[2])) -v v="$v" \
            'BEGIN { printf "  %-12s %12.0f %11.0f (%4.1f%%) %14.0f (%4.1f%%)\n", v, t / 2000, p / 2000, 100 * p / t, a / 2000, 100 * a / t }'
    done
}

echo "machine: $(nproc) CPUs, Linux $(uname -r); $ROUNDS rounds of ${WARMUP}s + ${DURATION}s; server on CPU $SERVER_CPU, bench on CPU $LOAD_CPU"
for part in "${PARTS[@]}"; do
    case $part in
        counter | haproxy | reuse | instructions) "part_$part" ;;
        *) echo "$NAME: no part $part (counter, haproxy, reuse, instructions)" >&2; exit 2 ;;
    esac
done
