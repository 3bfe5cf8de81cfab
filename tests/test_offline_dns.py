"""The tunnel's name lookups of our names (addons/offline_dns.py), one stage at a time with mitmproxy's
`taddons`/`tflow`: which questions the proxy answers, with what, and which it leaves to mitmproxy's
resolver. tests/test_wireguard_mode.py shows the same through a real WireGuard client."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from mitmproxy import dns
from mitmproxy.addons.onboarding import Onboarding
from mitmproxy.test import taddons, tflow, tutils
from pipeline_helpers import addon

from proxy_addons.addons import default_addons
from proxy_addons.addons.offline_dns import OFFLINE_ADDRESS


def lookup(addons, name: str, qtype: int = dns.types.A, answered_by_resolver: dns.Message | None = None):
    question = dns.Question(name, qtype, dns.classes.IN)
    flow = tflow.tdnsflow(req=tutils.tdnsreq(questions=[question]))
    if answered_by_resolver is not None:  # mitmproxy's DnsResolver ran first (the `mitmdump -s` order)
        flow.response = answered_by_resolver
    addon(addons, "orange_offline_dns").dns_request(flow)
    return flow


def addresses(flow) -> list[IPv4Address]:
    return [IPv4Address(a.data) for a in flow.response.answers if a.type == dns.types.A]


@pytest.fixture
def proxy_addons():
    addons = default_addons()
    with taddons.context(*addons, Onboarding()) as tctx:
        yield addons, tctx


def test_our_names_get_the_offline_address(proxy_addons):
    addons, _ = proxy_addons
    for name in ("api.orange.com", "API.Orange.com.", "orange-proxy.test", "mitm.it"):
        flow = lookup(addons, name)
        assert flow.response.response_code == dns.response_codes.NOERROR, name
        assert addresses(flow) == [OFFLINE_ADDRESS], name


def test_other_names_are_left_to_mitmproxys_resolver(proxy_addons):
    addons, _ = proxy_addons
    assert lookup(addons, "example.org").response is None
    assert lookup(addons, "orange.com").response is None  # not an intercept host


def test_aaaa_and_https_questions_for_our_names_get_an_empty_answer_at_once(proxy_addons):
    addons, _ = proxy_addons
    for qtype in (dns.types.AAAA, dns.types.HTTPS):
        flow = lookup(addons, "api.orange.com", qtype)
        assert flow.response.response_code == dns.response_codes.NOERROR
        assert flow.response.answers == []


def test_a_real_answer_is_kept(proxy_addons):
    addons, _ = proxy_addons
    request = tutils.tdnsreq(questions=[dns.Question("api.orange.com", dns.types.A, dns.classes.IN)])
    real = request.succeed([dns.ResourceRecord.A("api.orange.com", IPv4Address("192.0.2.7"))])
    flow = lookup(addons, "api.orange.com", answered_by_resolver=real)
    assert addresses(flow) == [IPv4Address("192.0.2.7")]


def test_where_the_proxy_dials_the_real_host_the_real_lookup_goes_first(proxy_addons, tmp_path):
    addons, tctx = proxy_addons
    core = addon(addons, "orange_core")
    tctx.configure(core, orange_mode="record", orange_cassette=str(tmp_path / "new.yaml"))
    assert lookup(addons, "api.orange.com").response is None  # for mitmproxy's resolver
    # ... and when it failed, the proxy's answer after all (a dial then fails as it would anyway):
    # in the request hook where mitmproxy's resolver ran first (`mitmdump -s`), else in the response hook.
    request = tutils.tdnsreq(questions=[dns.Question("api.orange.com", dns.types.A, dns.classes.IN)])
    flow = lookup(addons, "api.orange.com", answered_by_resolver=request.fail(dns.response_codes.SERVFAIL))
    assert addresses(flow) == [OFFLINE_ADDRESS]
    failed = tflow.tdnsflow(req=request, resp=request.fail(dns.response_codes.SERVFAIL))
    addon(addons, "orange_offline_dns").dns_response(failed)
    assert addresses(failed) == [OFFLINE_ADDRESS]
    real = tflow.tdnsflow(
        req=request, resp=request.succeed([dns.ResourceRecord.A("api.orange.com", IPv4Address("192.0.2.7"))])
    )
    addon(addons, "orange_offline_dns").dns_response(real)
    assert addresses(real) == [IPv4Address("192.0.2.7")]
    other = tutils.tdnsreq(questions=[dns.Question("example.org", dns.types.A, dns.classes.IN)])
    unresolved = tflow.tdnsflow(req=other, resp=other.fail(dns.response_codes.SERVFAIL))
    addon(addons, "orange_offline_dns").dns_response(unresolved)
    assert unresolved.response.response_code == dns.response_codes.SERVFAIL
    # The control host is ours in every mode.
    assert addresses(lookup(addons, "orange-proxy.test")) == [OFFLINE_ADDRESS]
    # With --upstream, forwarded requests go elsewhere: the name is answered at once again.
    tctx.configure(core, orange_upstream="https://127.0.0.1:9")
    assert addresses(lookup(addons, "api.orange.com")) == [OFFLINE_ADDRESS]


def test_mitm_it_is_not_ours_when_onboarding_is_off(proxy_addons):
    addons, tctx = proxy_addons
    tctx.options.update(onboarding=False)
    assert lookup(addons, "mitm.it").response is None
