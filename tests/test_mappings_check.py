"""`booking-bridge mappings check`: each mapping held against the live catalogue, one
line per finding naming the merchant and the key to change, errors in the exit status."""

from __future__ import annotations

import asyncio
import pathlib
import re
import shutil

import pytest

from bridge import cli
from bridge import config as config_mod
from bridge.mapping import Mapper, MerchantMapping, ServiceDetails
from bridge.mappings_cli import check_mappings
from bridge.mappings_cli.findings import ERROR, WARNING, Rules, check
from bridge.simulator import Simulator, seed
from bridge.upstream import Address, Offering

from .harness import ENV

ROOT = pathlib.Path(__file__).resolve().parent.parent
UNKNOWN = "00000000-0000-4000-8000-000000000000"

# Both demo branches, mapped as an operator should: the check has nothing to say.
CLEAN = f"""
[merchants."stockholm"]
branch_id = "{seed.STOCKHOLM}"
time_zone = "Europe/Stockholm"
category = "hair_salon"
services = {{ "haircut" = "{seed.HAIRCUT}", "consultation" = "{seed.CONSULTATION}" }}
staff = {{ "anna" = "{seed.ANNA}", "carla" = "{seed.CARLA}" }}

[merchants."london"]
branch_id = "{seed.LONDON}"
time_zone = "Europe/London"
category = "hair_salon"
services = {{ "haircut" = "{seed.HAIRCUT}" }}
"""
LONDON_CATEGORY = f'category = "hair_salon"\nservices = {{ "haircut" = "{seed.HAIRCUT}" }}'


def write_config(tmp_path: pathlib.Path, sim: Simulator, mappings: str | None = CLEAN, *,
                 default_time_zone: str = "Europe/Stockholm", feeds: str = "") -> pathlib.Path:
    booking = f'default_time_zone = "{default_time_zone}"\n'
    if mappings is not None:
        (tmp_path / "mappings").mkdir()
        (tmp_path / "mappings" / "demo.toml").write_text(mappings)
        booking += 'mappings_dir = "mappings"\n'
    path = tmp_path / "bridge.toml"
    path.write_text(
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        f"[booking]\n{booking}{feeds}"
    )
    return path


