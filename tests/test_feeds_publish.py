"""`feeds publish`, as cron runs it: a real `booking-bridge` process exports from the
simulator into a new folder and uploads that folder to the SFTP dropboxes."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pathlib
import sys


from bridge.simulator import Simulator, seed

from .harness import ENV
from .test_feeds_upload import KEY_ENV, USERNAMES, Dropboxes, client_key, dropboxes  # noqa: F401 (fixtures)


async def test_publish_exports_then_uploads_each_feed_to_its_dropbox(
    tmp_path: pathlib.Path, dropboxes: Dropboxes, sim: Simulator
) -> None:
    key = dropboxes.host_key.export_public_key().decode().strip()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{dropboxes.port} {key}\n")
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        f'[booking]\ndefault_time_zone = "Europe/Stockholm"\n'
        f'[feeds]\ndefault_category = "beauty_salon"\nsftp_host = "127.0.0.1"\nsftp_port = {dropboxes.port}\n'
        f'private_key_env = "{KEY_ENV}"\nknown_hosts_file = "known_hosts"\ndays = 7\n'
        + "".join(f'{kind}_username = "{name}"\n' for kind, name in USERNAMES.items())
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "feeds", "publish", "--config", str(config), "--out", str(tmp_path / "feeds"),
        "--gzip", env={**os.environ, **ENV, KEY_ENV: str(tmp_path / "id_ed25519")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()
    [folder] = list((tmp_path / "feeds").iterdir())
    exported = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(exported) == 3
    for kind, username in USERNAMES.items():
        [(name, data)] = dropboxes.files(username).items()
        assert name.startswith(f"{kind}_") and exported[name] == data
        assert json.loads(gzip.decompress(data))["metadata"]["processing_instruction"] == "PROCESS_AS_COMPLETE"
    assert "Traceback" not in err.decode()
