"""What the scenarios book with: the offering, and a customer nobody could mistake for real."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..core import Client, Target
from ..upstream import Customer, Offering


@dataclass(frozen=True)
class FakeCustomer:
    """Plainly a test customer, so nobody at the branch mistakes a recorded booking for a visit."""

    given_name: str = "Cassette"
    family_name: str = "Testperson"
    email: str = "cassette-test@example.invalid"
    telephone: str = "+1 555-0100"
    # What the customer-update scenario changes.
    updated_family_name: str = "Testperson-Updated"
    updated_telephone: str = "+1 555-0199"
    date_of_birth: dt.date = dt.date(2000, 1, 1)

    def client(self) -> Client:
        return Client(
            given_name=self.given_name, family_name=self.family_name, email=self.email, telephone=self.telephone
        )

    def updated(self, personal_identifier: str) -> Customer:
        return Customer(
            personal_identifier=personal_identifier,
            first_name=self.given_name,
            last_name=self.updated_family_name,
            email=self.email,
            phone=self.updated_telephone,
            date_of_birth=self.date_of_birth,
        )

    def values(self) -> list[str]:
        return [
            self.given_name,
            self.family_name,
            self.email,
            self.telephone,
            self.updated_family_name,
            self.updated_telephone,
            self.date_of_birth.isoformat(),
        ]


@dataclass(frozen=True)
class Choice:
    """The offering the scenarios book: Actions Center's ids, and where they land upstream."""

    merchant_id: str
    service_id: str
    target: Target
    offering: Offering

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "merchant_id": self.merchant_id,
            "service_id": self.service_id,
            "branch_id": t.branch_id,
            "upstream_service_id": t.service_id,
            "resource_id": t.resource_id,
            "time_zone": t.time_zone,
        }
