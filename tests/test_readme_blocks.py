"""README.md's and docs/*.md's shell blocks, run verbatim as a user types them.

Each markdown file gets a fresh network namespace (its own loopback, so port 8080 and 8443 are free there),
a temporary HOME (so `~/.mitmproxy` is the proxy's default confdir) and a working directory holding a copy of
the repository's `cassettes/`, as if the user ran the commands from the repository root. The blocks then run
in order, as the reader follows the page:

- A shell block (```sh, also bash/shell/zsh) runs as written. Its lines run in bash with `-e -o pipefail`,
  and the variables and functions it defines (`CA=...`) carry over to the next blocks of the same file.
  `curl` fails on an HTTP error answer (`--fail-with-body`), unless the marker
  `<!-- run by tests: HTTP errors expected -->` is right above the block. A comment line `# → TEXT` in a
  block is an expectation: TEXT must appear in what the block printed.
- A line that starts a long-running proxy (`orange-proxy` synth/record/replay/standin, `mitmdump`,
  `mitmweb`) runs in the background until its ready line, then the block goes on. It stays up until a
  later line starts another one in its place, or until the section it was started in ends (the next heading
  of the same or a higher level: one started under a page's `#` title runs for the whole page). Then it is
  stopped with SIGINT (Ctrl-C) and must exit with status 0.
- Whenever no proxy of the page's own is running, `orange-proxy` is, as README's "Set-up" leaves it
  (synthesising on 127.0.0.1:8080).
- `<!-- not run by tests: REASON -->` right above a block skips it; the reason must be given.
- `<!-- file: NAME -->` right above any block saves its text as NAME in the working directory before the
  page's commands run (the reader's rules file, a scenario file the commands use).

A failing command fails the test with the block's text, its output and the background proxies' output.
Every shell block of the files is accounted for: run, or skipped with a stated reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from netns import unavailable

ROOT = Path(__file__).resolve().parent.parent
SHELL_INFO = {"sh", "bash", "shell", "zsh"}
MARKER = re.compile(r"^\s*<!--\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
READY = re.compile(r"\bready: |proxy listening at ")
EXPECT = re.compile(r"^\s*# → (.+?)\s*$")
BASE_COMMAND = "orange-proxy"
READY_TIMEOUT = 30.0
BLOCK_TIMEOUT = 60.0
# Shell variables that are bash's own, not the reader's: never carried from one block to the next.
BASH_OWN = (
    r"^(BASH|BASHOPTS|BASHPID|BASH_.*|EUID|PPID|UID|SHELLOPTS|FUNCNAME|GROUPS|DIRSTACK|PIPESTATUS|_|RANDOM|"
    r"SRANDOM|SECONDS|LINENO|EPOCHREALTIME|EPOCHSECONDS|HISTCMD|SHLVL|PWD|OLDPWD|OPTIND|OPTERR|OPTARG|"
    r"COMP_WORDBREAKS|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|IFS|PS4|COLUMNS|LINES|__.*)$"
)


@dataclass
class Block:
    """One fenced block of a markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    info: str
    text: str
    markers: list[str] = field(default_factory=list)
    headings_before: list[int] = field(default_factory=list)  # levels of the headings since the last block
    level: int = 0  # level of the heading it is under (0: none)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.info in SHELL_INFO

    def marker(self, prefix: str) -> str | None:
        """The text after `prefix` of the first marker starting with it, or None."""
        for m in self.markers:
            if m.startswith(prefix):
                return m[len(prefix) :].strip()
        return None


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block, with the HTML comment markers right above it (blank lines allowed between)."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    headings: list[int] = []
    level = 0
    pending: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            indent, ticks, info = fence.groups()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(ticks[0] * len(ticks)):
                raw = lines[j]
                body.append(raw[len(indent) :] if raw.startswith(indent) else raw.lstrip())
                j += 1
            blocks.append(Block(path, i + 1, info.lower(), "\n".join(body) + "\n", pending, headings, level))
            pending, headings = [], []
            i = j + 1
            continue
        marker = MARKER.match(line)
        if marker:
            pending = [*pending, marker.group(1)]
        elif line.strip():
            pending = []
            heading = re.match(r"^(#{1,6})\s", line)
            if heading:
                level = len(heading.group(1))
                headings = [*headings, level]
        i += 1
    return blocks


def logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined, as the shell reads them."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            current += raw[:-1]  # the shell drops backslash-newline
            continue
        out.append(current + raw)
        current = ""
    if current:
        out.append(current)
    return out


