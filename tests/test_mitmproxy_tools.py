"""mitmproxy's own tools on the proxy's flows (issue 11, point 6): every flow the proxy acted on carries
a comment and a marker saying what it did; flow files (`-w`, `save_stream_file`, mitmweb's Save) and HAR
files (`hardump`) are written; our options show in mitmweb with their choices and in `orange-proxy
options`; `mitmdump --options` behaves as README says. All through real processes."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from conftest import recorder
from flows import DLV, ORANGE, V3_TOKEN, bearer, dlv_body, lab_token
from mitmproxy import io as mitmproxy_io
from mitmproxy.test import taddons
from mitmproxy.utils.emoji import emoji
from mitmproxy.version import VERSION as MITMPROXY_VERSION
from test_cli import free_port, run

from proxy_addons.addons import default_addons

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "cassettes" / "location-verification-success.yaml"
DISCOVERY = ORANGE + "/openidconnect/playground/v1.0/.well-known/openid-configuration"
JWKS = ORANGE + "/openidconnect/playground/v1.0/jwks"
CONTROL = "http://orange-proxy.test/api"
TESTER = "x-tester-mark"  # requests carrying it get the tester's own comment and marker (TESTER_SCRIPT)
TESTER_SCRIPT = f'''
def request(flow):
    if "{TESTER}" in flow.request.headers and not flow.comment:  # once: mitmproxy's replay keeps it
        flow.comment = "checked by hand"
        flow.marked = ":star:"
'''
MITMPROXY_MAJOR = int(MITMPROXY_VERSION.split(".")[0])


def our_options() -> dict[str, object]:
    """Every option our addons declare, as mitmproxy itself loads them (name → its Option)."""

    async def main() -> dict[str, object]:
        with taddons.context(*default_addons()) as tctx:
            return {k: v for k, v in tctx.options._options.items() if k.startswith("orange_")}

    return asyncio.run(main())


def read_flows(path: Path) -> list:
    with open(path, "rb") as file:
        return list(mitmproxy_io.FlowReader(file).stream())


def by_path(flows) -> dict[str, list]:
    found: dict[str, list] = {}
    for flow in flows:
        found.setdefault(flow.request.path, []).append(flow)
    return found


def mitm_tool(tool: str, tmp_path: Path, *args: str) -> tuple[list[str], tuple[str, int, Path]]:
    """`mitmdump`/`mitmweb -s <our script>` on a free port, with its own confdir."""
    script = run("addon-path", cwd=tmp_path).stdout.strip()
    confdir = tmp_path / "conf"
    confdir.mkdir(exist_ok=True)
    port = free_port()
    command = [str(Path(sys.executable).parent / tool), "--listen-host", "127.0.0.1", "-p", str(port)]
    command += ["--set", f"confdir={confdir}", "-s", script, *args]
    return command, ("127.0.0.1", port, confdir / "mitmproxy-ca-cert.pem")


def hang_up(proxy, session: requests.Session) -> None:
    """Close the client's connections and wait until mitmdump or mitmweb saw them go: unlike
    `orange-proxy`, they log a traceback for a client connection still open when they are stopped. (A
    `requests.Response` still referenced keeps its socket open: the tests keep none.)"""
    session.close()
    deadline = time.monotonic() + 10
    while (out := proxy.output()).count("client connect") > out.count("client disconnect"):
        assert time.monotonic() < deadline, out
        time.sleep(0.05)


def own_marks_script(tmp_path: Path) -> str:
    path = tmp_path / "tester.py"
    path.write_text(TESTER_SCRIPT)
    return str(path)


# Comments and markers in flow files ----------------------------------------------------------------


def test_orange_proxy_save_stream_file_holds_what_the_proxy_did(proxy_factory, tmp_path):
    """`orange-proxy synth --set save_stream_file=FILE`: each flow says its action, route, fault and
    error reason in its comment, and carries the action's marker."""
    dump = tmp_path / "flows.mitm"
    proxy = proxy_factory(
        "--set",
        f"save_stream_file={dump}",
        "--fault",
        "service_unavailable:api=location-verification,times=1",
    )
    session = proxy.session()
    token = lab_token(session)
    assert session.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 503  # the fault
    assert session.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 200
    assert session.post(DLV, headers=bearer("nonsense"), json=dlv_body()).status_code == 401
    session.close()
    proxy.stop()
    flows = read_flows(dump)
    assert [f.request.path for f in flows] == ["/oauth/v3/token", *[urlsplit(DLV).path] * 3]
    token_flow, faulted, answered, refused = flows
    assert token_flow.comment == "orange-proxy: synthesised oauth/v3-token"
    assert token_flow.marked == ":orange_circle:"
    assert faulted.comment.startswith(
        "orange-proxy: faulted location-verification/verify; fault service_unavailable; "
    )
    assert faulted.marked == ":zap:"
    assert answered.comment == "orange-proxy: synthesised location-verification/verify"
    assert answered.marked == ":orange_circle:"
    reason = refused.comment.removeprefix("orange-proxy: synthesised location-verification/verify; ")
    assert reason != refused.comment and reason == error_words(refused.response)  # the body's own reason


