"""The `orange-proxy` command: a thin layer that maps flags onto mitmproxy options."""

from __future__ import annotations

import argparse
import difflib
import errno
import io
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from proxy_addons import __version__
from proxy_addons.config.choices import Exhausted, MissPolicy, Profile, RecordMode, values
from proxy_addons.messages import say


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {value}")
    return value


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, not {value}")
    return value


def _readable_file(text: str) -> str:
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return str(path)


def _mode(text: str) -> str:
    """A mitmproxy mode spec, checked now: a typo is a one-line error naming the modes, not a failure at
    start-up."""
    from mitmproxy.proxy.mode_specs import ProxyMode  # here: `--help` and other flags stay fast

    try:
        ProxyMode.parse(text)
    except ValueError as exc:
        name = text.rpartition("@")[0] or text
        name = name.partition(":")[0].lower()
        names = mode_names()
        if name in names:  # a known mode with a bad argument, e.g. `reverse` without its URL
            raise argparse.ArgumentTypeError(
                f"{text!r}: {str(exc).rstrip(': ') or 'bad mode'}; e.g. --mode "
                "reverse:https://api.orange.com, --mode regular@8080, --mode wireguard"
            ) from None
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise argparse.ArgumentTypeError(
            f"unknown mode {text!r} ({hint}mitmproxy's modes: {', '.join(names)}; "
            "e.g. --mode reverse:https://api.orange.com)"
        ) from None
    return text


def mode_names() -> list[str]:
    """mitmproxy's mode names (`regular`, `reverse`, …), read from its mode classes."""
    from mitmproxy.proxy.mode_specs import ProxyMode

    found: list[str] = []
    pending = list(ProxyMode.__subclasses__())
    while pending:
        mode = pending.pop(0)
        pending.extend(mode.__subclasses__())
        name = getattr(mode, "type_name", None)
        if isinstance(name, str) and name not in found:
            found.append(name)
    return found


