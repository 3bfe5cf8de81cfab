"""Round-3 review fixes of the `orange-proxy` command: an upstream that never answers fails the run
(exit 4), what `--intercept-host` replaces, a safe `options` example, the stand-in's errors and
signals, the exit-status-3 wording, `cassette --help` examples and one-line YAML errors, and `-q`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from conftest import orange_proxy_command
from flows import CLIENT, ORANGE, V3_TOKEN


def token_call(session):
    return session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})


def stopped(proxy) -> tuple[int, str]:
    proxy.stop()
    return proxy.process.returncode, proxy.output()


def unchecked(proxy) -> requests.Session:
    """A session through the proxy without the harness's schema check: mitmproxy itself answers a
    request whose upstream failed after the connection was made (its HTML 502 page, written after
    the `error` hook: an addon cannot replace it)."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy.url, "https": proxy.url}
    session.verify = str(proxy.ca)
    return session


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: refused from then on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orange_proxy_command(), *args], capture_output=True, text=True, timeout=timeout)


# 1. A forwarded request the upstream never answers ------------------------------------------------


def test_a_record_run_whose_upstream_is_unreachable_exits_4(proxy_factory, tmp_path):
    port = closed_port()
    cassette = tmp_path / "off.yaml"
    events = tmp_path / "events.jsonl"
    proxy = proxy_factory(
        "--cassette",
        str(cassette),
        "--upstream",
        f"https://127.0.0.1:{port}",
        "--event-log",
        str(events),
        "--allow-misses",  # does not cover it
        subcommand="record",
    )
    answer = token_call(proxy.session())  # checked against the token endpoint's error schema
    assert answer.status_code == 502
    body = answer.json()  # the token endpoint's own (OAuth) JSON, not mitmproxy's HTML page
    assert body["error"] == "temporarily_unavailable", body
    assert body["error_description"].startswith(f"upstream https://127.0.0.1:{port} unreachable: "), body
    status, output = stopped(proxy)
    assert status == 4, output
    assert "forwarded 0, missed 0, faulted 0, upstream failed 1)" in output
    assert f"upstream https://127.0.0.1:{port} unreachable: " in output
    assert f"(POST {V3_TOKEN})" in output  # names the request the app made
    assert "exit status 4: 1 forwarded request(s) got no answer from the upstream" in output
    assert "[orange-proxy: upstream-failed" in output  # the request line
    assert "[orange-proxy: forwarded" not in output
    assert "new interaction(s)" not in output  # nothing recorded
    assert not cassette.exists()
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["action"] for e in logged if e.get("type") == "exchange"] == ["upstream-failed"]


def test_a_passthrough_miss_the_upstream_never_answers_exits_4(proxy_factory, tmp_path):
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("interactions: []\nversion: 1\n")
    proxy = proxy_factory(
        "--cassette",
        str(cassette),
        "--miss",
        "passthrough",
        "--upstream",
        f"http://127.0.0.1:{closed_port()}",
        subcommand="replay",
    )
    session = proxy.session()
    answer = token_call(session)
    assert answer.status_code == 502
    assert "unreachable" in answer.json()["error_description"]
    # An API of the playground answers in its own dialect (CAMARA ErrorInfo here).
    answer = session.post(
        ORANGE + "/camara/playground/api/sim-swap/v1/check",
        headers={"Authorization": "Bearer x"},
        json={"phoneNumber": "+990100000000"},
    )
    assert answer.status_code == 502
    body = answer.json()
    assert (body["status"], body["code"]) == (502, "BAD_GATEWAY"), body
    assert body["message"].startswith("upstream http://127.0.0.1:"), body
    status, output = stopped(proxy)
    assert status == 4, output
    assert "upstream failed 2" in output


