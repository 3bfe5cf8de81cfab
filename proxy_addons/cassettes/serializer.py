"""vcrpy's YAML cassette format (version 1): file text ↔ interactions.

What vcrpy needs is kept exactly: `request` has only `method`, `uri`, `body`, `headers`; header
values are lists; `response` has `status: {code, message}`, `headers`, `body: {string}`; UTF-8
bodies are text, others `!!binary`. Our metadata sits where vcrpy never looks: the top-level key
`orange_proxy` and, per interaction, the key `orange_proxy` beside `request` and `response`.

Loaded data is checked before it becomes interactions: what we replay goes on the wire.
"""

from __future__ import annotations

import functools
import gc
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import yaml

from proxy_addons.cassettes.model import (
    CassetteError,
    Headers,
    Interaction,
    Request,
    Response,
    identity_encoded,
)

FORMAT_VERSION = 1
META_KEY = "orange_proxy"
# libyaml's emitter and parser when PyYAML has them, as vcrpy uses them: several times faster, and
# a cassette is saved after each recorded exchange and loaded before every replay.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Deeper than any cassette, and well within what PyYAML's own (recursive) parser reads.
_PLAUSIBLE_DEPTH = 100


# Reading -----------------------------------------------------------------------------------------

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _collector_paused(function: Callable[_P, _T]) -> Callable[_P, _T]:
    """`function`, run with Python's cyclic garbage collector paused. A load builds hundreds of
    thousands of lists and dicts, none of them garbage, and the collector would scan them again and
    again: more than half of a load's time. What it has to do afterwards, it does once."""

    @functools.wraps(function)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


@_collector_paused
def parse(raw: bytes) -> Any:
    """The YAML document in `raw`, as PyYAML's SafeLoader reads it, errors included.

    libyaml reads it when it can. Where libyaml refuses the document (its messages carry no snippet,
    and it refuses some escapes PyYAML reads), or the document nests deeper than a cassette ever
    does or is built of shared aliases (libyaml reads twice as deep as PyYAML, which raises
    RecursionError), PyYAML's own parser reads it again and gives the verdict."""
    if _Loader is not yaml.SafeLoader:
        try:
            data = yaml.load(raw, Loader=_Loader)
        except Exception:  # whatever it is, PyYAML's own parser below gives the answer
            pass
        else:
            if _plain_tree(data, _PLAUSIBLE_DEPTH, len(raw)):
                return data
    return yaml.load(raw, Loader=yaml.SafeLoader)


_CONTAINERS = {dict, list, tuple}  # what SafeLoader builds (tuple: the pairs of !!omap and !!pairs)


