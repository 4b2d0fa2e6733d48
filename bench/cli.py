"""Load bench: the floor and the bridge (SQLite, PostgreSQL, two PostgreSQL replicas) under
concurrent load, each server a process of its own, the Qmatic simulator in another.

    python -m bench [--seconds 10] [--only NAME[,NAME]] [--quick] [--workers 32] [--json PATH]
    python -m bench --only rss [--rss-rpcs 10000,100000]      # opt-in, takes minutes

Loads: v0 (32 workers looping lease → booking → cancel over gRPC, upstream 0 ms), v3book
(v3 REST CreateBooking without a lease, 32 workers, upstream 0 ms), v3avail (v3 REST
BatchAvailabilityLookup of 50 slots over 7 days, upstream 50 ms: the first call on a fresh
server, then cold and warm caches). Configurations: floor (bench/floor.py, the upstream
calls and nothing else), sqlite, pg, pg2. Reported per load and configuration: throughput,
p50/p99 per RPC, server CPU ms per RPC (/proc, summed over replicas), peak RSS, upstream
calls per RPC, each with its ratio to the floor; and the upstream check (every flow
confirmed then cancelled, no duplicate holds, no failed RPCs). Exit status 1 when that
check finds anything.

rss (opt-in: runs only when --only names it; about 33,000 flows, minutes per server): the
v0 flows from 32 workers against one server until 100,000 RPCs, reading the server's VmRSS
when 10,000 and 100,000 have completed (--rss-rpcs); reports both, the growth in MiB and %
(target: within 10 %) with its ratio to the floor's, wall time and flows/s, and the same
upstream check. It runs on the floor and sqlite, or on the configurations --only names
(pg2 excepted: one server), e.g. --only rss,floor,sqlite,pg. --quick makes it 1,000 → 3,000.

Modules: cli, suite, servers, procs, simhost, floor, pg, slots, load, v0_flows, v0_memory,
v3_booking, v3_availability, verify, report. bench.run and bench.feeds are the older,
in-process benchmarks. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import time
from typing import Any

from . import report, suite, v0_memory, v3_availability
from .servers import CONFIGS

NAMES = (*CONFIGS, *suite.LOADS)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, help="measured window of each load (default 10; --quick: 2)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                        help=f"run only these configurations and/or loads, of: {', '.join(NAMES)} "
                             "(a kind not named runs in full, except rss, which runs only when named; "
                             "repeatable)")
    parser.add_argument("--quick", action="store_true", help="a few-second smoke: short windows, a small tenant")
    parser.add_argument("--workers", type=int, default=32, help="concurrent workers of the booking loads (default 32)")
    parser.add_argument("--json", type=pathlib.Path, metavar="PATH", help="also write every figure here as JSON")
    parser.add_argument("--rss-rpcs", metavar="N,N[,N]",
                        help="rss: read the server's VmRSS when these many RPCs have completed; growth is first → "
                             "last (default 10000,100000; --quick: 1000,3000)")
    args = parser.parse_args(argv)
    only = [n.strip() for part in args.only for n in part.split(",") if n.strip()]
    unknown = [n for n in only if n not in NAMES]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)} (known: {', '.join(NAMES)})")
    args.configs = tuple(c for c in CONFIGS if c in only) or CONFIGS
    args.loads = tuple(x for x in suite.LOADS if x in only) or suite.DEFAULT_LOADS
    # rss: one server at a time; the floor and SQLite unless configurations are named.
    args.rss_configs = tuple(c for c in CONFIGS if c in only and c != "pg2") or (
        () if "pg2" in only else ("floor", "sqlite"))
    if v0_memory.NAME in args.loads and not args.rss_configs:
        parser.error("--only: rss runs against one server: name floor, sqlite or pg, not only pg2")
    try:
        args.rss_marks = (v0_memory.parse_marks(args.rss_rpcs) if args.rss_rpcs
                          else v0_memory.QUICK_MARKS if args.quick else v0_memory.DEFAULT_MARKS)
    except ValueError as exc:
        parser.error(f"--rss-rpcs: {exc}")
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 10.0
    if args.seconds <= 0 or args.workers < 1:
        parser.error("--seconds and --workers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    opts = suite.Options(loads=args.loads, configs=args.configs, seconds=args.seconds, workers=args.workers,
                         quick=args.quick, rss_marks=args.rss_marks, rss_configs=args.rss_configs)
    started = time.perf_counter()
    timed = [load for load in opts.loads if load != v0_memory.NAME]
    if timed:
        print(f"bench: {', '.join(timed)} on {', '.join(opts.configs)}, {opts.seconds:g} s each", flush=True)
    if v0_memory.NAME in opts.loads:
        print(f"bench: rss on {', '.join(opts.rss_configs)}: VmRSS at "
              f"{', '.join(f'{m:,}' for m in opts.rss_marks)} RPCs", flush=True)
    result: dict[str, Any] = {"machine": report.machine(),
                              "settings": {"seconds": opts.seconds, "workers": opts.workers, "quick": opts.quick,
                                           "lookup_workers": v3_availability.WORKERS,
                                           "booking_tenant": opts.booking_tenant,
                                           "lookup_tenant": opts.lookup_tenant}}
    if v0_memory.NAME in opts.loads:
        result["settings"]["rss_rpcs"] = list(opts.rss_marks)
        result["settings"]["rss_tenant"] = v0_memory.tenant(opts.rss_marks, opts.workers)
    result.update(asyncio.run(suite.run(opts, say=lambda line: print(line, flush=True))))
    result["wall_seconds"] = time.perf_counter() - started
    print()
    print(report.render(result, suite.TITLES))
    found = result["problems"] = report.problems(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"JSON written to {args.json}")
    for line in found:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if found else 0
