"""Number Verification through the real proxy: verify (plain and hashed), share, and its errors."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from flows import CLIENT, NV, PLAYGROUND_TOKEN, bearer, lab_token, three_legged_token

NUMBER = "+990123456789"
SHARE_SCOPE = "openid number-verification:verify number-verification:device-phone-number:read"


@pytest.fixture(scope="module")
def token(proxy) -> str:
    return three_legged_token(proxy.session(), NUMBER, SHARE_SCOPE)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("body", "verified"),
    [
        ({"phoneNumber": NUMBER}, True),
        ({"phoneNumber": "+990123456780"}, False),
        ({"hashedPhoneNumber": sha256(NUMBER)}, True),
        ({"hashedPhoneNumber": sha256(NUMBER).upper()}, True),
        ({"hashedPhoneNumber": sha256("+990123456780")}, False),
        ({"hashedPhoneNumber": sha256(NUMBER.lstrip("+"))}, False),  # CAMARA hashes the number with its '+'
    ],
)
def test_verify(proxy, token, body, verified):
    answer = proxy.session().post(NV + "/verify", headers={**bearer(token), "x-correlator": "c-1"}, json=body)
    assert answer.status_code == 200
    assert answer.json() == {"devicePhoneNumberVerified": verified}
    assert answer.headers["x-correlator"] == "c-1"


def test_verify_with_httpx_and_curl(proxy):
    session = proxy.session()
    access = three_legged_token(session, "+990100000002")
    with proxy.httpx_client() as client:
        answer = client.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": "+990100000002"})
    assert answer.json() == {"devicePhoneNumberVerified": True}
    status, _headers, body = proxy.curl(
        "-X",
        "POST",
        NV + "/verify",
        "-H",
        f"Authorization: Bearer {access}",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"phoneNumber": "+990100000003"}',
    )
    assert status == 200
    assert body == b'{"devicePhoneNumberVerified": false}'


def test_device_phone_number(proxy, token):
    answer = proxy.session().get(NV + "/device-phone-number", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json() == {"devicePhoneNumber": NUMBER}


def test_rules_numbers_are_known_to_the_playground(proxy):
    # +33699901031 is a lab device of the default rules, so the playground knows it too.
    access = three_legged_token(proxy.session(), "+33699901031")
    answer = proxy.session().post(
        NV + "/verify", headers=bearer(access), json={"phoneNumber": "+33699901031"}
    )
    assert answer.json() == {"devicePhoneNumberVerified": True}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"phoneNumber": NUMBER, "hashedPhoneNumber": sha256(NUMBER)}, None),  # both
        ({}, None),  # neither
        ({"phoneNumber": "990123456789"}, None),  # no '+'
        ({"phoneNumber": "+0123456789"}, None),  # leading 0
        ({"phoneNumber": "+1234"}, None),  # too short
        ({"phoneNumber": "+33 6 99"}, None),  # spaces
        ({"phoneNumber": 33699901031}, None),  # not a string
        ({"hashedPhoneNumber": "abc"}, None),  # not SHA-256 hex
        ({"msisdn": NUMBER}, None),  # unknown field
        (b'{"phoneNumber": "+990123456789"', None),  # broken JSON
        (b'["+990123456789"]', None),  # not an object
        (b'{"phoneNumber": "+990123456789"}', "text/plain"),
        (b"\xff\xfe", None),  # not UTF-8
    ],
)
def test_verify_400(proxy, token, body, content_type):
    headers = {**bearer(token), "Content-Type": content_type or "application/json"}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = proxy.session().post(NV + "/verify", headers=headers, data=data)
    assert answer.status_code == 400
    error = answer.json()
    assert error["status"] == 400
    assert error["code"] == "INVALID_ARGUMENT"
    assert answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, "Authorization header is not 'Bearer <access token>'"),
        ({"Authorization": "Bearer "}, "Authorization header is not 'Bearer <access token>'"),
        ({"Authorization": "Bearer not-a-token-we-issued"}, "invalid access token"),
    ],
)
def test_401_orange_shape(proxy, headers, reason):
    answer = proxy.session().post(NV + "/verify", headers=headers, json={"phoneNumber": NUMBER})
    assert answer.status_code == 401
    assert answer.json() == {"code": "UNAUTHORIZED", "message": f"Authorization failed: {reason}"}


def test_401_camara_shape(camara_proxy):
    answer = camara_proxy.session().get(NV + "/device-phone-number")
    assert answer.status_code == 401
    assert answer.json() == {
        "status": 401,
        "code": "UNAUTHENTICATED",
        "message": "Request not authenticated due to missing, invalid, or expired credentials.",
    }


def test_expired_token_gets_401_and_a_new_one_works(proxy_factory):
    proxy = proxy_factory("--token-lifetime", "2")
    session = proxy.session()
    access = three_legged_token(session, NUMBER)
    assert (
        session.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": NUMBER}).status_code == 200
    )
    time.sleep(2.2)
    expired = session.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": NUMBER})
    assert expired.status_code == 401
    assert expired.json() == {"code": "UNAUTHORIZED", "message": "Authorization failed: access token expired"}
    fresh = three_legged_token(session, NUMBER)
    assert (
        session.post(NV + "/verify", headers=bearer(fresh), json={"phoneNumber": NUMBER}).status_code == 200
    )


def test_403_missing_scope(proxy):
    session = proxy.session()
    verify_only = three_legged_token(session, NUMBER)  # no device-phone-number:read
    answer = session.get(NV + "/device-phone-number", headers=bearer(verify_only))
    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"
    assert answer.json()["message"].startswith("Operation not allowed: ")
    assert "number-verification:device-phone-number:read" in answer.json()["message"]
    share_only = three_legged_token(session, NUMBER, "openid number-verification:device-phone-number:read")
    assert (
        session.post(NV + "/verify", headers=bearer(share_only), json={"phoneNumber": NUMBER}).status_code
        == 403
    )


def test_403_camara_shape(camara_proxy):
    session = camara_proxy.session()
    access = three_legged_token(session, NUMBER, "openid")
    answer = session.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": NUMBER})
    assert answer.status_code == 403
    assert answer.json()["status"] == 403
    assert answer.json()["code"] == "PERMISSION_DENIED"


def test_403_two_legged_tokens(proxy):
    session = proxy.session()
    lab = lab_token(session)  # /oauth/v3 token: another issuer
    assert session.post(NV + "/verify", headers=bearer(lab), json={"phoneNumber": NUMBER}).status_code == 403
    playground_cc = session.post(PLAYGROUND_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    access = playground_cc.json()["access_token"]
    answer = session.get(NV + "/device-phone-number", headers=bearer(access))
    assert answer.status_code == 403  # no phone number in a client_credentials token
    assert "phone number" in answer.json()["message"]


def test_405_and_404(proxy, token):
    session = proxy.session()
    wrong_method = session.get(NV + "/verify", headers=bearer(token))
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"
    assert wrong_method.json()["code"] == "METHOD_NOT_ALLOWED"
    unknown = session.get(NV + "/verify-all", headers=bearer(token))
    assert unknown.status_code == 404
    assert unknown.json() == {
        "status": 404,
        "code": "NOT_FOUND",
        "message": "The specified resource is not found.",
    }
