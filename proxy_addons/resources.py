"""Where the shipped data files are: the JSON Schemas and the default rules."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def schemas_dir() -> Path:
    """The JSON Schemas: installed as the package `proxy_addons.schema_files`, or `schemas/` in a checkout
    (when the source tree is imported directly, e.g. `python -m pytest` from the repository root)."""
    try:
        installed = resources.files("proxy_addons.schema_files")
        if installed.is_dir() and any(installed.iterdir()):
            return Path(str(installed))
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "schemas"


def default_rules_path() -> Path:
    return Path(str(resources.files("proxy_addons.data") / "default-rules.yaml"))
