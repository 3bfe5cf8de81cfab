"""Name lookups a WireGuard client sends to the proxy (mitmproxy's `DNS = 10.0.0.53`), for the names
that are ours: the control host and `mitm.it` always (the proxy answers them by Host); an intercept host
at once when the proxy never dials it (synth, replay), else only when the real lookup failed. So a phone
on the tunnel reaches `https://api.orange.com`, `http://mitm.it` and `http://orange-proxy.test/` with no
network, as an explicit-proxy client does (there the proxy resolves nothing: it answers by name)."""

from __future__ import annotations

from ipaddress import IPv4Address

from mitmproxy import ctx, dns

from proxy_addons.addons.intercept import Intercept
from proxy_addons.addons.stages import CONTROL_HOST
from proxy_addons.messages import logger

log = logger(__name__)

# Where our names point. The address never carries traffic of its own: the tunnel takes every IPv4
# address (AllowedIPs = 0.0.0.0/0), and the proxy answers by TLS server name or Host header, never
# dialling it. 198.18.0.0/15 is reserved for benchmarking (RFC 2544), so it is no real server's.
OFFLINE_ADDRESS = IPv4Address("198.18.0.1")


class OfflineDns:
    """`orange-proxy` runs it before mitmproxy's DnsResolver: a lookup that cannot succeed offline would
    keep the phone waiting for the system resolver's timeout. Under `mitmdump -s` it runs after it (a
    script's addons come last), and answers what did not resolve. Where the proxy dials the real host
    (record mode, forwarded paths) the real lookup goes first and a real address is kept."""

    name = "orange_offline_dns"

    def __init__(self, intercept: Intercept) -> None:
        self.intercept = intercept

    def dns_request(self, flow: dns.DNSFlow) -> None:
        question = flow.request.question
        if not flow.live or question is None:
            return
        name = question.name.lower().rstrip(".")
        if name not in own_names():
            if not self.intercept.intercepts_name(name) or resolved(flow):
                return
            looked_up = flow.response is not None or flow.error is not None
            if not looked_up and self.intercept.dials_real_host():
                return  # mitmproxy's resolver next; `dns_response` steps in if it fails
        answer(flow, question)

    def dns_response(self, flow: dns.DNSFlow) -> None:
        """An intercept host the real lookup could not resolve (record mode offline): ours after all."""
        question = flow.request.question
        if question is None or not flow.live or resolved(flow):
            return
        if self.intercept.intercepts_name(question.name.lower().rstrip(".")):
            answer(flow, question)


def answer(flow: dns.DNSFlow, question: dns.Question) -> None:
    """An A record only. The tunnel carries IPv4, so AAAA gets an empty answer and the client falls back
    to IPv4; so do HTTPS/SVCB questions (Android and iOS ask them first), which would otherwise go to a
    name server the machine may not reach, and keep the phone waiting."""
    flow.error = None
    ipv4 = question.type == dns.types.A
    records = [dns.ResourceRecord.A(question.name, OFFLINE_ADDRESS)] if ipv4 else []
    flow.response = flow.request.succeed(records)
    if ipv4:
        log.info(f"DNS: {question.name.lower().rstrip('.')} → {OFFLINE_ADDRESS} (answered by the proxy)")


def own_names() -> set[str]:
    """Names only the proxy answers: the control host, and mitmproxy's onboarding host (`mitm.it`, where
    a device fetches the CA) while onboarding is on."""
    names = {CONTROL_HOST}
    if "onboarding" in ctx.options and ctx.options.onboarding:  # absent without mitmproxy's own addons
        names.add(ctx.options.onboarding_host.lower().rstrip("."))
    return names


def resolved(flow: dns.DNSFlow) -> bool:
    """mitmproxy's own lookup gave an address."""
    response = flow.response
    return bool(
        response is not None and response.response_code == dns.response_codes.NOERROR and response.answers
    )
