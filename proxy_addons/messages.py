"""The one prefix of every message the proxy prints for people (CLI errors, option errors, logs)."""

from __future__ import annotations

PREFIX = "orange-proxy: "


def say(text: str) -> str:
    """`text` with the prefix, said once however many layers pass the message on."""
    return text if text.startswith(PREFIX) else PREFIX + text


def unsaid(text: str) -> str:
    """`text` without the prefix, to be embedded in a longer message."""
    return text.removeprefix(PREFIX)
