"""YAML data files (rules, later faults and scenarios): load, validate against a JSON Schema, and
report problems as `file:line:column: where: what`."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import best_match

from proxy_addons.config.schemas import SchemaStore


class DataFileError(Exception):
    """A data file that cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True)
class DataFile:
    path: str
    data: Any
    root: yaml.Node | None

    def position(self, path: tuple[Any, ...]) -> str:
        """`file:line:col` of the node at `path` (or of its nearest existing parent)."""
        node = self.root
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = child
        if node is None:
            return self.path
        mark = node.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def key_position(self, path: tuple[Any, ...], key: Any) -> str:
        """`file:line:col` of the key `key` of the mapping at `path` (where a misspelt key is)."""
        node = self.root
        for part in path:
            node = _child(node, part)
        if isinstance(node, yaml.MappingNode):
            for name, _ in node.value:
                if isinstance(name, yaml.ScalarNode) and name.value == str(key):
                    return f"{self.path}:{name.start_mark.line + 1}:{name.start_mark.column + 1}"
        return self.position((*path, key))


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def load(path: str | Path) -> DataFile:
    """Parse a YAML file (safe loader), keeping its node tree for error positions."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{name}: cannot be read: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise DataFileError(f"{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise DataFileError(f"{name}: not valid YAML: {exc}") from None
    return DataFile(name, {} if data is None else data, root)


def validate(file: DataFile, store: SchemaStore, schema: str, describe_item=None) -> None:
    """Raise DataFileError for the most relevant schema violation of the file, with its position.

    `describe_item(path)` may name the item a path points into (e.g. "rule 'lab-outage'").
    """
    for path in _non_finite(file.data, ()):
        raise DataFileError(f"{file.position(path)}: field {_field(path)}: not a finite number")
    errors = list(store.validator(schema).iter_errors(file.data))
    if not errors:
        return
    error = best_match(errors)
    while error.context:  # oneOf/anyOf: report the closest alternative's own problem
        error = best_match(error.context)
    path = tuple(error.absolute_path)
    position = file.position(path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # "Additional properties are not allowed": which key, and the one most likely meant.
        known = list(error.schema.get("properties", {}))
        key = next((k for k in error.instance if k not in known), None)
        if key is not None:
            position = file.key_position(path, key)
            path = (*path, key)
            hint = did_you_mean(str(key), known)
            message = f"unknown field {str(key)!r}{hint} (its fields: {', '.join(known)})"
    elif error.validator == "enum" and isinstance(error.instance, str):
        choices = [str(c) for c in error.validator_value]
        hint = did_you_mean(error.instance, choices)
        message = f"{error.instance!r} is not one of {', '.join(choices)}{hint}"
    field = _field(path)
    item = describe_item(path) if describe_item else None
    where = f"{item}, field {field}" if item else (f"field {field}" if field else "top level")
    raise DataFileError(f"{position}: {where}: {message}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean X?` for the choice closest to a misspelt `word` (empty when none is close), as
    the command line suggests for its flags."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _field(path: tuple[Any, ...]) -> str:
    """`overrides[0].response.status` for a JSON path."""
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")


def _non_finite(data: Any, path: tuple[Any, ...]):
    """Paths of NaN and infinite numbers (YAML's .nan/.inf), which range checks cannot catch."""
    if isinstance(data, float) and not math.isfinite(data):
        yield path
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _non_finite(value, (*path, index))
