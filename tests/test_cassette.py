"""The cassette format: what we write is what vcrpy reads, and what vcrpy (or anyone) wrote we read."""

from __future__ import annotations

import gzip
import subprocess
import zlib
from pathlib import Path

import pytest
import yaml
from conftest import orange_proxy_command
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.content_codings import encode_body
from proxy_addons.cassettes.model import CassetteError, Interaction, Request, Response, identity_encoded


def interaction(body: bytes = b'{"ok": true}', **response_headers: list[str]) -> Interaction:
    return Interaction(
        Request(
            "POST", "https://api.orange.com/oauth/v3/token", {"Content-Type": ["application/json"]}, b"{}"
        ),
        Response(200, "OK", {"Content-Type": ["application/json"], **response_headers}, body),
        {"note": "ours"},
    )


def test_written_cassettes_are_what_vcrpy_reads(tmp_path):
    cassette = Cassette(
        tmp_path / "c.yaml", [interaction(), interaction(b"\xff\x00binary")], {"created": "now"}
    )
    cassette.save()
    text = cassette.path.read_text()
    data = yaml.safe_load(text)
    assert data["version"] == 1
    assert set(data["interactions"][0]["request"]) == {"method", "uri", "body", "headers"}
    assert data["interactions"][0]["response"]["body"]["string"] == '{"ok": true}'  # text stays text
    assert "!!binary" in text  # non-UTF-8 is stored as vcrpy stores it
    requests, responses = deserialize(text, yamlserializer)[:2]
    assert requests[0].method == "POST" and requests[0].uri.endswith("/oauth/v3/token")
    assert responses[1]["body"]["string"] == b"\xff\x00binary"
    again = Cassette.load(cassette.path)
    assert again.interactions[1].response.body == b"\xff\x00binary"
    assert again.interactions[0].meta == {"note": "ours"} and again.meta == {"created": "now"}


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    cassette = Cassette(tmp_path / "c.yaml", [interaction()])
    for _ in range(3):
        cassette.interactions.append(interaction())
        cassette.save()
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]
    assert len(Cassette.load(tmp_path / "c.yaml").interactions) == 4


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda d: zlib.compress(d)[2:-4]),  # raw deflate, as some servers send it
        ("x-gzip", gzip.compress),
        ("br", lambda d: encode_body(d, "br")),
        ("zstd", lambda d: encode_body(d, "zstd")),
        ("gzip, br", lambda d: encode_body(gzip.compress(d), "br")),
        ("zstd, gzip", lambda d: gzip.compress(encode_body(d, "zstd"))),
    ],
)
def test_bodies_are_stored_uncompressed(encoding, encode):
    plain = b'{"token_type": "Bearer"}'
    message = identity_encoded(
        Response(200, "OK", {"Content-Encoding": [encoding], "Content-Length": ["999"]}, encode(plain))
    )
    assert message.body == plain
    assert "Content-Encoding" not in message.headers
    assert message.headers["Content-Length"] == [str(len(plain))]


def test_a_zstd_encoded_body_in_a_cassette_file_is_decoded_at_load(tmp_path):
    # mitmproxy 12.3 moved from zstandard to backports.zstd; decoding goes through mitmproxy either way.
    plain = b'{"verificationResult": "TRUE"}'
    source = Cassette(
        tmp_path / "zstd.yaml",
        [interaction(encode_body(plain, "zstd"), **{"Content-Encoding": ["zstd"]})],
    )
    source.path.write_bytes(source.dumps())  # dumps() stores the body as it is: !!binary zstd
    assert b"!!binary" in source.path.read_bytes()
    loaded = Cassette.load(source.path).interactions[0].response
    assert loaded.body == plain
    assert "Content-Encoding" not in loaded.headers
    assert loaded.headers["Content-Length"] == [str(len(plain))]


@pytest.mark.parametrize("coding", ["base64", "rot13", "utf-8", "compress"])
def test_a_coding_that_is_not_an_http_content_coding_is_not_decoded(coding):
    # mitmproxy's decoder falls back to Python's codecs for names it does not know; we never do.
    body = b"eyJvayI6IHRydWV9"
    message = identity_encoded(Response(200, "OK", {"Content-Encoding": [coding]}, body))
    assert message.body == body


