"""What CAMARA Device Status 0.6 (release r1.2, Commonalities 0.4.0) gives both of its APIs on Orange's
playground, Device Reachability Status and Device Roaming Status: one `POST /retrieve` each, with a
Device in the body, answered from one part of the subscriber's data.

The two spec files are identical outside their answer, so what they share lives here:

- The device (spec, "Identifying a device from the access token"): a 3-legged token names it and a
  `device` in the body must name the same one (else 403 INVALID_TOKEN_CONTEXT); a 2-legged token needs
  `device` (else 422 UNIDENTIFIABLE_DEVICE). The playground resolves `phoneNumber` only: a device named
  only by networkAccessIdentifier or IP addresses gets 422 UNSUPPORTED_DEVICE_IDENTIFIERS ("None of the
  provided device identifiers is supported"). Other identifiers next to a phoneNumber are not checked
  against it: the playground holds no addresses to check them with.
- An unknown number: 403 FORBIDDEN "… does not exist for <client>" under profile orange (observed on
  the playground), the spec's 404 DEVICE_NOT_FOUND under camara.
- Media types: the spec answers a body that is not JSON with 415 UNSUPPORTED_MEDIA_TYPE and an Accept
  header that excludes JSON with 406 NOT_ACCEPTABLE (the shared JsonBody would say 400 to the first).
- Unknown fields get 400 INVALID_ARGUMENT, as the playground answers `{"phoneNumber"}` where
  `{"device"}` belongs, with its message "phoneNumber is not allowed" under profile orange (observed,
  ORANGE-AND-CAMARA.md §6.1).
- A subscriber whose data holds no such status gets the spec's 422 UNABLE_TO_PROVIDE_<…>_STATUS.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.playground import DeviceErrors, PlaygroundApi, Refusal
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import Token

JSON = "application/json"
_ACCEPTED_RANGES = frozenset({JSON, "application/*", "*/*"})
_QVALUE = re.compile(r"\s*q\s*=\s*([0-9.]+)\s*", re.IGNORECASE)

# Messages as the 0.6 spec files word them (their examples), where Commonalities' differ.
NOT_ACCEPTABLE = (
    "The server cannot produce a response matching the content requested by the client through "
    "`Accept-*` headers."
)
UNSUPPORTED_MEDIA_TYPE = (
    "The server refuses to accept the request because the payload format is in an unsupported format."
)


def accepts_json(values: list[str]) -> bool:
    """Does an Accept header (its repeated lines given one by one) allow application/json?

    No header at all allows anything (RFC 9110 §12.5.1). A media range with q=0 is "not acceptable";
    an unreadable q-value counts as the default 1, since the client plainly named the range."""
    ranges = [item for value in values for item in value.split(",") if item.strip()]
    if not ranges:
        return True
    for item in ranges:
        media, *params = item.split(";")
        quality = 1.0
        for param in params:
            match = _QVALUE.fullmatch(param)
            if match:
                try:
                    quality = float(match.group(1))
                except ValueError:
                    quality = 1.0
        if quality > 0 and media.strip().lower() in _ACCEPTED_RANGES:
            return True
    return False


class DeviceStatusApi(PlaygroundApi):
    """One Device Status 0.6 API: its subscriber data part, the field that part must hold, and the
    answer it makes of that part."""

    device_errors = DeviceErrors(
        missing=Refusal(422, "UNIDENTIFIABLE_DEVICE", "The device cannot be identified."),
        unsupported=Refusal(
            422,
            "UNSUPPORTED_DEVICE_IDENTIFIERS",
            "None of the provided device identifiers is supported by the implementation",
        ),
        token_context=Refusal(403, "INVALID_TOKEN_CONTEXT", "device is not consistent with access token."),
        not_found=Refusal(404, "DEVICE_NOT_FOUND", "Some identifier cannot be matched to a device"),
    )

    #: The subscriber data part this API reads ("reachability", "roaming").
    part: ClassVar[str]
    #: The field without which the part says nothing (then the 422 below).
    status_field: ClassVar[str]
    #: The spec's 422 for a network that cannot tell the status, and its example message.
    unavailable_code: ClassVar[str]
    unavailable_message: ClassVar[str]

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        self.check_media_types(request)
        data = body.require()
        self.validate("RetrieveRequest", data, ctx)
        subscriber = self.subscriber(token, data, ctx)
        part = subscriber.part(self.part)
        if self.status_field not in part:
            raise ApiError(
                422,
                self.unavailable_code,
                f"the data of {subscriber.number} holds no {self.part} status",
                message=self.unavailable_message,
            )
        return self.response(operation, self.answer(part), ctx)

    def answer(self, part: dict[str, Any]) -> dict[str, Any]:
        """The 200 body, from the subscriber's part (in the spec's key order)."""
        raise NotImplementedError

    # Request checks --------------------------------------------------------------------------

    def check_media_types(self, request: ApiRequest) -> None:
        """The spec's 415 and 406, before the body is read."""
        content_type = request.headers.get("content-type")
        if request.media_type != JSON:
            if not request.body and content_type is None:
                # Nothing was sent at all: the body is missing, not of the wrong type.
                raise ApiError(400, "INVALID_ARGUMENT", "the request needs a JSON body ({} at least)")
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"the body must be {JSON} (Content-Type: {content_type or 'none'})",
                message=UNSUPPORTED_MEDIA_TYPE,
            )
        accept = [value for name, value in request.headers.pairs if name.lower() == "accept"]
        if not accepts_json(accept):
            raise ApiError(
                406,
                "NOT_ACCEPTABLE",
                f"this API answers {JSON} only (Accept: {', '.join(accept)})",
                message=NOT_ACCEPTABLE,
            )

    # Errors of Device Status 0.6 (Commonalities 0.4.0) ---------------------------------------
