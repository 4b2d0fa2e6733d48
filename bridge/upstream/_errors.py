"""A non-2xx answer turned into the bridge's failure vocabulary, through the error table."""

from __future__ import annotations

from ..errortable import ErrorTable
from ..failures import BridgeError, Cause, OutcomeUnknown
from ._exchange import Answered

NOUNS = {
    "hold": "hold",
    "confirm": "confirm",
    "release": "release",
    "cancel": "cancel",
    "reschedule": "reschedule",
    "customer": "customer update",
    "read": "read",
}

# Upstream's own text goes into our message; keep it short and on one line.
MAX_UPSTREAM_TEXT = 200


def error_for(response: Answered, operation: str, table: ErrorTable, *, state_changing: bool) -> BridgeError:
    status = response.status_code
    code, text = _body(response)
    cause = table.cause_for(operation, status, code)
    said = " ".join(part for part in (str(status), code) if part)
    noun = NOUNS[operation]
    # A 5xx does not say whether the change was made before the fault; the core has to
    # look. An operator row that names a cause for a 5xx has decided otherwise.
    if state_changing and status >= 500 and cause is Cause.UNAVAILABLE:
        head = f"upstream failed during the {noun}, which may have taken effect: {said}"
        error: BridgeError = OutcomeUnknown(f"{head}: {text}" if text else head)
    else:
        verb = "failed" if status >= 500 else "refused"
        head = f"upstream {verb} the {noun}: {said}"
        error = BridgeError(cause, f"{head}: {text}" if text else head)
    # The upstream's own text may echo what was sent (the customer): logs get the rest.
    error.log_text = head
    return error


def _body(response: Answered) -> tuple[str, str]:
    """``(errorCode, message)``; empty strings when the body is empty, not JSON or odd."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    code = body.get("errorCode")
    message = body.get("message")
    return (
        code.strip() if isinstance(code, str) else "",
        _one_line(message) if isinstance(message, str) else "",
    )


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_UPSTREAM_TEXT:
        text = text[: MAX_UPSTREAM_TEXT - 1] + "…"
    return text
