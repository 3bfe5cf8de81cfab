"""Rules: layering over the defaults, and explicit overrides answered through the real proxy."""

from __future__ import annotations

import pytest
from flows import CLIENT, DLV, NV, V3_TOKEN, bearer, dlv_body, lab_token, three_legged_token

from proxy_addons.config.rules import RulesError, load_rules

OVERRIDES = """
overrides:
  - name: lab-outage-for-one-device
    match:
      api: location-verification
      operation: verify
      phone_number: "+33699901035"
    response:
      status: 503
      headers: {Retry-After: 30}
      body: {code: UNAVAILABLE, status: 503, message: Service unavailable}
  - name: nv-says-no-for-one-number
    match: {api: number-verification, operation: verify, body: {phoneNumber: "+990100000009"}}
    response:
      status: 200
      body: {devicePhoneNumberVerified: false}
  - name: throttled-client
    match: {api: oauth, operation: v3-token, client_id: greedy-app}
    response:
      status: 429
      headers: {Retry-After: 60}
      body: {error: temporarily_unavailable, error_description: Too many token requests}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_layers_merge_numbers_and_later_overrides_win(tmp_path, schemas):
    first = write(
        tmp_path,
        "a.yaml",
        """
numbers:
  "+33611111111": {location: {latitude: 1, longitude: 2}}
overrides:
  - name: first
    match: {api: number-verification}
    response: {status: 503, body: {status: 503, code: UNAVAILABLE, message: down}}
""",
    )
    second = write(
        tmp_path,
        "b.yaml",
        """
numbers:
  "+33611111111": {location: {latitude: 3, longitude: 4, accuracy_m: 50, age_seconds: 5}}
  "+33699901031": null
overrides:
  - name: second
    match: {api: number-verification}
    response: {status: 500, body: {status: 500, code: INTERNAL, message: broken}}
""",
    )
    rules = load_rules([first, second], schemas)
    location = rules.numbers["+33611111111"].location
    assert (location.latitude, location.longitude, location.accuracy_m, location.age_seconds) == (3, 4, 50, 5)
    assert (
        rules.numbers["+33699901031"].location is None
    )  # a later layer can take a lab device's location away
    assert "+33699901040" in rules.numbers  # defaults stay
    assert rules.override_for("number-verification", "verify", "c", None, {}).name == "second"
    assert rules.clients is None
    assert rules.sources[-2:] == (first, second)


def test_defaults_are_found_and_valid(schemas):
    rules = load_rules([], schemas)
    assert sorted(rules.numbers) == [f"+336999010{n}" for n in range(31, 41)]
    location = rules.numbers["+33699901031"].location
    assert (location.latitude, location.longitude, location.accuracy_m) == (48.800176, 2.29, 500)


def test_clients_from_several_layers_are_united(tmp_path, schemas):
    a = write(tmp_path, "a.yaml", "clients: [{client_id: one}]\n")
    b = write(tmp_path, "b.yaml", "clients: [{client_id: two, client_secret: s, apis: [oauth]}]\n")
    rules = load_rules([a, b], schemas)
    assert sorted(rules.clients) == ["one", "two"]
    assert rules.clients["one"].client_secret is None


def test_a_success_override_needs_an_operation(tmp_path, schemas):
    path = write(
        tmp_path,
        "r.yaml",
        "overrides:\n  - match: {api: number-verification}\n"
        "    response: {status: 200, body: {devicePhoneNumberVerified: true}}\n",
    )
    with pytest.raises(RulesError, match=r"r\.yaml:2:.*needs match\.operation"):
        load_rules([path], schemas)


@pytest.fixture(scope="module")
def ruled(tmp_path_factory, schemas):
    from conftest import start_proxy

    path = tmp_path_factory.mktemp("rules") / "overrides.yaml"
    path.write_text(OVERRIDES)
    proxy = start_proxy(tmp_path_factory.mktemp("proxy"), schemas, "--rules", str(path))
    yield proxy
    proxy.stop()


def test_override_by_phone_number(ruled):
    session = ruled.session()
    token = lab_token(session)
    outage = session.post(DLV, headers=bearer(token), json=dlv_body("33699901035"))
    assert outage.status_code == 503
    assert outage.reason == "Service unavailable"
    assert outage.text == '{"code": "UNAVAILABLE", "status": 503, "message": "Service unavailable"}'
    assert outage.headers["Retry-After"] == "30"
    other = session.post(DLV, headers=bearer(token), json=dlv_body("33699901036"))
    assert other.json()["verificationResult"] == "TRUE"


def test_override_by_body_field(ruled):
    session = ruled.session()
    token = three_legged_token(session, "+990100000009")
    forced = session.post(NV + "/verify", headers=bearer(token), json={"phoneNumber": "+990100000009"})
    assert forced.json() == {"devicePhoneNumberVerified": False}


def test_overrides_come_after_authentication(ruled):
    unauthenticated = ruled.session().post(DLV, json=dlv_body("33699901035"))
    assert unauthenticated.status_code == 401


def test_override_on_the_token_endpoint(ruled):
    session = ruled.session()
    throttled = session.post(V3_TOKEN, auth=("greedy-app", "x"), data={"grant_type": "client_credentials"})
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "60"
    assert throttled.json()["error"] == "temporarily_unavailable"
    assert session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"}).status_code == 200


def test_the_readme_rules_example_reaches_its_own_rules(proxy_factory, tmp_path):
    """The example in README's "Rules" section, loaded as written: its client reaches its own numbers
    and its override."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Rules", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = tmp_path / "readme-rules.yaml"
    rules.write_text(example)
    proxy = proxy_factory("--rules", str(rules))
    session = proxy.session()
    client = ("my-app", "my-secret")
    token = lab_token(session, client)
    outage = session.post(DLV, headers=bearer(token), json=dlv_body("+33699901035"))
    assert (outage.status_code, outage.headers["Retry-After"]) == (503, "30")
    toulouse = session.post(DLV, headers=bearer(token), json=dlv_body("+33612345678", 43.6047, 1.4442))
    assert toulouse.json()["verificationResult"] == "TRUE"
    playground = session.post(
        "https://api.orange.com/openidconnect/playground/v1.0/token",
        auth=client,
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    swapped = session.post(
        "https://api.orange.com/camara/playground/api/sim-swap/v1/check",
        headers=bearer(playground),
        json={"phoneNumber": "+33687654321", "maxAge": 96},
    )
    assert swapped.json() == {"swapped": True}
