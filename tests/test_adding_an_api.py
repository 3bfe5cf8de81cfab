"""README's "Adding an API", pinned: one module (an `Api` subclass), one schema file, one registration
line. A tiny API registered from test code is classified, synthesised, faulted in its own dialect,
answered by a rules override and logged, with no change anywhere else."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any, ClassVar

from mitmproxy.test import taddons
from pipeline_helpers import addon, api_flow, lab_token, run_flow

from proxy_addons.addons import default_addons
from proxy_addons.addons.stages import ACTION, FAULT, ROUTE
from proxy_addons.config.schemas import SchemaStore
from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.resources import schemas_dir
from proxy_addons.simulator.apis import ALL_APIS
from proxy_addons.simulator.apis.base import BearerApi, JsonBody, Operation
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import Dialect
from proxy_addons.state import OAUTH_V3, Token

BASE = "/camara/echo/v1"


class Echo(BearerApi):
    """The module: routes, the token it takes, its dialect and its answer."""

    name = "echo"
    prefixes = (BASE + "/",)
    operations = (Operation("say", "POST", BASE + "/say"),)
    issuers = frozenset({OAUTH_V3})
    dialect = Dialect(orange={503: {"status": 503, "message": "Echo is resting"}})
    required_scopes: ClassVar = {}

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        data = body.require()
        self.validate("SayRequest", data, ctx)
        return self.response(operation, {"echo": data["words"]}, ctx)


# The schema file: the request, the answer per status, the errors.
ECHO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "SayRequest": {
            "type": "object",
            "required": ["words"],
            "properties": {"words": {"type": "string", "maxLength": 40}},
            "additionalProperties": False,
        },
        "say.200": {
            "type": "object",
            "required": ["echo"],
            "properties": {"echo": {"type": "string"}},
            "additionalProperties": False,
        },
        "error.503": {"type": "object", "required": ["status", "message"]},
        "error.default": {"type": "object", "required": ["status", "code", "message"]},
    },
}


def test_a_tiny_api_takes_one_module_one_schema_file_and_one_registration_line(tmp_path):
    schemas = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), schemas)
    (schemas / "echo.schema.json").write_text(json.dumps(ECHO_SCHEMA))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "overrides:\n"
        "  - name: loud\n"
        "    match: {api: echo, operation: say, body: {words: shout}}\n"
        "    response: {status: 200, body: {echo: SHOUT}}\n"
    )
    apis = (*ALL_APIS, Echo())  # the registration line

    async def main() -> None:
        addons = default_addons(apis, SchemaStore(schemas))
        with taddons.context(*addons) as tctx:
            tctx.configure(addon(addons, "orange_core"), orange_rules=[str(rules)])
            token = lab_token(addons)
            events = addon(addons, "orange_event_log")

            # Classified and synthesised.
            flow = await run_flow(addons, api_flow("POST", BASE + "/say", {"words": "hello"}, token))
            assert flow.metadata[ROUTE] == "echo/say"
            assert (flow.response.status_code, flow.response.json()) == (200, {"echo": "hello"})
            assert flow.metadata[ACTION] == "synthesised"

            # Its validation, in CAMARA's dialect (the schema file says what a request may hold).
            flow = await run_flow(addons, api_flow("POST", BASE + "/say", {"words": 7}, token))
            assert flow.response.status_code == 400
            assert flow.response.json()["code"] == "INVALID_ARGUMENT"

            # A rules override scoped to it validates against its schema and answers.
            flow = await run_flow(addons, api_flow("POST", BASE + "/say", {"words": "shout"}, token))
            assert flow.response.json() == {"echo": "SHOUT"}

            # A fault scoped to it (the fault file's `api` knows it from its schema file), answered
            # in its own dialect.
            fault = addon(addons, "orange_faults").add("service_unavailable:api=echo,times=1")
            flow = await run_flow(addons, api_flow("POST", BASE + "/say", {"words": "again"}, token))
            assert flow.response.status_code == 503
            assert flow.response.json() == {"status": 503, "message": "Echo is resting"}
            assert flow.metadata[FAULT] == [{"id": fault.id, "fault": "service_unavailable"}]
            assert flow.metadata[ACTION] == "faulted"

            # Unknown paths below its prefix are its 404; other methods its 405.
            flow = await run_flow(addons, api_flow("GET", BASE + "/say", None, token))
            assert (flow.response.status_code, flow.response.headers["Allow"]) == (405, "POST")

            # And the event log saw all of it.
            exchanges = [e for e in events.since(0) if e["type"] == "exchange"]
            assert [e["request"]["route"] for e in exchanges] == ["echo/say"] * 4 + ["echo/-"]
            assert [e["status"] for e in exchanges] == [200, 400, 200, 503, 405]
            assert exchanges[3]["fault"][0]["fault"] == "service_unavailable"

    asyncio.run(main())


def test_without_its_schema_file_a_fault_for_it_is_refused(tmp_path):
    # The fault file's `api` names come from the schema files: no file, no API to scope to.
    async def main() -> str:
        addons = default_addons((*ALL_APIS, Echo()))
        with taddons.context(*addons):
            try:
                addon(addons, "orange_faults").add("service_unavailable:api=echo")
            except ValueError as exc:
                return str(exc)
            return "accepted"

    assert "'echo' is not one of" in asyncio.run(main())
