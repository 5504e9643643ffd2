"""Paired ratios of our scenarios to the floor app's `noop`, from one kmsbench JSONL run.

kmsbench runs every scenario on every target; the floor app can only answer `noop`, so
this pairs each of our (scenario, concurrency, round) with the floor's noop of the same
concurrency and round, and prints medians.  Usage:

    python tools/bench_ratio.py runs.jsonl [--floor floor] [--ours ours] [--base base]

With --base (an A/B run: the build before a change, in the same rounds), a second table
pairs ours with base per (scenario, concurrency, round): ops/s ratio and server CPU ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--floor", default="floor")
    p.add_argument("--ours", default="ours")
    p.add_argument("--base", default=None)
    a = p.parse_args()
    recs = [json.loads(line) for line in open(a.jsonl) if line.strip().startswith("{")]
    floor = {(r["concurrency"], r.get("round")): r for r in recs
             if r.get("target") == a.floor and r["scenario"] == "noop" and not r.get("errors")}
    groups: dict[tuple, list] = {}
    for r in recs:
        if r.get("target") != a.ours or r["scenario"] == "noop":
            continue
        f = floor.get((r["concurrency"], r.get("round")))
        if f and f["ops_per_s"]:
            groups.setdefault((r["scenario"], r["concurrency"]), []).append((r, f))
    print("| scenario | c | rounds | ours ops/s | floor noop ops/s | ratio (paired median) | ours server CPU ms/op "
          "| floor server CPU ms/op | ours p99 ms | floor p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (scen, c), pairs in sorted(groups.items()):
        med = lambda xs: statistics.median([x for x in xs if x is not None]) if any(x is not None for x in xs) else None  # noqa: E731
        fmt = lambda v, nd=2: "-" if v is None else f"{v:.{nd}f}"  # noqa: E731
        print("| " + " | ".join([
            scen, str(c), str(len(pairs)),
            fmt(med([r["ops_per_s"] for r, _ in pairs]), 1),
            fmt(med([f["ops_per_s"] for _, f in pairs]), 1),
            fmt(med([r["ops_per_s"] / f["ops_per_s"] for r, f in pairs])),
            fmt(med([r.get("server_cpu_ms_per_op") for r, _ in pairs]), 3),
            fmt(med([f.get("server_cpu_ms_per_op") for _, f in pairs]), 3),
            fmt(med([r.get("p99_ms") for r, _ in pairs])),
            fmt(med([f.get("p99_ms") for _, f in pairs])),
            str(sum(r.get("errors", 0) for r, _ in pairs)),
        ]) + " |")
    if a.base:
        print_ab(recs, a.ours, a.base)


def print_ab(recs: list, ours: str, base: str) -> None:
    """ours ÷ base, paired by (scenario, concurrency, round)."""
    by = {(r["target"], r["scenario"], r["concurrency"], r.get("round")): r for r in recs
          if r.get("target") in (ours, base) and r["scenario"] != "noop" and not r.get("errors")}
    groups: dict[tuple, list] = {}
    for (target, scen, c, rnd), r in by.items():
        other = by.get((base, scen, c, rnd))
        if target == ours and other is not None:
            groups.setdefault((scen, c), []).append((r, other))
    print()
    print(f"| scenario | c | rounds | {ours} ops/s | {base} ops/s | ops/s ratio | {ours} CPU ms/op | {base} CPU ms/op "
          "| CPU ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (scen, c), pairs in sorted(groups.items()):
        med = statistics.median
        cpu = [(r.get("server_cpu_ms_per_op"), b.get("server_cpu_ms_per_op")) for r, b in pairs]
        cpu = [(x, y) for x, y in cpu if x and y]
        print("| " + " | ".join([
            scen, str(c), str(len(pairs)),
            f"{med([r['ops_per_s'] for r, _ in pairs]):.1f}", f"{med([b['ops_per_s'] for _, b in pairs]):.1f}",
            f"{med([r['ops_per_s'] / b['ops_per_s'] for r, b in pairs]):.3f}",
            f"{med([x for x, _ in cpu]):.3f}" if cpu else "-", f"{med([y for _, y in cpu]):.3f}" if cpu else "-",
            f"{med([x / y for x, y in cpu]):.3f}" if cpu else "-",
        ]) + " |")


if __name__ == "__main__":
    main()
