"""The command line: bad flags and broken rules give a clear message and exit status 2, no traceback;
`python -m proxy_addons` and `mitmdump -s` work too."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import orange_proxy_command, run_orange_proxy
from flows import DLV, V3_TOKEN, authorize, bearer, dlv_body, exchange, redirect_params

run = run_orange_proxy  # the installed command, run to its end


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "--listen-port", "http"], "not a port number: 'http'"),
        (["synth", "--listen-port", "70000"], "port must be 0..65535"),
        (["synth", "--profile", "vodafone"], "invalid choice: 'vodafone'"),
        (["synth", "--token-lifetime", "0"], "must be at least 1 second"),
        (["synth", "--rules", "no-such-rules.yaml"], "no such file: no-such-rules.yaml"),
        (["synth", "--set", "orange_profile"], "expected name=value"),
        (["synth", "--bogus"], "unrecognized arguments: --bogus"),
        (["teleport"], "unrecognized arguments: teleport"),
        (["--confdir", "/proc/no-such-dir"], "cannot use /proc/no-such-dir as the confdir"),
        (["--listen-host", "256.1.1.1", "--listen-port", "0"], "cannot listen on 256.1.1.1:0"),
        (["--intercept-host", "[::1", "--listen-port", "0"], "bad intercept host '[::1'"),
    ],
)
def test_bad_flags(tmp_path, args, message):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "no_such_option=1"], "no_such_option"),
        (["--set", "orange_code_lifetime=soon"], "orange_code_lifetime"),
        (["--set", "orange_mode=psychic"], "orange_mode must be one of"),
        (["--set", "orange_code_lifetime=0"], "lifetimes must be at least 1 second"),
        (
            ["--set", "orange_profil=camara"],
            "unknown option orange_profil, given with --set (did you mean orange_profile?)",
        ),
    ],
)
def test_bad_mitmproxy_options(tmp_path, args, message):
    result = run("synth", "--listen-port", "0", "--confdir", str(tmp_path / "conf"), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


BROKEN_RULES = [
    # (file content, what the message must say)
    ("numbers: [\n  - oops\n", ["broken.yaml:", "not valid YAML"]),
    (
        "numbers:\n  '+33699901031':\n    location: {latitude: 95, longitude: 2}\n",
        ["broken.yaml:3:", "numbers.+33699901031.location.latitude", "95 is greater than the maximum of 90"],
    ),
    (
        "clients:\n  - client_secret: x\n",
        ["broken.yaml:2:", "clients[0]", "'client_id' is a required property"],
    ),
    (
        "overrides:\n  - name: outage\n    match: {api: location-verification, operation: verify}\n"
        "    response: {status: 700}\n",
        ["broken.yaml:4:", "rule 'outage'", "response.status", "700 is greater than the maximum of 599"],
    ),
    (
        "overrides:\n  - name: typo\n    match: {api: number-verification, operation: verfy}\n"
        "    response: {status: 503}\n",
        ["broken.yaml:3:", "rule 'typo'", "match.operation", "'verfy' is not one of"],
    ),
    (
        "overrides:\n  - name: bad-body\n    match: {api: number-verification, operation: verify}\n"
        "    response:\n      status: 200\n      body: {devicePhoneNumberVerified: 'yes'}\n",
        [
            "broken.yaml:6:",
            "rule 'bad-body'",
            "response.body",
            "devicePhoneNumberVerified: 'yes' is not of type 'boolean'",
        ],
    ),
    (
        "overrides:\n  - match: {api: location-verification}\n    response:\n      status: 401\n"
        "      body: {status: 401, code: UNAUTHENTICATED}\n",
        ["broken.yaml:5:", "rule #1", "'message' is a required property"],
    ),
    (
        "surprise: 1\n",
        ["broken.yaml:1:1", "unknown field 'surprise' (its fields: clients, numbers, overrides)"],
    ),
    ("- a list\n", ["broken.yaml:1:1", "top level", "is not of type 'object'"]),
    (
        "numbers:\n  '+33699901031': {location: {latitude: .nan, longitude: 2}}\n",
        ["broken.yaml:2:", "numbers.+33699901031.location.latitude", "not a finite number"],
    ),
    (
        "numbers:\n  '+33699901031': {location: {latitude: 1, longitude: 2, age_seconds: 1.0e+11}}\n",
        ["numbers.+33699901031.location.age_seconds", "is greater than the maximum"],
    ),
    (
        "overrides:\n  - name: no-api\n    match: {client_id: x}\n    response: {status: 503}\n",
        ["broken.yaml:3:", "rule 'no-api'", "field overrides[0].match", "'api' is a required property"],
    ),
    (
        "overrides:\n  - name: int-key\n    match: {api: oauth, body: {1: x}}\n    response: {status: 503}\n",
        ["rule 'int-key'", "match.body"],
    ),
    (
        "overrides:\n  - name: empty\n    match: {api: number-verification, operation: verify}\n"
        "    response: {status: 200}\n",
        ["rule 'empty'", "field response", "None is not of type 'object'"],
    ),
]


@pytest.mark.parametrize(("content", "expected"), BROKEN_RULES)
def test_broken_rules_file_names_file_rule_and_field(tmp_path, content, expected):
    rules = tmp_path / "broken.yaml"
    rules.write_text(content)
    result = run(
        "synth",
        "--listen-port",
        "0",
        "--confdir",
        str(tmp_path / "conf"),
        "--rules",
        str(rules),
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip()
    assert message.startswith("orange-proxy: bad rules: ")
    for part in expected:
        assert part in message, message


def test_module_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "proxy_addons", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0
    assert "synth" in result.stdout


def test_addon_path_points_at_a_mitmproxy_script(tmp_path):
    result = run("addon-path", cwd=tmp_path)
    assert result.returncode == 0
    script = Path(result.stdout.strip())
    assert script.is_file()
    assert "addons = " in script.read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("tool", ["mitmdump", "mitmweb"])
def test_mitmproxy_tools_with_the_addon_script(tmp_path, proxy_factory, tool):
    """People who run mitmproxy themselves: `mitmdump -s <script> --set name=value`, or mitmweb."""
    script = run("addon-path", cwd=tmp_path).stdout.strip()
    confdir = tmp_path / "conf"
    confdir.mkdir()
    # These print no ready line of ours, so listen on a port picked now and wait for it.
    port = free_port()
    command = [str(Path(sys.executable).parent / tool), "--listen-host", "127.0.0.1", "-p", str(port)]
    if tool == "mitmweb":
        command += ["--no-web-open-browser", "--set", f"web_port={free_port()}"]
    else:
        command += ["-q"]
    command += ["--set", f"confdir={confdir}", "-s", script]
    command += ["--set", "orange_profile=camara", "--set", "orange_token_lifetime=77"]
    proxy = proxy_factory(command=command, ready=("127.0.0.1", port, confdir / "mitmproxy-ca-cert.pem"))
    proxy.profile = "camara"
    session = proxy.session()
    token = session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    assert token.json()["expires_in"] == 77  # a number, as under --profile camara
    answer = session.post(DLV, headers=bearer(token.json()["access_token"]), json=dlv_body(radius=10))
    assert answer.json()["code"] == "INVALID_ARGUMENT"  # CAMARA's dialect


def test_no_command_starts_the_synthesising_proxy(tmp_path, proxy_factory):
    command = [*orange_proxy_command(), "--listen-port", "0", "--confdir", str(tmp_path / "conf")]
    proxy = proxy_factory(command=command)
    answer = proxy.session().post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    assert answer.status_code == 200
    assert "orange-proxy synth ready" in proxy.output()


def test_repeated_set_of_a_list_option_accumulates(tmp_path, proxy_factory):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text('numbers:\n  "+33612345678": {location: {latitude: 43.6, longitude: 1.44}}\n')
    second.write_text(
        "overrides:\n  - {match: {api: location-verification}, response: {status: 503, body: "
        "{code: UNAVAILABLE, status: 503, message: Service unavailable}}}\n"
    )
    proxy = proxy_factory("--set", f"orange_rules={first}", "--set", f"orange_rules={second}")
    assert f"{first}, {second}" in proxy.output()  # both layers named in the start-up line


def test_confdir_config_yaml_sets_our_options_and_flags_win(tmp_path, proxy_factory):
    """mitmproxy's config.yaml works for our options; flags given on the command line win over it."""
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "config.yaml").write_text(
        "orange_profile: camara\norange_token_lifetime: 42\norange_code_lifetime: 1\n"
    )
    command = [
        *orange_proxy_command(),
        "--listen-port",
        "0",
        "--confdir",
        str(confdir),
        "--token-lifetime",
        "50",
    ]
    proxy = proxy_factory(command=command)
    session = proxy.session()
    answer = session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    assert answer.json()["expires_in"] == 50  # the flag beat config.yaml's 42; a number: profile camara
    code = redirect_params(authorize(session, "+990123456789"))["code"]
    time.sleep(1.2)
    assert exchange(session, code).json()["error_description"] == "authorization code expired"


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--listen-port", str(port), "--confdir", str(tmp_path / "conf"), cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_standin_serves_https_with_a_self_signed_certificate(tmp_path):
    """`orange-proxy standin --self-signed DIR`: a local HTTPS api.orange.com to record against."""
    import requests

    port = free_port()
    log = tmp_path / "standin.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                *orange_proxy_command(),
                "standin",
                "--listen-port",
                str(port),
                "--self-signed",
                str(tmp_path / "tls"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while "standin ready" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        answer = requests.post(
            f"https://127.0.0.1:{port}/oauth/v3/token",
            auth=("a", "b"),
            data={"grant_type": "client_credentials"},
            verify=str(tmp_path / "tls" / "standin-cert.pem"),
        )
        assert answer.json()["token_type"] == "Bearer"
        bad = requests.post(
            f"https://127.0.0.1:{port}/oauth/v3/token",
            headers={"Content-Length": "abc"},
            verify=str(tmp_path / "tls" / "standin-cert.pem"),
        )
        assert bad.status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("command", [["standin"], ["cassette", "check"], ["addon-path"], ["cassette"]])
def test_every_command_says_what_it_does_and_every_flag_what_it_means(command, tmp_path):
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    _, _, rest = result.stdout.partition("\n\n")
    assert rest.strip() and not rest.lstrip().startswith(("positional", "options")), result.stdout
    if command == ["standin"]:
        assert "address to listen on" in rest and "port to listen on" in rest
    if command == ["cassette", "check"]:
        assert "cassettes/*.yaml" in rest


def test_an_empty_cassette_is_refused_for_replay(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = run(
        "replay",
        "--cassette",
        str(empty),
        "--listen-port",
        "0",
        "--confdir",
        str(tmp_path / "conf"),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "is empty" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_flags_before_the_command_are_the_commands_flags(tmp_path):
    """`orange-proxy -q replay …` and `--confdir DIR record …`: as with no command at all (synth), flags
    may come first. It failed with "unrecognized arguments: -q; did you mean -q?" before."""
    missing = tmp_path / "missing.yaml"
    result = run(
        "-q", "--confdir", str(tmp_path / "conf"), "replay", "--cassette", str(missing), cwd=tmp_path
    )
    assert result.returncode == 2
    assert f"no cassette at {missing} to replay" in result.stderr, result.stderr
    assert (tmp_path / "conf").is_dir()  # --confdir was the replay's
    assert run("--confdir", str(tmp_path), "ca", "--quiet", cwd=tmp_path).stdout.strip() == str(
        tmp_path / "mitmproxy-ca-cert.pem"
    )