def test_a_body_labelled_gzip_that_is_not_is_served_as_identity():
    # vcrpy + requests records the decoded body and keeps Content-Encoding: gzip.
    plain = b'{"verificationResult": "TRUE"}'
    message = identity_encoded(
        Response(200, "OK", {"content-encoding": ["gzip"], "content-length": ["12"]}, plain)
    )
    assert message.body == plain
    assert {k.lower() for k in message.headers} == {"content-length"}


def test_foreign_cassettes_load(tmp_path):
    path = tmp_path / "foreign.yaml"
    path.write_text(
        "interactions:\n"
        "- request: {method: post, uri: 'https://api.orange.com/x', body: null, headers: {A: b}}\n"
        "  response:\n"
        "    status: {code: 200, message: ''}\n"
        "    headers: {Content-Type: application/json}\n"
        "    body: {string: '{}'}\n"
        "version: 1\n"
    )
    loaded = Cassette.load(path).interactions[0]
    assert loaded.request.method == "POST"
    assert loaded.request.headers == {"A": ["b"]}
    assert loaded.response.headers == {"Content-Type": ["application/json"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("interactions: [", "not valid YAML"),
        ("- request: {}\n", "pre-1.0 vcrpy cassette"),
        ("version: 1\n", "no 'interactions' list"),
        ("interactions:\n- request: {method: GET}\n", "interaction #1 is malformed"),
    ],
)
def test_unreadable_cassettes_say_why(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(CassetteError, match=message):
        Cassette.load(path)


def test_a_missing_cassette_is_empty_and_new(tmp_path):
    cassette = Cassette.load(tmp_path / "absent.yaml")
    assert cassette.interactions == [] and cassette.existed is False


def check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*orange_proxy_command(), "cassette", "check", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


CLEAN = (
    "interactions:\n"
    "- request:\n"
    "    method: POST\n"
    "    uri: https://api.orange.com/oauth/v3/token\n"
    "    body: grant_type=client_credentials\n"
    "    headers: {Authorization: [Basic SCRUBBED-CREDENTIALS]}\n"
    "  response:\n"
    "    status: {code: 200, message: OK}\n"
    "    headers: {Content-Type: [application/json]}\n"
    '    body: {string: \'{"token_type": "Bearer", "access_token": "SCRUBBED-ACCESS-TOKEN-0001", '
    '"expires_in": 3600}\'}\n'
    "version: 1\n"
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("SCRUBBED-ACCESS-TOKEN-0001", "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz"),
            "secret left",
        ),
        (("Basic SCRUBBED-CREDENTIALS", "Basic bXktYXBwOm15LXNlY3JldC1wYXNzd29yZA=="), "secret left"),
        (("[application/json]", "application/json"), "header values must be lists"),
        (("method: POST", "method: post"), "upper case"),
        (("code: 200, message: OK", "code: '200', message: OK"), "response status must be"),
        (('"token_type": "Bearer", ', ""), "'token_type' is a required property"),
    ],
)
def test_cassette_check_finds_problems(tmp_path, change, expected):
    good = tmp_path / "good.yaml"
    good.write_text(CLEAN)
    assert check(good).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(CLEAN.replace(*change))
    result = check(good, bad)
    assert result.returncode == 1
    assert f"{bad}: " in result.stdout and expected in result.stdout
    assert f"{good}: ok (1 interaction)" in result.stdout


def test_cassette_check_on_a_missing_file(tmp_path):
    result = check(tmp_path / "nope.yaml")
    assert result.returncode == 1
    assert "no such file" in result.stdout


def test_saving_renders_each_interaction_once(tmp_path, monkeypatch):
    import proxy_addons.cassettes.serializer as module

    rendered = []
    real = module._interaction_data
    monkeypatch.setattr(module, "_interaction_data", lambda i: rendered.append(i) or real(i))
    cassette = Cassette(tmp_path / "c.yaml")
    for _ in range(5):
        cassette.interactions.append(interaction())
        cassette.save()
    assert len(rendered) == 5  # not 1 + 2 + 3 + 4 + 5
    assert len(Cassette.load(cassette.path).interactions) == 5


def test_a_tape_removes_temporaries_of_an_interrupted_save(tmp_path):
    from proxy_addons.cassettes.tape import Tape

    Cassette(tmp_path / "c.yaml", [interaction()]).save()
    stale = tmp_path / ".c.yaml.abc123.tmp"
    stale.write_text("half a cassette")
    tape = Tape(tmp_path / "c.yaml")
    assert not stale.exists()
    assert tape.replayable == 1
