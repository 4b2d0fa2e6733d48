"""Every Prometheus metric the bridge keeps, on a registry of its own per Bridge.

Per instance, not the module-level default registry: a test process starts many
bridges, each scrape must show only its own bridge's counts, and creating a second
bridge must not fail on a name already registered. One ``Metrics`` is made when a
Bridge opens and handed to what counts (the upstream client, the core, the inventory,
the fronts); code run without one (the CLI's one-shot commands, unit tests) gets a fresh
private instance, which nobody scrapes.

Gauges that are a fact about the store (the outbox depth, the watcher's lag) are read
when scraped, by the callbacks in ``on_scrape``, rather than kept up to date on every
change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger("bridge.metrics")

# No "<name>_created" series beside every counter: they double the scrape for a value
# (process start) that Prometheus already knows from the series' first sample.
prometheus_client.disable_created_metrics()

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

GRPC_LABELS = ("grpc_service", "grpc_method", "grpc_type")


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        # Callbacks that set gauges from the store just before each scrape.
        self.on_scrape: list[Callable[[], Awaitable[None]]] = []

        # --- the fronts (names as go-grpc-prometheus and most HTTP exporters spell them) ---
        self.grpc_started = Counter(
            "grpc_server_started", "gRPC calls started.", GRPC_LABELS, registry=r)
        self.grpc_handled = Counter(
            "grpc_server_handled", "gRPC calls completed, by status code.", (*GRPC_LABELS, "grpc_code"), registry=r)
        self.grpc_seconds = Histogram(
            "grpc_server_handling_seconds", "Time to answer a gRPC call.", GRPC_LABELS, registry=r)
        self.http_requests = Counter(
            "http_requests", "REST calls, by v3 method (or path template) and HTTP status.", ("method", "code"),
            registry=r)
        self.http_seconds = Histogram(
            "http_request_duration_seconds", "Time to answer a REST call.", ("method",), registry=r)

        # --- the upstream (Qmatic) -----------------------------------------------------------
        self.upstream_requests = Counter(
            "bridge_upstream_requests", "HTTP exchanges with Qmatic, by operation (path template) and status "
            "(HTTP status, or the transport failure).", ("operation", "status"), registry=r)
        self.upstream_seconds = Histogram(
            "bridge_upstream_request_seconds", "Time of one HTTP exchange with Qmatic.", ("operation",), registry=r)
        self._upstream: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.token_fetches = Counter(
            "bridge_upstream_token_fetches", "OAuth2 token requests to Qmatic, by outcome.", ("outcome",), registry=r)

        # --- the core ----------------------------------------------------------------------------
        self.leases_created = Counter(
            "bridge_leases_created", "Leases whose upstream hold was placed.", registry=r)
        self.leases_expired = Counter(
            "bridge_leases_expired", "Bookings asked for on a lease found expired (its hold given back).",
            registry=r)
        self.idempotent_replays = Counter(
            "bridge_idempotent_replays", "Calls answered from an earlier identical call, nothing sent upstream.",
            ("operation",), registry=r)
        self.booking_failures = Counter(
            "bridge_booking_failures", "Calls answered with a booking failure (v0: the status it maps to), by cause.",
            ("cause",), registry=r)

        # --- keeping Google in step ---------------------------------------------------------
        self.watch_lag = Gauge(
            "bridge_watcher_lag_seconds", "How far the most overdue watched booking is behind its read time.",
            registry=r)
        self.outbox_pending = Gauge(
            "bridge_outbox_pending", "Booking notifications not yet delivered to Google.", registry=r)
        self.notifications = Counter(
            "bridge_notifications", "Booking notification attempts, by outcome (sent, retry, dropped, dead_lettered).",
            ("outcome",), registry=r)
        self.availability_replaces = Counter(
            "bridge_availability_replaces", "availability:replace calls to Google, by outcome (sent, retry, refused).",
            ("outcome",), registry=r)
        self.feed_exports = Counter(
            "bridge_feed_exports", "Feed set exports, by outcome (ok, failed).", ("outcome",), registry=r)
        self.feed_slots = Counter(
            "bridge_feed_slots_exported", "Availability slots written into exported feeds.", registry=r)

    def upstream_series(self, operation: str, status: str) -> tuple[Any, Any]:
        """The count and the time series of one upstream exchange, looked up once: ``labels``
        takes a lock and builds its key on every call, twice per upstream call. Operations
        (path templates) and statuses (HTTP statuses, transport failures) are few."""
        found = self._upstream.get((operation, status))
        if found is None:
            found = self._upstream[(operation, status)] = (
                self.upstream_requests.labels(operation, status), self.upstream_seconds.labels(operation))
        return found

    async def scrape(self) -> bytes:
        """The text exposition, with the store-backed gauges read now."""
        for refresh in self.on_scrape:
            try:
                await refresh()
            except Exception:  # one unreadable gauge must not hide every other metric
                log.exception("a metric could not be read")
        return prometheus_client.generate_latest(self.registry)
