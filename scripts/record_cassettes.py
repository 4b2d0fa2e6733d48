"""Re-record the committed cassettes (tests/cassettes/*.json) from the in-repo simulator.

    python scripts/record_cassettes.py [SCENARIO ...]

Runs the same recorder as ``booking-bridge record``, against a fresh simulator per
scenario on a manual clock, so it takes a second or two and the expiry scenario does not
wait fifteen minutes. Run it when the bridge's upstream calls change on purpose, and
commit the result together with that change.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys

from bridge.cassette.scenarios import SCENARIOS
from bridge.cassette.simulated import record_from_simulator

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "cassettes"


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    outcomes = asyncio.run(record_from_simulator(OUT, names))
    return 0 if all(o.ok and not o.divergences for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
