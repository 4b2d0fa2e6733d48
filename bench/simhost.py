"""The Qmatic simulator in a process of its own, with a read-only side door for the bench.

    python -m bench.simhost [--branches N] [--days D] [--latency-ms MS]

What `booking-bridge simulate` runs (bridge.simulator, the demo tenant grown by
seed.enlarge, every answer delayed by --latency-ms), so its CPU is not the server's or the
bench's. The simulator's own request log and appointments are plain lists in memory, not
reachable over its HTTP API, so this helper serves them on a second port, leaving the
simulator's routes untouched:

    GET /counts        every request received so far, by "METHOD /path/{id}" template
    GET /appointments  every appointment: [branch, service, resource, start (UTC ISO),
                       status, confirmed (a customer was attached)]

Prints one JSON line (base_url, token_url, control_url) once both listen; ends at SIGTERM
or when stdin closes (the bench died).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections import Counter

from aiohttp import web

from bridge.clock import SystemClock
from bridge.simulator import Simulator, seed

from . import procs

_UUID = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def template(method: str, path: str) -> str:
    return f"{method} {_UUID.sub('/{id}', path)}"


class Control:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self._seen = 0
        self._counts: Counter[str] = Counter()

    async def counts(self, request: web.Request) -> web.Response:
        # Counted incrementally: the log only grows, and a load may leave 100,000 entries.
        new = self.sim.requests[self._seen:]
        self._seen += len(new)
        self._counts.update(template(r.method, r.path) for r in new)
        return web.json_response({"total": self._seen, "by_op": dict(self._counts)})

    async def appointments(self, request: web.Request) -> web.Response:
        rows = [[a.branch_id, a.service_id, a.resource_id, a.start.isoformat(), a.status, a.customer is not None]
                for a in self.sim.state.appointments.values()]
        return web.json_response(rows)


async def serve(args: argparse.Namespace) -> None:
    sim = Simulator(SystemClock(), latency=args.latency_ms / 1000)
    await sim.start("127.0.0.1", 0)
    control = Control(sim)
    app = web.Application()
    app.router.add_get("/counts", control.counts)
    app.router.add_get("/appointments", control.appointments)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    print(json.dumps({"base_url": sim.base_url, "token_url": sim.token_url,
                      "control_url": f"http://127.0.0.1:{port}"}), flush=True)
    try:
        await procs.until_stopped()
    finally:
        await runner.cleanup()
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simhost", description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=0)
    parser.add_argument("--days", type=int, default=seed.DAYS_OFFERED)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    seed.enlarge(args.branches, args.days)  # before the Simulator is built, as `simulate` does
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
