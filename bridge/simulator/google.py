"""A fake of Google's Maps Booking API (v1alpha) and its OAuth2 token endpoint, over real HTTP.

The bridge's ``bridge.google`` client is tested against it, and the demo publishes to
it. It mints its own service account key, so no real credentials are ever involved::

    fake = FakeGoogle(clock)
    await fake.start()
    fake.write_key_file(tmp_path / "key.json")    # a key file whose token_uri is the fake
    ...                                           # MapsBookingClient(..., fake.base_url, ...)
    fake.notifications, fake.replacements, fake.published("m-1", "s-1"), fake.requests

Faults are armed on ``fake.faults`` exactly as on the Qmatic simulator's (``fail`` is
the shortcut for a Google-shaped error answer).
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
from typing import Any

from aiohttp import web

from ..clock import Clock, SystemClock
from .faults import Fault, Faults
from .google_api import GoogleApi, Notification, Replacement
from .google_auth import FakeServiceAccount, GoogleTokens
from .google_errors import ApiError, OAuthError, error_body
from .google_parse import PublishedSlot
from .middleware import Handler, RecordedRequest, injecting, recording
from .listening import close, listen

TOKEN_PATH = "/token"
API_PREFIX = "/v1alpha/"
DEFAULT_PARTNER = "20001234"

log = logging.getLogger("bridge.simulator.google")


class FakeGoogle:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        partner_id: str = DEFAULT_PARTNER,
        known_bookings: set[str] | None = None,
        max_slots_per_call: int = 1000,
        account: FakeServiceAccount | None = None,
    ):
        self.clock: Clock = clock or SystemClock()
        self.partner_id = partner_id
        # None: every booking is known. A set: a notification for any other booking is 404.
        self.known_bookings = known_bookings
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        # Minting a key takes a good fraction of a second at worst; a test module may
        # share one between its fakes.
        self.account = account or FakeServiceAccount()
        self._tokens = GoogleTokens(self.clock, self.account)
        self._api = GoogleApi(
            clock=self.clock,
            tokens=self._tokens,
            partner_id=partner_id,
            token_uri=lambda: self.token_uri,
            known_bookings=lambda: self.known_bookings,
            max_slots_per_call=max_slots_per_call,
        )
        self._runner: web.AppRunner | None = None
        self._root: str | None = None

    def __repr__(self) -> str:
        return f"FakeGoogle({self._root or 'not started'})"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); returns ``base_url``."""
        if self._runner is not None:
            raise RuntimeError("fake Google already started")
        self._runner, self._root = await listen(self._app(), host, port)
        return self._root

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await close(runner, self.faults)

    async def __aenter__(self) -> FakeGoogle:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """The ``api_base_url`` to configure: paths start with /v1alpha/ below it."""
        if self._root is None:
            raise RuntimeError("fake Google not started")
        return self._root

    @property
    def token_uri(self) -> str:
        return self.base_url + TOKEN_PATH

    # --- the service account ------------------------------------------------------------

    def service_account_info(self) -> dict[str, str]:
        """A key file's content for this fake's service account (the fake must be started)."""
        return self.account.info(self.token_uri)

    def write_key_file(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the key file, readable by its owner only, as a real key should be."""
        target = pathlib.Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.service_account_info(), f, indent=2)
        return target

    # --- tokens -------------------------------------------------------------------------

    @property
    def tokens_issued(self) -> list[str]:
        return list(self._tokens.issued)

    def live_tokens(self) -> list[str]:
        return self._tokens.live()

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (401)."""
        self._tokens.revoke_all()

    # --- what was received ----------------------------------------------------------------

    @property
    def notifications(self) -> list[Notification]:
        return self._api.notifications

    @property
    def replacements(self) -> list[Replacement]:
        return self._api.replacements

    def published(self, merchant_id: str, service_id: str) -> list[PublishedSlot]:
        """The slots the replaces so far left published, by start time then staff id."""
        return self._api.inventory.published(merchant_id, service_id)

    def fail(
        self,
        method: str | None,
        path: str,
        status: int,
        *,
        times: int | None = 1,
        message: str = "injected",
        retry_after: float | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with a Google-shaped error."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        return self.faults.add(method, path, status=status, times=times, body=error_body(status, message), headers=headers)

    # --- the app --------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(
            middlewares=[recording(self.requests), injecting(self.faults), _answer_errors, self._authenticate()]
        )
        app.router.add_post(TOKEN_PATH, self._api.token)
        app.router.add_patch("/v1alpha/notification/partners/{partner}/bookings/{booking}", self._api.notify)
        app.router.add_post("/v1alpha/inventory/partners/{partner}/availability:replace", self._api.replace)
        return app

    def _authenticate(self) -> Any:
        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(API_PREFIX):
                self._tokens.check(request.headers.get("Authorization"))
            return await handler(request)

        return authenticate


@web.middleware
async def _answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return web.json_response(e.body(), status=e.status, headers=headers)
    except OAuthError as e:
        return web.json_response(e.body(), status=e.status, headers={"Cache-Control": "no-store"})
    except web.HTTPException as e:
        # Unknown paths and wrong methods answer in Google's shape too.
        return web.json_response(error_body(e.status, e.reason), status=e.status)
    except Exception:
        # A bug in the fake, not bad input: loud, but never the body (it carries tokens).
        log.exception("fake Google failure on %s %s", request.method, request.path)
        return web.json_response(error_body(500, "fake Google failure"), status=500)
