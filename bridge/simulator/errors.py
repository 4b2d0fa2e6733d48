"""The simulator's error answers, shaped as docs/upstream-contract.md §5 assumes them."""

from __future__ import annotations


class ApiError(Exception):
    """An answer of ``status`` with ``{"errorCode": code, "message": message}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"errorCode": self.code, "message": self.message}


def invalid(field: str, problem: str) -> ApiError:
    # Naming the field lets a bridge developer see at once which key the simulator rejected.
    return ApiError(400, "VALIDATION_ERROR", f"{field}: {problem}")


def not_found(what: str = "appointment") -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message)


# Factories rather than shared instances: a raised exception keeps its traceback, and a
# shared one would carry every earlier request's frames along.
def slot_taken() -> ApiError:
    return ApiError(409, "TIMESLOT_UNAVAILABLE", "no resource is free for this time slot")


def already_confirmed() -> ApiError:
    return ApiError(409, "ALREADY_CONFIRMED", "appointment is already confirmed")


def already_cancelled() -> ApiError:
    return ApiError(409, "ALREADY_CANCELLED", "appointment is already cancelled")


def finalized() -> ApiError:
    # ASSUMED: Qmatic documents that a finalized visit cannot be changed, not the answer.
    return ApiError(409, "APPOINTMENT_FINALIZED", "the visit is finalized and can no longer change")


def expired() -> ApiError:
    return ApiError(410, "RESERVATION_EXPIRED", "the reservation has expired")


def too_late() -> ApiError:
    return ApiError(
        422, "CANCELLATION_NOT_ALLOWED", "cancellation is no longer allowed for this appointment"
    )


def too_many(maximum: int) -> ApiError:
    return ApiError(
        422,
        "MAX_RESERVATIONS_EXCEEDED",
        f"numberOfReservations: at most {maximum} for this service",
    )
