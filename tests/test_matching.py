"""Tests for proxy_addons.cassettes.matching: canonical request keys, the replay index, near misses."""

from __future__ import annotations

import json

import pytest

from proxy_addons.cassettes import matching
from proxy_addons.cassettes.matching import (
    FIELDS,
    Difference,
    Index,
    MatchConfig,
    NearMiss,
    RequestKey,
    request_key,
)
from proxy_addons.cassettes.model import Request

BASE = "https://api.orange.com/camara/playground/api/number-verification/v1/verify"
JSON = {"Content-Type": ["application/json"]}
FORM = {"Content-Type": ["application/x-www-form-urlencoded"]}


def req(
    uri: str = BASE,
    body: bytes | str | None = None,
    headers: dict[str, list[str]] | None = None,
    method: str = "POST",
) -> Request:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Request(method, uri, dict(headers or {}), data)


def same(a: Request, b: Request, config: MatchConfig = matching.DEFAULT_CONFIG) -> bool:
    return request_key(a, config) == request_key(b, config)


# Keys: URI ---------------------------------------------------------------------------------------


def test_key_has_one_attribute_per_field_and_is_hashable() -> None:
    key = request_key(req())
    assert tuple(f for f in RequestKey.__dataclass_fields__) == FIELDS
    assert hash(key) == hash(request_key(req()))


def test_key_canonical_values() -> None:
    key = request_key(req("HTTPS://API.Orange.COM/a/b?z=1&a=2&a=1", method="post"))
    assert (key.method, key.scheme, key.host, key.port, key.path) == (
        "POST",
        "https",
        "api.orange.com",
        443,
        "/a/b",
    )
    assert key.query == (("a", "1"), ("a", "2"), ("z", "1"))
    assert key.body == b"" and key.headers == ()


def test_method_case_insensitive_but_compared() -> None:
    assert same(req(method="get"), req(method="GET"))
    assert not same(req(method="GET"), req(method="POST"))


def test_host_case_insensitive() -> None:
    assert same(req("https://API.ORANGE.com/x"), req("https://api.orange.com/x"))
    assert not same(req("https://api.orange.com/x"), req("https://api.orange.fr/x"))


def test_default_ports_inferred() -> None:
    assert same(req("https://api.orange.com:443/x"), req("https://api.orange.com/x"))
    assert same(req("http://api.orange.com:80/x"), req("http://api.orange.com/x"))
    assert not same(req("https://api.orange.com:8443/x"), req("https://api.orange.com/x"))
    # The scheme is compared too, even when the port is spelled out to be the same.
    assert not same(req("http://api.orange.com:443/x"), req("https://api.orange.com/x"))
    assert request_key(req("http://localhost/x")).port == 80


def test_path_exact_except_empty() -> None:
    assert same(req("https://api.orange.com"), req("https://api.orange.com/"))
    assert request_key(req("https://api.orange.com?a=1")).path == "/"
    assert not same(req("https://api.orange.com/x"), req("https://api.orange.com/x/"))
    assert not same(req("https://api.orange.com/X"), req("https://api.orange.com/x"))


def test_query_order_insensitive() -> None:
    assert same(req(BASE + "?a=1&b=2&c=3"), req(BASE + "?c=3&a=1&b=2"))
    assert not same(req(BASE + "?a=1&b=2"), req(BASE + "?a=1&b=3"))
    assert not same(req(BASE + "?a=1"), req(BASE))


def test_query_repeated_params_kept() -> None:
    assert same(req(BASE + "?a=1&a=2"), req(BASE + "?a=2&a=1"))
    assert not same(req(BASE + "?a=1&a=1"), req(BASE + "?a=1"))
    assert not same(req(BASE + "?a=1&a=2"), req(BASE + "?a=1&a=3"))


