"""The one exception a store raises on purpose: an insert that breaks a unique constraint."""


class Duplicate(Exception):
    """``what`` names the constraint."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


LEASE_REFERENCE = "lease.client_reference"
BOOKING_LEASE = "booking.lease_id"
# One live booking per person per slot: a second one is a duplicate, whatever lease it uses.
BOOKING_PERSON_SLOT = "booking.person_slot"
# One booking per idempotency token, and one stored answer.
IDEMPOTENCY_KEY = "booking.idempotency_key"


def classify(constraint: str) -> str | None:
    """The Duplicate a unique violation stands for, from what the database names: SQLite's
    message ("UNIQUE constraint failed: bookings.lease_id") or PostgreSQL's constraint name
    ("bookings_lease_id_key"); None for a constraint no caller expects to break."""
    if "client_reference" in constraint:
        return LEASE_REFERENCE
    if "bookings.lease_id" in constraint or "bookings_lease_id" in constraint:
        return BOOKING_LEASE
    if "idempotency_key" in constraint or "responses" in constraint:
        return IDEMPOTENCY_KEY
    if "personal_identifier" in constraint or "person_slot" in constraint:
        return BOOKING_PERSON_SLOT
    return None
