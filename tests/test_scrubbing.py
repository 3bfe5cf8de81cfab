"""Scrubbing of recorded interactions: every secret place, stable placeholders, pseudonyms, masking
for matching, the leak check, and odd input."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import pytest

from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.model import Interaction, Request, Response
from proxy_addons.scrubbing import Scrubber, ScrubConfig, is_placeholder, leaks
from proxy_addons.scrubbing.idtokens import cassette_key

ORANGE = "https://api.orange.com"
AUTHORIZE = ORANGE + "/openidconnect/playground/v1.0/authorize"
TOKEN = ORANGE + "/openidconnect/playground/v1.0/token"
V3_TOKEN = ORANGE + "/oauth/v3/token"
NV_VERIFY = ORANGE + "/camara/playground/api/number-verification/v1/verify"
DLV = ORANGE + "/camara/location-verification/orange-lab/v0/verify"
ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
REDIRECT = "https://app.example/callback"

CLIENT_ID = "Wq3f9KcLm2ZpXv7Tb1Ns"
CLIENT_SECRET = "s3cr3t-Hk8Jq2Lw9Vz4"
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
CODE = "OFR-5f1c3a9e2b7d4c6a8e0f1b2c"
REFRESH = "rt-8sJk2LmQ9xZp4VbN7cWe0Ty"
OPAQUE = "u1BxYmGpnYbpeCh1B7EK5SaUvWhH"
COOKIE_VALUE = "sess-7Gh2Kp9QwZx4Lm8N"
NUMBER = "+33612345678"
LAB_NUMBER = "33699901031"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _jwt(claims: dict) -> str:
    return f"{_b64({'alg': 'ES384', 'typ': 'JWT'})}.{_b64(claims)}.MEUCIQDk3hXz9sVjP2Qy8Rw1Lm4Nc7Bv0Ta"


ACCESS_JWT = _jwt({"iss": "https://api.orange.com/oauth/v3", "sub": CLIENT_ID, "jti": "a1b2c3d4e5"})
ID_TOKEN = _jwt({"iss": "https://api.orange.com/openidconnect", "sub": "tel:+33612345678", "nonce": "n-42"})


def text(interaction: Interaction) -> str:
    """The interaction as it would be written to disk."""
    return Cassette(Path("unused.yaml"), [interaction]).dumps().decode("utf-8")


def jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def get(uri: str, headers: dict[str, list[str]] | None = None) -> Request:
    return Request("GET", uri, headers or {})


def post_form(uri: str, body: str, headers: dict[str, list[str]] | None = None) -> Request:
    return Request(
        "POST",
        uri,
        {
            "Content-Type": ["application/x-www-form-urlencoded"],
            "Content-Length": [str(len(body))],
            **(headers or {}),
        },
        body.encode(),
    )


def post_json(uri: str, data: object, headers: dict[str, list[str]] | None = None) -> Request:
    body = json.dumps(data).encode()
    return Request(
        "POST",
        uri,
        {"Content-Type": ["application/json"], "Content-Length": [str(len(body))], **(headers or {})},
        body,
    )


def json_response(data: object, status: int = 200) -> Response:
    body = json.dumps(data).encode()
    return Response(
        status, "OK", {"Content-Type": ["application/json"], "Content-Length": [str(len(body))]}, body
    )


def ok() -> Response:
    return Response(200, "OK", {}, b"")


def token_response(access: str = OPAQUE, **extra: object) -> Response:
    return json_response({"token_type": "Bearer", "access_token": access, "expires_in": 3600, **extra})


def body_json(message: Request | Response) -> object:
    assert message.body is not None
    return json.loads(message.body)


# Request headers ---------------------------------------------------------------------------------


def test_basic_authorization_becomes_the_fixed_literal():
    scrubbed = Scrubber().scrub(
        Interaction(
            post_form(TOKEN, "grant_type=client_credentials", {"Authorization": [f"Basic {BASIC}"]}), ok()
        )
    )
    assert scrubbed.request.headers["Authorization"] == ["Basic SCRUBBED-CREDENTIALS"]
    assert BASIC not in text(scrubbed)


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_bearer_token_becomes_its_placeholder_whatever_the_header_case(name):
    scrubbed = Scrubber().scrub(Interaction(get(NV_VERIFY, {name: [f"Bearer {ACCESS_JWT}"]}), ok()))
    assert scrubbed.request.headers[name] == ["Bearer SCRUBBED-ACCESS-TOKEN-0001"]
    assert ACCESS_JWT not in text(scrubbed)


def test_proxy_authorization_is_scrubbed_like_authorization():
    scrubbed = Scrubber().scrub(
        Interaction(get(NV_VERIFY, {"proxy-authorization": [f"Basic {BASIC}"], "X-Other": ["keep"]}), ok())
    )
    assert scrubbed.request.headers["proxy-authorization"] == ["Basic SCRUBBED-CREDENTIALS"]
    assert scrubbed.request.headers["X-Other"] == ["keep"]


def test_other_authorization_schemes_and_bare_credentials_are_scrubbed():
    request = get(NV_VERIFY, {"Authorization": ['Digest username="app", response="6629fae49393a053"']})
    scrubbed = Scrubber().scrub(Interaction(request, ok()))
    assert scrubbed.request.headers["Authorization"] == ["Digest SCRUBBED-CREDENTIALS-0001"]
    bare = Scrubber().scrub(Interaction(get(NV_VERIFY, {"Authorization": [OPAQUE]}), ok()))
    assert bare.request.headers["Authorization"] == ["SCRUBBED-CREDENTIALS-0001"]


def test_each_cookie_value_gets_a_placeholder_and_names_stay():
    request = get(NV_VERIFY, {"cookie": [f"sid={COOKIE_VALUE}; lang=fr-FR; theme="]})
    scrubbed = Scrubber().scrub(Interaction(request, ok()))
    assert scrubbed.request.headers["cookie"] == [
        "sid=SCRUBBED-COOKIE-0001; lang=SCRUBBED-COOKIE-0002; theme="
    ]
    assert COOKIE_VALUE not in text(scrubbed)


# Response headers --------------------------------------------------------------------------------


def test_set_cookie_value_is_scrubbed_and_attributes_kept():
    response = Response(
        200,
        "OK",
        {"Set-Cookie": [f"sid={COOKIE_VALUE}; Path=/; Secure; HttpOnly", 'pref="abc123"; Max-Age=60']},
    )
    scrubbed = Scrubber().scrub(Interaction(get(AUTHORIZE), response))
    assert scrubbed.response.headers["Set-Cookie"] == [
        "sid=SCRUBBED-COOKIE-0001; Path=/; Secure; HttpOnly",
        'pref="SCRUBBED-COOKIE-0002"; Max-Age=60',
    ]


def test_cookie_set_by_a_response_and_sent_back_gets_the_same_placeholder():
    scrubber = Scrubber()
    first = scrubber.scrub(
        Interaction(get(AUTHORIZE), Response(302, "Found", {"set-cookie": [f"sid={COOKIE_VALUE}; Path=/"]}))
    )
    second = scrubber.scrub(Interaction(get(AUTHORIZE, {"cookie": [f"sid={COOKIE_VALUE}"]}), ok()))
    assert first.response.headers["set-cookie"] == ["sid=SCRUBBED-COOKIE-0001; Path=/"]
    assert second.request.headers["cookie"] == ["sid=SCRUBBED-COOKIE-0001"]


def test_location_query_secrets_are_scrubbed_and_state_kept():
    location = f"{REDIRECT}?code={CODE}&state=st-123"
    scrubbed = Scrubber().scrub(Interaction(get(AUTHORIZE), Response(302, "Found", {"location": [location]})))
    assert scrubbed.response.headers["location"] == [f"{REDIRECT}?code=SCRUBBED-CODE-0001&state=st-123"]
    assert CODE not in text(scrubbed)


def test_location_fragment_tokens_are_scrubbed():
    location = f"{REDIRECT}#access_token={OPAQUE}&id_token={ID_TOKEN}&refresh_token={REFRESH}&state=xyz"
    scrubbed = Scrubber().scrub(Interaction(get(AUTHORIZE), Response(302, "Found", {"Location": [location]})))
    [new] = scrubbed.response.headers["Location"]
    for secret in (OPAQUE, ID_TOKEN, REFRESH):
        assert secret not in text(scrubbed)
    assert "access_token=SCRUBBED-ACCESS-TOKEN-0001" in new
    assert "refresh_token=SCRUBBED-REFRESH-TOKEN-0001" in new
    assert new.endswith("&state=xyz")


# Request URI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "placeholder"),
    [
        ("code", "SCRUBBED-CODE-0001"),
        ("client_secret", "SCRUBBED-CLIENT-SECRET-0001"),
        ("access_token", "SCRUBBED-ACCESS-TOKEN-0001"),
        ("refresh_token", "SCRUBBED-REFRESH-TOKEN-0001"),
        ("client_assertion", "SCRUBBED-ASSERTION-0001"),
        ("password", "SCRUBBED-PASSWORD-0001"),
    ],
)
def test_secret_query_parameters_in_the_request_uri(name, placeholder):
    secret = "Zx9-Qm4Lp7Wv2Rt8Yk3N"
    uri = f"{REDIRECT}?state=st-1&{name}={secret}&lang=fr"
    scrubbed = Scrubber().scrub(Interaction(get(uri), ok()))
    assert scrubbed.request.uri == f"{REDIRECT}?state=st-1&{name}={placeholder}&lang=fr"
    assert secret not in text(scrubbed)


def test_id_token_in_a_uri_is_signed_again_by_the_cassette_key():
    scrubbed = Scrubber().scrub(Interaction(get(f"{REDIRECT}?id_token={ID_TOKEN}"), ok()))
    value = scrubbed.request.uri.split("id_token=")[1]
    assert jwt_part(value, 0)["scrubbed"] == "SCRUBBED-ID-TOKEN-0001"
    assert jwt_part(value, 1) == jwt_part(ID_TOKEN, 1)  # its claims kept (issue 11)
    assert ID_TOKEN not in text(scrubbed)


def test_percent_encoded_secret_in_a_uri_is_scrubbed_whole():
    scrubbed = Scrubber().scrub(Interaction(get(f"{REDIRECT}?code=OFR-ab%2Fcd%2B12%3D&state=s"), ok()))
    assert scrubbed.request.uri == f"{REDIRECT}?code=SCRUBBED-CODE-0001&state=s"


# Form bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("client_secret", "CLIENT-SECRET"),
        ("code", "CODE"),
        ("refresh_token", "REFRESH-TOKEN"),
        ("password", "PASSWORD"),
        ("client_assertion", "ASSERTION"),
        ("assertion", "ASSERTION"),
        ("access_token", "ACCESS-TOKEN"),
    ],
)
def test_secret_form_fields(name, kind):
    secret = "Pq7-Rt2Xw9Lm4Zk8Vb3N"
    body = f"grant_type=authorization_code&{name}={secret}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback"
    scrubbed = Scrubber().scrub(Interaction(post_form(TOKEN, body), ok()))
    expected = body.replace(secret, f"SCRUBBED-{kind}-0001")
    assert scrubbed.request.body == expected.encode()
    assert scrubbed.request.headers["Content-Length"] == [str(len(expected))]
    assert secret not in text(scrubbed)


def test_id_token_form_field_is_signed_again_by_the_cassette_key():
    scrubbed = Scrubber().scrub(Interaction(post_form(TOKEN, f"id_token_hint=x&id_token={ID_TOKEN}"), ok()))
    assert scrubbed.request.body is not None
    value = scrubbed.request.body.decode().split("id_token=")[1]
    assert jwt_part(value, 0)["alg"] == "RS256"
    assert jwt_part(value, 0)["kid"] == cassette_key().kid
    assert b"id_token_hint=x&" in scrubbed.request.body


def test_repeated_and_empty_form_fields():
    body = f"code={CODE}&code=&code=OFR-other123&password=&grant_type=authorization_code"
    scrubbed = Scrubber().scrub(Interaction(post_form(TOKEN, body), ok()))
    assert scrubbed.request.body == (
        b"code=SCRUBBED-CODE-0001&code=&code=SCRUBBED-CODE-0002&password=&grant_type=authorization_code"
    )


def test_form_with_non_utf8_bytes_is_still_scrubbed_around_them():
    body = b"note=\xff\xfe&client_secret=" + CLIENT_SECRET.encode() + b"&x=1"
    request = Request("POST", V3_TOKEN, {"content-type": ["application/x-www-form-urlencoded"]}, body)
    scrubbed = Scrubber().scrub(Interaction(request, ok()))
    assert scrubbed.request.body == b"note=\xff\xfe&client_secret=SCRUBBED-CLIENT-SECRET-0001&x=1"


# JSON bodies -------------------------------------------------------------------------------------


def test_token_response_json_is_scrubbed_and_content_length_recomputed():
    response = token_response(ACCESS_JWT, refresh_token=REFRESH, id_token=ID_TOKEN, scope="openid")
    scrubbed = Scrubber().scrub(Interaction(post_form(TOKEN, "grant_type=client_credentials"), response))
    data = body_json(scrubbed.response)
    assert data["access_token"] == "SCRUBBED-ACCESS-TOKEN-0001"
    assert data["refresh_token"] == "SCRUBBED-REFRESH-TOKEN-0001"
    assert data["expires_in"] == 3600 and data["scope"] == "openid" and data["token_type"] == "Bearer"
    assert scrubbed.response.headers["Content-Length"] == [str(len(scrubbed.response.body))]
    for secret in (ACCESS_JWT, REFRESH, ID_TOKEN):
        assert secret not in text(scrubbed)


def test_id_token_keeps_its_claims_signed_by_the_cassette_key():
    scrubbed = Scrubber().scrub(Interaction(get(TOKEN), token_response(id_token=ID_TOKEN)))
    token = body_json(scrubbed.response)["id_token"]
    _, _, signature = token.split(".")
    header = jwt_part(token, 0)
    assert (header["alg"], header["kid"], header["scrubbed"]) == (
        "RS256",
        cassette_key().kid,
        "SCRUBBED-ID-TOKEN-0001",
    )
    assert jwt_part(token, 1) == jwt_part(ID_TOKEN, 1)
    assert signature and signature not in ID_TOKEN
    assert is_placeholder(token)


def test_json_secrets_at_any_depth_in_requests_and_responses():
    nested = {"data": [{"creds": {"client_secret": CLIENT_SECRET, "other": "kept"}}], "access_token": OPAQUE}
    scrubbed = Scrubber().scrub(
        Interaction(post_json(ADMIN, nested), json_response({"wrap": {"tokens": [nested]}}))
    )
    assert body_json(scrubbed.request) == {
        "data": [{"creds": {"client_secret": "SCRUBBED-CLIENT-SECRET-0001", "other": "kept"}}],
        "access_token": "SCRUBBED-ACCESS-TOKEN-0001",
    }
    response = body_json(scrubbed.response)
    assert response["wrap"]["tokens"][0]["data"][0]["creds"]["client_secret"] == "SCRUBBED-CLIENT-SECRET-0001"
    assert CLIENT_SECRET not in text(scrubbed) and OPAQUE not in text(scrubbed)


def test_json_without_secrets_keeps_its_exact_bytes():
    body = b'{"lastLocationTime": "2024-01-05T14:28:46.699450286Z",  "verificationResult": "TRUE"}'
    response = Response(200, "OK", {"Content-Type": ["application/json"]}, body)
    assert Scrubber().scrub(Interaction(get(DLV), response)).response.body == body


def test_rewritten_json_keeps_number_literals_layout_and_repeated_keys():
    body = (
        f'{{\n  "access_token": "{OPAQUE}",\n  "expires_in": "3600",\n  "lat": 48.80,\n'
        '  "big": 123456789012345678901234567890,\n  "e": 1E+2,\n  "n": [],\n  "x": "caf\\u00e9",\n'
        f'  "access_token": "{REFRESH}"\n}}'
    ).encode()
    response = Response(200, "OK", {"Content-Type": ["application/json;charset=UTF-8"]}, body)
    scrubbed = Scrubber().scrub(Interaction(get(V3_TOKEN), response)).response.body.decode()
    assert scrubbed == (
        '{\n  "access_token": "SCRUBBED-ACCESS-TOKEN-0001",\n  "expires_in": "3600",\n  "lat": 48.80,\n'
        '  "big": 123456789012345678901234567890,\n  "e": 1E+2,\n  "n": [],\n  "x": "café",\n'
        '  "access_token": "SCRUBBED-ACCESS-TOKEN-0002"\n}'
    )


def test_compact_json_stays_compact():
    body = b'{"token_type":"Bearer","access_token":"abc123def456","expires_in":3600}'
    response = Response(200, "OK", {"Content-Type": ["application/json"]}, body)
    scrubbed = Scrubber().scrub(Interaction(get(V3_TOKEN), response))
    assert (
        scrubbed.response.body
        == b'{"token_type":"Bearer","access_token":"SCRUBBED-ACCESS-TOKEN-0001","expires_in":3600}'
    )


def test_json_token_served_with_a_wrong_content_type_is_still_scrubbed():
    body = json.dumps({"access_token": OPAQUE}).encode()
    response = Response(200, "OK", {"Content-Type": ["text/plain"]}, body)
    scrubbed = Scrubber().scrub(Interaction(get(V3_TOKEN), response))
    assert OPAQUE not in text(scrubbed)


def test_json_with_a_lone_surrogate_escape_is_still_scrubbed():
    body = b'{"access_token": "%s", "note": "\\ud800"}' % OPAQUE.encode()
    response = Response(200, "OK", {"Content-Type": ["application/json"]}, body)
    scrubbed = Scrubber().scrub(Interaction(get(V3_TOKEN), response))
    assert scrubbed.response.body == b'{"access_token": "SCRUBBED-ACCESS-TOKEN-0001", "note": "\\ud800"}'


def test_referer_is_scrubbed_like_a_uri():
    request = get(NV_VERIFY, {"Referer": [f"{REDIRECT}?code={CODE}&state=s"]})
    scrubbed = Scrubber().scrub(Interaction(request, ok()))
    assert scrubbed.request.headers["Referer"] == [f"{REDIRECT}?code=SCRUBBED-CODE-0001&state=s"]


# Stability and numbering -------------------------------------------------------------------------


def test_token_from_a_response_and_the_later_bearer_header_agree():
    scrubber = Scrubber()
    issued = scrubber.scrub(
        Interaction(post_form(V3_TOKEN, "grant_type=client_credentials"), token_response(ACCESS_JWT))
    )
    used = scrubber.scrub(Interaction(post_json(DLV, {}, {"Authorization": [f"Bearer {ACCESS_JWT}"]}), ok()))
    placeholder = body_json(issued.response)["access_token"]
    assert placeholder == "SCRUBBED-ACCESS-TOKEN-0001"
    assert used.request.headers["Authorization"] == [f"Bearer {placeholder}"]


def test_code_in_the_redirect_equals_code_in_the_next_token_request():
    scrubber = Scrubber()
    redirect = scrubber.scrub(
        Interaction(
            get(AUTHORIZE + "?response_type=code&state=s"),
            Response(302, "Found", {"Location": [f"{REDIRECT}?code={CODE}&state=s"]}),
        )
    )
    exchange = scrubber.scrub(
        Interaction(
            post_form(
                TOKEN,
                f"grant_type=authorization_code&code={CODE}&redirect_uri=x",
                {"Authorization": [f"Basic {BASIC}"]},
            ),
            ok(),
        )
    )
    assert "code=SCRUBBED-CODE-0001&" in redirect.response.headers["Location"][0]
    assert exchange.request.body == b"grant_type=authorization_code&code=SCRUBBED-CODE-0001&redirect_uri=x"


def test_different_secrets_get_different_numbers_per_kind():
    scrubber = Scrubber()
    first = scrubber.scrub(Interaction(get(NV_VERIFY, {"Authorization": ["Bearer tokenAAAA1111"]}), ok()))
    second = scrubber.scrub(Interaction(get(NV_VERIFY, {"Authorization": ["Bearer tokenBBBB2222"]}), ok()))
    code = scrubber.scrub(Interaction(get(f"{REDIRECT}?code={CODE}"), ok()))
    again = scrubber.scrub(Interaction(get(NV_VERIFY, {"Authorization": ["Bearer tokenAAAA1111"]}), ok()))
    assert first.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0001"]
    assert second.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0002"]
    assert code.request.uri.endswith("code=SCRUBBED-CODE-0001")
    assert again.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0001"]


def test_numbering_continues_after_the_existing_interactions():
    old = Scrubber()
    existing = [
        old.scrub(Interaction(get(NV_VERIFY, {"Authorization": [f"Bearer {t}"]}), ok()))
        for t in ("oldToken11111", "oldToken22222", "oldToken33333")
    ]
    existing.append(old.scrub(Interaction(get(TOKEN), token_response("oldToken44444", id_token=ID_TOKEN))))
    existing.append(old.scrub(Interaction(get(f"{REDIRECT}?code=OFR-old1234567"), ok())))

    scrubber = Scrubber(existing=existing)
    new = scrubber.scrub(
        Interaction(get(f"{REDIRECT}?code={CODE}"), token_response("newToken55555", id_token=_jwt({"n": 2})))
    )
    data = body_json(new.response)
    assert data["access_token"] == "SCRUBBED-ACCESS-TOKEN-0005"
    assert jwt_part(data["id_token"], 0)["scrubbed"] == "SCRUBBED-ID-TOKEN-0002"
    assert new.request.uri.endswith("code=SCRUBBED-CODE-0002")


def test_a_placeholder_met_in_new_traffic_is_never_reissued():
    scrubber = Scrubber()
    scrubber.scrub(
        Interaction(get(NV_VERIFY, {"Authorization": ["Bearer SCRUBBED-ACCESS-TOKEN-0007"]}), ok())
    )
    fresh = scrubber.scrub(Interaction(get(NV_VERIFY, {"Authorization": [f"Bearer {OPAQUE}"]}), ok()))
    assert fresh.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0008"]


def full_flow() -> list[Interaction]:
    return [
        Interaction(
            get(
                f"{AUTHORIZE}?response_type=code&client_id={CLIENT_ID}&state=st&login_hint=tel%3A%2B33612345678"
            ),
            Response(
                302,
                "Found",
                {
                    "Location": [f"{REDIRECT}?code={CODE}&state=st"],
                    "Set-Cookie": [f"sid={COOKIE_VALUE}; Path=/"],
                },
            ),
        ),
        Interaction(
            post_form(
                TOKEN,
                f"grant_type=authorization_code&code={CODE}",
                {"Authorization": [f"Basic {BASIC}"], "Cookie": [f"sid={COOKIE_VALUE}"]},
            ),
            token_response(ACCESS_JWT, id_token=ID_TOKEN, refresh_token=REFRESH),
        ),
        Interaction(
            post_json(NV_VERIFY, {"phoneNumber": NUMBER}, {"authorization": [f"Bearer {ACCESS_JWT}"]}),
            json_response({"devicePhoneNumberVerified": True}),
        ),
    ]


@pytest.mark.parametrize("pseudonymise", [False, True])
def test_scrubbing_twice_changes_nothing(pseudonymise):
    config = ScrubConfig(pseudonymise_numbers=pseudonymise, json_fields=frozenset({"phoneNumber"}))
    scrubbed = [Scrubber(config).scrub(i) for i in full_flow()]
    assert [Scrubber(config).scrub(i) for i in scrubbed] == scrubbed
    again = Scrubber(config, existing=scrubbed)
    assert [again.scrub(i) for i in scrubbed] == scrubbed


def test_the_input_is_not_modified():
    flow = full_flow()
    before = copy.deepcopy(flow)
    scrubber = Scrubber(ScrubConfig(pseudonymise_numbers=True))
    for interaction in flow:
        scrubber.scrub(interaction)
    assert flow == before


def test_a_scrubbed_cassette_holds_no_secret_and_passes_the_leak_check():
    scrubber = Scrubber(ScrubConfig(pseudonymise_numbers=True))
    dumped = Cassette(Path("unused.yaml"), [scrubber.scrub(i) for i in full_flow()]).dumps().decode()
    for secret in (CLIENT_SECRET, BASIC, CODE, ACCESS_JWT, ID_TOKEN, REFRESH, COOKIE_VALUE, "33612345678"):
        assert secret not in dumped
    assert leaks(dumped) == []
    assert "SCRUBBED-ACCESS-TOKEN-0001" in dumped and "SCRUBBED-CODE-0001" in dumped


# User-listed places ------------------------------------------------------------------------------


def test_user_listed_headers_in_any_case_in_requests_and_responses():
    config = ScrubConfig(headers=frozenset({"X-Api-Key", "x-session"}))
    interaction = Interaction(
        get(NV_VERIFY, {"x-api-key": ["key-9f8e7d6c5b"]}),
        Response(200, "OK", {"X-Session": ["sess-1a2b3c4d"]}),
    )
    scrubbed = Scrubber(config).scrub(interaction)
    assert scrubbed.request.headers["x-api-key"] == ["SCRUBBED-VALUE-0001"]
    assert scrubbed.response.headers["X-Session"] == ["SCRUBBED-VALUE-0002"]


def test_user_listed_query_parameters_in_uri_location_and_form():
    config = ScrubConfig(query_params=frozenset({"api_key"}))
    interaction = Interaction(
        post_form(f"{NV_VERIFY}?api_key=k-111aaa&x=1", "api_key=k-222bbb&y=2"),
        Response(302, "Found", {"Location": [f"{REDIRECT}?api_key=k-111aaa"]}),
    )
    scrubbed = Scrubber(config).scrub(interaction)
    assert scrubbed.request.uri == f"{NV_VERIFY}?api_key=SCRUBBED-VALUE-0001&x=1"
    assert scrubbed.request.body == b"api_key=SCRUBBED-VALUE-0002&y=2"
    assert scrubbed.response.headers["Location"] == [f"{REDIRECT}?api_key=SCRUBBED-VALUE-0001"]


def test_user_listed_bare_json_name_matches_at_any_depth():
    config = ScrubConfig(json_fields=frozenset({"networkAccessIdentifier"}))
    request = post_json(
        DLV,
        {
            "device": {"networkAccessIdentifier": "alice@example.com"},
            "list": [{"networkAccessIdentifier": "bob@example.com"}],
        },
    )
    scrubbed = Scrubber(config).scrub(
        Interaction(request, json_response({"networkAccessIdentifier": "alice@example.com"}))
    )
    assert body_json(scrubbed.request) == {
        "device": {"networkAccessIdentifier": "SCRUBBED-VALUE-0001"},
        "list": [{"networkAccessIdentifier": "SCRUBBED-VALUE-0002"}],
    }
    assert body_json(scrubbed.response) == {"networkAccessIdentifier": "SCRUBBED-VALUE-0001"}


def test_user_listed_dotted_path_matches_only_that_path():
    config = ScrubConfig(json_fields=frozenset({"device.ipv4Address.publicAddress"}))
    request = post_json(
        DLV,
        {
            "device": {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": 59765}},
            "publicAddress": "1.2.3.4",
        },
    )
    scrubbed = Scrubber(config).scrub(Interaction(request, ok()))
    assert body_json(scrubbed.request) == {
        "device": {"ipv4Address": {"publicAddress": "SCRUBBED-VALUE-0001", "publicPort": 59765}},
        "publicAddress": "1.2.3.4",
    }


def test_user_listed_field_holding_an_object_has_every_leaf_scrubbed():
    config = ScrubConfig(json_fields=frozenset({"kyc"}))
    request = post_json(
        ADMIN, {"action": "UPDATE", "data": {"kyc": {"name": "Alice Martin", "age": 42, "ok": True}}}
    )
    scrubbed = Scrubber(config).scrub(Interaction(request, ok()))
    assert body_json(scrubbed.request)["data"]["kyc"] == {
        "name": "SCRUBBED-VALUE-0001",
        "age": "SCRUBBED-VALUE-0002",
        "ok": True,
    }


# Phone-number pseudonyms -------------------------------------------------------------------------


def pseudonymiser() -> Scrubber:
    return Scrubber(ScrubConfig(pseudonymise_numbers=True))


def test_numbers_are_kept_unless_pseudonymisation_is_asked_for():
    request = post_json(NV_VERIFY, {"phoneNumber": NUMBER})
    assert Scrubber().scrub(Interaction(request, ok())).request.body == request.body


@pytest.mark.parametrize(
    ("login_hint", "expected"),
    [
        ("tel%3A%2B33612345678", "tel%3A%2B990000000001"),
        ("tel:+33612345678", "tel:+990000000001"),
        ("tel%3a%2b33612345678", "tel%3a%2b990000000001"),
        ("%2B33612345678", "%2B990000000001"),
        ("33612345678", "990000000001"),
    ],
)
def test_login_hint_in_the_uri(login_hint, expected):
    uri = f"{AUTHORIZE}?response_type=code&login_hint={login_hint}&state=s"
    scrubbed = pseudonymiser().scrub(Interaction(get(uri), ok()))
    assert scrubbed.request.uri == f"{AUTHORIZE}?response_type=code&login_hint={expected}&state=s"


def test_pseudonyms_follow_first_appearance_and_stay_consistent():
    scrubber = pseudonymiser()
    a = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": "+33611111111"}), ok()))
    b = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": "+33622222222"}), ok()))
    c = scrubber.scrub(Interaction(get(f"{AUTHORIZE}?login_hint=tel:+33611111111"), ok()))
    assert body_json(a.request) == {"phoneNumber": "+990000000001"}
    assert body_json(b.request) == {"phoneNumber": "+990000000002"}
    assert c.request.uri.endswith("login_hint=tel:+990000000001")


def test_number_without_plus_keeps_the_callers_form():
    scrubber = pseudonymiser()
    dlv = scrubber.scrub(
        Interaction(post_json(DLV, {"device": {"phoneNumber": LAB_NUMBER}, "maxAge": 3600}), ok())
    )
    nv = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": "+" + LAB_NUMBER}), ok()))
    assert body_json(dlv.request) == {"device": {"phoneNumber": "990000000001"}, "maxAge": 3600}
    assert body_json(nv.request) == {"phoneNumber": "+990000000001"}
    assert LAB_NUMBER not in text(dlv) + text(nv)


def test_phone_named_fields_msisdn_and_lists():
    data = {
        "devicePhoneNumber": NUMBER,
        "msisdn": "33622222222",
        "phoneNumbers": ["+33633333333", "+990100000001", NUMBER],
        "contact": {"mobilePhone": "+33644444444"},
        "other": "+33655555555",
        "phoneLabel": "not a number",
    }
    scrubbed = pseudonymiser().scrub(Interaction(get(ADMIN), json_response(data)))
    assert body_json(scrubbed.response) == {
        "devicePhoneNumber": "+990000000001",
        "msisdn": "990000000002",
        "phoneNumbers": ["+990000000003", "+990100000001", "+990000000001"],
        "contact": {"mobilePhone": "+990000000004"},
        "other": "+33655555555",  # not a phone field and not a known number
        "phoneLabel": "not a number",
    }


def test_a_phone_number_sent_as_a_json_number_is_pseudonymised():
    request = Request(
        "POST", DLV, {"Content-Type": ["application/json"]}, b'{"device": {"phoneNumber": 33699901031}}'
    )
    scrubbed = pseudonymiser().scrub(Interaction(request, ok()))
    assert scrubbed.request.body == b'{"device": {"phoneNumber": 990000000001}}'


def test_known_numbers_also_leave_free_text():
    scrubber = pseudonymiser()
    scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": NUMBER}), ok()))
    message = {"code": "FORBIDDEN", "message": f"{NUMBER} does not exist for {CLIENT_ID}"}
    scrubbed = scrubber.scrub(Interaction(get(NV_VERIFY), json_response(message, 403)))
    assert body_json(scrubbed.response)["message"] == f"+990000000001 does not exist for {CLIENT_ID}"


def test_playground_numbers_are_left_alone_and_never_handed_out():
    scrubber = pseudonymiser()
    kept = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": "+990000000001"}), ok()))
    mapped = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": NUMBER}), ok()))
    assert body_json(kept.request) == {"phoneNumber": "+990000000001"}
    assert body_json(mapped.request) == {"phoneNumber": "+990000000002"}


def sha(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()


def test_hashed_phone_number_of_a_known_number_becomes_the_pseudonyms_hash():
    scrubber = pseudonymiser()
    scrubber.scrub(Interaction(get(f"{AUTHORIZE}?login_hint=tel%3A%2B33612345678"), ok()))
    known = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"hashedPhoneNumber": sha(NUMBER)}), ok()))
    upper = scrubber.scrub(
        Interaction(post_json(NV_VERIFY, {"hashedPhoneNumber": sha(NUMBER).upper()}), ok())
    )
    unknown = scrubber.scrub(
        Interaction(post_json(NV_VERIFY, {"hashedPhoneNumber": sha("+33699999999")}), ok())
    )
    assert body_json(known.request) == {"hashedPhoneNumber": sha("+990000000001")}
    assert body_json(upper.request) == {"hashedPhoneNumber": sha("+990000000001")}
    assert body_json(unknown.request) == {"hashedPhoneNumber": sha("+33699999999")}
    assert sha(NUMBER) not in text(known)


def test_number_known_without_plus_maps_its_hash_too():
    scrubber = pseudonymiser()
    scrubber.scrub(Interaction(post_json(DLV, {"device": {"phoneNumber": LAB_NUMBER}}), ok()))
    hashed = scrubber.scrub(
        Interaction(post_json(NV_VERIFY, {"hashedPhoneNumber": sha("+" + LAB_NUMBER)}), ok())
    )
    assert body_json(hashed.request) == {"hashedPhoneNumber": sha("+990000000001")}


def test_pseudonym_numbering_continues_after_the_existing_interactions():
    existing = [
        pseudonymiser().scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": f"+3361111111{i}"}), ok()))
        for i in range(3)
    ]
    assert body_json(existing[0].request) == {"phoneNumber": "+990000000001"}  # each scrubber starts at 1
    scrubber = Scrubber(ScrubConfig(pseudonymise_numbers=True), existing=existing)
    new = scrubber.scrub(Interaction(post_json(NV_VERIFY, {"phoneNumber": "+33699999999"}), ok()))
    assert body_json(new.request) == {"phoneNumber": "+990000000002"}


def test_numbers_in_a_ciba_style_form_body():
    request = post_form(ORANGE + "/bc-authorize", "login_hint=tel%3A%2B33612345678&scope=openid")
    scrubbed = pseudonymiser().scrub(Interaction(request, ok()))
    assert scrubbed.request.body == b"login_hint=tel%3A%2B990000000001&scope=openid"


# mask() ------------------------------------------------------------------------------------------


def test_mask_makes_a_real_request_equal_to_its_scrubbed_copy():
    scrubber = Scrubber()
    flow = full_flow()
    stored = [scrubber.scrub(interaction).request for interaction in flow]
    assert stored[1] != flow[1].request and stored[2] != flow[2].request
    for live, recorded in zip(flow, stored, strict=True):
        assert scrubber.mask(live.request) == scrubber.mask(recorded)


def test_mask_uses_one_fixed_marker_and_no_pseudonyms():
    scrubber = Scrubber(ScrubConfig(pseudonymise_numbers=True))
    request = post_form(
        f"{AUTHORIZE}?code={CODE}&login_hint=tel:+33612345678",
        f"client_secret={CLIENT_SECRET}&code={CODE}",
        {"Authorization": [f"Bearer {OPAQUE}"], "Cookie": [f"a={COOKIE_VALUE}; b=2"]},
    )
    masked = scrubber.mask(request)
    assert masked.uri == f"{AUTHORIZE}?code=SCRUBBED&login_hint=tel:+33612345678"
    assert masked.body == b"client_secret=SCRUBBED&code=SCRUBBED"
    assert masked.headers["Authorization"] == ["Bearer SCRUBBED"]
    assert masked.headers["Cookie"] == ["a=SCRUBBED; b=SCRUBBED"]
    assert masked.headers["Content-Length"] == [str(len(masked.body))]
    assert scrubber.mask(post_form(TOKEN, "x=1", {"Authorization": [f"Basic {BASIC}"]})).headers[
        "Authorization"
    ] == ["Basic SCRUBBED"]


def test_mask_does_not_change_the_numbering():
    scrubber = Scrubber()
    scrubber.mask(get(NV_VERIFY, {"Authorization": ["Bearer maskedToken123"]}))
    scrubbed = scrubber.scrub(Interaction(get(NV_VERIFY, {"Authorization": [f"Bearer {OPAQUE}"]}), ok()))
    assert scrubbed.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0001"]
    assert scrubber.scrub(
        Interaction(get(NV_VERIFY, {"Authorization": ["Bearer maskedToken123"]}), ok())
    ).request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0002"]


def test_mask_keeps_differences_outside_secret_places():
    scrubber = Scrubber()
    one = post_json(NV_VERIFY, {"phoneNumber": "+990100000001", "access_token": "aaa111aaa"})
    two = post_json(NV_VERIFY, {"phoneNumber": "+990100000002", "access_token": "bbb222bbb"})
    assert scrubber.mask(one) != scrubber.mask(two)
    assert body_json(scrubber.mask(one)) == {"phoneNumber": "+990100000001", "access_token": "SCRUBBED"}


def test_mask_of_json_with_an_id_token_matches_the_scrubbed_one():
    scrubber = Scrubber()
    body = b'{\n    "id_token": "%s",\n    "n": 1.50\n}' % ID_TOKEN.encode()
    request = Request("POST", TOKEN, {"Content-Type": ["application/json"]}, body)
    stored = scrubber.scrub(Interaction(request, ok())).request
    assert scrubber.mask(stored) == scrubber.mask(request)


# leaks() -----------------------------------------------------------------------------------------


def raw_cassette_text() -> str:
    opaque = Interaction(post_form(V3_TOKEN, "grant_type=client_credentials"), token_response(OPAQUE))
    return Cassette(Path("unused.yaml"), [*full_flow(), opaque]).dumps().decode()


@pytest.mark.parametrize(
    ("snippet", "what"),
    [
        (f"Authorization: Basic {BASIC}", "Authorization Basic"),
        ("- Bearer u1BxYmGpnYbpeCh1B7EK5SaUvWhH", "Authorization Bearer"),
        (f"token: {ID_TOKEN}", "JWT"),
        (f"redirect with {CODE} inside", "Orange authorization code"),
        ('string: \'{"access_token": "abc123def456"}\'', "JSON access_token"),
        ('string: \'{"refresh_token":"r9x8y7z6"}\'', "JSON refresh_token"),
        ('"{\\"client_secret\\": \\"sek7et99\\"}"', "JSON client_secret"),
        ("body: grant_type=refresh_token&refresh_token=r9x8y7z6", "query/form refresh_token"),
        ("body: client_id=app&client_secret=sek7et99", "query/form client_secret"),
        ("uri: https://app.example/cb?code=abcd1234&state=s", "query/form code"),
        ("uri: https://app.example/cb#access_token=abcd1234", "query/form access_token"),
    ],
)
def test_leaks_finds_each_kind(snippet, what):
    [found] = leaks(snippet)
    assert what in found
    assert found.startswith("line 1:")


def test_leaks_truncates_the_secret_in_its_report():
    [found] = leaks(f"Authorization: Bearer {OPAQUE}")
    assert OPAQUE not in found and OPAQUE[:12] in found


def test_leaks_reports_line_numbers_and_each_place_once():
    found = leaks(f"a: 1\nb: Bearer {ACCESS_JWT}\n")
    assert len(found) == 1 and found[0].startswith("line 2: Authorization Bearer")


def test_leaks_in_a_raw_cassette():
    found = "\n".join(leaks(raw_cassette_text()))
    for what in (
        "Authorization Basic",
        "Authorization Bearer",
        "JWT",
        "Orange authorization code",
        "JSON access_token",
        "JSON refresh_token",
    ):
        assert what in found


def test_leaks_sees_through_yaml_double_quoted_and_folded_strings():
    # A control character forces PyYAML's double-quoted style; the long body is folded across lines.
    body = (
        '{"token_type": "Bearer", "padding": "' + "word " * 40 + '\x01", "access_token": "' + OPAQUE + '"}'
    ).encode()
    interaction = Interaction(get(V3_TOKEN), Response(200, "OK", {}, body))
    dumped = text(interaction)
    assert '\\"' in dumped
    assert any("JSON access_token" in found for found in leaks(dumped))


@pytest.mark.parametrize(
    "clean",
    [
        "Authorization: Basic SCRUBBED-CREDENTIALS",
        "- Bearer SCRUBBED-ACCESS-TOKEN-0001",
        "- Bearer SCRUBBED",
        '{"token_type": "Bearer", "access_token": "SCRUBBED-ACCESS-TOKEN-0012"}',
        '{"refresh_token": "SCRUBBED-REFRESH-TOKEN-0001", "client_secret": "SCRUBBED-CLIENT-SECRET-0003"}',
        "grant_type=authorization_code&code=SCRUBBED-CODE-0001&client_secret=SCRUBBED-CLIENT-SECRET-0001",
        "?response_type=code&state=abc&error_code=12345678",
        'WWW-Authenticate: Bearer realm="api.orange.com", error="invalid_token"',
        '{"error": "invalid_client", "error_description": "Unable to decode Basic authorization."}',
        '{"code": 42, "message": "Expired credentials"}',
        '{"access_token": ""}',
        "Basic authentication is required; send Basic credentials",
    ],
)
def test_leaks_does_not_flag_placeholders_or_harmless_text(clean):
    assert leaks(clean) == []


def test_leaks_accepts_our_unsigned_jwt_but_not_another_unsigned_one():
    scrubbed = Scrubber().scrub(Interaction(get(TOKEN), token_response(id_token=ID_TOKEN)))
    assert leaks(text(scrubbed)) == []
    foreign = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 'alice'})}."
    assert len(leaks(f"id: {foreign}")) == 1


# Odd input ---------------------------------------------------------------------------------------


def test_binary_body_with_a_json_content_type_is_left_but_headers_are_scrubbed():
    body = b"\x89PNG\r\n\x1a\n\x00\xff\xfe access_token"
    request = Request(
        "POST", DLV, {"Content-Type": ["application/json"], "Authorization": [f"Bearer {OPAQUE}"]}, body
    )
    scrubbed = Scrubber().scrub(
        Interaction(request, Response(200, "OK", {"Content-Type": ["application/json"]}, body))
    )
    assert scrubbed.request.body == body and scrubbed.response.body == body
    assert scrubbed.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0001"]


@pytest.mark.parametrize(
    "body",
    [b'{"access_token": "abc', b"{not json}", b"[1, 2,", b"", b"null", b'"just a string"', b"{" * 100_000],
)
def test_broken_or_odd_json_is_left_unchanged(body):
    response = Response(
        200, "OK", {"Content-Type": ["application/json"], "Set-Cookie": ["sid=abc123; Path=/"]}, body
    )
    scrubbed = Scrubber().scrub(Interaction(get(V3_TOKEN), response))
    assert scrubbed.response.body == body
    assert scrubbed.response.headers["Set-Cookie"] == ["sid=SCRUBBED-COOKIE-0001; Path=/"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://[::1",
        "https://api.orange.com/%zz?%zz=%zz&code",
        "https://api.orange.com/?&&=&code=&code==&state=",
        "",
        "?",
        "#",
        "https://api.orange.com/a?b#c#d",
        "https://api.orange.com/" + "\udcff",
    ],
)
def test_weird_uris_do_not_crash(uri):
    scrubber = Scrubber(ScrubConfig(pseudonymise_numbers=True))
    scrubbed = scrubber.scrub(Interaction(get(uri, {"Authorization": [f"Bearer {OPAQUE}"]}), ok()))
    assert scrubbed.request.headers["Authorization"] == ["Bearer SCRUBBED-ACCESS-TOKEN-0001"]
    assert scrubber.mask(get(uri)).uri == scrubber.mask(scrubbed.request).uri


def test_repeated_query_parameters_are_each_scrubbed():
    scrubbed = Scrubber().scrub(
        Interaction(get(f"{REDIRECT}?code=one111&code=two222&code=one111&state=s"), ok())
    )
    assert (
        scrubbed.request.uri
        == f"{REDIRECT}?code=SCRUBBED-CODE-0001&code=SCRUBBED-CODE-0002&code=SCRUBBED-CODE-0001&state=s"
    )


def test_odd_headers_do_not_crash():
    headers = {
        "Authorization": ["", "Bearer", "Bearer   ", "Basic"],
        "Cookie": ["", ";;", "=", "novalue"],
        "Set-Cookie": [";", ""],
    }
    scrubbed = Scrubber().scrub(Interaction(get(NV_VERIFY, headers), ok()))
    assert scrubbed.request.headers["Authorization"] == ["", "Bearer", "Bearer   ", "Basic"]
    assert scrubbed.request.headers["Cookie"] == ["", ";;", "=", "SCRUBBED-COOKIE-0001"]


def test_a_request_without_body_and_a_non_json_body_stay_as_they_are():
    html = Response(204, "No Content", {"Content-Type": ["text/html"]}, b"<p>done</p>")
    scrubbed = Scrubber().scrub(Interaction(Request("DELETE", ADMIN, {}, None), html))
    assert scrubbed.request.body is None
    assert scrubbed.response == html
