"""`python -m bench` end to end, in its quickest form: the floor and the bridge on SQLite
under the v0 flow load for a second. It proves the bench runs and that every flow ended
confirmed-then-cancelled upstream with nothing lost or doubled; it asserts nothing about
timings (the numbers only have to be there)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the bench reads CPU and memory from /proc")


def test_quick_bench_produces_the_numbers_and_loses_nothing(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "bench.json"
    # bench/ is not installed: the checkout is appended to sys.path, so `bridge` stays the
    # one the suite tests (installed or editable).
    boot = (f"import runpy, sys; sys.path.append({str(ROOT)!r}); "
            "runpy.run_module('bench', run_name='__main__', alter_sys=True)")
    done = subprocess.run(
        [sys.executable, "-c", boot, "--quick", "--only", "floor,sqlite,v0", "--seconds", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| flows/s" in done.stdout and "(×" in done.stdout  # the table, with ratios to the floor
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] and result["machine"]["python"]
    assert result["problems"] == []
    for config in ("floor", "sqlite"):
        row = result["loads"]["v0"][config]
        assert row["status"] == "ok", row
        assert row["units"] > 0 and row["units_per_second"] > 0
        for rpc in ("CreateLease", "CreateBooking", "UpdateBooking cancel"):
            assert row["rpc"][rpc]["count"] > 0 and row["rpc"][rpc]["p99_ms"] is not None
        assert row["server_cpu_ms_per_rpc"] is not None and row["peak_rss_mib"] > 0
        assert row["upstream_per_rpc"] is not None and row["upstream_per_rpc"] > 0
        assert row["failed_rpcs"] == 0
        check = row["check"]
        assert check["units"] > 0 and check["right"] == check["units"]
        assert check["duplicates"] == check["losses"] == check["wrong"] == check["strays"] == 0
