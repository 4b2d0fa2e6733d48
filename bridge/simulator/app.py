"""The HTTP face of the simulator: one handler per upstream call of docs/upstream-contract.md §4."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import parse, seed, views
from .errors import invalid
from .faults import Faults
from .middleware import API_PREFIX, TOKEN_PATH, RecordedRequest, make_middlewares
from .state import State
from .tokens import Tokens


class Api:
    def __init__(self, state: State, tokens: Tokens):
        self.state = state
        self.tokens = tokens

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type")
        answer = self.tokens.issue(
            request.headers.get("Authorization"),
            request.headers.get("X-ACCOUNT"),
            grant if isinstance(grant, str) else None,
        )
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    # -- catalogue ---------------------------------------------------------------------

    async def services(self, request: web.Request) -> web.Response:
        return web.json_response(views.all_offerings())

    async def groups(self, request: web.Request) -> web.Response:
        return web.json_response(views.groups())

    async def service(self, request: web.Request) -> web.Response:
        service_id = request.match_info["serviceId"]
        if service_id not in seed.SERVICES:
            raise invalid("serviceId", "unknown service")
        return web.json_response(views.branches_of(service_id))

    async def timeslots(self, request: web.Request) -> web.Response:
        service_id = request.match_info["serviceId"]
        q = request.query
        branch_id = parse.text(q.get("branchId"), "branchId")
        resources = self.state.offering(service_id, branch_id, q.get("requestedResourceId") or None)
        day = parse.day(q.get("date"))
        number = parse.query_count(q.get("numberOfReservations"), "numberOfReservations")
        self.state.check_party(service_id, number)
        free = self.state.free_slots(service_id, branch_id, day, resources)
        return web.json_response([views.slot(start, end, branch_id) for start, end in free])

    # -- holds -------------------------------------------------------------------------

    async def hold(self, request: web.Request) -> web.Response:
        req = parse.hold_request(await _body(request))
        return _appointment(self.state.hold(req), status=201)

    async def confirm(self, request: web.Request) -> web.Response:
        customer = parse.customer((await _body(request)).get("customer"), "customer.")
        return _appointment(self.state.confirm(request.match_info["id"], customer), status=201)

    async def release(self, request: web.Request) -> web.Response:
        self.state.release(request.match_info["id"])
        return web.Response(status=204)

    # -- appointments ------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.Response:
        return _appointment(self.state.get(request.match_info["id"]))

    async def cancel(self, request: web.Request) -> web.Response:
        self.state.cancel(request.match_info["id"])
        return web.Response(status=204)

    async def update_customer(self, request: web.Request) -> web.Response:
        customer = parse.customer(await _body(request))
        self.state.update_customer(request.match_info["id"], customer)
        return web.Response(status=204)

    async def reschedule(self, request: web.Request) -> web.Response:
        reservation_id = parse.text((await _body(request)).get("reservationId"), "reservationId")
        return _appointment(self.state.reschedule(request.match_info["id"], reservation_id))

    async def search(self, request: web.Request) -> web.Response:
        customer = (await _body(request)).get("customer")
        if not isinstance(customer, dict):
            raise invalid("customer", "required object with personalIdentifier")
        personal_id = parse.text(customer.get("personalIdentifier"), "customer.personalIdentifier")
        return web.json_response([views.appointment(a) for a in self.state.search(personal_id)])


def make_app(
    state: State, tokens: Tokens, faults: Faults, recorded: list[RecordedRequest]
) -> web.Application:
    api = Api(state, tokens)
    app = web.Application(middlewares=make_middlewares(tokens, faults, recorded))
    p = API_PREFIX
    app.router.add_post(TOKEN_PATH, api.token)
    app.router.add_get(f"{p}/services", api.services)
    app.router.add_get(f"{p}/services/groups", api.groups)
    app.router.add_get(f"{p}/services/{{serviceId}}", api.service)
    app.router.add_get(f"{p}/services/{{serviceId}}/timeslots", api.timeslots)
    app.router.add_post(f"{p}/reservations", api.hold)
    app.router.add_put(f"{p}/reservations/{{id}}", api.confirm)
    app.router.add_delete(f"{p}/reservations/reservations/{{id}}", api.release)
    app.router.add_post(f"{p}/appointments/search", api.search)
    app.router.add_get(f"{p}/appointments/{{id}}", api.get)
    app.router.add_delete(f"{p}/appointments/{{id}}", api.cancel)
    app.router.add_put(f"{p}/appointments/{{id}}/customer", api.update_customer)
    app.router.add_put(f"{p}/appointments/{{id}}/reschedule", api.reschedule)
    return app


async def _body(request: web.Request) -> dict[str, Any]:
    return parse.json_object(await request.read())


def _appointment(appointment: Any, status: int = 200) -> web.Response:
    return web.json_response(views.appointment(appointment), status=status)
