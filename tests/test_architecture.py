"""The shape of the code, checked: no import cycles (TYPE_CHECKING and function-level imports
included), API knowledge only in `apis/`, and the enumerated options declared with their choices."""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from mitmproxy import optmanager
from mitmproxy.test import taddons
from mitmproxy.version import VERSION as MITMPROXY_VERSION

from proxy_addons.config.choices import Exhausted, MissPolicy, Mode, Profile, RecordMode, values

PACKAGE = Path(__file__).resolve().parent.parent / "proxy_addons"
ENUMERATED = {
    "orange_mode": Mode,
    "orange_profile": Profile,
    "orange_record_mode": RecordMode,
    "orange_miss": MissPolicy,
    "orange_exhausted": Exhausted,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """The modules of ours that `name` imports, wherever in the file (TYPE_CHECKING blocks too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; `from module import name` the module.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_finds_the_package_and_its_imports():
    assert len(MODULES) > 30
    assert "proxy_addons.simulator.engine" in GRAPH["proxy_addons.addons.core"]
    assert "proxy_addons.simulator.apis.base" in GRAPH["proxy_addons.simulator.apis.oauth"]


def test_the_cycle_finder_finds_a_cycle_through_type_checking_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_ours_takes_part_in_an_import_cycle():
    assert cycles(GRAPH) == []


def test_api_modules_do_not_import_the_engine_or_mitmproxy():
    for name, path in MODULES.items():
        if name.startswith("proxy_addons.simulator.apis"):
            assert "proxy_addons.simulator.engine" not in GRAPH[name], name
            assert "mitmproxy" not in path.read_text(encoding="utf-8"), name


def test_no_isinstance_check_on_an_api_outside_apis():
    from proxy_addons.simulator.apis import ALL_APIS, GATEWAY

    api_classes = {type(api).__name__ for api in (*ALL_APIS, GATEWAY)} | {"Api", "BearerApi"}
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("proxy_addons.simulator.apis"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                classes = node.args[1] if len(node.args) > 1 else None
                named = {n.id for n in ast.walk(classes) if isinstance(n, ast.Name)} if classes else set()
                if named & api_classes:
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def unwrapped(text: str) -> str:
    """mitmproxy's option help, as one line: it wraps it into `# ` comment lines."""
    return " ".join(" ".join(line.lstrip("# ") for line in text.splitlines()).split())


def dumped_options() -> str:
    """mitmproxy's `--options` output with our addons loaded."""
    from proxy_addons.addons import default_addons

    async def main() -> str:
        with taddons.context(*default_addons()) as tctx:
            out = StringIO()
            optmanager.dump_defaults(tctx.options, out)
            return out.getvalue()

    return asyncio.run(main())


def test_every_enumerated_option_declares_its_choices():
    from proxy_addons.addons import default_addons

    async def main() -> dict[str, object]:
        with taddons.context(*default_addons()) as tctx:
            return {name: tctx.options._options[name].choices for name in ENUMERATED}

    declared = asyncio.run(main())
    assert declared == {name: values(choice) for name, choice in ENUMERATED.items()}
    text = unwrapped(dumped_options())
    assert "Valid values are 'synth', 'record', 'replay'." in text
    assert "Valid values are 'once', 'new_episodes', 'all', 'none'." in text


@pytest.mark.skipif(
    int(MITMPROXY_VERSION.split(".")[0]) < 12,
    reason="mitmproxy 11 prints --options before it loads -s scripts (12 loads them first)",
)
def test_mitmdump_options_with_the_addon_script_shows_the_valid_values(tmp_path):
    script = subprocess.run(
        [sys.executable, "-m", "proxy_addons", "addon-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    mitmdump = Path(sys.executable).parent / "mitmdump"
    result = subprocess.run(
        [str(mitmdump), "-s", script, "--options", "--set", f"confdir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for name, choice in ENUMERATED.items():
        block = result.stdout.partition(f"\n{name}:")[0].rpartition("\n\n")[2]
        assert "Valid values are " + ", ".join(repr(v) for v in values(choice)) in unwrapped(block), name


def test_the_documented_vcrpy_helper_import_still_works():
    from proxy_addons import vcr
    from proxy_addons.integrations import vcr as integration

    assert vcr.orange_vcr is integration.orange_vcr


def test_the_readme_layout_names_every_module():
    """README's "Code layout" is how the team finds its way: a module it does not name is lost."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    layout = readme.split("## Code layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\b(\w+\.py)\b", layout))
    modules = {p.name for p in (root / "proxy_addons").rglob("*.py") if p.name != "__main__.py"}
    missing = sorted(modules - named - {"__init__.py"})
    assert not missing, f"README's Code layout does not name: {missing}"
