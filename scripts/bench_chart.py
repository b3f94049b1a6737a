#!/usr/bin/env python3
"""Turns criterion's output (and the py-key-value comparison) into ratio tables and an SVG chart.

    bench_chart.py [--criterion target/criterion] [--since EPOCH_SECONDS]
                   [--pykv target/bench-report/pykv-*.json ...]
                   [--md target/bench-report/tables.md] [--svg docs/bench-ratios.svg]
                   [--json target/bench-report/ratios.json]
                   [--carry BENCHMARKS.md --carry-sections memory,redis,…]
                   [--logs target/bench-report/criterion-*.log ...]
                   [--failed "sled: FAILED (exit 101, …)" ...]

Reads every `<criterion>/**/new/benchmark.json` with its `estimates.json` (the typical time per
iteration: criterion's slope estimate when it has one, the mean otherwise; only results written
after --since when given, so stale results from older runs are left out) — or, with --logs, the
times criterion printed in those logs (what scripts/bench-report.sh uses: on a shared checkout
another process may rewrite target/criterion after a bench ran) — pairs our function
with each peer in the same group (same workload, same run), and writes:

- Markdown ratio tables per backend: our throughput ÷ the peer's (> 1 = we are faster), with the
  targets of the issues and whether each is met;
- the scaling table (get latency by entry count) and the memory footprint table
  (`<criterion>/scaling-footprint.json`, written by benches/scaling.rs);
- an SVG bar chart (log scale) of every ratio, with the target marked where there is one;
- with --failed (benches that failed in this run), a "failed benches" list at the top of the
  tables and a line under the chart's title. Their results are left out: give --logs only the
  logs of the benches that succeeded (a failed `scaling` also drops the footprint table).

Standard library only.
"""

from __future__ import annotations

import argparse
import glob
import html
import json
import os
import re
import sys

# ---------------------------------------------------------------------------------------------
# What is compared, and the targets (issues 2–6 and 9). A rule matches a group by regex and
# names our function and the peer; `kind` "speed": ratio = peer time / our time (≥ target is
# met); "cost": multiple = our time / baseline time (≤ target is met).
# ---------------------------------------------------------------------------------------------

SECTIONS = [
    ("memory", re.compile(r"^(get-hit|get-miss|put|put-with-TTL|get_many\(100\)|put_many\(100\)|take|mix 90_10 on 2 tasks|mix 90/10 on 2 tasks)$")),
    ("sqlite", re.compile(r"^sqlite ")),
    ("sled", re.compile(r"^sled ")),
    ("redis", re.compile(r"^redis/")),
    ("dynamodb", re.compile(r"^dynamodb/")),
    ("wrappers", re.compile(r"^wrappers/")),
    ("oauth", re.compile(r"^oauth-")),
]

# (section, group regex, our function, peer function) -> (target, source)
TARGETS = [
    ("memory", r"^get-hit$", "mcp-kv", "openkeyv", 1.2, "issues 2, 9"),
    ("memory", r"^put-with-TTL$", "mcp-kv", "moka", 1.0, "issue 2"),
    ("memory", r"^mix 90.10 on 2 tasks$", "mcp-kv", "moka", 1.0, "issue 2"),
    ("memory", r"^get_many\(100\)$", "mcp-kv", "openkeyv", 1.0, "issue 2"),
    # First matching row wins: get (hits) and put_many(100) have issue 3's 0.85×, every other
    # sqlite workload (get-miss, put, put-with-TTL, get_many(100), take, the mix) issue 9's 0.9×.
    ("sqlite", r"^sqlite (get|put_many\(100\)) \(", "mcp-kv", "raw", 0.85, "issue 3"),
    ("sqlite", r"^sqlite ", "mcp-kv", "raw", 0.9, "issue 9"),
    # Every sled workload: get, get-miss, get_many(100), put, put-with-TTL, put_many(100), take,
    # mix 90/10 on 2 tasks (each durability).
    ("sled", r"^sled ", "mcp-kv", "raw sled", 0.9, "issues 3, 9"),
    ("redis", r"^redis/", "mcp-kv", "raw-redis", 0.9, "issues 4, 9"),
    ("dynamodb", r"^dynamodb/", "mcp-kv", "raw-sdk", 0.9, "issue 9"),
]

