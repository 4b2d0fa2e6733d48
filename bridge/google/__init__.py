"""The Maps Booking API client: the only code in the bridge that knows Google's HTTP.

The rest of the bridge hands it plain values (``BookingUpdate``, ``AvailabilityWindow``)
and gets back nothing, or an exception from the tree documented in ``_errors``. Paths,
JSON keys, the token and the retry rules live here and nowhere else.
"""

from ._client import PRODUCTION_API, SANDBOX_API, MapsBookingClient
from ._credentials import ServiceAccount
from ._errors import GoogleCredentialsError, GoogleError, GoogleNotFound, GoogleRejected, GoogleUnavailable
from ._models import AvailabilityWindow, BookingUpdate, OpenSlot
from ._retry import Backoff
from ._token import SCOPE

__all__ = [
    "PRODUCTION_API",
    "SANDBOX_API",
    "SCOPE",
    "AvailabilityWindow",
    "Backoff",
    "BookingUpdate",
    "GoogleCredentialsError",
    "GoogleError",
    "GoogleNotFound",
    "GoogleRejected",
    "GoogleUnavailable",
    "MapsBookingClient",
    "OpenSlot",
    "ServiceAccount",
]
