"""The leak check: secret shapes that survived in a cassette's text (for `orange-proxy cassette
check`). Placeholders and our unsigned JWTs are not leaks.

In a cassette recorded with pseudonyms, KYC values that are not pseudonyms are leaks too. The check
reads only the text, so it knows pseudonyms were asked from what they left: the `pseudonymised`
metadata, a `+990…` pseudonym of ours, or a KYC pseudonym. It cannot tell a KYC place from another
(`name` may be anything elsewhere), so it takes every KYC field name for one: none of the other
APIs' bodies uses those names."""

from __future__ import annotations

import bisect
import json
import re
from urllib.parse import unquote

from proxy_addons.scrubbing.placeholders import b64url_decode, is_placeholder, jwt_claim
from proxy_addons.scrubbing.places import KYC_BY_KEY, KYC_FIELDS
from proxy_addons.scrubbing.pseudonyms import SHAPES, is_pseudonym

_LEAK_AUTH = re.compile(r"\b(Basic|Bearer)[ \t]+([A-Za-z0-9._~+/-]+=*)(?![A-Za-z0-9._~+/=\"-])", re.I)
_LEAK_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_LEAK_OFR = re.compile(r"(?<![A-Za-z0-9])OFR-[A-Za-z0-9._~-]+")
# JSON inside YAML: quotes may be escaped (double-quoted style) and a long line folded at the spaces.
_COLON = r"(?:\s|\\(?=\s))*:(?:\s|\\(?=\s))*"
_LEAK_JSON = re.compile(
    r'\\?"(access_?token|refresh_?token|client_?secret|secret)\\?"' + _COLON + r'\\?"([^"\\\s]+)', re.I
)
# A KYC field's string value; group 1 is the quote before the key (escaped: a double-quoted YAML
# scalar), the value runs to the closing quote, across folded lines.
_LEAK_KYC = re.compile(
    r'(\\?)"(' + "|".join(sorted(KYC_FIELDS)) + r')\\?"' + _COLON + r'\\?"((?:[^"\\]|\\(?!"))*)\\?"', re.I
)
_FOLD = re.compile(r"[ \t]*\\?\n[ \t]*(?:\\(?=[ \t]))?")  # a YAML line fold, read back as one space
_PSEUDONYMISED_META = re.compile(r"^[ \t]*pseudonymised: true[ \t]*$", re.M)
_PHONE_PSEUDONYM = re.compile(r"(?<![0-9])9900[0-9]{8}(?![0-9])")
_LEAK_PARAM = re.compile(
    r"(?<![A-Za-z0-9_.%-])(access_token|refresh_token|client_secret|code)=([^&\s\"'#\\]+)"
)


def _snippet(value: str, keep: int = 12) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def _token_like(value: str) -> bool:
    """Random-looking enough to be a credential rather than a word in an error message."""
    return len(value) >= 20 or (len(value) >= 8 and any(c.isdigit() for c in value))


def _basic_like(value: str) -> bool:
    """Decodes to printable `id:secret`, as Basic credentials do, or looks random anyway."""
    raw = b64url_decode(value.replace("+", "-").replace("/", "_").rstrip("="))
    try:
        decoded = raw.decode("utf-8") if raw else ""
    except UnicodeDecodeError:
        decoded = ""
    return (":" in decoded and decoded.isprintable()) or _token_like(value)


def _kyc_value(raw: str, yaml_escaped: bool) -> str:
    """A KYC value as its JSON body holds it: YAML folds and escapes undone, then JSON's."""
    text = _FOLD.sub(" ", raw)
    if yaml_escaped:
        text = text.replace("\\\\", "\\")
    try:
        value = json.loads(f'"{text}"')
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def _kyc_leaks(text: str) -> list[tuple[int, int, str]]:
    """KYC values that are not pseudonyms, when the text shows pseudonyms were asked; (start, end,
    description). The description does not quote the value: it is someone's personal data."""
    found = []
    evidence = bool(_PSEUDONYMISED_META.search(text) or _PHONE_PSEUDONYM.search(text))
    for match in _LEAK_KYC.finditer(text):
        field = KYC_BY_KEY[match.group(2).lower()]
        value = _kyc_value(match.group(3), bool(match.group(1)))
        if is_pseudonym(value, field):
            shape = SHAPES.get(field)
            evidence = evidence or (shape is not None and shape.distinctive and bool(value.strip()))
        elif not is_placeholder(value):
            found.append((match.start(3), match.end(3), f"KYC {match.group(2)} value that is no pseudonym"))
    return found if evidence else []


def leaks(text: str) -> list[str]:
    """Secret-looking things left in a cassette's text, each a short description with a truncated
    snippet and its line number. Placeholders and our unsigned JWTs are not reported."""
    found: list[tuple[int, int, str]] = []
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def add(start: int, end: int, what: str, value: str | None) -> None:
        line = bisect.bisect_right(line_starts, start)
        shown = "" if value is None else f" {_snippet(value)!r}"
        found.append((start, end, f"line {line}: {what}{shown}"))

    for match in _LEAK_AUTH.finditer(text):
        scheme, value = match.group(1), match.group(2)
        if is_placeholder(value):
            continue
        if _basic_like(value) if scheme.lower() == "basic" else _token_like(value):
            add(match.start(), match.end(), f"Authorization {scheme.capitalize()} value", value)
    for match in _LEAK_JWT.finditer(text):
        if jwt_claim(match.group()) is None:
            add(match.start(), match.end(), "JWT", match.group())
    for match in _LEAK_OFR.finditer(text):
        add(match.start(), match.end(), "Orange authorization code", match.group())
    for match in _LEAK_JSON.finditer(text):
        if not is_placeholder(match.group(2)):
            add(match.start(2), match.end(2), f"JSON {match.group(1)} value", match.group(2))
    for match in _LEAK_PARAM.finditer(text):
        value = unquote(match.group(2))
        if not is_placeholder(value):
            add(match.start(2), match.end(2), f"query/form {match.group(1)} value", match.group(2))
    for start, end, what in _kyc_leaks(text):
        add(start, end, what, None)

    # One report per place: a Bearer JWT is not also reported as a bare JWT.
    reports: list[str] = []
    covered: list[tuple[int, int]] = []
    for start, end, description in sorted(found, key=lambda item: (item[0], -item[1])):
        if any(start < c_end and c_start < end for c_start, c_end in covered):
            continue
        covered.append((start, end))
        reports.append(description)
    return reports
