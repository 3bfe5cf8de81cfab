"""The cassette in use (record and replay modes): its options, and the Tape built from them."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mitmproxy import ctx, exceptions

from proxy_addons.addons.stages import check_choices
from proxy_addons.cassettes.matching import MatchConfig
from proxy_addons.cassettes.model import CassetteError
from proxy_addons.cassettes.tape import Tape
from proxy_addons.config.choices import Exhausted, MissPolicy, Mode, RecordMode, values
from proxy_addons.messages import logger, say
from proxy_addons.scrubbing import ScrubConfig

log = logger(__name__)

TAPE_OPTIONS = {
    "orange_mode",
    "orange_cassette",
    "orange_exhausted",
    "orange_ignore_json_fields",
    "orange_ignore_params",
    "orange_match_headers",
    "orange_scrub_headers",
    "orange_scrub_params",
    "orange_scrub_json_fields",
    "orange_pseudonymise_numbers",
}


class Cassettes:
    name = "orange_cassettes"

    def __init__(self) -> None:
        self.tape: Tape | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "orange_cassette", str, "", "The cassette file (vcrpy YAML) to record into or replay from."
        )
        loader.add_option(
            "orange_record_mode",
            str,
            RecordMode.ONCE.value,
            f"Record mode, as vcrpy names them: {', '.join(values(RecordMode))}.",
            choices=values(RecordMode),
        )
        loader.add_option(
            "orange_miss",
            str,
            MissPolicy.ERROR.value,
            "A request the cassette cannot answer: 'error' (a 502 saying which field differed from the "
            "nearest recording), 'passthrough' (forward it) or 'synth' (the synthesiser answers).",
            choices=values(MissPolicy),
        )
        loader.add_option(
            "orange_exhausted",
            str,
            Exhausted.REPEAT.value,
            "When every recorded answer to a request was served: 'repeat' the last one, or treat it as "
            "a 'miss'.",
            choices=values(Exhausted),
        )
        loader.add_option(
            "orange_ignore_json_fields",
            Sequence[str],
            [],
            "JSON body fields (name or dotted path) replay ignores.",
        )
        loader.add_option(
            "orange_ignore_params",
            Sequence[str],
            [],
            "Query/form parameters replay ignores, beyond state, nonce and code_challenge (always ignored).",
        )
        loader.add_option(
            "orange_match_headers", Sequence[str], [], "Headers whose values replay also matches."
        )
        loader.add_option("orange_scrub_headers", Sequence[str], [], "More headers to scrub when recording.")
        loader.add_option("orange_scrub_params", Sequence[str], [], "More query/form parameters to scrub.")
        loader.add_option(
            "orange_scrub_json_fields", Sequence[str], [], "More JSON fields (name or path) to scrub."
        )
        loader.add_option(
            "orange_pseudonymise_numbers",
            bool,
            False,
            "Replace phone numbers in recordings by consistent +990 pseudonyms, and KYC personal data by "
            "pseudonyms of the same shape (for cassettes shared outside a team; replay them with the "
            "pseudonymous numbers).",
        )

    def configure(self, updated: set[str]) -> None:
        check_choices(
            updated,
            {"orange_record_mode": RecordMode, "orange_miss": MissPolicy, "orange_exhausted": Exhausted},
        )
        if not updated & TAPE_OPTIONS:
            return
        if ctx.options.orange_mode == Mode.SYNTH:
            self.tape = None
            return
        if not ctx.options.orange_cassette:
            raise exceptions.OptionsError(say(f"{ctx.options.orange_mode} mode needs orange_cassette"))
        options = ctx.options
        # Absolute from here on: every line that names the cassette (start, summary, files written, the
        # exit status) names the file wherever the reader's shell is, as the ready line names the CA.
        path = os.path.abspath(os.path.expanduser(options.orange_cassette))
        if options.orange_mode == Mode.REPLAY and os.path.isfile(path) and os.path.getsize(path) == 0:
            raise exceptions.OptionsError(
                say(f"{os.path.abspath(path)} is empty: there is nothing to replay; record it first")
            )
        if options.orange_mode == Mode.REPLAY and not os.path.exists(path):
            # Replaying nothing would answer 502 to every request: refuse before listening.
            raise exceptions.OptionsError(
                say(
                    f"no cassette at {os.path.abspath(path)} to replay; record it first with "
                    f"`orange-proxy record --cassette {options.orange_cassette}`, or check the path"
                )
            )
        try:
            self.tape = Tape(
                path,
                MatchConfig(
                    ignore_json_fields=frozenset(options.orange_ignore_json_fields),
                    match_headers=tuple(h.lower() for h in options.orange_match_headers),
                    ignore_params=MatchConfig().ignore_params | frozenset(options.orange_ignore_params),
                ),
                ScrubConfig(
                    headers=frozenset(h.lower() for h in options.orange_scrub_headers),
                    query_params=frozenset(options.orange_scrub_params),
                    json_fields=frozenset(options.orange_scrub_json_fields),
                    pseudonymise_numbers=options.orange_pseudonymise_numbers,
                ),
                options.orange_exhausted,
            )
        except CassetteError as exc:
            raise exceptions.OptionsError(say(str(exc))) from None
        log.info(
            "cassette %s (%d interactions%s)",
            self.tape.path,
            self.tape.replayable,
            "" if self.tape.existed else ", new",
        )

    def running(self) -> None:
        # Said once at start: `once` on an existing cassette records nothing, which surprises people.
        if self.tape is not None and ctx.options.orange_mode == Mode.RECORD:
            log.info("%s", record_mode_meaning(ctx.options.orange_record_mode, self.tape.existed))


def record_mode_meaning(record_mode: str, existed: bool) -> str:
    """What `record_mode` does with this cassette, in a sentence for the start of a record run."""
    if record_mode == RecordMode.ONCE and existed:
        return (
            "record mode once: the cassette exists, so nothing is recorded: requests are replayed from it "
            "and one it cannot answer misses (see --miss). To record, use --record-mode new_episodes "
            "(keep these, record the rest) or --record-mode all (forward and record everything), or "
            "delete the file"
        )
    if record_mode == RecordMode.ONCE:
        return "record mode once: the cassette is new: every exchange is forwarded and recorded"
    if record_mode == RecordMode.NEW_EPISODES:
        return (
            "record mode new_episodes: requests the cassette answers are replayed; the rest are forwarded "
            "and recorded, appended to it"
        )
    if record_mode == RecordMode.ALL:
        return "record mode all: every request is forwarded and recorded" + (
            ", appended after the interactions already there (which are not replayed)" if existed else ""
        )
    if not existed:
        return "record mode none: replay only, and the cassette does not exist: every request misses"
    return "record mode none: replay only: nothing is forwarded or recorded; a request the cassette " + (
        "cannot answer misses (see --miss)"
    )
