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

import copy
import functools
import os
from typing import Any
from urllib.parse import urlsplit

import vcr as vcrpy
from vcr.cassette import Cassette

from proxy_addons.cassettes.matching import MatchConfig, RequestKey, request_key
from proxy_addons.cassettes.model import Interaction, Request, Response, identity_encoded
from proxy_addons.pipeline.sources import echo_state
from proxy_addons.scrubbing import Scrubber, ScrubConfig
from proxy_addons.scrubbing.idtokens import Refresher

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


def _echoing_state(response: dict[str, Any], query_string: str) -> dict[str, Any]:
    """The recorded response with the app's fresh OAuth `state` in its redirect, as `orange-proxy
    replay` answers (`echo_state`); a copy, so a repeated play starts from the recording again."""
    headers = response.get("headers") or {}
    pairs = tuple(
        (name, value)
        for name, values in headers.items()
        for value in (values if isinstance(values, list) else [values])
    )
    echoed = echo_state(pairs, query_string)
    if echoed == pairs:
        return response
    rebuilt: dict[str, list[str]] = {}
    for name, value in echoed:
        rebuilt.setdefault(name, []).append(value)
    result = copy.copy(response)
    result["headers"] = rebuilt
    return result


class OrangeCassette(Cassette):
    """vcrpy's cassette, whose replayed `/authorize` redirects carry the state the app just sent,
    and whose cassette-signed id_tokens are signed again for now and the app's nonce, as the proxy's
    replay answers them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._id_tokens = Refresher()

    def play_response(self, request: Any) -> Any:
        response = _echoing_state(super().play_response(request), urlsplit(request.uri).query)
        location = next(
            (
                values
                for name, values in (response.get("headers") or {}).items()
                if name.lower() == "location"
            ),
            None,
        )
        if isinstance(location, list):
            location = location[0] if location else None
        self._id_tokens.authorize(request.uri, location)
        return _refreshed(response, request.body, self._id_tokens)


def _refreshed(response: dict[str, Any], sent: Any, refresher: Refresher) -> dict[str, Any]:
    body = (response.get("body") or {}).get("string")
    if not body:
        return response
    raw = body.encode("utf-8") if isinstance(body, str) else body
    form = sent.decode("latin-1") if isinstance(sent, bytes) else (sent or "")
    new = refresher.body(raw, form)
    if new == raw:
        return response
    result = copy.copy(response)
    result["body"] = {**response["body"], "string": new.decode("utf-8") if isinstance(body, str) else new}
    # A stated length must be the new body's (vcrpy serves the headers as recorded).
    result["headers"] = {
        name: (_length(new, values) if name.lower() == "content-length" else values)
        for name, values in (response.get("headers") or {}).items()
    }
    return result


def _length(body: bytes, stated: Any) -> Any:
    return [str(len(body))] if isinstance(stated, list) else str(len(body))


class OrangeVCR(vcrpy.VCR):
    """`vcr.VCR` whose cassettes are `OrangeCassette`s; everything else is vcrpy's."""

    def use_cassette(self, path: Any = None, **kwargs: Any) -> Any:
        if path is not None and not isinstance(path, (str, os.PathLike)):
            return self.use_cassette(**kwargs)(path)  # used as a bare decorator
        if path is not None:
            kwargs["path"] = path
        if kwargs.pop("with_current_defaults", False):
            return OrangeCassette.use(**self.get_merged_config(**kwargs))
        # Evaluated at each entry, as vcrpy does, so later changes to this VCR still apply.
        return OrangeCassette.use_arg_getter(functools.partial(self.get_merged_config, **kwargs))


def orange_vcr(
    match: MatchConfig | None = None,
    scrub: ScrubConfig | None = None,
    **vcr_options: Any,
) -> vcrpy.VCR:
    """A `vcr.VCR` that matches as `orange-proxy replay` does (method, scheme, host, port, path,
    order-insensitive query, canonical JSON body; secrets masked; Authorization ignored) and scrubs
    what it records as `orange-proxy record` does; a replayed `/authorize` redirect carries the app's
    fresh `state`, as the proxy's replay answers it. Other keyword arguments go to `vcr.VCR`."""
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
    recorder = OrangeVCR(**options)
    recorder.register_matcher(MATCHER, matcher)
    return recorder
