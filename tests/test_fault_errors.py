"""Mistakes in faults and rules get messages in the user's words with the name most likely meant
("did you mean"), as flags and commands do: through the real `orange-proxy` command, the control API
and files (which keep file:line:col and the field)."""

from __future__ import annotations

import pytest
from test_cli import run

CONTROL = "http://orange-proxy.test/api"
KINDS = "token_expired, subscription_revoked, location_outdated, service_unavailable, invalid_input, "


def refused(tmp_path, *args: str) -> str:
    """The start-up error of `orange-proxy synth ARGS` (it must exit with status 2, no traceback)."""
    result = run("synth", "--listen-port", "0", "--confdir", str(tmp_path / "conf"), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr


# The messages, the same from every door ------------------------------------------------------------

SPECS = [
    ("token_expird", "unknown fault 'token_expird'; did you mean token_expired? (the kinds: " + KINDS),
    ("latency:msec=5", "latency has no parameter 'msec'; did you mean ms? (its parameters: ms, "),
    ("latency:ms=fast", "'fast' is not a number of milliseconds"),
    ("service_unavailable:seconds=5", "service_unavailable has no parameter 'seconds'; only hang takes it"),
    ("hang:api=sim-swp", "api 'sim-swp' is not one of device-reachability-status, "),
    ("reset:times=0", "times: 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize(("spec", "message"), SPECS)
def test_fault_flag_errors_say_what_was_meant(tmp_path, spec, message):
    stderr = refused(tmp_path, "--fault", spec)
    assert message in stderr, stderr
    assert "..." not in stderr and "was unexpected" not in stderr and "^" not in stderr


def test_every_kind_is_listed_whole(tmp_path):
    stderr = refused(tmp_path, "--fault", "token_expird")
    assert "truncate, malformed)" in stderr, stderr  # the whole list, not cut short


@pytest.fixture(scope="module")
def control(proxy):
    return proxy.session()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fault": "token_expird"}, "unknown fault 'token_expird'; did you mean token_expired?"),
        ({"fault": "latency:msec=5"}, "latency has no parameter 'msec'; did you mean ms?"),
        ({"fault": "latency", "msec": 5}, "latency has no parameter 'msec'; did you mean ms?"),
        ({"fault": "latency", "ms": "5"}, "'5' is not a number of milliseconds"),
        ({"fault": "latency", "ms": "200-800x"}, "'200-800x' is not a number of milliseconds"),
        ({"fault": "hang", "seconds": 5, "api": "simswap"}, "sim-swap; did you mean sim-swap?"),
    ],
)
def test_control_api_errors_say_what_was_meant(control, body, message):
    answer = control.post(CONTROL + "/faults", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert message in error, error
    assert "^" not in error and "was unexpected" not in error  # no regex, no raw schema words


def test_good_faults_still_pass(control):
    for body in (
        {"fault": "latency", "ms": 5, "times": 1},
        {"fault": "latency", "ms": "200-800", "times": 1},
    ):
        answer = control.post(CONTROL + "/faults", json=body)
        assert answer.status_code == 201, answer.text
    assert control.delete(CONTROL + "/faults").status_code in (200, 204)


def test_a_scenario_file_names_line_fault_and_field(tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "faults:\n  - {fault: service_unavailable, times: 1}\n  - {fault: latency, msec: 5}\n"
    )
    stderr = refused(tmp_path, "--faults", str(scenario))
    assert f"{scenario}:3:22:" in stderr, stderr  # at the misspelt key itself
    assert "fault #2, field msec: latency has no parameter 'msec'; did you mean ms?" in stderr, stderr
    scenario.write_text("faults:\n  - fault: token_expird\n")
    stderr = refused(tmp_path, "--faults", str(scenario))
    assert (
        f"{scenario}:2:" in stderr
        and "fault #1, field fault: unknown fault 'token_expird'; did you mean" in stderr
    )


def test_a_rules_key_typo_names_the_rule_field_and_the_key_meant(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "overrides:\n  - name: x\n    match: {api: sim-swap, operaton: check}\n    response: {status: 503}\n"
    )
    stderr = refused(tmp_path, "--rules", str(rules))
    assert f"{rules}:3:28:" in stderr, stderr
    assert (
        "rule 'x', field overrides[0].match.operaton: unknown field 'operaton'; did you mean operation?"
        in stderr
    ), stderr
    rules.write_text('numbers:\n  "+33612345678":\n    locaton: {latitude: 45.7, longitude: 4.8}\n')
    stderr = refused(tmp_path, "--rules", str(rules))
    assert f"{rules}:3:5:" in stderr, stderr
    assert "field numbers.+33612345678.locaton: unknown field 'locaton'; did you mean location?" in stderr
    assert "Additional properties" not in stderr


def test_a_rules_value_typo_gets_the_choice_meant(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "overrides:\n  - name: y\n    match: {api: sim-swp, operation: check}\n    response: {status: 503}\n"
    )
    stderr = refused(tmp_path, "--rules", str(rules))
    assert "rule 'y', field overrides[0].match.api: 'sim-swp' is not one of " in stderr, stderr
    assert "did you mean sim-swap?" in stderr, stderr


def test_an_operation_typo_is_refused_not_a_fault_that_never_fires(tmp_path):
    stderr = refused(tmp_path, "--fault", "reset:api=location-verification,operation=verfy")
    assert (
        "location-verification has no operation 'verfy'; did you mean verify? (its operations: verify)"
        in stderr
    )


def test_every_schema_key_is_a_common_key_or_one_kinds_own():
    """The keys of schemas/faults.schema.json and the kinds' parameters the messages list agree."""
    from proxy_addons.config.faults import COMMON_KEYS, KIND_KEYS
    from proxy_addons.config.schemas import SchemaStore

    fault = SchemaStore().documents["faults"]["$defs"]["Fault"]
    owned = [key for keys in KIND_KEYS.values() for key in keys]
    assert len(owned) == len(set(owned)) and not set(owned) & set(COMMON_KEYS)
    assert set(fault["properties"]) - {"fault"} == set(owned) | set(COMMON_KEYS)
    assert set(KIND_KEYS) <= set(fault["properties"]["fault"]["enum"])
