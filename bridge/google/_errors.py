"""What can go wrong talking to the Maps Booking API, sorted by what the caller should do.

Exception tree::

    GoogleError                    base; every message is one line, free of key material
     ├── GoogleCredentialsError    the key file cannot be used, the token endpoint
     │                             refuses the assertion, or the API refuses a token
     │                             just issued; an operator must act, and until then
     │                             every call fails the same way (keep it queued)
     ├── GoogleRejected(status, message)
     │    │                        Google refused the call itself (400, 403, 409 …);
     │    │                        final: sending it again changes nothing, so log it
     │    │                        and drop it
     │    └── GoogleNotFound       404: Google does not know the booking; final
     └── GoogleUnavailable(reason) 429, 5xx, 408, timeouts or transport failures
                                   outlasted every retry; both calls are idempotent on
                                   Google's side, so the caller (an outbox) may try the
                                   same call again later

A value the client could never send (a naive datetime, more slots starting at one
instant than a call may carry) is a ``ValueError``, raised before anything is sent.
"""

from __future__ import annotations


class GoogleError(Exception):
    """Base of every failure of ``bridge.google``."""


class GoogleCredentialsError(GoogleError):
    """The service account cannot be loaded or is refused by the token endpoint."""


class GoogleRejected(GoogleError):
    """Google answered a final 4xx; ``message`` is Google's own text, ``reason`` its
    canonical status name (``INVALID_ARGUMENT``…) when the answer carried one."""

    def __init__(self, status: int, message: str, *, reason: str = "", call: str = ""):
        self.status = status
        self.message = message
        self.reason = reason
        said = " ".join(part for part in (str(status), reason) if part)
        where = f" the {call}" if call else ""
        super().__init__(f"Google refused{where}: {said}" + (f": {message}" if message else ""))


class GoogleNotFound(GoogleRejected):
    """404: the booking (or partner) the call names is unknown to Google."""


class GoogleUnavailable(GoogleError):
    """Retries ran out on answers or failures that may pass; try again later."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
