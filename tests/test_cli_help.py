"""`--help` of every command: every flag says what it does and its default, every command has examples
(each run through the real parser), and the common mistakes end in one line that says what to do next."""

from __future__ import annotations

import argparse
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_orange_proxy

from proxy_addons import cli
from proxy_addons.config.faults import FaultFactory
from proxy_addons.config.schemas import SchemaStore

ROOT = Path(__file__).resolve().parent.parent
# Argparse's own actions, which need no words of ours.
OWN_ACTIONS = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


run = run_orange_proxy  # the installed command, run to its end


def parsers(parser: argparse.ArgumentParser | None = None) -> Iterator[argparse.ArgumentParser]:
    """The top-level parser and every (sub)command's, found by walking argparse's tree."""
    parser = parser or cli.build_parser()
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


def leaf(parser: argparse.ArgumentParser) -> bool:
    """A command that runs something (not a group of commands like `cassette`)."""
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def test_the_walk_finds_every_command():
    """The walk below must see the commands (else the checks would pass on nothing)."""
    names = {p.prog for p in parsers()}
    for command in ("synth", "record", "replay", "standin", "ca", "addon-path", "cassette check"):
        assert f"orange-proxy {command}" in names


def test_every_flag_of_every_command_says_what_it_does_and_its_default():
    problems = []
    for parser in parsers():
        for action in parser._actions:
            if isinstance(action, OWN_ACTIONS):
                continue
            name = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            words = (action.help or "").strip()
            if len(words) < 15:
                problems.append(f"{name}: no help")
                continue
            if action.option_strings and not re.search(r"\b(default|required|always)\b", words):
                problems.append(f"{name}: does not say its default: {words!r}")
            if action.nargs != 0 and "e.g." not in words and not action.choices:
                problems.append(f"{name}: takes a value but shows no example: {words!r}")
        for action in parser._actions:  # every subcommand listed with a line of its own
            if isinstance(action, argparse._SubParsersAction):
                problems += [
                    f"{parser.prog} {c.dest}: no help" for c in action._choices_actions if not c.help
                ]
    assert not problems, "\n".join(problems)


def example_commands(epilog: str) -> list[str]:
    """The `orange-proxy …` command lines of an epilog's "example(s):" block: continuation lines joined,
    comments dropped, and a command inside `$(…)` or quotes cut out of its shell line."""
    _, found, block = epilog.partition("example")
    if not found:
        return []
    text = re.sub(r"\s*\\\n\s*", " ", block.partition("\n")[2])
    commands = []
    for line in text.splitlines():
        if not line.startswith("  "):
            break  # the block ends at the first line that is not indented
        line = re.split(r"\s#", line, maxsplit=1)[0]
        for match in re.finditer(r"orange-proxy\b[^)|;&<>\"`]*", line):
            commands.append(match.group(0).strip())
    return commands


@pytest.fixture
def lenient_files(monkeypatch):
    """Examples name files that do not exist here: check flags and values, not the files."""
    monkeypatch.setattr(cli, "_readable_file", str)


def test_every_command_has_examples_and_each_parses(lenient_files, capsys):
    faults = FaultFactory(SchemaStore())
    problems = []
    seen: set[str] = set()
    for parser in parsers():
        if not leaf(parser) and parser.prog != "orange-proxy":
            continue
        commands = example_commands(parser.epilog or "")
        if not commands:
            problems.append(f"{parser.prog}: no examples in --help")
        for command in commands:
            argv = shlex.split(command)[1:]
            try:
                args = cli.parse(argv)
            except SystemExit:
                problems.append(f"{parser.prog}: example {command!r}: {capsys.readouterr().err.strip()}")
                continue
            seen.add(f"orange-proxy {cli.with_command(argv)[0]}")
            for spec in getattr(args, "fault", None) or []:
                try:
                    faults.from_spec(spec)
                except Exception as exc:
                    problems.append(f"{parser.prog}: example {command!r}: {exc}")
    assert not problems, "\n".join(problems)
    for command in ("synth", "record", "replay", "standin", "ca", "addon-path", "cassette"):
        assert f"orange-proxy {command}" in seen, f"no example runs orange-proxy {command}"


