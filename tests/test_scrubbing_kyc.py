"""Recording the new playground APIs: KYC personal data pseudonymised when pseudonyms are asked
(KYC Match requests, the Admin API's `kyc` part), sink credentials always replaced by placeholders,
phone numbers where these APIs put them, the leak check, and replay of such cassettes: through the
scrubber, through a Tape, and through the real proxy recording from a local stand-in."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from difflib import SequenceMatcher
from pathlib import Path

import requests
import yaml
from conftest import orange_proxy_command, recorder, stand_in
from flows import PLAYGROUND_API, bearer, lab_token, playground_token

from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.model import Interaction, Request, Response
from proxy_addons.cassettes.tape import Hit, Miss, Tape
from proxy_addons.config.schemas import default_store
from proxy_addons.integrations.standin import serving
from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.scrubbing import Scrubber, ScrubConfig, leaks
from proxy_addons.scrubbing.places import KYC_FIELDS, KYC_KEPT
from proxy_addons.scrubbing.pseudonyms import SHAPES, birth_year, is_pseudonym

ORANGE = "https://api.orange.com"
KYC_MATCH = PLAYGROUND_API + "/kyc-match/v0.2/match"
LAB_KYC_MATCH = ORANGE + "/camara/orange-lab/kyc-match/v0/match"
DENSITY = PLAYGROUND_API + "/population-density-data/v0.2/retrieve"
SIM_SWAP = PLAYGROUND_API + "/sim-swap/v1/check"
ROAMING = PLAYGROUND_API + "/device-roaming-status/v0.6/retrieve"
ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
PLAYGROUND_NUMBER = "+990100000000"  # predefined: kept as it is, so replay can use it as recorded
NUMBER = "+33611223344"  # a user-defined number: pseudonymised

# Someone's identity, as a tester would type it in (the spec's own example, completed).
IDENTITY = {
    "idDocument": "66666666q",
    "name": "Federica Sanchez Arjona",
    "givenName": "Federica",
    "familyName": "Sanchez Arjona",
    "nameKanaHankaku": "ﾌｪﾃﾞﾘｶ",
    "nameKanaZenkaku": "フェデリカ",
    "middleNames": "Lucia",
    "familyNameAtBirth": "Arjona",
    "address": "Calle Nicolas Salmeron 4, 28001 Madrid",
    "streetName": "Nicolas Salmeron",
    "streetNumber": "4",
    "postalCode": "28001",
    "region": "Comunidad de Madrid",
    "locality": "Madrid",
    "country": "ES",
    "houseNumberExtension": "2B",
    "birthdate": "1978-08-22",
    "email": "federica.sanchez@example.es",
    "gender": "FEMALE",
}
# What must not be in a cassette: every value but the kept ones and those too short to search text for.
REAL_VALUES = [v for k, v in IDENTITY.items() if k not in KYC_KEPT and len(v) >= 5]
MATCH_ANSWER = {
    "idDocumentMatch": "true",
    "givenNameMatch": "true",
    "familyNameMatch": "false",
    "familyNameMatchScore": 87,
    "birthdateMatch": "true",
    "emailMatch": "not_available",
    "genderMatch": "true",
}
SINK_TOKEN = "sink-access-7Hq2Lm9Xv4Tb8Ws1"
SINK_REFRESH = "sink-refresh-3Kd8Nf2Qp6Zr"
SINK_PASSWORD = "hunter2-webhook-pass"


def post_json(uri: str, data: object) -> Request:
    body = json.dumps(data).encode()
    return Request(
        "POST", uri, {"Content-Type": ["application/json"], "Content-Length": [str(len(body))]}, body
    )


def json_response(data: object, status: int = 200) -> Response:
    body = json.dumps(data).encode()
    return Response(status, "OK", {"Content-Type": ["application/json"]}, body)


def body_of(message: Request | Response) -> dict:
    return json.loads(message.body)


def text(*interactions: Interaction) -> str:
    """The interactions as they would be written to disk."""
    return Cassette(Path("unused.yaml"), list(interactions)).dumps().decode("utf-8")


def pseudonymiser(existing: list[Interaction] | None = None) -> Scrubber:
    return Scrubber(ScrubConfig(pseudonymise_numbers=True), existing=existing or [])


def kyc_match(identity: dict, number: str = PLAYGROUND_NUMBER, uri: str = KYC_MATCH) -> Interaction:
    return Interaction(post_json(uri, {"phoneNumber": number, **identity}), json_response(MATCH_ANSWER))


def admin_read(number: str, kyc: dict) -> Interaction:
    return Interaction(
        post_json(ADMIN, {"action": "READ", "phoneNumber": number}),
        json_response({"data": {"roaming": {"roaming": False}, "kyc": kyc}}),
    )


def sink_request(credential: dict, sink: str = "https://app.example/density") -> Request:
    return post_json(
        DENSITY,
        {
            "area": {"areaType": "POLYGON", "boundary": [{"latitude": 48.85, "longitude": 2.35}] * 3},
            "startTime": "2025-01-01T10:00:00Z",
            "endTime": "2025-01-01T12:00:00Z",
            "sink": sink,
            "sinkCredential": credential,
        },
    )


# KYC Match requests -------------------------------------------------------------------------------


def test_every_kyc_field_of_a_match_request_becomes_a_pseudonym_of_its_shape():
    scrubbed = pseudonymiser().scrub(kyc_match(IDENTITY, NUMBER))
    sent = body_of(scrubbed.request)
    assert sent == {
        "phoneNumber": "+990000000001",
        "idDocument": "PSEUDO0001",
        "name": "Name 0001",
        "givenName": "Given 0001",
        "familyName": "Family 0001",
        "nameKanaHankaku": "ｶﾒｲ0001",
        "nameKanaZenkaku": "カメイ０００１",
        "middleNames": "Middle 0001",
        "familyNameAtBirth": "Birthname 0001",
        "address": "Address 0001",
        "streetName": "Street 0001",
        "streetNumber": "0001",
        "postalCode": "000001",
        "region": "Region 0001",
        "locality": "Locality 0001",
        "country": "ES",  # kept: ISO 3166-1 alpha-2, coarse
        "houseNumberExtension": "Ext 0001",
        "birthdate": "1978-01-01",  # the year only
        "email": "person-0001@pseudonym.invalid",
        "gender": "FEMALE",  # kept: the enum
    }
    assert set(sent) - {"phoneNumber"} == KYC_FIELDS  # the test covers the whole field list
    assert scrubbed.request.headers["Content-Length"] == [str(len(scrubbed.request.body))]
    # The answer holds only results and scores: they stay.
    assert body_of(scrubbed.response) == MATCH_ANSWER
    assert scrubbed.meta == {"pseudonymised": True}


def test_pseudonyms_keep_the_shape_of_their_field():
    sent = body_of(pseudonymiser().scrub(kyc_match(IDENTITY)).request)
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", sent["email"])
    assert datetime.date.fromisoformat(sent["birthdate"]).year == 1978
    assert sent["idDocument"].isalnum()
    assert sent["streetNumber"].isdigit() and sent["postalCode"].isdigit()
    assert re.fullmatch(r"[\uff61-\uff9f]+[0-9]+", sent["nameKanaHankaku"])  # half-width katakana
    assert re.fullmatch(r"[\u30a0-\u30ff]+[０-９]+", sent["nameKanaZenkaku"])  # full-width katakana
    for field, value in sent.items():
        if field != "phoneNumber":
            assert is_pseudonym(value, field), field


def test_kyc_data_is_kept_unless_pseudonyms_are_asked_for():
    interaction = kyc_match(IDENTITY, NUMBER)
    scrubbed = Scrubber().scrub(interaction)
    assert scrubbed.request.body == interaction.request.body
    assert scrubbed.meta == {}


def test_the_lab_path_and_numbers_sent_as_json_numbers():
    request = Request(
        "POST",
        LAB_KYC_MATCH,
        {"Content-Type": ["application/json"]},
        b'{"phoneNumber": "+33699901031", "streetNumber": 4, "postalCode": 1028460, "givenName": "Ana"}',
    )
    scrubbed = pseudonymiser().scrub(Interaction(request, json_response({"givenNameMatch": "true"})))
    assert body_of(scrubbed.request) == {
        "phoneNumber": "+990000000001",
        "streetNumber": "0001",  # a pseudonym with leading zeros is no JSON number: a string
        "postalCode": "000001",
        "givenName": "Given 0001",
    }


def test_kyc_names_outside_a_kyc_place_are_left_alone():
    # `name`, `country` or `address` mean other things elsewhere: only KYC places are pseudonymised.
    data = {"device": {"phoneNumber": NUMBER}, "name": "my-app", "country": "FR", "address": "10.0.0.1"}
    scrubbed = pseudonymiser().scrub(Interaction(post_json(ROAMING, data), json_response({"roaming": False})))
    assert body_of(scrubbed.request) == {**data, "device": {"phoneNumber": "+990000000001"}}


def test_the_same_value_gets_the_same_pseudonym_and_others_the_next_one():
    scrubber = pseudonymiser()
    first = body_of(scrubber.scrub(kyc_match(IDENTITY)).request)
    other = {**IDENTITY, "givenName": "Lucia", "email": "someone.else@example.es"}
    second = body_of(scrubber.scrub(kyc_match(other)).request)
    third = body_of(scrubber.scrub(kyc_match(IDENTITY)).request)
    assert first == third
    assert second["givenName"] == "Given 0002" and second["email"] == "person-0002@pseudonym.invalid"
    assert second["familyName"] == first["familyName"] == "Family 0001"
    # Numbered per field: "Lucia" as a given name is not the middle name "Lucia" of the first.
    assert second["middleNames"] == first["middleNames"] == "Middle 0001"


def test_birthdates_are_generalised_to_their_year_and_odd_ones_lose_their_digits():
    assert birth_year("1978-08-22") == "1978-01-01"
    assert birth_year("1978-01-01") == "1978-01-01"
    assert birth_year("1978-02-30") == "0000-00-00"  # not a date: still not one, and says nothing
    assert birth_year("22/08/1978") == "00/00/0000"
    assert birth_year("August 22, 1978") == "xxxxxx 00, 0000"


def test_known_kyc_values_also_leave_free_text():
    scrubber = pseudonymiser()
    scrubber.scrub(kyc_match(IDENTITY))
    message = {
        "status": 400,
        "code": "INVALID_ARGUMENT",
        "message": "Federica Sanchez Arjona: birthdate 1978-08-22 refused; Federica",
    }
    scrubbed = scrubber.scrub(Interaction(post_json(KYC_MATCH, {}), json_response(message, 400)))
    assert body_of(scrubbed.response)["message"] == "Name 0001: birthdate 1978-01-01 refused; Given 0001"


def test_the_schema_verdict_in_the_metadata_loses_them_too():
    interaction = kyc_match(IDENTITY)
    interaction.meta = {"schema": {"valid": False, "problems": ["'Federica Sanchez Arjona' is odd"]}}
    scrubbed = pseudonymiser().scrub(interaction)
    assert scrubbed.meta["schema"]["problems"] == ["'Name 0001' is odd"]


# The Admin API's kyc part -------------------------------------------------------------------------


def test_admin_kyc_in_requests_and_answers_matches_the_match_requests():
    scrubber = pseudonymiser()
    update = {
        "action": "UPDATE",
        "phoneNumber": NUMBER,
        "data": {"kyc": IDENTITY, "roaming": {"roaming": True}},
    }
    updated = scrubber.scrub(Interaction(post_json(ADMIN, update), json_response({"data": update["data"]})))
    read = scrubber.scrub(admin_read(NUMBER, IDENTITY))
    matched = scrubber.scrub(kyc_match(IDENTITY, NUMBER))
    stored = body_of(updated.request)["data"]["kyc"]
    assert stored == body_of(updated.response)["data"]["kyc"] == body_of(read.response)["data"]["kyc"]
    assert {k: v for k, v in body_of(matched.request).items() if k != "phoneNumber"} == stored
    assert (
        body_of(updated.request)["phoneNumber"] == body_of(matched.request)["phoneNumber"] == "+990000000001"
    )
    assert body_of(updated.request)["data"]["roaming"] == {"roaming": True}
    for value in REAL_VALUES:
        assert value not in text(updated, read, matched), value


def test_a_pseudonymised_admin_answer_still_follows_its_schema():
    scrubbed = pseudonymiser().scrub(admin_read(NUMBER, IDENTITY))
    data = body_of(scrubbed.response)
    assert default_store().check_response("playground-admin#action.200", 200, data) == []
    assert data["data"]["kyc"]["givenName"] == "Given 0001"


def test_scrubbing_twice_changes_nothing():
    flow = [kyc_match(IDENTITY, NUMBER), admin_read(NUMBER, IDENTITY)]
    scrubbed = [pseudonymiser().scrub(i) for i in flow]
    assert [pseudonymiser().scrub(i) for i in scrubbed] == scrubbed
    again = pseudonymiser(existing=scrubbed)
    assert [again.scrub(i) for i in scrubbed] == scrubbed


def test_pseudonym_numbering_continues_after_the_existing_interactions():
    existing = [pseudonymiser().scrub(kyc_match(IDENTITY))]
    scrubber = pseudonymiser(existing=existing)
    new = body_of(scrubber.scrub(kyc_match({**IDENTITY, "givenName": "Lucia", "streetNumber": "9"})).request)
    assert new["givenName"] == "Given 0002"
    assert new["streetNumber"] == "0002"
    assert new["name"] == "Name 0002"  # across runs a value is not recognised: it gets a new pseudonym


def test_our_own_shapes_sent_as_they_are_are_kept_and_never_handed_out():
    scrubber = pseudonymiser()
    kept = body_of(scrubber.scrub(kyc_match({"givenName": "Given 0001"})).request)
    mapped = body_of(scrubber.scrub(kyc_match({"givenName": "Federica"})).request)
    assert kept["givenName"] == "Given 0001" and mapped["givenName"] == "Given 0002"


def test_odd_kyc_values_do_not_crash():
    odd = {
        "givenName": None,
        "familyName": True,
        "name": "",
        "address": ["1 rue A", {"x": "2 rue B"}],
        "email": 7,
    }
    scrubbed = pseudonymiser().scrub(kyc_match(odd))
    assert body_of(scrubbed.request) == {
        "phoneNumber": PLAYGROUND_NUMBER,
        "givenName": None,
        "familyName": True,
        "name": "",
        "address": ["Address 0001", {"x": "Address 0002"}],
        "email": "person-0001@pseudonym.invalid",
    }
    broken = Request("POST", KYC_MATCH, {"Content-Type": ["application/json"]}, b'{"givenName": "Fe')
    assert pseudonymiser().scrub(Interaction(broken, Response(400))).request.body == broken.body


# Phone numbers where the new APIs put them ----------------------------------------------------------


def test_phone_numbers_at_the_top_and_in_device_in_requests_and_answers():
    scrubber = pseudonymiser()
    swap = scrubber.scrub(
        Interaction(
            post_json(SIM_SWAP, {"phoneNumber": NUMBER, "maxAge": 240}), json_response({"swapped": False})
        )
    )
    roaming = scrubber.scrub(
        Interaction(
            post_json(ROAMING, {"device": {"phoneNumber": "+33622222222"}}),
            json_response({"device": {"phoneNumber": "+33622222222"}, "roaming": False}),
        )
    )
    assert body_of(swap.request) == {"phoneNumber": "+990000000001", "maxAge": 240}
    assert body_of(roaming.request) == {"device": {"phoneNumber": "+990000000002"}}
    assert body_of(roaming.response) == {"device": {"phoneNumber": "+990000000002"}, "roaming": False}
    read = scrubber.scrub(
        Interaction(post_json(ADMIN, {"action": "LIST"}), json_response({"phoneNumbers": [NUMBER]}))
    )
    assert body_of(read.response) == {"phoneNumbers": ["+990000000001"]}


# Sink credentials: always placeholders ------------------------------------------------------------


def test_an_access_token_sink_credential_is_replaced_always():
    credential = {
        "credentialType": "ACCESSTOKEN",
        "accessToken": SINK_TOKEN,
        "accessTokenExpiresUtc": "2025-01-01T12:00:00Z",
        "accessTokenType": "bearer",
    }
    scrubbed = Scrubber().scrub(Interaction(sink_request(credential), Response(202)))
    assert body_of(scrubbed.request)["sinkCredential"] == {
        **credential,
        "accessToken": "SCRUBBED-ACCESS-TOKEN-0001",
    }
    assert SINK_TOKEN not in text(scrubbed)


def test_refresh_token_and_plain_credentials_and_a_field_the_spec_may_add():
    scrubber = Scrubber()
    refresh = scrubber.scrub(
        Interaction(
            sink_request(
                {
                    "credentialType": "REFRESHTOKEN",
                    "accessToken": SINK_TOKEN,
                    "accessTokenExpiresUtc": "2025-01-01T12:00:00Z",
                    "accessTokenType": "bearer",
                    "refreshToken": SINK_REFRESH,
                    "refreshTokenEndpoint": "https://auth.example/token?client_secret=cs-998877&x=1",
                    "clientKey": "ck-5544",
                },
                sink="https://app.example/density?access_token=qs-token-123456&run=7",
            ),
            Response(202),
        )
    )
    plain = scrubber.scrub(
        Interaction(
            sink_request({"credentialType": "PLAIN", "identifier": "webhook-user", "secret": SINK_PASSWORD}),
            Response(202),
        )
    )
    sent = body_of(refresh.request)
    assert sent["sinkCredential"] == {
        "credentialType": "REFRESHTOKEN",
        "accessToken": "SCRUBBED-ACCESS-TOKEN-0002",  # numbered in reading order: the sink comes first
        "accessTokenExpiresUtc": "2025-01-01T12:00:00Z",
        "accessTokenType": "bearer",
        "refreshToken": "SCRUBBED-REFRESH-TOKEN-0001",
        "refreshTokenEndpoint": "https://auth.example/token?client_secret=SCRUBBED-CLIENT-SECRET-0001&x=1",
        "clientKey": "SCRUBBED-VALUE-0001",
    }
    assert sent["sink"] == "https://app.example/density?access_token=SCRUBBED-ACCESS-TOKEN-0001&run=7"
    assert body_of(plain.request)["sinkCredential"] == {
        "credentialType": "PLAIN",
        "identifier": "SCRUBBED-IDENTIFIER-0001",
        "secret": "SCRUBBED-PASSWORD-0001",
    }
    assert leaks(text(refresh, plain)) == []


def test_a_sink_credential_that_is_no_object_is_hidden_whole():
    scrubbed = Scrubber().scrub(Interaction(sink_request("Bearer abc123456789"), Response(202)))  # type: ignore[arg-type]
    assert body_of(scrubbed.request)["sinkCredential"] == "SCRUBBED-VALUE-0001"


def test_the_leak_check_finds_sink_secrets_left_in_camel_case():
    request = sink_request({"credentialType": "PLAIN", "identifier": "u", "secret": SINK_PASSWORD})
    left = text(Interaction(request, Response(202)))
    assert any("secret" in report for report in leaks(left))
    token_body = json.dumps({"sinkCredential": {"accessToken": SINK_TOKEN}})
    assert any("accessToken" in report for report in leaks(token_body))
    assert leaks(json.dumps({"accessToken": "SCRUBBED-ACCESS-TOKEN-0001"})) == []


# Matching: a replay with the real identity hits ------------------------------------------------------


def test_masks_make_the_real_identity_equal_to_its_pseudonyms():
    scrubber = pseudonymiser()
    live = kyc_match(IDENTITY)
    stored = scrubber.scrub(live).request
    assert stored.body != live.request.body
    assert scrubber.mask(live.request) == scrubber.mask(stored)
    # What the pseudonyms keep still tells requests apart: the kept gender, the birth year.
    assert scrubber.mask(kyc_match({**IDENTITY, "gender": "MALE"}).request) != scrubber.mask(stored)
    assert scrubber.mask(kyc_match({**IDENTITY, "birthdate": "1979-08-22"}).request) != scrubber.mask(stored)
    assert scrubber.mask(kyc_match({**IDENTITY, "birthdate": "1978-12-31"}).request) == scrubber.mask(stored)


def test_without_pseudonyms_kyc_values_are_matched_exactly():
    scrubber = Scrubber()
    other = {**IDENTITY, "givenName": "Lucia"}
    assert scrubber.mask(kyc_match(IDENTITY).request) != scrubber.mask(kyc_match(other).request)


def test_a_cassette_recorded_with_pseudonyms_replays_the_real_identity_without_the_option(tmp_path):
    path = tmp_path / "kyc.yaml"
    recording = Tape(path, scrub=ScrubConfig(pseudonymise_numbers=True))
    answer = {**MATCH_ANSWER, "givenNameMatch": "false", "givenNameMatchScore": 40}
    recording.record(kyc_match(IDENTITY))
    recording.record(Interaction(kyc_match({**IDENTITY, "gender": "MALE"}).request, json_response(answer)))
    stored = path.read_text()
    assert "Federica" not in stored and "pseudonymised: true" in stored

    replay = Tape(path)  # as `orange-proxy replay` builds it: no pseudonym option
    hit = replay.find(kyc_match(IDENTITY).request)
    assert isinstance(hit, Hit) and body_of(hit.interaction.response) == MATCH_ANSWER
    other = replay.find(kyc_match({**IDENTITY, "gender": "MALE", "givenName": "Lucia"}).request)
    assert isinstance(other, Hit) and body_of(other.interaction.response) == answer
    pseudonymous = json.loads(yaml.safe_load(stored)["interactions"][0]["request"]["body"])
    assert isinstance(replay.find(post_json(KYC_MATCH, pseudonymous)), Hit)  # the cassette's identity too
    miss = replay.find(kyc_match({**IDENTITY, "gender": "OTHER"}).request)
    assert isinstance(miss, Miss) and "gender" in miss.reason and "Federica" not in miss.reason


def test_what_is_added_to_a_pseudonymised_cassette_is_pseudonymised_without_the_option(tmp_path):
    path = tmp_path / "kyc.yaml"
    Tape(path, scrub=ScrubConfig(pseudonymise_numbers=True)).record(kyc_match(IDENTITY))
    later = Tape(path)  # a later `record --record-mode new_episodes` without --pseudonymise-numbers
    later.record(kyc_match({**IDENTITY, "givenName": "Lucia"}, NUMBER))
    stored = path.read_text()
    assert "Lucia" not in stored and "33611223344" not in stored
    assert leaks(stored) == []


def test_a_sink_credential_request_replays_with_the_real_token(tmp_path):
    path = tmp_path / "density.yaml"
    credential = {"credentialType": "ACCESSTOKEN", "accessToken": SINK_TOKEN, "accessTokenType": "bearer"}
    Tape(path).record(Interaction(sink_request(credential), json_response({"operationId": "op-1"}, 202)))
    assert SINK_TOKEN not in path.read_text()
    assert isinstance(Tape(path).find(sink_request(credential)), Hit)
    other = {**credential, "accessTokenType": "other"}  # what is kept still counts
    assert isinstance(Tape(path).find(sink_request(other)), Miss)


# The leak check -------------------------------------------------------------------------------------


def test_a_pseudonymised_cassette_passes_the_leak_check():
    scrubber = pseudonymiser()
    long_name = {**IDENTITY, "address": "Calle de Nicolas Salmeron numero 4, escalera B, 28001 Madrid " * 3}
    dumped = text(*(scrubber.scrub(i) for i in (kyc_match(long_name), admin_read(NUMBER, IDENTITY))))
    assert leaks(dumped) == []


def test_kyc_values_left_in_a_pseudonymised_cassette_are_reported_without_quoting_them():
    scrubbed = pseudonymiser().scrub(kyc_match(IDENTITY))
    # A value the scrubber did not pseudonymise (hand-edited, or recorded before pseudonyms were asked).
    left = Interaction(
        post_json(ADMIN, {"action": "UPDATE", "data": {"kyc": {"givenName": "Federica"}}}), Response(200)
    )
    reports = leaks(text(scrubbed, left))
    assert len(reports) == 1 and "givenName" in reports[0]
    assert "Federica" not in reports[0]


def test_the_leak_check_reads_kyc_values_in_folded_and_double_quoted_yaml():
    scrubber = pseudonymiser()
    # A control character makes the YAML emitter use the double-quoted style; the long values fold.
    answer = Response(
        200,
        "OK",
        {},
        json.dumps({"data": {"kyc": {"givenName": "Given 0001", "familyName": "x " * 80}}}).encode()
        + b"\x00",
    )
    recorded = scrubber.scrub(kyc_match({"familyName": "Sanchez de la Cruz " * 10}))
    dumped = text(recorded, Interaction(post_json(ADMIN, {"action": "READ"}), answer))
    assert '\\"familyName\\"' in dumped  # the double-quoted style is indeed there
    reports = leaks(dumped)
    assert len(reports) == 1 and "familyName" in reports[0]


def test_kyc_values_are_no_leak_when_pseudonyms_were_not_asked():
    assert leaks(text(Scrubber().scrub(kyc_match(IDENTITY)))) == []


def test_each_shape_recognises_what_it_makes():
    for field, shape in SHAPES.items():
        for n in (1, 42, 9999, 10000):
            assert shape.number(shape.make(n)) == n, (field, n)
            assert is_pseudonym(shape.make(n), field)
        assert not is_pseudonym(IDENTITY[field], field), field


# Through the real proxy, recording from the stand-in ------------------------------------------------

SCORED = {"name", "givenName", "familyName", "email"}


def kyc_operator(record: dict[str, str]):
    """The stand-in's own answer to KYC Match (another module synthesises it): compare what is asked
    with the identity the operator holds, the spec's way, with a similarity score beside a mismatch."""

    def answer(request: ApiRequest) -> ApiResponse | None:
        if request.path.endswith("/population-density-data/v0.2/retrieve"):
            return ApiResponse(503, {"status": 503, "code": "UNAVAILABLE", "message": "Service unavailable"})
        if not request.path.endswith("/kyc-match/v0.2/match"):
            return None
        results: dict[str, object] = {}
        for field, value in json.loads(request.body).items():
            if field == "phoneNumber":
                continue
            held = record.get(field)
            if held is None:
                results[f"{field}Match"] = "not_available"
            elif held.casefold() == value.casefold():
                results[f"{field}Match"] = "true"
            else:
                results[f"{field}Match"] = "false"
                if field in SCORED:
                    results[f"{field}MatchScore"] = round(100 * SequenceMatcher(None, held, value).ratio())
        return ApiResponse(200, results)

    return answer