COST_TARGETS = [
    ("wrappers", r"^wrappers/get-hit$", "namespace+statistics", "memory", 1.10, "issue 6"),
    ("wrappers", r"^wrappers/encrypt-1KiB-(put|get)$", "Encryption wrapper", "raw AEAD + memory", 1.3, "issue 6"),
]

# Groups whose "ours" is not called mcp-kv: (group regex, ours, baselines or None = all others).
COST_GROUPS = [
    (r"^wrappers/get-hit$", None, ["memory"]),
    (r"^wrappers/encrypt-", "Encryption wrapper", ["raw AEAD + memory"]),
    (r"^wrappers/compress-", None, None),
    (r"^oauth-", "encrypted", None),
]


def load(criterion_dir: str, since: float | None) -> dict:
    """{group: {function or function/value: seconds per iteration}} and the per-element count."""
    groups: dict[str, dict[str, float]] = {}
    for bpath in glob.glob(os.path.join(criterion_dir, "**", "new", "benchmark.json"), recursive=True):
        epath = os.path.join(os.path.dirname(bpath), "estimates.json")
        if not os.path.exists(epath):
            continue
        if since is not None and os.path.getmtime(epath) < since:
            continue
        with open(bpath, encoding="utf-8") as f:
            b = json.load(f)
        with open(epath, encoding="utf-8") as f:
            e = json.load(f)
        est = e.get("slope") or e.get("mean")
        if not est:
            continue
        ns = est["point_estimate"]
        fid = b.get("function_id") or ""
        if b.get("value_str"):
            fid = f"{fid}/{b['value_str']}" if fid else b["value_str"]
        groups.setdefault(b["group_id"], {})[fid] = ns * 1e-9
    return groups


UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
TIME_LINE = re.compile(r"^(.*?)\s*time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]")


def load_logs(criterion_dir: str, logs: list[str]) -> dict:
    """Times from criterion's printed output (the middle estimate of `time: [lo mid hi]`), so
    only the runs these logs recorded count, even if another process has since rewritten
    target/criterion. The split of an id into group / function / value comes from the
    benchmark.json files (a group name may itself contain '/')."""
    ids = {}
    for bpath in glob.glob(os.path.join(criterion_dir, "**", "new", "benchmark.json"), recursive=True):
        with open(bpath, encoding="utf-8") as f:
            b = json.load(f)
        fid = b.get("function_id") or ""
        if b.get("value_str"):
            fid = f"{fid}/{b['value_str']}" if fid else b["value_str"]
        ids[b["full_id"]] = (b["group_id"], fid)
    groups: dict[str, dict[str, float]] = {}
    for log in logs:
        prev = ""
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                m = TIME_LINE.match(line)
                if m and m.group(5) in UNITS:
                    name = m.group(1).strip() or prev
                    secs = float(m.group(4)) * UNITS[m.group(5)]
                    if name in ids:
                        g, fid = ids[name]
                        groups.setdefault(g, {})[fid] = secs
                    else:
                        print(f"bench_chart.py: {log}: no benchmark.json for {name!r}", file=sys.stderr)
                if line.strip() and "time:" not in line:
                    prev = line.strip()
    return groups


CARRY_TIME = re.compile(r"^([0-9.]+) (ps|ns|µs|us|ms|s)$")


def carry_md(path: str, sections: list[str]) -> dict:
    """Times read back from the ratio tables of an earlier report (BENCHMARKS.md), for the
    given sections only: `### <section>` then rows `| group | peer | ours | peer's | …` (speed
    tables) or `| group | measured | baseline | time | baseline time | …` (cost tables). Lets a
    partial re-run (BENCHES="sqlite sled") rebuild the whole chart while keeping the other
    sections' figures as they were measured; the report must say which pass each came from."""
    groups: dict[str, dict[str, float]] = {}
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("### "):
                section = line[4:].strip()
                continue
            if section not in sections or not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) < 6:
                continue
            speed = CARRY_TIME.match(cells[2]) and CARRY_TIME.match(cells[3])
            cost = len(cells) >= 7 and CARRY_TIME.match(cells[3]) and CARRY_TIME.match(cells[4])
            if speed:
                pairs = [("mcp-kv", cells[2]), (cells[1], cells[3])]
            elif cost:
                pairs = [(cells[1], cells[3]), (cells[2], cells[4])]
            else:
                continue
            for name, text in pairs:
                m = CARRY_TIME.match(text)
                groups.setdefault(cells[0], {})[name] = float(m.group(1)) * UNITS[m.group(2)]
    return groups