def test_the_examples_in_flag_help_parse_too(lenient_files, capsys):
    """`e.g. --flag value` in a flag's help is run through the parser, and `--fault`'s specs through the
    fault factory: an example that would not work fails here."""
    faults = FaultFactory(SchemaStore())
    problems, tried = [], 0
    for parser in parsers():
        words = parser.prog.split()[1:]
        needs = ["--cassette", "x.yaml"] if words in (["record"], ["replay"]) else []
        for action in parser._actions:
            for fragment in re.findall(r"e\.g\. (--[a-z-]+(?:[ =][^\s,;)]+)?)", action.help or ""):
                argv = [
                    *words,
                    *shlex.split(fragment.replace("=", " ", 1) if " " not in fragment else fragment),
                ]
                argv += needs if "--cassette" not in fragment else []
                tried += 1
                try:
                    cli.parse(argv)
                except SystemExit:
                    problems.append(
                        f"{parser.prog}: help example {fragment!r}: {capsys.readouterr().err.strip()}"
                    )
            if "--fault" in action.option_strings:
                specs = (action.help or "").split("e.g. ", 1)[1].split(", ")
                for spec in specs:
                    tried += 1
                    try:
                        faults.from_spec(spec)
                    except Exception as exc:
                        problems.append(f"{parser.prog} --fault help example {spec!r}: {exc}")
    assert not problems, "\n".join(problems)
    assert tried > 40  # the examples were found


def test_an_example_with_a_typo_would_fail(lenient_files, capsys):
    """The check above must be able to fail: a mistyped flag in an example does not parse."""
    epilog = "examples:\n  orange-proxy replay --cassette cassettes/login.yaml --alow-misses\n"
    (command,) = example_commands(epilog)
    with pytest.raises(SystemExit):
        cli.parse(shlex.split(command)[1:])
    assert "did you mean --allow-misses?" in capsys.readouterr().err


def test_example_extraction():
    epilog = (
        "examples:\n  CA=$(orange-proxy ca --quiet)\n"
        '  mitmweb -s "$(orange-proxy addon-path)" --set x=1\n'
        "  orange-proxy record --cassette a.yaml \\\n      --upstream-ca b.pem   # see `orange-proxy x`\n"
        "  orange-proxy options > config.yaml\n\nexit status:\n  orange-proxy not-an-example\n"
    )
    assert example_commands(epilog) == [
        "orange-proxy ca --quiet",
        "orange-proxy addon-path",
        "orange-proxy record --cassette a.yaml --upstream-ca b.pem",
        "orange-proxy options",
    ]


@pytest.mark.parametrize("command", [[], ["synth"], ["record"], ["replay"]])
def test_help_of_the_proxy_commands_shows_examples_and_exit_statuses(command, tmp_path):
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "examples:\n  orange-proxy" in result.stdout
    if command:
        assert "exit status" in result.stdout
        assert "(default 8080)" in result.stdout
    if command in (["record"], ["replay"]):
        assert "1  a request missed the cassette" in result.stdout
    if not command:
        assert "With no command, `orange-proxy` is `orange-proxy synth`" in result.stdout


# The common mistakes: exit status 2, one line that says what to do, no traceback ----------------------


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "ready" not in result.stdout  # it never listened
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


