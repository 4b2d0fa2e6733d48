"""The tests exercise the installed booking-bridge, not whatever folder sits on sys.path.

CI installs the project non-editable, so the code under test is the code that ships. That
only holds while nothing puts the checkout ahead of site-packages: pytest's rootdir
insertion, or a child `python -m bridge` started with the checkout as its working
directory. An editable install (a developer's) resolves to the checkout, and that is fine.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import urllib.parse
import urllib.request

import pytest

import bridge

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bridge"
DISTRIBUTION = "booking-bridge"
SITE = sorted({pathlib.Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")})


def installed_init() -> pathlib.Path:
    """Where the installed distribution says bridge/__init__.py is."""
    # Looked up in site-packages only: with the checkout on sys.path, a plain lookup would
    # find the booking_bridge.egg-info that building leaves there, and agree with anything.
    found = list(importlib.metadata.distributions(name=DISTRIBUTION, path=[str(p) for p in SITE]))
    assert len(found) == 1, f"{DISTRIBUTION} is installed {len(found)} times in {SITE}: pip install it (see README)"
    dist = found[0]
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct_url.get("dir_info", {}).get("editable"):
        folder = urllib.request.url2pathname(urllib.parse.urlsplit(direct_url["url"]).path)
        return (pathlib.Path(folder) / "bridge" / "__init__.py").resolve()
    recorded = [f for f in dist.files or () if f.as_posix() == "bridge/__init__.py"]
    assert recorded, f"{DISTRIBUTION}'s RECORD does not list bridge/__init__.py"
    return pathlib.Path(dist.locate_file(recorded[0])).resolve()


def test_bridge_is_imported_from_the_installed_distribution() -> None:
    assert pathlib.Path(bridge.__file__).resolve() == installed_init()


@pytest.mark.skipif(not os.environ.get("CI"), reason="outside CI an editable install (the checkout) is fine")
def test_ci_tests_the_installed_wheel_not_the_checkout() -> None:
    here = pathlib.Path(bridge.__file__).resolve()
    assert not here.is_relative_to(SOURCE), f"bridge comes from the checkout: {here}"
    assert any(here.is_relative_to(folder) for folder in SITE), f"bridge is not in site-packages: {here}"


def test_child_processes_import_the_same_bridge() -> None:
    # As the tests start `python -m bridge ...`: the same interpreter, the environment and
    # the checkout as working directory. `-c` puts the working directory on sys.path
    # exactly as `-m` does, unless PYTHONSAFEPATH is set.
    result = subprocess.run(
        [sys.executable, "-c", "import bridge; print(bridge.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    child = pathlib.Path(result.stdout.strip()).resolve()
    assert child == pathlib.Path(bridge.__file__).resolve(), (
        "a child `python -m bridge` started in the checkout imports another bridge; "
        "run the tests as the README says (PYTHONSAFEPATH=1 pytest)"
    )
