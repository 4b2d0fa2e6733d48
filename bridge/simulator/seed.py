"""The demo tenant the simulator serves: credentials and a small, fixed catalogue.

The identifiers are fixed literals, not generated, so tests, the demo and a human reading
a log all see the same GUIDs from run to run. The credentials are demo values, printed
openly by ``serve``; they protect nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DEMO_TENANT_ID = "6ab7b82a-9594-47cb-a745-c04af99cf95b"
DEMO_ACCOUNT = "demo"
DEMO_CLIENT_ID = "booking-bridge-demo"
DEMO_CLIENT_SECRET = "demo-secret-not-for-production"
DEMO_SCOPES = (
    "com.qmatic.saas.appointments/external.appointment.book",
    "com.qmatic.saas.appointments/external.appointment.reschedule",
    "com.qmatic.saas.appointments/external.appointment.cancel",
)

# Every branch is open 09:00-17:00 local time, every day.
OPENS = dt.time(9, 0)
CLOSES = dt.time(17, 0)
# How many branch-local days, starting today, carry bookable slots.
DAYS_OFFERED = 7

STOCKHOLM = "088a0d75-608b-4c77-bbf5-09fb81a213bb"
LONDON = "42d01af7-42f7-4e8a-8a36-b23011bc7d46"

HAIRCUT = "597821ef-1212-40fb-9188-447999bdb34f"
PASSPORT = "f7baa883-d061-4c13-adc2-d40cae33cbd3"
CONSULTATION = "eeb4c53d-dda6-4ac9-8e48-4f219e3c6dae"
COLOUR = "ed7247a4-7bd1-4a07-a22c-a6596ab69988"

ANNA = "0adabfaf-fe62-4aee-8621-572b9b4cc92d"
BEN = "adaeee41-89d9-49de-921c-b8f837ee847c"
CARLA = "51445afe-8f06-4ca6-ac16-834e69b87cc2"
DAVID = "3e0bb345-08f2-4378-9535-5c43b540cc9b"
EMMA = "06533aa8-3e42-47ca-a438-8aceeed402de"

HAIR_GROUP = "c2cd500c-a88b-4e7f-b4b5-660e89658212"
DOCUMENTS_GROUP = "5d0ecd78-4856-4ca2-85a8-4c5c2a8b22a0"
ADVICE_GROUP = "13ea79c7-6b1a-4e99-b57d-e30479066ff9"


@dataclass(frozen=True)
class Branch:
    id: str
    name: str
    timezone: str
    address: dict[str, str]
    location: dict[str, float]


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    duration_minutes: int
    max_reservations: int
    description: str
    online_bookable: bool = True
    information_questions: tuple[dict, ...] = ()
    screening_questions: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Resource:
    id: str
    name: str
    branch_id: str


@dataclass(frozen=True)
class ServiceGroup:
    id: str
    name: str
    service_ids: tuple[str, ...]


BRANCHES: dict[str, Branch] = {
    b.id: b
    for b in (
        Branch(
            STOCKHOLM,
            "Stockholm Central",
            "Europe/Stockholm",
            {"streetName": "Vasagatan 1", "zipCode": "111 20", "city": "Stockholm", "country": "SE"},
            {"longitude": 18.0586, "latitude": 59.3306},
        ),
        Branch(
            LONDON,
            "London Bridge",
            "Europe/London",
            {"streetName": "1 Tooley Street", "zipCode": "SE1 2PF", "city": "London", "country": "GB"},
            {"longitude": -0.0877, "latitude": 51.5055},
        ),
    )
}

SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(HAIRCUT, "Haircut", 30, 1, "Cut and style."),
        Service(
            PASSPORT,
            "Passport photo",
            15,
            2,
            "Biometric photos for passports and ID cards.",
            screening_questions=(
                {
                    "yesRequiredAnswer": True,
                    "questionText": "Will you bring a valid ID?",
                    "clarificationText": "We need to see it before taking the photo.",
                    "answerDeniedMessage": "Please bring a valid ID to your appointment.",
                },
            ),
        ),
        Service(
            CONSULTATION,
            "Consultation",
            60,
            4,
            "A one-hour talk with an advisor.",
            information_questions=(
                {
                    "required": False,
                    "questionText": "What would you like to discuss?",
                    "clarificationText": "Helps the advisor prepare.",
                },
            ),
        ),
        # The branch books it itself, after a patch test: an offering Actions Center must
        # not be given, so the mapping checks and the feeds have one to leave out.
        Service(COLOUR, "Colour treatment", 90, 1, "Colour after a patch test.", online_bookable=False),
    )
}

RESOURCES: dict[str, Resource] = {
    r.id: r
    for r in (
        Resource(ANNA, "Anna", STOCKHOLM),
        Resource(BEN, "Ben", STOCKHOLM),
        Resource(CARLA, "Carla", STOCKHOLM),
        Resource(DAVID, "David", LONDON),
        Resource(EMMA, "Emma", LONDON),
    )
}

# (branch, service) -> resources serving it, in the order a hold without a requested
# resource tries them. Consultation is deliberately not offered in London, and some
# offerings have a single resource, so tests can make a slot fully taken with one hold.
OFFERINGS: dict[tuple[str, str], tuple[str, ...]] = {
    (STOCKHOLM, HAIRCUT): (ANNA, BEN),
    (STOCKHOLM, PASSPORT): (CARLA,),
    (STOCKHOLM, CONSULTATION): (ANNA, CARLA),
    (LONDON, HAIRCUT): (DAVID,),
    (LONDON, PASSPORT): (DAVID, EMMA),
    (STOCKHOLM, COLOUR): (ANNA,),
}

SERVICE_GROUPS: tuple[ServiceGroup, ...] = (
    ServiceGroup(HAIR_GROUP, "Hair", (HAIRCUT, COLOUR)),
    ServiceGroup(DOCUMENTS_GROUP, "Documents", (PASSPORT,)),
    ServiceGroup(ADVICE_GROUP, "Advice", (CONSULTATION,)),
)


def zone(branch_id: str) -> ZoneInfo:
    """The branch's time zone (KeyError for an unknown branch)."""
    return ZoneInfo(BRANCHES[branch_id].timezone)


