"""Every selected load against every selected configuration, in one run.

The rss load (bench/v0_memory.py) runs only when named, on one server at a time.

Per (load, configuration): a fresh simulator helper and fresh servers (and, for
PostgreSQL, a fresh database, migrated with `booking-bridge store migrate`), the load,
then the upstream check and the servers' peak RSS. One failing pair is reported as failed
and the run goes on; the PostgreSQL pairs are skipped, with the reason, when no cluster
starts. Logs of each pair stay in the run folder when anything failed.
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from . import servers as servers_mod
from . import slots, v0_flows, v0_memory, v3_availability, v3_booking, verify
from .pg import Postgres

DEFAULT_LOADS = (v0_flows.NAME, v3_booking.NAME, v3_availability.NAME)
LOADS = (*DEFAULT_LOADS, v0_memory.NAME)  # rss takes minutes: only when named
TITLES = {v0_flows.NAME: v0_flows.TITLE, v3_booking.NAME: v3_booking.TITLE, v3_availability.NAME: v3_availability.TITLE,
          v0_memory.NAME: v0_memory.TITLE}


@dataclass(frozen=True)
class Options:
    loads: tuple[str, ...]
    configs: tuple[str, ...]
    seconds: float
    workers: int
    quick: bool
    rss_marks: tuple[int, ...] = v0_memory.DEFAULT_MARKS
    rss_configs: tuple[str, ...] = ("floor", "sqlite")

    def configs_for(self, load: str) -> tuple[str, ...]:
        return self.rss_configs if load == v0_memory.NAME else self.configs

    @property
    def booking_tenant(self) -> tuple[int, int]:
        """(branches, days) for the booking loads: far more slots than a run can book
        (64 a branch a day, days 1 to days-2)."""
        return (16, 5) if self.quick else (40, 14)

    @property
    def lookup_tenant(self) -> tuple[int, int]:
        """(branches, days) for the lookups: 3 services × (days-2)//7 weeks a branch."""
        return (60, 16) if self.quick else (120, 65)


async def run(opts: Options, say: Any = print) -> dict[str, Any]:
    folder = pathlib.Path(tempfile.mkdtemp(prefix="booking-bridge-bench-"))
    pg, pg_problem = None, None
    if any(c in ("pg", "pg2") for load in opts.loads for c in opts.configs_for(load)):
        pg = Postgres()
        pg_problem = pg.start()
        if pg_problem:
            say(f"PostgreSQL rows skipped: {pg_problem}")
    supplies = {}
    if v0_flows.NAME in opts.loads or v3_booking.NAME in opts.loads:
        supplies["book"] = slots.bookable(*opts.booking_tenant)
    if v3_availability.NAME in opts.loads:
        supplies["lookup"] = slots.lookups(*opts.lookup_tenant)
    if v0_memory.NAME in opts.loads:
        supplies["rss"] = v0_memory.supply(opts.rss_marks, opts.workers)
    results: dict[str, dict[str, Any]] = {load: {} for load in opts.loads}
    trouble = False
    try:
        for load in opts.loads:
            for config in opts.configs_for(load):
                label = f"{load} / {servers_mod.LABELS[config]}"
                if config in ("pg", "pg2") and pg_problem:
                    results[load][config] = {"status": "skipped", "reason": pg_problem}
                    continue
                started = time.perf_counter()
                here = folder / f"{load}-{config}"
                here.mkdir()
                try:
                    limit = (300 + opts.rss_marks[-1] / 20 if load == v0_memory.NAME  # at least 20 RPCs/s
                             else 4 * opts.seconds + 180)
                    async with asyncio.timeout(limit):
                        row = await one(load, config, opts, here, pg if config in ("pg", "pg2") else None, supplies)
                    row["status"] = "ok"
                except Exception as exc:
                    row = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:600]}
                    trouble = True
                row["pair_seconds"] = time.perf_counter() - started
                results[load][config] = row
                say(f"  {label}: {row['status']}{'' if row['status'] == 'ok' else ': ' + row['reason']} "
                    f"({row['pair_seconds']:.1f} s)")
    finally:
        if pg is not None:
            pg.stop()
        if trouble:
            say(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return {"loads": results, "postgres": pg.version if pg else None}


async def one(load: str, config: str, opts: Options, folder: pathlib.Path, pg: Postgres | None,
              supplies: dict[str, list[Any]]) -> dict[str, Any]:
    lookup = load == v3_availability.NAME
    if load == v0_memory.NAME:
        branches, days = v0_memory.tenant(opts.rss_marks, opts.workers)
    else:
        branches, days = opts.lookup_tenant if lookup else opts.booking_tenant
    latency = v3_availability.LATENCY_MS if lookup else 0.0
    sim = await servers_mod.start_sim(folder, branches, days, latency)
    try:
        servers = await servers_mod.start(config, sim, folder, pg)
        attempts: list[verify.Attempt] = []
        try:
            if load == v0_flows.NAME:
                row = await v0_flows.run(servers, sim, supplies["book"], workers=opts.workers, seconds=opts.seconds,
                                         attempts=attempts)
            elif load == v0_memory.NAME:
                row = await v0_memory.run(servers, sim, supplies["rss"], workers=opts.workers, marks=opts.rss_marks,
                                          attempts=attempts)
            elif load == v3_booking.NAME:
                row = await v3_booking.run(servers, sim, supplies["book"], workers=opts.workers,
                                           seconds=opts.seconds, attempts=attempts)
            else:
                row = await v3_availability.run(servers, sim, supplies["lookup"], seconds=opts.seconds)
            row["peak_rss_mib"] = servers.peak_rss_mib()
            row["processes"] = len(servers.children)
        finally:
            codes = servers.stop()
        row["exit_codes"] = codes
        if not lookup:
            row["check"] = verify.check(attempts, sim.appointments())
    finally:
        sim.child.stop()
    return row
