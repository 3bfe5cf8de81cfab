"""KYC Match 0.2 on the playground, through the real proxy: each field compared with the identity the
operator holds (Admin-defined, rules and predefined +990 numbers), Jaro-Winkler scores on normalised
values, the 0.2.0 spec's identification rules and errors in both profiles, faults; then units of the
normalisation and scoring."""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest
from flows import ORANGE, PLAYGROUND_API, bearer, lab_token, playground_token, three_legged_token
from rapidfuzz.distance import JaroWinkler

from proxy_addons.simulator.apis.kyc_match import (
    FIELDS,
    addresses,
    compare,
    full_names,
    match_identity,
    normalise_code,
    normalise_email,
    normalise_kana,
    normalise_text,
    score,
)

MATCH = PLAYGROUND_API + "/kyc-match/v0.2/match"
ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
CONTROL = "http://orange-proxy.test/api"
SCOPE = "kyc-match:match"
THREE_LEGGED_SCOPE = "openid dpv:FraudPreventionAndDetection kyc-match:match"
NUMBER = "+33611223344"
OTHER = "+33611223355"
STRANGER = "+33699999999"  # known to nobody
TEMPLATE_NUMBER = "+990100000001"

# Every field the spec defines, as an operator could hold them (fictional).
ADA = {
    "idDocument": "LV1815121",
    "name": "Ada King Lovelace",
    "givenName": "Ada",
    "familyName": "Lovelace",
    "nameKanaHankaku": "ｴｲﾀﾞ ﾗﾌﾞﾚｲｽ",
    "nameKanaZenkaku": "エイダ ラブレイス",
    "middleNames": "King",
    "familyNameAtBirth": "Byron",
    "address": "12 St James's Square",
    "streetName": "St James's",
    "streetNumber": "12",
    "postalCode": "SW1Y 4JH",
    "region": "Greater London",
    "locality": "London",
    "country": "GB",
    "houseNumberExtension": "A",
    "birthdate": "1815-12-10",
    "email": "ada.lovelace@example.com",
    "gender": "FEMALE",
}
# The spec's KYC_MatchResponse keys, in its order, all of them "true".
ALL_TRUE = {f"{name}Match": "true" for name in ADA}
# What proxy_addons/data/playground-numbers.yaml gives every predefined number.
CAMILLE = {
    "idDocument": "AB0123456",
    "name": "Camille Martin",
    "givenName": "Camille",
    "middleNames": "Marie",
    "familyName": "Martin",
    "address": "12 avenue Victor Hugo, 75016 Paris",
    "streetName": "Victor Hugo",
    "streetNumber": "12",
    "postalCode": "75016",
    "locality": "Paris",
    "region": "Île-de-France",
    "country": "FR",
    "birthdate": "1990-05-14",
    "email": "camille.martin@example.com",
    "gender": "FEMALE",
}

_clients = itertools.count()


@pytest.fixture
def client():
    """A fresh application per test: user-defined numbers belong to one application."""
    return (f"kyc-app-{next(_clients)}-{time.monotonic_ns()}", "secret")


def admin(session, client, body):
    answer = session.post(ADMIN, headers=bearer(lab_token(session, client)), json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer


def define(session, client, number, kyc):
    """An Admin-created number whose identity an UPDATE then sets."""
    admin(session, client, {"action": "CREATE", "phoneNumber": number})
    admin(session, client, {"action": "UPDATE", "phoneNumber": number, "data": {"kyc": kyc}})


def match(session, token, body, **headers):
    return session.post(MATCH, headers={**bearer(token), **headers}, json=body)


def error_of(answer) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body["code"], body["message"]


def jaro_winkler_score(mine: str, theirs: str) -> int:
    """The score as the spec defines it, computed here from rapidfuzz on already-normalised strings."""
    return math.floor(JaroWinkler.similarity(mine, theirs) * 100 + 0.5)


# Answers from each kind of subscriber -----------------------------------------------------------


def test_an_exact_identity_of_an_admin_number_matches_every_field(proxy, client):
    session = proxy.session()
    define(session, client, NUMBER, ADA)
    answer = match(session, playground_token(session, client), {"phoneNumber": NUMBER, **ADA})
    assert answer.status_code == 200, answer.text
    assert answer.json() == ALL_TRUE
    assert list(answer.json()) == list(ALL_TRUE)  # the spec's order, and no score beside a "true"

    # The next call sees the next UPDATE: the identity is replaced whole.
    admin(
        session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"kyc": {"givenName": "Grace"}}}
    )
    again = match(session, playground_token(session, client), {"phoneNumber": NUMBER, "givenName": "Ada"})
    assert again.json() == {
        "givenNameMatch": "false",
        "givenNameMatchScore": jaro_winkler_score("ada", "grace"),
    }


