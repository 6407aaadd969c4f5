#!/usr/bin/env bash
# TCP echo: `duplex serve echo tcp://…` against the minimal tokio echo
# (examples/ref_tcp_echo.rs), a C epoll echo, socat (`TCP-LISTEN:…,fork
# PIPE`) and ncat (`-k --exec cat`): 64 B round trips over 50 connections,
# 16 KiB round trips, and RSS per idle TCP connection (5,000 by default;
# duplex, tokio and epoll only: socat and ncat run a process per
# connection). See scripts/bench-compare.sh for the method.
#
#   scripts/bench-tcp.sh
#   ROUNDS=5 IDLE_TCP=10000 scripts/bench-tcp.sh
#   SERVERS="duplex tokio epoll" scripts/bench-tcp.sh
IDLE_TCP="${IDLE_TCP:-5000}" exec "$(dirname "$0")/bench-compare.sh" tcp64 tcp16k idle-tcp
