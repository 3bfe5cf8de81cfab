"""Network APIs Playground - Admin 1.0: LIST, CREATE, READ, UPDATE and DELETE of a client's
user-defined phone numbers and their data, on one endpoint (ORANGE-AND-CAMARA.md §6).

Its token is Orange's generic one from /oauth/v3/token; a playground token gets 401. What it changes
lives in `state.playground`, where Number Verification and location verification read it at once.
"""

from __future__ import annotations

from typing import Any

from proxy_addons.model import ApiRequest, ApiResponse, dig
from proxy_addons.simulator.apis.base import BearerApi, JsonBody, Operation
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import OAUTH_V3, Token
from proxy_addons.state.playground import PLAYGROUND_PREFIX, LimitReached

BASE = "/camara/playground/admin/v1.0"

# Orange's words, as observed on the live playground (§6); the detail header says more.
NOT_FOUND = "PhoneNumber Not Found"
ALREADY_EXISTS = "PhoneNumber Already Exists"
LIMIT_REACHED = "Maximum Number Of PhoneNumbers Reached"
READ_ONLY = "Predefined PhoneNumber Cannot Be Modified"


def bad_request(message: str, detail: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", detail, message=message)


class PlaygroundAdmin(BearerApi):
    name = "playground-admin"
    prefixes = (BASE + "/",)
    operations = (Operation("action", "POST", BASE + "/action"),)
    issuers = frozenset({OAUTH_V3})

    def authorise(self, operation: Operation, token: Token, ctx: ApiContext) -> None:
        if token.issuer not in self.issuers:
            # Observed: the Admin API answers a playground token with 401, not 403 (§6).
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "the Admin API takes a token from /oauth/v3/token, not one from the playground",
            )
        super().authorise(operation, token, ctx)

    def subject(self, token: Token, body: Any) -> str | None:
        number = dig(body, "phoneNumber")
        return number if isinstance(number, str) else None

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        data = body.require()
        self.validate("ActionRequest", data, ctx)
        action: str = data["action"]
        client = token.client_id
        playground = ctx.state.playground
        users = playground.users
        if action == "LIST":
            # User-defined numbers only: the predefined ones are not listed.
            return self.response(operation, {"phoneNumbers": users.numbers(client)}, ctx)

        number: str = data["phoneNumber"]
        predefined = number.startswith(PLAYGROUND_PREFIX)
        own = users.get(client, number)
        if action == "CREATE":
            if predefined:
                raise bad_request(ALREADY_EXISTS, f"{number} is a predefined playground number")
            if own is not None:
                raise bad_request(ALREADY_EXISTS, f"{number} is already defined for {client}")
            entry = playground.builtins.new_entry(ctx.now())
            entry.update(data.get("data", {}))  # our addition: set data at creation
            try:
                created = users.create(client, number, entry)
            except LimitReached as exc:
                raise bad_request(LIMIT_REACHED, str(exc)) from None
            return self.response(operation, {"data": created}, ctx, status=201)

        if own is None and not predefined:
            raise bad_request(NOT_FOUND, f"{number} is not a user-defined number of {client}")
        if action == "READ":
            entry = own if own is not None else playground.builtins.read(number, ctx.now())
            return self.response(operation, {"data": entry}, ctx)
        if action == "UPDATE":
            # A predefined number echoes the update but keeps its data, as Orange's does.
            if own is not None:
                users.update(client, number, data["data"])
            return self.response(operation, {"data": data["data"]}, ctx)
        # DELETE
        if own is None:
            raise bad_request(READ_ONLY, f"{number} is a predefined playground number")
        users.delete(client, number)
        # Orange answers 204 with an empty text/html body.
        return ApiResponse(status=204, raw=b"", headers={"Content-Type": "text/html"})
