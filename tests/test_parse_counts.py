"""Each request body is parsed once in the cassette layer: a replayed request is masked and keyed
from one parse of its body, a recorded one is scrubbed from one parse and masked and keyed from the
scrubbed tree."""

from __future__ import annotations

import json

import pytest

from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.model import Interaction, Request, Response
from proxy_addons.cassettes.tape import Hit, Tape

DLV = "https://api.orange.com/camara/location-verification/orange-lab/v0/verify"
V3_TOKEN = "https://api.orange.com/oauth/v3/token"
VERIFY = '{"device": {"phoneNumber": "33699901031"}, "area": {"areaType": "CIRCLE", "radius": 2000}}'
JSON = {"Content-Type": ["application/json"]}


def exchange(body: str, authorization: str, answer: str) -> Interaction:
    return Interaction(
        Request("POST", DLV, {**JSON, "Authorization": [authorization]}, body.encode()),
        Response(200, "OK", dict(JSON), answer.encode()),
    )


def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the json module parses from now on. Every way in (json.loads with or without
    hooks, json.load, a JSONDecoder of one's own) goes through JSONDecoder.raw_decode."""
    texts: list[str] = []
    real = json.JSONDecoder.raw_decode

    def counting(self: json.JSONDecoder, text: str, *args: object, **kwargs: object) -> object:
        texts.append(text)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(json.JSONDecoder, "raw_decode", counting)
    return texts


def test_a_replayed_json_body_is_parsed_once(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    token = Interaction(
        Request("POST", V3_TOKEN, {"Content-Type": ["application/x-www-form-urlencoded"]}, b"grant_type=x"),
        Response(200, "OK", dict(JSON), b'{"access_token": "SCRUBBED-ACCESS-TOKEN-0001"}'),
    )
    other = exchange(VERIFY.replace("2000", "3000"), "Bearer SCRUBBED-ACCESS-TOKEN-0001", '{"r": "FALSE"}')
    recorded = exchange(VERIFY, "Bearer SCRUBBED-ACCESS-TOKEN-0001", '{"r": "TRUE"}')
    Cassette(path, [token, other, recorded]).save()
    tape = Tape(path)
    texts = parses(monkeypatch)
    live = Request("POST", DLV, {**JSON, "Authorization": ["Bearer a-real-token-8sJk2Lm"]}, VERIFY.encode())

    found = tape.find(live)

    assert isinstance(found, Hit) and found.interaction.response.body == b'{"r": "TRUE"}'
    assert texts == [VERIFY]


def test_a_recorded_json_body_is_parsed_once(tmp_path, monkeypatch):
    tape = Tape(tmp_path / "c.yaml")
    body = VERIFY.replace("}}", '}, "client_secret": "s3cr3t-Hk8Jq2Lw9Vz4"}')
    answer = '{"token_type": "Bearer", "access_token": "tok-8sJk2LmQ9xZp4VbN7cWe0Ty"}'
    texts = parses(monkeypatch)

    written = tape.record(exchange(body, "Bearer tok-8sJk2LmQ9xZp4VbN7cWe0Ty", answer))

    assert b"SCRUBBED-CLIENT-SECRET-0001" in (written.request.body or b"")
    assert sorted(texts) == sorted([body, answer])  # the request body once, the response body once
    monkeypatch.undo()
    replayed = Tape(tape.path).find(exchange(body, "Bearer another-token-123456", "").request)
    assert isinstance(replayed, Hit)  # the key of the scrubbed tree is the key of the file's request
