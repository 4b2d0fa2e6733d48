"""`booking-bridge bookings list|show`: the store for an operator, without the customers'
personal data unless --personal-data asks for it (and then with a warning on stderr)."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import re

import pytest

from bridge.cli import main
from bridge.retention import Retention
from bridge.simulator import seed

from . import test_v3_rest as v3_calls
from .harness import STOCKHOLM_TZ, Harness, at

PERSONAL = ("Ada", "Lovelace", "ada@example.com", "+46 70-123 45 67",
            "John", "Smith", "john.smith@example.com", "+12091111111")


def config_file(tmp_path: pathlib.Path, store: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "inspect.toml"
    path.write_text(f'[upstream]\naccount = "acme"\ntenant_id = "t-1"\n[store]\npath = "{store}"\n')
    return path


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    # The command runs its own event loop, so it gets a thread of its own.
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def two_bookings(h: Harness, tmp_path: pathlib.Path) -> tuple[pathlib.Path, str, str, str]:
    """A v0 booking (Ada) and a v3 one (John) tomorrow; the config file, both ids, the lease id."""
    lease = await h.lease(at(1, 10), reference="r-cli")
    v0 = (await h.book(lease.lease_id)).booking_id
    v3 = (await v3_calls.book(h, "t-cli", at(1, 11)))["booking"]["booking_id"]
    return config_file(tmp_path, h.config.resolve(h.config.store.path)), v0, v3, lease.lease_id


async def test_list_shows_every_booking_and_no_personal_data(
    harness: Harness, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, v0, v3, _ = await two_bookings(harness, tmp_path)

    code, out, err = await cli(capsys, "bookings", "list", "--config", str(config))

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[-1] == "2 booking(s)"
    assert [line.split("  ")[1] for line in lines[:-1]] == [v0, v3]  # earliest start first
    assert lines[0].split("  ")[:4] == [
        at(1, 10).astimezone(STOCKHOLM_TZ).isoformat(timespec="minutes"), v0, "confirmed",
        f"{seed.STOCKHOLM}/{seed.HAIRCUT}"]
    assert not [word for word in PERSONAL if word in out]


async def test_personal_data_only_when_asked_and_then_with_a_warning(
    harness: Harness, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, v0, _, _ = await two_bookings(harness, tmp_path)

    code, out, err = await cli(capsys, "bookings", "list", "--config", str(config), "--personal-data")

    assert code == 0
    assert err.startswith("warning: the output holds customers' personal data")
    assert "Ada Lovelace <ada@example.com> +46 70-123 45 67" in out
    assert "John Smith <john.smith@example.com> +12091111111" in out

    code, out, err = await cli(capsys, "bookings", "show", v0, "--config", str(config), "--personal-data")
    assert code == 0 and err.startswith("warning: ")
    assert "Ada Lovelace <ada@example.com> +46 70-123 45 67" in out


async def test_list_filters_by_merchant_day_and_status(
    harness: Harness, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, v0, v3, _ = await two_bookings(harness, tmp_path)
    await harness.cancel(v0)

    async def ids(*flags: str) -> list[str]:
        code, out, _ = await cli(capsys, "bookings", "list", "--config", str(config), *flags)
        assert code == 0
        return [line.split("  ")[1] for line in out.splitlines()[:-1]]

    tomorrow = at(1, 10).astimezone(STOCKHOLM_TZ).date()
    assert await ids("--status", "canceled") == [v0]
    assert await ids("--status", "CONFIRMED") == [v3]
    assert await ids("--merchant", seed.STOCKHOLM) == [v0, v3]
    assert await ids("--merchant", "elsewhere") == []
    assert await ids("--day", tomorrow.isoformat()) == [v0, v3]
    assert await ids("--day", (tomorrow + dt.timedelta(days=1)).isoformat()) == []


async def test_show_by_booking_or_lease_id_without_personal_data(
    harness: Harness, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, v0, _, lease_id = await two_bookings(harness, tmp_path)

    code, by_booking, err = await cli(capsys, "bookings", "show", v0, "--config", str(config))
    assert (code, err) == (0, "")
    _, by_lease, _ = await cli(capsys, "bookings", "show", lease_id, "--config", str(config))
    assert by_lease == by_booking

    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in by_booking.splitlines())
    assert (fields["booking"], fields["lease"], fields["status"]) == (v0, lease_id, "confirmed")
    assert fields["lease state"] == "consumed"
    assert fields["customer"] == "withheld (--personal-data shows it)"
    assert not [word for word in PERSONAL if word in by_booking]

    held = await harness.lease(at(1, 12), reference="r-held")
    _, out, _ = await cli(capsys, "bookings", "show", held.lease_id, "--config", str(config))
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    assert (fields["lease"], fields["lease state"], "booking" in fields) == (held.lease_id, "held", False)

    code, out, err = await cli(capsys, "bookings", "show", "no-such-id", "--config", str(config))
    assert (code, out) == (1, "")
    assert err == "error: no booking or lease 'no-such-id' in the store\n"


async def test_an_erased_customer_shows_as_erased(
    harness: Harness, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, v0, _, _ = await two_bookings(harness, tmp_path)
    harness.clock.advance(days=40)
    await Retention(harness.bridge.store, harness.clock, retain_days=30).run_once()

    _, out, _ = await cli(capsys, "bookings", "show", v0, "--config", str(config), "--personal-data")
    assert "customer erased" in out
    _, out, _ = await cli(capsys, "bookings", "show", v0, "--config", str(config))
    assert "erased ([store] retain_days)" in out


async def test_a_missing_store_or_a_bad_day_is_an_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path, tmp_path / "absent.sqlite3")
    code, out, err = await cli(capsys, "bookings", "list", "--config", str(config))
    assert (code, out) == (2, "")
    assert err == f"error: [store] path: {tmp_path / 'absent.sqlite3'}: no such file\n"
    assert not (tmp_path / "absent.sqlite3").exists()  # looking never creates a store

    with pytest.raises(SystemExit):
        await cli(capsys, "bookings", "list", "--config", str(config), "--day", "23/11/2026")
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
