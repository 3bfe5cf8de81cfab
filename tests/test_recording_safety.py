"""What recording must guarantee: no secret reaches the cassette, a killed proxy leaves a valid
cassette, and answers that break our schemas are kept but flagged."""

from __future__ import annotations

import base64
import http.server
import json
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import yaml
from conftest import orange_proxy_command, recorder, stand_in
from flows import AUTHORIZE, DLV, NV, PLAYGROUND_TOKEN, REDIRECT, V3_TOKEN, bearer, dlv_body
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.integrations.standin import serving

CLIENT_ID = "9f8e7d6c5b4a3921"
CLIENT_SECRET = "S3cr3t-Cl13nt-P4ss-xyz123"
COOKIE = "sid=cookie-secret-abc123"
UPSTREAM_COOKIE = "lb=upstream-cookie-secret-789; Path=/; HttpOnly"
API_KEY = "apikey-secret-456"
QUERY_SECRET = "query-secret-999"
NAI = "nai-secret-7731@lab.example"


def run_check(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*orange_proxy_command(), "cassette", "check", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def secret_flow(session: requests.Session) -> tuple[list[int], list[str]]:
    """An app flow with a secret in every place scrubbing must cover; returns statuses and the secrets
    the app saw (tokens, codes) so the test can look for them."""
    seen: list[str] = []
    statuses = []
    session.headers["Cookie"] = COOKIE
    session.headers["X-Api-Key"] = API_KEY
    # Client credentials in the form (Orange's v3 guide allows it), then with Basic.
    form = session.post(
        V3_TOKEN,
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    basic = session.post(V3_TOKEN, auth=(CLIENT_ID, CLIENT_SECRET), data={"grant_type": "client_credentials"})
    statuses += [form.status_code, basic.status_code]
    lab = basic.json()["access_token"]
    seen += [form.json()["access_token"], lab]
    body = dlv_body()
    body["device"]["networkAccessIdentifier"] = NAI
    verify = session.post(DLV + f"?api_key={QUERY_SECRET}", headers=bearer(lab), json=body)
    statuses.append(verify.status_code)
    authorize = session.get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "state": "st",
            "scope": "openid number-verification:verify",
            "login_hint": "tel:+990123456789",
        },
        allow_redirects=False,
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    exchange = session.post(
        PLAYGROUND_TOKEN,
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
    )
    tokens = exchange.json()
    seen += [code, tokens["access_token"], tokens["id_token"]]
    nv = session.post(
        NV + "/verify", headers=bearer(tokens["access_token"]), json={"phoneNumber": "+990123456789"}
    )
    statuses += [authorize.status_code, exchange.status_code, nv.status_code]
    return statuses, seen


def test_no_secret_reaches_the_cassette_and_replay_still_works(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "secrets.yaml"
    server = stand_in(tls_files)
    server.set_cookie = UPSTREAM_COOKIE
    with serving(server):
        proxy = recorder(
            proxy_factory,
            tls_files,
            server,
            cassette,
            "--scrub-header",
            "X-Api-Key",
            "--scrub-param",
            "api_key",
            "--scrub-json-field",
            "networkAccessIdentifier",
        )
        statuses, seen = secret_flow(proxy.session())
    assert statuses == [200, 200, 200, 302, 200, 200]
    text = cassette.read_bytes()
    secrets = [
        CLIENT_SECRET,
        COOKIE.split("=")[1],
        "upstream-cookie-secret-789",
        API_KEY,
        QUERY_SECRET,
        NAI,
        *seen,
    ]
    secrets.append(base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode())
    for secret in secrets:
        assert secret.encode() not in text, f"{secret[:12]}… is in the cassette"
    assert b"SCRUBBED-ACCESS-TOKEN-0001" in text and b"SCRUBBED-CODE-0001" in text
    check = run_check(cassette)
    assert check.returncode == 0, check.stdout + check.stderr

    replay = proxy_factory("--cassette", str(cassette), subcommand="replay")
    replayed, _ = secret_flow(replay.session())
    assert replayed == statuses


def test_phone_numbers_can_be_pseudonymised(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "shared.yaml"
    proxy = recorder(proxy_factory, tls_files, standin, cassette, "--pseudonymise-numbers")
    session = proxy.session()
    token = session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"}).json()[
        "access_token"
    ]
    assert session.post(DLV, headers=bearer(token), json=dlv_body("33699901031")).status_code == 200
    text = cassette.read_text()
    assert "33699901031" not in text
    assert '"phoneNumber": "990000000001"' in text  # the pseudonym, in the caller's form (no '+')


def test_a_killed_recorder_leaves_a_valid_cassette_with_every_completed_exchange(
    proxy_factory, tls_files, standin, tmp_path
):
    cassette = tmp_path / "killed.yaml"
    proxy = recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", "all")
    completed = 0
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        nonlocal completed
        session = proxy.session()
        for _ in range(200):
            if stop.is_set():
                return
            try:
                answer = session.post(
                    V3_TOKEN,
                    auth=(f"client-{worker}", "s"),
                    data={"grant_type": "client_credentials", "scope": "openid"},
                    timeout=10,
                )
            except requests.RequestException:
                return
            if answer.status_code == 200:
                with lock:
                    completed += 1

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while completed < 80 and time.monotonic() < deadline:
        time.sleep(0.01)
    with lock:
        done_before_kill = completed
        proxy.process.send_signal(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    proxy.process.wait(timeout=10)
    assert done_before_kill >= 80

    loaded = Cassette.load(cassette)  # valid YAML, valid structure
    assert len(loaded.interactions) >= done_before_kill
    assert all(i.response.status == 200 for i in loaded.interactions)
    requests_, _responses = deserialize(cassette.read_text(), yamlserializer)[:2]  # vcrpy loads it too
    assert len(requests_) == len(loaded.interactions)


class Drifting(http.server.BaseHTTPRequestHandler):
    """An upstream whose location answers break the contract."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/oauth/v3/token"):
            body = {"token_type": "Bearer", "access_token": "a" * 32, "expires_in": 3600}
        else:
            body = {"verificationResult": "MAYBE", "lastLocationTime": "yesterday"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_contract_drift_is_kept_flagged_reported_and_checked(proxy_factory, tls_files, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drifting)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, tls_files))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cassette = tmp_path / "drift.yaml"
    try:
        proxy = proxy_factory(
            "--cassette",
            str(cassette),
            "--upstream",
            f"https://127.0.0.1:{server.server_port}",
            "--upstream-ca",
            str(tls_files[0]),
            subcommand="record",
        )
        session = proxy.session()
        session.hooks[
            "response"
        ].clear()  # this upstream is wrong on purpose; do not check it against schemas
        token = session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"}).json()
        answer = session.post(DLV, headers=bearer(token["access_token"]), json=dlv_body())
        assert answer.json()["verificationResult"] == "MAYBE"  # passed on as the upstream said
        proxy.stop()
    finally:
        server.shutdown()
        server.server_close()
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    assert interactions[0]["orange_proxy"]["schema"]["valid"] is True
    flagged = interactions[1]["orange_proxy"]["schema"]
    assert flagged["valid"] is False
    assert any("MAYBE" in problem for problem in flagged["problems"])
    assert "1 recorded response(s) do not match our schemas" in proxy.output()
    check = run_check(cassette)
    assert check.returncode == 1
    assert "interaction #2" in check.stdout and "MAYBE" in check.stdout
