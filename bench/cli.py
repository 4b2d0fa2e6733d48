"""Load bench: the floor and the bridge (SQLite, PostgreSQL, two PostgreSQL replicas) under
concurrent load, each server a process of its own, the Qmatic simulator in another.

    python -m bench [--seconds 10] [--only NAME[,NAME]] [--quick] [--workers 32] [--json PATH]

Loads: v0 (32 workers looping lease → booking → cancel over gRPC, upstream 0 ms), v3book
(v3 REST CreateBooking without a lease, 32 workers, upstream 0 ms), v3avail (v3 REST
BatchAvailabilityLookup of 50 slots over 7 days, upstream 50 ms: the first call on a fresh
server, then cold and warm caches). Configurations: floor (bench/floor.py, the upstream
calls and nothing else), sqlite, pg, pg2. Reported per load and configuration: throughput,
p50/p99 per RPC, server CPU ms per RPC (/proc, summed over replicas), peak RSS, upstream
calls per RPC, each with its ratio to the floor; and the upstream check (every flow
confirmed then cancelled, no duplicate holds, no failed RPCs). Exit status 1 when that
check finds anything. Modules: cli, suite, servers, procs, simhost, floor, pg, slots, load,
v0_flows, v3_booking, v3_availability, verify, report. bench.run and bench.feeds are the
older, in-process benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import time
from typing import Any

from . import report, suite, v3_availability
from .servers import CONFIGS

NAMES = (*CONFIGS, *suite.LOADS)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, help="measured window of each load (default 10; --quick: 2)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                        help=f"run only these configurations and/or loads, of: {', '.join(NAMES)} "
                             "(a kind not named runs in full; repeatable)")
    parser.add_argument("--quick", action="store_true", help="a few-second smoke: short windows, a small tenant")
    parser.add_argument("--workers", type=int, default=32, help="concurrent workers of the booking loads (default 32)")
    parser.add_argument("--json", type=pathlib.Path, metavar="PATH", help="also write every figure here as JSON")
    args = parser.parse_args(argv)
    only = [n.strip() for part in args.only for n in part.split(",") if n.strip()]
    unknown = [n for n in only if n not in NAMES]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)} (known: {', '.join(NAMES)})")
    args.configs = tuple(c for c in CONFIGS if c in only) or CONFIGS
    args.loads = tuple(x for x in suite.LOADS if x in only) or suite.LOADS
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 10.0
    if args.seconds <= 0 or args.workers < 1:
        parser.error("--seconds and --workers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    opts = suite.Options(loads=args.loads, configs=args.configs, seconds=args.seconds, workers=args.workers,
                         quick=args.quick)
    started = time.perf_counter()
    print(f"bench: {', '.join(opts.loads)} on {', '.join(opts.configs)}, {opts.seconds:g} s each", flush=True)
    result: dict[str, Any] = {"machine": report.machine(),
                              "settings": {"seconds": opts.seconds, "workers": opts.workers, "quick": opts.quick,
                                           "lookup_workers": v3_availability.WORKERS,
                                           "booking_tenant": opts.booking_tenant,
                                           "lookup_tenant": opts.lookup_tenant}}
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
