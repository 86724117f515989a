"""The typed error tree shared by the apiserver and its clients; each error says what to do next."""
from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Fenced",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "TemporaryError",
    "Unauthorized",
    "Unreachable",
    "error_from_response",
]


class ApiError(Exception):
    """An error the API answers with: an HTTP status, a reason word, a message and field details."""

    status = 500
    reason = "InternalError"
    retryable = False

    def __init__(self, message: str, *, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_body(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message, "details": self.details, "code": self.status}


class BadRequest(ApiError):
    status, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    status, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    status, reason = 403, "Forbidden"


class NotFound(ApiError):
    status, reason = 404, "NotFound"


class Conflict(ApiError):
    """The object changed since it was read: read it again and retry."""

    status, reason = 409, "Conflict"


class AlreadyExists(Conflict):
    reason = "AlreadyExists"


class Fenced(Conflict):
    """A leader's write carried a fencing token (its Lease's resourceVersion) that is no longer
    current: another leader took over. Stop acting as leader; never retry the write."""

    reason = "Fenced"


class Gone(ApiError):
    """The resourceVersion asked for is compacted away: list again, then watch from the new one."""

    status, reason = 410, "Expired"


class PayloadTooLarge(ApiError):
    status, reason = 413, "RequestEntityTooLarge"


class Invalid(ApiError):
    """The object breaks the schema; `details` name each field. Fix the manifest."""

    status, reason = 422, "Invalid"


class TemporaryError(ApiError):
    """The server or its store is unavailable: retry after `delay` seconds."""

    status, reason = 503, "ServiceUnavailable"
    retryable = True

    def __init__(self, message: str, *, delay: float = 1.0, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, details=details)
        self.delay = delay


class Unreachable(TemporaryError):
    """No apiserver answered at all (refused, reset, timed out): the cluster may be down, not busy."""


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Gone, PayloadTooLarge, Invalid, TemporaryError)
}


def error_from_response(status: int, body: Any) -> ApiError:
    """The typed error of an HTTP error answer."""
    message = f"HTTP {status}"
    details: list[dict[str, str]] = []
    reason = ""
    if isinstance(body, dict):
        message = str(body.get("message") or message)
        details = [d for d in body.get("details") or [] if isinstance(d, dict)]
        reason = str(body.get("reason") or "")
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists(message, details=details)
    if status == 409 and reason == "Fenced":
        return Fenced(message, details=details)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = TemporaryError if status >= 500 else ApiError
    error = cls(message, details=details)
    if cls is ApiError:
        error.status = status
    return error
