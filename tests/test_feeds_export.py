"""`feeds export` against the simulator: files as the feed specification lays them out,
sharded without splitting a record, and nothing left under a final name on failure."""

from __future__ import annotations

import gzip
import json
import pathlib

import pytest

from bridge.clock import ManualClock
from bridge.inventory.feeds.export import ExportError, export
from bridge.simulator import Simulator, seed

from .harness import ENV, bridge_config

METADATA = {"processing_instruction", "shard_number", "total_shards", "nonce", "generation_timestamp"}


def load(path: pathlib.Path) -> dict:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return json.loads(raw)


def by_kind(files: list[pathlib.Path]) -> dict[str, list[pathlib.Path]]:
    kinds: dict[str, list[pathlib.Path]] = {}
    for f in sorted(files):
        kinds.setdefault(f.name.split("_", 1)[0], []).append(f)
    return kinds


async def exported(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path, **kw) -> tuple[list[pathlib.Path], object]:
    config = bridge_config(sim, tmp_path / "unused.sqlite3")
    done = await export(config, tmp_path / "feeds", environ=ENV, clock=clock, days=kw.pop("days", 3), **kw)
    return done.files, done


async def test_each_feed_is_one_shard_with_the_specified_fields(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    files, done = await exported(sim, clock, tmp_path)
    kinds = by_kind(files)
    assert set(kinds) == {"merchants", "services", "availability"}
    assert sorted(p.name for p in (tmp_path / "feeds").iterdir()) == sorted(f.name for f in files)  # no leftovers
    feeds = {kind: load(paths[0]) for kind, paths in kinds.items()}
    nonces = {f["metadata"]["nonce"] for f in feeds.values()}
    assert len(nonces) == 1 and next(iter(nonces)) > 0
    for kind, feed in feeds.items():
        assert set(feed["metadata"]) == METADATA
        assert feed["metadata"]["processing_instruction"] == "PROCESS_AS_COMPLETE"
        assert (feed["metadata"]["shard_number"], feed["metadata"]["total_shards"]) == (0, 1)
        assert feed["metadata"]["generation_timestamp"] == int(clock.now().timestamp())

    merchants = feeds["merchants"]["merchant"]
    assert [m["merchant_id"] for m in merchants] == sorted(seed.BRANCHES)
    stockholm = next(m for m in merchants if m["merchant_id"] == seed.STOCKHOLM)
    assert {"merchant_id", "name", "geo", "category"} <= set(stockholm)
    assert stockholm["name"] == "Stockholm Central"
    assert stockholm["geo"]["address"] == {"country": "SE", "locality": "Stockholm", "postal_code": "111 20",
                                           "street_address": "Vasagatan 1"}
    assert (stockholm["geo"]["latitude"], stockholm["geo"]["longitude"]) == (59.3306, 18.0586)

    services = feeds["services"]["service"]
    haircut = next(s for s in services if (s["merchant_id"], s["service_id"]) == (seed.STOCKHOLM, seed.HAIRCUT))
    assert haircut["localized_service_name"] == {"value": "Haircut"}

    slots = [slot for record in feeds["availability"]["service_availability"] for slot in record["availability"]]
    assert len(slots) == done.slots > 0
    for slot in slots:
        assert {"merchant_id", "service_id", "start_sec", "duration_sec", "spots_total", "spots_open"} <= set(slot)
        assert slot["duration_sec"] > 0 and slot["spots_open"] == slot["spots_total"] == 1
        assert slot["start_sec"] > clock.now().timestamp()
        assert not any(key.endswith("_restrict") for key in slot)


async def test_small_shards_split_between_records_and_share_one_upload(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    whole, _ = await exported(sim, clock, tmp_path / "whole")
    sharded, _ = await exported(sim, clock, tmp_path / "sharded", max_shard_bytes=4096, gzip=True)
    kinds = by_kind(sharded)
    assert len(kinds["availability"]) > 2
    metas = [load(p)["metadata"] for paths in kinds.values() for p in paths]
    assert len({(m["nonce"], m["generation_timestamp"]) for m in metas}) == 1
    assert len({p.name for p in sharded}) == len(sharded)
    for kind, paths in kinds.items():
        shards = [load(p) for p in paths]  # each one valid JSON alone
        assert [s["metadata"]["shard_number"] for s in shards] == list(range(len(paths)))
        assert {s["metadata"]["total_shards"] for s in shards} == {len(paths)}
        key = next(k for k in shards[0] if k != "metadata")
        split = [r for s in shards for r in s[key]]
        [single] = by_kind(whole)[kind]
        assert split == load(single)[key]  # same records, none cut in two, none lost


async def test_an_upstream_failure_midway_leaves_nothing_under_a_final_name(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    sim.faults.add(method="GET", path=rf"/services/{seed.HAIRCUT}/timeslots", action="status", status=500, times=None)
    with pytest.raises(ExportError, match="the upstream failed midway"):
        await exported(sim, clock, tmp_path)
    assert list((tmp_path / "feeds").iterdir()) == []
