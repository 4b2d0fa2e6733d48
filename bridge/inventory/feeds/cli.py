"""`booking-bridge feeds export | upload | publish`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pathlib
import sys

from ...metrics import Metrics


def add_parser(sub: argparse._SubParsersAction) -> None:
    feeds = sub.add_parser("feeds", help="the daily merchants, services and availability feeds for Google")
    verbs = feeds.add_subparsers(dest="verb", required=True)
    export = verbs.add_parser("export", help="write a feed set from the Qmatic catalogue and timeslots")
    _export_args(export)
    upload = verbs.add_parser("upload", help="upload a feed set to Google's SFTP dropboxes")
    upload.add_argument("--config", required=True, help="TOML configuration file")
    upload.add_argument("directory", type=pathlib.Path, help="the folder a feed set was exported to")
    publish = verbs.add_parser("publish", help="export into a new folder under --out, then upload it (daily)")
    _export_args(publish)


def _export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="TOML configuration file")
    parser.add_argument("--out", required=True, type=pathlib.Path, metavar="DIR", help="where the feed files go")
    parser.add_argument("--days", type=int, help="how far ahead availability reaches (default [feeds] days)")
    parser.add_argument("--max-shard-bytes", type=int, default=None, metavar="N",
                        help="start a new shard before one grows past N bytes (default 100 MiB)")
    parser.add_argument("--gzip", action="store_true", help="gzip each shard")
    parser.add_argument("--metrics-file", type=pathlib.Path, metavar="FILE",
                        help="write this run's metrics (bridge_feed_exports_total, ...) there in Prometheus text "
                             "format, for node_exporter's textfile collector")


def run(args: argparse.Namespace) -> int:
    from ... import config as config_mod

    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(_VERBS[args.verb](config, args))


async def _export(config, args: argparse.Namespace, out: pathlib.Path | None = None) -> int:
    from .export import DEFAULT_MAX_SHARD_BYTES, ExportError, export

    if args.days is not None and not 1 <= args.days <= 366:
        print("error: --days: must be between 1 and 366", file=sys.stderr)
        return 2
    # A one-shot run has nobody to scrape it: its counts go to --metrics-file instead.
    metrics = Metrics()
    try:
        done = await export(config, out or args.out, days=args.days, gzip=args.gzip, environ=os.environ,
                            max_shard_bytes=args.max_shard_bytes or DEFAULT_MAX_SHARD_BYTES, metrics=metrics)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _write_metrics(args, metrics)
        return 1
    except KeyError as exc:  # a credential's environment variable
        print(f"error: environment variable {exc.args[0]} is not set", file=sys.stderr)
        return 2
    print(f"{done.merchants} merchant(s), {done.services} service(s), {done.slots} slot(s) "
          f"in {sum(done.shards.values())} file(s):")
    for path in done.files:
        print(f"  {path}")
    _write_metrics(args, metrics)
    return 0


def _write_metrics(args: argparse.Namespace, metrics: Metrics) -> None:
    if args.metrics_file is not None:
        import prometheus_client

        # Written to a temporary name and renamed: the collector never reads half a file.
        prometheus_client.write_to_textfile(str(args.metrics_file), metrics.registry)


async def _upload(config, args: argparse.Namespace, directory: pathlib.Path | None = None) -> int:
    from .upload import UploadError, upload

    try:
        await upload(config, directory or args.directory, environ=os.environ)
    except UploadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _publish(config, args: argparse.Namespace) -> int:
    folder = args.out / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    code = await _export(config, args, folder)
    return code or await _upload(config, args, folder)


_VERBS = {"export": _export, "upload": _upload, "publish": _publish}