def test_an_upstream_that_hangs_up_during_tls_is_counted_and_exits_4(proxy_factory, tmp_path):
    """The connection is made, the TLS handshake is not: mitmproxy's `error` hook (its own 502)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        proxy = proxy_factory(
            "--cassette",
            str(tmp_path / "tls.yaml"),
            "--upstream",
            f"https://127.0.0.1:{port}",
            subcommand="record",
        )
        assert token_call(unchecked(proxy)).status_code == 502
        status, output = stopped(proxy)
    finally:
        listener.close()
    assert status == 4, output
    assert "upstream failed 1" in output
    assert f"upstream https://127.0.0.1:{port} unreachable: " in output


def test_a_record_run_whose_upstream_answers_exits_0_without_the_column(
    proxy_factory, tls_files, standin, tmp_path
):
    from conftest import recorder

    proxy = recorder(proxy_factory, tls_files, standin, tmp_path / "ok.yaml")
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert "upstream failed" not in output


def test_record_help_documents_exit_status_4():
    result = run("record", "--help")
    assert "4  a forwarded request got no answer from the upstream" in result.stdout
    assert "--allow-misses does not cover it" in result.stdout
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "| 4 | a forwarded request" in readme


# 2. --intercept-host replaces the default, and the start line says so ------------------------------


def test_the_start_line_names_the_hosts_answered(proxy_factory):
    proxy = proxy_factory("--intercept-host", "api.orange.com:8443")
    assert "synth mode, profile orange, rules " in proxy.output()
    assert "; answering api.orange.com:8443; other hosts pass through" in proxy.output()


def test_the_default_start_line_names_api_orange_com(proxy_factory):
    proxy = proxy_factory()
    assert "; answering api.orange.com; other hosts pass through" in proxy.output()


def test_intercept_host_help_says_the_list_replaces_the_default():
    text = " ".join(run("synth", "--help").stdout.split())
    assert "The hosts given REPLACE the default" in text
    assert "give api.orange.com:443 too to keep it" in text


# 3. `options --help` never overwrites a user's config -----------------------------------------------


def test_options_examples_never_redirect_onto_a_config_in_use(tmp_path):
    text = run("options", "--help").stdout
    block = text.partition("examples:\n")[2].partition("\n\n")[0]
    redirects = [line for line in block.splitlines() if ">" in line]
    assert redirects, text
    for line in redirects:
        target = line.split(">", 1)[1].split()[0]
        assert ".mitmproxy" not in target and not line.split(">", 1)[1].startswith(">"), line
        assert f"mkdir -p {Path(target).parent}" in line, line  # a fresh confdir, made for it
    assert "Never redirect it with `>` onto a config.yaml you already use" in text
    # The example, run verbatim in an empty directory, makes a config mitmproxy's YAML reads.
    line = redirects[0].split("#", 1)[0]
    env = {**os.environ, "PATH": f"{Path(orange_proxy_command()[0]).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(line, shell=True, cwd=tmp_path, env=env, check=True, timeout=60)
    import yaml

    written = yaml.safe_load((tmp_path / "proxy-conf" / "config.yaml").read_text())
    assert written["orange_mode"] == "synth"


# 4. The stand-in: a port in use says what to do; signals stop it cleanly ---------------------------


def test_a_standin_on_a_port_in_use_says_what_to_do_next():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("standin", "--listen-port", str(port))
    assert result.returncode == 2, result.stderr
    assert (
        f"cannot start the stand-in: cannot listen on 127.0.0.1:{port}: Address already in use"
        in result.stderr
    )
    assert "pick another port with --listen-port PORT (0 picks a free one)" in result.stderr
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def ignore_sigint() -> None:
    """As a shell starts a background job (`orange-proxy standin &` in a script): SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_background_standin_stops_cleanly_on_sigint_and_sigterm(signum):
    process = subprocess.Popen(
        [*orange_proxy_command(), "standin", "--listen-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint,
    )
    try:
        line = process.stdout.readline()
        assert "orange-proxy standin ready: http://127.0.0.1:" in line, line
        url = line.split("ready: ")[1].strip()
        direct = requests.Session()
        direct.trust_env = False  # no proxy from the environment: the stand-in itself
        answer = direct.post(url + "/oauth/v3/token", auth=CLIENT, data={"grant_type": "client_credentials"})
        assert answer.status_code == 200
        process.send_signal(signum)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "orange-proxy standin: stopped" in out
    assert "Traceback" not in err


# 6. `cassette --help` has examples; a YAML error is one line with FILE:LINE:COLUMN ------------------

BAD_YAML = "interactions:\n- request: {method: GET\n  uri: x\n"


def test_cassette_help_ends_with_examples_that_run(tmp_path):
    text = run("cassette", "--help").stdout
    assert "examples:\n  orange-proxy cassette check cassettes/login.yaml\n" in text
    good = tmp_path / "empty.yaml"
    good.write_text("interactions: []\nversion: 1\n")
    assert run("cassette", "check", str(good)).returncode == 0


def test_cassette_check_says_a_yaml_error_on_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML)
    result = run("cassette", "check", str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:3:6: not valid YAML: expected ',' or '}}', but got ':' "
        "(while parsing a flow mapping at line 2, column 12)"
    ]


def test_replay_of_an_invalid_yaml_cassette_says_it_on_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML)
    result = run("replay", "--cassette", str(bad), "--listen-port", "0", "--confdir", str(tmp_path / "c"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        f"orange-proxy: {bad}:3:6: not valid YAML: expected ',' or '}}', but got ':' "
        "(while parsing a flow mapping at line 2, column 12)"
    ], result.stderr
