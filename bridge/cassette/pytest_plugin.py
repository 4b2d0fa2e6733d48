"""pytest: ``@pytest.mark.cassette("name")`` and the ``cassette`` fixture.

Enable with ``pytest_plugins = ["bridge.cassette.pytest_plugin"]`` in the root conftest.
The fixture yields a :class:`~bridge.cassette.replay.Replay` of ``cassettes/<name>.json``
next to the test file (or ``directory=`` given to the marker), with respx routing every
httpx request in the process to it. When the test's requests are not the cassette's, the
test fails with a diff of the recorded requests against the ones made — also when the
code under test swallowed the error, or turned it into, say, a gRPC INTERNAL.
"""

from __future__ import annotations

import pathlib
from collections.abc import Generator, Iterator

import pytest

from .replay import CassetteMismatch, Replay

_REPLAY = pytest.StashKey[Replay]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(name, directory=None): serve the upstream from cassettes/<name>.json "
        "(bridge.cassette); fail on any request it lacks or any recorded request not made",
    )


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Replay]:
    marker = request.node.get_closest_marker("cassette")
    if marker is None or not marker.args:
        pytest.fail('the cassette fixture needs @pytest.mark.cassette("name")', pytrace=False)
    folder = pathlib.Path(marker.kwargs.get("directory") or request.path.parent / "cassettes")
    replay = Replay.load(folder / f"{marker.args[0]}.json")
    request.node.stash[_REPLAY] = replay
    with replay.router:
        yield replay


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    replay = None
    try:
        result = yield
    except BaseException as exc:
        replay = item.stash.get(_REPLAY, None)
        if replay is not None and replay.diverged:
            # The test's own failure is only the consequence; the diff says why.
            raise CassetteMismatch(replay.report()) from exc
        raise
    replay = item.stash.get(_REPLAY, None)
    if replay is not None:
        replay.verify()
    return result
