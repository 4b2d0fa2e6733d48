"""Configuration as small value objects, read from TOML.

``load()`` returns a :class:`Config` or raises :class:`ConfigError` carrying every problem
found, one line each, so ``booking-bridge check`` can print them all at once. Secrets are
never in the file: the file names the environment variables that hold them.
"""

from __future__ import annotations

import os
import pathlib
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import MISSING as _MISSING
from dataclasses import dataclass, field
from typing import Any

from .envfile import EnvFileError, overlay
from .errortable import UpstreamRule, rule_from_mapping


class ConfigError(Exception):
    """Every problem found, one line each; ``partial`` is what could be read, defaults elsewhere."""

    def __init__(self, problems: list[str], partial: Config | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        self.partial = partial


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str
    key_file: str
    # When set, clients must present a certificate chaining to these roots (mutual TLS,
    # which Google uses for gRPC booking servers).
    client_ca_file: str | None = None
    # With client_ca_file: the names (DNS subject alternative name, else common name) a
    # client certificate must carry; the CA may sign for others too. Empty: any name.
    allowed_client_names: tuple[str, ...] = ("mapsbooking.businesslink-3.net",)


@dataclass(frozen=True)
class RestAuthConfig:
    """HTTP Basic credentials Google presents; the password comes from the environment.
    During a rotation the next pair is accepted as well."""

    username: str
    password_env: str
    next_username: str = ""
    next_password_env: str = ""
    # A NAME=value file (relative to this file) whose variables win over the environment,
    # read at start and on SIGHUP: how the passwords rotate without a restart.
    env_file: str = ""

    def credentials(self, environ: Mapping[str, str] = os.environ) -> list[tuple[str, str]]:
        pairs = [(self.username, environ.get(self.password_env, ""))]
        if self.next_username:
            pairs.append((self.next_username, environ.get(self.next_password_env, "")))
        return [(user, password) for user, password in pairs if password]


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class ServerConfig:
    grpc_listen: str = "0.0.0.0:50051"
    shutdown_grace_seconds: float = 10.0
    # Upper bound for a call whose caller set no deadline.
    default_deadline_seconds: float = 10.0
    tls: TlsConfig | None = None
    # The v3 REST front listens here when set.
    rest_listen: str = ""
    rest_path_prefix: str = ""
    rest_auth: RestAuthConfig | None = None
    # Prometheus text endpoint (GET /metrics) when set.
    metrics_listen: str = ""
    # Lowest level logged: DEBUG adds a line per upstream request that succeeded.
    log_level: str = "INFO"
    # gRPC health turns NOT_SERVING while the upstream is unreachable or refuses the
    # credentials (probed in the background, never per health check).
    health_follows_upstream: bool = True


@dataclass(frozen=True)
class UpstreamConfig:
    base_url: str = "https://api.eu-west-1.qmatic.io/external/v1"
    token_url: str = "https://api.eu-west-1.qmatic.io/oauth2/token"
    account: str = ""
    client_id_env: str = "QMATIC_CLIENT_ID"
    client_secret_env: str = "QMATIC_CLIENT_SECRET"
    tenant_id: str = ""
    language: str = "en_US"
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_attempts: int = 3
    error_rules: tuple[UpstreamRule, ...] = ()

    def credentials(self, environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
        """The OAuth2 client id and secret, from the environment; KeyError names the variable."""
        return environ[self.client_id_env], environ[self.client_secret_env]


@dataclass(frozen=True)
class StoreConfig:
    path: str = "bridge.sqlite3"
    # postgresql://USER@HOST:PORT/DB selects PostgreSQL instead of the SQLite file at path;
    # the password comes from libpq's environment (PGPASSWORD, PGPASSFILE), never the file.
    url: str = ""
    # PostgreSQL: connections this process keeps open at most.
    pool_size: int = 10
    # Days after an appointment ended that its customer's name, e-mail and phone are kept.
    retain_days: int = 30


@dataclass(frozen=True)
class BookingConfig:
    # Where the keyed hash that turns a customer into Qmatic's personalIdentifier gets
    # its key. Changing the key orphans every earlier booking from customer search.
    identity_key_env: str = "BRIDGE_IDENTITY_KEY"
    # How long before the upstream's 15-minute hold ends we stop offering the lease:
    # covers clock skew and the confirm call's own round trip.
    lease_safety_margin_seconds: int = 60
    # Folder of per-merchant mapping files; empty: identity mapping for every merchant.
    mappings_dir: str = ""
    # The branch time zone for merchants no mapping file names.
    default_time_zone: str = "UTC"
    # BatchAvailabilityLookup answers within this (Google gives up at 1.5 s).
    availability_budget_seconds: float = 1.2
    # How long an upstream timeslot list is reused; our own changes drop it sooner.
    availability_cache_seconds: float = 5.0


@dataclass(frozen=True)
class GoogleConfig:
    """Keeping Google in step: booking notifications and availability updates. Without
    this section the bridge answers Google's calls but never tells Google of a change."""

    partner_id: str
    api_base_url: str = "https://mapsbooking.googleapis.com"
    # Names the environment variable holding the service-account key file's path.
    credentials_env: str = "GOOGLE_APPLICATION_CREDENTIALS"
    # A change at the branch reaches Google within this (Google measures 5 minutes).
    notify_within_seconds: int = 240
    # The budget for reading the bridge's appointments at Qmatic to notice those changes.
    max_upstream_reads_per_second: float = 5.0
    # Sent, dropped and dead-lettered notifications are kept this long for the operator.
    keep_sent_days: int = 7
    # A notification Google keeps refusing with a passing error is dead-lettered after this.
    max_notification_attempts: int = 50
    # Availability replaces for one (merchant, service, day) wait this long to coalesce.
    availability_coalesce_seconds: float = 5.0


@dataclass(frozen=True)
class FeedsConfig:
    """The daily merchants, services and availability feeds, and their SFTP upload."""

    # Google place type for merchants whose mapping names no category.
    default_category: str = ""
    sftp_host: str = "partnerupload.google.com"
    sftp_port: int = 19321
    # One dropbox per feed type (and environment).
    merchants_username: str = ""
    services_username: str = ""
    availability_username: str = ""
    # Names the environment variable holding the SSH private key file's path.
    private_key_env: str = "BRIDGE_SFTP_KEY"
    # The server's host key, in OpenSSH known_hosts format; relative to this file.
    known_hosts_file: str = "known_hosts"
    # How far ahead the availability feed reaches (Google wants 30 days or more).
    days: int = 30
    # Timeslot reads in flight at once during an export.
    max_concurrent_reads: int = 8


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    booking: BookingConfig = field(default_factory=BookingConfig)
    google: GoogleConfig | None = None
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    source: pathlib.Path | None = None

    def resolve(self, path: str) -> pathlib.Path:
        """A path from the file, relative to the file's folder."""
        p = pathlib.Path(path)
        if p.is_absolute() or self.source is None:
            return p
        return self.source.parent / p


_SECTIONS = {
    "server": ServerConfig,
    "upstream": UpstreamConfig,
    "store": StoreConfig,
    "booking": BookingConfig,
}


def load(path: str | os.PathLike[str]) -> Config:
    path = pathlib.Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return from_dict(raw, source=path)


def from_dict(raw: Mapping[str, Any], *, source: pathlib.Path | None = None) -> Config:
    problems: list[str] = []
    for key in raw:
        if key not in _SECTIONS and key not in ("google", "feeds"):
            problems.append(f"[{key}]: unknown section")
    google = _table("google", GoogleConfig, raw["google"], problems) if "google" in raw else None
    if google is not None:
        _check_google(google, problems)
    feeds = _table("feeds", FeedsConfig, raw.get("feeds", {}), problems) or FeedsConfig()
    _check_feeds(feeds, problems)
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = dict(raw.get(name, {}))
        if name == "server" and "tls" in table:
            table["tls"] = _table("server.tls", TlsConfig, table.pop("tls"), problems)
        if name == "server" and "rest_auth" in table:
            table["rest_auth"] = _table("server.rest_auth", RestAuthConfig, table.pop("rest_auth"), problems)
        if name == "store" and "url" in table and "path" in table:
            problems.append("[store] path, url: set one, path for SQLite or url for PostgreSQL")
        if name == "upstream" and "errors" in table:
            table["error_rules"] = _rules(table.pop("errors"), problems)
        sections[name] = _build(name, cls, table, problems)
    if all(value is not None for value in sections.values()):
        _check_values(sections, problems)
    if problems:
        readable = {name: value or _SECTIONS[name]() for name, value in sections.items()}
        raise ConfigError(problems, Config(**readable, google=google, feeds=feeds, source=source))
    return Config(**sections, google=google, feeds=feeds, source=source)


def _table(name: str, cls: type, table: Any, problems: list[str]) -> Any:
    if not isinstance(table, dict):
        problems.append(f"[{name}]: must be a table")
        return None
    return _build(name, cls, table, problems)


def _rules(rows: Any, problems: list[str]) -> tuple[UpstreamRule, ...]:
    if not isinstance(rows, list):
        problems.append("[[upstream.errors]]: must be an array of tables")
        return ()
    rules = []
    for i, row in enumerate(rows):
        try:
            rules.append(rule_from_mapping(row))
        except (ValueError, TypeError) as exc:
            problems.append(f"[[upstream.errors]] row {i + 1}: {exc}")
    return tuple(rules)


def _build(name: str, cls: type, table: dict[str, Any], problems: list[str]) -> Any:
    fields = cls.__dataclass_fields__
    kwargs = {}
    for key, value in table.items():
        if key not in fields:
            problems.append(f"[{name}] {key}: unknown key")
            continue
        expected = fields[key].default
        if isinstance(expected, (str, int, float)) and not isinstance(value, type(expected)):
            if not (isinstance(expected, float) and isinstance(value, int)):
                problems.append(f"[{name}] {key}: expected {type(expected).__name__}, got {value!r}")
                continue
        kwargs[key] = value
    missing = [k for k, f in fields.items() if f.default is f.default_factory is _MISSING and k not in kwargs]
    for key in missing:
        problems.append(f"[{name}] {key}: required")
    return None if missing else cls(**kwargs)


def _check_values(sections: dict[str, Any], problems: list[str]) -> None:
    server: ServerConfig = sections["server"]
    upstream: UpstreamConfig = sections["upstream"]
    if not _is_host_port(server.grpc_listen):
        problems.append(f"[server] grpc_listen: expected HOST:PORT, got {server.grpc_listen!r}")
    if server.rest_listen and not _is_host_port(server.rest_listen):
        problems.append(f"[server] rest_listen: expected HOST:PORT, got {server.rest_listen!r}")
    if server.metrics_listen and not _is_host_port(server.metrics_listen):
        problems.append(f"[server] metrics_listen: expected HOST:PORT, got {server.metrics_listen!r}")
    if server.log_level not in LOG_LEVELS:
        problems.append(f"[server] log_level: expected one of {', '.join(LOG_LEVELS)}, got {server.log_level!r}")
    if server.rest_listen and server.rest_auth is None:
        problems.append("[server.rest_auth]: required when rest_listen is set (Google calls with HTTP Basic auth)")
    names = server.tls.allowed_client_names if server.tls is not None else ()
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        problems.append("[server.tls] allowed_client_names: expected an array of names, such as "
                        '["mapsbooking.businesslink-3.net"]')
    auth = server.rest_auth
    if auth is not None and bool(auth.next_username) != bool(auth.next_password_env):
        problems.append("[server.rest_auth] next_username, next_password_env: set both or neither")
    for key in ("base_url", "token_url"):
        value = getattr(upstream, key)
        if not value.startswith(("https://", "http://")):
            problems.append(f"[upstream] {key}: expected an http(s) URL, got {value!r}")
    if not upstream.account or upstream.account != upstream.account.lower() or " " in upstream.account:
        problems.append(f"[upstream] account: expected the lower-case system name with no spaces, got {upstream.account!r}")
    if not upstream.tenant_id:
        problems.append("[upstream] tenant_id: required")
    if upstream.language not in ("en_US", "en_UK", "fr_FR", "nl_NL", "de_DE", "it_IT", "ES_es"):
        problems.append(f"[upstream] language: {upstream.language!r} is not one Qmatic accepts")
    for key in ("connect_timeout", "read_timeout"):
        if getattr(upstream, key) <= 0:
            problems.append(f"[upstream] {key}: must be positive")
    booking: BookingConfig = sections["booking"]
    if not valid_time_zone(booking.default_time_zone):
        problems.append(f"[booking] default_time_zone: {booking.default_time_zone!r} is not an IANA time zone")
    if not 0 < booking.availability_budget_seconds < 1.5:
        problems.append("[booking] availability_budget_seconds: must be above 0 and under Google's 1.5 s")
    if booking.availability_cache_seconds < 0:
        problems.append("[booking] availability_cache_seconds: must not be negative")
    if not 0 <= booking.lease_safety_margin_seconds < 15 * 60:
        problems.append("[booking] lease_safety_margin_seconds: must be between 0 and 899")
    if upstream.max_attempts < 1:
        problems.append("[upstream] max_attempts: must be at least 1")
    if not 1 <= sections["store"].retain_days <= 3650:
        problems.append("[store] retain_days: must be between 1 and 3650")
    problems.extend(_store_problems(sections["store"]))


def _store_problems(store: StoreConfig) -> list[str]:
    if not 1 <= store.pool_size <= 1000:
        return ["[store] pool_size: must be between 1 and 1000"]
    if not store.url:
        return []
    import urllib.parse

    try:
        url = urllib.parse.urlsplit(store.url)
        url.port  # noqa: B018 - parses the port, raising on a bad one
    except ValueError as exc:
        return [f"[store] url: {exc}"]
    if url.password is not None or "password=" in url.query:
        return ["[store] url: holds a password; put none in the file and set PGPASSWORD "
                "(or a PGPASSFILE) in the bridge's environment"]
    if url.scheme not in ("postgresql", "postgres") or not url.hostname or len(url.path) < 2:
        return [f"[store] url: expected postgresql://USER@HOST:PORT/DATABASE, got {store.url!r}"]
    return []


def _check_google(google: GoogleConfig, problems: list[str]) -> None:
    if not google.partner_id:
        problems.append("[google] partner_id: required")
    if not google.api_base_url.startswith(("https://", "http://")):
        problems.append(f"[google] api_base_url: expected an http(s) URL, got {google.api_base_url!r}")
    if not 30 <= google.notify_within_seconds <= 300:
        problems.append("[google] notify_within_seconds: must be between 30 and Google's 300")
    if google.max_upstream_reads_per_second <= 0:
        problems.append("[google] max_upstream_reads_per_second: must be positive")
    if google.keep_sent_days < 1:
        problems.append("[google] keep_sent_days: must be at least 1")
    if google.max_notification_attempts < 1:
        problems.append("[google] max_notification_attempts: must be at least 1")
    if google.availability_coalesce_seconds < 0:
        problems.append("[google] availability_coalesce_seconds: must not be negative")


def _check_feeds(feeds: FeedsConfig, problems: list[str]) -> None:
    if not 1 <= feeds.days <= 366:
        problems.append("[feeds] days: must be between 1 and 366 (Google wants 30 or more)")
    if not 1 <= feeds.max_concurrent_reads <= 64:
        problems.append("[feeds] max_concurrent_reads: must be between 1 and 64")
    if not 0 < feeds.sftp_port <= 65535:
        problems.append("[feeds] sftp_port: must be a TCP port")


def _is_host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 <= int(port) <= 65535)


def check_environment(config: Config, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Problems with what the configuration expects from the environment and the disk."""
    problems = []
    for key in ("client_id_env", "client_secret_env"):
        var = getattr(config.upstream, key)
        if not environ.get(var):
            problems.append(f"[upstream] {key}: environment variable {var} is not set")
    var = config.booking.identity_key_env
    if len(environ.get(var, "")) < 16:
        problems.append(f"[booking] identity_key_env: environment variable {var} must hold a key of at least 16 characters")
    auth = config.server.rest_auth
    if config.server.rest_listen and auth is not None:
        rest_environ = environ
        try:
            rest_environ = overlay(environ, config.resolve(auth.env_file) if auth.env_file else None)
        except EnvFileError as exc:
            problems.append(f"[server.rest_auth] env_file: {exc}")
        for key in ("password_env", "next_password_env"):
            var = getattr(auth, key)
            if var and not rest_environ.get(var):
                problems.append(f"[server.rest_auth] {key}: environment variable {var} is not set")
    tls = config.server.tls
    if tls is not None:
        for key in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, key)
            if value and not config.resolve(value).is_file():
                problems.append(f"[server.tls] {key}: {value}: no such file")
    google = config.google
    if google is not None and not environ.get(google.credentials_env):
        problems.append(f"[google] credentials_env: environment variable {google.credentials_env} is not set")
    store_dir = config.resolve(config.store.path).parent
    if not config.store.url and not store_dir.is_dir():
        problems.append(f"[store] path: folder {store_dir} does not exist")
    return problems


def valid_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
