"""How large a tenant `feeds export` handles, against a simulator with upstream latency.

    python -m bench.feeds [--branches 50 200] [--days 30] [--latency-ms 50] [--concurrency 32]

For each size, a simulator (in this process, so its request log counts the calls) is
seeded with that many more branches, every answer delayed by --latency-ms; the export runs
as a child process (`booking-bridge feeds export`) that reports its own peak RSS. The
floor, measured in the same run against the same simulator: the same timeslot GETs sent
straight with httpx at the same concurrency, nothing parsed or written. Reported: export
seconds, upstream calls, calls per second, ratio to the floor, peak RSS, and the number of
branches an export would finish in 10 minutes at the measured rate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import sys
import tempfile
import time

if not __package__:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import httpx

from bridge.simulator import Simulator, seed

ENV = {
    "QMATIC_CLIENT_ID": seed.DEMO_CLIENT_ID,
    "QMATIC_CLIENT_SECRET": seed.DEMO_CLIENT_SECRET,
    "BRIDGE_IDENTITY_KEY": "bench-identity-key-0123456789",
}
CHILD = """
import resource, sys
from bridge.cli import main
code = main(sys.argv[1:])
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def config_text(sim: Simulator, concurrency: int) -> str:
    return (
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        f'read_timeout = 30.0\n'
        f'[booking]\ndefault_time_zone = "Europe/Stockholm"\n'
        f'[feeds]\ndefault_category = "beauty_salon"\nmax_concurrent_reads = {concurrency}\n'
    )


async def export(sim: Simulator, tmp: pathlib.Path, days: int, concurrency: int) -> dict:
    config = tmp / "bridge.toml"
    config.write_text(config_text(sim, concurrency))
    before = len(sim.requests)
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, "feeds", "export", "--config", str(config), "--out", str(tmp / "feeds"),
        "--days", str(days), env={**os.environ, **ENV},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"export failed: {err.decode()[-2000:]}")
    rss = int(next(line.split()[1] for line in err.decode().splitlines() if line.startswith("maxrss_kib")))
    calls = sim.requests[before:]
    timeslots = [r for r in calls if r.path.endswith("/timeslots")]
    return {"seconds": seconds, "calls": len(calls), "timeslot_calls": timeslots, "peak_rss_mib": rss / 1024,
            "summary": out.decode().splitlines()[0]}


async def floor(sim: Simulator, requests: list, concurrency: int) -> float:
    """The same timeslot GETs, straight: what any exporter of this tenant must wait for."""
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=30) as client:
        token = (await client.post(sim.token_url,
                                   data={"grant_type": "client_credentials"},
                                   auth=(seed.DEMO_CLIENT_ID, seed.DEMO_CLIENT_SECRET),
                                   headers={"X-ACCOUNT": seed.DEMO_ACCOUNT})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-TENANT-ID": seed.DEMO_TENANT_ID}
        gate = asyncio.Semaphore(concurrency)

        async def one(r) -> None:
            async with gate:
                answer = await client.get(r.path, params=r.query, headers=headers)
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(r) for r in requests))
        return time.perf_counter() - started


async def main(args: argparse.Namespace) -> list[dict]:
    results = []
    for branches in sorted(args.branches):
        seed.enlarge(branches, args.days)
        sim = Simulator(latency=args.latency_ms / 1000)
        await sim.start()
        try:
            with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
                run = await export(sim, pathlib.Path(tmp), args.days, args.concurrency)
                floor_s = await floor(sim, run.pop("timeslot_calls"), args.concurrency)
        finally:
            await sim.stop()
        rate = run["calls"] / run["seconds"]
        per_branch = run["calls"] / (len(seed.BRANCHES))
        row = {"branches": len(seed.BRANCHES), **run, "floor_seconds": floor_s,
               "ratio_to_floor": run["seconds"] / floor_s, "calls_per_second": rate,
               "branches_in_10_min": int(600 * rate / per_branch)}
        results.append(row)
        print(f"{row['branches']:>5} branches: {row['seconds']:7.1f} s, {row['calls']:>6} upstream calls "
              f"({rate:6.1f}/s), floor {floor_s:6.1f} s (x{row['ratio_to_floor']:.2f}), "
              f"peak RSS {row['peak_rss_mib']:.1f} MiB -> {row['branches_in_10_min']} branches in 10 min"
              f"   [{row['summary']}]", flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--branches", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=pathlib.Path)
    parsed = parser.parse_args()
    rows = asyncio.run(main(parsed))
    if parsed.json:
        parsed.json.write_text(json.dumps({"when": dt.datetime.now(dt.timezone.utc).isoformat(), "rows": rows}, indent=2))