def test_query_percent_encoding_normalised() -> None:
    assert same(req(BASE + "?q=a%20b&r=%2B33"), req(BASE + "?r=%2b33&q=a+b"))
    # Distinct invalid UTF-8 escapes must stay distinct (not both replaced by U+FFFD).
    assert not same(req(BASE + "?q=%ff"), req(BASE + "?q=%fe"))


def test_fragment_ignored() -> None:
    assert same(req(BASE + "#top"), req(BASE))


# Keys: bodies ------------------------------------------------------------------------------------


def test_json_canonical_key_order_and_whitespace() -> None:
    a = req(body='{"device": {"phoneNumber": "+33699901031", "ipv4Address": {"publicAddress": "1.2.3.4"}}}')
    b = req(
        body='{\n  "device":{"ipv4Address":{ "publicAddress":"1.2.3.4"},\n "phoneNumber":"+33699901031"}\n}'
    )
    assert same(a, b)
    key = request_key(a)
    assert key.body == '{"device":{"ipv4Address":{"publicAddress":"1.2.3.4"},"phoneNumber":"+33699901031"}}'


def test_json_values_still_compared() -> None:
    assert not same(req(body='{"a": 1}'), req(body='{"a": 2}'))
    assert not same(req(body='{"a": 1}'), req(body='{"a": 1.0}'))
    assert not same(req(body='{"a": true}'), req(body='{"a": 1}'))
    assert not same(req(body="[1, 2]"), req(body="[2, 1]"))  # array order matters
    assert not same(req(body='{"a": 1}'), req(body='{"a": 1, "b": null}'))


def test_json_sniffed_without_content_type_and_detected_by_any_json_type() -> None:
    assert same(req(body='{"a":1,"b":2}'), req(body='{ "b": 2, "a": 1 }', headers=JSON))
    problem = {"content-type": ["Application/Problem+JSON; charset=utf-8"]}
    assert request_key(req(body='{ "a": 1 }', headers=problem)).body == '{"a":1}'


def test_json_non_ascii_and_escapes_equal() -> None:
    assert same(req(body='{"city": "Montr\\u00e9al"}'), req(body='{"city": "Montréal"}'))


def test_ignore_json_fields_bare_name_at_any_depth() -> None:
    config = MatchConfig(ignore_json_fields=frozenset({"requestId"}))
    a = req(body='{"requestId": "1", "device": {"requestId": "x", "id": 1}, "list": [{"requestId": 5}]}')
    b = req(body='{"requestId": "2", "device": {"id": 1}, "list": [{}]}')
    assert same(a, b, config)
    assert not same(a, b)
    assert not same(req(body='{"requestId": 1, "id": 1}'), req(body='{"requestId": 1, "id": 2}'), config)


def test_ignore_json_fields_dotted_path_only() -> None:
    config = MatchConfig(ignore_json_fields=frozenset({"device.ipv4Address"}))
    a = req(body='{"device": {"ipv4Address": "1.1.1.1", "phoneNumber": "+33"}, "ipv4Address": "9"}')
    b = req(body='{"device": {"ipv4Address": "2.2.2.2", "phoneNumber": "+33"}, "ipv4Address": "9"}')
    assert same(a, b, config)
    # The same name elsewhere is still compared.
    c = req(body='{"device": {"ipv4Address": "1.1.1.1", "phoneNumber": "+33"}, "ipv4Address": "8"}')
    assert not same(a, c, config)
    # A missing intermediate or a non-object at the path is harmless.
    assert request_key(req(body='{"device": 5}'), config).body == '{"device":5}'
    assert request_key(req(body='{"other": {}}'), config).body == '{"other":{}}'


def test_ignore_json_fields_dotted_path_through_arrays() -> None:
    config = MatchConfig(ignore_json_fields=frozenset({"devices.id"}))
    a = req(body='{"devices": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]}')
    b = req(body='{"devices": [{"id": 7, "n": "a"}, {"id": 8, "n": "b"}]}')
    assert same(a, b, config)