def error_words(response) -> str:
    body = json.loads(response.content)
    return ": ".join(str(body[k]) for k in ("code", "message") if body.get(k)) or str(body)


def test_mitmdump_w_marks_replayed_and_missed_flows_and_keeps_a_testers_own(proxy_factory, tmp_path):
    """`mitmdump -s "$(orange-proxy addon-path)" -w FILE` in replay mode, with a tester's own script that
    comments and marks some flows: theirs stay, ours follow."""
    dump = tmp_path / "replay.mitm"
    command, ready = mitm_tool(
        "mitmdump",
        tmp_path,
        "-s",
        own_marks_script(tmp_path),
        "-w",
        str(dump),
        "--set",
        "orange_mode=replay",
        "--set",
        f"orange_cassette={SAMPLE}",
    )
    proxy = proxy_factory(command=command, ready=ready)
    session = proxy.session()
    assert (
        session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"}).status_code == 200
    )
    missed = session.post(DLV, headers={**bearer("x"), TESTER: "1"}, json=dlv_body(radius=1234)).status_code
    assert missed == 502
    hang_up(proxy, session)
    proxy.stop()
    token_flow, miss_flow = read_flows(dump)
    assert token_flow.comment == "orange-proxy: replayed oauth/v3-token"
    assert token_flow.marked == ":vhs:"
    mine, ours = miss_flow.comment.split("\n")
    assert mine == "checked by hand"  # the tester's comment first, kept
    assert ours.startswith("orange-proxy: replay-miss location-verification/verify; no recorded interaction")
    assert ours.endswith("differs in body.area.radius: recorded 2000 received 1234")  # the whole reason
    assert miss_flow.marked == ":star:"  # the tester's marker wins


def test_recorded_and_passed_through_flows_are_marked(proxy_factory, tls_files, standin, tmp_path):
    dump = tmp_path / "record.mitm"
    cassette = tmp_path / "new.yaml"
    proxy = recorder(proxy_factory, tls_files, standin, cassette, "--set", f"save_stream_file={dump}")
    session = proxy.session()
    assert session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"}).ok
    session.close()
    proxy.stop()
    [flow] = read_flows(dump)
    assert (flow.comment, flow.marked) == ("orange-proxy: recorded oauth/v3-token", ":movie_camera:")
    # Replay with --miss passthrough: a request the cassette lacks goes to the (stand-in) host.
    dump = tmp_path / "replay.mitm"
    upstream = ["--upstream", standin.url, "--upstream-ca", str(tls_files[0])]
    proxy = proxy_factory(
        "--cassette", str(cassette), "--miss", "passthrough", *upstream, "--allow-misses",
        "--set", f"save_stream_file={dump}", subcommand="replay",
    )  # fmt: skip
    session = proxy.session()
    assert session.post(DLV, headers=bearer("x"), json=dlv_body()).status_code == 401  # the host's answer
    session.close()
    proxy.stop()
    [flow] = read_flows(dump)
    assert flow.comment.startswith("orange-proxy: passed-through location-verification/verify; ")
    assert flow.marked == ":globe_with_meridians:"


def test_a_connection_a_fault_resets_is_marked_too(proxy_factory, tmp_path):
    dump = tmp_path / "reset.mitm"
    proxy = proxy_factory("--set", f"save_stream_file={dump}", "--fault", "reset:api=oauth,times=1")
    session = proxy.session()
    with pytest.raises(requests.ConnectionError):
        session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    session.close()
    proxy.stop()
    [flow] = read_flows(dump)
    assert flow.error is not None and flow.response is None
    assert (flow.comment, flow.marked) == ("orange-proxy: faulted oauth/v3-token; fault reset", ":zap:")


def test_every_marker_is_an_emoji_mitmweb_renders():
    from proxy_addons.addons.console import MARKERS

    for action, shortcode in MARKERS.items():
        assert shortcode in emoji, (action, shortcode)  # mitmweb shows its default red circle otherwise
    assert ":red_circle:" not in MARKERS.values()  # that one is what mitmweb shows for a hand-made mark


# mitmweb ------------------------------------------------------------------------------------------


