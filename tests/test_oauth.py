"""Both OAuth flows through the real proxy: success, and the OAuth/OIDC errors Orange's clients meet."""

from __future__ import annotations

import base64
import json
import time

import pytest
from flows import (
    AUTHORIZE,
    CLIENT,
    NV,
    PLAYGROUND_TOKEN,
    REDIRECT,
    V3_TOKEN,
    authorize,
    bearer,
    exchange,
    redirect_params,
)


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_three_legged_flow_issues_a_token_bound_to_the_login_hint(proxy):
    session = proxy.session()
    answer = authorize(session, "+990123456789", nonce="n-42")
    params = redirect_params(answer)
    assert params["state"] == "st-123"
    assert params["code"].startswith("OFR-")

    token = exchange(session, params["code"])
    assert token.status_code == 200
    assert token.headers["Cache-Control"] == "no-store"
    body = token.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {
        "openid",
        "dpv:FraudPreventionAndDetection",
        "number-verification:verify",
    }
    claims = jwt_claims(body["id_token"])
    assert claims["aud"] == CLIENT[0]
    assert claims["nonce"] == "n-42"
    assert claims["exp"] - claims["iat"] == 3600

    share = session.get(NV + "/verify", headers=bearer(body["access_token"]))
    assert share.status_code == 405  # the token works; the method is wrong


def test_no_id_token_without_openid(proxy):
    session = proxy.session()
    code = redirect_params(authorize(session, "+990100000001", scope="number-verification:verify"))["code"]
    body = exchange(session, code).json()
    assert "id_token" not in body
    assert body["scope"] == "number-verification:verify"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"scope": "openid number-verification:verify dance:all"}, "invalid_scope"),
        ({"scope": ""}, "invalid_request"),
        ({"login_hint": None}, "invalid_request"),
        ({"login_hint": "+990123456789"}, "invalid_request"),  # no tel: prefix
        ({"login_hint": "tel:+33612345678"}, "access_denied"),  # not a playground number
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_authorize_errors_are_redirected_with_state(proxy, change, error):
    session = proxy.session()
    params = {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "scope": "openid number-verification:verify",
        "state": "keep-me",
        "login_hint": "tel:+990123456789",
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    answer = session.get(AUTHORIZE, params=params, allow_redirects=False)
    redirected = redirect_params(answer)
    assert redirected["error"] == error
    assert redirected["error_description"]
    assert redirected["state"] == "keep-me"
    assert "code" not in redirected


@pytest.mark.parametrize("missing", ["client_id", "redirect_uri"])
def test_authorize_never_redirects_to_an_untrusted_uri(proxy, missing):
    params = {
        "response_type": "code",
        "client_id": "a",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "login_hint": "tel:+990123456789",
    }
    del params[missing]
    answer = proxy.session().get(AUTHORIZE, params=params, allow_redirects=False)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert missing in answer.json()["error_description"]


def test_codes_are_single_use_and_reuse_revokes_the_token(proxy):
    session = proxy.session()
    code = redirect_params(authorize(session, "+990123456789"))["code"]
    first = exchange(session, code)
    assert first.status_code == 200
    access = first.json()["access_token"]
    ok = session.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": "+990123456789"})
    assert ok.status_code == 200

    again = exchange(session, code)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "authorization code already used"}
    revoked = session.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": "+990123456789"})
    assert revoked.status_code == 401


def test_codes_are_bound_to_client_and_redirect_uri(proxy):
    session = proxy.session()
    code = redirect_params(authorize(session, "+990123456789"))["code"]
    other_client = exchange(session, code, client=("someone-else", "x"))
    assert other_client.status_code == 400
    assert "another client" in other_client.json()["error_description"]
    wrong_uri = exchange(session, code, redirect_uri="https://evil.example/cb")
    assert wrong_uri.status_code == 400
    assert wrong_uri.json()["error"] == "invalid_grant"
    # Neither failed attempt consumed the code.
    assert exchange(session, code).status_code == 200


def test_codes_expire(proxy_factory):
    proxy = proxy_factory("--set", "orange_code_lifetime=1")
    session = proxy.session()
    code = redirect_params(authorize(session, "+990123456789"))["code"]
    time.sleep(1.2)
    answer = exchange(session, code)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "authorization code expired"}


def test_two_legged_flow_with_httpx(proxy):
    with proxy.httpx_client() as client:
        answer = client.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"token_type", "access_token", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == "3600"  # as Orange's lab page shows it (profile orange)


def test_two_legged_expires_in_is_a_number_under_camara(camara_proxy):
    answer = camara_proxy.session().post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    assert answer.json()["expires_in"] == 3600


def test_playground_endpoint_also_grants_client_credentials(proxy):
    answer = proxy.session().post(PLAYGROUND_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 3600


def test_client_credentials_in_the_form_are_accepted(proxy):
    answer = proxy.session().post(
        V3_TOKEN, data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("headers", "data", "status", "error", "description"),
    [
        (
            {"Authorization": "Basic !!!notbase64"},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
            "Unable to decode Basic authorization.",
        ),
        (
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
            "Unable to decode Basic authorization.",
        ),
        (
            {},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
            "The requested service needs credentials, but none were provided.",
        ),
        (None, {}, 400, "invalid_request", "Missing grant_type in body"),
        (None, {"grant_type": "password", "username": "u"}, 400, "unsupported_grant_type", None),
        (
            None,
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
            400,
            "unsupported_grant_type",
            None,
        ),  # /oauth/v3 grants client_credentials only
        (None, {"grant_type": "client_credentials", "scope": "everything"}, 400, "invalid_scope", None),
    ],
)
def test_v3_token_errors(proxy, headers, data, status, error, description):
    session = proxy.session()
    auth = CLIENT if headers is None else None
    answer = session.post(V3_TOKEN, auth=auth, headers=headers or {}, data=data)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    if description:
        assert answer.json()["error_description"] == description
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_token_endpoint_wants_a_form_and_post(proxy):
    session = proxy.session()
    as_json = session.post(V3_TOKEN, auth=CLIENT, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    as_get = session.get(V3_TOKEN, auth=CLIENT)
    assert as_get.status_code == 405
    assert as_get.headers["Allow"] == "POST"


def test_listed_clients_only(proxy_factory, tmp_path):
    rules = tmp_path / "clients.yaml"
    rules.write_text(
        "clients:\n"
        "  - client_id: my-app\n"
        "    client_secret: my-secret\n"
        "    redirect_uris: ['https://app.example/callback']\n"
    )
    proxy = proxy_factory("--rules", str(rules))
    session = proxy.session()
    assert session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"}).status_code == 200
    wrong = session.post(V3_TOKEN, auth=("my-app", "nope"), data={"grant_type": "client_credentials"})
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "invalid_client",
        "error_description": "The requested service needs credentials, but the ones provided were invalid.",
    }
    unknown = session.post(V3_TOKEN, auth=("intruder", "x"), data={"grant_type": "client_credentials"})
    assert unknown.status_code == 401
    stranger = authorize(session, "+990123456789", client_id="intruder")
    assert stranger.status_code == 400
    assert stranger.json()["error"] == "unauthorized_client"
    bad_uri = authorize(session, "+990123456789", redirect_uri="https://elsewhere.example/cb")
    assert bad_uri.status_code == 400
    assert "not registered" in bad_uri.json()["error_description"]
