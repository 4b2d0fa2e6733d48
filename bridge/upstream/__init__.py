"""The Qmatic client: the only code in the bridge that knows Qmatic's HTTP.

Paths, headers, JSON keys, the token and the retry rules live in this package, so a
recording against a real tenant corrects the ASSUMED parts of the contract
(docs/upstream-contract.md) here and nowhere else.
"""

from ._client import QmaticClient
from ._token import TokenRefused, TokenUnavailable
from ._models import (
    Address,
    Appointment,
    AppointmentStatus,
    Customer,
    Offering,
    ServiceBranch,
    ServiceGroup,
    ServiceGroups,
    ServiceSummary,
)

__all__ = [
    "TokenRefused",
    "TokenUnavailable",
    "Address",
    "Appointment",
    "AppointmentStatus",
    "Customer",
    "Offering",
    "QmaticClient",
    "ServiceBranch",
    "ServiceGroup",
    "ServiceGroups",
    "ServiceSummary",
]
