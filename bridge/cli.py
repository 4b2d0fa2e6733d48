"""``booking-bridge``: serve, simulate, demo, check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from . import logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="booking-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the booking API until SIGTERM/SIGINT")
    serve.add_argument("--config", required=True, help="TOML configuration file")
    simulate = sub.add_parser("simulate", help="run the in-repo Qmatic simulator alone")
    simulate.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (default %(default)s)")
    sub.add_parser("demo", help="simulator + bridge on loopback, driven by a real gRPC client")
    check = sub.add_parser("check", help="validate configuration and mappings")
    check.add_argument("--config", required=True, help="TOML configuration file")
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    from . import config as config_mod
    from .app import Bridge
    from .server import serve_until_signalled

    logs.setup()
    try:
        config = config_mod.load(args.config)
        bridge = Bridge.open(config)
    except config_mod.ConfigError as exc:
        _print_problems(exc.problems)
        return 2

    async def run() -> None:
        try:
            await serve_until_signalled(bridge.core, config)
        finally:
            await bridge.aclose()

    asyncio.run(run())
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from .simulator import serve

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"--listen: expected HOST:PORT, got {args.listen!r}", file=sys.stderr)
        return 2
    logs.setup()
    asyncio.run(serve(host, int(port)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run

    logs.setup(logging.WARNING)
    return asyncio.run(run())


def _check(args: argparse.Namespace) -> int:
    from . import config as config_mod
    from .app import build_mapper

    problems: list[str] = []
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        problems += exc.problems
        config = exc.partial
    merchants = 0
    if config is not None:  # go on with what could be read, so every problem shows at once
        problems += config_mod.check_environment(config)
        try:
            merchants = len(build_mapper(config).merchants)
        except config_mod.ConfigError as exc:
            problems += exc.problems
    if problems:
        _print_problems(problems)
        return 1
    print(f"{args.config}: ok ({merchants} mapped merchant(s); others map by identity)")
    return 0


def _print_problems(problems: list[str]) -> None:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)


_COMMANDS = {"serve": _serve, "simulate": _simulate, "demo": _demo, "check": _check}


if __name__ == "__main__":
    sys.exit(main())
