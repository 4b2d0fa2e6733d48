"""Schema versions, shared by both backends.

Every store records its schema version in a one-row ``schema_version`` table. A release
opens only a store at its own version: ``booking-bridge store migrate`` brings an older one
(or a new, empty database) up to it. A SQLite store from before versioning (its tables,
no ``schema_version``) is version 0; so is an empty PostgreSQL database. A brand-new SQLite
file is created at the current version on first open, so a fresh ``serve`` just works.

The tables themselves are written once here, with the few types that differ by backend
filled in, so the two schemas cannot drift.
"""

from __future__ import annotations

# Version 1: leases, bookings, responses, outbox, watches (the schema of the first release)
# plus schema_version.
CURRENT = 1

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"

_SLOT_COLUMNS = """
    merchant_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    start TEXT NOT NULL,
    duration_s INTEGER NOT NULL,
    staff_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    availability_tag TEXT NOT NULL,
    party_size INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    upstream_service_id TEXT NOT NULL,
    resource_id TEXT,
    time_zone TEXT NOT NULL,
"""


def tables(*, blob: str, real: str, serial: str) -> list[str]:
    """Version 1's statements. ``blob``, ``real``: the backend's bytes and double types;
    ``serial``: an auto-numbered integer primary key."""
    return [
        f"""CREATE TABLE IF NOT EXISTS leases (
    lease_id TEXT PRIMARY KEY,
    client_reference TEXT NOT NULL UNIQUE,
    {_SLOT_COLUMNS}
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    requested_expiration TEXT,
    hold_id TEXT,
    expires_at TEXT
)""",
        f"""CREATE TABLE IF NOT EXISTS bookings (
    booking_id TEXT PRIMARY KEY,
    lease_id TEXT UNIQUE,
    {_SLOT_COLUMNS}
    client TEXT NOT NULL,
    personal_identifier TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    pending TEXT,
    idempotency_key TEXT UNIQUE,
    cancelled_elsewhere INTEGER NOT NULL DEFAULT 0
)""",
        f"""CREATE TABLE IF NOT EXISTS responses (
    idempotency_key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    response {blob}
)""",
        """CREATE UNIQUE INDEX IF NOT EXISTS bookings_person_slot
    ON bookings (personal_identifier, tenant_id, branch_id, upstream_service_id, start)
    WHERE status != 'canceled'""",
        "CREATE INDEX IF NOT EXISTS bookings_person ON bookings (personal_identifier)",
        f"""CREATE TABLE IF NOT EXISTS outbox (
    id {serial},
    booking_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    status TEXT,
    start TEXT,
    duration_s INTEGER,
    party_size INTEGER,
    version INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at {real} NOT NULL,
    next_attempt_at {real} NOT NULL,
    finished_at {real},
    last_error TEXT
)""",
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at)",
        "CREATE INDEX IF NOT EXISTS outbox_booking ON outbox (booking_id, state)",
        f"""CREATE TABLE IF NOT EXISTS watches (
    booking_id TEXT PRIMARY KEY,
    ends_at {real} NOT NULL,
    next_read_at {real}
)""",
        "CREATE INDEX IF NOT EXISTS watches_due ON watches (next_read_at)",
    ]


def steps(found: int, migrations: dict[int, list[str]]) -> list[str]:
    """Every statement from version ``found`` up to the current one, in order, then the
    stamp (psycopg's placeholder style). ``migrations[v]`` takes a store from v - 1 to v;
    a new version adds its entry on both backends and raises CURRENT."""
    assert sorted(migrations) == list(range(1, CURRENT + 1)), "one migration per version, on each backend"
    statements = [statement for version in range(found + 1, CURRENT + 1) for statement in migrations[version]]
    return [*statements, VERSION_TABLE, "DELETE FROM schema_version",
            f"INSERT INTO schema_version (version) VALUES ({CURRENT})"]


class NeedsMigration(Exception):
    """The store is not at this release's schema version."""

    def __init__(self, found: int, where: str):
        self.found = found
        self.where = where
        super().__init__(describe(found, where))


def describe(found: int, where: str) -> str:
    if found > CURRENT:
        return (f"{where} is at schema version {found}, newer than this release's {CURRENT}: "
                "run the booking-bridge release that made it")
    was = "predates schema versions (or is empty)" if found == 0 else f"is at schema version {found}"
    return f"{where} {was}; this release needs version {CURRENT}"


def problem(found: int, where: str, config_file: object) -> str:
    """The one line ``serve`` and ``check`` print, naming the command that fixes it."""
    line = describe(found, where)
    if found < CURRENT:
        line += f": run `booking-bridge store migrate --config {config_file}`"
    return line