def _setting(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return text


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line that says what to do next (argparse prints the whole usage
    first, which buries the one line that matters)."""

    def error(self, message: str) -> NoReturn:
        hint = self.hint(message)
        line = f"{self.prog}: {message}" + (f"; {hint}" if hint else "")
        self.exit(2, f"{line} (see `{self.prog} --help`)\n")

    def hint(self, message: str) -> str | None:
        """What to do about a common mistake, said after argparse's own words."""
        if "the following arguments are required: --cassette" in message:
            if self.prog.endswith(" record"):
                return "record needs the cassette to write, e.g. --cassette cassettes/login.yaml"
            return (
                "replay needs the cassette to answer from, e.g. --cassette cassettes/login.yaml "
                "(make one with `orange-proxy record --cassette cassettes/login.yaml`)"
            )
        if ": no such file: " in message:
            return f"check the path (a relative one starts from {os.getcwd()})"
        if message.startswith("unrecognized arguments: "):
            return self._closest(message.removeprefix("unrecognized arguments: ").split())
        if "invalid choice: " in message:
            given = message.partition("invalid choice: ")[2].partition(" (")[0].strip("'")
            choices = [c for a in self._actions if a.choices for c in a.choices]
            close = difflib.get_close_matches(given, [str(c) for c in choices], n=1)
            return f"did you mean {close[0]}?" if close else None
        return None

    def _closest(self, words: list[str]) -> str | None:
        """`did you mean --listen-port?` for a mistyped flag, the commands for a word that is none."""
        first = words[0].partition("=")[0]
        if first.startswith("-"):
            flags = [s for a in self._actions for s in a.option_strings]
            close = difflib.get_close_matches(first, flags, n=1)
            return f"did you mean {close[0]}?" if close else None
        close = difflib.get_close_matches(first, COMMANDS, n=1)
        return (f"did you mean {close[0]}? " if close else "") + f"the commands: {', '.join(COMMANDS)}"


def _add_proxy_flags(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("proxy")
    net.add_argument(
        "--listen-host",
        metavar="HOST",
        help="address to listen on (default 127.0.0.1, this machine only); 0.0.0.0 for phones on the "
        "network, e.g. --listen-host 0.0.0.0",
    )
    net.add_argument(
        "--listen-port",
        metavar="PORT",
        type=_port,
        help="port to listen on; 0 picks a free one, printed in the ready line (default 8080), "
        "e.g. --listen-port 0",
    )
    net.add_argument(
        "--confdir",
        metavar="DIR",
        help="mitmproxy's configuration directory; the CA clients must trust is DIR/mitmproxy-ca-cert.pem "
        "and DIR/config.yaml is read (default ~/.mitmproxy), e.g. --confdir ./proxy-conf",
    )
    net.add_argument(
        "--mode",
        "--proxy-mode",  # the name of earlier releases, kept as an alias
        dest="proxy_mode",
        metavar="SPEC",
        action="append",
        type=_mode,
        help="mitmproxy's mode, as mitmproxy spells it: regular (default), transparent, wireguard, "
        "reverse:URL, e.g. --mode reverse:https://api.orange.com; repeatable (one listener each)",
    )
    net.add_argument(
        "--intercept-host",
        metavar="HOST[:PORT]",
        action="append",
        help="host whose traffic the proxy answers; others pass through untouched (default "
        "api.orange.com, on every port); repeatable. The hosts given REPLACE the default, as mitmproxy's "
        "list options do: HOST:PORT is answered on that port only, so with --intercept-host "
        "api.orange.com:8443 alone https://api.orange.com (443) passes through to the real host; give "
        "api.orange.com:443 too to keep it, e.g. --intercept-host api.orange.com:443 --intercept-host "
        "api.orange.com:8443",
    )
    net.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no request lines and no log lines below warnings (as mitmdump -q): the ready line and "
        "errors stay; the summary at exit is hidden too, but a failing record/replay still prints its "
        "`exit status N: ...` line naming the first request at fault (default: a line per request). "
        "Finer: --set flow_detail=0..4 (request lines, as mitmdump), --set termlog_verbosity=warn",
    )
    net.add_argument(
        "--set",
        metavar="NAME=VALUE",
        dest="sets",
        action="append",
        default=[],
        type=_setting,
        help="any mitmproxy option, ours (orange_*) included; wins over flags and DIR/config.yaml "
        "(default: none); repeatable, e.g. --set orange_code_lifetime=60",
    )


def _add_fault_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults and events")
    group.add_argument(
        "--fault",
        metavar="SPEC",
        action="append",
        help="inject a fault from the start (default: none; add more from the control page); repeatable, "
        "e.g. token_expired, latency:ms=1500,api=location-verification, service_unavailable:times=2, "
        "reset:p=0.3,seed=7",
    )
    group.add_argument(
        "--faults",
        metavar="FILE",
        type=_readable_file,
        help="a scenario file of faults (YAML, schemas/faults.schema.json) (default: none), "
        "e.g. --faults faults/outage.yaml",
    )
    group.add_argument(
        "--event-log",
        metavar="FILE",
        help="append every exchange and fault to FILE as JSON lines (default: kept in memory only, for "
        "the control page), e.g. --event-log events.jsonl",
    )
    group.add_argument(
        "--control-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on the control API from every client (default: no "
        "token, and only loopback clients are answered), e.g. --control-token s3cret",
    )


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("answers")
    group.add_argument(
        "--rules",
        metavar="FILE",
        action="append",
        type=_readable_file,
        help="rules file (YAML): numbers, clients, overrides (default: the built-in rules only); "
        "repeatable, each layered over the defaults and the ones before, e.g. --rules lab.yaml",
    )
    group.add_argument(
        "--profile",
        choices=values(Profile),
        help="error dialect and quirks: orange (default) as Orange's pages document them, camara as "
        "CAMARA's specs say, e.g. --profile camara",
    )
    group.add_argument(
        "--token-lifetime",
        metavar="SECONDS",
        type=_seconds,
        help="lifetime of the access tokens issued (default 3600), e.g. --token-lifetime 60",
    )


def _add_cassette_flags(parser: argparse.ArgumentParser, recording: bool) -> None:
    group = parser.add_argument_group("cassette")
    group.add_argument(
        "--cassette",
        metavar="FILE",
        required=True,
        help="the cassette (vcrpy YAML) (required), e.g. --cassette cassettes/login.yaml"
        + (
            "; made if missing"
            if recording
            else "; it must exist (record it with `orange-proxy record --cassette FILE`)"
        ),
    )
    if recording:
        group.add_argument(
            "--record-mode",
            choices=values(RecordMode),
            help="once (default): record if the cassette does not exist, else replay; new_episodes: replay "
            "what matches, record the rest; all: always forward and record; none: replay only",
        )
    group.add_argument(
        "--miss",
        choices=values(MissPolicy),
        help="a request the cassette cannot answer: error (default: a 502 naming the nearest recording), "
        "passthrough (forward it), synth (the synthesiser answers); it still counts as a miss",
    )
    group.add_argument(
        "--exhausted",
        choices=values(Exhausted),
        help="once every recorded answer to a request was served: repeat (default) the last, or miss",
    )
    group.add_argument(
        "--allow-misses",
        action="store_true",
        help="exit with status 0 even when a request missed the cassette (default: such a run exits "
        "with status 1 when it stops, so CI fails), e.g. while a cassette is being completed",
    )
    group.add_argument(
        "--require-all-played",
        action="store_true",
        help="exit with status 3 when interactions of the cassette were never played, i.e. the app "
        "stopped making a request the cassette expects (default: only reported in the summary)",
    )
    group.add_argument(
        "--ignore-json-field",
        metavar="FIELD",
        action="append",
        help="JSON body field (name or dotted path) replay ignores (default: none); repeatable, "
        "e.g. --ignore-json-field maxAge",
    )
    group.add_argument(
        "--ignore-param",
        metavar="NAME",
        action="append",
        help="query/form parameter replay ignores (default: state, nonce and code_challenge, always); "
        "repeatable, e.g. --ignore-param redirect_uri",
    )
    group.add_argument(
        "--match-header",
        metavar="NAME",
        action="append",
        help="header whose value replay also matches (default: none); repeatable, "
        "e.g. --match-header x-correlator",
    )
    upstream = parser.add_argument_group("upstream")
    upstream.add_argument(
        "--upstream",
        metavar="URL",
        help="send forwarded requests to this base URL; cassettes keep the original URI (default: the "
        "host the app asked for), e.g. --upstream https://127.0.0.1:8443",
    )
    upstream.add_argument(
        "--upstream-ca",
        metavar="FILE",
        type=_readable_file,
        help="CA to trust for the upstream's certificate (default: the system's roots), "
        "e.g. --upstream-ca ./standin/standin-cert.pem",
    )
    upstream.add_argument(
        "--upstream-insecure",
        action="store_true",
        help="do not verify the upstream's certificate (default: verified)",
    )
    if recording:
        scrub = parser.add_argument_group("scrubbing (always on; these add to it)")
        scrub.add_argument(
            "--scrub-header",
            metavar="NAME",
            action="append",
            help="another header to scrub, beyond Authorization, cookies and the OAuth parameters in "
            "Location (always); repeatable, "
            "e.g. --scrub-header x-api-key",
        )
        scrub.add_argument(
            "--scrub-param",
            metavar="NAME",
            action="append",
            help="another query/form parameter to scrub, beyond code, client_secret, the tokens and the like "
            "(always); repeatable, e.g. --scrub-param login_hint",
        )
        scrub.add_argument(
            "--scrub-json-field",
            metavar="FIELD",
            action="append",
            help="another JSON field (name or dotted path) to scrub, beyond access_token, id_token, "
            "refresh_token and client_secret (always); repeatable, "
            "e.g. --scrub-json-field device.ipv4Address",
        )
        scrub.add_argument(
            "--pseudonymise-numbers",
            action="store_true",
            help="replace phone numbers by consistent +990 pseudonyms and KYC personal data (names, address, "
            "e-mail, birthdate…) by pseudonyms of the same shape, for cassettes shared outside a team "
            "(default: numbers kept)",
        )


# The verdict of a record or replay run, for CI (see proxy_addons.addons.verdict).
EXIT_STATUSES = """\
exit status, when the proxy stops (SIGINT/SIGTERM), after a summary of the run:
  0  every request was answered as planned
  1  a request missed the cassette (unless --allow-misses)
  2  the proxy could not start (bad flag or option, rules, a cassette to replay that does not exist)
  3  with --require-all-played: interactions of the cassette were never played
  4  a forwarded request got no answer from the upstream (refused, TLS failure, timeout; the app got
     a 502); --allow-misses does not cover it
"""

# Real command lines, one per line; tests/test_cli.py runs each through this parser.
SYNTH_EXAMPLES = """\
examples:
  orange-proxy
  orange-proxy synth --listen-port 0 --confdir ./proxy-conf
  orange-proxy synth --profile camara --rules lab.yaml --event-log events.jsonl
  orange-proxy synth --fault token_expired --fault latency:ms=1500,api=location-verification
  orange-proxy synth --listen-host 0.0.0.0 --listen-port 8080   # for a phone on the same Wi-Fi
  orange-proxy synth --mode reverse:https://api.orange.com --listen-port 8443
  orange-proxy synth --mode wireguard
  orange-proxy synth --quiet --set orange_code_lifetime=30

exit status: 0 when stopped (SIGINT/SIGTERM), 2 when the proxy could not start (bad flag, option or
rules file, port in use); the message says which and what to do.
"""

RECORD_EXAMPLES = """\
examples:
  orange-proxy record --cassette cassettes/login.yaml
  orange-proxy record --cassette cassettes/login.yaml --record-mode new_episodes
  orange-proxy record --cassette cassettes/shared.yaml --pseudonymise-numbers --scrub-header x-api-key
  orange-proxy record --cassette new.yaml --upstream https://127.0.0.1:8443 \\
      --upstream-ca ./standin/standin-cert.pem   # against `orange-proxy standin --self-signed ./standin`

"""

REPLAY_EXAMPLES = """\
examples:
  orange-proxy replay --cassette cassettes/login.yaml
  orange-proxy replay --cassette cassettes/login.yaml --require-all-played --listen-port 0
  orange-proxy replay --cassette cassettes/login.yaml --miss synth --allow-misses
  orange-proxy replay --cassette cassettes/login.yaml --ignore-json-field maxAge --fault reset:times=1

"""

TOP_EXAMPLES = """\
With no command, `orange-proxy` is `orange-proxy synth`. Each command's flags: orange-proxy COMMAND --help.

examples:
  orange-proxy
  orange-proxy --listen-port 0 --profile camara
  orange-proxy record --cassette cassettes/login.yaml
  orange-proxy replay --cassette cassettes/login.yaml --require-all-played
  orange-proxy cassette check cassettes/login.yaml
  orange-proxy ca --quiet
  orange-proxy standin --self-signed ./standin
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="orange-proxy",
        description="Recording / replaying / synthesising test proxy for Orange's CAMARA APIs.",
        epilog=TOP_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    synth = commands.add_parser(
        "synth",
        help="(the default) answer as Orange's playground and lab would, with no account and no network",
        description="Start the proxy in synthesising mode: it answers api.orange.com itself, computed from "
        "the subscribers' data (rules files, the playground's +990 numbers); other hosts pass through.",
        epilog=SYNTH_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_proxy_flags(synth)
    _add_engine_flags(synth)
    _add_fault_flags(synth)

    record = commands.add_parser(
        "record",
        help="forward to the real api.orange.com (or --upstream) and record every exchange, scrubbed",
        description="Start the proxy in record mode: requests to api.orange.com are forwarded (to "
        "--upstream if given) and every exchange is written to the cassette, scrubbed of credentials.",
        epilog=RECORD_EXAMPLES + EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_proxy_flags(record)
    _add_cassette_flags(record, recording=True)
    _add_engine_flags(record)
    _add_fault_flags(record)

    replay = commands.add_parser(
        "replay",
        help="answer from a cassette, with no network at all",
        description="Start the proxy in replay mode: requests to api.orange.com are answered from the "
        "cassette, with no network; one it cannot answer is a miss (see --miss).",
        epilog=REPLAY_EXAMPLES + EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_proxy_flags(replay)
    _add_cassette_flags(replay, recording=False)
    _add_engine_flags(replay)
    _add_fault_flags(replay)

    cassette = commands.add_parser(
        "cassette",
        help="work on cassette files",
        description="Work on cassette files (vcrpy YAML). ACTION check validates them: the vcrpy format, "
        "secrets left unscrubbed, every answer of api.orange.com against schemas/ (exit status 1 on any "
        "problem, one line each: FILE:LINE:COLUMN for YAML errors).",
        epilog="examples:\n"
        "  orange-proxy cassette check cassettes/login.yaml\n"
        "  orange-proxy cassette check cassettes/*.yaml   # in CI, before replaying them\n"
        "  orange-proxy cassette check --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cassette_commands = cassette.add_subparsers(dest="cassette_command", metavar="ACTION", required=True)
    check = cassette_commands.add_parser(
        "check",
        help="validate cassettes (format, scrubbing, schemas); exit status 1 on any problem",
        description="Validate cassettes: the vcrpy format, secrets left unscrubbed, and every answer of "
        "api.orange.com against schemas/. Exit status 1 on any problem.",
        epilog="example:\n  orange-proxy cassette check cassettes/*.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("files", metavar="FILE", nargs="+", help="cassette files, e.g. cassettes/*.yaml")

    standin = commands.add_parser(
        "standin",
        help="serve the synthesiser as a plain HTTP(S) server: a local stand-in for api.orange.com",
        description="Serve the synthesiser as a plain HTTP(S) server, a local stand-in for api.orange.com "
        "(e.g. the upstream of `orange-proxy record --upstream`).",
        epilog="example:\n  orange-proxy standin --self-signed ./standin --listen-port 8443\n"
        "  orange-proxy record --cassette new.yaml --upstream https://127.0.0.1:8443 "
        "--upstream-ca ./standin/standin-cert.pem",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    standin.add_argument(
        "--listen-host",
        metavar="HOST",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1), e.g. --listen-host 0.0.0.0",
    )
    standin.add_argument(
        "--listen-port",
        metavar="PORT",
        type=_port,
        default=8443,
        help="port to listen on; 0 picks a free one, printed in the ready line (default 8443), "
        "e.g. --listen-port 0",
    )
    standin.add_argument(
        "--cert",
        metavar="PEM",
        type=_readable_file,
        help="certificate to serve HTTPS with (default: none, plain HTTP), e.g. --cert cert.pem",
    )
    standin.add_argument(
        "--key",
        metavar="PEM",
        type=_readable_file,
        help="the certificate's private key (default: none; required with --cert), e.g. --key key.pem",
    )
    standin.add_argument(
        "--self-signed",
        metavar="DIR",
        help="serve HTTPS with a throw-away certificate for 127.0.0.1 and localhost written to "
        "DIR/standin-cert.pem, the file clients trust (default: none), e.g. --self-signed ./standin",
    )
    standin.add_argument("--gzip", action="store_true", help="gzip every answer (default: identity)")
    _add_engine_flags(standin)

    ca = commands.add_parser(
        "ca",
        help="print the path of the CA clients must trust (made if missing), and how to install it",
        description="Print the path of mitmproxy's CA certificate, the one the proxy signs with, on the\n"
        "first line (made in the confdir the way mitmproxy makes it if there is none yet), then install\n"
        "steps for programs, Android (user CA + network_security_config, emulator system store), iOS and\n"
        "http://mitm.it. A CA clients refuse now or soon (expired, expiring within 30 days, not yet\n"
        "valid) gets a warning on stderr saying when, and how to get a new one. Exit status 2, with a\n"
        "message, if the confdir or a file cannot be used.",
        epilog="examples:\n"
        "  orange-proxy ca\n"
        "  CA=$(orange-proxy ca --quiet)\n"
        "  orange-proxy ca --confdir ./proxy-conf --bundle ca-bundle.pem\n"
        "  orange-proxy ca --android ./android-ca   # then adb push ./android-ca/<hash>.0 ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ca.add_argument(
        "--confdir",
        metavar="DIR",
        help="mitmproxy's confdir, as given to the proxy (default ~/.mitmproxy), e.g. --confdir ./proxy-conf",
    )
    ca.add_argument(
        "--bundle",
        metavar="FILE",
        help="also write FILE: the CA, then certifi's public roots, for clients that reach other hosts "
        "through the proxy too (default: not written), e.g. --bundle ca-bundle.pem (then "
        "REQUESTS_CA_BUNDLE=ca-bundle.pem)",
    )
    ca.add_argument(
        "--android",
        metavar="DIR",
        help="also write DIR/<subject_hash_old>.0, e.g. --android ./android-ca: the CA as an Android system "
        "store file (PEM) for /system/etc/security/cacerts on an emulator (default: not written)",
    )
    ca.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print the CA path only (default: the path, then install steps), e.g. CA=$(orange-proxy ca -q)",
    )

    commands.add_parser(
        "options",
        help="list the proxy's own mitmproxy options (name, default, type or valid values, help)",
        description="List every mitmproxy option the proxy's addons declare, in the YAML of mitmproxy's\n"
        "`--options` (each option's help, type or valid values in the comment above it; the value is\n"
        "its default), ready to copy into DIR/config.yaml. `mitmdump -s SCRIPT --options` lists them\n"
        "too on mitmproxy 12.3, not on 11 (it prints its options before it loads scripts).",
        epilog="examples:\n"
        "  orange-proxy options | less\n"
        "  mkdir -p proxy-conf && orange-proxy options > proxy-conf/config.yaml   # a new confdir, then:\n"
        "  orange-proxy synth --confdir proxy-conf\n"
        "\nNever redirect it with `>` onto a config.yaml you already use (~/.mitmproxy/config.yaml): that\n"
        "replaces your settings (cert_passphrase, upstream certificates, ...). Copy the options you need\n"
        "into it by hand instead.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    commands.add_parser(
        "addon-path",
        help="print the path of the mitmproxy addon script (for mitmdump/mitmweb -s)",
        description="Print the path of the addon script, to run the proxy's addons in mitmproxy's own tools.",
        epilog='example:\n  mitmweb -s "$(orange-proxy addon-path)" --set orange_profile=camara',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


# Where neither a flag nor confdir/config.yaml says otherwise: safer than mitmproxy's own defaults
# (which listen on every interface).
# The port stays mitmproxy's per mode (8080 for regular, transparent and reverse; 51820 for WireGuard).
DEFAULTS: dict[str, object] = {"listen_host": "127.0.0.1"}

# Flag (argparse dest) → mitmproxy option, for every flag that maps one to one.
FLAG_OPTIONS = {
    "listen_host": "listen_host",
    "listen_port": "listen_port",
    "confdir": "confdir",
    "proxy_mode": "mode",
    "profile": "orange_profile",
    "token_lifetime": "orange_token_lifetime",
    "rules": "orange_rules",
    "intercept_host": "orange_intercept_hosts",
    "cassette": "orange_cassette",
    "record_mode": "orange_record_mode",
    "miss": "orange_miss",
    "exhausted": "orange_exhausted",
    "ignore_json_field": "orange_ignore_json_fields",
    "ignore_param": "orange_ignore_params",
    "match_header": "orange_match_headers",
    "upstream": "orange_upstream",
    "upstream_ca": "ssl_verify_upstream_trusted_ca",
    "scrub_header": "orange_scrub_headers",
    "scrub_param": "orange_scrub_params",
    "scrub_json_field": "orange_scrub_json_fields",
    "fault": "orange_faults",
    "faults": "orange_fault_file",
    "event_log": "orange_event_log",
    "control_token": "orange_control_token",
}
# Switches that only ever turn something on.
SWITCH_OPTIONS = {
    "upstream_insecure": "ssl_insecure",
    "pseudonymise_numbers": "orange_pseudonymise_numbers",
    "allow_misses": "orange_allow_misses",
    "require_all_played": "orange_require_all_played",
}


def proxy_options(args: argparse.Namespace, mode: str) -> dict[str, object]:
    """mitmproxy option values for the flags actually given (the rest stays with config.yaml or defaults)."""
    options: dict[str, object] = {"orange_mode": mode}
    for dest, option in FLAG_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            options[option] = value
    for dest, option in SWITCH_OPTIONS.items():
        if getattr(args, dest, False):
            options[option] = True
    if getattr(args, "quiet", False):
        options.update(flow_detail=0, termlog_verbosity="warn")
    return options


COMMANDS = ("synth", "record", "replay", "cassette", "standin", "addon-path", "ca", "options")


def preflight(args: argparse.Namespace) -> str | None:
    """What would stop the proxy from starting, said plainly (mitmproxy would exit 1 with less to go on)."""
    confdir = Path(args.confdir or "~/.mitmproxy").expanduser()
    try:
        confdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=confdir):
            pass
    except OSError as exc:
        return f"cannot use {confdir} as the confdir (the CA lives there): {exc.strerror or exc}"
    from mitmproxy.proxy.mode_specs import ProxyMode

    for spec in args.proxy_mode or ["regular"]:
        mode = ProxyMode.parse(spec)  # checked by the flag's type already
        # The mode's own @[host:]port, else the flags, else mitmproxy's default for the mode.
        host = mode.listen_host(args.listen_host or str(DEFAULTS["listen_host"])) or "0.0.0.0"
        port = mode.listen_port(args.listen_port)
        if port is None:
            continue  # a mode that listens nowhere (local redirector)
        kind = socket.SOCK_DGRAM if mode.transport_protocol == "udp" else socket.SOCK_STREAM
        if problem := _cannot_listen(host, port, kind):
            return problem
    return None


def _cannot_listen(host: str, port: int, kind: int) -> str | None:
    try:
        family = socket.AF_INET6 if ":" in str(host) else socket.AF_INET
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((str(host), int(port)))
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        hint = (
            "another proxy (or program) has it: stop it, or pick another port with --listen-port PORT "
            "(0 picks a free one)"
            if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
            else "check --listen-host (an address of this machine, e.g. 127.0.0.1 or 0.0.0.0) and "
            "--listen-port (0..65535; below 1024 needs root)"
        )
        return f"cannot listen on {host}:{port}: {reason}; {hint}"
    return None


def with_command(argv: Sequence[str]) -> list[str]:
    """`argv` with its command: none means synth, so `orange-proxy` alone starts a proxy that needs no
    Orange account."""
    argv = list(argv)
    if not any(arg in COMMANDS for arg in argv) and not {"-h", "--help", "--version"} & set(argv):
        argv.insert(0, "synth")
    elif argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        # Flags before the command (`orange-proxy -q replay …`, `--confdir DIR record …`) are the
        # command's flags: argparse only reads them after it.
        at = next((i for i, arg in enumerate(argv) if arg in COMMANDS), None)
        if at is not None:
            argv.insert(0, argv.pop(at))
    return argv


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line parsed; a mistake ends it with one line from the command's own parser (so an
    unknown flag gets that command's "did you mean")."""
    parser = build_parser()
    args, extra = parser.parse_known_args(with_command(argv))
    if extra:
        # A word that is no flag is a mistyped command: the top-level parser says which there are.
        said = subparser(parser, args) if extra[0].startswith("-") else parser
        said.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` are for."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return subparser(action.choices[name], args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "addon-path":
        from proxy_addons import mitm_script

        print(mitm_script.__file__)
        return 0
    if args.command == "options":
        return _options()
    if args.command == "cassette":
        from proxy_addons.cassettes.check import check_files

        return check_files(args.files)
    if args.command == "standin":
        return _standin(args)
    if args.command == "ca":
        from proxy_addons.ca import run

        return run(args)
    problem = preflight(args)
    if problem:
        print(say(problem), file=sys.stderr)
        return 2
    # Imported here so `--help` and flag errors stay fast.
    from proxy_addons.runner import serve

    return serve(proxy_options(args, args.command), args.sets, DEFAULTS)


def _options() -> int:
    """Our addons' options, loaded by mitmproxy's own loader into an option set of their own, printed
    as mitmproxy prints `--options`: the list is what the addons declare, never a copy of it."""
    from types import SimpleNamespace

    from mitmproxy import optmanager
    from mitmproxy.addonmanager import Loader

    from proxy_addons.addons import default_addons

    options = optmanager.OptManager()
    loader = Loader(SimpleNamespace(options=options))  # the loader only needs the master's options
    for addon in default_addons():
        load = getattr(addon, "load", None)
        if load is not None:
            load(loader)
    text = io.StringIO()
    optmanager.dump_defaults(options, text)
    try:
        sys.stdout.write(text.getvalue())
        sys.stdout.flush()
    except BrokenPipeError:  # `orange-proxy options | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return 0


def _standin(args: argparse.Namespace) -> int:
    from proxy_addons.config.rules import RulesError, load_rules
    from proxy_addons.config.schemas import default_store
    from proxy_addons.integrations.standin import StandInServer
    from proxy_addons.simulator.engine import Engine, Settings

    if bool(args.cert) != bool(args.key):
        print(say("--cert and --key go together"), file=sys.stderr)
        return 2
    if args.self_signed:
        from proxy_addons.integrations.standin import self_signed_certificate

        try:
            # Absolute: the line below names the file to trust wherever the reader's shell is.
            cert, key = self_signed_certificate(Path(args.self_signed).expanduser().absolute())
        except OSError as exc:
            print(say(f"cannot write the certificate: {exc.strerror}"), file=sys.stderr)
            return 2
        args.cert, args.key = str(cert), str(key)
        print(f"orange-proxy standin: certificate {cert}", flush=True)
    try:
        rules = load_rules(args.rules or [], default_store())
    except RulesError as exc:
        print(say(f"bad rules: {exc}"), file=sys.stderr)
        return 2
    settings = Settings(profile=args.profile or "orange", token_lifetime=args.token_lifetime or 3600)
    try:
        server = StandInServer(
            Engine(rules, settings),
            args.listen_host,
            args.listen_port,
            args.cert,
            args.key,
            args.gzip,
            verbose=True,
        )
    except OSError as exc:
        print(say(f"cannot start the stand-in: {_listen_problem(exc, args)}"), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(say(f"cannot start the stand-in: {exc}"), file=sys.stderr)
        return 2
    # Explicit handlers: a shell starts a background job (`orange-proxy standin &` in a script) with
    # SIGINT ignored, and SIGTERM's default would end it with no clean-up and status -15.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_standin)
    try:
        print(f"orange-proxy standin ready: {server.url}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("orange-proxy standin: stopped", flush=True)
    finally:
        server.server_close()
    return 0


def _stop_standin(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # ends serve_forever in the main thread, which then closes the socket


def _listen_problem(exc: OSError, args: argparse.Namespace) -> str:
    """Why the stand-in cannot listen, and what to do next (as the proxy's own pre-flight says)."""
    where = f"{args.listen_host}:{args.listen_port}"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: {reason}; another stand-in (or program) has it: stop it, or pick "
            "another port with --listen-port PORT (0 picks a free one)"
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES, errno.EAFNOSUPPORT) or isinstance(
        exc, socket.gaierror
    ):
        return (
            f"cannot listen on {where}: {reason}; check --listen-host (an address of this machine, e.g. "
            "127.0.0.1 or 0.0.0.0) and --listen-port (0..65535; below 1024 needs root)"
        )
    return f"{reason} ({exc.filename})" if exc.filename else reason


if __name__ == "__main__":
    sys.exit(main())
