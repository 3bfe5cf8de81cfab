"""One place holds each number's data: the client's Admin-defined numbers, then rules numbers (with the
Admin API's EntryData parts), then the predefined +990 profiles. Units over the directory and the rules
loader; the APIs' own tests show the same data through the real proxy."""

from __future__ import annotations

import pytest

from proxy_addons.config.rules import RulesError, load_rules
from proxy_addons.state import ProxyState
from proxy_addons.state.playground import Playground
from proxy_addons.timestamps import rfc3339

NOW = 1_800_000_000.0
DAY = 86400


def state_with(tmp_path, schemas, text: str) -> ProxyState:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    rules = load_rules([str(path)], schemas)
    return ProxyState(rules, clock=lambda: NOW, playground=Playground(lambda: NOW))


RULES = """
numbers:
  "+33611111111":
    simSwap: {latestSimChange: now-3d}
    roaming: {roaming: true, countryCode: 214, countryName: [Spain], lastStatusTime: now-5m}
    kyc: {givenName: Ana, familyName: Lopez}
  "+33622222222":
    location: {latitude: 45.0, longitude: 4.0, accuracy_m: 50, age_seconds: 10}
  "+33633333333": null
"""


def test_rules_numbers_give_parts_and_take_the_rest_from_the_template(tmp_path, schemas):
    state = state_with(tmp_path, schemas, RULES)
    found = state.directory.subscriber("+33611111111", "any-client")
    assert found is not None and found.origin == "rules"
    # Relative times are resolved when read, against the proxy's clock.
    assert found.part("simSwap") == {"latestSimChange": rfc3339(NOW - 3 * DAY)}
    assert found.part("roaming")["countryName"] == ["Spain"]
    assert found.part("kyc") == {"givenName": "Ana", "familyName": "Lopez"}
    template = state.playground.builtins.new_entry(NOW)
    assert found.part("reachability") == template["reachability"]
    assert found.part("deviceSwap") == template["deviceSwap"]
    # A rules number given without a location is where the template puts it (Paris)...
    assert (found.location.latitude, found.location.longitude) == (
        template["location"]["latitude"],
        template["location"]["longitude"],
    )

    located = state.directory.subscriber("+33622222222", None)
    assert (located.location.latitude, located.location.accuracy_m) == (45.0, 50.0)
    # ...and one given as null is known but cannot be located ("keep the number, drop its location").
    unlocated = state.directory.subscriber("+33633333333", None)
    assert unlocated is not None and unlocated.location is None
    assert state.directory.location("+33633333333") is None


def test_admin_numbers_win_for_their_client_only(tmp_path, schemas):
    state = state_with(tmp_path, schemas, RULES)
    entry = state.playground.builtins.new_entry(NOW)
    entry["simSwap"] = {"latestSimChange": rfc3339(NOW - 3600)}
    state.playground.users.create("mine", "+33611111111", entry)
    assert state.directory.subscriber("+33611111111", "mine").origin == "user-defined"
    assert state.directory.subscriber("+33611111111", "mine").part("simSwap") == entry["simSwap"]
    assert state.directory.subscriber("+33611111111", "theirs").part("simSwap") == {
        "latestSimChange": rfc3339(NOW - 3 * DAY)
    }
    # An UPDATE is seen by the next read.
    state.playground.users.update("mine", "+33611111111", {"simSwap": {"latestSimChange": rfc3339(NOW)}})
    assert state.directory.subscriber("+33611111111", "mine").part("simSwap") == {
        "latestSimChange": rfc3339(NOW)
    }


def test_predefined_profiles_and_unknown_numbers(tmp_path, schemas):
    state = state_with(tmp_path, schemas, RULES)
    swapped = state.directory.subscriber("+990100000001", None)
    assert swapped.origin == "predefined"
    assert swapped.part("simSwap") == {"latestSimChange": rfc3339(NOW - 3 * DAY)}
    # Every +990 number is predefined; the template answers for unlisted ones.
    assert state.directory.subscriber("+99077777777", None).part("roaming") == {"roaming": False}
    assert state.directory.subscriber("+33644444445", "mine") is None


def test_a_user_defined_number_missing_a_part_reads_the_templates(tmp_path, schemas):
    state = state_with(tmp_path, schemas, RULES)
    entry = state.playground.builtins.new_entry(NOW)
    del entry["deviceSwap"]  # created before deviceSwap existed, say
    state.playground.users.create("mine", "+33644444444", entry)
    found = state.directory.subscriber("+33644444444", "mine")
    assert found.part("deviceSwap") == state.playground.builtins.new_entry(NOW)["deviceSwap"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            'numbers:\n  "+33611111111":\n    simSwap: {latestSimChange: yesterday}\n',
            "simSwap.latestSimChange",
        ),
        ('numbers:\n  "+33611111111":\n    roaming: {roaming: maybe}\n', "roaming.roaming"),
        ('numbers:\n  "+33611111111":\n    kyc: {gender: X}\n', "kyc.gender"),
        ('numbers:\n  "+33611111111":\n    simswap: {latestSimChange: now}\n', "simswap"),
    ],
)
def test_bad_parts_are_refused_with_file_line_and_field(tmp_path, schemas, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as caught:
        load_rules([str(path)], schemas)
    message = str(caught.value)
    assert f"{path}:" in message
    assert ":3:" in message or ":2:" in message  # the line of the number or of its field
    assert where.split(".")[-1] in message
