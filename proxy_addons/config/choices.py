"""The enumerated settings, declared once. Each feeds argparse `choices`, mitmproxy's `choices=`
(so `--options` and mitmweb's options editor offer the valid values) and the one check in `configure`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class Mode(StrEnum):
    """Where answers come from."""

    SYNTH = "synth"
    RECORD = "record"
    REPLAY = "replay"


class Profile(StrEnum):
    """Error dialect and quirks: as Orange's pages document, or as CAMARA's specs say."""

    ORANGE = "orange"
    CAMARA = "camara"


class RecordMode(StrEnum):
    """As vcrpy names them."""

    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"
    NONE = "none"


class MissPolicy(StrEnum):
    """What answers a request the cassette cannot answer."""

    ERROR = "error"
    PASSTHROUGH = "passthrough"
    SYNTH = "synth"


class Exhausted(StrEnum):
    """What answers once every recorded answer to a request was served."""

    REPEAT = "repeat"
    MISS = "miss"


def values(choice: type[StrEnum]) -> tuple[str, ...]:
    """The valid values, in declaration order (for argparse and mitmproxy)."""
    return tuple(member.value for member in choice)


def parse(choice: type[E], value: str, name: str) -> E:
    """`value` as a member of `choice`; ValueError naming the setting and the valid values otherwise."""
    try:
        return choice(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(values(choice))}, not {value!r}") from None
