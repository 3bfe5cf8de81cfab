"""The JSON Schemas in `schemas/`, compiled once, and the checks built on them.

A response schema is named ``<api>#<operation>.<status>``; lookup falls back to
``<api>#error.<status>`` and then ``<api>#error.default``, so each API file states only what it knows.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from proxy_addons.model import parse_datetime
from proxy_addons.resources import schemas_dir

BASE_URI = "https://orange-camara-proxy.test/schemas/"
MESSAGE_LIMIT = 160


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # In JSON Schema (ECMA-262) `$` ends the string; Python's `$` also matches before a final "\n",
    # which would let "+33699901031\n" pass as a phone number.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator, pattern: str, instance: Any, schema: dict) -> Any:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with ECMA-262 end anchors.
Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})

# jsonschema checks "date-time" only with an extra package; without a check, "2026-02-30T25:61:00Z"
# would pass and break the code that reads it.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(instance: Any) -> bool:
    if isinstance(instance, str):
        parse_datetime(instance)
    return True


def describe(error: ValidationError) -> str:
    """`area.radius: 100 is less than the minimum of 2000`, the path first. For a value that fits
    none of several alternatives (oneOf/anyOf), the closest alternative's own problem."""
    while error.context:
        error = best_match(error.context)
    path = ".".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > MESSAGE_LIMIT:  # jsonschema quotes the whole offending value
        message = message[: MESSAGE_LIMIT - 3] + "..."
    return f"{path}: {message}" if path else message


# A response definition `<operation>.<status>` (or `.default`) in an API's schema file names one of
# its operations; `error.<status>` definitions are the API's error bodies.
_RESPONSE_DEF = re.compile(r"([a-z0-9][a-z0-9-]*)\.([1-5][0-9]{2}|default)")
APIS_DOCUMENT = "apis"  # generated: the API names and operations the schema files define


def operations_of(document: dict[str, Any]) -> tuple[str, ...]:
    """The operations an API's schema file answers for, in the order it defines them."""
    found = (_RESPONSE_DEF.fullmatch(name) for name in document.get("$defs", {}))
    return tuple(dict.fromkeys(m.group(1) for m in found if m and m.group(1) != "error"))


def apis_document(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`apis.schema.json`, made from the other files: `ApiName` (every schema file with operations)
    and `Operations` (for a mapping with `api`, the operations that API has). Rules and fault files
    refer to it, so adding an API takes its module and its schema file, and no edit elsewhere."""
    apis = {name: ops for name, document in documents.items() if (ops := operations_of(document))}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_URI + APIS_DOCUMENT + ".schema.json",
        "$defs": {
            "ApiName": {"enum": list(apis)},
            "Operations": {
                "allOf": [
                    {
                        "if": {"required": ["api"], "properties": {"api": {"const": name}}},
                        "then": {"properties": {"operation": {"enum": list(ops)}}},
                    }
                    for name, ops in apis.items()
                ]
            },
        },
    }


class SchemaStore:
    """Every `*.schema.json` file of a directory, with validators compiled on first use and cached."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or schemas_dir()
        self.documents: dict[str, dict[str, Any]] = {}
        for path in sorted(self.directory.glob("*.schema.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            self.documents[path.name.removesuffix(".schema.json")] = document
        if not self.documents:
            raise FileNotFoundError(f"no *.schema.json files in {self.directory}")
        self.documents[APIS_DOCUMENT] = apis_document(self.documents)
        resources = [
            (BASE_URI + name + ".schema.json", Resource.from_contents(document))
            for name, document in self.documents.items()
        ]
        self.registry: Registry = Registry().with_resources(resources)
        self._validators: dict[str, Draft202012Validator] = {}
        self._codes: dict[tuple[str, int], tuple[str, ...]] = {}

    def resolve(self, ref: str) -> str:
        """The `$defs` entry a response ref lands on, after the fallbacks (KeyError if none)."""
        doc_name, _, def_name = ref.partition("#")
        defs = self.documents[doc_name].get("$defs", {})
        if def_name in defs:
            return f"{doc_name}#{def_name}"
        _, _, status = def_name.rpartition(".")
        for candidate in (f"error.{status}", "error.default"):
            if candidate in defs:
                return f"{doc_name}#{candidate}"
        raise KeyError(f"no schema for {ref}")

    def validator(self, ref: str) -> Draft202012Validator:
        resolved = self.resolve(ref)
        validator = self._validators.get(resolved)
        if validator is None:
            doc_name, _, def_name = resolved.partition("#")
            schema = {"$ref": f"{BASE_URI}{doc_name}.schema.json#/$defs/{def_name}"}
            validator = Validator(schema, registry=self.registry, format_checker=FORMATS)
            self._validators[resolved] = validator
        return validator

    def errors(self, ref: str, instance: Any) -> list[str]:
        """Every problem of `instance` against the schema `ref`, most relevant first."""
        found = list(self.validator(ref).iter_errors(instance))
        if not found:
            return []
        first = best_match(found)
        rest = [e for e in found if e is not first]
        return [describe(first)] + [describe(e) for e in rest]

    def first_error(self, ref: str, instance: Any) -> str | None:
        found = self.errors(ref, instance)
        return found[0] if found else None

    def error_codes(self, api: str, status: int) -> tuple[str, ...]:
        """The `code` values an API's error body for `status` may carry (empty: any), in the order
        its schema lists them: an injected status fault picks one the API really uses."""
        key = (api, status)
        if key not in self._codes:
            try:
                resolved = self.resolve(f"{api}#error.{status}")
            except KeyError:
                self._codes[key] = ()
            else:
                doc_name, _, def_name = resolved.partition("#")
                found: list[str] = []
                self._collect_codes(self.documents[doc_name]["$defs"][def_name], doc_name, found, set())
                self._codes[key] = tuple(dict.fromkeys(found))
        return self._codes[key]

    def _collect_codes(self, node: Any, doc_name: str, found: list[str], seen: set[str]) -> None:
        if isinstance(node, list):
            for item in node:
                self._collect_codes(item, doc_name, found, seen)
            return
        if not isinstance(node, dict):
            return
        code = node.get("properties", {}).get("code") if isinstance(node.get("properties"), dict) else None
        if isinstance(code, dict):
            if isinstance(code.get("const"), str):
                found.append(code["const"])
            found.extend(c for c in code.get("enum", ()) if isinstance(c, str))
        for keyword in ("allOf", "oneOf", "anyOf"):
            self._collect_codes(node.get(keyword, []), doc_name, found, seen)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            target_doc, _, pointer = ref.partition("#")
            target_doc = target_doc.removesuffix(".schema.json") or doc_name
            target = self.documents.get(target_doc, {})
            for part in pointer.strip("/").split("/") if pointer else ():
                target = target.get(part, {}) if isinstance(target, dict) else {}
            self._collect_codes(target, target_doc, found, seen)

    def check_response(self, ref: str, status: int, data: Any) -> list[str]:
        """Problems of a response body: its schema, and an error body's `status` matching the HTTP status."""
        problems = self.errors(ref, data)
        if isinstance(data, dict) and isinstance(data.get("status"), int) and data["status"] != status:
            problems.append(f"status: {data['status']} does not match the HTTP status {status}")
        return problems


@cache
def default_store() -> SchemaStore:
    """The shipped schemas, loaded once per process."""
    return SchemaStore()