def starts_proxy(line: str) -> str | None:
    """The slot a line's long-running server takes ("proxy" or "standin"), or None for an ordinary line."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return None
    if {"&&", "||", ";", "|", "&"} & set(words):
        return None  # `orange-proxy --rules bad.yaml || echo $?` is meant to end: an ordinary line
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]  # VAR=value prefixes
    if not words:
        return None
    if words[0] in ("mitmdump", "mitmweb"):
        return None if {"--help", "-h", "--version", "--options"} & set(words) else "proxy"
    if words[0] != "orange-proxy" or {"--help", "-h", "--version"} & set(words):
        return None
    command = words[1] if len(words) > 1 and not words[1].startswith("-") else "synth"
    if command == "standin":
        return "standin"
    return "proxy" if command in ("synth", "record", "replay") else None


def segments(text: str) -> list[tuple[str | None, str]]:
    """The block cut into (slot, line) for long-running lines and (None, script) for runs of other lines."""
    out: list[tuple[str | None, str]] = []
    script: list[str] = []
    for line in logical_lines(text):
        slot = starts_proxy(line)
        if slot is None:
            script.append(line)
            continue
        if script:
            out.append((None, "\n".join(script) + "\n"))
            script = []
        out.append((slot, line))
    if any(s.strip() and not s.lstrip().startswith("#") for s in script):
        out.append((None, "\n".join(script) + "\n"))
    return out


class BlockFailed(AssertionError):
    pass


@functools.cache
def netns_available() -> str | None:
    """None if this process can create network namespaces (tried once), else why not."""
    return unavailable()


@dataclass
class Background:
    line: str
    process: subprocess.Popen
    log: Path
    block: Block | None  # None: the base proxy

    @property
    def level(self) -> int:
        return self.block.level if self.block else 0


class Reader:
    """Follows one markdown file: a namespace, a HOME, a working directory, a shell state, its proxies."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.work = tmp / "work"
        self.state = tmp / "state.sh"
        self.logs = tmp / "logs"
        for d in (self.home, self.work, self.logs):
            d.mkdir(parents=True)
        shutil.copytree(ROOT / "cassettes", self.work / "cassettes")
        self.state.write_text(f"cd {shlex.quote(str(self.work))}\n")
        self.ns = f"orange-docs-{uuid.uuid4().hex[:10]}"
        self.slots: dict[str, Background] = {}
        self.counter = 0
        bindir = Path(sys.executable).parent
        self.env = {
            "HOME": str(self.home),
            "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "VIRTUAL_ENV": str(bindir.parent),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "PYTHONUNBUFFERED": "1",  # mitmdump prints its listening line to a pipe at once
            "TMPDIR": str(tmp),
        }

    # -- the namespace
    def __enter__(self) -> Reader:
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        for slot in list(self.slots):
            self.stop(slot, check=False)
        # Anything a block left running in the namespace (ours only: the namespace is new).
        pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def _popen(self, script: str, log: Path) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "bash", "--noprofile", "--norc", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.work,
            start_new_session=True,
        )

    # -- long-running proxies
    def start(self, slot: str, line: str, block: Block | None) -> None:
        if slot in self.slots:
            self.stop(slot)
        self.counter += 1
        log = self.logs / f"{self.counter:03d}-{slot}.log"
        # `exec`, so that the proxy itself gets SIGTERM and its exit status is what we read.
        script = f". {shlex.quote(str(self.state))}\nexec {line}\n"
        bg = Background(line, self._popen(script, log), log, block)
        self.slots[slot] = bg
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            output = log.read_text(errors="replace")
            if READY.search(output):
                time.sleep(0.3)  # mitmdump prints its listening line before it gives up on a startup error
                if bg.process.poll() is None:
                    return
            if bg.process.poll() is not None:
                del self.slots[slot]
                what = f"{line!r} exited with status {bg.process.returncode}"
                raise BlockFailed(self.report(block, what, [bg]))
            time.sleep(0.05)
        raise BlockFailed(self.report(block, f"{line!r} printed no ready line in {READY_TIMEOUT:.0f} s"))

    def stop(self, slot: str, check: bool = True) -> None:
        bg = self.slots.pop(slot)
        if bg.process.poll() is None:
            os.killpg(bg.process.pid, signal.SIGINT)  # Ctrl-C, as the reader stops it
            try:
                bg.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(bg.process.pid, signal.SIGKILL)
                bg.process.wait()
        if check and bg.process.returncode != 0:
            raise BlockFailed(
                self.report(
                    bg.block,
                    f"{bg.line!r} exited with status {bg.process.returncode} when stopped with SIGINT",
                    [bg],
                )
            )

    def ensure_base(self) -> None:
        """README's Set-up leaves `orange-proxy` running: have it up whenever the page runs no proxy."""
        if "proxy" not in self.slots:
            self.start("proxy", BASE_COMMAND, None)

    def end_section(self, level: int = 1) -> None:
        """A heading of `level`: the page's proxies started under a heading as deep or deeper stop."""
        for slot, bg in list(self.slots.items()):
            if bg.block is not None and bg.level >= level:  # the page's own; the base proxy stays
                self.stop(slot)

    # -- ordinary lines
    def run_script(self, block: Block, script: str) -> str:
        self.counter += 1
        log = self.logs / f"{self.counter:03d}-block.log"
        errors_ok = block.marker("run by tests: HTTP errors expected") is not None
        curl = "" if errors_ok else 'curl() { command curl --fail-with-body "$@"; }\n'
        save = (
            "__save() { local s=$?; {"
            f" declare -p $(compgen -v | grep -Ev {shlex.quote(BASH_OWN)}) 2>/dev/null"
            " | grep -Ev '^declare -[a-zA-Z]*r';"
            " declare -f | sed '/^curl ()/,/^}/d';"
            ' printf "cd %q\\n" "$PWD"; }'
            f" > {shlex.quote(str(self.state))}.new"
            f" && mv {shlex.quote(str(self.state))}.new {shlex.quote(str(self.state))}; return $s; }}\n"
        )
        wrapper = (
            f". {shlex.quote(str(self.state))}\n{save}{curl}trap __save EXIT\nset -e -o pipefail\n{script}"
        )
        process = self._popen(wrapper, log)
        try:
            process.wait(timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise BlockFailed(
                self.report(block, f"did not finish in {BLOCK_TIMEOUT:.0f} s", out=log)
            ) from None
        output = log.read_text(errors="replace")
        if process.returncode != 0:
            raise BlockFailed(self.report(block, f"exited with status {process.returncode}", out=log))
        for expected in (m.group(1) for line in script.splitlines() if (m := EXPECT.match(line))):
            if expected not in output:
                raise BlockFailed(self.report(block, f"the output lacks the expected {expected!r}", out=log))
        return output

    def report(
        self, block: Block | None, what: str, extra: list[Background] = (), out: Path | None = None
    ) -> str:
        parts = [f"{block.where if block else 'the base proxy'}: {what}"]
        if block is not None:
            parts.append("--- the block:\n" + block.text)
        if out is not None:
            parts.append("--- its output:\n" + out.read_text(errors="replace")[-6000:])
        for bg in [*extra, *self.slots.values()]:
            parts.append(f"--- output of {bg.line!r}:\n" + bg.log.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    # -- a whole file
    def follow(self, blocks: list[Block]) -> list[str]:
        """Run the file's blocks in order; the list of what was done with each (for the test's report)."""
        done: list[str] = []
        for block in blocks:
            saved_as = block.marker("file:")
            if saved_as:
                (self.work / saved_as).parent.mkdir(parents=True, exist_ok=True)
                (self.work / saved_as).write_text(block.text, encoding="utf-8")
                done.append(f"{block.where}: saved as {saved_as}")
        for block in blocks:
            for level in block.headings_before:
                self.end_section(level)
            if not block.is_shell:
                continue
            reason = block.marker("not run by tests:")
            if reason is not None:
                if not reason:
                    raise BlockFailed(f"{block.where}: 'not run by tests:' must say why")
                done.append(f"{block.where}: not run ({reason})")
                continue
            for slot, piece in segments(block.text):
                if slot is None:
                    self.ensure_base()
                    self.run_script(block, piece)
                else:
                    if slot == "proxy" and "proxy" in self.slots and self.slots["proxy"].block is None:
                        self.stop("proxy")  # the base proxy makes way on port 8080
                    self.start(slot, piece, block)
            done.append(f"{block.where}: run")
        self.end_section()
        return done


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.fixture
def reader_ready() -> None:
    why = netns_available()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"README blocks must run under CI: {why}")
        pytest.skip(why)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_blocks_run_verbatim(path: Path, tmp_path: Path, reader_ready: None) -> None:
    blocks = parse_blocks(path)
    failure = None
    with Reader(tmp_path) as reader:
        try:
            done = reader.follow(blocks)
        except BlockFailed as failed:
            failure = str(failed)
    if failure:
        pytest.fail(failure, pytrace=False)
    shell = [b for b in blocks if b.is_shell]
    assert len([d for d in done if d.endswith(": run") or ": not run (" in d]) == len(shell), done
    print("\n".join(done))


# -- the harness itself, on small pages: it must be able to fail


def page(tmp_path: Path, text: str) -> list[Block]:
    path = tmp_path / "page.md"
    path.write_text(text)
    return parse_blocks(path)


def test_parser_sees_markers_sections_and_long_running_lines(tmp_path: Path) -> None:
    blocks = page(
        tmp_path,
        "# A\n<!-- not run by tests: needs a phone -->\n\n```sh\nadb devices\n```\n## B\n"
        "<!-- file: r.yaml -->\n  ```yaml\n  a: 1\n  ```\n```sh\norange-proxy --rules r.yaml \\\n"
        "  --profile camara\nCA=$(orange-proxy ca -q)\norange-proxy standin --self-signed d\n```\n",
    )
    assert [(b.info, b.headings_before, b.level, b.markers) for b in blocks] == [
        ("sh", [1], 1, ["not run by tests: needs a phone"]),
        ("yaml", [2], 2, ["file: r.yaml"]),
        ("sh", [], 2, []),
    ]
    assert blocks[1].text == "a: 1\n"
    assert segments(blocks[2].text) == [
        ("proxy", "orange-proxy --rules r.yaml   --profile camara"),
        (None, "CA=$(orange-proxy ca -q)\n"),
        ("standin", "orange-proxy standin --self-signed d"),
    ]
    assert starts_proxy("orange-proxy ca --android x") is None
    assert starts_proxy("orange-proxy replay --help") is None
    assert starts_proxy("mitmdump -s x --set a=b") == "proxy"
    assert starts_proxy("orange-proxy --rules bad.yaml || echo $?") is None


def follow(tmp_path: Path, text: str) -> list[str]:
    with Reader(tmp_path / "run") as reader:
        return reader.follow(page(tmp_path, text))


def test_variables_carry_over_and_a_failing_command_fails_with_its_block(
    tmp_path: Path, reader_ready
) -> None:
    text = (
        "```sh\nCA=~/.mitmproxy/mitmproxy-ca-cert.pem\n```\n"
        '```sh\ncurl -s --proxy http://127.0.0.1:8080 --cacert "$CA" -u a:b -d grant_type=client_credentials '
        "https://api.orange.com/oauth/v3/token\n# → access_token\n```\n"
        '```sh\ncurl -s --proxy http://127.0.0.1:8080 --cacert "$CA" '
        "https://api.orange.com/camara/playground/api/sim-swap/v1/check -d '{}'\n```\n"
    )
    with pytest.raises(BlockFailed) as failure:
        follow(tmp_path, text)
    message = str(failure.value)
    assert "page.md:8: exited with status 22" in message  # curl's status for an HTTP error
    assert "sim-swap/v1/check" in message and "UNAUTHORIZED" in message  # the block and its output


def test_expectations_long_running_lines_and_errors_expected(tmp_path: Path, reader_ready) -> None:
    text = (
        "<!-- file: r.yaml -->\n```yaml\nclients:\n  - {client_id: me, client_secret: pw}\n```\n"
        "## a section\n```sh\norange-proxy --rules r.yaml --profile camara\n```\n### a subsection\n"
        "<!-- run by tests: HTTP errors expected -->\n```sh\n"
        "curl -s -x http://127.0.0.1:8080 --cacert ~/.mitmproxy/mitmproxy-ca-cert.pem -u me:wrong "
        "-d grant_type=client_credentials https://api.orange.com/oauth/v3/token\n# → invalid_client\n```\n"
        "## the next section: the base proxy again\n```sh\ncurl -s -x http://127.0.0.1:8080 http://orange-proxy.test/api/state\n"
        '# → "profile": "orange"\n```\n'
    )
    done = follow(tmp_path, text)
    assert [d.rsplit(": ", 1)[1] for d in done] == ["saved as r.yaml", "run", "run", "run"]
    broken = text.replace("# → invalid_client", "# → access_token")
    with pytest.raises(BlockFailed, match="lacks the expected 'access_token'"):
        follow(tmp_path / "again", broken)


def test_a_skip_needs_a_reason(tmp_path: Path) -> None:
    with pytest.raises(BlockFailed, match="must say why"):
        Reader(tmp_path / "run").follow(page(tmp_path, "<!-- not run by tests: -->\n```sh\ntrue\n```\n"))


def test_a_page_proxy_must_exit_0_when_its_section_ends(tmp_path: Path, reader_ready) -> None:
    # A replay that left interactions unplayed exits 3 when stopped: the page's story is incomplete.
    text = (
        "## replay\n```sh\norange-proxy replay --cassette cassettes/location-verification-success.yaml"
        " --require-all-played\n```\n## next\n```sh\ntrue\n```\n"
    )
    with pytest.raises(BlockFailed, match="exited with status 3 when stopped with SIGINT"):
        follow(tmp_path, text)


def test_a_proxy_that_cannot_start_fails_its_block(tmp_path: Path, reader_ready) -> None:
    with pytest.raises(BlockFailed, match=r"exited with status 2[\s\S]*no cassette at .*nothing-here.yaml"):
        follow(tmp_path, "```sh\norange-proxy replay --cassette cassettes/nothing-here.yaml\n```\n")
