"""vcrpy with the proxy's matching and scrubbing, so in-process replay behaves like the proxy's.

    from proxy_addons.integrations.vcr import orange_vcr

    vcr = orange_vcr(cassette_library_dir="cassettes")
    with vcr.use_cassette("login.yaml"):          # record_mode "none" by default: replay only
        requests.post("https://api.orange.com/oauth/v3/token", ...)

The pytest fixture `orange_vcr` (registered as a pytest plugin when the package is installed) gives
the same object, with cassettes looked up in `cassettes/` beside the test file unless
`cassette_library_dir` is overridden by the `orange_vcr_config` fixture.
"""

from __future__ import annotations

from typing import Any

import vcr as vcrpy

from proxy_addons.cassettes.matching import MatchConfig, RequestKey, request_key
from proxy_addons.cassettes.model import Interaction, Request, Response, identity_encoded
from proxy_addons.scrubbing import Scrubber, ScrubConfig

MATCHER = "orange"


def _request(vcr_request: Any) -> Request:
    headers = {name: [value] for name, value in vcr_request.headers.items()}
    body = vcr_request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    return Request(vcr_request.method.upper(), vcr_request.uri, headers, body or None)


def _response(data: dict[str, Any]) -> Response:
    body = data.get("body", {}).get("string", b"")
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {
        name: values if isinstance(values, list) else [values] for name, values in data["headers"].items()
    }
    return Response(int(data["status"]["code"]), data["status"].get("message", ""), headers, body)


def orange_vcr(
    match: MatchConfig | None = None,
    scrub: ScrubConfig | None = None,
    **vcr_options: Any,
) -> vcrpy.VCR:
    """A `vcr.VCR` that matches as `orange-proxy replay` does (method, scheme, host, port, path,
    order-insensitive query, canonical JSON body; secrets masked; Authorization ignored) and scrubs
    what it records as `orange-proxy record` does. Other keyword arguments go to `vcr.VCR`."""
    match = match or MatchConfig()
    scrubber = Scrubber(scrub or ScrubConfig())
    dummy_request = Request("GET", "https://api.orange.com/")

    def key(vcr_request: Any) -> RequestKey:
        masked, parsed = scrubber.masked(_request(vcr_request))  # the mask's parse serves the key too
        return request_key(masked, match, parsed)

    def matcher(recorded: Any, incoming: Any) -> None:
        if key(recorded) != key(incoming):
            raise AssertionError("orange-proxy matching: requests differ")

    def before_record_request(vcr_request: Any) -> Any:
        # vcrpy also runs this on every incoming request before matching; scrubbing is idempotent.
        scrubbed = scrubber.scrub(Interaction(_request(vcr_request), Response(200))).request
        vcr_request.uri = scrubbed.uri
        vcr_request.body = scrubbed.body
        for name in list(vcr_request.headers):
            del vcr_request.headers[name]
        for name, values in scrubbed.headers.items():
            vcr_request.headers[name] = values[0]
        return vcr_request

    def before_record_response(data: dict[str, Any]) -> dict[str, Any]:
        response = identity_encoded(_response(data))
        scrubbed = scrubber.scrub(Interaction(dummy_request, response)).response
        return {
            **data,
            "status": {"code": scrubbed.status, "message": scrubbed.reason},
            "headers": scrubbed.headers,
            "body": {"string": scrubbed.body},
        }

    options: dict[str, Any] = {
        "record_mode": "none",
        "match_on": (MATCHER,),
        "decode_compressed_response": True,
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
    }
    options.update(vcr_options)
    recorder = vcrpy.VCR(**options)
    recorder.register_matcher(MATCHER, matcher)
    return recorder
