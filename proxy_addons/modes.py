"""Which answer sources a classified request tries, in order. A mode chooses only this; faults,
recording and logging behave the same whatever it is.

Sources: "cassette" (replay), "synth" (the engine), "upstream" (the real host; recorded in record
mode), "passthrough" (the real host, never recorded), "miss" (the replayer's answer explaining a miss).
"""

from __future__ import annotations

MODES = ("synth", "record", "replay")
RECORD_MODES = ("once", "new_episodes", "all", "none")  # as vcrpy names them
MISS_POLICIES = ("error", "passthrough", "synth")

_AFTER_MISS = {"error": "miss", "passthrough": "passthrough", "synth": "synth"}


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
    if mode == "synth":
        return ("passthrough",) if unknown_path and forward_unknown else ("synth",)
    replay_only = ("cassette", _AFTER_MISS[miss])
    if mode == "replay":
        return replay_only
    if record_mode == "all" or (record_mode == "once" and not cassette_existed):
        return ("upstream",)
    if record_mode == "new_episodes":
        return ("cassette", "upstream")
    return replay_only
