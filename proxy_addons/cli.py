"""The `orange-proxy` command: a thin layer that maps flags onto mitmproxy options."""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

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


def _setting(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return text


def _add_proxy_flags(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("proxy")
    net.add_argument("--listen-host", help="address to listen on (default 127.0.0.1)")
    net.add_argument("--listen-port", type=_port, help="port to listen on; 0 picks a free one (default 8080)")
    net.add_argument(
        "--confdir",
        metavar="DIR",
        help="mitmproxy's configuration directory; the CA clients must trust is DIR/mitmproxy-ca-cert.pem "
        "(default ~/.mitmproxy)",
    )
    net.add_argument(
        "--mode",
        "--proxy-mode",  # the name of earlier releases, kept as an alias
        dest="proxy_mode",
        metavar="SPEC",
        action="append",
        help="mitmproxy's mode, as mitmproxy spells it: regular (default), transparent, wireguard, "
        "reverse:URL; e.g. --mode reverse:https://api.orange.com; repeatable",
    )
    net.add_argument(
        "--intercept-host",
        metavar="HOST[:PORT]",
        action="append",
        help="host whose traffic the proxy answers (repeatable; default api.orange.com); others pass "
        "through, e.g. --intercept-host api.orange.com:8443",
    )
    net.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no request lines and no log lines below warnings (as mitmdump -q); the ready line and "
        "errors stay. Finer: --set flow_detail=0..4 (request lines, as mitmdump), "
        "--set termlog_verbosity=warn",
    )
    net.add_argument(
        "--set",
        metavar="NAME=VALUE",
        dest="sets",
        action="append",
        default=[],
        type=_setting,
        help="any mitmproxy option, e.g. --set orange_code_lifetime=60 (repeatable)",
    )


def _add_fault_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults and events")
    group.add_argument(
        "--fault",
        metavar="SPEC",
        action="append",
        help="inject a fault, e.g. token_expired, latency:ms=1500,api=location-verification, "
        "service_unavailable:times=2, reset:p=0.3,seed=7 (repeatable)",
    )
    group.add_argument(
        "--faults", metavar="FILE", type=_readable_file, help="a scenario file of faults (YAML)"
    )
    group.add_argument(
        "--event-log", metavar="FILE", help="append every exchange and fault to FILE as JSON lines"
    )
    group.add_argument(
        "--control-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on the control API from every client "
        "(without it, only loopback clients are answered)",
    )


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("answers")
    group.add_argument(
        "--rules",
        metavar="FILE",
        action="append",
        type=_readable_file,
        help="rules file (YAML); repeatable, each layered over the defaults and the ones before",
    )
    group.add_argument("--profile", choices=values(Profile), help="error dialect and quirks (default orange)")
    group.add_argument(
        "--token-lifetime",
        metavar="SECONDS",
        type=_seconds,
        help="access token lifetime (default 3600)",
    )


def _add_cassette_flags(parser: argparse.ArgumentParser, recording: bool) -> None:
    group = parser.add_argument_group("cassette")
    group.add_argument(
        "--cassette",
        metavar="FILE",
        required=True,
        help="the cassette (vcrpy YAML), e.g. --cassette cassettes/login.yaml"
        + ("" if recording else "; it must exist (record it with `orange-proxy record --cassette FILE`)"),
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
        help="a request the cassette cannot answer: error (default), passthrough, synth",
    )
    group.add_argument(
        "--exhausted",
        choices=values(Exhausted),
        help="once every recorded answer to a request was served: repeat (default) the last, or miss",
    )
    group.add_argument(
        "--allow-misses",
        action="store_true",
        help="exit with status 0 even when a request missed the cassette (by default such a run exits "
        "with status 1 when it stops, so CI fails), e.g. while a cassette is being completed",
    )
    group.add_argument(
        "--require-all-played",
        action="store_true",
        help="exit with status 3 when interactions of the cassette were never played (the app stopped "
        "making a request the cassette expects)",
    )
    group.add_argument(
        "--ignore-json-field", metavar="FIELD", action="append", help="JSON field replay ignores"
    )
    group.add_argument(
        "--ignore-param",
        metavar="NAME",
        action="append",
        help="query/form parameter replay ignores (state, nonce and code_challenge always are)",
    )
    group.add_argument("--match-header", metavar="NAME", action="append", help="header replay also matches")
    upstream = parser.add_argument_group("upstream")
    upstream.add_argument(
        "--upstream",
        metavar="URL",
        help="send forwarded requests to this base URL; cassettes keep the original URI",
    )
    upstream.add_argument(
        "--upstream-ca", metavar="FILE", type=_readable_file, help="CA to trust for the upstream"
    )
    upstream.add_argument(
        "--upstream-insecure", action="store_true", help="do not verify the upstream's certificate"
    )
    if recording:
        scrub = parser.add_argument_group("scrubbing (always on; these add to it)")
        scrub.add_argument("--scrub-header", metavar="NAME", action="append", help="another header to scrub")
        scrub.add_argument(
            "--scrub-param", metavar="NAME", action="append", help="another query/form parameter"
        )
        scrub.add_argument(
            "--scrub-json-field", metavar="FIELD", action="append", help="another JSON field or path"
        )
        scrub.add_argument(
            "--pseudonymise-numbers",
            action="store_true",
            help="replace phone numbers by consistent +990 pseudonyms and KYC personal data (names, address, "
            "e-mail, birthdate…) by pseudonyms of the same shape (cassettes shared outside a team)",
        )


# The verdict of a record or replay run, for CI (see proxy_addons.addons.verdict).
EXIT_STATUSES = """\
exit status, when the proxy stops (SIGINT/SIGTERM), after a summary of the run:
  0  every request was answered as planned
  1  a request missed the cassette (unless --allow-misses)
  2  the proxy could not start (bad flag or option, rules, a cassette to replay that does not exist)
  3  with --require-all-played: interactions of the cassette were never played
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orange-proxy",
        description="Recording / replaying / synthesising test proxy for Orange's CAMARA APIs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    synth = commands.add_parser(
        "synth",
        help="(the default) answer as Orange's playground and lab would, with no account and no network",
        description="Start the proxy in synthesising mode.",
    )
    _add_proxy_flags(synth)
    _add_engine_flags(synth)
    _add_fault_flags(synth)

    record = commands.add_parser(
        "record",
        help="forward to the real api.orange.com (or --upstream) and record every exchange, scrubbed",
        description="Start the proxy in record mode.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_proxy_flags(record)
    _add_cassette_flags(record, recording=True)
    _add_engine_flags(record)
    _add_fault_flags(record)

    replay = commands.add_parser(
        "replay",
        help="answer from a cassette, with no network at all",
        description="Start the proxy in replay mode.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_proxy_flags(replay)
    _add_cassette_flags(replay, recording=False)
    _add_engine_flags(replay)
    _add_fault_flags(replay)

    cassette = commands.add_parser(
        "cassette", help="work on cassette files", description="Work on cassette files (vcrpy YAML)."
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
        "--listen-host", metavar="HOST", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    standin.add_argument(
        "--listen-port",
        metavar="PORT",
        type=_port,
        default=8443,
        help="port to listen on; 0 picks a free one (default 8443)",
    )
    standin.add_argument(
        "--cert", metavar="PEM", type=_readable_file, help="certificate (omit for plain HTTP)"
    )
    standin.add_argument("--key", metavar="PEM", type=_readable_file, help="its private key")
    standin.add_argument(
        "--self-signed",
        metavar="DIR",
        help="serve HTTPS with a throw-away certificate written to DIR/standin-cert.pem (trust that file)",
    )
    standin.add_argument("--gzip", action="store_true", help="gzip every answer")
    _add_engine_flags(standin)

    ca = commands.add_parser(
        "ca",
        help="print the path of the CA clients must trust (made if missing), and how to install it",
        description="Print the path of mitmproxy's CA certificate, the one the proxy signs with, on the\n"
        "first line (made in the confdir the way mitmproxy makes it if there is none yet), then install\n"
        "steps for programs, Android (user CA + network_security_config, emulator system store), iOS and\n"
        "http://mitm.it. Exit status 2, with a message, if the confdir or a file cannot be used.",
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
        "through the proxy too, e.g. --bundle ca-bundle.pem (then REQUESTS_CA_BUNDLE=ca-bundle.pem)",
    )
    ca.add_argument(
        "--android",
        metavar="DIR",
        help="also write DIR/<subject_hash_old>.0, the CA as an Android system store file (PEM) for "
        "/system/etc/security/cacerts on an emulator, e.g. --android ./android-ca",
    )
    ca.add_argument(
        "-q", "--quiet", action="store_true", help="print the CA path only, e.g. CA=$(orange-proxy ca -q)"
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
DEFAULTS: dict[str, object] = {"listen_host": "127.0.0.1", "listen_port": 8080}

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


COMMANDS = ("synth", "record", "replay", "cassette", "standin", "addon-path", "ca")


def preflight(args: argparse.Namespace) -> str | None:
    """What would stop the proxy from starting, said plainly (mitmproxy would exit 1 with less to go on)."""
    confdir = Path(args.confdir or "~/.mitmproxy").expanduser()
    try:
        confdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=confdir):
            pass
    except OSError as exc:
        return f"cannot use {confdir} as the confdir (the CA lives there): {exc.strerror or exc}"
    host = args.listen_host or DEFAULTS["listen_host"]
    port = args.listen_port if args.listen_port is not None else DEFAULTS["listen_port"]
    try:
        family = socket.AF_INET6 if ":" in str(host) else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((str(host), int(port)))
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"cannot listen on {host}:{port}: {reason}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # No command means synth: `orange-proxy` alone starts a proxy that needs no Orange account.
    if not any(arg in COMMANDS for arg in argv) and not {"-h", "--help", "--version"} & set(argv):
        argv.insert(0, "synth")
    args = build_parser().parse_args(argv)
    if args.command == "addon-path":
        from proxy_addons import mitm_script

        print(mitm_script.__file__)
        return 0
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
            cert, key = self_signed_certificate(Path(args.self_signed))
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
    except (OSError, ValueError) as exc:
        print(say(f"cannot start the stand-in: {exc}"), file=sys.stderr)
        return 2
    print(f"orange-proxy standin ready: {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