def kyc_flow(session, number: str, identity: dict) -> list[tuple[int, object]]:
    """What a KYC app does: define its test line's identity, read it back, match against it (once
    with a typo), and ask for population density with a sink credential."""
    lab = lab_token(session, ("kyc-app", "secret"))
    seen: list[tuple[int, object]] = []
    create = {"action": "CREATE", "phoneNumber": number, "data": {"kyc": identity}}
    for body in (
        create,
        {"action": "READ", "phoneNumber": number},
        {"action": "READ", "phoneNumber": PLAYGROUND_NUMBER},
    ):
        answer = session.post(ADMIN, headers=bearer(lab), json=body)
        seen.append((answer.status_code, answer.json()))
    token = playground_token(session, ("kyc-app", "secret"))
    typo = {**identity, "familyName": identity["familyName"] + "x"}
    for asked in (identity, typo):
        answer = session.post(
            KYC_MATCH, headers=bearer(token), json={"phoneNumber": PLAYGROUND_NUMBER, **asked}
        )
        seen.append((answer.status_code, answer.json()))
    credential = {
        "credentialType": "ACCESSTOKEN",
        "accessToken": SINK_TOKEN,
        "accessTokenExpiresUtc": "2030-01-01T00:00:00Z",
        "accessTokenType": "bearer",
    }
    density = session.post(DENSITY, headers=bearer(token), json=json.loads(sink_request(credential).body))
    seen.append((density.status_code, density.json()))
    return seen


