"""The verdict of a run: what answered each exchange, tallied, and told when the proxy stops.

At exit a summary (exchanges synthesised / replayed / recorded / forwarded / missed / faulted, the
cassette interactions no request played, drift warnings, files written), and the exit status CI
acts on: a replay or record run in which a request missed the cassette exits non-zero, unless
`orange_allow_misses`; with `orange_require_all_played`, so does one that left interactions unplayed;
one in which a forwarded request got no answer from the upstream always does (status 4).
"""

from __future__ import annotations

import os
from collections import Counter

from mitmproxy import ctx, http

from proxy_addons.addons.answer import UPSTREAM_FAILED, upstream_failure
from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.recorder import Recorder
from proxy_addons.addons.stages import ACTION, FAULT, MISS, ORIGINAL_URL, PASSED_THROUGH, ROUTE
from proxy_addons.config.choices import Mode
from proxy_addons.messages import logger
from proxy_addons.pipeline.modes import sources

log = logger(__name__)

# Exit statuses of `orange-proxy record|replay` (2 is "could not start", see runner.serve).
EXIT_OK = 0
EXIT_MISSED = 1  # a request the cassette could not answer (and that was not recorded)
EXIT_UNPLAYED = 3  # with orange_require_all_played: interactions on file that no request played
EXIT_UPSTREAM_FAILED = 4  # a forwarded request got no answer from the upstream (whatever the options)

# The summary's columns, in its order; an action not named here is counted under its own name.
COLUMNS = ("synthesised", "replayed", "recorded", "forwarded", "missed", "faulted")
# Actions → column: passed-through answers came from the real host as forwarded ones do.
ANSWERED_BY = {"passed-through": "forwarded", "replay-miss": "missed", UPSTREAM_FAILED: "upstream failed"}
# Shown after the columns only when it happened: most runs forward nothing, and readers (and scripts)
# of the line above keep its shape.
UPSTREAM_FAILED_COLUMN = "upstream failed"
UNPLAYED_SHOWN = 5  # unplayed interactions named one by one in the summary
# Plain-HTTP requests to hosts the proxy does not answer, forwarded untouched (HTTPS to them is a
# tunnel the proxy never looks into, so it has no requests to count).
OTHER_HOSTS = "other hosts"


