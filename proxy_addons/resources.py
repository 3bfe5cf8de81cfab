"""Where the shipped data files are: the JSON Schemas and the default rules."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def schemas_dir() -> Path:
    """The JSON Schemas: `proxy_addons/schema_files/` once installed (pyproject maps the repository's
    `schemas/` there), or `schemas/` beside the package when the source tree is imported directly."""
    installed = PACKAGE / "schema_files"
    return installed if installed.is_dir() else PACKAGE.parent / "schemas"


def default_rules_path() -> Path:
    return PACKAGE / "data" / "default-rules.yaml"


def playground_numbers_path() -> Path:
    return PACKAGE / "data" / "playground-numbers.yaml"


def control_page_path() -> Path:
    return PACKAGE / "data" / "control.html"


def cassette_test_key_path() -> Path:
    """The published RSA test key cassettes' id_tokens are signed with (see scrubbing/idtokens.py)."""
    return PACKAGE / "data" / "cassette-test-key.pem"
