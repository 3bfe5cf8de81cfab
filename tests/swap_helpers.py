"""What the SIM Swap and Device Swap tests share: fresh applications, Admin numbers, times."""

from __future__ import annotations

import itertools
import json
import time

from flows import ORANGE, bearer, lab_token

from proxy_addons.config.rules import load_rules
from proxy_addons.config.schemas import SchemaStore
from proxy_addons.model import ApiRequest, Headers, parse_datetime
from proxy_addons.simulator.engine import Engine
from proxy_addons.state import PLAYGROUND, Subscriber
from proxy_addons.timestamps import rfc3339

ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
HOUR = 3600
DAY = 24 * HOUR

_clients = itertools.count()


def fresh_client(prefix: str) -> tuple[str, str]:
    """A new application: user-defined numbers belong to the one that created them."""
    return (f"{prefix}-{next(_clients)}-{time.monotonic_ns()}", "secret")


def ago(seconds: float) -> str:
    """The RFC 3339 time `seconds` before now, as the Admin API stores it."""
    return rfc3339(time.time() - seconds)


def age_of(text: str) -> float:
    """How many seconds ago an RFC 3339 time is."""
    return time.time() - parse_datetime(text).timestamp()


def admin(session, client, body) -> dict:
    """One Admin API action for `client`, which must succeed."""
    answer = session.post(ADMIN, headers=bearer(lab_token(session, client)), json=body)
    assert answer.status_code in (200, 201, 204), answer.text
    return answer.json() if answer.content else {}


def create(session, client, number: str, **parts) -> None:
    admin(session, client, {"action": "CREATE", "phoneNumber": number, "data": parts})


def update(session, client, number: str, **parts) -> None:
    admin(session, client, {"action": "UPDATE", "phoneNumber": number, "data": parts})


def error_of(answer) -> tuple[int, str | None, str]:
    """(HTTP status, code, message) of an error answer."""
    body = answer.json()
    return answer.status_code, body.get("code"), body["message"]


def answers_without_a_record(schemas: SchemaStore, path: str, body: dict) -> dict[str, tuple[int, dict]]:
    """Both operations of the swap API at `path`, in-process, for a line whose data holds no part at
    all (the directory never serves one today): (status, body) per operation, each schema-checked."""
    engine = Engine(load_rules([], schemas))
    token = engine.state.tokens.issue("app", PLAYGROUND, "client_credentials", [], 3600)
    engine.state.directory.subscriber = lambda number, client=None: Subscriber(number, "rules", {}, None)
    headers = Headers([("Authorization", f"Bearer {token.value}"), ("Content-Type", "application/json")])
    answers = {}
    for operation in ("retrieve-date", "check"):
        route = engine.classify("POST", f"/camara/playground/api/{path}/{operation}")
        assert route is not None and route.operation is not None
        request = ApiRequest(
            "POST", "api.orange.com", route.operation.path, headers=headers, body=json.dumps(body).encode()
        )
        response = engine.handle(route, request)
        assert response.schema is not None
        assert not schemas.check_response(response.schema, response.status, response.data)
        answers[operation] = (response.status, response.data)
    return answers
