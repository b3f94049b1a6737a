#!/usr/bin/env bash
# Provides the official Python MCP SDK client for the end-to-end tests of the example server
# (tests/e2e_python.rs): a virtual environment under .services/python-mcp/ with the
# `mcp` package from PyPI.
#
#   scripts/e2e-python.sh start   # creates the venv and installs `mcp` when missing, checks that
#                                 # the client imports, appends to .services/env:
#                                 #   MCP_KV_E2E_PYTHON=<venv>/bin/python
#   scripts/e2e-python.sh stop    # nothing runs in the background: a no-op (the venv is kept
#                                 # as a cache; delete .services/python-mcp to reinstall)
#
# MCP_KV_PYTHON_MCP (default mcp==2.3.0, the version the tests were written against) picks the
# package spec. With CI=true a failed install exits non-zero; otherwise it warns and exits 0
# without exporting anything, so the Python test prints SKIPPED.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/.services"
BASE="$SERVICES/python-mcp"
VENV="$BASE/venv"
ENV_FILE="$SERVICES/env"
SPEC="${MCP_KV_PYTHON_MCP:-mcp==2.3.0}"

log() { echo "e2e-python.sh: $*" >&2; }

fail() {
    log "ERROR: $*"
    [ -f "$BASE/pip.log" ] && { log "--- $BASE/pip.log"; tail -n 20 "$BASE/pip.log" >&2 || true; }
    if [ "${CI:-}" = "true" ]; then
        exit 1
    fi
    log "continuing without the Python client: its test will be SKIPPED"
    exit 0
}

client_works() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
PY
}

start() {
    mkdir -p "$BASE"
    command -v python3 >/dev/null || fail "python3 is not installed"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV" >"$BASE/venv.log" 2>&1 || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    if ! client_works; then
        log "installing $SPEC"
        timeout 600 "$VENV/bin/pip" install --disable-pip-version-check -q "$SPEC" >"$BASE/pip.log" 2>&1 \
            || fail "pip install $SPEC failed"
        client_works || fail "the installed mcp package lacks the streamable HTTP client"
    fi
    log "ready: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))')"
    touch "$ENV_FILE"
    echo "export MCP_KV_E2E_PYTHON=$VENV/bin/python" >>"$ENV_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
