#!/usr/bin/env python3
"""The `mcp-kv bench` workload, run against py-key-value-aio (the Python peer), and the
comparison of the two tables.

    pykv_bench.py run --url memory://            # py-key-value's MemoryStore
    pykv_bench.py run --url redis://127.0.0.1:P  # py-key-value's RedisStore
    pykv_bench.py compare --ours OURS.txt --theirs THEIRS.txt --label memory [--target 50]

`run` mirrors src/bin/mcp-kv/bench.rs operation for operation: the same key names, the same
operation counts (default 5000, batches of 100), four rotating values, a 600 s TTL where the
workload has one, each call timed on its own, and the same printed table (workload, ops, ops/s,
keys/s, p50 µs, p99 µs). py-key-value stores JSON objects, not bytes, so a value is
{"v": <value-size characters>}; serialising it is part of what py-key-value costs its users.
It has no atomic get-and-delete, so the `take` row is absent (reported on stderr).

`compare` reads two such tables (ours from `mcp-kv bench`, theirs from `run`) and prints, per
workload, both ops/s figures and the ratio ours/theirs, against a target ratio. It also writes
the rows as JSON (--json) for scripts/bench_chart.py.

Needs `py-key-value-aio[memory,redis]` 0.5.x (scripts/bench-report.sh installs it into
.services/venv-pykv). `compare` needs only the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

HEADER = f"{'workload':<18} {'ops':>9} {'ops/s':>12} {'keys/s':>12} {'p50 µs':>10} {'p99 µs':>10}"
TTL_SECONDS = 600.0


class Row:
    def __init__(self, name: str, ops: int, keys_per_op: int, elapsed: float, latencies: list[float]):
        self.name = name
        self.ops = ops
        self.keys_per_op = keys_per_op
        self.elapsed = elapsed
        self.latencies = latencies

    def line(self) -> str:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            if not lat:
                return 0.0
            return lat[int(round((len(lat) - 1) * p))]

        secs = max(self.elapsed, 1e-9)
        return (
            f"{self.name:<18} {self.ops:>9} {self.ops / secs:>12.0f} "
            f"{self.ops * self.keys_per_op / secs:>12.0f} {pct(0.5) * 1e6:>10.1f} {pct(0.99) * 1e6:>10.1f}"
        )


async def measure(name: str, n: int, keys_per_op: int, op) -> Row:
    """Runs `n` sequential calls of `op(i)`, timing each (as bench.rs does)."""
    latencies = []
    clock = time.perf_counter
    started = clock()
    for i in range(n):
        t = clock()
        await op(i)
        latencies.append(clock() - t)
    return Row(name, n, keys_per_op, clock() - started, latencies)


def open_store(url: str):
    if url.startswith("memory:"):
        from key_value.aio.stores.memory import MemoryStore

        return MemoryStore()
    if url.startswith("redis://") or url.startswith("rediss://"):
        from key_value.aio.stores.redis import RedisStore

        return RedisStore(url=url)
    raise SystemExit(f"pykv_bench.py: unsupported URL scheme (memory:// or redis://): {url.split(':', 1)[0]}")


async def workload(store, coll: str, n: int, batch_ops: int, values: list[dict]) -> list[Row]:
    def key(i: int) -> str:
        return f"k{i % n}"

    ttl = TTL_SECONDS
    rows = []

    async def put(i):
        await store.put(key(i), values[i % 4], collection=coll)

    rows.append(await measure("put", n, 1, put))

    async def put_ttl(i):
        await store.put(key(i), values[i % 4], collection=coll, ttl=ttl)

    rows.append(await measure("put with ttl", n, 1, put_ttl))

    async def get_hit(i):
        await store.get(key(i), collection=coll)

    rows.append(await measure("get hit", n, 1, get_hit))

    async def get_miss(i):
        await store.get(f"missing-{i}", collection=coll)

    rows.append(await measure("get miss", n, 1, get_miss))

    keys = [key(i) for i in range(n)]

    async def get_many(i):
        start = (i * 100) % (n - 99)
        await store.get_many(keys[start : start + 100], collection=coll)

    rows.append(await measure("get_many(100)", batch_ops, 100, get_many))

    async def put_many(i):
        batch_keys = [key(i * 100 + j) for j in range(100)]
        batch_values = [values[j % 4] for j in range(100)]
        await store.put_many(batch_keys, batch_values, collection=coll, ttl=ttl)

    rows.append(await measure("put_many(100)", batch_ops, 100, put_many))

    print("pykv_bench.py: take: py-key-value has no atomic get-and-delete; row omitted", file=sys.stderr)

    # 90/10 read/write on 2 tasks (asyncio tasks on one event loop).
    await store.put_many(keys, [values[i % 4] for i in range(n)], collection=coll)

    async def task(t: int) -> list[float]:
        lat = []
        clock = time.perf_counter
        for i in range(n // 2):
            k = f"k{(i * 7 + t * 13) % n}"
            at = clock()
            if i % 10 == 0:
                await store.put(k, values[i % 4], collection=coll)
            else:
                await store.get(k, collection=coll)
            lat.append(clock() - at)
        return lat

    started = time.perf_counter()
    results = await asyncio.gather(task(0), task(1))
    elapsed = time.perf_counter() - started
    rows.append(Row("mix 90/10, 2 tasks", n // 2 * 2, 1, elapsed, results[0] + results[1]))
    return rows


async def run(url: str, ops: int, value_size: int) -> None:
    import importlib.metadata

    version = importlib.metadata.version("py-key-value-aio")
    store = open_store(url)
    n = max(ops, 100)
    batch_ops = max(n // 100, 1)
    coll = f"mcp-kv-bench-pykv-{os.getpid()}"
    values = [{"v": chr(ord("a") + i) * value_size} for i in range(4)]
    try:
        rows = await workload(store, coll, n, batch_ops, values)
    finally:
        try:
            await store.delete_many([f"k{i}" for i in range(n)], collection=coll)
        except Exception as e:  # cleanup only
            print(f"pykv_bench.py: cleanup failed: {type(e).__name__}", file=sys.stderr)
        close = getattr(store, "close", None)
        if close is not None:
            await close()
    print(f"# py-key-value-aio {version}, {type(store).__name__}, Python {sys.version.split()[0]}")
    print(HEADER)
    for r in rows:
        print(r.line())


def parse_table(path: str) -> dict[str, float]:
    """workload -> ops/s from a table printed by `mcp-kv bench` or `run`."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if len(line) < 19 or line.startswith("#") or line.startswith("workload"):
                continue
            name, rest = line[:18].strip(), line[18:].split()
            if len(rest) != 5:
                continue
            try:
                rows[name] = float(rest[1])
            except ValueError:
                continue
    return rows


