"""The mitmproxy addons, one per pipeline stage, in pipeline order.

    Intercept (classify, or pass through) → [faults] → answer source (Synthesiser | …)
        → [recorder] → [event log]

They share one :class:`Core`, which owns the options every stage needs and the engine built from them.
"""

from __future__ import annotations

from proxy_addons.addons.core import Core
from proxy_addons.addons.intercept import Intercept
from proxy_addons.addons.synthesiser import Synthesiser


def default_addons() -> list[object]:
    """A fresh, wired set of addons for one mitmproxy master."""
    core = Core()
    return [core, Intercept(core), Synthesiser(core)]


__all__ = ["Core", "Intercept", "Synthesiser", "default_addons"]
