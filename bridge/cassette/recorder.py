"""Recording: each scenario through a fresh bridge on the configured upstream, one cassette each.

A fresh bridge per scenario (its own token, catalogue cache and scratch store) makes every
cassette self-contained: it starts with the token request, as a replay's fresh bridge
will. The operator's store is never touched. A scenario that fails midway still gets its
cassette, marked partial, holding the exchanges up to the failure and the clean-up after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from ..app import Bridge, build_mapper
from ..clock import Clock, SystemClock
from ..config import Config, ConfigError, ServerConfig, StoreConfig, check_environment
from ..failures import BridgeError
from ..mapping import Mapper
from ..upstream import QmaticClient
from ._clock import HeldBackClock, Wait
from ._format import Cassette, Meta, interaction
from ._inputs import Choice, FakeCustomer
from ._record import RecordingTransport
from ._redact import Redactor
from ._session import Say, Session, describe
from ._slots import Pair
from .scenarios import SCENARIOS

# Qmatic's hold lives 15 minutes; half a minute more so it has surely lapsed.
DEFAULT_EXPIRY_WAIT = 15 * 60 + 30


class RecordError(Exception):
    """Nothing could be recorded: the upstream could not be asked which offering to use."""


@dataclass(frozen=True)
class Options:
    out_dir: pathlib.Path
    scenarios: Sequence[str] = tuple(SCENARIOS)
    # Actions Center ids, mapped as the bridge maps them; default: the first
    # online-bookable offering of the catalogue, by identity.
    merchant_id: str | None = None
    service_id: str | None = None
    expiry_wait: float = DEFAULT_EXPIRY_WAIT
    customer: FakeCustomer = field(default_factory=FakeCustomer)


@dataclass(frozen=True)
class Outcome:
    scenario: str
    path: pathlib.Path
    exchanges: int
    partial: bool
    error: str | None
    divergences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.error is None


async def record(
    config: Config,
    options: Options,
    *,
    environ: Mapping[str, str] = os.environ,
    clock: Clock | None = None,
    wait_for_expiry: Wait | None = None,
    say: Say = print,
    transport: Callable[[], httpx.AsyncBaseTransport] = httpx.AsyncHTTPTransport,
) -> list[Outcome]:
    """Record ``options.scenarios`` in order; raises ConfigError or RecordError before the first."""
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    config = dataclasses.replace(config, server=ServerConfig())  # nothing is served
    problems = check_environment(config, environ)
    if problems:
        raise ConfigError(problems)
    mapper = build_mapper(config)
    recorder = _Recorder(
        config=config,
        options=options,
        environ=environ,
        mapper=mapper,
        clock=clock or SystemClock(),
        wait=wait_for_expiry or _sleeping(say),
        say=say,
        transport=transport,
    )
    return await recorder.run()


@dataclass
class _Recorder:
    config: Config
    options: Options
    environ: Mapping[str, str]
    mapper: Mapper
    clock: Clock
    wait: Wait
    say: Say
    transport: Callable[[], httpx.AsyncBaseTransport]

    async def run(self) -> list[Outcome]:
        client_id, client_secret = self.config.upstream.credentials(self.environ)
        scout = QmaticClient(
            self.config.upstream, client_id=client_id, client_secret=client_secret, transport=self.transport()
        )
        try:
            choice = await self._choose(scout)
            avoid: set[Pair] = set()
            return [await self._one(name, choice, scout, avoid) for name in self.options.scenarios]
        finally:
            await scout.aclose()

    async def _choose(self, scout: QmaticClient) -> Choice:
        merchant, service = self.options.merchant_id, self.options.service_id
        if (merchant is None) != (service is None):
            raise RecordError("a merchant and a service go together: give both or neither")
        try:
            if merchant is None or service is None:
                offerings = await scout.services(self.config.upstream.tenant_id)
                first = next((o for o in offerings if o.online_bookable), None)
                if first is None:
                    raise RecordError("the upstream catalogue lists no online-bookable service to record with")
                merchant, service = first.branch_id, first.service_id
            target = self.mapper.resolve(merchant, service)
            offerings = await scout.services(target.tenant_id)
        except BridgeError as exc:
            raise RecordError(f"could not choose what to book: {self._redactor().text(describe(exc))}") from None
        found = next(
            (o for o in offerings if (o.branch_id, o.service_id) == (target.branch_id, target.service_id)), None
        )
        if found is None:
            raise RecordError(
                f"merchant {merchant!r} / service {service!r} (branch {target.branch_id}, service "
                f"{target.service_id}) is not in the upstream catalogue"
            )
        return Choice(merchant_id=merchant, service_id=service, target=target, offering=found)

    async def _one(self, name: str, choice: Choice, scout: QmaticClient, avoid: set[Pair]) -> Outcome:
        recorded_at = self.clock.now()
        transport = RecordingTransport(self.transport())
        clock = HeldBackClock(self.clock)
        error: str | None = None
        with tempfile.TemporaryDirectory(prefix="booking-bridge-record-") as scratch:
            bridge = Bridge.open(
                _scratch(self.config, pathlib.Path(scratch)),
                environ=self.environ,
                clock=clock,
                transport=transport,
            )
            session = Session(
                name=name,
                core=bridge.core,
                upstream=bridge.upstream,
                scout=scout,
                choice=choice,
                clock=clock,
                customer=self.options.customer,
                transport=transport,
                wait_for_expiry=self.wait,
                expiry_wait=self.options.expiry_wait,
                say=self.say,
                avoid=avoid,
            )
            interrupted: BaseException | None = None
            try:
                try:
                    await SCENARIOS[name](session)
                except Exception as exc:  # noqa: BLE001 - any failure still leaves a partial cassette
                    error = describe(exc)
                except (asyncio.CancelledError, KeyboardInterrupt) as exc:
                    # Ctrl-C, typically during the expiry wait: give back, write, then stop.
                    error, interrupted = "interrupted", exc
                left = await session.clean_up()
            finally:
                await bridge.aclose()
        partial = error is not None
        if left:
            error = "; ".join(part for part in (error, "clean-up: " + "; ".join(left)) if part)
        redactor = self._redactor()
        interactions = redactor.interactions(interaction(e) for e in transport.exchanges)
        meta = Meta(
            scenario=name,
            recorded_at=recorded_at,
            base_url=redactor.text(self.config.upstream.base_url),
            token_url=redactor.text(self.config.upstream.token_url),
            partial=partial,
            error=None if error is None else redactor.text(error),
            offering=redactor.everywhere(choice.to_json()),
            slots=[{"start": s.start.isoformat(), "end": s.end.isoformat()} for s in session.slots],
            inputs=redactor.everywhere(session.inputs),
            divergences=redactor.everywhere(session.divergences),
        )
        path = self.options.out_dir / f"{name}.json"
        Cassette(meta=meta, interactions=interactions).write(path)
        outcome = Outcome(name, path, len(interactions), partial, meta.error, tuple(meta.divergences))
        self.say(_progress(outcome))
        if interrupted is not None:
            raise interrupted
        return outcome

    def _redactor(self) -> Redactor:
        """A fresh redactor knowing the secrets up front, so placeholders number the same way
        in every cassette."""
        r = Redactor()
        upstream = self.config.upstream
        for url in (upstream.base_url, upstream.token_url):
            r.upstream_url(url)
        client_id, client_secret = upstream.credentials(self.environ)
        r.known("client-id", client_id)
        r.known("client-secret", client_secret)
        r.known("account", upstream.account)
        tenants = {m.tenant_id for m in self.mapper.merchants.values() if m.tenant_id} - {upstream.tenant_id}
        for tenant in (upstream.tenant_id, *sorted(tenants)):
            r.known("tenant", tenant)
        key = self.environ.get(self.config.booking.identity_key_env)
        if key:
            r.known("identity-key", key)
        c = self.options.customer
        for kind, value in (
            ("first-name", c.given_name),
            ("last-name", c.family_name),
            ("last-name", c.updated_family_name),
            ("email", c.email),
            ("phone", c.telephone),
            ("phone", c.updated_telephone),
            ("date-of-birth", c.date_of_birth.isoformat()),
        ):
            r.known(kind, value)
        return r


def _scratch(config: Config, folder: pathlib.Path) -> Config:
    return dataclasses.replace(config, store=StoreConfig(path=str(folder / "record.sqlite3")))


def _progress(outcome: Outcome) -> str:
    state = "PARTIAL" if outcome.partial else ("FAILED CLEAN-UP" if outcome.error else "ok")
    line = f"{outcome.scenario}: {outcome.exchanges} exchanges, {state} -> {outcome.path}"
    if outcome.error:
        line += f"\n  error: {outcome.error}"
    for note in outcome.divergences:
        line += f"\n  differs from the contract: {note}"
    return line


def _sleeping(say: Say) -> Wait:
    async def wait(seconds: float) -> None:
        left = seconds
        while left > 0:
            step = min(60.0, left)
            await asyncio.sleep(step)
            left -= step
            if left > 0:
                say(f"  ... {left:.0f} s left")

    return wait
