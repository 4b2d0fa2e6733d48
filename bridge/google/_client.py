"""MapsBookingClient: the bridge's calls to Google's Maps Booking API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

from ..http1 import default_transport
from ..clock import Clock, SystemClock
from . import _wire as wire
from ._batches import plan_calls
from ._credentials import ServiceAccount
from ._errors import GoogleCredentialsError, GoogleNotFound, GoogleRejected, GoogleUnavailable
from ._exchange import send, timeout_for
from ._models import AvailabilityWindow, BookingUpdate
from ._retry import Backoff, Busy, policy, retryable_status
from ._token import AccessTokens

T = TypeVar("T")

PRODUCTION_API = "https://mapsbooking.googleapis.com"
SANDBOX_API = "https://partnerdev-mapsbooking.googleapis.com"


class MapsBookingClient:
    """One per process: it owns the connection pool and the cached access token.

    Failures are the ``GoogleError`` tree of ``bridge.google._errors``.
    """

    def __init__(
        self,
        partner_id: str,
        api_base_url: str,
        account: ServiceAccount,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        max_slots_per_call: int = 1000,
        backoff: Backoff = Backoff(),
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        if not partner_id:
            raise ValueError("partner_id must not be empty")
        if not api_base_url.startswith(("https://", "http://")):
            raise ValueError("api_base_url must be an http(s) URL")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if max_slots_per_call < 1:
            raise ValueError("max_slots_per_call must be at least 1")
        self._partner = partner_id
        self._base = api_base_url.rstrip("/")
        self._max_attempts = max_attempts
        self._max_slots = max_slots_per_call
        self._backoff = backoff
        # Retries wait through this; tests pass one that records and returns at once.
        self._sleep = sleep
        self._timeout = httpx.Timeout(timeout)
        self._http = httpx.AsyncClient(transport=transport if transport is not None else default_transport(), timeout=self._timeout)
        self._tokens = AccessTokens(self._http, account, clock=clock or SystemClock(), timeout=self._timeout)

    def __repr__(self) -> str:
        return f"MapsBookingClient({self._partner!r}, {self._base!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MapsBookingClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def notify(self, update: BookingUpdate) -> None:
        """Tell Google a booking changed (its status, time, duration or party size)."""
        url = wire.notification_url(self._base, self._partner, update)
        body = wire.notification_body(self._partner, update)
        await self._call("booking notification", "PATCH", url, wire.NOTIFICATION_PATH, body)

    async def replace_availability(self, windows: Sequence[AvailabilityWindow]) -> int:
        """Publish ``windows``; returns how many calls it took.

        Calls go one after the other. When one fails, those before it have taken effect
        and those after it were not sent; sending the same windows again is safe.
        """
        calls = plan_calls(windows, self._max_slots)
        url = wire.replace_url(self._base, self._partner)
        for batch in calls:
            await self._call("availability replace", "POST", url, wire.REPLACE_PATH, wire.replace_body(batch))
        return len(calls)

    async def check(self) -> None:
        """Raise unless the service account gets an access token (a startup check)."""
        await self._retrying("token check", self._tokens.get)

    # --- plumbing ---------------------------------------------------------------------

    async def _call(self, what: str, method: str, url: str, template: str, body: Any) -> None:
        response = await self._retrying(what, self._attempt, method, url, template, body)
        if response.is_success:
            return
        reason, message = wire.google_error(response)
        status = response.status_code
        error = GoogleNotFound if status == 404 else GoogleRejected
        raise error(status, message, reason=reason, call=what)

    async def _retrying(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        retrying = policy(max_attempts=self._max_attempts, backoff=self._backoff, sleep=self._sleep)
        try:
            return await retrying(fn, *args)
        except Busy as exc:
            raise GoogleUnavailable(self._gave_up(what, retrying, exc.said)) from None
        except httpx.TransportError as exc:
            raise GoogleUnavailable(self._gave_up(what, retrying, type(exc).__name__)) from exc

    @staticmethod
    def _gave_up(what: str, retrying: Any, last: str) -> str:
        attempts = retrying.statistics.get("attempt_number", 1)
        return f"Google stayed unavailable for the {what}: {attempts} attempt(s), the last: {last}"

    async def _attempt(self, method: str, url: str, template: str, body: Any) -> httpx.Response:
        token = await self._tokens.get()
        response = await self._send(method, url, template, body, token)
        if response.status_code == 401:
            # The token may have been revoked or our clock may run slow: one fresh token,
            # one repeat.
            self._tokens.invalidate(token)
            token = await self._tokens.get()
            response = await self._send(method, url, template, body, token)
            if response.status_code == 401:
                reason, message = wire.google_error(response)
                raise GoogleCredentialsError(
                    f"Google refused a freshly issued access token ({method} {template}: 401"
                    + (f" {reason}" if reason else "")
                    + (f": {message})" if message else ")")
                )
        if retryable_status(response.status_code):
            reason, message = wire.google_error(response)
            said = " ".join(part for part in (str(response.status_code), reason) if part)
            raise Busy(f"{method} {template} answered {said}" + (f": {message}" if message else ""), response)
        return response

    async def _send(self, method: str, url: str, template: str, body: Any, token: str) -> httpx.Response:
        request = self._http.build_request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_for(self._timeout),
        )
        return await send(self._http, request, template)