class Verdict:
    name = "orange_verdict"

    def __init__(self, cassettes: Cassettes, recorder: Recorder) -> None:
        self.cassettes = cassettes
        self.recorder = recorder
        self.counts: Counter[str] = Counter()
        self.missed: list[str] = []  # "METHOD URL: reason" of each miss, in order
        self.failed: list[str] = []  # why each forwarded request got no answer from the upstream
        self.exit_status = EXIT_OK
        self._live: set[str] = set()  # ids of this run's flows not ended yet

    def load(self, loader) -> None:
        loader.add_option(
            "orange_allow_misses",
            bool,
            False,
            "Replay and record: exit with status 0 even when a request missed the cassette (by default "
            "such a run exits with status 1, so CI fails).",
        )
        loader.add_option(
            "orange_require_all_played",
            bool,
            False,
            "Replay and record: exit with status 3 when interactions of the cassette were never played "
            "(the app no longer makes a request the cassette expects).",
        )

    # Tally ------------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Only exchanges of this run count: a flow read from a file carries our metadata but is not
        # live; a live one a fault kills is no longer live when its error arrives, and mitmproxy calls
        # no later addon's `request` for it (hence `requestheaders`, before any fault).
        if flow.live:
            self._live.add(flow.id)

    def response(self, flow: http.HTTPFlow) -> None:
        self._count(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._count(flow)

    def _count(self, flow: http.HTTPFlow) -> None:
        if flow.id not in self._live:
            return
        self._live.discard(flow.id)
        if ROUTE not in flow.metadata:
            if flow.metadata.get(ACTION) == PASSED_THROUGH:
                self.counts[OTHER_HOSTS] += 1
            return
        action = str(flow.metadata.get(ACTION, "none")).partition("+")[0]  # "replayed+truncate"
        if action == "control":
            return
        column = ANSWERED_BY.get(action, action)
        self.counts["exchanges"] += 1
        if column not in ("missed", "faulted"):  # counted below, whatever answered
            self.counts[column] += 1
        # A miss answered by --miss synth/passthrough is still a request the cassette lacked; one the
        # recorder forwarded and recorded (new_episodes) is not.
        if MISS in flow.metadata and action not in ("recorded", "forwarded"):
            self.counts["missed"] += 1
            url = flow.metadata.get(ORIGINAL_URL) or flow.request.pretty_url
            reason = str(flow.metadata[MISS])
            self.missed.append(reason if reason.startswith(flow.request.method) else f"{url}: {reason}")
        if flow.metadata.get(FAULT) or action == "faulted":
            self.counts["faulted"] += 1
        if action == UPSTREAM_FAILED:
            self.failed.append(upstream_failure(flow))

    # The summary ------------------------------------------------------------------------------

    def done(self) -> None:
        mode = ctx.options.orange_mode
        tape = self.cassettes.tape
        lines = [
            f"exchanges: {self.counts['exchanges']} ("
            + ", ".join(f"{c} {self.counts[c]}" for c in COLUMNS)
            + (f", {UPSTREAM_FAILED_COLUMN} {len(self.failed)}" if self.failed else "")
            + ")"
        ]
        # Not among the exchanges, which are the API's: traffic to other hosts is none of the verdict's
        # business, but a request the app meant for api.orange.com that went elsewhere shows here.
        lines.append(f"passed through untouched (other hosts, plain HTTP): {self.counts[OTHER_HOSTS]}")
        unplayed: list[int] = []
        if tape is not None and mode != Mode.SYNTH and self._replays():
            unplayed = tape.unplayed()
            line = f"cassette interactions never played: {len(unplayed)} of {tape.replayable}"
            shown = [self._interaction(p) for p in unplayed[:UNPLAYED_SHOWN]]
            if shown:
                more = len(unplayed) - len(shown)
                line += ": " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
            lines.append(line)
        if mode == Mode.RECORD:
            lines.append(f"drift warnings: {len(self.recorder.drift)}")
        written = self._written()
        lines.append("files written: " + (", ".join(written) if written else "none"))
        title = f"summary ({mode}{f', cassette {tape.path}' if tape is not None else ''}):"
        # An info line: --quiet hides it, as mitmdump -q hides everything but problems. The exit
        # status line below is an error, so each failing verdict says on its own what failed.
        log.info("%s\n  %s", title, "\n  ".join(lines))
        if mode == Mode.SYNTH:
            return
        if self.failed:
            # First: no --allow-misses covers it; the run tested nothing it meant to.
            self.exit_status = EXIT_UPSTREAM_FAILED
            log.error(
                "exit status %d: %d forwarded request(s) got no answer from the upstream, the first: %s "
                "(check the network, --upstream and --upstream-ca)",
                EXIT_UPSTREAM_FAILED,
                len(self.failed),
                self.failed[0],
            )
        elif self.missed and not ctx.options.orange_allow_misses:
            self.exit_status = EXIT_MISSED
            log.error(
                "exit status %d: %d request(s) missed the cassette, the first: %s (re-record with "
                "`orange-proxy record --record-mode new_episodes --cassette %s`, or keep status 0 with "
                "--allow-misses)",
                EXIT_MISSED,
                len(self.missed),
                self.missed[0],
                tape.path if tape is not None else "FILE",
            )
        elif unplayed and ctx.options.orange_require_all_played:
            self.exit_status = EXIT_UNPLAYED
            log.error(
                "exit status %d: %d cassette interaction(s) were never played (--require-all-played), "
                "the first: %s; the app no longer makes these requests: re-record the cassette, or drop "
                "--require-all-played",
                EXIT_UNPLAYED,
                len(unplayed),
                self._interaction(unplayed[0]),
            )

    def _interaction(self, position: int) -> str:
        """ "#N METHOD URI" of the cassette's interaction at `position`."""
        assert self.cassettes.tape is not None
        request = self.cassettes.tape.cassette.interactions[position].request
        return f"#{position + 1} {request.method} {request.uri}"

    def _replays(self) -> bool:
        """Whether this run's plan answers from the cassette at all (record mode `all` never does)."""
        options = ctx.options
        tape = self.cassettes.tape
        existed = tape.existed if tape is not None else False
        return "cassette" in sources(options.orange_mode, options.orange_record_mode, existed, "error")

    def _written(self) -> list[str]:
        written: list[str] = []
        tape = self.cassettes.tape
        if tape is not None and tape.recorded:
            written.append(f"{tape.path} ({tape.recorded} new interaction(s))")
        # Our event log, and mitmproxy's own flow and HAR files when set ("+file" appends).
        for option in ("orange_event_log", "save_stream_file", "hardump"):
            path = getattr(ctx.options, option, None)
            if path:
                written.append(os.path.abspath(os.path.expanduser(str(path).removeprefix("+"))))
        return written
