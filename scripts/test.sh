#!/usr/bin/env bash
# Runs every test of duplex, from a fresh machine: installs the tools the
# interop tests need when they are missing, then runs the whole cargo test
# suite (unit, integration and interop tests). Safe to run again and again.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh signals    # extra arguments go to the test binaries
#   bash scripts/test.sh --install-only   # the packages and the venv, no tests
set -euo pipefail

cd "$(dirname "$0")/.."

# A clean build of every test binary takes about 4 GB (README.md, "Tests").
# When less is free, say so before anything is built: otherwise the run
# stops in the middle of a build with "No space left on device".
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ -n "$free_kb" ] && [ "$free_kb" -lt 5000000 ]; then
    echo "warning: $((free_kb / 1024)) MB free on the disk of $(pwd);" \
        "a clean test run needs about 4 GB" >&2
fi

# ---- system packages -------------------------------------------------------
# OpenBSD netcat and socat are the reference clients/servers of the interop
# tests; setpriv (util-linux) runs the privileged-port test as an
# unprivileged user. The tests fail, never skip, when one is missing.
missing=()
command -v nc.openbsd >/dev/null 2>&1 || missing+=(netcat-openbsd)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# The allocator, jemalloc (tikv-jemalloc-sys), is built from source: it
# needs make besides the C compiler that links every Rust program.
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
# unshare (util-linux) and ip (iproute2) give the default-configuration tests
# a private loopback and /tmp, so the default ports may be in use elsewhere.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# openssl s_client is a reference TLS client of tests/tls.rs.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# groff and man render the pages of `duplex man` in tests/man.rs; after
# the tests, CI lints scripts/ with shellcheck.
command -v groff >/dev/null 2>&1 || missing+=(groff-base)
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
# The tests of many instances start the real components, in the foreground
# on free loopback ports, never as system services: Redis (the shared
# counter store; redis-cli reads its INFO), HAProxy and nginx's stream
# module (the balancers of deploy/), systemd-socket-activate and
# systemd-analyze (the sockets and units of deploy/).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v systemd-socket-activate >/dev/null 2>&1 || missing+=(systemd)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if ((${#missing[@]})); then
    echo "test.sh: installing ${missing[*]}" >&2
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- WebSocket tests: Python tools and a browser ---------------------------
# tests/autobahn.rs and tests/interop_ws.rs use kosoku (an Autobahn|Testsuite
# runner) and the `websockets` library from a project venv; tests/console.rs
# drives the web console in headless Chromium over the DevTools protocol.
# Missing tools make those tests fail, never skip.
apt_install() {
    echo "test.sh: installing $*" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}
if ! .venv/bin/python -c 'import websockets, kosoku' >/dev/null 2>&1; then
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        apt_install python3 python3-venv python3-pip
    fi
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check websockets kosoku
fi
[ -x /usr/bin/chromium ] || apt_install chromium fonts-dejavu-core
if [ "${1:-}" = --install-only ]; then exit 0; fi

# ---- the test suite --------------------------------------------------------
# The tests start the real binary; a debug build compiles much faster than a
# release build and the suite's run time is dominated by deliberate waits
# (timeouts, signals), not by the server's speed.
cargo test --all-targets -- "$@"

# The vendored yawc (vendor/yawc/PATCHES.md) has unit tests of its own,
# those of duplex's patches to it among them (masking at every alignment,
# the read buffer's sizing); cargo runs a path dependency's tests only when
# asked. Its lock file pins its dev-dependencies. Skipped when arguments
# select duplex's tests.
if [ $# -eq 0 ]; then
    CARGO_TARGET_DIR=target/vendor-yawc cargo test --locked --lib \
        --manifest-path vendor/yawc/Cargo.toml
fi
