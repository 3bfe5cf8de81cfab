"""OpenID Connect as real clients expect it: authlib's OAuth2Session through the proxy and against
cassettes in-process, the discovery document, the JWKS, RS256 id_tokens verified by authlib."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time

import pytest
import requests
import yaml
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, KeySet, jwt
from authlib.oidc.core import CodeIDToken
from conftest import orange_proxy_command, recorder, stand_in
from flows import AUTHORIZE, CLIENT, PLAYGROUND_TOKEN, REDIRECT
from vcr.errors import CannotOverwriteExistingCassetteException

from proxy_addons.cassettes.model import Interaction, Request, Response
from proxy_addons.integrations.standin import serving
from proxy_addons.integrations.vcr import orange_vcr
from proxy_addons.scrubbing import Scrubber, ScrubConfig, is_placeholder, leaks
from proxy_addons.scrubbing.idtokens import Refresher, cassette_key
from proxy_addons.state.keys import KEY_FILE, SigningKey, b64url, b64url_decode, in_memory

NUMBER = "+990123456789"
SCOPE = "openid dpv:FraudPreventionAndDetection number-verification:verify"


def oauth_session(session: requests.Session | None = None) -> OAuth2Session:
    """authlib's requests client, with the proxy settings of `session` when given."""
    client = OAuth2Session(CLIENT[0], CLIENT[1], scope=SCOPE, redirect_uri=REDIRECT)
    client.trust_env = False
    if session is not None:  # through the proxy; without, straight to (vcrpy's) api.orange.com
        client.proxies = session.proxies
        client.verify = session.verify
    return client


def authlib_login(client: OAuth2Session, **extra: str) -> dict:
    """The 3-legged flow as an authlib app runs it: a fresh state each time, checked on return."""
    url, state = client.create_authorization_url(AUTHORIZE, login_hint=f"tel:{NUMBER}", **extra)
    redirect = client.get(url, allow_redirects=False, withhold_token=True)  # the "browser" leg
    assert redirect.status_code == 302, redirect.text
    # authlib raises MismatchingStateException when the redirect does not bring `state` back.
    return client.fetch_token(
        PLAYGROUND_TOKEN, authorization_response=redirect.headers["Location"], state=state
    )


# orange_vcr echoes the app's state ------------------------------------------------------------------


