"""CI verdicts of `orange-proxy replay|record`: a missing cassette refused before listening, exit
statuses for misses and unplayed interactions, the summary at exit, and what a record mode means."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from conftest import orange_proxy_command, recorder
from flows import CLIENT, DLV, V3_TOKEN, bearer, dlv_body

from proxy_addons.cassettes.tape import Tape


def token_call(session):
    return session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})


def verify_call(session, token: str, **body):
    return session.post(DLV, headers=bearer(token), json=dlv_body(**body))


@pytest.fixture
def cassette(proxy_factory, tls_files, standin, tmp_path) -> Path:
    """A cassette of two interactions: a lab token, then one Location Verification."""
    path = tmp_path / "two.yaml"
    rec = recorder(proxy_factory, tls_files, standin, path)
    session = rec.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token).status_code == 200
    rec.stop()
    assert rec.process.returncode == 0, rec.output()
    assert len(yaml.safe_load(path.read_text())["interactions"]) == 2
    return path


def stopped(proxy) -> tuple[int, str]:
    proxy.stop()
    return proxy.process.returncode, proxy.output()


# 1. A cassette that is not there ------------------------------------------------------------------


def test_replay_refuses_a_cassette_that_does_not_exist_before_listening(tmp_path):
    missing = tmp_path / "cassettes" / "nope.yaml"
    result = subprocess.run(
        [
            *orange_proxy_command(),
            "replay",
            "--cassette",
            str(missing),
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path / "confdir"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"orange-proxy: no cassette at {missing} to replay" in result.stderr
    assert f"orange-proxy record --cassette {missing}" in result.stderr  # what to do next
    assert "ready" not in result.stdout  # it never listened
    assert "Traceback" not in result.stderr
    assert not missing.exists()


def test_mitmdump_users_get_the_same_refusal(tmp_path):
    """The check lives in the addon, so `mitmdump -s` refuses the missing cassette too."""
    from proxy_addons import mitm_script

    mitmdump = Path(orange_proxy_command()[0]).parent / "mitmdump"
    result = subprocess.run(
        [
            str(mitmdump),
            "-q",
            "-s",
            mitm_script.__file__,
            "--set",
            f"confdir={tmp_path / 'confdir'}",
            "--listen-port",
            "0",
            "--set",
            "orange_mode=replay",
            "--set",
            f"orange_cassette={tmp_path / 'nope.yaml'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no cassette at" in result.stdout + result.stderr


# 2 and 3. Exit statuses and the summary --------------------------------------------------------


def test_a_replay_that_played_everything_exits_0_with_its_summary(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), "--require-all-played", subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert f"summary (replay, cassette {cassette}):" in output
    assert "exchanges: 2 (synthesised 0, replayed 2, recorded 0, forwarded 0, missed 0, faulted 0)" in output
    assert "cassette interactions never played: 0 of 2" in output
    assert "files written: none" in output


def test_a_miss_makes_replay_exit_1_and_says_which_request(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token, number="33699901032").status_code == 502
    status, output = stopped(proxy)
    assert status == 1, output
    assert "replayed 1, recorded 0, forwarded 0, missed 1, faulted 0" in output
    assert "cassette interactions never played: 1 of 2: #2 POST " + DLV in output
    assert "exit status 1: 1 request(s) missed the cassette, the first: POST " + DLV in output
    assert "body.device.phoneNumber" in output  # the reason, as the 502 gave it
    assert "--allow-misses" in output


def test_allow_misses_keeps_exit_status_0(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), "--allow-misses", subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token, number="33699901032").status_code == 502
    status, output = stopped(proxy)
    assert status == 0, output
    assert "missed 1" in output
    assert "exit status" not in output


def test_a_miss_answered_by_the_synthesiser_is_still_a_miss(proxy_factory, cassette):
    """--miss synth keeps the app going; the verdict still says the cassette lacked the request."""
    proxy = proxy_factory("--cassette", str(cassette), "--miss", "synth", subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert session.post(DLV, headers=bearer(token), json=dlv_body(lat=45.0)).status_code in (200, 401)
    status, output = stopped(proxy)
    assert status == 1, output
    assert "synthesised 1, replayed 1, recorded 0, forwarded 0, missed 1" in output


def test_require_all_played_exits_3_when_interactions_were_never_played(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), "--require-all-played", subcommand="replay")
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 3, output
    assert "cassette interactions never played: 1 of 2: #2 POST " + DLV in output
    assert "exit status 3: 1 cassette interaction(s) were never played" in output
    # What to do next, never "remove them": docs/recording.md says never to edit a cassette by hand.
    assert "re-record the cassette, or drop --require-all-played" in output
    assert "remove them" not in output


def test_unplayed_interactions_alone_keep_exit_status_0(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), subcommand="replay")
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert "cassette interactions never played: 1 of 2" in output


def test_a_record_run_that_misses_exits_1(proxy_factory, tls_files, standin, cassette):
    """`once` on an existing cassette only replays: a request it lacks misses, and CI hears of it."""
    proxy = recorder(proxy_factory, tls_files, standin, cassette)
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token, lat=45.0).status_code == 502
    status, output = stopped(proxy)
    assert status == 1, output
    assert "exit status 1" in output


def test_the_summary_counts_synthesised_and_faulted_exchanges_and_files_written(proxy_factory, tmp_path):
    events = tmp_path / "events.jsonl"
    proxy = proxy_factory("--fault", "service_unavailable:times=1", "--event-log", str(events))
    session = proxy.session()
    assert token_call(session).status_code == 503  # the fault
    assert token_call(session).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output  # synth mode has no cassette to miss
    assert "summary (synth):" in output
    assert "exchanges: 2 (synthesised 1, replayed 0, recorded 0, forwarded 0, missed 0, faulted 1)" in output
    assert f"files written: {events}" in output


def test_a_recording_run_names_the_cassette_it_wrote(proxy_factory, tls_files, standin, tmp_path):
    path = tmp_path / "new.yaml"
    proxy = recorder(proxy_factory, tls_files, standin, path)
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert "synthesised 0, replayed 0, recorded 1, forwarded 0, missed 0, faulted 0" in output
    assert "drift warnings: 0" in output
    assert f"files written: {path} (1 new interaction(s))" in output


# 4. What the record mode means, said at start --------------------------------------------------


@pytest.mark.parametrize(
    ("record_mode", "words"),
    [
        ("once", "record mode once: the cassette exists, so nothing is recorded"),
        ("new_episodes", "record mode new_episodes: requests the cassette answers are replayed"),
        ("all", "record mode all: every request is forwarded and recorded, appended after"),
        ("none", "record mode none: replay only"),
    ],
)
def test_record_on_an_existing_cassette_says_what_its_mode_means(
    proxy_factory, tls_files, standin, cassette, record_mode, words
):
    proxy = recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", record_mode)
    output = proxy.output()
    assert words in output
    # Said before the ready line: a reader sees it before the first request.
    assert output.index(words) < output.index("ready: proxy")


def test_record_on_a_new_cassette_says_everything_is_recorded(proxy_factory, tls_files, standin, tmp_path):
    proxy = recorder(proxy_factory, tls_files, standin, tmp_path / "fresh.yaml")
    assert "record mode once: the cassette is new: every exchange is forwarded and recorded" in proxy.output()


# The tape's bookkeeping -------------------------------------------------------------------------


def test_unplayed_counts_each_recorded_answer_once(cassette):
    tape = Tape(cassette)
    recorded = list(tape.cassette.interactions)
    assert tape.unplayed() == [0, 1]
    tape.find(recorded[1].request)
    assert tape.unplayed() == [0]
    tape.find(recorded[1].request)  # exhausted: the last answer again (repeat), nothing new played
    assert tape.unplayed() == [0]


def test_a_connection_reset_by_a_fault_is_counted_and_marked(proxy_factory):
    proxy = proxy_factory("--fault", "reset:times=1")
    session = proxy.session()
    with pytest.raises(requests.ConnectionError):
        token_call(session)
    assert token_call(session).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert "exchanges: 2 (synthesised 1, replayed 0, recorded 0, forwarded 0, missed 0, faulted 1)" in output
    assert "[orange-proxy: faulted; fault reset]" in output  # on mitmdump's `<< <error>` line


def test_mitmdump_users_get_the_summary_too(tmp_path, proxy_factory, cassette):
    from proxy_addons import mitm_script

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    confdir = tmp_path / "conf"
    command = [
        str(Path(orange_proxy_command()[0]).parent / "mitmdump"),
        "--listen-host",
        "127.0.0.1",
        "-p",
        str(port),
        "--set",
        f"confdir={confdir}",
        "-s",
        mitm_script.__file__,
        "--set",
        "orange_mode=replay",
        "--set",
        f"orange_cassette={cassette}",
    ]
    proxy = proxy_factory(command=command, ready=("127.0.0.1", port, confdir / "mitmproxy-ca-cert.pem"))
    assert token_call(proxy.session()).status_code == 200
    _, output = stopped(proxy)
    assert f"summary (replay, cassette {cassette}):" in output
    assert "exchanges: 1 (synthesised 0, replayed 1, recorded 0, forwarded 0, missed 0, faulted 0)" in output
    assert "cassette interactions never played: 1 of 2" in output


# -q: the summary is hidden (as mitmdump -q hides info lines); a failing verdict says what failed --------


def test_quiet_hides_the_summary_of_a_passing_replay(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), "--quiet", subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert "summary (" not in output and "exit status" not in output
    assert "<< " not in output  # no request lines either


def test_quiet_keeps_the_exit_line_of_a_failing_replay_naming_the_request(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), "--quiet", subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert verify_call(session, token, number="33699901032").status_code == 502
    status, output = stopped(proxy)
    assert status == 1, output
    assert "summary (" not in output
    assert "exit status 1: 1 request(s) missed the cassette, the first: POST " + DLV in output


def test_quiet_keeps_the_exit_line_of_unplayed_interactions_naming_the_first(proxy_factory, cassette):
    proxy = proxy_factory("--cassette", str(cassette), "--quiet", "--require-all-played", subcommand="replay")
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 3, output
    assert "summary (" not in output
    first = "the first: #2 POST " + DLV
    assert (
        f"exit status 3: 1 cassette interaction(s) were never played (--require-all-played), {first}"
        in output
    )
