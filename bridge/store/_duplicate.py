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
