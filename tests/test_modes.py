"""Answer sources per mode, record mode and miss policy."""

import pytest

from proxy_addons.pipeline.modes import sources


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"mode": "synth"}, ("synth",)),
        ({"mode": "synth", "unknown_path": True}, ("synth",)),
        ({"mode": "synth", "unknown_path": True, "forward_unknown": True}, ("passthrough",)),
        ({"mode": "replay"}, ("cassette", "miss")),
        ({"mode": "replay", "miss": "synth"}, ("cassette", "synth")),
        ({"mode": "replay", "miss": "passthrough"}, ("cassette", "passthrough")),
        # A cassette that may not be written to stays unwritten whatever the miss policy.
        ({"mode": "record", "record_mode": "none", "miss": "passthrough"}, ("cassette", "passthrough")),
        (
            {"mode": "record", "record_mode": "once", "cassette_existed": True, "miss": "passthrough"},
            ("cassette", "passthrough"),
        ),
        ({"mode": "record", "record_mode": "all", "cassette_existed": True}, ("upstream",)),
        ({"mode": "record", "record_mode": "once", "cassette_existed": False}, ("upstream",)),
        ({"mode": "record", "record_mode": "once", "cassette_existed": True}, ("cassette", "miss")),
        (
            {"mode": "record", "record_mode": "once", "cassette_existed": True, "miss": "synth"},
            ("cassette", "synth"),
        ),
        (
            {"mode": "record", "record_mode": "new_episodes", "cassette_existed": True},
            ("cassette", "upstream"),
        ),
        ({"mode": "record", "record_mode": "none"}, ("cassette", "miss")),
    ],
)
def test_sources(kwargs, expected):
    assert sources(**kwargs) == expected
