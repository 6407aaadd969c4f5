#!/usr/bin/env bash
# Autobahn|Testsuite groups 1–13 (12 and 13: permessage-deflate) with
# kosoku against WebSocket echo servers and clients: every case of the
# groups, on release builds (CI runs the same 517 cases on each side in
# tests/autobahn.rs, on debug builds, and keeps no reports). Also
# the references of the choice of the WebSocket implementation
# (BENCHMARKS.md, "Choosing the WebSocket implementation"). Prints one
# tally per run (behavior of every case, and the close behavior where it is
# worse) and keeps kosoku's reports.
#
#   scripts/autobahn-ws-eval.sh duplex duplex-client   # duplex, server and client: ~10 minutes
#   scripts/autobahn-ws-eval.sh                    # every server and client below
#   scripts/autobahn-ws-eval.sh yawc duplex-client # some only
#   CASES='12.*' scripts/autobahn-ws-eval.sh yawc  # some cases only
#   OUT=reports scripts/autobahn-ws-eval.sh        # where the reports go
#
# Servers (kosoku drives them): duplex (`duplex serve echo`, compression
# agreed when offered), yawc and yawc-takeover
# (examples/ref_ws_yawc.rs with --compression on / takeover, the handshake
# answered by the example), yawc-stock (the handshake answered by yawc's
# `upgrade_with_options`), tokio-websockets
# (examples/ref_ws_tokio_websockets.rs). Client (kosoku's fuzzing server
# drives it): duplex-client (examples/autobahn_client.rs, duplex's dialer
# and WebSocket stack, offering permessage-deflate as `duplex connect
# --compress` does).
#
# kosoku comes from the project's .venv (as scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

ALL="duplex yawc yawc-stock yawc-takeover tokio-websockets duplex-client"
RUNS=${*:-$ALL}
CASES=${CASES:-}
OUT=${OUT:-target/autobahn-ws-eval}
PARALLEL=${PARALLEL:-2}
KOSOKU=.venv/bin/kosoku
if [ ! -x "$KOSOKU" ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check websockets kosoku
fi
build_release --bins --examples
EX=target/release/examples
work_dir

# selection: kosoku's -i arguments for $CASES (default: groups 1–13).
selection() {
    local c
    if [ -n "$CASES" ]; then
        for c in $CASES; do printf -- '-i\n%s\n' "$c"; done
    else
        for c in 1 2 3 4 5 6 7 9 10 12 13; do printf -- '-i\n%s.*\n' "$c"; done
    fi
}

# tally DIR NAME: counts kosoku's verdicts in DIR/index.json.
tally() {
    python3 - "$1/index.json" "$2" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
(cases,) = report.values()
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
behavior = collections.Counter(v.get("behavior", "?") for v in cases.values())
close = collections.Counter(v.get("behaviorClose", "?") for v in cases.values())
groups = collections.defaultdict(collections.Counter)
for case, v in cases.items():
    groups[case.split(".")[0]][v.get("behavior", "?")] += 1
def fmt(counter):
    return ", ".join(f"{k} {counter[k]}" for k in order + sorted(set(counter) - set(order)) if counter[k])
print(f"{sys.argv[2]}: {len(cases)} cases: {fmt(behavior)} | close: {fmt(close)}")
for g in sorted(groups, key=int):
    print(f"  group {g}: {fmt(groups[g])}")
bad = sorted((c for c, v in cases.items() if v.get("behavior") not in ("OK", "INFORMATIONAL")),
             key=lambda c: [int(x) for x in c.split(".")])
if bad:
    print("  not OK: " + " ".join(f"{c}={cases[c].get('behavior')}" for c in bad[:60])
          + (f" … ({len(bad)} in all)" if len(bad) > 60 else ""))
PY
}

# server NAME: starts a server and sets URL.
server() {
    local cmd
    case $1 in
        duplex) cmd=("$DUPLEX" -q serve echo ws://127.0.0.1:0/ --max-message 20000000) ;;
        yawc) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0 --max-message 20000000) ;;
        yawc-takeover) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0 --max-message 20000000 --compression takeover) ;;
        yawc-stock) cmd=("$EX/ref_ws_yawc" 127.0.0.1:0 --max-message 20000000 --handshake yawc) ;;
        tokio-websockets) cmd=("$EX/ref_ws_tokio_websockets" 127.0.0.1:0) ;;
        *) echo "$NAME: unknown server $1" >&2; exit 2 ;;
    esac
    # Emptied first: the server's own redirection may come after the first
    # look for its `listening` line, which must not find the previous one.
    : >"$WORK/server.out"
    "${cmd[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
    SRV_PID=$!
    wait_line "$WORK/server.out" listening "$SRV_PID" ||
        { echo "$NAME: $1 did not start: $(cat "$WORK/server.err")" >&2; exit 1; }
    URL=$(ws_url "$LINE")
}

mkdir -p "$OUT"
for run in $RUNS; do
    dir="$OUT/$run"
    rm -rf "$dir"
    mapfile -t sel < <(selection)
    start=$SECONDS
    case $run in
        *-client)
            case $run in
                duplex-client) client=("$EX/autobahn_client" --parallel "$PARALLEL") ;;
                *) echo "$NAME: unknown client $run" >&2; exit 2 ;;
            esac
            : >"$WORK/fuzz.err"
            "$KOSOKU" -m fuzzingserver 127.0.0.1:0 "${sel[@]}" -o "$dir" >"$WORK/fuzz.out" 2>"$WORK/fuzz.err" &
            SRV_PID=$!
            wait_line "$WORK/fuzz.err" 'listening on ws://' "$SRV_PID" ||
                { echo "$NAME: kosoku did not start: $(cat "$WORK/fuzz.err")" >&2; exit 1; }
            addr=${LINE##*listening on ws://}
            timeout 900 "${client[0]}" "$addr" "${client[@]:1}" >"$WORK/client.out" 2>"$WORK/client.err" ||
                echo "$run: the client exited with an error: $(tail -n 3 "$WORK/client.err")"
            # kosoku writes its report and exits once the client is done.
            for _ in $(seq 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
            stop_server
            ;;
        *)
            server "$run"
            timeout 900 "$KOSOKU" "$URL" -p "$PARALLEL" "${sel[@]}" -o "$dir" >"$WORK/kosoku.out" 2>&1 || true
            stop_server
            ;;
    esac
    if [ -f "$dir/index.json" ]; then
        tally "$dir" "$run ($((SECONDS - start)) s)"
    else
        echo "$run: kosoku wrote no report: $(tail -n 5 "$WORK"/*.err "$WORK"/kosoku.out 2>/dev/null)"
    fi
done
