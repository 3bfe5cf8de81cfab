"""Recorder: every upstream answer in record mode goes into the cassette, scrubbed, on disk before
the next one. Replayed, synthesised and fault-injected answers are never recorded.

Contract drift: each recorded response is checked against our schemas; one that does not conform is
kept as recorded, flagged in its interaction's metadata, and reported when the proxy stops.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mitmproxy import ctx, http

from proxy_addons import __version__
from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.convert import to_interaction
from proxy_addons.addons.core import Core
from proxy_addons.addons.stages import ACTION
from proxy_addons.cassettes.model import Interaction
from proxy_addons.config.choices import Mode
from proxy_addons.messages import logger
from proxy_addons.simulator.apis import GATEWAY
from proxy_addons.simulator.routing import Route

log = logger(__name__)


class Recorder:
    name = "orange_recorder"

    def __init__(self, core: Core, cassettes: Cassettes) -> None:
        self.core = core
        self.cassettes = cassettes
        self.drift: list[str] = []

    def response(self, flow: http.HTTPFlow) -> None:
        # Only the "upstream" source forwards for recording, and only record plans contain it.
        tape = self.cassettes.tape
        if tape is None or flow.metadata.get(ACTION) != "forwarded":
            return
        exchange = self.core.exchanges.get(flow.id)
        if exchange is None:
            return
        # The request as it was forwarded (an `--upstream` rewrite adds Host for HTTP/2 clients),
        # under the URL the app asked for.
        interaction = to_interaction(flow, exchange.url)
        try:
            interaction.meta = self._meta(exchange.route, interaction)
        except Exception:  # the metadata is a nicety; the exchange itself must not be lost
            log.exception("no metadata for %s; recording the exchange without it", flow.request.url)
        try:
            tape.record(interaction)
            flow.metadata[ACTION] = "recorded"  # forwarded, and now on disk
        except OSError as exc:
            # The app still gets its answer; the tester must know the cassette is incomplete.
            log.error("could not write %s: %s", tape.path, exc)

    def _meta(self, route: Route, interaction: Interaction) -> dict[str, object]:
        meta: dict[str, object] = {
            "recorded_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "recorder": f"orange-proxy {__version__}",
            "record_mode": ctx.options.orange_record_mode,
            "profile": ctx.options.orange_profile,
            "route": route.label,
        }
        verdict = self._schema_verdict(route, interaction)
        if verdict is not None:
            meta["schema"] = verdict
        return meta

    def _schema_verdict(self, route: Route, interaction: Interaction) -> dict[str, object] | None:
        """Our schemas' verdict on a recorded answer (None where we have no schema: other paths)."""
        response = interaction.response
        schemas = self.core.schemas
        if route.api is GATEWAY or route.operation is None or schemas is None:
            return None
        if 300 <= response.status < 400:  # a redirect's body (if any) is for browsers, not the contract
            return None
        ref = f"{route.api.name}#{route.operation.name}.{response.status}"
        try:
            data = json.loads(response.body) if response.body else None
        except (ValueError, RecursionError):
            problems = ["the body is not JSON"]
        else:
            problems = schemas.check_response(ref, response.status, data)
        if problems:
            self.drift.append(
                f"{interaction.request.method} {interaction.request.uri} → {response.status}: {problems[0]}"
            )
            return {"ref": schemas.resolve(ref), "valid": False, "problems": problems[:5]}
        return {"ref": schemas.resolve(ref), "valid": True}

    def done(self) -> None:
        tape = self.cassettes.tape
        if tape is None or ctx.options.orange_mode != Mode.RECORD:
            return
        # What was written is in the run's summary (see Verdict); the drift needs its details.
        if self.drift:
            log.warning(
                "%d recorded response(s) do not match our schemas (kept as recorded, flagged "
                "in the cassette):\n  %s",
                len(self.drift),
                "\n  ".join(self.drift),
            )