def test_a_misspelt_given_name_is_false_with_its_jaro_winkler_score(proxy, client):
    session = proxy.session()
    define(session, client, NUMBER, ADA)
    body = {
        "phoneNumber": NUMBER,
        "givenName": "Adah",
        "familyName": "Lovelace",
        "email": "ada.lovelace@example.org",
        "postalCode": "SW1Y 4JJ",
        "birthdate": "1815-12-11",
    }
    answer = match(session, playground_token(session, client), body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "givenNameMatch": "false",
        "givenNameMatchScore": jaro_winkler_score("adah", "ada"),
        "familyNameMatch": "true",
        "postalCodeMatch": "false",  # the spec defines no score for postal codes or birthdates
        "birthdateMatch": "false",
        "emailMatch": "false",
        "emailMatchScore": jaro_winkler_score("ada.lovelace@example.org", "ada.lovelace@example.com"),
    }
    assert answer.json()["givenNameMatchScore"] == 94  # Jaro 0.917, common prefix "ada"
    # The score compares normalised values: case and accents do not lower it.
    shouted = match(session, playground_token(session, client), {"phoneNumber": NUMBER, "givenName": "ÀDAH"})
    assert shouted.json()["givenNameMatchScore"] == jaro_winkler_score("adah", "ada")


def test_case_accents_punctuation_and_whitespace_do_not_count(proxy, client):
    session = proxy.session()
    stored = {
        "givenName": "Élodie",
        "familyName": "Lefèvre-Dupré",
        "middleNames": "Anne Sophie",
        "streetName": "Saint-Honoré",
        "locality": "Saint-Étienne",
        "region": "Auvergne-Rhône-Alpes",
        "idDocument": "X4RT BP12",
        "postalCode": "42000",
        "email": "Elodie.Lefevre@Example.com",
        "country": "FR",
    }
    define(session, client, NUMBER, stored)
    body = {
        "phoneNumber": NUMBER,
        "givenName": "ELODIE",
        "familyName": "  lefevre dupre ",
        "middleNames": "anne-sophie",
        "streetName": "saint honore",
        "locality": "SAINT ETIENNE",
        "region": "Auvergne Rhone\tAlpes",
        "idDocument": "x4rtbp12",
        "postalCode": "42 000",
        "email": "elodie.lefevre@example.COM",
        "country": "fr",
    }
    answer = match(session, playground_token(session, client), body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {f"{name}Match": "true" for name in asked(body)}
    # An email is compared caseless, but a dot in it names another mailbox.
    dotless = match(
        session,
        playground_token(session, client),
        {"phoneNumber": NUMBER, "email": "elodielefevre@example.com"},
    )
    assert dotless.json()["emailMatch"] == "false"


def asked(body) -> list[str]:
    """The identity fields of a body, in the spec's order (the answer's)."""
    return [f.name for f in FIELDS if f.name in body]


def test_fields_the_operator_lacks_are_not_available(proxy, client):
    session = proxy.session()
    define(session, client, NUMBER, {"givenName": "Ada", "familyName": "Lovelace", "gender": "FEMALE"})
    body = {
        "phoneNumber": NUMBER,
        "email": "ada@example.com",
        "birthdate": "1815-12-10",
        "idDocument": "LV1815121",
        "middleNames": "King",
        "address": "12 St James's Square",
        "gender": "FEMALE",
    }
    answer = match(session, playground_token(session, client), body)
    assert answer.json() == {
        "idDocumentMatch": "not_available",
        "middleNamesMatch": "not_available",
        "addressMatch": "not_available",
        "birthdateMatch": "not_available",
        "emailMatch": "not_available",
        "genderMatch": "true",
    }


def test_a_full_name_and_address_the_operator_does_not_hold_are_composed_from_their_parts(proxy, client):
    session = proxy.session()
    parts = {
        "givenName": "Ada",
        "middleNames": "King",
        "familyName": "Lovelace",
        "familyNameAtBirth": "Byron",
        "streetName": "Victor Hugo",
        "streetNumber": "12",
        "houseNumberExtension": "bis",
    }
    define(session, client, NUMBER, parts)
    token = playground_token(session, client)
    for name in ("Ada King Lovelace", "Ada Lovelace", "lovelace ada", "Ada Byron", "Byron, Ada King"):
        assert match(session, token, {"phoneNumber": NUMBER, "name": name}).json() == {"nameMatch": "true"}
    for address in ("12 bis Victor Hugo", "12 Victor-Hugo", "Victor Hugo 12 bis"):
        answer = match(session, token, {"phoneNumber": NUMBER, "address": address})
        assert answer.json() == {"addressMatch": "true"}
    # No match: the best score among the forms the parts make.
    wrong = match(session, token, {"phoneNumber": NUMBER, "name": "Ada Lovelac"}).json()
    assert wrong == {
        "nameMatch": "false",
        "nameMatchScore": jaro_winkler_score("ada lovelac", "ada lovelace"),
    }


def test_a_rules_number_and_a_rules_override_for_the_api(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "numbers:\n"
        '  "+33612345678":\n'
        "    kyc: {givenName: Zoé, familyName: Bernard, birthdate: '2001-02-03', country: FR}\n"
        "overrides:\n"
        "  - name: id-document-required\n"
        "    match: {api: kyc-match, operation: match, body: {givenName: Teapot}}\n"
        "    response:\n"
        "      status: 403\n"
        "      body: {status: 403, code: KNOW_YOUR_CUSTOMER.ID_DOCUMENT_REQUIRED,\n"
        "             message: The idDocument is required to perform the properties validation}\n",
        encoding="utf-8",
    )
    # The camara profile: the override answers CAMARA's ErrorInfo, which Orange's 403 dialect is not.
    proxy = proxy_factory("--rules", str(rules), "--profile", "camara")
    session = proxy.session()
    token = playground_token(session)
    body = {
        "phoneNumber": "+33612345678",
        "givenName": "zoe",
        "familyName": "Bernardo",
        "birthdate": "2001-02-03",
    }
    answer = match(session, token, body)
    assert answer.json() == {
        "givenNameMatch": "true",
        "familyNameMatch": "false",
        "familyNameMatchScore": jaro_winkler_score("bernardo", "bernard"),
        "birthdateMatch": "true",
    }
    # A rules number without a kyc part reads the template's identity (a lab device here).
    lab = match(session, token, {"phoneNumber": "+33699901031", "familyName": "Martin"})
    assert lab.json() == {"familyNameMatch": "true"}
    # An override lets a test act as an operator that requires idDocument (the spec allows it).
    teapot = match(session, token, {"phoneNumber": "+33612345678", "givenName": "Teapot"})
    assert error_of(teapot)[:2] == (403, "KNOW_YOUR_CUSTOMER.ID_DOCUMENT_REQUIRED")


def test_the_predefined_numbers_hold_the_templates_identity(proxy):
    session = proxy.session()
    with proxy.httpx_client() as http:
        answer = http.post(
            MATCH,
            headers=bearer(playground_token(session)),
            json={"phoneNumber": TEMPLATE_NUMBER, **CAMILLE, "familyNameAtBirth": "Martin"},
        )
    assert answer.status_code == 200, answer.text
    expected = {f"{name}Match": "true" for name in asked(CAMILLE)}
    expected["familyNameAtBirthMatch"] = "not_available"  # the template holds none
    assert answer.json() == expected
    lookalike = match(
        session,
        playground_token(session),
        {"phoneNumber": "+990100000000", "address": "12 avenue Victor Hugo", "gender": "MALE"},
    )
    assert lookalike.json() == {
        "addressMatch": "false",
        "addressMatchScore": jaro_winkler_score("12 avenue victor hugo", "12 avenue victor hugo 75016 paris"),
        "genderMatch": "false",
    }


def test_the_correlator_is_echoed_on_answers_and_errors(proxy):
    session = proxy.session()
    token = playground_token(session)
    ok = match(
        session, token, {"phoneNumber": TEMPLATE_NUMBER, "givenName": "Camille"}, **{"x-correlator": "k-1"}
    )
    assert ok.headers["x-correlator"] == "k-1"
    bad = match(session, token, {"phoneNumber": TEMPLATE_NUMBER}, **{"x-correlator": "k-2"})
    assert bad.status_code == 400 and bad.headers["x-correlator"] == "k-2"


# Validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"email": "camille.martin.example.com"}, "email"),
        ({"email": "camille martin@example.com"}, "email"),
        ({"givenname": "Camille"}, "givenname"),
        ({"gender": "female"}, "gender"),
        ({"birthdate": "14/05/1990"}, "birthdate"),
        ({"birthdate": "1990-02-30"}, "birthdate"),
        ({"streetNumber": 12}, "streetNumber"),
        ({"givenName": None}, "givenName"),
        ({"country": "FRA"}, "country"),
        ({"phoneNumber": "33611223344"}, "phoneNumber"),
        ({"phoneNumber": "+33 6 11 22 33 44"}, "phoneNumber"),
    ],
)
def test_invalid_fields_get_400_naming_the_field(proxy, extra, field):
    session = proxy.session()
    body = {"phoneNumber": TEMPLATE_NUMBER, "familyName": "Martin", **extra}
    answer = match(session, playground_token(session), body)
    # An unknown field is named as Orange's playground names it; other problems get CAMARA's words.
    unknown = field == "givenname"
    assert error_of(answer) == (
        400,
        "INVALID_ARGUMENT",
        "givenname is not allowed"
        if unknown
        else "Client specified an invalid argument, request body or query param.",
    )
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"phoneNumber": "+990100000001", ', "application/json"),
        (b'["givenName"]', "application/json"),
        (b"", "application/json"),
        (json.dumps({"phoneNumber": TEMPLATE_NUMBER, "givenName": "Camille"}).encode(), "text/plain"),
    ],
    ids=["broken", "array", "empty", "not-json-media-type"],
)
def test_a_body_that_is_not_a_json_object_gets_400(proxy, camara_proxy, data, content_type):
    for running in (proxy, camara_proxy):
        session = running.session()
        headers = {**bearer(playground_token(session)), "Content-Type": content_type}
        answer = session.post(MATCH, headers=headers, data=data)
        assert error_of(answer)[:2] == (400, "INVALID_ARGUMENT")
        assert answer.headers["x-orange-proxy-reason"]