def start_mitmweb(proxy_factory, tmp_path, *args: str):
    """Real mitmweb with our script; returns (proxy, web base URL, headers its API needs). mitmweb 12
    protects its UI with a token it prints in its listening line (`.../?token=...`); 11 has none."""
    web_port = free_port()
    command, ready = mitm_tool(
        "mitmweb", tmp_path, "--no-web-open-browser", "--set", f"web_port={web_port}", *args
    )
    proxy = proxy_factory(command=command, ready=ready)
    deadline = time.monotonic() + 30
    while not (listening := re.search(r"Web server listening at (\S+)", proxy.output())):
        assert time.monotonic() < deadline, proxy.output()
        time.sleep(0.1)
    url = urlsplit(listening[1])
    assert url.port == web_port
    token = parse_qs(url.query).get("token", [""])[0]
    return proxy, f"http://127.0.0.1:{web_port}", {"Authorization": f"Bearer {token}"} if token else {}


def test_mitmweb_shows_comments_and_markers_saves_flows_and_offers_our_choices(proxy_factory, tmp_path):
    proxy, web, auth = start_mitmweb(proxy_factory, tmp_path, "-s", own_marks_script(tmp_path))
    session = proxy.session()
    token = lab_token(session)
    assert session.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 200
    assert session.post(DLV, headers={**bearer(token), TESTER: "1"}, json=dlv_body()).status_code == 200
    listed = requests.get(web + "/flows", headers=auth, timeout=10)
    assert listed.status_code == 200
    shown = [(f["request"]["path"], f["comment"], f["marked"]) for f in listed.json()]
    dlv = urlsplit(DLV).path
    assert shown == [
        ("/oauth/v3/token", "orange-proxy: synthesised oauth/v3-token", "🟠"),
        (dlv, "orange-proxy: synthesised location-verification/verify", "🟠"),
        (dlv, "checked by hand\norange-proxy: synthesised location-verification/verify", "⭐"),
    ]
    # mitmweb's Save: the flow file, as `-w` writes it (issue 11: it answered 500 before).
    saved = requests.get(web + "/flows/dump", headers=auth, timeout=10)
    assert saved.status_code == 200 and saved.content
    (tmp_path / "saved.mitm").write_bytes(saved.content)
    assert [f.comment for f in read_flows(tmp_path / "saved.mitm")] == [c for _, c, _ in shown]
    # The options editor offers the valid values of every option that has a closed set of them.
    options = requests.get(web + "/options.json", headers=auth, timeout=10).json()
    for name, option in our_options().items():
        assert options[name]["choices"] == (list(option.choices) if option.choices else None), name
    assert options["orange_mode"]["choices"] == ["synth", "record", "replay"]
    assert options["orange_miss"]["choices"] == ["error", "passthrough", "synth"]
    # mitmweb's Replay of the tester's flow: answered by us again, our line replaced, not repeated.
    with requests.Session() as web_client:
        web_client.headers.update(auth)
        # mitmweb's API wants tornado's double-submit XSRF token: a cookie and the same value in a header
        # (the cookie is _mitmproxy_xsrf in mitmweb 12, _xsrf in 11).
        xsrf = secrets.token_hex(16)
        for name in ("_mitmproxy_xsrf", "_xsrf"):
            web_client.cookies.set(name, xsrf)
        mine = listed.json()[2]["id"]
        replay = web_client.post(f"{web}/flows/{mine}/replay", headers={"X-XSRFToken": xsrf}, timeout=10)
        assert replay.status_code == 200, replay.text
        # Done once the event log (right before the marks, in the same hook) has logged the replay.
        deadline = time.monotonic() + 10
        while (
            len([e for e in session.get(CONTROL + "/events").json()["events"] if e["type"] == "exchange"]) < 4
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        again = web_client.get(web + "/flows", timeout=10).json()[2]
    assert again["is_replay"] == "request" and again["response"]["status_code"] == 200
    assert (again["comment"], again["marked"]) == shown[2][1:]  # our line once, after the tester's
    hang_up(proxy, session)


# HAR ----------------------------------------------------------------------------------------------


def test_hardump_holds_the_exchanges_with_our_bodies(proxy_factory, tmp_path):
    har_file = tmp_path / "session.har"
    proxy = proxy_factory("--set", f"hardump={har_file}")
    session = proxy.session()
    token = session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    verified = session.post(DLV, headers=bearer(token.json()["access_token"]), json=dlv_body())
    session.close()
    proxy.stop()
    assert str(har_file) in proxy.output()  # the exit summary names it under "files written"
    entries = json.loads(har_file.read_text())["log"]["entries"]
    assert [(e["request"]["method"], e["request"]["url"]) for e in entries] == [
        ("POST", V3_TOKEN),
        ("POST", DLV),
    ]
    assert [e["response"]["status"] for e in entries] == [200, 200]
    assert json.loads(entries[0]["response"]["content"]["text"]) == token.json()
    assert json.loads(entries[1]["response"]["content"]["text"]) == verified.json()
    assert json.loads(entries[1]["request"]["postData"]["text"]) == dlv_body()


def test_hardump_under_mitmdump_s(proxy_factory, tmp_path):
    har_file = tmp_path / "mitmdump.har"
    command, ready = mitm_tool("mitmdump", tmp_path, "--set", f"hardump={har_file}")
    proxy = proxy_factory(command=command, ready=ready)
    session = proxy.session()
    answer = session.get(DISCOVERY).json()
    hang_up(proxy, session)
    proxy.stop()
    [entry] = json.loads(har_file.read_text())["log"]["entries"]
    assert entry["request"]["url"] == DISCOVERY
    assert json.loads(entry["response"]["content"]["text"]) == answer


# Listing our options ------------------------------------------------------------------------------


def test_orange_proxy_options_lists_every_option_our_addons_declare(tmp_path):
    result = run("options", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = yaml.safe_load(result.stdout)
    declared = our_options()
    assert set(listed) == set(declared)
    for name, option in declared.items():
        assert listed[name] == option.default, name
    text = " ".join(" ".join(line.lstrip("# ") for line in result.stdout.splitlines()).split())
    # mitmproxy's --options style: each option's help, type and choices in the comment above it.
    assert "Where answers come from: synth (the synthesiser)" in text
    assert "Valid values are 'synth', 'record', 'replay'." in text
    assert "Type sequence of str." in text


def test_mitmdump_options_lists_ours_only_where_readme_says(tmp_path):
    """README: `mitmdump --options` never lists our options without `-s`; with `-s` mitmproxy 12.3 lists
    them (it loads scripts first) and mitmproxy 11 does not."""
    script = run("addon-path", cwd=tmp_path).stdout.strip()
    mitmdump = str(Path(sys.executable).parent / "mitmdump")
    confdir = ["--set", f"confdir={tmp_path}"]
    listings = {}
    for label, extra in (("plain", []), ("script", ["-s", script])):
        result = run_command([mitmdump, *extra, "--options", *confdir], tmp_path)
        assert result.returncode == 0, result.stderr
        listings[label] = {
            line.partition(":")[0] for line in result.stdout.splitlines() if line[:1].isalpha()
        }
    ours = set(our_options())
    assert not listings["plain"] & ours
    if MITMPROXY_MAJOR >= 12:
        assert ours <= listings["script"]
    else:
        assert not listings["script"] & ours
    # `--commands` lists none of ours, with the script or without (README says so too).
    commands = run_command([mitmdump, "-s", script, "--commands", *confdir], tmp_path)
    assert commands.returncode == 0, commands.stderr
    assert "flow.comment" in commands.stdout and "orange." not in commands.stdout


def run_command(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=cwd, stdin=subprocess.DEVNULL
    )


# HEAD on GET resources ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [DISCOVERY, JWKS])
def test_head_on_the_oidc_documents_answers_as_get_without_a_body(proxy, url):
    session = proxy.session()
    get = session.get(url)
    head = session.head(url)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers["Content-Length"] == str(len(get.content))
    assert session.get(url).json() == get.json()  # the connection is still in step after the HEAD


def test_head_with_curl_and_over_http2(proxy):
    """`curl -I`, over HTTP/1.1 and HTTP/2: the status and headers of GET, and the connection ends clean."""
    for flag in ("--http1.1", "--http2"):
        command = ["curl", "-sS", "-I", flag, "--max-time", "20", "--proxy", proxy.url, "--noproxy", ""]
        command += ["--cacert", str(proxy.ca), "-w", "%{http_version} %{size_download}", DISCOVERY]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        *blocks, written = result.stdout.split("\n\n")  # text mode: curl's CRLF read as "\n"
        status_line, *lines = blocks[-1].split("\n")  # after the proxy's "Connection established"
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        assert status_line.split()[1] == "200", result.stdout
        assert headers["content-type"].startswith("application/json")
        assert int(headers["content-length"]) > 0
        assert written == ("1.1 0" if flag == "--http1.1" else "2 0")  # the version asked for, no body


def test_head_where_get_is_not_allowed_is_still_405(proxy):
    head = proxy.session().head(DLV)
    assert head.status_code == 405 and head.content == b""
    assert head.headers["Allow"] == "POST"


def test_head_on_the_stand_in(standin, tls_files):
    """The stand-in (`orange-proxy standin`) answers HEAD on the OIDC documents as GET, with no body."""
    url = standin.url + urlsplit(JWKS).path
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(tls_files[0])
        get, head = session.get(url), session.head(url)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["Content-Length"] == str(len(get.content))
        assert session.get(url).json() == get.json()  # the connection is still in step after the HEAD
