"""The run's numbers as text tables (one per load: a row per figure, a column per
configuration, each figure with its ratio to the floor's from the same run) and as JSON."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from typing import Any

from . import procs
from .servers import LABELS

Getter = Callable[[dict[str, Any]], Any]


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    import aiohttp
    import grpc

    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "grpcio": grpc.__version__,
        "aiohttp": aiohttp.__version__,
        "bridge_source": _source(),
        "load_average_at_start": os.getloadavg(),
    }


def _source() -> str:
    """The commit the bridge ran from, and whether bridge/ had uncommitted changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(procs.ROOT), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "bridge")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in bridge/' if dirty else ''}" if head else "unknown"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: Any, floor: Any) -> str:
    if value is None or floor is None or floor <= 0:  # a floor that shrank (rss growth) is no yardstick
        return ""
    return f" (×{value / floor:.2f})"


def _rpc(name: str, key: str, part: str | None = None) -> Getter:
    def get(row: dict[str, Any]) -> Any:
        window = row[part] if part else row
        return (window["rpc"].get(name) or {}).get(key)
    return get


def _field(key: str, part: str | None = None) -> Getter:
    return lambda row: (row[part] if part else row).get(key)


def _check(key: str) -> Getter:
    return lambda row: row["check"][key]


# (label, getter, compare with the floor?)
Rows = list[tuple[str, Getter, bool]]


def _booking_rows(unit: str, rpcs: tuple[str, ...], memory: bool = True) -> Rows:
    rows: Rows = [(f"{unit}/s", _field("units_per_second"), True)]
    for name in rpcs:
        rows += [(f"{name} p50 ms", _rpc(name, "p50_ms"), True), (f"{name} p99 ms", _rpc(name, "p99_ms"), True)]
    rows += [
        ("server CPU ms per RPC", _field("server_cpu_ms_per_rpc"), True),
        ("server CPU, cores busy", _field("server_cores_busy"), True),
        *([("peak RSS MiB (per process)", _field("peak_rss_mib"), True)] if memory else []),
        ("upstream calls per RPC", _field("upstream_per_rpc"), True),
        ("simulator CPU, cores busy", _field("sim_cores_busy"), False),
        ("PostgreSQL CPU, cores busy", _field("database_cores_busy"), False),
        ("load client CPU, cores busy", _field("bench_cores_busy"), False),
        (f"{unit} checked upstream", _check("units"), False),
        ("  ended right upstream", _check("right"), False),
        ("  duplicates (2 holds, 1 ref)", _check("duplicates"), False),
        ("  losses (failed RPCs)", _check("losses"), False),
        ("  answered ok, wrong upstream", _check("wrong"), False),
        ("  stray appointments", _check("strays"), False),
    ]
    return rows


LOOKUP_ROWS: Rows = [
    ("first call (fresh server) ms", _rpc("BatchAvailabilityLookup", "p50_ms", "first"), True),
    ("first call upstream calls", _field("upstream_calls", "first"), True),
    ("cold lookups/s", _field("units_per_second", "cold"), True),
    ("cold p50 ms", _rpc("BatchAvailabilityLookup", "p50_ms", "cold"), True),
    ("cold p99 ms", _rpc("BatchAvailabilityLookup", "p99_ms", "cold"), True),
    ("cold upstream calls per RPC", _field("upstream_per_rpc", "cold"), True),
    ("cold server CPU ms per RPC", _field("server_cpu_ms_per_rpc", "cold"), True),
    ("warm lookups/s", _field("units_per_second", "warm"), True),
    ("warm p50 ms", _rpc("BatchAvailabilityLookup", "p50_ms", "warm"), True),
    ("warm p99 ms", _rpc("BatchAvailabilityLookup", "p99_ms", "warm"), True),
    ("warm upstream calls per RPC", _field("upstream_per_rpc", "warm"), True),
    ("warm server CPU ms per RPC", _field("server_cpu_ms_per_rpc", "warm"), True),
    ("peak RSS MiB (per process)", _field("peak_rss_mib"), True),
    ("lookups checked", _check("lookups"), False),
    ("  slots answered unavailable", _check("answered_unavailable"), False),
    ("  losses (failed RPCs)", _check("losses"), False),
]


V0_RPCS = ("CreateLease", "CreateBooking", "UpdateBooking cancel")


def _rss(*keys: Any) -> Getter:
    def get(row: dict[str, Any]) -> Any:
        value = row["rss"]
        for key in keys:
            value = value[key]
        return value
    return get


def _rss_rows(marks: list[int]) -> Rows:
    """The rss load (bench/v0_memory.py): the readings first, then the run's figures."""
    span = f"{marks[0]:,} → {marks[-1]:,}"
    rows: Rows = [("RSS MiB at start (no traffic yet)", _rss("start", "rss_mib"), True)]
    rows += [(f"RSS MiB at {m:,} RPCs", _rss("readings", i, "rss_mib"), True) for i, m in enumerate(marks)]
    rows += [
        (f"RSS growth MiB, {span}", _rss("growth_mib"), True),
        (f"RSS growth %, {span} (target ≤ 10)", _rss("growth_pct"), True),
        ("peak RSS MiB (VmHWM)", _field("peak_rss_mib"), True),
        ("wall time s", _field("seconds"), True),
        ("RPCs", _field("rpcs"), False),
    ]
    return rows + _booking_rows("flows", V0_RPCS, memory=False)