def test_nothing_to_match_is_an_invalid_param_combination(proxy, camara_proxy):
    for running in (proxy, camara_proxy):
        session = running.session()
        for body in ({"phoneNumber": TEMPLATE_NUMBER}, {}):
            answer = match(session, playground_token(session), body)
            status, code, message = error_of(answer)
            assert (status, code) == (400, "KNOW_YOUR_CUSTOMER.INVALID_PARAM_COMBINATION")
            assert message.startswith("Indicated parameter combination is invalid")


def test_method_and_path_errors(proxy):
    session = proxy.session()
    auth = bearer(playground_token(session))
    wrong_method = session.get(MATCH, headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    nowhere = session.post(MATCH + "es", headers=auth, json={"phoneNumber": TEMPLATE_NUMBER, "name": "x"})
    assert error_of(nowhere)[:2] == (404, "NOT_FOUND")


# Tokens and the device ------------------------------------------------------------------------------


def test_401_in_both_profiles(proxy, camara_proxy):
    body = {"phoneNumber": TEMPLATE_NUMBER, "givenName": "Camille"}
    missing = proxy.session().post(MATCH, json=body)
    assert missing.status_code == 401
    assert missing.json() == {
        "code": "UNAUTHORIZED",
        "message": "Authorization failed: missing Authorization header",
    }
    invalid = match(proxy.session(), "not-a-token-we-issued", body)
    assert invalid.json() == {"code": "UNAUTHORIZED", "message": "Authorization failed: invalid access token"}
    camara = match(camara_proxy.session(), "not-a-token-we-issued", body)
    assert error_of(camara) == (
        401,
        "UNAUTHENTICATED",
        "Request not authenticated due to missing, invalid, or expired credentials.",
    )


def test_403_for_a_lab_token_and_a_token_without_the_scope(proxy, camara_proxy):
    body = {"phoneNumber": TEMPLATE_NUMBER, "givenName": "Camille"}
    session = proxy.session()
    lab = match(session, lab_token(session), body)
    assert (lab.status_code, lab.json()) == (
        403,
        {"code": "FORBIDDEN", "message": "Request must be authorized"},
    )
    wrong = match(session, playground_token(session, scope="number-verification:verify"), body)
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "FORBIDDEN" and SCOPE in wrong.json()["message"]
    assert match(session, playground_token(session, scope=SCOPE), body).status_code == 200
    # A 3-legged token for another API does not do either.
    other = three_legged_token(session, TEMPLATE_NUMBER)  # number-verification:verify
    assert match(session, other, body).status_code == 403

    camara = camara_proxy.session()
    denied = match(camara, playground_token(camara, scope="number-verification:verify"), body)
    assert error_of(denied)[:2] == (403, "PERMISSION_DENIED")


def test_a_three_legged_token_names_the_line(proxy, client):
    session = proxy.session()
    define(session, client, NUMBER, ADA)
    token = three_legged_token(session, NUMBER, THREE_LEGGED_SCOPE, client=client)
    # No phoneNumber: the token's line, whose identity is Ada's (not the template's).
    implicit = match(session, token, {"givenName": "Ada", "familyName": "Lovelace"})
    assert implicit.json() == {"givenNameMatch": "true", "familyNameMatch": "true"}
    explicit = match(session, token, {"phoneNumber": NUMBER, "givenName": "Ada"})
    assert explicit.json() == {"givenNameMatch": "true"}
    # Nothing to match is still a 400, whatever the token names.
    assert error_of(match(session, token, {}))[:2] == (400, "KNOW_YOUR_CUSTOMER.INVALID_PARAM_COMBINATION")


def test_a_three_legged_token_and_another_number_in_the_body(proxy, camara_proxy, client):
    for running in (proxy, camara_proxy):
        session = running.session()
        define(session, client, NUMBER, ADA)
        define(session, client, OTHER, ADA)
        token = three_legged_token(session, NUMBER, THREE_LEGGED_SCOPE, client=client)
        answer = match(session, token, {"phoneNumber": OTHER, "givenName": "Ada"})
        assert answer.status_code == 403
        assert answer.headers["x-orange-proxy-reason"] == (
            "the phoneNumber in the body is not the one the access token was issued for"
        )
        if running is proxy:
            assert answer.json() == {
                "code": "FORBIDDEN",
                "message": "Operation not allowed: "
                "the phoneNumber in the body is not the one the access token was issued for",
            }
        else:
            assert error_of(answer) == (
                403,
                "INVALID_TOKEN_CONTEXT",
                "Phone number mismatch with access token context",
            )


def test_a_two_legged_token_and_no_phone_number(proxy, camara_proxy):
    body = {"givenName": "Camille"}
    orange = match(proxy.session(), playground_token(proxy.session()), body)
    assert orange.status_code == 403 and orange.json()["code"] == "FORBIDDEN"
    assert "phoneNumber" in orange.json()["message"]
    camara = match(camara_proxy.session(), playground_token(camara_proxy.session()), body)
    assert error_of(camara) == (
        403,
        "INVALID_TOKEN_CONTEXT",
        "Phone number cannot be deducted from access token context",
    )


def test_an_unknown_number_in_both_profiles(proxy, camara_proxy, client):
    body = {"phoneNumber": STRANGER, "givenName": "Camille"}
    orange = match(proxy.session(), playground_token(proxy.session(), client), body)
    assert (orange.status_code, orange.json()) == (
        403,
        {"code": "FORBIDDEN", "message": f"{STRANGER} does not exist for {client[0]}"},
    )
    camara = match(camara_proxy.session(), playground_token(camara_proxy.session(), client), body)
    assert error_of(camara) == (
        404,
        "NOT_FOUND",
        "The phone number is not associated with a customer account",
    )
    # Another application's number is unknown too.
    define(proxy.session(), client, NUMBER, ADA)
    stranger = ("kyc-stranger-" + client[0], "secret")
    other = match(
        proxy.session(), playground_token(proxy.session(), stranger), {"phoneNumber": NUMBER, "name": "x"}
    )
    assert (
        other.status_code == 403 and other.json()["message"] == f"{NUMBER} does not exist for {stranger[0]}"
    )


# Faults -----------------------------------------------------------------------------------------------


def test_a_fault_scoped_to_the_api_through_the_control_api(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    token = playground_token(session)
    body = {"phoneNumber": TEMPLATE_NUMBER, "givenName": "Camille"}
    added = session.post(
        CONTROL + "/faults", json={"fault": "service_unavailable:api=kyc-match,operation=match"}
    )
    assert added.status_code == 201, added.text
    down = match(session, token, body)
    assert error_of(down) == (503, "UNAVAILABLE", "Service unavailable")
    # Other playground APIs are not concerned.
    other = session.post(
        PLAYGROUND_API + "/device-roaming-status/v0.6/retrieve",
        headers=bearer(token),
        json={"device": {"phoneNumber": TEMPLATE_NUMBER}},
    )
    assert other.status_code == 200, other.text
    assert session.delete(f"{CONTROL}/faults/{added.json()['id']}").status_code == 204
    assert match(session, token, body).json() == {"givenNameMatch": "true"}


# Units: normalisation and scoring ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Élodie", "elodie"),
        ("  JEAN-PIERRE   de  la  Tour ", "jean pierre de la tour"),
        ("D'Artagnan", "d artagnan"),
        ("D’Artagnan", "d artagnan"),
        ("Straße", "strasse"),
        ("Lætitia Cœur", "laetitia coeur"),
        ("Ｆｅｄｅｒｉｃａ", "federica"),
        ("İstanbul", "istanbul"),
        ("Ñúñez\u00a0Żółć", "nunez zołc"),
        ("12, rue de l'Église", "12 rue de l eglise"),
    ],
)
def test_normalise_text(raw, normal):
    assert normalise_text(raw) == normal


