"""Reverse mode, `--mode reverse:https://api.orange.com` as mitmproxy spells it: the app's base URL points
at the proxy itself, under any name it can reach it by, over HTTP or HTTPS."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from flows import CLIENT


@pytest.mark.parametrize("flag", ["--mode", "--proxy-mode"])
def test_reverse_mode_answers_any_hostname_over_http_and_https(proxy_factory, flag):
    proxy = proxy_factory(flag, "reverse:https://api.orange.com")
    port = urlsplit(proxy.url).port
    session = requests.Session()
    session.trust_env = False
    form = {"grant_type": "client_credentials"}
    for base in (f"http://127.0.0.1:{port}", f"https://localhost:{port}", f"https://127.0.0.1:{port}"):
        answer = session.post(
            base + "/oauth/v3/token", auth=CLIENT, data=form, verify=str(proxy.ca), timeout=10
        )
        assert answer.status_code == 200, (base, answer.text)
        token = answer.json()["access_token"]
        verify = session.post(
            base + "/camara/playground/api/sim-swap/v1/check",
            headers={"Authorization": f"Bearer {token}"},
            json={"phoneNumber": "+990100000001"},
            verify=str(proxy.ca),
            timeout=10,
        )
        assert verify.status_code == 403, (base, verify.text)  # a lab token at a playground API