def rows_for(load: str, settings: dict[str, Any] | None = None) -> Rows:
    if load == "rss":
        return _rss_rows((settings or {}).get("rss_rpcs") or [10_000, 100_000])
    if load == "v0":
        return _booking_rows("flows", V0_RPCS)
    if load == "v3book":
        return _booking_rows("bookings", ("CreateBooking",))
    return LOOKUP_ROWS


def table(load: str, title: str, by_config: dict[str, dict[str, Any]], settings: dict[str, Any] | None = None
          ) -> list[str]:
    configs = list(by_config)
    floor = by_config.get("floor") if by_config.get("floor", {}).get("status") == "ok" else None
    header = ["", *(LABELS[c] for c in configs)]
    body = []
    for label, get, compare in rows_for(load, settings):
        cells = [label]
        for config in configs:
            row = by_config[config]
            if row["status"] != "ok":
                cells.append(row["status"])
                continue
            value = _safe(get, row)
            ratio = _ratio(value, _safe(get, floor)) if compare and floor is not None and config != "floor" else ""
            cells.append(_num(value) + ratio)
        body.append(cells)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    out = [f"### {title}", "", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(cells) for cells in body]
    out += _notes(by_config)
    return out


def _safe(get: Getter, row: dict[str, Any] | None) -> Any:
    if row is None:
        return None
    try:
        return get(row)
    except (KeyError, TypeError, IndexError):
        return None


def _notes(by_config: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for config, row in by_config.items():
        if row["status"] != "ok":
            notes.append(f"- {LABELS[config]}: {row['status']}: {row.get('reason', '')}")
            continue
        windows = [(k, row[k]) for k in ("first", "cold", "warm")] if "cold" in row else [("", row)]
        for name, w in windows:
            rpcs = w["rpcs"] or 1
            ops = ", ".join(f"{op} {n / rpcs:.2f}" for op, n in w["upstream_by_op"].items()) or "none"
            notes.append(f"- {LABELS[config]}{' ' + name if name else ''}: upstream per RPC: {ops}")
            if w.get("exhausted"):
                notes.append(f"- {LABELS[config]}{' ' + name if name else ''}: ran out of distinct work "
                             f"after {w['seconds']:.1f} s")
        if "rss" in row and row["rss"]["growth_pct"] is not None:
            r = row["rss"]
            marks = r["marks"]
            verdict = "within" if r["growth_pct"] <= r["target_pct"] else "OVER"
            notes.append(f"- {LABELS[config]}: VmRSS {r['readings'][0]['rss_mib']:.1f} → "
                         f"{r['readings'][-1]['rss_mib']:.1f} MiB from {marks[0]:,} to {marks[-1]:,} RPCs: "
                         f"{r['growth_mib']:+.1f} MiB, {r['growth_pct']:+.1f} % ({verdict} the "
                         f"{r['target_pct']:g} % target); {r['slots']:,} slots at {r['tenant'][0]} branches "
                         f"× {r['tenant'][1]} days")
        failures = row.get("failures") or {**row.get("cold", {}).get("failures", {}),
                                           **row.get("warm", {}).get("failures", {})}
        if failures:
            notes.append(f"- {LABELS[config]}: failed RPCs: " + ", ".join(f"{k} ×{v}" for k, v in failures.items()))
    return [""] + notes if notes else []


def render(result: dict[str, Any], titles: dict[str, str]) -> str:
    m = result["machine"]
    s = result["settings"]
    lines = [
        "## booking-bridge load bench",
        "",
        f"machine: {m['cores']} cores ({m['cores_usable']} usable), {m['cpu_model']}; Python {m['python']}; "
        f"grpcio {m['grpcio']}, aiohttp {m['aiohttp']}; {m['platform']}",
        f"bridge: {m['bridge_source']}" + (f"; {result['postgres']}" if result.get("postgres") else "")
        + "; load average at start " + " ".join(f"{x:.2f}" for x in m["load_average_at_start"]),
        f"settings: {s['seconds']:g} s per load window, {s['workers']} workers for the booking loads, "
        f"{s['lookup_workers']} for the lookups; simulator, servers and load client each a process, on the "
        f"same machine; wall time {result['wall_seconds']:.0f} s",
        "ratios: (×n) is the figure divided by the floor's in this run",
    ]
    if s.get("rss_rpcs"):
        lines.append(f"rss: one server, {s['workers']} workers, VmRSS read as "
                     f"{' and '.join(f'{n:,}' for n in s['rss_rpcs'])} RPCs have completed; one slot per flow "
                     f"({s['rss_tenant'][0]} branches × {s['rss_tenant'][1]} days), shuffled")
    lines.append("")
    for load, by_config in result["loads"].items():
        lines += table(load, titles[load], by_config, s) + [""]
    return "\n".join(lines)


def problems(result: dict[str, Any]) -> list[str]:
    """What must be zero and is not, per pair that ran."""
    found = []
    for load, by_config in result["loads"].items():
        for config, row in by_config.items():
            if row["status"] == "failed":
                found.append(f"{load} / {LABELS[config]}: failed")
                continue
            if row["status"] != "ok":
                continue
            if any(row.get("exit_codes") or []):
                found.append(f"{load} / {LABELS[config]}: server exit codes {row['exit_codes']}")
            check = row["check"]
            for key in ("duplicates", "losses", "wrong", "strays", "answered_unavailable"):
                if check.get(key):
                    found.append(f"{load} / {LABELS[config]}: {key} {check[key]}")
    return found
