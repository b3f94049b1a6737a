#!/usr/bin/env bash
# The whole benchmark report of mcp-kv, in one run on one machine:
#
#   1. the criterion benches (memory, sqlite, sled, redis, dynamodb, wrappers, oauth, scaling),
#      each group running our store next to its raw driver / peers on the same workload;
#   2. the `mcp-kv bench` CLI workload against py-key-value-aio (PyPI) — its MemoryStore and its
#      RedisStore — and our CLI against memory:// and the same Redis, every process pinned to
#      core 0 (`taskset -c 0`, the Redis server too), with the ratios;
#   3. scripts/bench_chart.py: the ratio tables (target/bench-report/tables.md) and the chart
#      docs/bench-ratios.svg, from this run's criterion output only (the logs it wrote).
#
# Services: a Redis server (for the redis and oauth benches and the py-key-value comparison)
# and a DynamoDB-compatible endpoint (moto, for the dynamodb bench). When MCP_KV_REDIS_URL /
# MCP_KV_DYNAMODB_ENDPOINT are set they are used as they are (set MCP_KV_REDIS_PID to the
# server's pid so it can be pinned too); otherwise scripts/redis.sh / scripts/dynamodb.sh start
# them and they are stopped at the end, also on failure or Ctrl-C.
#
# Usage: scripts/bench-report.sh [--no-criterion] [--no-pykv] [--no-chart]
# Environment: BENCHES="memory sqlite …" (subset), MEASUREMENT_TIME (s, default 3),
#              WARM_UP_TIME (s, default 1), PYKV_OPS (default 5000, as `mcp-kv bench`),
#              BENCH_TIMEOUT (s a bench may run before it is killed and reported failed,
#              default 2700).
# Takes ~15–25 minutes on a quiet 2-core machine once built (the 1 M-entry loads of the
# scaling bench and moto's ~3 ms per request dominate). Results: target/bench-report/ (logs,
# tables.md, ratios.json).
# A bench that fails (or a py-key-value comparison that does not complete) does not stop the
# others: it is left out of the tables and the chart, named at the top of tables.md, on the
# chart and in the summary, and the script then exits with status 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

RUN_CRITERION=1
RUN_PYKV=1
RUN_CHART=1
for arg in "$@"; do
    case "$arg" in
        --no-criterion) RUN_CRITERION=0 ;;
        --no-pykv) RUN_PYKV=0 ;;
        --no-chart) RUN_CHART=0 ;;
        -h | --help)
            sed -n '2,28p' "$0"
            exit 0
            ;;
        *)
            echo "bench-report.sh: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

BENCHES=${BENCHES:-"memory sqlite sled redis dynamodb wrappers oauth scaling"}
MEASUREMENT_TIME=${MEASUREMENT_TIME:-3}
WARM_UP_TIME=${WARM_UP_TIME:-1}
PYKV_OPS=${PYKV_OPS:-5000}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-2700}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT="$TARGET_DIR/bench-report"
VENV="$ROOT/.services/venv-pykv"
PYKV_SPEC='py-key-value-aio[memory,redis]>=0.5,<0.6'

mkdir -p "$OUT" "$ROOT/.services"
log() { echo "==> $*" >&2; }


STARTED_REDIS=0
STARTED_DYNAMODB=0
cleanup() {
    if [[ $STARTED_REDIS == 1 ]]; then
        bash scripts/redis.sh stop || echo "warning: stopping Redis failed" >&2
    fi
    if [[ $STARTED_DYNAMODB == 1 ]]; then
        bash scripts/dynamodb.sh stop || echo "warning: stopping DynamoDB failed" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Reads `export NAME=value` from .services/env (the last one), without sourcing the rest.
env_value() {
    grep "^export $1=" "$ROOT/.services/env" 2>/dev/null | tail -n 1 | sed "s/^export $1=//"
}

wants() { [[ " $BENCHES " == *" $1 "* ]]; }

have_taskset() { command -v taskset >/dev/null 2>&1; }
pin() {
    if have_taskset; then taskset -c 0 "$@"; else "$@"; fi
}

machine() {
    echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpus:     $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory:   $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "os:       $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), kernel $(uname -r)"
    echo "rustc:    $(rustc --version)"
    echo "python:   $(python3 --version 2>&1)"
    echo "redis:    $(redis-server --version 2>/dev/null | awk '{print $3}' || echo n/a)"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at $1)"
}

machine start | tee "$OUT/machine.txt"

# ---- services --------------------------------------------------------------------------------
need_redis=0
need_dynamo=0
if [[ $RUN_CRITERION == 1 ]] && { wants redis || wants oauth; }; then need_redis=1; fi
if [[ $RUN_PYKV == 1 ]]; then need_redis=1; fi
if [[ $RUN_CRITERION == 1 ]] && wants dynamodb; then need_dynamo=1; fi