def test_ignore_json_fields_not_applied_to_form_bodies() -> None:
    config = MatchConfig(ignore_json_fields=frozenset({"scope"}))
    assert not same(req(body="scope=1", headers=FORM), req(body="scope=2", headers=FORM), config)


def test_oauth_values_made_up_per_run_are_ignored_by_default() -> None:
    base = (
        "https://api.orange.com/openidconnect/playground/v1.0/authorize?client_id=a&login_hint=tel%3A%2B990"
    )
    assert same(req(uri=base + "&state=one&nonce=1&code_challenge=x"), req(uri=base + "&state=two&nonce=2"))
    assert not same(req(uri=base + "&scope=openid"), req(uri=base + "&scope=other"))
    assert same(req(body="code=c&state=1", headers=FORM), req(body="code=c&state=2", headers=FORM))


def test_more_params_can_be_ignored_and_defaults_switched_off() -> None:
    extra = MatchConfig(ignore_params=MatchConfig().ignore_params | {"ts"})
    assert same(req(uri="https://h/p?ts=1&a=b"), req(uri="https://h/p?a=b&ts=2"), extra)
    strict = MatchConfig(ignore_params=frozenset())
    assert not same(req(uri="https://h/p?state=1"), req(uri="https://h/p?state=2"), strict)


def test_form_bodies_sorted_pairs() -> None:
    a = req(body="grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fx", headers=FORM)
    b = req(body="redirect_uri=https://x&code=abc&grant_type=authorization_code", headers=FORM)
    assert same(a, b)
    assert not same(
        a, req(body="grant_type=authorization_code&code=abd&redirect_uri=https://x", headers=FORM)
    )
    assert same(req(body="a=1&a=2", headers=FORM), req(body="a=2&a=1", headers=FORM))
    assert not same(req(body="a=1&a=1", headers=FORM), req(body="a=1", headers=FORM))
    assert same(req(body="q=a+b", headers=FORM), req(body="q=a%20b", headers=FORM))


def test_form_content_type_wins_over_json_sniffing() -> None:
    # "true" parses as JSON, but the content type says it is a form with one blank parameter.
    assert request_key(req(body="true", headers=FORM)).body == "true="


def test_form_without_form_content_type_is_raw() -> None:
    assert not same(req(body="a=1&b=2"), req(body="b=2&a=1"))


def test_raw_bodies_compared_byte_for_byte() -> None:
    assert same(req(body=b"hello world"), req(body=b"hello world"))
    assert not same(req(body=b"hello world"), req(body=b"hello  world"))
    assert request_key(req(body=b"hello")).body == b"hello"


def test_none_and_empty_body_are_the_same() -> None:
    assert same(req(body=None), req(body=b""))
    assert same(req(body=None, headers=JSON), req(body=b"", headers=FORM))
    assert not same(req(body=None), req(body=b" "))


def test_invalid_json_with_json_content_type_falls_back_to_raw() -> None:
    key = request_key(req(body=b'{"a": 1', headers=JSON))
    assert key.body == b'{"a": 1'
    assert not same(req(body=b'{"a": 1', headers=JSON), req(body=b'{"a":1', headers=JSON))
    assert same(req(body=b'{"a": 1', headers=JSON), req(body=b'{"a": 1', headers=JSON))


@pytest.mark.parametrize(
    "body",
    [
        bytes(range(256)),  # binary
        b"\xff\xfe{}",  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the recursion limit
        b"1" * 10_000,  # an integer beyond Python's int-from-str limit
        b"\xef\xbb\xbf{}",  # a BOM
    ],
    ids=["binary", "not-utf8", "deep", "huge-int", "bom"],
)
def test_odd_bodies_never_raise(body: bytes) -> None:
    for headers in (JSON, FORM, {}):
        key = request_key(req(body=body, headers=headers))
        hash(key)
        assert key == request_key(req(body=body, headers=headers))