def compare(ours_path: str, theirs_path: str, label: str, target: float, json_path: str | None) -> None:
    ours, theirs = parse_table(ours_path), parse_table(theirs_path)
    print(f"\n{label}: mcp-kv vs py-key-value-aio (ops/s, same workload, same run); target ≥ {target:g}×")
    print(f"{'workload':<18} {'mcp-kv':>12} {'py-key-value':>13} {'ratio':>9}  target")
    out = []
    for name in ours:
        if name not in theirs:
            print(f"{name:<18} {ours[name]:>12.0f} {'n/a':>13} {'':>9}  (py-key-value has no such operation)")
            out.append({"workload": name, "ours": ours[name], "theirs": None, "ratio": None, "target": target})
            continue
        ratio = ours[name] / theirs[name] if theirs[name] else float("inf")
        verdict = "met" if ratio >= target else "MISSED"
        print(f"{name:<18} {ours[name]:>12.0f} {theirs[name]:>13.0f} {ratio:>8.1f}×  {verdict}")
        out.append({"workload": name, "ours": ours[name], "theirs": theirs[name], "ratio": ratio, "target": target})
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"label": label, "target": target, "rows": out}, f, indent=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the workload against py-key-value-aio")
    r.add_argument("--url", required=True, help="memory:// or redis://host:port")
    r.add_argument("--ops", type=int, default=5000, help="operations per workload (as mcp-kv bench)")
    r.add_argument("--value-size", type=int, default=1024, help="characters per value (as mcp-kv bench)")
    c = sub.add_parser("compare", help="ratio table of two bench tables")
    c.add_argument("--ours", required=True)
    c.add_argument("--theirs", required=True)
    c.add_argument("--label", required=True)
    c.add_argument("--target", type=float, default=1.0)
    c.add_argument("--json", help="also write the rows as JSON here")
    a = p.parse_args()
    if a.cmd == "run":
        asyncio.run(run(a.url, a.ops, a.value_size))
    else:
        compare(a.ours, a.theirs, a.label, a.target, a.json)


if __name__ == "__main__":
    main()