async def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
              ) -> tuple[int, str, str]:
    """The command as an operator runs it; in a thread, so the simulator keeps answering."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("MERCHANT"))
    rows = [re.split(r"\s{2,}", line) for line in lines[start + 2:] if not line.startswith("mappings: ")]
    return {row[0]: row[1:] for row in rows}


async def test_clean_mappings_pass_with_nothing_to_say(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(write_config(tmp_path, sim)))
    assert (code, err) == (0, "")
    assert table(out) == {"london": ["London Bridge", "1", "0"], "stockholm": ["Stockholm Central", "2", "0"]}
    assert out.endswith("mappings: 2 merchant(s), 0 error(s), 0 warning(s)\n")


FAULTS = [
    # (what, old text of CLEAN, new text, severity, merchant, field, said, exit status)
    ("unknown branch", '[merchants."london"]',
     f'[merchants."ghost"]\nbranch_id = "{UNKNOWN}"\n\n[merchants."london"]', ERROR, "ghost", "branch_id",
     f"{UNKNOWN} is not in the catalogue", 1),
    ("unknown service", f'"consultation" = "{seed.CONSULTATION}"',
     f'"consultation" = "{seed.CONSULTATION}", "nails" = "{UNKNOWN}"', ERROR, "stockholm", 'services."nails"',
     "no branch of the tenant offers a service with this GUID", 1),
    ("service of another branch", f'services = {{ "haircut" = "{seed.HAIRCUT}" }}',
     f'services = {{ "haircut" = "{seed.HAIRCUT}", "advice" = "{seed.CONSULTATION}" }}', ERROR, "london",
     'services."advice"', "is not offered at 'London Bridge' (it is offered at 'Stockholm Central')", 1),
    ("not bookable online", f'"consultation" = "{seed.CONSULTATION}"',
     f'"consultation" = "{seed.CONSULTATION}", "colour" = "{seed.COLOUR}"', ERROR, "stockholm", 'services."colour"',
     "'Colour treatment' cannot be booked through Actions Center: not bookable online", 1),
    ("screening answers", f'services = {{ "haircut" = "{seed.HAIRCUT}" }}',
     f'services = {{ "haircut" = "{seed.HAIRCUT}", "photo" = "{seed.PASSPORT}" }}', ERROR, "london",
     'services."photo"', "cannot be booked through Actions Center: asks screening questions (1)", 1),
    ("staff not offered", f'"carla" = "{seed.CARLA}"', f'"carla" = "{seed.CARLA}", "david" = "{seed.DAVID}"',
     ERROR, "stockholm", 'staff."david"', "(it is a resource at 'London Bridge')", 1),
    ("staff of a service not mapped", f'services = {{ "haircut" = "{seed.HAIRCUT}" }}',
     f'services = {{ "haircut" = "{seed.HAIRCUT}" }}\nstaff = {{ "emma" = "{seed.EMMA}" }}', ERROR, "london",
     'staff."emma"', "serves none of the merchant's services at 'London Bridge' (only 'Passport photo', which the "
     "merchant does not offer)", 1),
    ("time zone of another country", 'time_zone = "Europe/London"\n', "", ERROR, "london", "time_zone",
     "default_time_zone 'Europe/Stockholm' applies, but the branch is in GB (Europe/London)", 1),
    ("missing category", LONDON_CATEGORY, LONDON_CATEGORY.split("\n")[1], WARNING, "london", "category",
     "[feeds] default_category is empty", 0),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f[0] for f in FAULTS])
async def test_each_fault_is_one_line_naming_merchant_and_field(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    fault: tuple,
) -> None:
    _, old, new, severity, merchant, field, said, status = fault
    assert CLEAN.count(old) == 1
    config = write_config(tmp_path, sim, CLEAN.replace(old, new))
    code, out, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(config))
    assert code == status, err
    [line] = err.splitlines()
    assert line.startswith(f"{severity}: merchant '{merchant}': {field}: "), line
    assert said in line
    assert "Traceback" not in out + err


async def test_a_branch_left_on_utc_is_an_error_that_names_its_zone(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim, CLEAN.replace('time_zone = "Europe/London"\n', ""), default_time_zone="UTC")
    code, _, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(config))
    assert code == 1
    assert err == ("error: merchant 'london': time_zone: not set, and [booking] default_time_zone is 'UTC': set the "
                   "branch's (Europe/London, the time kept in GB)\n")


async def test_a_missing_category_is_an_error_once_the_merchants_feed_is_uploaded(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = CLEAN.replace(LONDON_CATEGORY, LONDON_CATEGORY.split("\n")[1])
    config = write_config(tmp_path, sim, mappings, feeds='[feeds]\nmerchants_username = "feeds-merchants"\n')
    code, out, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(config))
    assert code == 1
    assert err.startswith("error: merchant 'london': category: ")
    assert len(err.splitlines()) == 1
    # A default category covers every merchant that names none.
    (tmp_path / "bridge.toml").write_text(config.read_text() + 'default_category = "hair_salon"\n')
    code, _, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(config))
    assert (code, err) == (0, "")


async def test_identity_mapped_branches_are_summarised_with_warnings_and_a_wrong_zone_is_an_error(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim, mappings=None)
    code, out, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(config))
    assert code == 1
    assert err.splitlines() == [
        f"warning: identity-mapped merchants: service {seed.COLOUR}: 'Colour treatment' at 1 branch(es) cannot be "
        "booked through Actions Center: not bookable online",
        f"warning: identity-mapped merchants: service {seed.PASSPORT}: 'Passport photo' at 2 branch(es) cannot be "
        "booked through Actions Center: asks screening questions (1)",
        # With no mapping files every branch is served by identity, so London's hours would be misread.
        f"error: identity-mapped merchant '{seed.LONDON}' (London Bridge): time_zone: not set, so [booking] "
        "default_time_zone 'Europe/Stockholm' applies, but the branch is in GB (Europe/London); or map the branch "
        "in a file with its time_zone",
        "warning: identity-mapped merchants: category: [feeds] default_category is empty, and no mapping file "
        "names a category for them",
    ]
    assert table(out) == {seed.LONDON: ["London Bridge", "1", "1"], seed.STOCKHOLM: ["Stockholm Central", "2", "2"]}


async def test_branches_no_file_maps_are_named_and_only_warned_about(
    sim: Simulator, tmp_path: pathlib.Path
) -> None:
    stockholm_only = CLEAN.split('[merchants."london"]')[0]
    config = config_mod.load(write_config(tmp_path, sim, stockholm_only))
    report = await check_mappings(config, ENV)
    assert report.errors == 0
    assert report.notes == ["1 branch(es) are in no mapping file and map by identity: London Bridge"]
    assert [(f.severity, f.field) for f in report.findings] == [
        (WARNING, f"service {seed.PASSPORT}"), (WARNING, "time_zone"), (WARNING, "category")]


async def test_mapping_files_that_do_not_load_are_configuration_problems(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim, '[merchants."m"]\ntime_zone = "Mars/Olympus"\n')
    code, out, err = await run(monkeypatch, capsys, "mappings", "check", "--config", str(config))
    assert code == 2
    assert [line.split(": ", 1)[0] for line in err.splitlines()] == ["error", "error"]
    assert "branch_id is required" in err and "Mars/Olympus" in err
    assert sim.requests == []


async def test_the_example_shipped_for_operators_has_no_errors_against_the_demo_tenant(
    sim: Simulator, tmp_path: pathlib.Path
) -> None:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    path = write_config(tmp_path, sim, mappings=None, default_time_zone="UTC")
    path.write_text(path.read_text() + 'mappings_dir = "mappings"\n')
    report = await check_mappings(config_mod.load(path), ENV)
    assert report.errors == 0
    assert [(f.subject, f.field) for f in report.findings] == [
        ("merchant 'london-bridge'", "services"), ("merchant 'london-bridge'", "category")]


# --- the rules, on catalogues the simulator does not have ------------------------------


def offering(service: str, *, branch: str = "b-1", country: str = "SE", **fields: object) -> Offering:
    values: dict = dict(branch_id=branch, branch_name=f"Branch {branch}", service_id=service, service_name=service,
                        max_reservations=1, online_bookable=True, resource_ids=("r-1",), resource_required=False,
                        branch_address=Address(country=country))
    values.update(fields)
    return Offering(**values)


def findings(merchants: dict[str, MerchantMapping], offerings: list[Offering], *, default_time_zone: str = "UTC",
             rules: Rules = Rules(default_category="hair_salon")) -> list[tuple[str, str, str]]:
    mapper = Mapper(default_tenant="t", default_time_zone=default_time_zone, merchants=merchants)
    return [(f.severity, f.subject, f.field) for f in check(mapper, {"t": offerings}, rules).findings]


def test_a_date_of_birth_or_required_answers_make_a_named_service_an_error() -> None:
    catalogue = [offering("dob", date_of_birth_required=True), offering("form", required_information_questions=1),
                 offering("cut")]
    named = MerchantMapping("b-1", time_zone="Europe/Stockholm", services={"a": "dob", "b": "form", "c": "cut"})
    assert findings({"m": named}, catalogue) == [
        (ERROR, "merchant 'm'", 'services."a"'), (ERROR, "merchant 'm'", 'services."b"')]
    # Without a services table the bridge offers what it can and leaves the rest: a warning.
    every = MerchantMapping("b-1", time_zone="Europe/Stockholm")
    assert findings({"m": every}, catalogue) == [(WARNING, "merchant 'm'", "services")] * 2


def test_time_zone_rules_follow_the_branch_country() -> None:
    us = [offering("cut", country="US")]
    # Several zones in the country: a default that is one of them is the operator's choice...
    assert findings({"m": MerchantMapping("b-1")}, us, default_time_zone="America/Chicago") == []
    # ...but UTC was never chosen, and a zone the country does not keep is a slip.
    assert findings({"m": MerchantMapping("b-1")}, us) == [(ERROR, "merchant 'm'", "time_zone")]
    assert findings({"m": MerchantMapping("b-1", time_zone="Europe/Paris")}, us) == [
        (WARNING, "merchant 'm'", "time_zone")]
    # A country that keeps UTC's time needs nothing set; an alias of the right zone is right.
    iceland = [offering("cut", country="IS")]
    assert findings({"m": MerchantMapping("b-1")}, iceland) == []
    assert findings({"m": MerchantMapping("b-1", time_zone="Europe/Kiev")}, [offering("cut", country="UA")]) == []


def test_a_branch_mapped_twice_and_details_for_no_service_are_warnings() -> None:
    catalogue = [offering("cut")]
    first = MerchantMapping("b-1", time_zone="Europe/Stockholm", services={"cut": "cut"})
    second = MerchantMapping("b-1", time_zone="Europe/Stockholm", services={"cut": "cut"},
                             service_details={"colour": ServiceDetails(description="x")})
    assert findings({"a": first, "b": second}, catalogue) == [
        (WARNING, "merchant 'b'", "branch_id"), (WARNING, "merchant 'b'", 'service_details."colour"')]


def test_a_tenant_whose_catalogue_cannot_be_read_is_named_once_per_merchant() -> None:
    mapper = Mapper(default_tenant="t", default_time_zone="Europe/Stockholm",
                    merchants={"m": MerchantMapping("b-1", tenant_id="other")})
    report = check(mapper, {"t": [], "other": "[upstream] GET /services: upstream refused the read: 403"}, Rules())
    assert [f.line() for f in report.findings] == [
        "error: merchant 'm': tenant_id: its catalogue could not be read: [upstream] GET /services: upstream "
        "refused the read: 403"]


@pytest.mark.parametrize("asks", [{}, {"online_bookable": False}, {"date_of_birth_required": True},
                                  {"required_information_questions": 1}, {"screening_questions": 2}])
def test_each_thing_a_google_booking_cannot_bring_is_named(asks: dict) -> None:
    from bridge.mappings_cli.bookable import why_not

    assert bool(why_not(offering("s", **asks))) == bool(asks)