REDIS_PID=${MCP_KV_REDIS_PID:-}
if [[ $need_redis == 1 ]]; then
    if [[ -z ${MCP_KV_REDIS_URL:-} ]]; then
        log "starting Redis (scripts/redis.sh)"
        STARTED_REDIS=1
        bash scripts/redis.sh start || true
        MCP_KV_REDIS_URL=$(env_value MCP_KV_REDIS_URL)
        REDIS_PID=$(cat "$ROOT/.services/redis/standalone.pid" 2>/dev/null || true)
    fi
    if [[ -n ${MCP_KV_REDIS_URL:-} ]]; then
        export MCP_KV_REDIS_URL
        if [[ -n $REDIS_PID ]] && have_taskset; then
            taskset -cp 0 "$REDIS_PID" >/dev/null && log "Redis server (pid $REDIS_PID) pinned to core 0"
        else
            log "WARNING: the Redis server is not pinned (set MCP_KV_REDIS_PID): Redis figures will swing"
        fi
    else
        log "WARNING: no Redis: the redis bench, oauth's Redis groups and the py-key-value Redis comparison are skipped"
    fi
fi
if [[ $need_dynamo == 1 ]]; then
    if [[ -z ${MCP_KV_DYNAMODB_ENDPOINT:-} ]]; then
        log "starting the DynamoDB emulator (scripts/dynamodb.sh)"
        STARTED_DYNAMODB=1
        bash scripts/dynamodb.sh start || true
        MCP_KV_DYNAMODB_ENDPOINT=$(env_value MCP_KV_DYNAMODB_ENDPOINT)
    fi
    if [[ -n ${MCP_KV_DYNAMODB_ENDPOINT:-} ]]; then
        export MCP_KV_DYNAMODB_ENDPOINT
    else
        log "WARNING: no DynamoDB endpoint: the dynamodb bench is skipped"
    fi
fi

# ---- 1. criterion ----------------------------------------------------------------------------
declare -A STATUS=()
if [[ $RUN_CRITERION == 1 ]]; then
    bench_args=()
    for b in $BENCHES; do bench_args+=(--bench "$b"); done
    log "building the benches (${BENCHES})"
    # A bench that does not build fails below on its own; the others still run.
    cargo bench --features full "${bench_args[@]}" --no-run ||
        log "WARNING: building the benches failed; each is still run, the broken ones will fail"
    for b in $BENCHES; do
        if [[ $b == redis && -z ${MCP_KV_REDIS_URL:-} ]]; then STATUS[$b]="skipped (no Redis)"; continue; fi
        if [[ $b == dynamodb && -z ${MCP_KV_DYNAMODB_ENDPOINT:-} ]]; then STATUS[$b]="skipped (no endpoint)"; continue; fi
        runner=()
        # Redis figures with client and server on one core (round trips swing across cores).
        if [[ $b == redis || $b == oauth ]] && have_taskset; then runner=(taskset -c 0); fi
        log "cargo bench --bench $b ${runner[*]:+(pinned: ${runner[*]})}"
        started=$(date +%s)
        # Bounded: a bench that hangs (sled 0.34 can deadlock inside its own I/O threads, see
        # the mcp-kv-sled docs) is reported as failed instead of stalling the report.
        if "${runner[@]}" timeout --kill-after=30 "$BENCH_TIMEOUT" \
            cargo bench --features full --bench "$b" -- \
            --warm-up-time "$WARM_UP_TIME" --measurement-time "$MEASUREMENT_TIME" \
            >"$OUT/criterion-$b.log" 2>&1; then
            STATUS[$b]="ok ($(($(date +%s) - started)) s)"
        else
            code=$?
            if [[ $code == 124 || $code == 137 ]]; then
                STATUS[$b]="FAILED (no end after ${BENCH_TIMEOUT} s, killed; see $OUT/criterion-$b.log)"
            else
                STATUS[$b]="FAILED (exit $code, see $OUT/criterion-$b.log)"
            fi
        fi
        grep -E '^(memory footprint|store |mcp-kv |moka |openkeyv |std HashMap |SKIPPED)' "$OUT/criterion-$b.log" >&2 || true
        log "$b: ${STATUS[$b]}"
    done
fi

