"""Record the sample cassettes of this folder through the real proxy, against a local stand-in.

    python cassettes/record_samples.py [OUT_DIR]      (needs the test extra: pip install '.[test]')

Each scenario starts `orange-proxy record` with `--upstream` pointing at an HTTPS stand-in of
api.orange.com (the synthesiser served over TLS with a throw-away certificate), drives it as an app
would with requests, and stops it. Nothing here is written by hand, and nothing leaves the machine.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from proxy_addons.config.rules import load_rules
from proxy_addons.config.schemas import default_store
from proxy_addons.integrations.standin import StandInServer, self_signed_certificate, serving
from proxy_addons.simulator.engine import Engine, Settings

ORANGE = "https://api.orange.com"
V3_TOKEN = ORANGE + "/oauth/v3/token"
AUTHORIZE = ORANGE + "/openidconnect/playground/v1.0/authorize"
PLAYGROUND_TOKEN = ORANGE + "/openidconnect/playground/v1.0/token"
NV = ORANGE + "/camara/playground/api/number-verification/v1"
DLV = ORANGE + "/camara/location-verification/orange-lab/v0/verify"
ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
REDIRECT = "https://app.example/callback"
CLIENT = ("sample-app", "sample-secret-0123456789")
NUMBER = "+990123456789"
TOKEN_LIFETIME = 3600  # seconds: Orange's own; a replayed token stays usable for apps that respect expires_in
SHORT_TOKEN_LIFETIME = 2  # seconds, so the 401 scenarios can let a token expire
STAND_IN_RULES = """
clients:
  - client_id: sample-app
  - client_id: unsubscribed-app
    apis: [oauth, number-verification]
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def lab_token(session: requests.Session, client=CLIENT) -> str:
    return session.post(V3_TOKEN, auth=client, data={"grant_type": "client_credentials"}).json()[
        "access_token"
    ]


def playground_token(session: requests.Session, scope: str, number: str = NUMBER) -> str:
    authorize = session.get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": CLIENT[0],
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "sample-state",
            "login_hint": f"tel:{number}",
        },
        headers={"Accept": "application/json"},
        allow_redirects=False,
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    answer = session.post(
        PLAYGROUND_TOKEN,
        auth=CLIENT,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
    )
    return answer.json()["access_token"]


def area(
    latitude: float = 48.80, longitude: float = 2.26999, radius: int = 2000, number: str = "33699901031"
):
    return {
        "device": {"phoneNumber": number},
        "area": {
            "areaType": "CIRCLE",
            "center": {"latitude": latitude, "longitude": longitude},
            "radius": radius,
        },
        "maxAge": 3600,
    }


# Scenarios: what an app does; each is recorded into <name>.yaml --------------------------------------


def nv_success(s: requests.Session) -> None:
    token = playground_token(
        s,
        "openid dpv:FraudPreventionAndDetection number-verification:verify "
        "number-verification:device-phone-number:read",
    )
    s.post(NV + "/verify", headers=bearer(token), json={"phoneNumber": NUMBER})
    s.post(NV + "/verify", headers=bearer(token), json={"phoneNumber": "+990123456780"})
    s.post(
        NV + "/verify",
        headers=bearer(token),
        json={"hashedPhoneNumber": "d3b5a3bd5e2bd2e3e8d4c1e7a1f4d2c6b8e9f0a1b2c3d4e5f60718293a4b5c6d"},
    )
    s.get(NV + "/device-phone-number", headers=bearer(token))


def nv_401(s: requests.Session) -> None:
    token = playground_token(s, "openid number-verification:verify")
    s.post(NV + "/verify", headers=bearer(token), json={"phoneNumber": NUMBER})
    time.sleep(SHORT_TOKEN_LIFETIME + 0.2)
    s.post(NV + "/verify", headers=bearer(token), json={"phoneNumber": NUMBER})  # expired: 401
    fresh = playground_token(s, "openid number-verification:verify")
    s.post(NV + "/verify", headers=bearer(fresh), json={"phoneNumber": NUMBER})


def nv_403(s: requests.Session) -> None:
    token = playground_token(s, "openid number-verification:verify")
    s.get(NV + "/device-phone-number", headers=bearer(token))  # no share scope: 403


def dlv_success(s: requests.Session) -> None:
    token = lab_token(s)
    s.post(DLV, headers=bearer(token), json=area())  # TRUE (Orange's own example)
    s.post(DLV, headers=bearer(token), json=area(48.800176, 2.3145))  # PARTIAL
    s.post(DLV, headers=bearer(token), json=area(45.764, 4.8357, 200000))  # FALSE (Lyon)