def test_the_other_normalisations():
    # Kana readings: width does not count, voicing marks do (ガ is ga, カ is ka).
    assert normalise_kana("ｶﾞｸ") == normalise_kana("ガク") == "ガク"
    assert normalise_kana("カク") != normalise_kana("ガク")
    assert normalise_kana("エイダ　ラブレイス") == "エイダ ラブレイス"  # an ideographic space is a space
    # Identifiers: letters and digits only.
    assert normalise_code(" 66666666-q ") == normalise_code("66666666Q") == "66666666q"
    assert normalise_code("SW1A 1AA") == "sw1a1aa"
    # Emails: caseless and trimmed, dots and accents kept.
    assert normalise_email(" Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert normalise_email("adalovelace@example.com") != normalise_email("ada.lovelace@example.com")
    assert normalise_email("élodie@example.com") != normalise_email("elodie@example.com")


def test_score_is_rapidfuzz_jaro_winkler_on_the_0_to_100_scale():
    assert (
        score("camile", "camille")
        == math.floor(JaroWinkler.similarity("camile", "camille") * 100 + 0.5)
        == 97
    )
    assert score("clara", "carla") == 88  # the example of CAMARA's scoring proposal: "88% close"
    assert score("abc", "xyz") == 0
    # Values that differ never score 100, however close (100 beside "false" would read as a match).
    long_name = "a" * 300
    assert JaroWinkler.similarity(long_name, long_name + "b") * 100 > 99.5
    assert score(long_name, long_name + "b") == 99


def test_compare_and_the_composed_forms():
    by_name = {f.name: f for f in FIELDS}
    held = {"givenName": "Ada", "familyName": "Lovelace", "postalCode": "SW1Y 4JH", "email": "   "}
    assert compare(by_name["givenName"], "ADA", held) == {"givenNameMatch": "true"}
    assert compare(by_name["givenName"], "Adda", held) == {
        "givenNameMatch": "false",
        "givenNameMatchScore": score("adda", "ada"),
    }
    # Unscored fields never carry a score; a blank value held is no value.
    assert compare(by_name["postalCode"], "SW1Y 4JJ", held) == {"postalCodeMatch": "false"}
    assert compare(by_name["email"], "ada@example.com", held) == {"emailMatch": "not_available"}
    assert full_names({"givenName": "Ada"}) == []
    assert full_names({"givenName": "Ada", "familyName": "Lovelace"}) == ["Ada Lovelace", "Lovelace Ada"]
    assert addresses({"streetName": "Gran Via", "streetNumber": "1"}) == ["1 Gran Via", "Gran Via 1"]
    assert addresses({"streetName": "Gran Via"}) == []
    # The answer holds only the fields asked about, in the spec's order.
    answer = match_identity({"phoneNumber": "+1234567", "familyName": "Lovelace", "givenName": "Ada"}, held)
    assert list(answer) == ["givenNameMatch", "familyNameMatch"]
