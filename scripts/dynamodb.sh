#!/usr/bin/env bash
# Starts / stops a local DynamoDB-compatible endpoint (moto server) for the tests.
#
#   scripts/dynamodb.sh start   install moto in .services/venv-moto when missing, start it on a
#                               free loopback port, append MCP_KV_DYNAMODB_ENDPOINT to .services/env
#   scripts/dynamodb.sh stop    stop exactly the server this script started
#
# State, pid and log live under .services/dynamodb/. With CI=true a start failure exits non-zero;
# otherwise it warns and exits 0 (the tests then print SKIPPED lines).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/.services"
DIR="$SERVICES/dynamodb"
VENV="$SERVICES/venv-moto"
ENV_FILE="$SERVICES/env"
PID_FILE="$DIR/moto.pid"
PORT_FILE="$DIR/moto.port"
LOG_FILE="$DIR/moto.log"
VAR=MCP_KV_DYNAMODB_ENDPOINT
# moto 5.2.x was measured to support every operation the backend uses (see SERVICES.md).
MOTO_SPEC="${MOTO_SPEC:-moto[dynamodb,server]>=5.2,<6}"

# moto's server (what `moto_server -H 127.0.0.1 -p PORT` runs), with one change: requests are
# handled one at a time. moto's DynamoDB checks a condition and then writes without a lock, so a
# threaded server lets two concurrent conditional writes both succeed, which real DynamoDB never
# does; the race tests would then fail on the emulator, not on the backend. Keep-alive (HTTP/1.1,
# threaded connections) stays; only the handling of a request is serialised.
LAUNCHER='
import logging, os, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
inner = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

def app(environ, start_response):
    with lock:
        body = inner(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close:
                close()

run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
'

log() { echo "dynamodb.sh: $*" >&2; }

fail() {
    log "ERROR: $*"
    if [[ "${CI:-}" == "true" ]]; then
        exit 1
    fi
    log "continuing without DynamoDB (tests will be SKIPPED; set CI=true to make this fatal)"
    exit 0
}

python_bin() {
    local p
    for p in python3 python; do
        if command -v "$p" >/dev/null 2>&1; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [[ -x "$VENV/bin/python" ]] &&
        "$VENV/bin/python" -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1
}

# Creates the venv when missing. It sees the system's site-packages, so a machine that already
# has moto (pip list | grep moto) needs no download; otherwise moto is installed from PyPI.
ensure_moto() {
    if venv_ok; then
        return 0
    fi
    local py
    py="$(python_bin)" || fail "python3 not found"
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating $VENV"
        if ! "$py" -m venv --system-site-packages "$VENV" >/dev/null 2>&1; then
            rm -rf "$VENV"
            if command -v apt-get >/dev/null 2>&1; then
                log "python venv support missing: installing python3-venv"
                (apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                    python3-venv python3-pip) >/dev/null 2>&1 || fail "apt-get install python3-venv failed"
                py=python3
            fi
            "$py" -m venv --system-site-packages "$VENV" || fail "cannot create $VENV"
        fi
    fi
    if ! venv_ok; then
        log "installing $MOTO_SPEC flask flask-cors into $VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "$MOTO_SPEC" flask flask-cors >"$DIR/pip.log" 2>&1 ||
            fail "pip install failed (see $DIR/pip.log)"
        venv_ok || fail "moto still not importable after pip install (see $DIR/pip.log)"
    fi
}

free_port() {
    "$VENV/bin/python" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# Polls the endpoint until it answers (bounded: ~30 s) or the server dies.
wait_ready() {
    local port="$1" pid="$2" i
    for ((i = 0; i < 150; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if "$VENV/bin/python" - "$port" <<'EOF' >/dev/null 2>&1; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1).read()
EOF
            return 0
        fi
        sleep 0.2
    done
    return 1
}

set_env_line() {
    local value="$1" tmp
    touch "$ENV_FILE"
    tmp="$(mktemp "$SERVICES/env.XXXXXX")"
    grep -v "^export $VAR=" "$ENV_FILE" >"$tmp" || true
    if [[ -n "$value" ]]; then
        echo "export $VAR=$value" >>"$tmp"
    fi
    mv "$tmp" "$ENV_FILE"
}

running_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    mkdir -p "$DIR"
    local pid port
    if pid="$(running_pid)"; then
        port="$(cat "$PORT_FILE")"
        log "already running (pid $pid, port $port)"
        set_env_line "http://127.0.0.1:$port"
        return 0
    fi
    ensure_moto
    port="$(free_port)" || fail "no free port"
    "$VENV/bin/python" -c "$LAUNCHER" "$port" >"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    if ! wait_ready "$port" "$pid"; then
        kill "$pid" 2>/dev/null || true
        rm -f "$PID_FILE" "$PORT_FILE"
        fail "moto did not become ready on 127.0.0.1:$port (see $LOG_FILE)"
    fi
    set_env_line "http://127.0.0.1:$port"
    log "moto ready on http://127.0.0.1:$port (pid $pid); $VAR written to $ENV_FILE"
}

stop() {
    local pid i
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
        log "stopped moto (pid $pid)"
    else
        log "not running"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
    if [[ -f "$ENV_FILE" ]]; then
        set_env_line ""
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