def dlv_401(s: requests.Session) -> None:
    token = lab_token(s)
    s.post(DLV, headers=bearer(token), json=area())
    time.sleep(SHORT_TOKEN_LIFETIME + 0.2)
    s.post(DLV, headers=bearer(token), json=area())  # expired: 401
    s.post(DLV, headers=bearer(lab_token(s)), json=area())


def dlv_403(s: requests.Session) -> None:
    token = lab_token(s, ("unsubscribed-app", "any-secret-at-all"))
    s.post(DLV, headers=bearer(token), json=area())  # no subscription to location verification: 403


def admin_numbers(s: requests.Session) -> None:
    """A test number defined through the Admin API, located in Lyon, verified, then deleted."""
    token = lab_token(s)
    lyon = {
        "available": True,
        "lastLocationTime": "2026-01-01T00:00:00.000Z",
        "latitude": 45.7578,
        "longitude": 4.8320,
        "radius": 200,
    }
    number = "+33611223344"
    s.post(
        ADMIN,
        headers=bearer(token),
        json={"action": "CREATE", "phoneNumber": number, "data": {"location": lyon}},
    )
    s.post(ADMIN, headers=bearer(token), json={"action": "LIST"})
    lyon_area = area(45.7578, 4.8320, 2000, number)
    lyon_area["maxAge"] = 10**7  # minutes: the fix above stays recent enough for years
    s.post(DLV, headers=bearer(token), json=lyon_area)  # TRUE
    s.post(ADMIN, headers=bearer(token), json={"action": "READ", "phoneNumber": "+990100000002"})
    s.post(ADMIN, headers=bearer(token), json={"action": "DELETE", "phoneNumber": number})
    s.post(DLV, headers=bearer(token), json=lyon_area)  # gone: 400


PLAYGROUND_API = ORANGE + "/camara/playground/api"
# The stand-in's clock reads this instant when recording starts (and runs on from there), so scenarios
# can send fixed dates that mean the same thing at every recording: "yesterday" is 2026-11-30.
RECORDING_EPOCH = 1796126400.0  # 2026-12-01T12:00:00Z


def client_token(session: requests.Session, scope: str | None = None, client=CLIENT) -> str:
    """A 2-legged playground token, as the playground's clients get one for its other APIs."""
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return session.post(PLAYGROUND_TOKEN, auth=client, data=data).json()["access_token"]


def fraud_check(s: requests.Session) -> None:
    """A fraud-prevention app: the tester defines a number whose SIM was swapped yesterday and who owns
    it; the app verifies the number, checks for a recent SIM swap, and matches the identity it was given."""
    admin = lab_token(s)
    number = "+33612345678"
    s.post(ADMIN, headers=bearer(admin), json={"action": "CREATE", "phoneNumber": number})
    identity = {"givenName": "Jeanne", "familyName": "Dupont", "birthdate": "1985-03-02"}
    data = {"simSwap": {"latestSimChange": "2026-11-30T12:00:00.000Z"}, "kyc": identity}
    s.post(ADMIN, headers=bearer(admin), json={"action": "UPDATE", "phoneNumber": number, "data": data})
    nv = playground_token(s, "openid dpv:FraudPreventionAndDetection number-verification:verify", number)
    s.post(NV + "/verify", headers=bearer(nv), json={"phoneNumber": number})  # true
    token = client_token(s, "sim-swap:check sim-swap:retrieve-date kyc-match:match")
    swap = PLAYGROUND_API + "/sim-swap/v1"
    s.post(swap + "/check", headers=bearer(token), json={"phoneNumber": number, "maxAge": 48})  # true
    s.post(swap + "/check", headers=bearer(token), json={"phoneNumber": number, "maxAge": 12})  # false
    s.post(swap + "/retrieve-date", headers=bearer(token), json={"phoneNumber": number})
    kyc = PLAYGROUND_API + "/kyc-match/v0.2/match"
    claimed = {**identity, "givenName": "Jeane"}  # misspelt: false, with a score
    s.post(kyc, headers=bearer(token), json={"phoneNumber": number, **claimed})
    s.post(ADMIN, headers=bearer(admin), json={"action": "DELETE", "phoneNumber": number})