def test_record_pseudonymised_then_replay_with_the_real_identity(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "kyc.yaml"
    server = stand_in(tls_files)
    server.answers = kyc_operator(IDENTITY)
    with serving(server):
        recording = recorder(proxy_factory, tls_files, server, cassette, "--pseudonymise-numbers")
        recorded = kyc_flow(recording.session(), NUMBER, IDENTITY)
        assert len(server.requests) == 8  # everything went upstream
    assert [status for status, _ in recorded] == [201, 200, 200, 200, 200, 503]
    assert recorded[1][1]["data"]["kyc"] == IDENTITY  # the app saw the real answers
    assert recorded[3][1] == {f"{field}Match": "true" for field in IDENTITY}
    assert recorded[4][1]["familyNameMatch"] == "false" and 0 < recorded[4][1]["familyNameMatchScore"] < 100

    stored = cassette.read_text()
    for secret in (*REAL_VALUES, "33611223344", SINK_TOKEN):
        assert secret not in stored, secret
    interactions = yaml.safe_load(stored)["interactions"]
    assert all(i["orange_proxy"]["pseudonymised"] is True for i in interactions)
    # (request JSON, response text) of each interaction but the token requests, which are forms.
    bodies = [
        (json.loads(i["request"]["body"] or "null"), i["response"]["body"]["string"])
        for i in interactions
        if "token" not in i["request"]["uri"]
    ]
    create, created = bodies[0][0], json.loads(bodies[0][1])
    assert create["phoneNumber"] == "+990000000001"
    pseudonymous = create["data"]["kyc"]
    assert pseudonymous["givenName"].startswith("Given ") and pseudonymous["birthdate"] == "1978-01-01"
    assert created["data"]["kyc"] == json.loads(bodies[1][1])["data"]["kyc"] == pseudonymous
    template = json.loads(bodies[2][1])["data"]["kyc"]  # the predefined line's identity: pseudonymised too
    assert template["givenName"] != pseudonymous["givenName"] and is_pseudonym(
        template["givenName"], "givenName"
    )
    match_request = bodies[3][0]
    assert match_request == {"phoneNumber": PLAYGROUND_NUMBER, **pseudonymous}
    assert json.loads(bodies[3][1]) == recorded[3][1] and json.loads(bodies[4][1]) == recorded[4][1]
    assert bodies[5][0]["sinkCredential"]["accessToken"].startswith("SCRUBBED-ACCESS-TOKEN-")
    check = subprocess.run(
        [*orange_proxy_command(), "cassette", "check", str(cassette)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # The stand-in is gone. The tester replays with the real identity; the line they created is
    # known by its pseudonymous number (phone numbers are matched as recorded).
    replaying = proxy_factory("--cassette", str(cassette), subcommand="replay")
    session = replaying.session()
    replayed = kyc_flow(session, "+990000000001", IDENTITY)
    assert [status for status, _ in replayed] == [201, 200, 200, 200, 200, 503]
    assert replayed[1][1]["data"]["kyc"] == pseudonymous  # what the cassette holds, not the real data
    assert replayed[3:] == recorded[3:]
    token = playground_token(session, ("kyc-app", "secret"))
    # The cassette's own identity hits too. KYC values do not tell requests apart in such a cassette:
    # both recorded answers were served in their order, and the last one is served again.
    again = session.post(KYC_MATCH, headers=bearer(token), json=match_request)
    assert again.status_code == 200 and again.json() == recorded[4][1]
    other = {**IDENTITY, "gender": "MALE"}  # the kept gender still tells requests apart
    miss = session.post(KYC_MATCH, headers=bearer(token), json={"phoneNumber": PLAYGROUND_NUMBER, **other})
    assert miss.status_code == 502 and miss.json()["code"] == "REPLAY_MISS"
    assert "gender" in miss.json()["message"]
    assert not any(value in miss.text for value in REAL_VALUES)


def test_the_stand_in_answers_itself_only_what_its_answers_take(tls_files):
    server = stand_in(tls_files)
    server.answers = kyc_operator({"givenName": "Ada"})
    with serving(server):
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tls_files[0])
        matched = session.post(
            server.url + "/camara/playground/api/kyc-match/v0.2/match", json={"givenName": "Ada"}
        )
        token = session.post(
            server.url + "/openidconnect/playground/v1.0/token",
            auth=("kyc-app", "secret"),
            data={"grant_type": "client_credentials"},
        )
    assert matched.status_code == 200 and matched.json() == {"givenNameMatch": "true"}
    assert token.status_code == 200 and "access_token" in token.json()  # the synthesiser's answer
    assert server.requests == [
        "POST /camara/playground/api/kyc-match/v0.2/match",
        "POST /openidconnect/playground/v1.0/token",
    ]
