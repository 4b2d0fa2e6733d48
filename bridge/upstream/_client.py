"""The Qmatic client: every upstream path, header and body the bridge uses."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from ..http1 import default_transport
from ..errortable import ErrorTable
from ..failures import BridgeError, Cause, OutcomeUnknown
from ..metrics import Metrics
from . import _models as m
from ._errors import NOUNS, error_for
from ._exchange import Answered, Outgoing, Sender, budget, capped_phases, direct, json_body, send, template, through
from ._retry import RETRY_STATUSES, RetryableAnswer, call, never_left
from ._token import TokenSource

if TYPE_CHECKING:
    # bridge.config imports the core, which imports this package.
    from ..config import UpstreamConfig

T = TypeVar("T")

READ = "read"


class QmaticClient:
    """One per process: it owns the connection pool and the cached token.

    Failures are ``BridgeError``; a state-changing call that may have reached Qmatic
    without an answer raises ``OutcomeUnknown`` so the caller reconciles first.
    """

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        client_id: str,
        client_secret: str,
        errors: ErrorTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ):
        """``metrics``: where every exchange is counted (the Bridge's; a private one if None)."""
        self._config = config
        self._metrics = metrics if metrics is not None else Metrics()
        self._errors = errors if errors is not None else ErrorTable(config.error_rules)
        self._timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.read_timeout,
            write=config.read_timeout,
            pool=config.connect_timeout,
        )
        chosen = transport if transport is not None else default_transport()
        self._http = httpx.AsyncClient(base_url=config.base_url, transport=chosen, timeout=self._timeout)
        # API calls skip the client's machinery (see _exchange.direct), unless a proxy in
        # the environment left the choice of transport to httpx.
        self._sender: Sender = through(self._http) if chosen is None else direct(chosen)
        self._base = str(self._http.base_url).rstrip("/")
        # The client's default headers but Accept, which every call sets itself.
        self._defaults = {k: v for k, v in self._http.headers.items() if k != "accept"}
        self._tokens = TokenSource(
            self._http,
            url=config.token_url,
            account=config.account,
            client_id=client_id,
            client_secret=client_secret,
            timeout=self._timeout,
            monotonic=monotonic,
            metrics=self._metrics,
        )
        # How retries wait; tests swap it to run without real pauses.
        self._sleep: Callable[[float], Any] = asyncio.sleep

    def __repr__(self) -> str:
        return f"QmaticClient({self._config.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> QmaticClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- catalogue --------------------------------------------------------------------

    async def services(self, tenant: str) -> list[m.Offering]:
        response = await self._call(tenant, READ, "GET", "/services", catalogue=True)
        return self._parse(response, READ, m.parse_offerings)

    async def groups(self, tenant: str) -> m.ServiceGroups:
        response = await self._call(tenant, READ, "GET", "/services/groups", catalogue=True)
        return self._parse(response, READ, m.parse_groups)

    async def branches(self, tenant: str, service_id: str) -> list[m.ServiceBranch]:
        """The branches that offer one service (``GET /services/{serviceId}``)."""
        path = f"/services/{_seg(service_id)}"
        response = await self._call(tenant, READ, "GET", path, catalogue=True)
        return self._parse(response, READ, m.parse_service_branches)

    async def timeslots(
        self,
        tenant: str,
        *,
        service_id: str,
        branch_id: str,
        day: datetime.date,
        count: int = 1,
        resource_id: str | None = None,
    ) -> list[tuple[datetime.datetime, datetime.datetime]]:
        params = {"branchId": branch_id, "numberOfReservations": str(count), "date": day.isoformat()}
        if resource_id is not None:
            params["requestedResourceId"] = resource_id
        path = f"/services/{_seg(service_id)}/timeslots"
        response = await self._call(tenant, READ, "GET", path, params=params, catalogue=True)
        return self._parse(response, READ, m.parse_timeslots)

    # --- hold, confirm, release -------------------------------------------------------

    async def hold(
        self,
        tenant: str,
        *,
        service_id: str,
        branch_id: str,
        start: datetime.datetime,
        end: datetime.datetime,
        count: int = 1,
        resource_id: str | None = None,
        notes: str | None = None,
    ) -> m.Appointment:
        body = m.hold_body(
            service_id=service_id,
            branch_id=branch_id,
            start=start,
            end=end,
            count=count,
            resource_id=resource_id,
            notes=notes,
        )
        response = await self._call(tenant, "hold", "POST", "/reservations", json=body)
        return self._parse(response, "hold", m.parse_appointment)

    async def confirm(self, tenant: str, appointment_id: str, customer: m.Customer) -> m.Appointment:
        body = {"customer": m.customer_json(customer)}
        response = await self._call(tenant, "confirm", "PUT", f"/reservations/{_seg(appointment_id)}", json=body)
        return self._parse(response, "confirm", m.parse_appointment)

    async def release(self, tenant: str, appointment_id: str) -> None:
        await self._call(tenant, "release", "DELETE", f"/reservations/reservations/{_seg(appointment_id)}")

    # --- appointments -----------------------------------------------------------------

    async def get_appointment(self, tenant: str, appointment_id: str) -> m.Appointment:
        response = await self._call(tenant, READ, "GET", f"/appointments/{_seg(appointment_id)}")
        return self._parse(response, READ, m.parse_appointment)

    async def search(self, tenant: str, personal_identifier: str) -> list[m.Appointment]:
        # A POST, but it changes nothing: retried like a read.
        body = m.search_body(personal_identifier)
        response = await self._call(tenant, READ, "POST", "/appointments/search", json=body)
        return self._parse(response, READ, m.parse_appointments)

    async def cancel(self, tenant: str, appointment_id: str) -> None:
        await self._call(tenant, "cancel", "DELETE", f"/appointments/{_seg(appointment_id)}")

    async def update_customer(self, tenant: str, appointment_id: str, customer: m.Customer) -> None:
        body = m.customer_json(customer)
        await self._call(tenant, "customer", "PUT", f"/appointments/{_seg(appointment_id)}/customer", json=body)

    async def reschedule(self, tenant: str, appointment_id: str, reservation_id: str) -> m.Appointment:
        body = m.reschedule_body(reservation_id)
        path = f"/appointments/{_seg(appointment_id)}/reschedule"
        response = await self._call(tenant, "reschedule", "PUT", path, json=body)
        return self._parse(response, "reschedule", m.parse_appointment)

    async def probe(self) -> None:
        """Raise BridgeError unless a token can be had and the catalogue answers."""
        if not self._config.tenant_id:
            raise BridgeError(Cause.INTERNAL, "no upstream tenant_id is configured")
        # Only reachability: a catalogue entry the parser dislikes is not an outage.
        await self._call(self._config.tenant_id, READ, "GET", "/services", catalogue=True)

    # --- plumbing ---------------------------------------------------------------------

    async def _call(
        self,
        tenant: str,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        catalogue: bool = False,
    ) -> Answered:
        if not tenant:
            raise ValueError("a tenant id is required")
        state_changing = operation != READ
        headers = {"X-TENANT-ID": tenant, "Accept": "application/json"}
        if catalogue:
            headers["Accept-Language"] = self._config.language
        request = _Request(method, path, headers, json, params)
        noun = NOUNS[operation]
        try:
            response: Answered = await call(
                self._attempt, request, not state_changing,
                max_attempts=self._config.max_attempts, idempotent=not state_changing, sleep=self._sleep,
            )
        except RetryableAnswer as exc:
            status = exc.response.status_code
            raise BridgeError(Cause.UNAVAILABLE, f"upstream stayed busy for the {noun} ({method} {path}: {status})") from None
        except httpx.TransportError as exc:
            failure = type(exc).__name__
            if not state_changing or never_left(exc):
                raise BridgeError(Cause.UNAVAILABLE, f"upstream unreachable for the {noun} ({method} {path}: {failure})") from exc
            raise OutcomeUnknown(
                f"the {noun} may have reached upstream but no answer came back ({method} {path}: {failure})"
            ) from exc
        if response.is_success:
            return response
        raise error_for(response, operation, self._errors, state_changing=state_changing)

    async def _attempt(self, request: _Request, idempotent: bool) -> Answered:
        token = await self._tokens.get()
        response = await self._send(request, token)
        if response.status_code == 401:
            # The 401 proves the request was refused, so even a state-changing call may
            # be repeated, once, with a fresh token.
            self._tokens.invalidate(token)
            token = await self._tokens.get()
            response = await self._send(request, token)
            if response.status_code == 401:
                raise BridgeError(
                    Cause.UNAVAILABLE,
                    f"upstream refused a freshly issued token ({request.method} {request.path}: 401)",
                )
        if idempotent and response.status_code in RETRY_STATUSES:
            raise RetryableAnswer(response)
        return response

    async def _send(self, request: _Request, token: str) -> Answered:
        allowed = budget(f"{request.method} {request.path}")
        # Built directly: the client's build_request (base URL join, cookie header, header
        # merging) cost about 160 µs a request, and an httpx.Request alone about 40.
        headers = {**self._defaults, **request.headers, "Authorization": f"Bearer {token}"}
        content = None
        if request.json is not None:
            content = json_body(request.json)
            headers["Content-Type"] = "application/json"
        url = self._base + request.path
        if request.params:
            url += "?" + str(httpx.QueryParams(request.params))
        built = Outgoing(request.method, url, headers, content, capped_phases(self._timeout, allowed))
        operation = template(request.method, request.path)
        return await send(self._sender, built, allowed, operation=operation, metrics=self._metrics)

    def _parse(self, response: Answered, operation: str, parse: Callable[[Any], T]) -> T:
        try:
            try:
                data = response.json()
            except ValueError:
                raise m.Malformed("answer (not JSON)") from None
            return parse(data)
        except m.Malformed as exc:
            if operation == READ:
                raise
            # Upstream said it did it: the change is made, only its echo is unreadable.
            # The caller must look the appointment up rather than report a failure.
            raise OutcomeUnknown(
                f"upstream accepted the {NOUNS[operation]} ({response.status_code}) but {exc.message.removeprefix('upstream ')}"
            ) from exc


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    # The body may hold a customer's details.
    json: Any = field(default=None, repr=False)
    params: dict[str, str] | None = None


def _seg(value: str) -> str:
    """An id as one path segment; an id holding '/' must not reach another endpoint."""
    if not value:
        raise ValueError("an upstream id must not be empty")
    return quote(value, safe="")
