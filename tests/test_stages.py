"""Single stages of the pipeline, driven with mitmproxy's own test helpers (`taddons`, `tflow`)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from pathlib import Path

import pytest
import yaml
from mitmproxy import http
from mitmproxy import io as mitmproxy_io
from mitmproxy.test import taddons
from pipeline_helpers import DLV_BODY, DLV_PATH, addon, api_flow, lab_token, recorded_dlv, run_flow

from proxy_addons.addons import default_addons
from proxy_addons.addons.stages import ACTION, FAULT, MISS, ORIGINAL_URL, PLAN, ROUTE

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "location-verification-success.yaml"


def in_proxy(check, **options) -> None:
    async def main() -> None:
        addons = default_addons()
        with taddons.context(*addons) as tctx:
            if options:
                tctx.configure(addon(addons, "orange_core"), **options)
            await check(addons)

    asyncio.run(main())


def test_flows_that_are_not_live_are_left_alone():
    async def check(addons) -> None:
        flow = api_flow("POST", DLV_PATH, DLV_BODY, lab_token(addons))
        flow.live = False  # loaded from a file, or replayed by mitmproxy itself
        await run_flow(addons, flow)
        assert flow.response is None and ROUTE not in flow.metadata

    in_proxy(check)


def test_what_the_stages_keep_in_flow_metadata_survives_mitmproxys_serialisation():
    async def check(addons) -> None:
        addon(addons, "orange_faults").add("latency:ms=1,api=location-verification")
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, lab_token(addons)))
        assert flow.metadata[ROUTE] == "location-verification/verify"
        out = io.BytesIO()
        mitmproxy_io.FlowWriter(out).add(flow)  # what `-w` and mitmweb's Save do
        [loaded] = list(mitmproxy_io.FlowReader(io.BytesIO(out.getvalue())).stream())
        assert loaded.metadata == flow.metadata
        assert loaded.metadata[FAULT][0]["fault"] == "latency"
        assert loaded.metadata[PLAN] == ["synth"] and loaded.metadata[ACTION] == "synthesised"

    in_proxy(check)


def test_replay_answers_from_the_cassette_marks_the_replay_and_builds_no_synthesiser():
    body, token = recorded_dlv(CASSETTE)

    async def check(addons) -> None:
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, body, token))
        assert flow.response.status_code == 200
        assert flow.metadata[ACTION] == "replayed"
        assert flow.is_replay == "response"  # as mitmproxy's server playback marks its answers
        assert addon(addons, "orange_core")._engine is None  # classification needs no synthesiser

    in_proxy(check, orange_mode="replay", orange_cassette=str(CASSETTE))


@pytest.mark.parametrize(
    ("miss", "status", "action"), [("error", 502, "replay-miss"), ("synth", 401, "synthesised")]
)
def test_a_replay_miss_goes_to_the_next_source_of_the_plan(miss, status, action):
    body, _ = recorded_dlv(CASSETTE)

    async def check(addons) -> None:
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, {**body, "maxAge": 7}, "not-recorded"))
        assert flow.metadata[PLAN] == ["cassette", "miss" if miss == "error" else "synth"]
        assert flow.response.status_code == status  # the synthesiser does not know the token: 401
        assert flow.metadata[ACTION] == action
        assert "no recorded interaction matches" in flow.metadata[MISS]
        if miss == "error":
            assert flow.response.json()["code"] == "REPLAY_MISS"
            assert "body.maxAge" in flow.response.headers["x-orange-proxy-replay-miss"]

    in_proxy(check, orange_mode="replay", orange_cassette=str(CASSETTE), orange_miss=miss)


@pytest.fixture
def upstream_port():
    """A port something listens on: the answer stage checks that a forwarded request's upstream
    can be reached (an unreachable one is answered 502 by the proxy itself)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_recording_forwards_to_the_upstream_base_url_keeping_the_url_the_app_asked_for(
    tmp_path, upstream_port
):
    async def check(addons) -> None:
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, "real-token"))
        assert flow.response is None  # left for mitmproxy to forward
        assert flow.metadata[ACTION] == "forwarded"
        assert flow.metadata[ORIGINAL_URL] == "https://api.orange.com" + DLV_PATH
        assert (flow.request.host, flow.request.port, flow.request.path) == (
            "127.0.0.1",
            upstream_port,
            "/base" + DLV_PATH,
        )
        assert flow.request.headers["Host"] == "api.orange.com"

    in_proxy(
        check,
        orange_mode="record",
        orange_cassette=str(tmp_path / "new.yaml"),
        orange_upstream=f"http://127.0.0.1:{upstream_port}/base",
    )


def test_a_fault_expires_a_replayed_token_and_the_api_says_so_in_its_own_dialect():
    body, token = recorded_dlv(CASSETTE)

    async def check(addons) -> None:
        assert (await run_flow(addons, api_flow("POST", DLV_PATH, body, token))).response.status_code == 200
        addon(addons, "orange_faults").add("token_expired")
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, body, token))
        assert flow.response.status_code == 401
        assert flow.response.json() == {
            "status": 401,
            "message": "Authorization failed: access token expired",
        }
        assert flow.metadata[ACTION] == "faulted"

    in_proxy(check, orange_mode="replay", orange_cassette=str(CASSETTE))