def playground_tour(s: requests.Session) -> None:
    """One call to each other playground API for the predefined +990100000002 (roaming in Spain), then
    the errors apps meet first: a lab token (403), no device with a 2-legged token (422)."""
    token = client_token(s)
    device = {"device": {"phoneNumber": "+990100000002"}}
    madrid = {"areaType": "CIRCLE", "center": {"latitude": 40.4168, "longitude": -3.7038}, "radius": 5000}
    calls = [
        ("/location-verification/v1/verify", {**device, "area": madrid, "maxAge": 3600}),
        ("/location-retrieval/v0.3/retrieve", device),
        ("/device-reachability-status/v0.6/retrieve", device),
        ("/device-roaming-status/v0.6/retrieve", device),
        ("/device-swap/v0.2/retrieve-date", {"phoneNumber": "+990100000002"}),
        ("/device-swap/v0.2/check", {"phoneNumber": "+990100000002", "maxAge": 240}),
    ]
    marais = [(48.8590, 2.3520), (48.8590, 2.3600), (48.8540, 2.3600), (48.8540, 2.3520)]
    density = {
        "area": {"areaType": "POLYGON", "boundary": [{"latitude": a, "longitude": b} for a, b in marais]},
        "startTime": "2026-12-02T14:00:00Z",  # the next afternoon, as the stand-in's clock reads it
        "endTime": "2026-12-02T15:00:00Z",
        "precision": 6,
    }
    calls.append(("/population-density-data/v0.2/retrieve", density))
    for path, body in calls:
        s.post(PLAYGROUND_API + path, headers=bearer(token), json=body)
    s.post(PLAYGROUND_API + "/device-roaming-status/v0.6/retrieve", headers=bearer(lab_token(s)), json=device)
    s.post(PLAYGROUND_API + "/device-reachability-status/v0.6/retrieve", headers=bearer(token), json={})


SCENARIOS: dict[str, Callable[[requests.Session], None]] = {
    "number-verification-success": nv_success,
    "number-verification-401-expired-token": nv_401,
    "number-verification-403-missing-scope": nv_403,
    "location-verification-success": dlv_success,
    "location-verification-401-expired-token": dlv_401,
    "location-verification-403-no-subscription": dlv_403,
    "playground-admin-numbers": admin_numbers,
    "playground-fraud-check": fraud_check,
    "playground-apis-tour": playground_tour,
}
# Recorded against a stand-in issuing SHORT_TOKEN_LIFETIME tokens; every other scenario gets TOKEN_LIFETIME.
EXPIRY_SCENARIOS = {"number-verification-401-expired-token", "location-verification-401-expired-token"}


def record(out_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Record the scenarios (all, or `names`) into OUT_DIR/<name>.yaml; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    proxy_command = [str(Path(sys.executable).parent / "orange-proxy")]
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cert, key = self_signed_certificate(work)
        rules = work / "standin-rules.yaml"
        rules.write_text(STAND_IN_RULES)
        started = time.time()

        def stand_in(lifetime: int) -> StandInServer:
            engine = Engine(
                load_rules([rules], default_store()),
                Settings(token_lifetime=lifetime),
                clock=lambda: RECORDING_EPOCH + (time.time() - started),
            )
            return StandInServer(engine, certfile=str(cert), keyfile=str(key))

        # Two stand-ins on one clock: the expiry scenarios need tokens that expire while they run, and only
        # they may record them (a replayed 2 s token is expired at once for an app that respects expires_in).
        with serving(stand_in(TOKEN_LIFETIME)) as normal, serving(stand_in(SHORT_TOKEN_LIFETIME)) as short:
            for name in names or list(SCENARIOS):
                standin = short if name in EXPIRY_SCENARIOS else normal
                cassette = out_dir / f"{name}.yaml"
                cassette.unlink(missing_ok=True)
                log = work / f"{name}.log"
                with open(log, "wb") as out:
                    proxy = subprocess.Popen(
                        [
                            *proxy_command,
                            "record",
                            "--listen-port",
                            "0",
                            "--confdir",
                            str(work / "conf"),
                            "--cassette",
                            str(cassette),
                            "--upstream",
                            standin.url,
                            "--upstream-ca",
                            str(cert),
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                try:
                    deadline = time.monotonic() + 30
                    while not (
                        ready := re.search(r"proxy (http://\S+); CA certificate (\S+)", log.read_text())
                    ):
                        if proxy.poll() is not None or time.monotonic() > deadline:
                            raise RuntimeError(f"orange-proxy did not start:\n{log.read_text()}")
                        time.sleep(0.05)
                    session = requests.Session()
                    session.trust_env = False
                    session.proxies = {"https": ready[1]}
                    session.verify = ready[2]
                    SCENARIOS[name](session)
                finally:
                    proxy.send_signal(signal.SIGTERM)
                    proxy.wait(timeout=15)
                written.append(cassette)
                print(f"recorded {cassette}")
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    if not shutil.which(str(Path(sys.executable).parent / "orange-proxy")):
        sys.exit("run this with the Python of an environment where orange-camara-proxy is installed")
    record(target)
