"""pytest plugin (registered through the `pytest11` entry point): the `orange_vcr` fixture.

    def test_login(orange_vcr):
        with orange_vcr.use_cassette("login.yaml"):
            ...

Cassettes are looked up in `cassettes/` beside the test module. Override the `orange_vcr_config`
fixture to change that or any other `vcr.VCR` option (`match` and `scrub` take our config objects).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def orange_vcr_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"cassette_library_dir": str(Path(request.path).parent / "cassettes")}


@pytest.fixture
def orange_vcr(orange_vcr_config: dict[str, Any]):
    """A vcr.VCR that matches and scrubs as orange-proxy does (replay only, unless record_mode says so)."""
    from proxy_addons.integrations.vcr import orange_vcr as make

    return make(**orange_vcr_config)