MISTAKES = [
    (
        ["replay"],
        [
            "orange-proxy replay: the following arguments are required: --cassette",
            "e.g. --cassette cassettes/login.yaml",
            "`orange-proxy record --cassette cassettes/login.yaml`",
        ],
    ),
    (["record"], ["required: --cassette", "record needs the cassette to write"]),
    (
        ["synth", "--rules", "no-such-rules.yaml"],
        ["argument --rules: no such file: no-such-rules.yaml", "check the path (a relative one starts from"],
    ),
    (
        ["--mode", "revers:https://api.orange.com"],
        ["unknown mode 'revers:https://api.orange.com'", "did you mean reverse?", "regular, transparent"],
    ),
    (["--mode", "reverse"], ["'reverse':", "e.g. --mode reverse:https://api.orange.com"]),
    (["--proxy-mode", "wiregard"], ["unknown mode 'wiregard'", "did you mean wireguard?"]),
    (
        ["synth", "--listen-prot", "0"],
        ["unrecognized arguments: --listen-prot 0", "did you mean --listen-port?"],
    ),
    (
        ["replya", "--cassette", "x.yaml"],
        ["orange-proxy: unrecognized arguments: replya", "did you mean replay?"],
    ),
    (["synth", "--profile", "camera"], ["invalid choice: 'camera'", "did you mean camara?"]),
]


@pytest.mark.parametrize(("args", "expected"), MISTAKES)
def test_a_common_mistake_says_what_to_do_in_one_line(tmp_path, args, expected):
    result = run(*args, "--listen-port", "0", "--confdir", str(tmp_path / "conf"), cwd=tmp_path)
    line = one_line_error(result)
    for words in expected:
        assert words in line, line
    if "relative one" in expected[-1]:
        assert str(tmp_path) in line


def test_a_cassette_that_does_not_exist_says_how_to_make_it(tmp_path):
    args = ["replay", "--cassette", "cassettes/nope.yaml", "--listen-port", "0"]
    line = one_line_error(run(*args, "--confdir", str(tmp_path / "conf"), cwd=tmp_path))
    assert f"no cassette at {tmp_path / 'cassettes' / 'nope.yaml'} to replay" in line  # absolute
    assert "record it first with `orange-proxy record --cassette cassettes/nope.yaml`" in line


def test_a_port_in_use_says_what_to_do(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--listen-port", str(port), "--confdir", str(tmp_path / "conf"), cwd=tmp_path)
    line = one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line
    assert "pick another port with --listen-port PORT (0 picks a free one)" in line


# mitmdump -s with a bad value of ours: it ends before it serves --------------------------------------


@pytest.mark.parametrize("option", ["orange_mode=bogus", "orange_profile=vodafone", "orange_faults=teleport"])
def test_mitmdump_with_a_bad_option_of_ours_exits_before_it_listens(tmp_path, option):
    """mitmproxy's start-up check runs before scripts load and next after the ports are bound; our
    addon ends the process itself, so mitmproxy never says it listens (on Python 3.11 it never binds;
    on 3.12+ mitmproxy binds before it loads any script: README says so)."""
    mitmdump = Path(sys.executable).parent / "mitmdump"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [str(mitmdump), "--listen-host", "127.0.0.1", "-p", str(port), "--set", f"confdir={tmp_path}"]
    argv += ["-s", str(ROOT / "proxy_addons" / "mitm_script.py"), "--set", option]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if "orange-proxy:" in line]) == 1, output
    assert "listening" not in output, output  # mitmproxy logs it once its servers are up


# README shows `standin --self-signed` --------------------------------------------------------------------


def test_readmes_stand_in_example_parses_and_trusts_the_file_it_writes(lenient_files, tmp_path):
    from proxy_addons.integrations.standin import self_signed_certificate

    readme = (ROOT / "README.md").read_text()
    section = readme.split("**The stand-in**", 1)[1].split("\n**", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    standin = next(line for line in lines if line.startswith("orange-proxy standin"))
    args = cli.parse(shlex.split(standin)[1:])
    assert args.command == "standin" and args.self_signed
    # The client trusts the very file --self-signed writes, and talks to the port the stand-in listens on.
    client = shlex.split(next(line for line in lines if line.startswith("curl")))
    cert, _ = self_signed_certificate(tmp_path / args.self_signed)
    assert cert == tmp_path / client[client.index("--cacert") + 1]
    assert any(word.startswith(f"https://127.0.0.1:{args.listen_port}/") for word in client)