def _plain_tree(data: Any, depth: int, size: int) -> bool:
    """Whether `data`'s lists and mappings nest at most `depth` deep and number at most `size` (a
    YAML text of `size` bytes holds fewer, unless aliases share them). Walked level by level, so
    neither Python's stack nor an alias bomb's expansion is at stake."""
    level = [data] if type(data) in _CONTAINERS else []
    seen = 0
    while level:
        seen += len(level)
        depth -= 1
        if depth < 0 or seen > size:
            return False
        below = []
        for value in level:
            children = value.values() if type(value) is dict else value
            below += [child for child in children if type(child) in _CONTAINERS]
        level = below
    return True


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line, where it is first: "LINE:COLUMN: not valid YAML: what is wrong
    (the construct it was in, and where that started)", for "FILE:LINE:COLUMN: ..." messages
    (PyYAML's own text spans five lines, quoting the source with carets)."""
    mark = getattr(exc, "problem_mark", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or mark is None:
        return "not valid YAML: " + " ".join(str(exc).split())
    context = ""
    if exc.context:
        start = exc.context_mark
        at = f" at line {start.line + 1}, column {start.column + 1}" if start is not None else ""
        context = f" ({exc.context}{at})"
    return f"{mark.line + 1}:{mark.column + 1}: not valid YAML: {exc.problem}{context}"


def located(name: object, problem: str) -> str:
    """`name` and a problem: "FILE:LINE:COLUMN: ..." when the problem starts with its position."""
    return f"{name}:{problem}" if _POSITION.match(problem) else f"{name}: {problem}"


_POSITION = re.compile(r"\d+:\d+: ")


def loads(raw: bytes, path: Path) -> tuple[list[Interaction], dict[str, Any]] | None:
    """The interactions and top-level metadata in a cassette file's bytes; None for an empty
    document. Raises CassetteError, naming `path`, for anything that is not a vcrpy cassette."""
    try:
        data = parse(raw)
    except yaml.YAMLError as exc:
        raise CassetteError(located(path, yaml_problem(exc))) from None
    except RecursionError:
        raise CassetteError(f"{path}: not a cassette (YAML nested too deeply)") from None
    return from_data(data, path)


@_collector_paused
def from_data(data: Any, path: Path) -> tuple[list[Interaction], dict[str, Any]] | None:
    """`loads` for a document already parsed."""
    if data is None:
        return None
    if isinstance(data, list):
        raise CassetteError(f"{path}: a pre-1.0 vcrpy cassette (a bare list); re-record it")
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteError(f"{path}: not a vcrpy cassette (no 'interactions' list)")
    interactions = []
    for index, item in enumerate(data["interactions"]):
        try:
            interactions.append(_interaction(item))
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise CassetteError(f"{path}: interaction #{index + 1} is malformed: {exc!r}") from None
    return interactions, _meta(data)


def _meta(data: Mapping[str, Any]) -> dict[str, Any]:
    meta = data.get(META_KEY)
    return meta if isinstance(meta, dict) else {}


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(raw: Any) -> Headers:
    """Header lists, checked: what we replay goes on the wire, and a hand-edited name or value must not
    break the message (or split it into two)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("headers must be a mapping")
    result: Headers = {}
    for key, value in raw.items():
        name = str(key)
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"bad header name {name[:40]!r}")
        # vcrpy writes lists; some writers put a bare string (vcrpy would split it into characters).
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        joined = "".join(values)  # one search per character, not one per value
        if "\r" in joined or "\n" in joined or "\0" in joined:
            raise ValueError(f"header {name} has a line break in its value")
        result[name] = values
    return result


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ValueError(f"a body must be text or binary, not {type(value).__name__}")


def _interaction(item: Mapping[str, Any]) -> Interaction:
    raw_request, raw_response = item["request"], item["response"]
    request = Request(
        method=str(raw_request["method"]).upper(),
        uri=str(raw_request["uri"]),
        headers=_headers(raw_request.get("headers")),
        body=_bytes(raw_request.get("body")),
    )
    status = raw_response["status"]
    code = int(status["code"])
    if not 100 <= code <= 599:
        raise ValueError(f"status {code} is not an HTTP status")
    body = raw_response.get("body") or {}
    response = Response(
        status=code,
        reason=str(status.get("message") or ""),
        headers=_headers(raw_response.get("headers")),
        body=_bytes(body.get("string") if isinstance(body, Mapping) else body) or b"",
    )
    return Interaction(identity_encoded(request), identity_encoded(response), _meta(item))


# Writing -----------------------------------------------------------------------------------------


def dumps(
    interactions: Sequence[Interaction], meta: dict[str, Any], rendered: dict[int, tuple[Interaction, str]]
) -> bytes:
    """The file's bytes: `interactions`, then our metadata, then `version`, as a YAML mapping.

    `rendered` is the cassette's cache of each interaction's YAML: interactions are never modified
    after they are added, so saving after each exchange costs the new one's rendering, not the
    whole cassette's."""
    parts = ["interactions:\n" if interactions else "interactions: []\n"]
    for interaction in interactions:
        cached = rendered.get(id(interaction))
        if cached is None or cached[0] is not interaction:
            cached = (interaction, _dump([_interaction_data(interaction)]))
            rendered[id(interaction)] = cached
        parts.append(cached[1])
    if meta:
        parts.append(_dump({META_KEY: meta}))
    parts.append(f"version: {FORMAT_VERSION}\n")
    return "".join(parts).encode("utf-8")


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=True, width=120)


def _text_or_binary(body: bytes) -> str | bytes:
    """UTF-8 text stays readable; anything else is written as !!binary, as vcrpy does."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _interaction_data(interaction: Interaction) -> dict[str, Any]:
    request, response = interaction.request, interaction.response
    data: dict[str, Any] = {
        "request": {
            "method": request.method,
            "uri": request.uri,
            "body": None if request.body is None else _text_or_binary(request.body),
            "headers": {k: list(v) for k, v in request.headers.items()},
        },
        "response": {
            "status": {"code": response.status, "message": response.reason},
            "headers": {k: list(v) for k, v in response.headers.items()},
            "body": {"string": _text_or_binary(response.body)},
        },
    }
    if interaction.meta:
        data[META_KEY] = interaction.meta
    return data
