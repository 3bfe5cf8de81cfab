"""Classification: which API and operation a request is for. Built once from the API modules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from proxy_addons.simulator.apis.base import Api, Operation


@dataclass(frozen=True)
class Route:
    """Where a request goes. `operation` is None for a path of the API that names no operation
    (404) or a method the path does not take (405)."""

    api: Api
    operation: Operation | None

    @cached_property
    def label(self) -> str:
        return f"{self.api.name}/{self.operation.name if self.operation else '-'}"


class Router:
    """Classification, walking the registered APIs' routes: replay, record, `cassette check` and the
    stand-in use it without building the synthesiser."""

    def __init__(self, apis: Iterable[Api], fallback: Api | None = None) -> None:
        self.apis: tuple[Api, ...] = tuple(apis)
        self.fallback = fallback
        self._exact: dict[str, dict[str, tuple[Api, Operation]]] = {}
        self._labels: dict[str, Route] = {}
        prefixes: list[tuple[str, Api]] = []
        for api in (*self.apis, *([fallback] if fallback else [])):
            self._labels[Route(api, None).label] = Route(api, None)
            for operation in api.operations:
                self._exact.setdefault(operation.path, {})[operation.method] = (api, operation)
                self._labels[Route(api, operation).label] = Route(api, operation)
            prefixes.extend((prefix, api) for prefix in api.prefixes)
        # Longest prefix first, so a nested API wins over its parent.
        self._prefixes = sorted(prefixes, key=lambda item: len(item[0]), reverse=True)

    @staticmethod
    def _normal(path: str) -> str:
        return path.rstrip("/") or "/"

    def classify(self, method: str, path: str) -> Route | None:
        """The route for a request; a path no API owns goes to `fallback` (None without one)."""
        by_method = self._exact.get(self._normal(path))
        if by_method:
            # Every GET operation answers HEAD too (RFC 9110 §9.3.2: the same status and headers, no
            # body; the transports send no body to HEAD).
            verb = method.upper()
            hit = by_method.get(verb) or (by_method.get("GET") if verb == "HEAD" else None)
            if hit:
                return Route(*hit)
            api = next(iter(by_method.values()))[0]
            return Route(api, None)
        for prefix, api in self._prefixes:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return Route(api, None)
        return Route(self.fallback, None) if self.fallback else None

    def route(self, label: str) -> Route | None:
        """The route a label names (flow metadata keeps labels: they survive mitmproxy's `-w`)."""
        return self._labels.get(label)

    def methods(self, path: str) -> tuple[str, ...]:
        """The methods a path takes (empty for an unknown path), for 405 and `Allow`: HEAD wherever GET."""
        methods = set(self._exact.get(self._normal(path), {}))
        return tuple(sorted(methods | {"HEAD"} if "GET" in methods else methods))