def test_odd_uris_never_raise() -> None:
    for uri in (
        "https://api.orange.com",
        "/relative?x=1",
        "",
        "http://[::1/x",
        "https://h:notaport/x",
        "h:99999",
    ):
        hash(request_key(req(uri)))
    assert request_key(req("https://h:notaport/x")) != request_key(req("https://h:notaport2/x"))
    assert request_key(req("http://[::1]:8080/x")).host == "::1"


# Keys: headers -----------------------------------------------------------------------------------


def test_headers_ignored_by_default_including_authorization() -> None:
    a = req(headers={"Authorization": ["Bearer one"], "X-Correlator": ["1"], "User-Agent": ["a"]})
    b = req(headers={"Authorization": ["Bearer two"], "User-Agent": ["b"]})
    assert same(a, b)


def test_match_headers_compared_case_insensitively() -> None:
    config = MatchConfig(match_headers=("x-api-version",))
    a = req(headers={"X-API-Version": ["2"], "Authorization": ["Bearer a"]})
    b = req(headers={"x-api-version": ["2"], "Authorization": ["Bearer b"]})
    assert same(a, b, config)
    assert not same(a, req(headers={"x-api-version": ["3"]}), config)
    assert not same(a, req(), config)  # missing = empty list
    assert same(req(), req(headers={"X-Other": ["1"]}), config)
    assert request_key(a, config).headers == (("x-api-version", ("2",)),)


def test_match_headers_compare_value_lists() -> None:
    config = MatchConfig(match_headers=("accept",))
    assert not same(req(headers={"Accept": ["a", "b"]}), req(headers={"Accept": ["a"]}), config)
    assert not same(req(headers={"Accept": ["a", "b"]}), req(headers={"Accept": ["b", "a"]}), config)
    # One header stored under two spellings counts as one list.
    assert same(req(headers={"Accept": ["a"], "ACCEPT": ["b"]}), req(headers={"accept": ["a", "b"]}), config)


def test_match_authorization_when_asked() -> None:
    config = MatchConfig(match_headers=("authorization",))
    assert not same(
        req(headers={"Authorization": ["Bearer a"]}), req(headers={"Authorization": ["Bearer b"]}), config
    )


# Index -------------------------------------------------------------------------------------------


def test_positions_in_recorded_order_for_identical_requests() -> None:
    recorded = [
        req(body='{"a": 1}'),
        req(body='{"a": 2}'),
        req(body='{ "a" : 1 }'),
        req(BASE + "?x=1"),
        req(body='{"a":1}'),
    ]
    index = Index(recorded)
    assert index.positions(req(body='{"a":1}')) == (0, 2, 4)
    assert index.positions(req(body='{"a": 2}')) == (1,)
    assert index.positions(req(body='{"a": 3}')) == ()
    assert index.positions(req(BASE + "?x=1", body=b"")) == (3,)


def test_index_uses_its_config() -> None:
    config = MatchConfig(ignore_json_fields=frozenset({"ts"}), match_headers=("x-v",))
    index = Index([req(body='{"ts": 1, "a": 1}', headers={"X-V": ["1"]})], config)
    assert index.positions(req(body='{"ts": 2, "a": 1}', headers={"x-v": ["1"]})) == (0,)
    assert index.positions(req(body='{"ts": 2, "a": 1}', headers={"x-v": ["2"]})) == ()


def test_add_appends_and_returns_position() -> None:
    index = Index([req(body="one")])
    assert index.positions(req(body="two")) == ()
    assert index.add(req(body="two")) == 1
    assert index.add(req(body="one")) == 2
    assert index.positions(req(body="two")) == (1,)
    assert index.positions(req(body="one")) == (0, 2)
    empty = Index([])
    assert empty.add(req()) == 0
    assert empty.positions(req()) == (0,)


