"""`orange-proxy cassette check FILE…`: is each cassette loadable by vcrpy, free of secrets, and are its
recorded answers what our schemas say? Exit status 1 on any problem, for CI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import yaml

from proxy_addons.cassettes import serializer
from proxy_addons.cassettes.model import CassetteError, Interaction
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.scrubbing.leaks import leaks
from proxy_addons.simulator.apis import ALL_APIS, GATEWAY
from proxy_addons.simulator.routing import Router

REQUEST_KEYS = {"method", "uri", "body", "headers"}


def vcrpy_shape(data: Any) -> list[str]:
    """What vcrpy would choke on, or quietly get wrong (see MITMPROXY-AND-VCRPY.md §11)."""
    problems = []
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        return ["not a vcrpy cassette: no 'interactions' list at the top level"]
    if data.get("version") != 1:
        problems.append(f"version is {data.get('version')!r}, not 1")
    for number, item in enumerate(data["interactions"], 1):
        where = f"interaction #{number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: not a mapping with request and response")
            continue
        request, response = item.get("request"), item.get("response")
        if not isinstance(request, dict) or set(request) != REQUEST_KEYS:
            problems.append(f"{where}: request must have exactly the keys {sorted(REQUEST_KEYS)}")
            continue
        if not isinstance(request["method"], str) or request["method"] != request["method"].upper():
            problems.append(f"{where}: request method must be upper case (vcrpy compares it verbatim)")
        if not isinstance(response, dict):
            problems.append(f"{where}: no response")
            continue
        status = response.get("status")
        if not isinstance(status, dict) or not isinstance(status.get("code"), int) or "message" not in status:
            problems.append(f"{where}: response status must be {{code: <int>, message: <str>}}")
        for side, headers in (("request", request.get("headers")), ("response", response.get("headers"))):
            if not isinstance(headers, dict):
                problems.append(f"{where}: {side} headers must be a mapping")
            elif any(not isinstance(v, list) for v in headers.values()):
                problems.append(
                    f"{where}: {side} header values must be lists (vcrpy splits a string into characters)"
                )
        body = response.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("string"), (str, bytes)):
            problems.append(f"{where}: response body must be {{string: <text or !!binary>}}")
    return problems


class Contract(NamedTuple):
    """What a recorded answer is checked against: the classification of requests and the schemas
    (no synthesiser, rules or state are built for it)."""

    router: Router
    schemas: SchemaStore


def schema_problems(contract: Contract, interaction: Interaction) -> list[str]:
    parts = urlsplit(interaction.request.uri)
    if parts.hostname != "api.orange.com":
        return []
    route = contract.router.classify(interaction.request.method, parts.path)
    if route is None or route.api is GATEWAY or route.operation is None:
        return []
    response = interaction.response
    if 300 <= response.status < 400:  # a redirect's body (if any) is for browsers, not the contract
        return []
    try:
        data = json.loads(response.body) if response.body else None
    except (ValueError, RecursionError):
        return [f"{route.label} {response.status}: the body is not JSON"]
    found = contract.schemas.check_response(
        f"{route.api.name}#{route.operation.name}.{response.status}", response.status, data
    )
    return [f"{route.label} {response.status}: {problem}" for problem in found[:3]]


class Checked(NamedTuple):
    problems: list[str]
    interactions: int  # how many the cassette holds (when it could be read)


def check_file(path: Path, contract: Contract) -> Checked:
    """The file's problems. It is read and parsed once, by us; vcrpy parses it again on its own."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Checked([f"cannot be read: {exc.strerror}"], 0)
    try:
        data = serializer.parse(raw)
    except yaml.YAMLError as exc:
        return Checked([serializer.yaml_problem(exc)], 0)
    except RecursionError:
        return Checked(["not a cassette: YAML nested too deeply"], 0)
    problems = vcrpy_shape(data)
    if problems:
        return Checked(problems, 0)
    try:
        from vcr.serialize import deserialize
        from vcr.serializers import yamlserializer

        deserialize(raw.decode("utf-8"), yamlserializer)
    except Exception as exc:  # whatever vcrpy raises is the answer to "does vcrpy load it?"
        problems.append(f"vcrpy cannot load it: {exc!r}")
    problems += [f"secret left: {leak}" for leak in leaks(raw.decode("utf-8", errors="replace"))]
    try:
        loaded = serializer.from_data(data, path)
    except CassetteError as exc:
        return Checked([*problems, str(exc)], 0)
    interactions = loaded[0] if loaded else []
    for number, interaction in enumerate(interactions, 1):
        label = f"interaction #{number} ({interaction.request.method} {interaction.request.uri})"
        problems += [f"{label}: {p}" for p in schema_problems(contract, interaction)]
    return Checked(problems, len(interactions))


def check_files(paths: Sequence[str] | Iterable[str], out=sys.stdout) -> int:
    contract = Contract(Router(ALL_APIS, fallback=GATEWAY), default_store())
    failed = 0
    for name in paths:
        path = Path(name)
        if not path.is_file():
            print(f"{name}: no such file", file=out)
            failed += 1
            continue
        problems, count = check_file(path, contract)
        if problems:
            failed += 1
            for problem in problems:
                print(serializer.located(name, problem), file=out)
        else:
            print(f"{name}: ok ({count} interaction{'s' if count != 1 else ''})", file=out)
    return 1 if failed else 0
