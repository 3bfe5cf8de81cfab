"""The `orange-proxy` command: a thin layer that maps flags onto mitmproxy options."""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from proxy_addons import __version__
from proxy_addons.errors import PROFILES


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
        "--proxy-mode",
        metavar="SPEC",
        action="append",
        help="mitmproxy mode, e.g. regular (default), transparent, wireguard, "
        "reverse:https://api.orange.com; repeatable",
    )
    net.add_argument(
        "--intercept-host",
        metavar="HOST",
        action="append",
        help="host whose traffic the proxy answers (repeatable; default api.orange.com); others pass through",
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


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("answers")
    group.add_argument(
        "--rules",
        metavar="FILE",
        action="append",
        type=_readable_file,
        help="rules file (YAML); repeatable, each layered over the defaults and the ones before",
    )
    group.add_argument("--profile", choices=PROFILES, help="error dialect and quirks (default orange)")
    group.add_argument(
        "--token-lifetime",
        metavar="SECONDS",
        type=_seconds,
        help="access token lifetime (default 3600)",
    )


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

    commands.add_parser(
        "addon-path",
        help="print the path of the mitmproxy addon script (for mitmdump/mitmweb -s)",
    )
    return parser


# Where neither a flag nor confdir/config.yaml says otherwise: safer than mitmproxy's own defaults
# (which listen on every interface).
DEFAULTS: dict[str, object] = {"listen_host": "127.0.0.1", "listen_port": 8080}


def proxy_options(args: argparse.Namespace, mode: str) -> dict[str, object]:
    """mitmproxy option values for the flags actually given (the rest stays with config.yaml or defaults)."""
    given = {
        "listen_host": args.listen_host,
        "listen_port": args.listen_port,
        "orange_profile": args.profile,
        "orange_token_lifetime": args.token_lifetime,
        "orange_rules": args.rules,
        "orange_intercept_hosts": args.intercept_host,
        "confdir": args.confdir,
        "mode": args.proxy_mode,
    }
    return {"orange_mode": mode, **{name: value for name, value in given.items() if value is not None}}


COMMANDS = ("synth", "addon-path")


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
    problem = preflight(args)
    if problem:
        print(f"orange-proxy: {problem}", file=sys.stderr)
        return 2
    # Imported here so `--help` and flag errors stay fast.
    from proxy_addons.runner import serve

    return serve(proxy_options(args, args.command), args.sets, args.command, DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