def section_of(group: str) -> str | None:
    for name, rx in SECTIONS:
        if rx.search(group):
            return name
    return None


def fmt_time(s: float) -> str:
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e9:.0f} ns"


def speed_rows(groups: dict) -> list[dict]:
    rows = []
    for group in sorted(groups):
        sec = section_of(group)
        if sec is None or any(re.search(rx, group) for rx, _, _ in COST_GROUPS):
            continue
        funcs = groups[group]
        if "mcp-kv" not in funcs:
            continue
        ours = funcs["mcp-kv"]
        for peer, t in sorted(funcs.items()):
            if peer == "mcp-kv":
                continue
            target, source = None, ""
            for tsec, rx, o, p, tv, src in TARGETS:
                if tsec == sec and o == "mcp-kv" and p == peer and re.search(rx, group):
                    target, source = tv, src
                    break
            ratio = t / ours
            rows.append(
                dict(section=sec, group=group, ours_name="mcp-kv", peer=peer, ours=ours, theirs=t,
                     kind="speed", value=ratio, target=target, source=source,
                     met=None if target is None else ratio >= target)
            )
    return rows


def cost_rows(groups: dict) -> list[dict]:
    rows = []
    for group in sorted(groups):
        sec = section_of(group)
        rule = next(((o, b) for rx, o, b in COST_GROUPS if re.search(rx, group)), None)
        if sec is None or rule is None:
            continue
        funcs = groups[group]
        ours_name, bases = rule
        if ours_name is None:
            # Every function against the baseline(s): the first whose name says "memory", or the first.
            base = (bases or [])[:1] or [n for n in funcs if "memory" in n][:1] or sorted(funcs)[:1]
            pairs = [(f, base[0]) for f in sorted(funcs) if base and f != base[0] and base[0] in funcs]
        else:
            if ours_name not in funcs:
                continue
            others = bases if bases is not None else [f for f in sorted(funcs) if f != ours_name]
            pairs = [(ours_name, b) for b in others if b in funcs]
        for o, b in pairs:
            target, source = None, ""
            for tsec, rx, to, tb, tv, src in COST_TARGETS:
                if tsec == sec and to == o and tb == b and re.search(rx, group):
                    target, source = tv, src
            mult = funcs[o] / funcs[b]
            rows.append(
                dict(section=sec, group=group, ours_name=o, peer=b, ours=funcs[o], theirs=funcs[b],
                     kind="cost", value=mult, target=target, source=source,
                     met=None if target is None else mult <= target)
            )
    return rows


def verdict(r: dict) -> str:
    if r["target"] is None:
        return ""
    sign = "≥" if r["kind"] == "speed" else "≤"
    return f"{sign} {r['target']:g}× ({r['source']}): **{'met' if r['met'] else 'MISSED'}**"


def failed_name(entry: str) -> str:
    """The bench of a --failed entry (`<name>: <status>`)."""
    return entry.split(":", 1)[0].strip()


