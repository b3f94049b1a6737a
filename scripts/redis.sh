#!/usr/bin/env bash
# Starts/stops the Redis servers the tests use: one standalone server and a 3-master Redis
# Cluster, each on free loopback ports of its own, nothing on disk but their dirs under
# .services/redis/ (no RDB, no AOF).
#
#   scripts/redis.sh start   # installs redis-server (Debian package) when missing, starts,
#                            # waits until ready, appends to .services/env:
#                            #   MCP_KV_REDIS_URL=redis://127.0.0.1:P
#                            #   MCP_KV_REDIS_CLUSTER_URLS=redis://127.0.0.1:P1,…
#                            #   MCP_KV_REDIS_SERVER_BIN=/usr/bin/redis-server
#   scripts/redis.sh stop    # kills exactly the pids recorded at start, removes the dirs
#
# With CI=true a failed start exits non-zero; otherwise it warns and exits 0 without exporting
# anything, so the Redis tests print SKIPPED.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/.services"
BASE="$SERVICES/redis"
ENV_FILE="$SERVICES/env"

log() { echo "redis.sh: $*" >&2; }

fail() {
    log "ERROR: $*"
    for f in "$BASE"/*.log "$BASE"/*/*.log; do
        [ -f "$f" ] && { log "--- $f"; tail -n 20 "$f" >&2 || true; }
    done
    stop_servers
    if [ "${CI:-}" = "true" ]; then
        exit 1
    fi
    log "continuing without Redis: its tests will be SKIPPED"
    exit 0
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

install_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return 0
    fi
    log "installing redis-server (Debian package)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >&2 \
        || { as_root apt-get update >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >&2; } \
        || return 1
    command -v redis-server >/dev/null
}

# Whether something accepts connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

USED_PORTS=" "
FREE_PORT=
# Sets FREE_PORT to a free port P such that P+10000 (the cluster bus) is free too; never 6379.
# (Not called through $(…): USED_PORTS must persist.)
#
# Below the kernel's ephemeral range: any port inside it may be held at any moment by an
# outgoing connection (a test's client, a build's download), which port_busy cannot see (it
# accepts nothing) and which makes a listener's bind fail — that failed a cluster node's bus
# port (P+10000) once while another test run was busy on the machine.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
[[ $EPHEMERAL_LOW =~ ^[0-9]+$ ]] || EPHEMERAL_LOW=32768
PORT_LOW=10000
PORT_SPAN=$((EPHEMERAL_LOW - 10000 - PORT_LOW))
if ((PORT_SPAN < 1000)); then PORT_SPAN=30000; PORT_LOW=20000; fi # an unusual range: as before
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( PORT_LOW + (RANDOM * 32768 + RANDOM) % PORT_SPAN ))
        case "$USED_PORTS" in *" $p "*|*" $((p + 10000)) "*) continue ;; esac
        if ! port_busy "$p" && ! port_busy $((p + 10000)); then
            USED_PORTS="$USED_PORTS$p $((p + 10000)) "
            FREE_PORT=$p
            return 0
        fi
    done
    return 1
}

wait_ping() {
    local port=$1 i
    for i in $(seq 1 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# start_server NAME PORT [extra redis-server args…]; records NAME.pid under $BASE.
start_server() {
    local name=$1 port=$2
    shift 2
    local dir="$BASE/$name"
    mkdir -p "$dir"
    rm -f "$dir/server.pid"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
        --save '' --appendonly no --dir "$dir" \
        --pidfile "$dir/server.pid" --logfile "$dir/server.log" "$@" \
        || return 1
    local i
    for i in $(seq 1 100); do
        [ -s "$dir/server.pid" ] && break
        sleep 0.05
    done
    [ -s "$dir/server.pid" ] || return 1
    cp "$dir/server.pid" "$BASE/$name.pid"
    wait_ping "$port"
}

stop_servers() {
    local f pid i
    [ -d "$BASE" ] || return 0
    for f in "$BASE"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
    rm -rf "$BASE"
}

drop_env() {
    if [ -f "$ENV_FILE" ]; then
        local tmp
        tmp=$(mktemp)
        grep -v '^export MCP_KV_REDIS_' "$ENV_FILE" >"$tmp" || true
        cat "$tmp" >"$ENV_FILE"
        rm -f "$tmp"
    fi
}

start() {
    stop_servers
    drop_env
    mkdir -p "$BASE"
    install_redis || fail "redis-server is not installed and could not be installed"

    local port
    free_port || fail "no free port"
    port=$FREE_PORT
    start_server standalone "$port" || fail "standalone redis-server did not start on $port"
    echo "$port" >"$BASE/standalone.port"

    local ports=() nodes=() urls=() p
    for i in 1 2 3; do
        free_port || fail "no free port"
        p=$FREE_PORT
        start_server "cluster-$i" "$p" --cluster-enabled yes \
            --cluster-config-file "$BASE/cluster-$i/nodes.conf" --cluster-node-timeout 5000 \
            || fail "cluster node $i did not start on $p"
        ports+=("$p")
        nodes+=("127.0.0.1:$p")
        urls+=("redis://127.0.0.1:$p")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-yes >"$BASE/cluster-create.log" 2>&1 \
        || fail "redis-cli --cluster create failed (see $BASE/cluster-create.log)"
    local ok=0
    for i in $(seq 1 200); do
        ok=1
        for p in "${ports[@]}"; do
            if ! redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
                ok=0
                break
            fi
        done
        [ "$ok" = 1 ] && break
        sleep 0.05
    done
    [ "$ok" = 1 ] || fail "the cluster did not reach cluster_state:ok"

    local cluster_urls
    cluster_urls=$(IFS=,; echo "${urls[*]}")
    {
        echo "export MCP_KV_REDIS_URL=redis://127.0.0.1:$port"
        echo "export MCP_KV_REDIS_CLUSTER_URLS=$cluster_urls"
        echo "export MCP_KV_REDIS_SERVER_BIN=$(command -v redis-server)"
    } >>"$ENV_FILE"
    log "standalone on 127.0.0.1:$port, cluster on ${nodes[*]} ($(redis-server --version | awk '{print $3}'))"
}

case "${1:-}" in
    start) start ;;
    stop)
        stop_servers
        drop_env
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
