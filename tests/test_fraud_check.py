"""A fraud-prevention app's check, end to end through the real proxy, as the playground's typical user
runs it: the tester defines a number with the Admin API (SIM swapped yesterday, a known identity), then
the app calls Number Verification, SIM Swap and KYC Match for it."""

from __future__ import annotations

import time

from flows import (
    NV,
    ORANGE,
    PLAYGROUND_API,
    bearer,
    lab_token,
    playground_token,
    three_legged_token,
)
from rapidfuzz.distance import JaroWinkler

ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
SIM_SWAP = PLAYGROUND_API + "/sim-swap/v1"
KYC = PLAYGROUND_API + "/kyc-match/v0.2/match"
NUMBER = "+33612345678"
IDENTITY = {
    "givenName": "Jeanne",
    "familyName": "Dupont",
    "name": "Jeanne Dupont",
    "birthdate": "1985-03-02",
    "email": "jeanne.dupont@example.org",
    "country": "FR",
}


def test_fraud_check_on_an_admin_defined_number(proxy):
    session = proxy.session()
    client = (f"fraud-app-{time.monotonic_ns()}", "secret")

    # The tester: create the number, then say its SIM was swapped yesterday and who owns it.
    admin = lab_token(session, client)
    created = session.post(ADMIN, headers=bearer(admin), json={"action": "CREATE", "phoneNumber": NUMBER})
    assert created.status_code == 201, created.text
    yesterday = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 24 * 3600))
    update = {
        "action": "UPDATE",
        "phoneNumber": NUMBER,
        "data": {"simSwap": {"latestSimChange": yesterday}, "kyc": IDENTITY},
    }
    assert session.post(ADMIN, headers=bearer(admin), json=update).status_code == 200

    # The app, step 1: Number Verification, 3-legged, the device authenticating as NUMBER.
    nv = three_legged_token(
        session, NUMBER, "openid dpv:FraudPreventionAndDetection number-verification:verify", client
    )
    verified = session.post(NV + "/verify", headers=bearer(nv), json={"phoneNumber": NUMBER})
    assert verified.json() == {"devicePhoneNumberVerified": True}

    # Step 2: SIM Swap, 2-legged: swapped within 48 hours, not within 12.
    token = playground_token(session, client, "sim-swap:check sim-swap:retrieve-date kyc-match:match")
    check = SIM_SWAP + "/check"
    within_48 = session.post(check, headers=bearer(token), json={"phoneNumber": NUMBER, "maxAge": 48})
    within_12 = session.post(check, headers=bearer(token), json={"phoneNumber": NUMBER, "maxAge": 12})
    assert (within_48.status_code, within_48.json()) == (200, {"swapped": True})
    assert (within_12.status_code, within_12.json()) == (200, {"swapped": False})
    date = session.post(SIM_SWAP + "/retrieve-date", headers=bearer(token), json={"phoneNumber": NUMBER})
    assert date.json()["latestSimChange"].startswith(yesterday[:16])

    # Step 3: KYC Match with the given name misspelt: false, with its Jaro-Winkler score.
    claimed = {**IDENTITY, "givenName": "Jeane"}
    del claimed["name"]
    match = session.post(KYC, headers=bearer(token), json={"phoneNumber": NUMBER, **claimed})
    assert match.status_code == 200, match.text
    answer = match.json()
    assert answer["givenNameMatch"] == "false"
    expected = JaroWinkler.similarity("jeane", "jeanne") * 100
    assert abs(answer["givenNameMatchScore"] - expected) <= 1
    assert answer["familyNameMatch"] == "true"
    assert answer["birthdateMatch"] == "true"
    assert answer["emailMatch"] == "true"
    assert "familyNameMatchScore" not in answer

    # The same app for another client sees none of it: the number is this client's.
    other = playground_token(session, ("another-app", "secret"), "sim-swap:check")
    foreign = session.post(check, headers=bearer(other), json={"phoneNumber": NUMBER, "maxAge": 48})
    assert foreign.status_code in (403, 404)