def markdown(speed: list[dict], cost: list[dict], groups: dict, footprint: list, pykv: list,
             failed: list[str] = ()) -> str:
    out = []
    if failed:
        out.append("### failed benches\n")
        out.append("These failed in this run: **their results are not in the tables below nor in the "
                   "chart** (see their logs).\n")
        out.extend(f"- **{e}**" for e in failed)
        out.append("")
    order = [s for s, _ in SECTIONS]
    for sec in order:
        rows = [r for r in speed if r["section"] == sec]
        if rows:
            out.append(f"### {sec}\n")
            out.append("Ratio = peer time ÷ our time per operation (our throughput ÷ theirs; > 1 = mcp-kv faster).\n")
            out.append("| workload | peer | mcp-kv | peer | ratio | target |")
            out.append("|---|---|---:|---:|---:|---|")
            for r in rows:
                out.append(
                    f"| {r['group']} | {r['peer']} | {fmt_time(r['ours'])} | {fmt_time(r['theirs'])} | "
                    f"{r['value']:.2f}× | {verdict(r)} |"
                )
            out.append("")
        rows = [r for r in cost if r["section"] == sec]
        if rows:
            out.append(f"### {sec}\n" if not any(x["section"] == sec for x in speed) else "")
            out.append("Multiple = time of the first ÷ time of the baseline (the cost of the layer; < 1 = cheaper).\n")
            out.append("| group | measured | baseline | time | baseline time | multiple | target |")
            out.append("|---|---|---|---:|---:|---:|---|")
            for r in rows:
                out.append(
                    f"| {r['group']} | {r['ours_name']} | {r['peer']} | {fmt_time(r['ours'])} | "
                    f"{fmt_time(r['theirs'])} | {r['value']:.2f}× | {verdict(r)} |"
                )
            out.append("")
    # Groups no rule covered, listed so nothing measured is silently dropped.
    covered = {r["group"] for r in speed + cost}
    other = [g for g in sorted(groups) if g not in covered and not g.startswith("scaling/")]
    if other:
        out.append("### other groups (times only)\n")
        out.append("| group | function | time |")
        out.append("|---|---|---:|")
        for g in other:
            for f, t in sorted(groups[g].items()):
                out.append(f"| {g} | {f} | {fmt_time(t)} |")
        out.append("")
    # Scaling.
    scaling = {g: f for g, f in groups.items() if g.startswith("scaling/")}
    if scaling:
        out.append("### scaling: get latency by entry count\n")
        sizes = ["1k", "100k", "1M"]
        out.append("| group | store | " + " | ".join(sizes) + " | 1M ÷ 1k |")
        out.append("|---|---|" + "---:|" * (len(sizes) + 1))
        for g in sorted(scaling):
            stores = sorted({k.split("/")[0] for k in scaling[g]})
            for s in stores:
                ts = [scaling[g].get(f"{s}/{z}") for z in sizes]
                cells = [fmt_time(t) if t else "–" for t in ts]
                growth = f"{ts[-1] / ts[0]:.2f}×" if ts[0] and ts[-1] else "–"
                out.append(f"| {g.split('/', 1)[1]} | {s} | " + " | ".join(cells) + f" | {growth} |")
        out.append("")
    if footprint:
        out.append("### memory per entry\n")
        e = footprint[0]
        payload = e["key_bytes"] + e["value_bytes"]
        out.append(
            f"{e['entries']:,} entries, {e['key_bytes']}-byte keys, {e['value_bytes']}-byte values "
            f"(payload {payload} B), no TTL; growth of the process's resident memory, each store in a fresh process.\n"
        )
        out.append("| store | bytes/entry | overhead beyond payload | load time |")
        out.append("|---|---:|---:|---:|")
        for f in footprint:
            out.append(
                f"| {f['store']} | {f['bytes_per_entry']:.0f} | {f['bytes_per_entry'] - payload:.0f} | "
                f"{f['load_secs']:.2f} s |"
            )
        out.append("")
    for p in pykv:
        out.append(f"### py-key-value-aio, {p['label']} (ops/s from `mcp-kv bench` and scripts/pykv_bench.py)\n")
        out.append("| workload | mcp-kv ops/s | py-key-value ops/s | ratio | target |")
        out.append("|---|---:|---:|---:|---|")
        for r in p["rows"]:
            if r["theirs"] is None:
                out.append(f"| {r['workload']} | {r['ours']:,.0f} | n/a (no such operation) | – | – |")
                continue
            met = "met" if r["ratio"] >= r["target"] else "MISSED"
            out.append(
                f"| {r['workload']} | {r['ours']:,.0f} | {r['theirs']:,.0f} | {r['ratio']:.1f}× | "
                f"≥ {r['target']:g}× (issue 9): **{met}** |"
            )
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------------------------

PALETTE = {
    "moka": "#1f77b4",
    "openkeyv": "#ff7f0e",
    "raw": "#2ca02c",
    "raw-thread": "#98df8a",
    "raw sled": "#2ca02c",
    "raw-redis": "#2ca02c",
    "raw-sdk": "#2ca02c",
    "py-key-value": "#9467bd",
    "wrapper baseline": "#8c564b",
}


def chart_rows(speed: list[dict], cost: list[dict], pykv: list) -> list[dict]:
    rows = []
    for r in speed:
        # Keep the chart readable: the async-equivalent raw-thread twin and sled's
        # direct-vs-spawn_blocking study stay in the tables only.
        if r["peer"] == "raw-thread" or "direct vs" in r["group"]:
            continue
        rows.append(dict(section=r["section"], label=f"{r['group']} vs {r['peer']}", peer=r["peer"],
                         value=r["value"], target=r["target"]))
    for r in cost:
        if r["target"] is None:
            continue
        # As a speed ratio: baseline time / wrapper time; the cost target t becomes 1/t.
        group = r["group"].split("/", 1)[-1]
        rows.append(dict(section=r["section"], label=f"{group}: {r['ours_name']} vs {r['peer']}",
                         peer="wrapper baseline", value=1 / r["value"], target=1 / r["target"]))
    order = [name for name, _ in SECTIONS]
    rows.sort(key=lambda r: order.index(r["section"]) if r["section"] in order else len(order))
    for p in pykv:
        for r in p["rows"]:
            if r["ratio"] is None:
                continue
            rows.append(dict(section=f"py-key-value ({p['label']})", label=f"{r['workload']} vs py-key-value",
                             peer="py-key-value", value=r["ratio"], target=r["target"]))
    return rows


