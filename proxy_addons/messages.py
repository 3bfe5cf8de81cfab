"""The one prefix of every message the proxy prints for people (CLI errors, option errors, logs)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

PREFIX = "orange-proxy: "


def say(text: str) -> str:
    """`text` with the prefix, said once however many layers pass the message on."""
    return text if text.startswith(PREFIX) else PREFIX + text


def unsaid(text: str) -> str:
    """`text` without the prefix, to be embedded in a longer message."""
    return text.removeprefix(PREFIX)


class _Prefixed(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return (say(msg) if isinstance(msg, str) else msg), kwargs


def logger(name: str) -> logging.LoggerAdapter:
    """A module's logger whose messages carry the prefix (mitmproxy's console shows every addon's
    log lines together; ours say whose they are)."""
    return _Prefixed(logging.getLogger(name), {})
