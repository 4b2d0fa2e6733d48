"""JSON shapes of the answers, as docs/upstream-contract.md §4 lists them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import seed
from .state import Appointment

CUSTOMER_KEYS = ("firstName", "lastName", "phoneNumber", "email", "dateOfBirth")


def local_time(instant: dt.datetime, branch_id: str) -> str:
    # Qmatic answers in the branch's own offset; the bridge must convert, so we make it.
    return instant.astimezone(seed.zone(branch_id)).isoformat(timespec="seconds")


def slot(start: dt.datetime, end: dt.datetime, branch_id: str) -> dict[str, str]:
    return {"startTime": local_time(start, branch_id), "endTime": local_time(end, branch_id)}


def branch(branch_id: str) -> dict[str, Any]:
    b = seed.BRANCHES[branch_id]
    return {"id": b.id, "name": b.name, "address": dict(b.address), "location": dict(b.location)}


def service(service_id: str) -> dict[str, Any]:
    s = seed.SERVICES[service_id]
    return {
        "id": s.id,
        "name": s.name,
        "config": {"maxNumberOfReservations": s.max_reservations, "onlineBookable": s.online_bookable},
    }


def resource(resource_id: str) -> dict[str, str]:
    return {"id": resource_id, "name": seed.RESOURCES[resource_id].name}


def resource_selection(branch_id: str, service_id: str) -> dict[str, Any]:
    return {
        "required": False,
        "availableResources": [resource(r) for r in seed.resources_for(branch_id, service_id)],
    }


def offering(branch_id: str, service_id: str) -> dict[str, Any]:
    s = seed.SERVICES[service_id]
    return {
        "branch": branch(branch_id),
        "service": service(service_id),
        "resourceSelection": resource_selection(branch_id, service_id),
        "informationQuestions": [dict(q) for q in s.information_questions],
        "screeningQuestions": [dict(q) for q in s.screening_questions],
    }


def all_offerings() -> list[dict[str, Any]]:
    return [offering(b, s) for b, s in seed.OFFERINGS]


def branches_of(service_id: str) -> list[dict[str, Any]]:
    return [
        {"branch": branch(b), "resourceSelection": resource_selection(b, s)}
        for b, s in seed.OFFERINGS
        if s == service_id
    ]


def groups() -> dict[str, Any]:
    index = {sid: i for i, sid in enumerate(seed.SERVICES)}

    def entry(service_id: str) -> dict[str, Any]:
        s = seed.SERVICES[service_id]
        return {
            "id": s.id,
            "name": s.name,
            "index": index[service_id],
            "externalDescription": s.description,
            "onlineBookable": s.online_bookable,
        }

    return {
        "services": [entry(sid) for sid in seed.SERVICES],
        "serviceGroups": [
            {"id": g.id, "name": g.name, "index": i, "services": [entry(sid) for sid in g.service_ids]}
            for i, g in enumerate(seed.SERVICE_GROUPS)
        ],
    }


def appointment(a: Appointment) -> dict[str, Any]:
    s = seed.SERVICES[a.service_id]
    customer = None
    if a.customer is not None:
        # The personal identifier is a lookup key, not part of the answer (contract §4.3).
        customer = {k: a.customer.get(k) for k in CUSTOMER_KEYS}
    return {
        "appointmentId": a.id,
        "status": a.status,
        "timeSlot": slot(a.start, a.end, a.branch_id),
        "customer": customer,
        "service": {"id": s.id, "name": s.name, "config": {"maxNumberOfReservations": s.max_reservations}},
        "branch": branch(a.branch_id),
        "resource": resource(a.resource_id),
        "numberOfReservations": a.number_of_reservations,
        "supportNotes": a.notes,
    }