def test_orange_vcr_replays_an_authlib_login_with_a_fresh_state(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "login.yaml"
    recorded = authlib_login(oauth_session(recorder(proxy_factory, tls_files, standin, cassette).session()))
    assert recorded["token_type"] == "Bearer"

    vcr = orange_vcr(cassette_library_dir=str(tmp_path))
    for _ in range(2):  # a new state each run, and the cassette's own is never the one sent
        with vcr.use_cassette("login.yaml") as played:
            replayed = authlib_login(oauth_session())
        assert played.play_count == 2
        assert replayed["access_token"].startswith("SCRUBBED-ACCESS-TOKEN-")  # the recorded one, scrubbed
        assert replayed["scope"] == recorded["scope"]


def test_orange_vcr_leaves_a_redirect_without_state_alone(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "nostate.yaml"
    session = recorder(proxy_factory, tls_files, standin, cassette).session()
    params = {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "login_hint": f"tel:{NUMBER}",
    }
    recorded = session.get(AUTHORIZE, params=params, allow_redirects=False)
    assert "state=" not in recorded.headers["Location"]
    with orange_vcr(cassette_library_dir=str(tmp_path)).use_cassette("nostate.yaml"):
        plain = requests.Session()
        plain.trust_env = False
        replayed = plain.get(AUTHORIZE, params=params, allow_redirects=False)
    assert replayed.headers["Location"] == REDIRECT + "?code=SCRUBBED-CODE-0001"  # no state made up


def test_orange_vcr_works_as_a_bare_decorator(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "decorated.yaml"
    authlib_login(oauth_session(recorder(proxy_factory, tls_files, standin, cassette).session()))
    vcr = orange_vcr(cassette_library_dir=str(tmp_path), path_transformer=lambda _: str(cassette))

    @vcr.use_cassette
    def login() -> dict:
        return authlib_login(oauth_session())

    assert login()["token_type"] == "Bearer"
    with pytest.raises(CannotOverwriteExistingCassetteException), vcr.use_cassette("decorated.yaml"):
        requests.Session().get("https://api.orange.com/never-recorded")


# Discovery and JWKS ------------------------------------------------------------------------------------

ISSUER = "https://api.orange.com/openidconnect/playground/v1.0"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"
CONTROL = "http://orange-proxy.test/api"


def test_the_discovery_document_names_the_issuer_endpoints_and_keys(proxy):
    session = proxy.session()
    answer = session.get(DISCOVERY)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    meta = answer.json()
    assert meta["issuer"] == ISSUER  # Discovery §4.3: the issuer is the URL the document was found under
    assert meta["authorization_endpoint"] == AUTHORIZE
    assert meta["token_endpoint"] == PLAYGROUND_TOKEN
    assert meta["jwks_uri"] == ISSUER + "/jwks"
    assert meta["response_types_supported"] == ["code"]
    assert meta["subject_types_supported"] == ["public"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"client_secret_basic", "client_secret_post"} == set(meta["token_endpoint_auth_methods_supported"])
    # Every scope /authorize and the token endpoint take, and only those.
    scopes = set(meta["scopes_supported"])
    assert {
        "openid",
        "dpv:FraudPreventionAndDetection",
        "number-verification:verify",
        "sim-swap:check",
    } <= scopes
    assert {"iss", "sub", "aud", "exp", "iat", "nonce"} <= set(meta["claims_supported"])
    for scope in sorted(scopes):
        granted = session.post(
            PLAYGROUND_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials", "scope": scope}
        )
        assert granted.status_code == 200, (scope, granted.text)
    # The endpoints it names answer.
    assert session.get(meta["jwks_uri"]).status_code == 200
    assert session.post(meta["token_endpoint"], auth=CLIENT, data={"grant_type": "bogus"}).status_code == 400


def test_the_discovery_document_is_get_only(proxy):
    answer = proxy.session().post(DISCOVERY, data="x")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD"  # every GET resource answers HEAD too
    assert answer.json()["error"] == "invalid_request"


def test_the_jwks_holds_one_public_rsa_key(proxy):
    keys = proxy.session().get(ISSUER + "/jwks").json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # never the private part
    assert JsonWebKey.import_key(key).thumbprint() == key["kid"]  # RFC 7638


# RS256 id_tokens that authlib verifies -------------------------------------------------------------


def provider_keys(session: requests.Session) -> KeySet:
    """What an OIDC client does: discovery, then the JWKS its jwks_uri names."""
    meta = session.get(DISCOVERY).json()
    return JsonWebKey.import_key_set(session.get(meta["jwks_uri"]).json())


def verified(id_token: str, keys: KeySet, nonce: str, client_id: str = CLIENT[0]) -> CodeIDToken:
    claims = jwt.decode(
        id_token,
        keys,
        claims_cls=CodeIDToken,
        claims_options={
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": client_id},
        },
        claims_params={"nonce": nonce, "client_id": client_id},
    )
    claims.validate()  # iss, aud, exp, iat, nonce
    return claims


def rejection(check, *args, **kwargs) -> tuple[str, str | None]:
    """(error code, claim) of the JOSE error `check` raises. authlib 1.6 raises its own errors,
    1.7 and later joserfc's; both carry the RFC-style `error` code and the claim's name."""
    try:
        check(*args, **kwargs)
    except Exception as exc:
        error = getattr(exc, "error", None)
        assert isinstance(error, str), repr(exc)
        claim = re.search(r"'([a-z_]+)'", str(exc))
        return error, claim.group(1) if claim else None
    raise AssertionError("the id_token was accepted")


def test_authlib_verifies_the_id_token_with_the_discovered_jwks(proxy):
    session = proxy.session()
    nonce = "n-" + "7" * 20
    token = authlib_login(oauth_session(session), nonce=nonce)
    header = json.loads(b64url_decode(token["id_token"].split(".")[0]))
    assert header["alg"] == "RS256"
    keys = provider_keys(session)
    assert header["kid"] == keys.keys[0].kid
    claims = verified(token["id_token"], keys, nonce)
    assert claims["aud"] == CLIENT[0]
    assert claims["sub"] and NUMBER not in json.dumps(dict(claims))  # the sub is not the number
    assert claims["exp"] - claims["iat"] == token["expires_in"]
    assert claims["amr"] == ["nbma"]


def test_authlib_rejects_a_wrong_nonce_audience_or_signature(proxy):
    session = proxy.session()
    token = authlib_login(oauth_session(session), nonce="the-nonce")["id_token"]
    keys = provider_keys(session)
    assert rejection(verified, token, keys, "another-nonce") == ("invalid_claim", "nonce")
    assert rejection(verified, token, keys, "the-nonce", client_id="another-app") == ("invalid_claim", "aud")
    head, body, signature = token.split(".")
    forged = json.loads(b64url_decode(body)) | {"aud": "another-app"}
    forgery = f"{head}.{b64url(json.dumps(forged).encode())}.{signature}"
    assert rejection(verified, forgery, keys, "the-nonce", "another-app")[0] == "bad_signature"
    # Another key under the same kid (as another proxy's) does not verify it either.
    impostor = SigningKey.generate().public_jwk() | {"kid": keys.keys[0].kid}
    impostors = JsonWebKey.import_key_set({"keys": [impostor]})
    assert rejection(verified, token, impostors, "the-nonce")[0] == "bad_signature"


def test_an_expired_id_token_fails_validation(proxy_factory):
    short = proxy_factory("--token-lifetime", "1")
    session = short.session()
    token = authlib_login(oauth_session(session), nonce="n1")["id_token"]
    keys = provider_keys(session)
    time.sleep(2.1)
    assert rejection(verified, token, keys, "n1")[0] == "expired_token"


def test_the_key_is_kept_in_the_confdir_and_reused_across_restarts(proxy_factory, tmp_path):
    confdir = tmp_path / "confdir"
    first = proxy_factory("--confdir", str(confdir))
    key_file = confdir / KEY_FILE
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # a private key: the owner only
    session = first.session()
    token = authlib_login(oauth_session(session), nonce="n1")["id_token"]
    kid = provider_keys(session).keys[0].kid
    first.stop()

    again = proxy_factory("--confdir", str(confdir)).session()
    assert provider_keys(again).keys[0].kid == kid
    verified(token, provider_keys(again), "n1")  # a token of the first run still verifies
    assert key_file.read_bytes() == SigningKey.from_pem(key_file.read_bytes()).pem()

    elsewhere = proxy_factory("--confdir", str(tmp_path / "other")).session()
    assert provider_keys(elsewhere).keys[0].kid != kid


def test_a_broken_key_file_stops_the_start_with_what_to_do(tmp_path):
    confdir = tmp_path / "confdir"
    confdir.mkdir()
    (confdir / KEY_FILE).write_text("not a key")
    done = subprocess.run(
        [*orange_proxy_command(), "synth", "--listen-port", "0", "--confdir", str(confdir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output
    assert str(confdir / KEY_FILE) in output
    assert "delete the file" in output


def test_the_stand_in_signs_with_a_key_of_its_own_process(tls_files):
    """No confdir: the engine's id_tokens verify against the JWKS the same engine serves."""
    with serving(stand_in(tls_files)) as server:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tls_files[0])
        base = server.url + "/openidconnect/playground/v1.0"
        jwks = session.get(base + "/jwks").json()
        assert jwks == in_memory().jwks()
        meta = session.get(base + "/.well-known/openid-configuration").json()
        assert meta["issuer"] == ISSUER  # the issuer is Orange's wherever the engine listens


# Cassettes: scrubbed id_tokens keep their claims and verify on replay ---------------------------------


def test_the_cassette_key_is_the_same_everywhere_and_never_the_proxy_key(proxy):
    first = cassette_key()
    assert cassette_key.__wrapped__().kid == first.kid  # read again from the shipped file: the same key
    # The kid every cassette scrubbed so far carries: a new key would break their signatures.
    assert first.kid == "nzl6JG333kBx-g6laMNfu9RSmuLlinrIgFJ_00rETz4"
    assert first.private.key_size == 2048
    assert proxy.session().get(ISSUER + "/jwks").json()["keys"][0]["kid"] != first.kid


def live_token_response(proxy, nonce: str = "rec-nonce") -> tuple[dict, bytes]:
    token = authlib_login(oauth_session(proxy.session()), nonce=nonce)
    return token, json.dumps(
        {k: token[k] for k in ("token_type", "access_token", "expires_in", "scope", "id_token")}
    ).encode()


def token_interaction(body: bytes) -> Interaction:
    request = Request(
        "POST", PLAYGROUND_TOKEN, {"Content-Type": ["application/x-www-form-urlencoded"]}, b"code=c"
    )
    response = Response(
        200, "OK", {"Content-Type": ["application/json"], "Content-Length": [str(len(body))]}, body
    )
    return Interaction(request, response)


def test_a_scrubbed_id_token_keeps_its_claims_and_verifies_with_the_cassette_jwks(proxy):
    token, body = live_token_response(proxy)
    original = jwt.decode(token["id_token"], provider_keys(proxy.session()))
    scrubbed = Scrubber().scrub(token_interaction(body))
    id_token = json.loads(scrubbed.response.body)["id_token"]
    header = json.loads(b64url_decode(id_token.split(".")[0]))
    assert header["alg"] == "RS256" and header["kid"] == cassette_key().kid
    assert header["scrubbed"] == "SCRUBBED-ID-TOKEN-0001"
    assert id_token != token["id_token"]
    claims = jwt.decode(id_token, JsonWebKey.import_key_set(cassette_key().jwks()))
    assert dict(claims) == dict(original)  # every claim as recorded
    assert is_placeholder(id_token)
    assert leaks(scrubbed.response.body.decode()) == []
    assert scrubbed.response.headers["Content-Length"] == [str(len(scrubbed.response.body))]
    # Scrubbing again changes nothing.
    again = Scrubber(existing=[scrubbed]).scrub(scrubbed)
    assert again.response.body == scrubbed.response.body


def test_with_pseudonyms_the_subject_and_phone_claims_are_pseudonymised():
    claims = {
        "iss": ISSUER,
        "sub": "tel:+33612345678",
        "aud": "app",
        "iat": 1,
        "exp": 2,
        "phone_number": "+33612345678",
        "phone_number_verified": True,
        "given_name": "Alice",
        "email": "alice@example.com",
    }
    body = json.dumps({"id_token": SigningKey.generate().sign(claims), "access_token": "a" * 20}).encode()
    scrubber = Scrubber(ScrubConfig(pseudonymise_numbers=True))
    scrubbed = scrubber.scrub(token_interaction(body))
    kept = json.loads(b64url_decode(json.loads(scrubbed.response.body)["id_token"].split(".")[1]))
    assert kept["phone_number"] == "+990000000001"
    assert kept["sub"] == "tel:+990000000001"  # the same pseudonym as the number's
    assert kept["given_name"] == "Given 0001" and kept["email"] == "person-0001@pseudonym.invalid"
    assert (kept["iss"], kept["aud"], kept["iat"], kept["exp"], kept["phone_number_verified"]) == (
        ISSUER,
        "app",
        1,
        2,
        True,
    )
    assert "33612345678" not in scrubbed.response.body.decode()
    # A subject that is no number (our synthesiser's hash of it) gets a placeholder of its own.
    hashed = json.dumps({"id_token": SigningKey.generate().sign({"sub": "a5c951a7015364c0"})}).encode()
    other = scrubber.scrub(token_interaction(hashed))
    sub = json.loads(b64url_decode(json.loads(other.response.body)["id_token"].split(".")[1]))["sub"]
    assert sub == "SCRUBBED-SUBJECT-0001"


def test_a_recorded_jwks_becomes_the_cassette_jwks():
    recorded = json.dumps(SigningKey.generate().jwks()).encode()
    interaction = Interaction(
        Request("GET", ISSUER + "/jwks", {}),
        Response(
            200,
            "OK",
            {"Content-Type": ["application/json"], "Content-Length": [str(len(recorded))]},
            recorded,
        ),
    )
    scrubbed = Scrubber().scrub(interaction).response
    assert json.loads(scrubbed.body) == cassette_key().jwks()
    assert scrubbed.headers["Content-Length"] == [str(len(scrubbed.body))]
    # A body that only has a `keys` field is no JWKS.
    other = Interaction(Request("GET", ISSUER + "/x", {}), Response(200, "OK", {}, b'{"keys": [1, 2]}'))
    assert Scrubber().scrub(other).response.body == b'{"keys": [1, 2]}'


def oidc_app(session: requests.Session, nonce: str) -> CodeIDToken:
    """An app that logs in with authlib and verifies its id_token as OIDC says it must."""
    token = authlib_login(oauth_session(session), nonce=nonce)
    return verified(token["id_token"], provider_keys(session), nonce)


def test_an_app_verifying_its_id_token_passes_on_replay_through_the_proxy(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "oidc.yaml"
    server = stand_in(tls_files)
    with serving(server):
        recorded = oidc_app(
            recorder(proxy_factory, tls_files, server, cassette).session(), "nonce-at-recording"
        )
    data = yaml.safe_load(cassette.read_text())
    bodies = [i["response"]["body"]["string"] for i in data["interactions"]]
    assert json.dumps(cassette_key().jwks()) in bodies  # the recorded JWKS was replaced

    replaying = proxy_factory("--cassette", str(cassette), subcommand="replay")
    time.sleep(1.1)  # so the refreshed times differ from the recorded ones
    claims = oidc_app(replaying.session(), "a-fresh-nonce")
    assert claims["nonce"] == "a-fresh-nonce"
    assert (
        claims["iat"] > recorded["iat"] and claims["exp"] - claims["iat"] == recorded["exp"] - recorded["iat"]
    )
    assert (claims["sub"], claims["aud"], claims["iss"]) == (
        recorded["sub"],
        recorded["aud"],
        recorded["iss"],
    )


def test_an_app_verifying_its_id_token_passes_on_replay_in_process(
    proxy_factory, tls_files, standin, tmp_path
):
    cassette = tmp_path / "oidc.yaml"
    oidc_app(recorder(proxy_factory, tls_files, standin, cassette).session(), "nonce-at-recording")
    vcr = orange_vcr(cassette_library_dir=str(tmp_path))
    for nonce in ("in-process-1", "in-process-2"):
        with vcr.use_cassette("oidc.yaml"):
            plain = requests.Session()
            plain.trust_env = False
            assert oidc_app(plain, nonce)["nonce"] == nonce


def test_replay_leaves_an_id_token_it_did_not_sign_alone(tmp_path):
    """A cassette recorded without our scrubbing (plain vcrpy) keeps its provider's signature."""
    foreign = SigningKey.generate().sign({"iss": ISSUER, "iat": 1, "exp": 2})
    body = json.dumps({"id_token": foreign}).encode()
    assert Refresher().body(body, "code=x") == body


def test_a_value_that_is_no_jwt_still_becomes_an_unsigned_placeholder():
    body = json.dumps({"id_token": "opaque-id-token-value-123"}).encode()
    token = json.loads(Scrubber().scrub(token_interaction(body)).response.body)["id_token"]
    assert json.loads(b64url_decode(token.split(".")[0])) == {"alg": "none", "typ": "JWT"}
    assert json.loads(b64url_decode(token.split(".")[1])) == {"scrubbed": "SCRUBBED-ID-TOKEN-0001"}
    assert is_placeholder(token)


def test_a_fault_scoped_to_the_jwks_answers_there_only(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    added = session.post(
        CONTROL + "/faults", json={"fault": "service_unavailable:api=oauth,operation=jwks,times=1"}
    )
    assert added.status_code == 201, added.text
    assert session.get(DISCOVERY).status_code == 200  # another operation of the API: untouched
    faulted = session.get(ISSUER + "/jwks")
    assert faulted.status_code == 503
    assert faulted.json()["error"] == "temporarily_unavailable"
    assert session.get(ISSUER + "/jwks").status_code == 200  # used up
