"""Cassettes are parsed by libyaml where PyYAML has it, with PyYAML's own verdicts: the same data,
the same messages for a broken file, the same refusal of YAML nested too deeply."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from proxy_addons.cassettes import serializer
from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.model import CassetteError

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "cassettes").glob("*.yaml"))
needs_libyaml = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_the_samples_parse_as_pyyaml_parses_them(path):
    raw = path.read_bytes()
    assert serializer.parse(raw) == yaml.load(raw, Loader=yaml.SafeLoader)


def test_a_broken_file_gets_pyyaml_s_own_message_on_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("interactions: [\n")
    with pytest.raises(yaml.MarkedYAMLError) as pyyaml:
        yaml.load(path.read_bytes(), Loader=yaml.SafeLoader)
    with pytest.raises(CassetteError) as caught:
        Cassette.load(path)
    error, mark = pyyaml.value, pyyaml.value.problem_mark
    # FILE:LINE:COLUMN, as compilers say it; PyYAML's words (libyaml's lack the place).
    assert str(caught.value) == (
        f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {error.problem} "
        f"({error.context} at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
    )
    assert "\n" not in str(caught.value)


@needs_libyaml
def test_nesting_pyyaml_cannot_read_is_refused_though_libyaml_reads_it(tmp_path):
    deep = "[" * 600 + "]" * 600
    text = f"interactions: []\norange_proxy: {{note: {deep}}}\nversion: 1\n"
    assert yaml.load(text, Loader=yaml.CSafeLoader)["orange_proxy"]["note"]
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError, match="YAML nested too deeply"):
        Cassette.load(path)


@needs_libyaml
def test_what_only_pyyaml_reads_is_read(tmp_path):
    path = tmp_path / "surrogate.yaml"
    path.write_text('interactions: []\norange_proxy: {note: "\\ud800"}\nversion: 1\n')
    with pytest.raises(yaml.YAMLError):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)  # libyaml refuses the lone surrogate
    assert Cassette.load(path).meta == {"note": "\ud800"}


def test_shared_aliases_are_not_expanded(tmp_path):
    # 2**60 leaves if every alias were walked as a copy; PyYAML itself shares them.
    lines = ["interactions: []", "orange_proxy:", "  a0: &a0 [1, 1]"]
    lines += [f"  a{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, 60)]
    path = tmp_path / "aliases.yaml"
    path.write_text("\n".join([*lines, "version: 1", ""]))
    meta = Cassette.load(path).meta
    assert meta["a59"][0] is meta["a58"] and meta["a1"][1] is meta["a0"]