def test_a_synthesised_request_body_is_parsed_once_with_faults_reading_it_too(monkeypatch):
    raw = json.dumps(DLV_BODY)
    parses = []
    real_loads = json.loads

    def counting(text, *args, **kwargs):
        if text == raw:
            parses.append(1)
        return real_loads(text, *args, **kwargs)

    async def check(addons) -> None:
        # A fault scoped by number makes the faults stage read the body's phone number too.
        addon(addons, "orange_faults").add("latency:ms=1,number=+33699901031")
        flow = api_flow("POST", DLV_PATH, raw.encode(), lab_token(addons))
        monkeypatch.setattr(json, "loads", counting)
        await run_flow(addons, flow)
        monkeypatch.setattr(json, "loads", real_loads)
        assert flow.metadata[FAULT][0]["fault"] == "latency"  # the number was read from the body
        assert flow.response.status_code == 200
        assert len(parses) == 1

    in_proxy(check)


def test_an_exchange_a_fault_killed_is_in_the_event_log():
    # flow.kill() makes a flow no longer live before its error hook: it is still ours to log.
    async def check(addons) -> None:
        fault = addon(addons, "orange_faults").add("reset:api=location-verification")
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, lab_token(addons)))
        assert flow.error is not None and not flow.live
        [event] = [e for e in addon(addons, "orange_event_log").since(0) if e["type"] == "exchange"]
        assert event["action"] == "faulted" and event["error"] == flow.error.msg
        assert event["fault"] == [{"id": fault.id, "fault": "reset"}]
        assert len(addon(addons, "orange_core").exchanges) == 0  # and its exchange is gone

    in_proxy(check)


def test_a_flow_read_back_from_a_file_is_not_logged_again():
    async def check(addons) -> None:
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, lab_token(addons)))
        loaded = flow.copy()  # as `mitmdump -r` hands it to the addons: our metadata, never in flight here
        loaded.live = False
        addon(addons, "orange_event_log").response(loaded)
        assert len([e for e in addon(addons, "orange_event_log").since(0) if e["type"] == "exchange"]) == 1

    in_proxy(check)


def test_a_body_fault_listed_before_an_answer_fault_applies_to_that_answer():
    async def check(addons) -> None:
        faults = addon(addons, "orange_faults")
        faults.add("truncate:api=location-verification")
        faults.add("status:code=418,api=location-verification")
        flow = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, lab_token(addons)))
        assert flow.response.status_code == 418
        assert flow.metadata[ACTION] == "faulted+truncate"
        whole = b'{"status": 418, "code": "ERROR", "message": "ERROR"}'
        assert len(flow.response.content) < len(whole)

    in_proxy(check)


def test_an_answer_fault_spent_while_a_request_waited_does_not_answer_that_one_too():
    # Both requests would fire the times=1 fault on arrival; the first to be answered spends it.
    async def check(addons) -> None:
        faults = addon(addons, "orange_faults")
        faults.add("latency:ms=100,api=location-verification")
        once = faults.add("service_unavailable:api=location-verification,times=1")
        token = lab_token(addons)
        flows = await asyncio.gather(
            *(run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, token)) for _ in range(2))
        )
        assert sorted(flow.response.status_code for flow in flows) == [200, 503]
        assert (once.matched, once.fired, once.exhausted) == (2, 1, True)

    in_proxy(check)


def test_a_body_fault_before_a_reset_has_no_body_to_act_on_and_keeps_its_turn():
    async def check(addons) -> None:
        faults = addon(addons, "orange_faults")
        truncate = faults.add("truncate:api=location-verification,times=1")
        reset = faults.add("reset:api=location-verification,times=1")
        token = lab_token(addons)
        killed = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, token))
        assert killed.error is not None
        assert killed.metadata[FAULT] == [{"id": reset.id, "fault": "reset"}]
        assert (truncate.fired, reset.fired) == (0, 1)
        cut = await run_flow(addons, api_flow("POST", DLV_PATH, DLV_BODY, token))
        assert cut.metadata[ACTION] == "synthesised+truncate" and truncate.fired == 1

    in_proxy(check)


def test_recording_keeps_the_request_headers_as_forwarded(tmp_path, upstream_port):
    # An HTTP/2 client sends no Host header; the --upstream rewrite adds it, and the cassette keeps it.
    cassette = tmp_path / "new.yaml"

    async def check(addons) -> None:
        flow = api_flow("POST", DLV_PATH, DLV_BODY, "real-token")
        assert "Host" not in flow.request.headers
        answer = http.Response.make(
            200, b'{"verificationResult": "TRUE"}', {"content-type": "application/json"}
        )
        await run_flow(addons, flow, upstream=answer)
        assert flow.metadata[ACTION] == "recorded"
        recorded = yaml.safe_load(cassette.read_text())["interactions"][0]["request"]
        assert recorded["headers"]["Host"] == ["api.orange.com"]
        assert recorded["uri"] == "https://api.orange.com" + DLV_PATH

    in_proxy(
        check,
        orange_mode="record",
        orange_cassette=str(cassette),
        orange_upstream=f"http://127.0.0.1:{upstream_port}",
    )
