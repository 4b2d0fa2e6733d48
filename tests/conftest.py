"""Fixtures for the end-to-end tests; the harness itself lives in tests/harness.py."""

from __future__ import annotations

import itertools
import logging
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bridge.clock import ManualClock
from bridge.simulator import Simulator
from bridge.simulator.google_auth import GoogleTokens
from bridge.simulator.tokens import Tokens

from . import logcheck
from .harness import T0, Harness, bridge_config

pytest_plugins = ["bridge.cassette.pytest_plugin", "pytester"]

OPT_OUT = "logs_may_contain_pii"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{OPT_OUT}: the test puts a secret or personal data in a log on purpose; its lines go unchecked"
    )


def _report(what: str, found: list[str]) -> None:
    shown = "\n".join(found[:20]) + (f"\n... and {len(found) - 20} more" if len(found) > 20 else "")
    pytest.fail(f"{what} carry a secret or personal data (tests/logcheck.py says which):\n{shown}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _log_capture() -> Iterator[logcheck.Capture]:
    capture = logcheck.install()
    root = logging.getLogger()
    root.addHandler(capture)
    # Tokens are random, so the only way to know them is to be told as they are issued.
    issue = Tokens.issue

    def issue_and_note(self: Tokens, *args: Any, **kwargs: Any) -> dict:
        answer = issue(self, *args, **kwargs)
        logcheck.note_token(answer["access_token"])
        return answer

    Tokens.issue = issue_and_note  # type: ignore[method-assign]
    # The same for the fake Google's access tokens.
    google_issue = GoogleTokens.issue

    def google_issue_and_note(self: GoogleTokens, *args: Any, **kwargs: Any) -> dict:
        answer = google_issue(self, *args, **kwargs)
        logcheck.note_token(answer["access_token"])
        return answer

    GoogleTokens.issue = google_issue_and_note  # type: ignore[method-assign]
    try:
        yield capture
    finally:
        Tokens.issue = issue  # type: ignore[method-assign]
        GoogleTokens.issue = google_issue  # type: ignore[method-assign]
        root.removeHandler(capture)
        logcheck.uninstall(capture)
    # What session- and module-scoped fixtures logged outside any test.
    if found := logcheck.leaks(capture.lines):
        _report("log lines written between tests", found)


def _open_levels() -> list[tuple[logging.Logger, int]]:
    """Let every record through to the capture; the (logger, level) pairs to restore."""
    root = logging.getLogger()
    saved = [(root, root.level)]
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger) and logger.level > logging.NOTSET:
            saved.append((logger, logger.level))
    for logger, _ in saved:
        logger.setLevel(logging.NOTSET)
    return saved


@pytest.fixture(autouse=True)
def _no_secrets_in_logs(request: pytest.FixtureRequest, _log_capture: logcheck.Capture) -> Iterator[None]:
    """Fail the test if anything logged while it ran (its fixtures included) carries a
    secret or customer data. Autouse, so it is set up before and torn down after the
    fixtures that start servers, and sees their start and stop lines too."""
    capture = _log_capture
    root = logging.getLogger()
    # bridge.logs.setup() replaces the root's handlers, so an earlier test may have dropped it.
    if capture not in root.handlers:
        root.addHandler(capture)
    # A logger that does not propagate would keep its records from the root.
    islands = [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate and capture not in logger.handlers
    ]
    for logger in islands:
        logger.addHandler(capture)
    between = capture.lines
    capture.lines, capture.tokens, capture.files = [], set(), []
    saved = _open_levels()
    disabled = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    try:
        yield
    finally:
        logging.disable(disabled)
        for logger, level in saved:
            logger.setLevel(level)
        for logger in islands:
            logger.removeHandler(capture)
        lines, tokens = capture.lines, capture.tokens
        capture.lines = between
    if request.node.get_closest_marker(OPT_OUT):
        return
    if found := logcheck.leaks(itertools.chain(lines, capture.file_lines()), extra=tokens):
        _report("log lines written during this test", found)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    simulator = Simulator(clock)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def harness(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    h = Harness(sim=sim, clock=clock, config=bridge_config(sim, tmp_path / "bridge.sqlite3"))
    await h.start()
    yield h
    await h.stop()


# -- the store backends ------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (tests/pgcluster.py) with a migrated template
    database; skipped when PostgreSQL is not installed, failed instead under
    BRIDGE_REQUIRE_POSTGRES=1 (CI, which installs it)."""
    import asyncio
    import os

    from bridge.store._postgres import migrate

    from . import pgcluster

    try:
        cluster = pgcluster.start()
    except FileNotFoundError as exc:
        if os.environ.get("BRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"BRIDGE_REQUIRE_POSTGRES=1 but {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        asyncio.run(migrate(cluster.url(pgcluster.TEMPLATE)))
        yield cluster
    finally:
        cluster.stop()


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Any:
    """A function opening the store this test runs on (one per backend): each call a new
    store object on the same data, so a test can reopen it, or open two as two replicas would."""
    from bridge.store import SqliteStore
    from bridge.store._postgres import PostgresStore

    from . import pgcluster

    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        return lambda: SqliteStore(path)
    cluster = request.getfixturevalue("postgres")
    url = cluster.new_database(pgcluster.TEMPLATE)
    return lambda: PostgresStore(url, pool_size=4)


@pytest.fixture
async def store(open_store: Any) -> AsyncIterator[Any]:
    s = open_store()
    yield s
    await s.close()
