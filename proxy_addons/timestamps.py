"""Date-times as the APIs print them, and the relative ones ("now-3d") data files may use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_RELATIVE = re.compile(r"now(?:-(\d{1,9})([smhd]))?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rfc3339(timestamp: float) -> str:
    """UTC with milliseconds, as CAMARA recommends: 2024-01-05T14:28:46.699Z."""
    # Rounded to the millisecond: a time computed back from an age (now - age) must print as given.
    millis = round(timestamp * 1000)
    moment = datetime.fromtimestamp(millis // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def is_relative(text: str) -> bool:
    return _RELATIVE.fullmatch(text) is not None


def resolve_times(data: Any, now: float) -> Any:
    """A copy of `data` with every relative date-time ("now", "now-3d") made absolute."""
    if isinstance(data, dict):
        return {key: resolve_times(value, now) for key, value in data.items()}
    if isinstance(data, list):
        return [resolve_times(value, now) for value in data]
    if isinstance(data, str):
        match = _RELATIVE.fullmatch(data)
        if match:
            amount, unit = match.groups()
            return rfc3339(now - (int(amount) * _UNITS[unit] if amount else 0))
    return data