def test_positions_computes_one_key_per_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = matching.request_key

    def counting(request: Request, config: MatchConfig = matching.DEFAULT_CONFIG) -> RequestKey:
        calls.append(request.uri)
        return real(request, config)

    monkeypatch.setattr(matching, "request_key", counting)
    recorded = [req(f"{BASE}?n={n}", body=json.dumps({"n": n, "pad": "x" * 50})) for n in range(2000)]
    index = Index(recorded)
    assert len(calls) == 2000  # each recorded request keyed once, at load
    calls.clear()
    assert index.positions(req(f"{BASE}?n=1234", body=json.dumps({"pad": "x" * 50, "n": 1234}))) == (1234,)
    assert calls == [f"{BASE}?n=1234"]  # the incoming request only
    calls.clear()
    assert index.positions(req(f"{BASE}?n=5000")) == ()
    assert len(calls) == 1
    calls.clear()
    index.nearest(req(f"{BASE}?n=5000"))  # a miss may scan, but over precomputed keys
    assert len(calls) == 1


def test_positions_does_not_touch_recorded_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    index = Index([req(f"{BASE}?n={n}", body=json.dumps({"n": n})) for n in range(2000)])
    parses: list[object] = []
    real = json.loads

    def counting(*args: object, **kwargs: object) -> object:
        parses.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    assert index.positions(req(f"{BASE}?n=7", body='{"n": 7}')) == (7,)
    assert parses == [b'{"n": 7}']


# Near misses -------------------------------------------------------------------------------------


def test_nearest_empty_index() -> None:
    assert Index([]).nearest(req()) is None


def test_nearest_picks_fewest_differences_and_names_fields() -> None:
    recorded = [
        req("https://other.example/x", body='{"a": 1}', method="GET"),
        req(BASE + "?page=1", body='{"device": {"phoneNumber": "+33699901031"}}'),
        req(BASE + "?page=2", body='{"device": {"phoneNumber": "+33699901099"}}'),
    ]
    miss = Index(recorded).nearest(req(BASE + "?page=2", body='{"device": {"phoneNumber": "+33699901032"}}'))
    assert miss is not None
    assert miss.position == 2
    assert [d.field for d in miss.differences] == ["body"]
    (body,) = miss.differences
    assert body.path == "device.phoneNumber"
    assert (body.recorded, body.received) == ('"+33699901099"', '"+33699901032"')
    assert 'body.device.phoneNumber: recorded "+33699901099" received "+33699901032"' in miss.summary()
    assert miss.summary().startswith("nearest recorded request #3 differs in ")


def test_nearest_reports_several_fields_in_field_order() -> None:
    index = Index([req("https://api.orange.com/a?x=1", method="GET")])
    miss = index.nearest(req("http://api.orange.com:8080/a?x=2", method="GET"))
    assert miss is not None
    assert [d.field for d in miss.differences] == ["scheme", "port", "query"]
    assert miss.differences[1] == Difference("port", "443", "8080")
    assert miss.differences[2] == Difference("query", "x=1", "x=2")
    assert all(d.field in FIELDS for d in miss.differences)


def test_nearest_tie_prefers_same_method_and_path_then_earliest() -> None:
    recorded = [
        req("https://api.orange.com/other", method="POST", body="z"),  # differs in path only
        req("https://api.orange.com/a", method="POST", body="x"),  # differs in body only
        req("https://api.orange.com/a", method="POST", body="y"),  # differs in body only, later
    ]
    miss = Index(recorded).nearest(req("https://api.orange.com/a", method="POST", body="z"))
    assert miss is not None and miss.position == 1
    assert miss.differences == (Difference("body", "x", "z"),)
    # With no same-route candidate, the earliest of the tied ones wins.
    tied = [req("https://api.orange.com/other"), req("https://api.orange.com/b")]
    miss = Index(tied).nearest(req("https://api.orange.com/c"))
    assert miss is not None and miss.position == 0
    assert miss.differences == (Difference("path", "/other", "/c"),)