def svg(rows: list[dict], title: str, failed: list[str] = ()) -> str:
    import math

    e = html.escape
    failed_note = ("failed in this run, left out: " + ", ".join(failed_name(f) for f in failed)) if failed else ""
    if not rows:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="60">'
                '<text x="10" y="25" font-family="sans-serif" font-size="13">no results</text>'
                + (f'<text x="10" y="45" font-family="sans-serif" font-size="13" fill="#c00">{e(failed_note)}</text>'
                   if failed_note else "")
                + '</svg>\n')
    vals = [r["value"] for r in rows] + [r["target"] for r in rows if r["target"]] + [1.0]
    lo = 10 ** math.floor(math.log10(min(vals) / 1.2))
    hi = 10 ** math.ceil(math.log10(max(vals) * 1.2))
    label_w, plot_w, bar_h, gap = 360, 520, 14, 4
    left, top = label_w + 10, 50 + (16 if failed_note else 0)
    sections = []
    for r in rows:
        if r["section"] not in sections:
            sections.append(r["section"])
    height = top + len(rows) * (bar_h + gap) + len(sections) * 22 + 60
    width = left + plot_w + 110

    def x(v: float) -> float:
        return left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{e(title)}</text>',
        f'<text x="{width / 2}" y="36" text-anchor="middle" fill="#555">our throughput ÷ the peer\'s, same '
        f'workload, same run (log scale; right of 1 = mcp-kv faster; black tick = target)</text>',
    ]
    if failed_note:
        out.append(f'<text x="{width / 2}" y="52" text-anchor="middle" fill="#c00" font-weight="bold">'
                   f'{e(failed_note)}</text>')
    y_end = height - 45
    decade = lo
    while decade <= hi * 1.0001:
        for m in (1, 2, 5):
            v = decade * m
            if v < lo * 0.999 or v > hi * 1.001:
                continue
            xv = x(v)
            strong = m == 1
            out.append(f'<line x1="{xv:.1f}" y1="{top - 6}" x2="{xv:.1f}" y2="{y_end}" '
                       f'stroke="{"#bbb" if strong else "#eee"}"/>')
            if strong or (hi / lo) <= 1e3:
                lab = f"{v:g}×"
                out.append(f'<text x="{xv:.1f}" y="{y_end + 14}" text-anchor="middle" fill="#444">{lab}</text>')
        decade *= 10
    out.append(f'<line x1="{x(1.0):.1f}" y1="{top - 6}" x2="{x(1.0):.1f}" y2="{y_end}" stroke="#333" '
               f'stroke-width="1.5"/>')
    y = top
    for sec in sections:
        y += 16
        out.append(f'<text x="8" y="{y}" font-weight="bold" font-size="12">{e(sec)}</text>')
        y += 6
        for r in (r for r in rows if r["section"] == sec):
            color = PALETTE.get(r["peer"], "#7f7f7f")
            x0, x1 = x(1.0), x(r["value"])
            bx, bw = min(x0, x1), max(abs(x1 - x0), 1.0)
            out.append(f'<text x="{label_w}" y="{y + bar_h - 3}" text-anchor="end">{e(r["label"])}</text>')
            out.append(f'<rect x="{bx:.1f}" y="{y}" width="{bw:.1f}" height="{bar_h}" fill="{color}" '
                       f'opacity="0.85"><title>{e(r["label"])}: {r["value"]:.3g}×</title></rect>')
            tx = max(x0, x1) + 4
            missed = r["target"] is not None and r["value"] < r["target"]
            out.append(f'<text x="{tx:.1f}" y="{y + bar_h - 3}" fill="{"#c00" if missed else "#222"}">'
                       f'{r["value"]:.2f}×{" (target missed)" if missed else ""}</text>')
            if r["target"]:
                xt = x(r["target"])
                out.append(f'<line x1="{xt:.1f}" y1="{y - 2}" x2="{xt:.1f}" y2="{y + bar_h + 2}" '
                           f'stroke="black" stroke-width="2"/>')
            y += bar_h + gap
    # Legend.
    peers = []
    for r in rows:
        if r["peer"] not in peers:
            peers.append(r["peer"])
    lx = 10
    for p in peers:
        out.append(f'<rect x="{lx}" y="{height - 18}" width="10" height="10" fill="{PALETTE.get(p, "#7f7f7f")}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 9}">{e(p)}</text>')
        lx += 24 + 7 * len(p)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion"))
    ap.add_argument("--since", type=float, help="ignore results written before this time (epoch seconds)")
    ap.add_argument("--logs", nargs="*", default=None,
                    help="take the times from these criterion outputs instead of estimates.json "
                         "(given with no file: no criterion times at all, never estimates.json)")
    ap.add_argument("--failed", nargs="*", default=[], metavar="'NAME: STATUS'",
                    help="benches that failed in this run: listed at the top of the tables and on the "
                         "chart; their logs must not be among --logs")
    ap.add_argument("--pykv", nargs="*", default=[], help="JSON files written by pykv_bench.py compare --json")
    ap.add_argument("--md", help="write the Markdown tables here (default: stdout)")
    ap.add_argument("--svg", help="write the SVG chart here")
    ap.add_argument("--json", help="write every ratio as JSON here")
    ap.add_argument("--title", default="mcp-kv: ratio to each peer per workload")
    ap.add_argument("--carry", metavar="MD",
                    help="also take the times of --carry-sections from this earlier report's tables")
    ap.add_argument("--carry-sections", default="",
                    help="comma-separated sections to carry (memory,redis,dynamodb,wrappers,oauth,…)")
    a = ap.parse_args()

    groups = load_logs(a.criterion, a.logs) if a.logs is not None else load(a.criterion, a.since)
    if a.carry:
        carried = carry_md(a.carry, [x for x in a.carry_sections.split(",") if x])
        for group, funcs in carried.items():
            if group in groups:
                print(f"bench_chart.py: {group!r} measured in this run; not carried", file=sys.stderr)
                continue
            groups[group] = funcs
        print(f"bench_chart.py: carried {len(carried)} groups from {a.carry}", file=sys.stderr)
    speed, cost = speed_rows(groups), cost_rows(groups)
    fp_path = os.path.join(a.criterion, "scaling-footprint.json")
    footprint = []
    scaling_failed = any(failed_name(f) == "scaling" for f in a.failed)
    if scaling_failed:
        print("bench_chart.py: scaling failed: no memory footprint table", file=sys.stderr)
    elif os.path.exists(fp_path) and (a.since is None or os.path.getmtime(fp_path) >= a.since):
        with open(fp_path, encoding="utf-8") as f:
            footprint = json.load(f)
    pykv = []
    for p in a.pykv:
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                pykv.append(json.load(f))
        else:
            print(f"bench_chart.py: {p} missing (py-key-value comparison did not run)", file=sys.stderr)
    md = markdown(speed, cost, groups, footprint, pykv, a.failed)
    if a.md:
        os.makedirs(os.path.dirname(a.md) or ".", exist_ok=True)
        with open(a.md, "w", encoding="utf-8") as f:
            f.write(md + "\n")
        print(f"bench_chart.py: tables written to {a.md}", file=sys.stderr)
    else:
        print(md)
    if a.svg:
        os.makedirs(os.path.dirname(a.svg) or ".", exist_ok=True)
        with open(a.svg, "w", encoding="utf-8") as f:
            f.write(svg(chart_rows(speed, cost, pykv), a.title, a.failed))
        print(f"bench_chart.py: chart written to {a.svg}", file=sys.stderr)
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"speed": speed, "cost": cost, "footprint": footprint, "pykv": pykv,
                       "failed": a.failed}, f, indent=1)
    missed = [r for r in speed + cost if r["met"] is False]
    print(f"bench_chart.py: {len(speed) + len(cost)} ratios, "
          f"{sum(1 for r in speed + cost if r['met'])} targets met, {len(missed)} missed"
          + (f"; failed, left out: {', '.join(failed_name(f) for f in a.failed)}" if a.failed else ""),
          file=sys.stderr)


if __name__ == "__main__":
    main()
