#!/usr/bin/env bash
# Runs every test of duplex, from a fresh machine: installs the tools the
# interop tests need when they are missing, then runs the whole cargo test
# suite (unit, integration and interop tests). Safe to run again and again.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh signals    # extra arguments go to the test binaries
set -euo pipefail

cd "$(dirname "$0")/.."

# ---- system packages -------------------------------------------------------
# OpenBSD netcat and socat are the reference clients/servers of the interop
# tests; setpriv (util-linux) runs the privileged-port test as an
# unprivileged user. The tests fail, never skip, when one is missing.
missing=()
command -v nc.openbsd >/dev/null 2>&1 || missing+=(netcat-openbsd)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# unshare (util-linux) and ip (iproute2) give the default-configuration tests
# a private loopback and /tmp, so the default ports may be in use elsewhere.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if ((${#missing[@]})); then
    echo "test.sh: installing ${missing[*]}" >&2
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- Python tools (none needed yet) ----------------------------------------
# Later test suites that need Python (WebSocket interop) create the venv here:
#   python3 -m venv .venv && .venv/bin/pip install -q websockets kosoku
# and browser tests install chromium here too. Nothing to do for now.

# ---- the test suite --------------------------------------------------------
# The tests start the real binary; a debug build compiles much faster than a
# release build and the suite's run time is dominated by deliberate waits
# (timeouts, signals), not by the server's speed.
cargo test --all-targets -- "$@"