def test_nearest_fewer_differences_beat_same_route() -> None:
    recorded = [
        req("https://api.orange.com/a", method="POST", body="x", headers={"X-V": ["1"]}),
        req("https://api.orange.com/b", method="POST", body="z", headers={"X-V": ["2"]}),
    ]
    config = MatchConfig(match_headers=("x-v",))
    miss = Index(recorded, config).nearest(req("https://api.orange.com/a", body="z", headers={"x-v": ["2"]}))
    assert miss is not None and miss.position == 1
    assert miss.differences == (Difference("path", "/b", "/a"),)


def test_nearest_json_missing_and_extra_keys_and_arrays() -> None:
    index = Index([req(body='{"a": 1, "b": {"c": [1, 2, 3]}}')])
    miss = index.nearest(req(body='{"a": 1, "b": {"c": [1, 2]}}'))
    assert miss is not None
    assert miss.differences == (Difference("body", "3", "(absent)", "b.c[2]"),)
    miss = index.nearest(req(body='{"a": 1, "b": {"c": [1, 2, 3]}, "d": null}'))
    assert miss is not None
    assert miss.differences == (Difference("body", "(absent)", "null", "d"),)
    miss = index.nearest(req(body='{"a": true, "b": {"c": [1, 2, 3]}}'))
    assert miss is not None
    assert miss.differences == (Difference("body", "1", "true", "a"),)
    odd = Index([req(body='{"a b": {"x": 1}}')]).nearest(req(body='{"a b": {"x": 2}}'))
    assert odd is not None and odd.differences[0].path == '["a b"].x'


def test_nearest_body_whole_when_no_json_path() -> None:
    index = Index([req(body='{"a": 1}')])
    miss = index.nearest(req(body="[1]"))
    assert miss is not None
    assert miss.differences == (Difference("body", '{"a":1}', "[1]"),)
    miss = index.nearest(req())
    assert miss is not None
    assert miss.differences == (Difference("body", '{"a":1}', "(no body)"),)
    miss = index.nearest(req(body=b"\x00\xff"))
    assert miss is not None
    assert miss.differences[0].received == "(2 bytes) b'\\x00\\xff'"


def test_nearest_form_bodies_shown_canonically() -> None:
    index = Index([req(body="b=2&a=1", headers=FORM)])
    miss = index.nearest(req(body="a=1&b=3", headers=FORM))
    assert miss is not None
    assert miss.differences == (Difference("body", "a=1&b=2", "a=1&b=3"),)


def test_nearest_long_values_truncated_and_one_line() -> None:
    big = {"items": ["x" * 500]}
    index = Index([req(body=json.dumps(big))])
    miss = index.nearest(req(body=json.dumps({"items": ["y" * 500]})))
    assert miss is not None
    (body,) = miss.differences
    assert body.path == "items[0]"
    assert len(body.recorded) <= 120 and body.recorded.endswith("...")
    miss = Index([req(body=b"line1\nline2\r\n")]).nearest(req(body=b"other"))
    assert miss is not None
    assert miss.differences[0].recorded == "line1\\nline2\\r\\n"
    assert "\n" not in miss.summary()


def test_nearest_headers_show_only_differing_ones() -> None:
    config = MatchConfig(match_headers=("accept", "x-v"))
    index = Index([req(headers={"Accept": ["application/json"], "X-V": ["1"]})], config)
    miss = index.nearest(req(headers={"Accept": ["application/json"]}))
    assert miss is not None
    assert miss.differences == (Difference("headers", "x-v: 1", "x-v: (absent)"),)


def test_nearest_identical_when_asked_on_a_hit() -> None:
    miss = Index([req()]).nearest(req())
    assert miss == NearMiss(0, ())
    assert "identical" in miss.summary()


def test_summary_joins_differences() -> None:
    miss = NearMiss(3, (Difference("method", "GET", "POST"), Difference("body", "1", "2", "a.b")))
    assert miss.summary() == (
        "nearest recorded request #4 differs in method: recorded GET received POST; "
        "body.a.b: recorded 1 received 2"
    )
