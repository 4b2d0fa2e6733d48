"""`booking-bridge mappings discover`: what the tenant offers, as a table or as a mapping
file an operator can edit and the bridge loads as written."""

from __future__ import annotations

import asyncio
import pathlib
import re

import pytest

from bridge import cli, mapping
from bridge.mappings_cli import check_mappings, skeleton
from bridge.simulator import Simulator, seed
from bridge.upstream import Address, Offering

from .harness import ENV


def write_config(tmp_path: pathlib.Path, sim: Simulator, mappings_dir: str = "mappings") -> pathlib.Path:
    (tmp_path / "mappings").mkdir(exist_ok=True)
    path = tmp_path / "bridge.toml"
    path.write_text(
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        f'[booking]\nmappings_dir = "{mappings_dir}"\n'
    )
    return path


async def discover(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
                   ) -> tuple[int, str, str]:
    """The command as an operator runs it; in a thread, so the simulator keeps answering."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(cli.main, ["mappings", "discover", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_without_out_it_prints_each_branch_and_service_and_why_actions_center_cannot_book_it(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await discover(monkeypatch, capsys, "--config", str(write_config(tmp_path, sim)))
    assert (code, err) == (0, "")
    header, _, *lines = out.split("\n\n")[0].splitlines()
    assert re.split(r"\s{2,}", header) == ["BRANCH", "SERVICE", "BOOKABLE", "WHY NOT", "RESOURCES"]
    rows = {(cells[0], cells[1]): cells[2:] for cells in (re.split(r"\s{2,}", line) for line in lines)}
    assert len(rows) == len(lines) == len(seed.OFFERINGS)
    assert rows[("Stockholm Central", "Haircut")] == ["yes", "-", "Anna, Ben"]
    assert rows[("Stockholm Central", "Colour treatment")] == ["no", "not bookable online", "Anna"]
    assert rows[("London Bridge", "Passport photo")] == ["no", "asks screening questions (1)", "David, Emma"]
    assert list((tmp_path / "mappings").iterdir()) == []


async def test_the_written_skeleton_loads_cleanly_maps_every_branch_and_passes_check(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim)
    out_file = tmp_path / "mappings" / "tenant.toml"
    code, out, err = await discover(monkeypatch, capsys, "--config", str(config), "--out", str(out_file))
    assert (code, err) == (0, "")
    assert "2 merchant(s), 3 service(s) Actions Center can book, 3 left commented out" in out

    merchants, problems = mapping.load_dir(out_file.parent)
    assert problems == []
    assert {mid: (m.branch_id, m.time_zone) for mid, m in merchants.items()} == {
        "stockholm-central": (seed.STOCKHOLM, "Europe/Stockholm"),
        "london-bridge": (seed.LONDON, "Europe/London"),
    }
    stockholm, london = merchants["stockholm-central"], merchants["london-bridge"]
    # Only what Actions Center can book is mapped; the rest is there, commented, with the reason.
    assert stockholm.services == {"haircut": seed.HAIRCUT, "consultation": seed.CONSULTATION}
    assert london.services == {"haircut": seed.HAIRCUT}
    text = out_file.read_text()
    assert f'# "passport-photo" = "{seed.PASSPORT}"' in text and "asks screening questions (1)" in text
    assert f'# "colour-treatment" = "{seed.COLOUR}"' in text and "not bookable online" in text
    # Staff by name; Emma serves only London's passport photos, so she is left out too.
    assert stockholm.staff == {"anna": seed.ANNA, "ben": seed.BEN, "carla": seed.CARLA}
    assert london.staff == {"david": seed.DAVID}
    assert f'# "emma" = "{seed.EMMA}"' in text
    # What only the operator can say stays a commented placeholder.
    assert stockholm.category is None and '# category = "..."' in text
    assert f"# [merchants.\"stockholm-central\".service_details.\"consultation\"]" in text

    # Written as discovered, the file has nothing `mappings check` calls an error.
    from bridge import config as config_mod

    report = await check_mappings(config_mod.load(config), ENV)
    assert report.errors == 0
    assert {(f.subject, f.field) for f in report.findings} == {
        ("merchant 'london-bridge'", "category"), ("merchant 'stockholm-central'", "category")}


async def test_it_refuses_to_overwrite_a_file_unless_forced(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim)
    out_file = tmp_path / "mappings" / "tenant.toml"
    out_file.write_text("# hand-edited\n")
    code, out, err = await discover(monkeypatch, capsys, "--config", str(config), "--out", str(out_file))
    assert code == 1
    assert err == f"error: {out_file} exists; pass --force to replace it\n"
    assert out_file.read_text() == "# hand-edited\n"
    assert sim.requests == []  # refused before asking the upstream anything

    code, out, err = await discover(monkeypatch, capsys, "--config", str(config), "--out", str(out_file), "--force")
    assert (code, err) == (0, "")
    assert "[merchants.\"stockholm-central\"]" in out_file.read_text()


async def test_it_adds_to_a_mappings_folder_without_mapping_a_branch_twice(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim)
    (tmp_path / "mappings" / "mine.toml").write_text(
        f'[merchants."london-bridge"]\nbranch_id = "{seed.STOCKHOLM}"\ntime_zone = "Europe/Stockholm"\n')
    out_file = tmp_path / "mappings" / "tenant.toml"
    code, out, err = await discover(monkeypatch, capsys, "--config", str(config), "--out", str(out_file))
    assert (code, err) == (0, "")
    assert "1 branch(es) mapped in other files" in out
    merchants, problems = mapping.load_dir(out_file.parent)
    assert problems == []
    # Stockholm is mapped already; London gets an id the other file does not use.
    assert {mid: m.branch_id for mid, m in merchants.items()} == {
        "london-bridge": seed.STOCKHOLM, "london-bridge-2": seed.LONDON}


async def test_a_folder_the_bridge_does_not_read_is_named(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sim, mappings_dir="elsewhere")
    code, out, _ = await discover(monkeypatch, capsys, "--config", str(config), "--out", str(tmp_path / "t.toml"))
    assert code == 0
    assert "the bridge reads mapping files from [booking] mappings_dir (elsewhere)" in out


def offering(branch: str, service: str, *, country: str = "SE", **fields: object) -> Offering:
    values: dict = dict(branch_id=f"b-{branch}", branch_name=branch, service_id=f"s-{service}", service_name=service,
                        max_reservations=1, online_bookable=True, resource_ids=(), resource_required=False,
                        branch_address=Address(country=country))
    values.update(fields)
    return Offering(**values)


def load(tmp_path: pathlib.Path, text: str) -> dict[str, mapping.MerchantMapping]:
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    merchants, problems = mapping.load_dir(tmp_path)
    assert problems == []
    return merchants


def test_a_country_with_several_times_gets_a_placeholder_not_a_guess(tmp_path: pathlib.Path) -> None:
    written = skeleton.write([offering("Chicago Loop", "Cut", country="US"), offering("Nowhere", "Cut", country=""),
                              offering("Berlin Mitte", "Cut", country="DE")])
    merchants = load(tmp_path, written.text)
    assert merchants["chicago-loop"].time_zone is None
    assert "SET THIS: US keeps more than one time (America/New_York" in written.text
    assert merchants["nowhere"].time_zone is None
    assert "SET THIS: the catalogue gives no country for this branch" in written.text
    # Germany lists two zones, but they keep the same time: no choice to make.
    assert merchants["berlin-mitte"].time_zone == "Europe/Berlin"


def test_every_reason_a_booking_from_google_cannot_satisfy_is_given(tmp_path: pathlib.Path) -> None:
    written = skeleton.write([
        offering("Clinic", "Vaccination", date_of_birth_required=True, required_information_questions=2),
        offering("Clinic", "Check-up"),
    ])
    assert load(tmp_path, written.text)["clinic"].services == {"check-up": "s-Check-up"}
    assert "requires a date of birth; requires answers to information questions (2)" in written.text
    assert (written.services, written.left_out) == (1, 1)


def test_names_become_unique_ids_and_odd_text_cannot_break_the_file(tmp_path: pathlib.Path) -> None:
    written = skeleton.write([
        offering('Göteborg "Centrum"\nNorth', "Klippning", branch_id="b-1", resource_ids=("r-1", "r-2"),
                 resource_names={"r-1": "Åsa", "r-2": "Åsa"}),
        offering("Göteborg Centrum North", "Klippning", branch_id="b-2"),
        offering("!!!", "???", branch_id="b-3abcdefgh", service_id="s-3abcdefgh"),
    ])
    merchants = load(tmp_path, written.text)
    assert sorted(merchants) == ["branch-b-3abcde", "goteborg-centrum-north", "goteborg-centrum-north-2"]
    assert merchants["goteborg-centrum-north"].staff == {"asa": "r-1", "asa-2": "r-2"}
    assert merchants["branch-b-3abcde"].services == {"service-s-3abcde": "s-3abcdefgh"}
