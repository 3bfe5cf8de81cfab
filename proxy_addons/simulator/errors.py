"""API errors and how each dialect renders them.

Handlers raise :class:`ApiError` with the CAMARA code; the API's dialect table turns it into the body
Orange documents for that API and status (profile ``orange``) or into CAMARA's ``ErrorInfo``
(profile ``camara``, and wherever Orange documents nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy_addons.model import ApiResponse

PROFILES = ("orange", "camara")

# CAMARA Commonalities messages (r0.4.0 wording where the API specs use it).
CAMARA_MESSAGES: dict[str, str] = {
    "INVALID_ARGUMENT": "Client specified an invalid argument, request body or query param.",
    "OUT_OF_RANGE": "Client specified an invalid range.",
    "UNAUTHENTICATED": "Request not authenticated due to missing, invalid, or expired credentials.",
    "AUTHENTICATION_REQUIRED": "New authentication is required.",
    "PERMISSION_DENIED": "Client does not have sufficient permissions to perform this action.",
    "INVALID_TOKEN_CONTEXT": "Phone number cannot be deducted from access token context",
    "NOT_FOUND": "The specified resource is not found.",
    "DEVICE_NOT_FOUND": "No device found for a provided identifier.",
    "METHOD_NOT_ALLOWED": "The requested method is not allowed/supported on the target resource.",
    "NOT_ACCEPTABLE": "The server cannot produce a response matching the content requested by the client.",
    "UNSUPPORTED_MEDIA_TYPE": (
        "The server refuses to accept the request because the payload format is unsupported."
    ),
    "TOO_MANY_REQUESTS": "Either out of resource quota or reaching rate limiting.",
    "QUOTA_EXCEEDED": "Either out of resource quota or reaching rate limiting.",
    "INTERNAL": "Server error",
    "UNAVAILABLE": "Service unavailable",
    "TIMEOUT": "Request timeout exceeded. Try later.",
}


@dataclass
class ApiError(Exception):
    """An error answer. `detail` says why, for people: it goes into the reason header and into
    messages whose documented form ends in '...'."""

    status: int
    code: str
    detail: str = ""
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail or self.message or ''}"


@dataclass(frozen=True)
class Dialect:
    """How one API spells its errors.

    `orange` maps a status to Orange's documented body template (key order kept; `{detail}` and
    `{message}` are filled in). Statuses it lacks, and every status under the camara profile, get
    CAMARA's ``{status, code, message}``. `reasons` are Orange's custom reason phrases.
    """

    orange: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    reasons: Mapping[int, str] = field(default_factory=dict)

    def render(self, error: ApiError, profile: str) -> dict[str, Any]:
        message = error.message or CAMARA_MESSAGES.get(error.code) or error.detail or error.code
        template = self.orange.get(error.status) if profile == "orange" else None
        if template is None:
            return {"status": error.status, "code": error.code, "message": message}
        detail = error.detail or message
        body: dict[str, Any] = {}
        for key, value in template.items():
            body[key] = value.format(detail=detail, message=message) if isinstance(value, str) else value
        if error.message is not None and "message" in body:
            body["message"] = error.message  # an explicit message is what Orange says, word for word
        return body

    def reason(self, status: int, profile: str) -> str | None:
        return self.reasons.get(status) if profile == "orange" else None


REASON_HEADER = "x-orange-proxy-reason"
REASON_LIMIT = 200
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def header_safe(text: str, limit: int = REASON_LIMIT) -> str:
    """Printable ASCII only (no CR/LF from client input), and short. Other characters are escaped
    (a fullwidth digit in a phone number shows as \uff11, not as an anonymous '?')."""
    escaped = text.replace("…", "...").encode("ascii", "backslashreplace").decode("ascii")
    clean = _UNPRINTABLE.sub("?", escaped)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def error_response(error: ApiError, dialect: Dialect, profile: str, schema_base: str) -> ApiResponse:
    """The response for `error`, carrying the schema it is checked against."""
    headers = dict(error.headers)
    if error.detail:
        # Why the proxy said no, for the tester; apps ignore unknown headers.
        headers[REASON_HEADER] = header_safe(error.detail)
    return ApiResponse(
        status=error.status,
        data=dialect.render(error, profile),
        headers=headers,
        reason=dialect.reason(error.status, profile),
        schema=f"{schema_base}#error.{error.status}",
    )
