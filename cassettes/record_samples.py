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
TOKEN_LIFETIME = 2  # seconds, so the 401 scenarios can let a token expire
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


def playground_token(session: requests.Session, scope: str) -> str:
    authorize = session.get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": CLIENT[0],
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "sample-state",
            "login_hint": f"tel:{NUMBER}",
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
    time.sleep(TOKEN_LIFETIME + 0.2)
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
    time.sleep(TOKEN_LIFETIME + 0.2)
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


SCENARIOS: dict[str, Callable[[requests.Session], None]] = {
    "number-verification-success": nv_success,
    "number-verification-401-expired-token": nv_401,
    "number-verification-403-missing-scope": nv_403,
    "location-verification-success": dlv_success,
    "location-verification-401-expired-token": dlv_401,
    "location-verification-403-no-subscription": dlv_403,
    "playground-admin-numbers": admin_numbers,
}


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
        engine = Engine(load_rules([rules], default_store()), Settings(token_lifetime=TOKEN_LIFETIME))
        with serving(StandInServer(engine, certfile=str(cert), keyfile=str(key))) as standin:
            for name in names or list(SCENARIOS):
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