# ---- 2. py-key-value -------------------------------------------------------------------------
PYKV_JSON=()
PYKV_FAILED=()
if [[ $RUN_PYKV == 1 ]]; then
    if ! "$VENV/bin/python" -c 'import key_value.aio.stores.memory, key_value.aio.stores.redis' 2>/dev/null; then
        log "installing $PYKV_SPEC into .services/venv-pykv"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PYKV_SPEC"
    fi
    log "building the mcp-kv CLI (release, --features full)"
    cargo build --release --features full --bin mcp-kv
    CLI="$TARGET_DIR/release/mcp-kv"
    PY="$VENV/bin/python"
    compare_one() { # label url target
        local label=$1 url=$2 target=$3
        log "py-key-value comparison: $label (client${REDIS_PID:+ and server} pinned to core 0)"
        if ! pin "$CLI" --url "$url" bench --ops "$PYKV_OPS" >"$OUT/ours-$label.txt" 2>"$OUT/ours-$label.err"; then
            log "mcp-kv bench on $label FAILED: $(tail -n 3 "$OUT/ours-$label.err")"
            return 0
        fi
        if ! pin "$PY" scripts/pykv_bench.py run --url "$url" --ops "$PYKV_OPS" \
            >"$OUT/pykv-$label.txt" 2>"$OUT/pykv-$label.err"; then
            log "py-key-value run on $label FAILED: $(tail -n 3 "$OUT/pykv-$label.err")"
            return 0
        fi
        echo "--- mcp-kv ($label)"
        cat "$OUT/ours-$label.txt"
        echo "--- py-key-value ($label)"
        cat "$OUT/pykv-$label.txt"
        "$PY" scripts/pykv_bench.py compare --ours "$OUT/ours-$label.txt" --theirs "$OUT/pykv-$label.txt" \
            --label "$label" --target "$target" --json "$OUT/pykv-$label.json"
    }
    rm -f "$OUT"/pykv-*.json "$OUT"/pykv-*.txt "$OUT"/ours-*.txt
    # (compare_one runs in a pipeline's subshell: the JSON files tell what completed.)
    pykv_done() { # label
        if [[ -f "$OUT/pykv-$1.json" ]]; then
            PYKV_JSON+=("$OUT/pykv-$1.json")
        else
            PYKV_FAILED+=("py-key-value $1: FAILED (see $OUT/pykv-$1.log and the .err files beside it)")
        fi
    }
    compare_one memory memory:// 50 | tee "$OUT/pykv-memory.log" || true
    pykv_done memory
    if [[ -n ${MCP_KV_REDIS_URL:-} ]]; then
        compare_one redis "$MCP_KV_REDIS_URL" 4 | tee "$OUT/pykv-redis.log" || true
        pykv_done redis
    fi
fi

# ---- 3. tables and chart ---------------------------------------------------------------------
machine end | tail -n 1 | tee -a "$OUT/machine.txt"
# What failed: left out of the tables and the chart, named in them, and the exit status.
FAILED=()
for b in $BENCHES; do
    if [[ ${STATUS[$b]:-} == FAILED* ]]; then FAILED+=("$b: ${STATUS[$b]}"); fi
done
FAILED+=("${PYKV_FAILED[@]}")
if [[ $RUN_CHART == 1 ]]; then
    # Times from the logs of this run (another process sharing the checkout may rewrite
    # target/criterion later); without criterion, from the newest estimates.json files.
    # Only the benches that succeeded: a failed one's log may hold a part of its groups.
    from=()
    if [[ $RUN_CRITERION == 1 ]]; then
        from=(--logs)
        for b in $BENCHES; do
            if [[ -f "$OUT/criterion-$b.log" && ${STATUS[$b]:-} == ok* ]]; then
                from+=("$OUT/criterion-$b.log")
            fi
        done
    fi
    if ! python3 scripts/bench_chart.py --criterion "$TARGET_DIR/criterion" "${from[@]}" \
        --pykv "${PYKV_JSON[@]}" --failed "${FAILED[@]}" \
        --md "$OUT/tables.md" --json "$OUT/ratios.json" --svg "$ROOT/docs/bench-ratios.svg"; then
        FAILED+=("bench_chart.py: FAILED (no tables or chart)")
    fi
fi

echo
log "summary"
for b in $BENCHES; do
    if [[ -n ${STATUS[$b]:-} ]]; then echo "  criterion $b: ${STATUS[$b]}"; fi
done
if [[ $RUN_PYKV == 1 ]]; then echo "  py-key-value: ${PYKV_JSON[*]:-none}"; fi
echo "  tables: $OUT/tables.md   chart: docs/bench-ratios.svg   machine: $OUT/machine.txt"
if ((${#FAILED[@]} > 0)); then
    log "FAILED (none of their results is in tables.md or the chart; see their logs):"
    printf '  %s\n' "${FAILED[@]}" >&2
    exit 1
fi
