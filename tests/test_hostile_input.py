"""Bad input of every kind gets a clear error in the API's format: never a traceback, a 500, a hang,
or a request falling through to the real upstream with the client's credentials."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from flows import (
    AUTHORIZE,
    CLIENT,
    DLV,
    NV,
    REDIRECT,
    V3_TOKEN,
    bearer,
    dlv_body,
    lab_token,
    three_legged_token,
)


class Counting(http.server.BaseHTTPRequestHandler):
    """Stands where the real upstream would be; counts every request that reaches it."""

    hits: ClassVar[list[str]] = []

    def _any(self) -> None:
        Counting.hits.append(f"{self.command} {self.path}")
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _any

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def local(tmp_path_factory, schemas, upstream):
    """A proxy whose intercept host is the counting server, reached over plain HTTP."""
    from conftest import start_proxy

    proxy = start_proxy(tmp_path_factory.mktemp("proxy"), schemas, "--intercept-host", upstream)
    yield proxy
    proxy.stop()
    assert Counting.hits == [], f"requests reached the upstream: {Counting.hits}"


def dlv_text(**replace: str) -> str:
    """Orange's example body as text, with raw JSON put in for some values."""
    text = json.dumps(dlv_body())
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


HOSTILE_DLV = {
    "NaN latitude": dlv_text(**{'"latitude": 48.8': '"latitude": NaN'}),
    "Infinity radius": dlv_text(**{'"radius": 2000': '"radius": Infinity'}),
    "1e400 maxAge": dlv_text(**{'"maxAge": 3600': '"maxAge": 1e400'}),
    "NaN maxAge": dlv_text(**{'"maxAge": 3600': '"maxAge": NaN'}),
    "boolean radius": dlv_text(**{'"radius": 2000': '"radius": true'}),
    "huge integer": dlv_text(**{'"radius": 2000': '"radius": ' + "9" * 5000}),
    "deep nesting": '{"device": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "deep nesting, unclosed": '{"a": ' + "[" * 100_000,
    "trailing newline in number": dlv_text(**{'"33699901031"': '"33699901031\\n"'}),
    "null device": dlv_text(**{'{"phoneNumber": "33699901031"}': "null"}),
    "string area": dlv_text(**{'"area": {': '"area": "CIRCLE", "x": {'}),
}


def post_hostile(proxy, upstream: str, path: str, token: str, body: str):
    """POST a raw JSON text over plain HTTP to the counting host; the answer must be a short 400."""
    answer = proxy.session().post(
        f"http://{upstream}{path}",
        headers={**bearer(token), "Content-Type": "application/json"},
        data=body.encode(),
    )
    assert answer.status_code == 400, answer.text
    assert len(answer.headers["x-orange-proxy-reason"]) <= 200
    return answer.json()


@pytest.mark.parametrize("body", HOSTILE_DLV.values(), ids=HOSTILE_DLV.keys())
def test_hostile_location_bodies(local, upstream, body):
    path = "/camara/location-verification/orange-lab/v0/verify"
    error = post_hostile(local, upstream, path, lab_token_at(local, upstream), body)
    assert error == {"status": 400, "message": "Invalid input"}


HOSTILE_NV = {
    "NaN": '{"phoneNumber": NaN}',
    "trailing newline": '{"phoneNumber": "+990123456789\\n"}',
    "hash with newline": '{"hashedPhoneNumber": "' + "a" * 64 + '\\n"}',
    "huge extra field": '{"phoneNumber": "+990123456789", "x": "' + "A" * 200_000 + '"}',
    "deep nesting": '{"phoneNumber": ' + "[" * 5000 + "]" * 5000 + "}",
}


@pytest.mark.parametrize("body", HOSTILE_NV.values(), ids=HOSTILE_NV.keys())
def test_hostile_number_verification_bodies(local, upstream, body):
    path = "/camara/playground/api/number-verification/v1/verify"
    error = post_hostile(local, upstream, path, three_legged_token_at(local, upstream), body)
    assert error["code"] == "INVALID_ARGUMENT"


HOSTILE_ADMIN = {
    "NaN radius": '{"action": "CREATE", "phoneNumber": "+33611111111", "data": {"location": '
    '{"available": true, "lastLocationTime": "2026-01-01T00:00:00Z", "latitude": 1, "longitude": 1, '
    '"radius": NaN}}}',
    "huge latitude": '{"action": "CREATE", "phoneNumber": "+33611111111", "data": {"location": '
    '{"available": true, "lastLocationTime": "2026-01-01T00:00:00Z", "latitude": 1e400, "longitude": 1, '
    '"radius": 10}}}',
    "impossible date": '{"action": "UPDATE", "phoneNumber": "+990100000000", "data": {"simSwap": '
    '{"latestSimChange": "2026-02-30T25:61:00Z"}}}',
    "trailing newline in number": '{"action": "READ", "phoneNumber": "+33611111111\\n"}',
    "action of another type": '{"action": ["LIST"]}',
    "deep nesting": '{"action": "UPDATE", "phoneNumber": "+990100000000", "data": {"kyc": '
    + "[" * 5000
    + "]" * 5000
    + "}}",
}


@pytest.mark.parametrize("body", HOSTILE_ADMIN.values(), ids=HOSTILE_ADMIN.keys())
def test_hostile_admin_bodies(local, upstream, body):
    path = "/camara/playground/admin/v1.0/action"
    error = post_hostile(local, upstream, path, lab_token_at(local, upstream), body)
    assert error["code"] == "INVALID_ARGUMENT"


def lab_token_at(proxy, host: str) -> str:
    answer = proxy.session().post(
        f"http://{host}/oauth/v3/token", auth=CLIENT, data={"grant_type": "client_credentials"}
    )
    return answer.json()["access_token"]


def three_legged_token_at(proxy, host: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    session = proxy.session()
    answer = session.get(
        f"http://{host}/openidconnect/playground/v1.0/authorize",
        params={
            "response_type": "code",
            "client_id": "a",
            "redirect_uri": REDIRECT,
            "scope": "openid number-verification:verify",
            "login_hint": "tel:+990123456789",
        },
        allow_redirects=False,
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = session.post(
        f"http://{host}/openidconnect/playground/v1.0/token",
        auth=("a", "b"),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
    )
    return token.json()["access_token"]


@pytest.mark.parametrize(
    "header",
    [b"Basic \xe9\xe9", "Basic é".encode(), b"Basic", b"Bearer abc", b"Basic Og=="],  # Og== is ":"
)
def test_odd_basic_headers_on_the_token_endpoints(local, upstream, header):
    session = local.session()
    answer = session.post(
        f"http://{upstream}/oauth/v3/token",
        headers={"Authorization": header},
        data={"grant_type": "client_credentials"},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_non_ascii_secret_against_listed_clients(proxy_factory, tmp_path):
    rules = tmp_path / "c.yaml"
    rules.write_text("clients: [{client_id: my-app, client_secret: my-secret}]\n")
    proxy = proxy_factory("--rules", str(rules))
    session = proxy.session()
    for auth in [("my-app", "sécret"), ("my-app", "")]:
        answer = session.post(V3_TOKEN, auth=auth, data={"grant_type": "client_credentials"})
        assert answer.status_code == 401
    form = session.post(
        V3_TOKEN,
        data={"grant_type": "client_credentials", "client_id": "my-app", "client_secret": "s\u00e9cret"},
    )
    assert form.status_code == 401


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/cb\r\nSet-Cookie: x=1",
        "http://[foo/cb",
        "https://app.example/cb#frag",
        "/relative",
        "https://app.example/c b",
        "https://",
    ],
)
def test_untrustworthy_redirect_uris_get_json_not_a_redirect(proxy, redirect_uri):
    answer = proxy.session().get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": "a",
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "login_hint": "tel:+990123456789",
        },
        allow_redirects=False,
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "Set-Cookie" not in answer.headers
    assert answer.json()["error"] == "invalid_request"


def test_state_comes_back_byte_for_byte(proxy):
    query = (
        "response_type=code&client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope=openid"
        "&login_hint=tel%3A%2B990123456789&state=%FF%00a+b%2Bc"
    )
    answer = proxy.session().get(f"{AUTHORIZE}?{query}", allow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("&state=%FF%00a+b%2Bc")


def test_login_hint_with_trailing_newline_is_refused(proxy):
    answer = proxy.session().get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": "a",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "login_hint": "tel:+990123456789\n",
            "state": "s",
        },
        allow_redirects=False,
    )
    assert "error=invalid_request" in answer.headers["Location"]


def test_head_gets_no_body_and_the_connection_survives(proxy):
    session = proxy.session()
    token = lab_token(session)
    for _ in range(3):
        head = session.head(DLV, headers=bearer(token))
        assert head.status_code == 405
        assert head.content == b""
        after = session.post(DLV, headers=bearer(token), json=dlv_body())
        assert after.status_code == 200  # the same keep-alive connection is still in step


def test_repeated_parameters_are_refused(proxy):
    session = proxy.session()
    twice = session.post(V3_TOKEN, auth=CLIENT, data=[("grant_type", "client_credentials")] * 2)
    assert twice.status_code == 400
    assert "repeated" in twice.json()["error_description"]
    token = three_legged_token(session, "+990123456789")
    query = session.post(NV + "/verify?x=1&x=2", headers=bearer(token), json={"phoneNumber": "+990123456789"})
    assert query.status_code == 200  # NV takes no query parameters; unknown ones are ignored
