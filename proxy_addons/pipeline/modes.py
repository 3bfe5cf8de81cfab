"""Which answer sources a classified request tries, in order. A mode chooses only this; faults,
recording and logging behave the same whatever it is.

Sources: "cassette" (replay), "synth" (the engine), "upstream" (the real host; recorded in record
mode), "passthrough" (the real host, never recorded), "miss" (the answer explaining a replay miss).
"""

from __future__ import annotations

from collections.abc import Callable

from proxy_addons.config.choices import MissPolicy, Mode, RecordMode

_AFTER_MISS = {MissPolicy.ERROR: "miss", MissPolicy.PASSTHROUGH: "passthrough", MissPolicy.SYNTH: "synth"}


def sources(
    mode: str,
    record_mode: str = "once",
    cassette_existed: bool = False,
    miss: str = "error",
    unknown_path: bool = False,
    forward_unknown: bool = False,
) -> tuple[str, ...]:
    """The answer sources for one request, first to last.

    - synth: the engine; a path no API owns is forwarded only when `forward_unknown`.
    - replay: the cassette, then the miss policy; nothing reaches the network unless it is passthrough.
    - record: per vcrpy's record modes: `all` always forwards (and records); `new_episodes` replays
      what matches and forwards the rest; `none` replays only; `once` records when the cassette did
      not exist at start, else replays only.
    """
    if mode == Mode.SYNTH:
        return ("passthrough",) if unknown_path and forward_unknown else ("synth",)
    replay_only = ("cassette", _AFTER_MISS[MissPolicy(miss)])
    if mode == Mode.REPLAY:
        return replay_only
    if record_mode == RecordMode.ALL or (record_mode == RecordMode.ONCE and not cassette_existed):
        return ("upstream",)
    if record_mode == RecordMode.NEW_EPISODES:
        return ("cassette", "upstream")
    return replay_only


def planner(
    mode: str, record_mode: str, cassette_existed: bool, miss: str, forward_unknown: bool
) -> Callable[[bool], tuple[str, ...]]:
    """The plan for a request, by whether its path is one no API owns: computed once when options
    change, so a request only picks one of two tuples."""
    known = sources(mode, record_mode, cassette_existed, miss, False, forward_unknown)
    unknown = sources(mode, record_mode, cassette_existed, miss, True, forward_unknown)
    return lambda unknown_path: unknown if unknown_path else known
