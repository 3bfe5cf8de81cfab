"""JSON bodies that re-serialise faithfully: a rewritten body keeps its numbers as written (48.80
stays 48.80, a huge integer is no float), its key order and repeated keys, and its layout."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

_FIRST_KEY = re.compile(r'\s*(?:\[\s*)*\{\s*"(?:[^"\\]|\\.)*"\s*:([ \t]*)')
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


@dataclass(frozen=True, slots=True)
class Literal:
    """A JSON number (or NaN/Infinity) kept as its source text."""

    text: str


class Obj(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, keeping key order and repeated keys."""


@dataclass(frozen=True, slots=True)
class Document:
    """A JSON body, parsed: its tree (objects `Obj`, numbers `Literal`), its text without the BOM,
    and whether a UTF-8 BOM came before it."""

    tree: Any
    text: str
    bom: bool = False

    def rewritten(self, tree: Any) -> Document:
        """This document with another tree, laid out as this one is."""
        return Document(tree, _dump(tree, _style(self.text)), self.bom)

    def encoded(self) -> bytes:
        return (codecs.BOM_UTF8 if self.bom else b"") + self.text.encode("utf-8")


def parse(body: bytes) -> Document:
    """`body` as a Document. ValueError when it is not UTF-8 or not JSON; RecursionError when it is
    absurdly deep."""
    bom = body.startswith(codecs.BOM_UTF8)
    text = body[len(codecs.BOM_UTF8) :].decode("utf-8") if bom else body.decode("utf-8")
    tree = json.loads(
        text, parse_float=Literal, parse_int=Literal, parse_constant=Literal, object_pairs_hook=Obj
    )
    return Document(tree, text, bom)


def plain(tree: Any) -> Any:
    """The tree as `json.loads` reads the same text: dicts (the last of repeated keys wins), ints and
    floats. ValueError for an integer too long to convert, as `json.loads` raises."""
    if isinstance(tree, Obj):
        return {key: plain(value) for key, value in tree}
    if isinstance(tree, list):
        return [plain(value) for value in tree]
    if isinstance(tree, Literal):
        text = tree.text
        if text in _CONSTANTS:
            return _CONSTANTS[text]
        return float(text) if "." in text or "e" in text or "E" in text else int(text)
    return tree


# Writing -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    indent: str | None
    item_sep: str
    key_sep: str


def _style(text: str) -> _Style:
    """The layout of the original text, so a rewritten body looks like the recorded one. Our own output
    gives back the same style, so a body rewritten twice (scrubbed, then masked) is laid out alike."""
    lines = text.strip().split("\n")
    if len(lines) > 1:
        indent = re.match(r"[ \t]*", lines[1])
        if indent and indent.group():
            return _Style(indent.group(), ",", ": ")
    first = _FIRST_KEY.match(text)
    if first and not first.group(1):
        return _Style(None, ",", ":")
    return _Style(None, ", ", ": ")


def _dump(value: Any, style: _Style, level: int = 0) -> str:
    if isinstance(value, Obj):
        items = [f"{_string(key)}{style.key_sep}{_dump(item, style, level + 1)}" for key, item in value]
        return _join("{", items, "}", style, level)
    if isinstance(value, list):
        return _join("[", [_dump(item, style, level + 1) for item in value], "]", style, level)
    if isinstance(value, Literal):
        return value.text
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)  # bool, None


def _string(value: str) -> str:
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape: keep it escaped
        return json.dumps(value)
    return dumped


def _join(opening: str, items: list[str], closing: str, style: _Style, level: int) -> str:
    if not items:
        return opening + closing
    if style.indent is None:
        return opening + style.item_sep.join(items) + closing
    inner = "\n" + style.indent * (level + 1)
    return opening + inner + ("," + inner).join(items) + "\n" + style.indent * level + closing
