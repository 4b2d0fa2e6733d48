"""``booking-bridge``: serve, simulate, demo, check, outbox, bookings, record."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from . import bookings_cli, exitcodes, logs
from .inventory.feeds import cli as feeds_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="booking-bridge", description=__doc__, epilog=exitcodes.EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the booking API until SIGTERM/SIGINT; SIGHUP reloads",
                           epilog=exitcodes.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--config", required=True, help="TOML configuration file")
    serve.add_argument("--log-level", choices=logs.LEVELS, type=str.upper,
                       help="lowest level logged (default [server] log_level, INFO)")
    simulate = sub.add_parser("simulate", help="run the in-repo Qmatic simulator alone")
    simulate.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (default %(default)s)")
    simulate.add_argument("--branches", type=int, default=0, metavar="N",
                          help="add N generated branches to the demo tenant (for benchmarks)")
    simulate.add_argument("--days", type=int, default=7, help="days that carry slots (default %(default)s)")
    simulate.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                          help="delay every answer this long, as a remote tenant would")
    sub.add_parser("demo", help="simulator + bridge on loopback, driven by a real gRPC client")
    check = sub.add_parser("check", help="validate configuration and mappings")
    check.add_argument("--config", required=True, help="TOML configuration file")
    check.add_argument("--online", action="store_true",
                       help="then ask Qmatic for a token and check every mapping against its catalogue")
    check.add_argument("--skip-listen", action="store_true",
                       help="do not try the listening addresses (a running bridge holds them: use before a SIGHUP)")
    _add_healthcheck(sub)
    outbox = sub.add_parser("outbox", help="the booking notifications for Google: counts, and the ones not delivered")
    outbox.add_argument("--config", required=True, help="TOML configuration file")
    outbox.add_argument("--state", choices=("pending", "sent", "dropped", "dead"), default="dead",
                        help="list the latest notifications in this state (default %(default)s)")
    _add_record(sub)
    feeds_cli.add_parser(sub)
    _add_mappings(sub)
    bookings_cli.add_parser(sub)
    store = sub.add_parser("store", help="the store's schema: migrate creates or upgrades it")
    store_actions = store.add_subparsers(dest="action", required=True)
    migrate = store_actions.add_parser(
        "migrate", help="create the store, or upgrade it to this release's schema version (serve refuses an older one)")
    migrate.add_argument("--config", required=True, help="TOML configuration file")
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("booking-bridge")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _serve(args: argparse.Namespace) -> int:
    from . import config as config_mod
    from . import startup
    from .server import serve_until_signalled

    logs.setup(args.log_level or logging.INFO)
    try:
        config = config_mod.load(args.config)
        logs.set_level(args.log_level or config.server.log_level)
        bridge = startup.open_bridge(config)
    except config_mod.ConfigError as exc:
        _print_problems(exc.problems)
        return exitcodes.CONFIG
    except exitcodes.StartupFailure as exc:
        _print_problems(exc.problems)
        return exc.code

    async def run() -> int:
        try:
            if bridge.inventory is not None:
                problem = await google_ready(bridge.inventory.google)
                if problem:
                    _print_problems([problem])
                    return 2
                bridge.inventory.start()
            if bridge.retention is not None:
                bridge.retention.start()
            await serve_until_signalled(bridge.core, config, bridge.inventory)
            return 0
        except exitcodes.StartupFailure as exc:  # an address taken since the preflight, say
            _print_problems(exc.problems)
            return exc.code
        finally:
            await bridge.aclose()

    return asyncio.run(run())


async def google_ready(google: object) -> str | None:
    """One line if Google's token endpoint refuses the service account; an unreachable
    one is only logged, since serving bookings must not wait for Google."""
    from .google import GoogleCredentialsError, GoogleError, MapsBookingClient

    assert isinstance(google, MapsBookingClient)
    try:
        await google.check()
    except GoogleCredentialsError as exc:
        return f"[google] {exc}"
    except GoogleError as exc:
        logging.getLogger("bridge.cli").warning("Google's token endpoint did not answer; notifications wait",
                                                extra={"reason": str(exc)})
    return None


def _simulate(args: argparse.Namespace) -> int:
    from .simulator import seed, serve

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"--listen: expected HOST:PORT, got {args.listen!r}", file=sys.stderr)
        return 2
    if args.branches < 0 or not 1 <= args.days <= 400 or args.latency_ms < 0:
        print("--branches, --days, --latency-ms: out of range", file=sys.stderr)
        return 2
    seed.enlarge(args.branches, args.days)
    logs.setup()
    asyncio.run(serve(host, int(port), latency=args.latency_ms / 1000))
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
        if not problems:  # addresses, TLS files and store: what serve would stumble on
            from .server import resolved_server_config
            from .startup import preflight

            problems += preflight(config, resolved_server_config(config), listen=not args.skip_listen).lines
        problems += config_mod.check_environment(config)
        try:
            merchants = len(build_mapper(config).merchants)
        except config_mod.ConfigError as exc:
            problems += exc.problems
        problems += asyncio.run(_check_google(config))
    if problems:
        _print_problems(problems)
        if args.online:
            print("note: --online skipped: fix the problems above first", file=sys.stderr)
        return 1
    print(f"{args.config}: ok ({merchants} mapped merchant(s); others map by identity)")
    if args.online:
        from .mappings_cli import check_online

        return check_online(config)
    return 0


async def _check_google(config: object) -> list[str]:
    """The key file, the token endpoint, and whether the read budget keeps the promise."""
    import os
    import sqlite3

    from . import config as config_mod
    from .app import open_google
    from .inventory import capacity_problem, read_period
    from .store import NeedsMigration, open_store

    assert isinstance(config, config_mod.Config)
    if config.google is None:
        print("note: [google] is not configured: booking notifications are mandatory for a live integration "
              "(Actions Center must hear of every change made at the branch within 5 minutes)")
        return []
    if not os.environ.get(config.google.credentials_env):
        return []  # check_environment already said so
    try:
        google = open_google(config, os.environ)
    except config_mod.ConfigError as exc:
        return exc.problems
    assert google is not None
    try:
        problem = await google_ready(google)
    finally:
        await google.aclose()
    problems = [problem] if problem else []
    if config.store.url or config.resolve(config.store.path).is_file():
        import time

        try:
            store = open_store(config)
        except (sqlite3.Error, NeedsMigration):
            return problems  # the store check says what is wrong with it
        try:
            watched = await store.watched_count(time.time())
        except Exception:  # PostgreSQL opens on first use: the store check says why not
            return problems
        finally:
            await store.close()
        google_config = config.google
        problem = capacity_problem(watched, google_config.max_upstream_reads_per_second, read_period(google_config))
        if problem:
            problems.append(problem)
    return problems


def _add_healthcheck(sub: argparse._SubParsersAction) -> None:
    from .healthcheck import add_parser

    add_parser(sub)


def _healthcheck(args: argparse.Namespace) -> int:
    from .healthcheck import run

    return run(args)


def _add_record(sub: argparse._SubParsersAction) -> None:
    from .cassette.recorder import DEFAULT_EXPIRY_WAIT
    from .cassette.scenarios import SCENARIOS

    record = sub.add_parser(
        "record",
        help="run scripted scenarios against the configured upstream and write one redacted cassette each",
        description="Runs each scenario through the bridge's core and upstream client against the configured "
        "upstream (your tenant, or the simulator) and writes <out>/<scenario>.json with every HTTP exchange, "
        "secrets and personal data replaced by placeholders. Every scenario gives back what it booked or held. "
        "Credentials come from the environment, as for serve.",
    )
    record.add_argument("--config", required=True, help="TOML configuration file")
    record.add_argument("--out", required=True, metavar="DIR", help="folder for the cassettes (created if missing)")
    record.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"record only this scenario; repeatable (default: all, in this order: {', '.join(SCENARIOS)})",
    )
    record.add_argument("--merchant", help="Actions Center merchant id to book with (with --service; default: the "
                        "catalogue's first online-bookable offering, by identity)")
    record.add_argument("--service", help="Actions Center service id to book with (with --merchant)")
    record.add_argument(
        "--expiry-wait",
        type=float,
        default=DEFAULT_EXPIRY_WAIT,
        metavar="SECONDS",
        help="how long hold_expiry_confirm waits for the upstream's 15-minute hold to lapse (default %(default).0f)",
    )


def _record(args: argparse.Namespace) -> int:
    import pathlib

    from . import config as config_mod
    from .cassette.recorder import Options, RecordError, record
    from .cassette.scenarios import SCENARIOS

    logs.setup(logging.WARNING)
    if args.expiry_wait < 0:
        print("--expiry-wait: must not be negative", file=sys.stderr)
        return 2
    options = Options(
        out_dir=pathlib.Path(args.out),
        scenarios=tuple(args.scenario or SCENARIOS),
        merchant_id=args.merchant,
        service_id=args.service,
        expiry_wait=args.expiry_wait,
    )
    try:
        config = config_mod.load(args.config)
        outcomes = asyncio.run(record(config, options, say=lambda line: print(line, flush=True)))
    except config_mod.ConfigError as exc:
        _print_problems(exc.problems)
        return 2
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [o.scenario for o in outcomes if not o.ok]
    differing = sum(len(o.divergences) for o in outcomes)
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} scenario(s) recorded in full into {options.out_dir}")
    if differing:
        print(f"{differing} answer(s) differ from the contract (docs/upstream-contract.md): see 'divergences' in the cassettes")
    if failed:
        print(f"error: partial or not cleaned up: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _add_mappings(sub: argparse._SubParsersAction) -> None:
    from .mappings_cli import add_parser

    add_parser(sub)


def _mappings(args: argparse.Namespace) -> int:
    from .mappings_cli import run

    return run(args)


def _outbox(args: argparse.Namespace) -> int:
    from . import config as config_mod
    from .store import inspect_problem, open_store

    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        _print_problems(exc.problems)
        return 2
    problem = inspect_problem(config)
    if problem:
        _print_problems([problem])
        return 2

    async def show() -> None:
        store = open_store(config)
        try:
            counts = await store.notification_counts()
            print("  ".join(f"{state} {count}" for state, count in counts.items()))
            for entry, when, reason in await store.notifications(args.state):
                note = entry.notification
                print(f"{when}  {note.booking_id}  {note.merchant_id}/{note.service_id}  "
                      f"{','.join(note.changed)}  attempts {entry.attempts}  {reason or ''}".rstrip())
        finally:
            await store.close()

    asyncio.run(show())
    return 0


def _store(args: argparse.Namespace) -> int:
    """``store migrate``: one line saying what it found and what it left."""
    import sqlite3

    from . import config as config_mod
    from .store import NeedsMigration, migrate

    logs.setup(logging.WARNING)
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        _print_problems(exc.problems)
        return exitcodes.CONFIG
    if not config.store.url and not config.resolve(config.store.path).parent.is_dir():
        _print_problems([f"[store] path: folder {config.resolve(config.store.path).parent} does not exist"])
        return exitcodes.CONFIG
    try:
        found, now = asyncio.run(migrate(config))
    except NeedsMigration as exc:
        _print_problems([f"[store]: {exc}"])
        return exitcodes.CONFIG
    except (sqlite3.Error, OSError) as exc:
        _print_problems([f"[store]: {exc}"])
        return exitcodes.CONFIG
    except Exception as exc:  # psycopg's errors: cannot connect, no permission to create tables
        if type(exc).__module__.split(".")[0] not in ("psycopg", "psycopg_pool"):
            raise
        _print_problems([f"[store] url: {str(exc).strip() or type(exc).__name__}"])
        return exitcodes.CONFIG
    if found == now:
        print(f"store: already at schema version {now}")
    elif found is None:
        print(f"store: created at schema version {now}")
    else:
        print(f"store: migrated from schema version {found} to {now}")
    return exitcodes.OK


def _print_problems(problems: list[str]) -> None:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)


_COMMANDS = {
    "serve": _serve,
    "simulate": _simulate,
    "demo": _demo,
    "check": _check,
    "outbox": _outbox,
    "record": _record,
    "feeds": lambda args: feeds_cli.run(args),
    "mappings": _mappings,
    "healthcheck": _healthcheck,
    "bookings": lambda args: bookings_cli.run(args),
    "store": _store,
}


if __name__ == "__main__":
    sys.exit(main())