def duration(service_id: str) -> dt.timedelta:
    """The length of one slot of the service (KeyError for an unknown service)."""
    return dt.timedelta(minutes=SERVICES[service_id].duration_minutes)


def resources_for(branch_id: str, service_id: str) -> tuple[str, ...]:
    """The resources serving the service at the branch; empty when it is not offered there."""
    return OFFERINGS.get((branch_id, service_id), ())


def enlarge(branches: int, days: int = DAYS_OFFERED) -> None:
    """Grow the demo tenant for a benchmark to ``branches`` generated branches besides the
    demo ones (growing again to a larger number adds the difference), each offering the
    demo services with resources of its own, and slots for ``days`` days. Identifiers are
    derived, so two runs of the same size see the same tenant. Call it before any
    Simulator is built."""
    global DAYS_OFFERED
    DAYS_OFFERED = days
    namespace = uuid.UUID(DEMO_TENANT_ID)
    for n in range(branches):
        branch_id = str(uuid.uuid5(namespace, f"branch-{n}"))
        BRANCHES[branch_id] = Branch(
            branch_id, f"Branch {n}", "Europe/Stockholm",
            {"streetName": f"Storgatan {n + 1}", "zipCode": "111 20", "city": "Stockholm", "country": "SE"},
            {"longitude": 18.0 + n / 10000, "latitude": 59.3},
        )
        staff = []
        for k in range(2):
            resource_id = str(uuid.uuid5(namespace, f"resource-{n}-{k}"))
            RESOURCES[resource_id] = Resource(resource_id, f"Staff {n}.{k}", branch_id)
            staff.append(resource_id)
        for service_id in (HAIRCUT, PASSPORT, CONSULTATION):
            OFFERINGS[(branch_id, service_id)] = tuple(staff)
