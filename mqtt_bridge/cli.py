"""The ``exist-bridge`` command line.

Subcommands are registered in ``COMMANDS``: each entry adds its parser (with ``--help`` text) and
sets ``handler``, a function ``(args, out) -> int``. Errors are reported as one line on stderr
(``exist-bridge: error: ...``) with exit code 1; usage errors exit with 2 (argparse). A traceback
is only shown with ``--verbose``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from .addon.command import add_addon
from .backfill.command import add_backfill
from .cli_options import (
    BASE_URL_FLAG,
    CONFIG_HELP,
    add_config,
    add_old_name,
    deprecation_warnings,
    load_or_say,
    say_problems,
)
from .diagnose.reload_command import add_reload
from .exist.errors import ExistError
from .exist.oauth_flow import DEFAULT_REDIRECT_URI, DEFAULT_TIMEOUT, parse_scopes, run_authorize
from .exist.tokens import DEFAULT_BASE_URL
from .exist.version import __version__
from .watching import WATCH_INTERVAL

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

PROG = "exist-bridge"
DEFAULT_TOKEN_FILE = os.path.join("state", "token.json")


class _Output:
    """Where a command prints (injectable for tests)."""

    def __init__(self, stdout: TextIO, stderr: TextIO):
        self.stdout = stdout
        self.stderr = stderr

    def print(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def error(self, text: str) -> None:
        self.stderr.write(f"{PROG}: error: {text}\n")
        self.stderr.flush()


Handler = Callable[[argparse.Namespace, _Output], int]


# --------------------------------------------------------------------------- authorize


def _add_authorize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "authorize",
        help="authorise with Exist (OAuth2) and write the token file",
        description=(
            "Run Exist's OAuth2 authorisation flow once: print the authorise URL, wait for the "
            "browser to be redirected to --redirect-uri (a one-shot listener on its host and "
            "port), exchange the code for tokens and write them, with the client credentials, "
            "to --token-file (mode 0600). The redirect URI must be registered for the client on "
            "https://exist.io/account/apps/. With -c, the client, the Exist server and the token "
            "file come from the configuration's exist section; a flag given wins."
        ),
    )
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help=f"{CONFIG_HELP}: take exist.client_id, exist.client_secret, exist.base_url and "
        "exist.token_file from it",
    )
    p.add_argument(
        "--client-id",
        help="OAuth2 client id (default: exist.client_id from -c, else $EXIST_CLIENT_ID)",
    )
    p.add_argument(
        "--client-secret",
        help="OAuth2 client secret (default: exist.client_secret from -c, else "
        "$EXIST_CLIENT_SECRET, which keeps it out of ps)",
    )
    p.add_argument(
        "--scopes",
        required=True,
        help="comma-separated scopes to request, e.g. media_write,activity_write",
    )
    p.add_argument(
        "--redirect-uri",
        default=DEFAULT_REDIRECT_URI,
        help="redirect URI registered for the client (default: %(default)s)",
    )
    p.add_argument(
        BASE_URL_FLAG,
        dest="exist_base_url",
        metavar="URL",
        help=f"the Exist server (default: $EXIST_BASE_URL, else exist.base_url from -c, else "
        f"{DEFAULT_BASE_URL})",
    )
    add_old_name(p, "--base-url", BASE_URL_FLAG, "exist_base_url")
    p.add_argument(
        "--token-file",
        help="where to write the tokens (default: exist.token_file from -c, else "
        f"$EXIST_TOKEN_FILE, else {DEFAULT_TOKEN_FILE})",
    )
    p.add_argument(
        "--account",
        metavar="NAME",
        help="with -c and exist.accounts: whose token file to write (that account's "
        "token_file; default: the first account)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for the browser redirect (default: %(default).0f)",
    )
    p.set_defaults(handler=cmd_authorize)


def _authorize_settings(args: argparse.Namespace, out: _Output) -> dict[str, str | None] | None:
    """What ``authorize`` uses: each flag, else the configuration's ``exist`` key (with -c),
    else the environment variable, else the built-in default; None when -c can't be read."""
    exist = account = None
    if args.config:
        # a token is what authorize is about to write: it may not be there yet
        config = load_or_say(args.config, out, require_secrets=False)
        if config is None:
            return None
        exist = config.exist
        try:
            account = config.account(args.account) if args.account else config.accounts[0]
        except KeyError:
            names = ", ".join(a.name for a in config.accounts if a.name) or "none"
            out.error(f"{args.config}: no account {args.account!r} in exist.accounts ({names})")
            return None
    elif args.account:
        out.error("--account names one of exist.accounts: give the configuration with -c")
        return None
    env = os.environ
    secret = exist.client_secret.reveal() if exist and exist.client_secret else None
    token_file = str(account.token_file) if account and account.token_file else None
    return {
        "client_id": args.client_id or (exist and exist.client_id) or env.get("EXIST_CLIENT_ID"),
        "client_secret": args.client_secret or secret or env.get("EXIST_CLIENT_SECRET"),
        "base_url": args.exist_base_url
        or (exist.base_url if exist else env.get("EXIST_BASE_URL") or DEFAULT_BASE_URL),
        "token_file": args.token_file
        or token_file
        or env.get("EXIST_TOKEN_FILE", DEFAULT_TOKEN_FILE),
    }


def cmd_authorize(args: argparse.Namespace, out: _Output) -> int:
    """``exist-bridge authorize``: the OAuth2 flow, ending with a token file."""
    found = _authorize_settings(args, out)
    if found is None:
        return 1
    for key, variable in (
        ("client_id", "EXIST_CLIENT_ID"),
        ("client_secret", "EXIST_CLIENT_SECRET"),
    ):
        if not found[key]:
            also = f", or exist.{key} in {args.config}" if args.config else ""
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{flag} is required (or set {variable}{also})")
    base_url = str(found["base_url"])
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"{BASE_URL_FLAG} must start with http:// or https://, got {base_url!r}")
    run_authorize(
        client_id=str(found["client_id"]),
        client_secret=str(found["client_secret"]),
        scopes=parse_scopes(args.scopes),
        token_file=str(found["token_file"]),
        base_url=base_url,
        redirect_uri=args.redirect_uri,
        timeout=args.timeout,
        out=out.print,
    )
    return 0


# --------------------------------------------------------------------------- run, check, status


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the bridge in the foreground",
        description="Subscribe to the configured MQTT topics and write to Exist, until SIGTERM or "
        "Ctrl-C (which commit what was received, send what the request budget allows, and exit "
        "0). Logs go to stderr. Nothing received is lost if the process is killed: it is "
        "acknowledged to the broker only once stored in the state directory.",
    )
    add_config(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="subscribe with its own client id and a clean session (the real bridge's queued "
        "messages stay queued for it) and log what each message would do; nothing is written "
        "to Exist or the state directory",
    )
    p.add_argument(
        "--accept-fresh-outbox",
        action="store_true",
        help="start even though the outbox (state_dir/outbox.sqlite) was deleted, truncated or "
        "damaged: the old file is renamed to outbox.sqlite.lost-<time> and a fresh one is "
        "started. Its totals not yet sent to Exist are lost, and messages the broker redelivers "
        "may count twice. Without it, the bridge refuses to start over a lost outbox",
    )
    p.add_argument(
        "--watch-config",
        action="store_true",
        help="reload the configuration when its file changes (as SIGHUP or `exist-bridge "
        "reload` would: checked first, refused with check's errors if it has any); the file is "
        f"looked at every {WATCH_INTERVAL:g} seconds. Off by default",
    )
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace, out: _Output) -> int:
    from .config import load_config
    from .pipeline.buffer.outbox import OutboxError
    from .service import run as run_service
    from .state_dir import StateDirInUse

    config = load_or_say(args.config, out, check_files=True)
    if config is None:
        return 1
    if not args.verbose:
        logging.getLogger().setLevel(config.bridge.log_level)
    for warning in config.warnings:
        logging.getLogger("exist_bridge").warning("config: %s", warning)
    for error in config.check_errors:  # one mapping broken, not the bridge: run, but say so
        logging.getLogger("exist_bridge").error("config: %s", error)
    if args.dry_run:
        from .diagnose.dry_run import run_dry

        return run_dry(config)
    try:
        return run_service(
            config,
            accept_fresh_outbox=args.accept_fresh_outbox,
            reload=lambda: load_config(args.config, check_files=True),
            watch=[Path(args.config)] if args.watch_config else (),
        )
    except (OutboxError, StateDirInUse) as err:
        out.error(str(err))
        return 1


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="validate a configuration file",
        description="Check the configuration and report every problem with its key path and "
        "line, and open the files the bridge needs (the token file, the TLS CA, certificate and "
        "key) to prove they can be used. Exit status 0 when valid, 1 otherwise. Contacts neither "
        "the broker nor Exist, unless --online.",
    )
    add_config(p)
    p.add_argument(
        "--online",
        action="store_true",
        help="also connect to the broker (do the credentials work?) and call Exist with the "
        "token, each account's with exist.accounts (the profile, and which mapped attributes "
        "this client owns or would acquire or create); writes nothing",
    )
    p.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, out: _Output) -> int:
    config = load_or_say(args.config, out, check_files=True)
    if config is None:
        return 1
    for warning in config.warnings:
        out.print(f"warning: {warning}")
    if config.check_errors:
        errors = config.check_errors
        say_problems(out, args.config, len(errors), "\n".join(errors))
        return 1
    from .config.build import BASE_URL_VARIABLE

    override = f" from ${BASE_URL_VARIABLE}" if os.environ.get(BASE_URL_VARIABLE) else ""
    out.print(
        f"{args.config}: OK ({len(config.mappings)} mapping(s), {len(config.attributes)} "
        f"attribute(s), broker {config.mqtt.host}:{config.mqtt.port}, "
        f"Exist {config.exist.base_url}{override})"
    )
    read = config.read
    if read.enabled:
        chosen = ["all"] if read.all else [*read.attributes, *(f"group {g}" for g in read.groups)]
        out.print(
            f"read: {', '.join(chosen)} every {read.interval:g} s onto "
            f"{read.topic_prefix}/<attribute>/state"
        )
    if not args.online:
        return 0
    from .diagnose.online import check_online

    return check_online(config).show(out.print)


def _add_test(sub: argparse._SubParsersAction) -> None:
    from .diagnose.commands import add_test_parser

    add_test_parser(sub, add_config).set_defaults(handler=cmd_test)


def cmd_test(args: argparse.Namespace, out: _Output) -> int:
    """``exist-bridge test``: one message through the mappings, nothing written."""
    from .diagnose.commands import run_test

    config = load_or_say(args.config, out, check_files=True)
    return 1 if config is None else run_test(config, args, out.print)


def _add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="show pending totals, last sync, budget left and dead letters",
        description="Read the state directory of a (running or stopped) bridge and report "
        "whether a bridge is running on it, what is still to be sent, when Exist last confirmed "
        "a write, how many requests are left in this hour's budget, refused totals and bad input "
        "kept aside.",
    )
    add_config(p)
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument(
        "--check",
        action="store_true",
        help="health check (for Docker/systemd): exit 1 unless a bridge is running on this state "
        "directory (a process holds its bridge.lock), its heartbeat is fresh and it is connected "
        "to the broker",
    )
    p.add_argument(
        "--max-age",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="with --check: the oldest heartbeat that counts as alive (default 90; the bridge "
        "writes one every 15 s)",
    )
    p.add_argument(
        "--forget-refused",
        metavar="ATTRIBUTE",
        help="delete the totals Exist refused for ATTRIBUTE, an attribute no mapping uses any "
        "more (e.g. after fixing a typo); they were never stored in Exist",
    )
    p.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace, out: _Output) -> int:
    """``exist-bridge status`` (in ``diagnose.status_command``)."""
    from .diagnose.status_command import cmd_status as status

    return status(args, out)


# --------------------------------------------------------------------------- init

EXAMPLE_CONFIG = "config/example.yaml"  # package data of mqtt_bridge: the commented starter


def _add_init(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init",
        help="write a commented starter configuration to edit",
        description="Write the commented example configuration (every section, the secrets read "
        "from environment variables) to FILE, to edit for your broker, attributes and mappings; "
        "then `exist-bridge check -c FILE`. Never overwrites a file.",
    )
    p.add_argument(
        "file",
        nargs="?",
        default="bridge.yaml",
        metavar="FILE",
        help="where to write it (default: bridge.yaml; - prints it)",
    )
    p.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace, out: _Output) -> int:
    """``exist-bridge init``: the packaged example configuration, written where asked."""
    from importlib.resources import files

    text = files("mqtt_bridge").joinpath(EXAMPLE_CONFIG).read_text(encoding="utf-8")
    if args.file == "-":
        out.stdout.write(text)
        return 0
    try:
        with open(args.file, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise ValueError(
            f"{args.file} exists already: pass another FILE (nothing written)"
        ) from None
    out.print(f"wrote {args.file}: edit the broker, attributes and mappings, then run")
    out.print(f"  exist-bridge check -c {args.file}")
    return 0


# --------------------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="see it work: emulator + broker + bridge + simulated devices",
        description="Start the Exist emulator (in a thread), an MQTT broker (mosquitto from PATH, "
        "else the embedded one, amqtt), the bridge with the demo's own configuration and "
        "simulated devices (a fridge door sensor, a step counter, a mood button, a scale). Shows "
        "events in, requests out, the budget and the values in Exist live, then checks that Exist "
        "has exactly what the devices published (exit 0) and stops everything. Needs the "
        "emulator: pip install 'exist-mqtt-bridge[demo]'.",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="seconds to run (default 60; Ctrl-C stops earlier)",
    )
    p.add_argument(
        "--delay",
        "--flush-interval",
        dest="delay",  # --flush-interval: its name before deadlines
        type=float,
        default=5.0,
        help="seconds a change may wait before it is sent to Exist (default 5; real use: 300+)",
    )
    p.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="which broker to start (default auto: mosquitto if installed)",
    )
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, out: _Output) -> int:
    try:
        from exist_demo import run_demo
    except ImportError as err:
        raise ValueError(
            f"the demo needs the Exist emulator: pip install 'exist-mqtt-bridge[demo]' ({err})"
        ) from None
    if args.duration <= 0 or args.delay < 1:
        raise ValueError("--duration must be positive and --delay at least 1")
    try:
        return run_demo(args.duration, args.delay, args.broker, out=out.stdout)
    except RuntimeError as err:
        out.error(str(err))
        return 1


# --------------------------------------------------------------------------- the parser

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run,
    _add_check,
    _add_test,
    _add_status,
    add_reload,
    _add_authorize,
    _add_init,
    _add_demo,
    add_backfill,
    add_addon,
]


def _parser_class(stdout: TextIO, stderr: TextIO) -> type[argparse.ArgumentParser]:
    """An ``ArgumentParser`` (for the subcommands too) printing to the given streams, through
    argparse's public methods: help and usage, error messages and exits."""

    class Parser(argparse.ArgumentParser):
        def print_usage(self, file: SupportsWrite[str] | None = None) -> None:
            super().print_usage(stderr if file is sys.stderr else stdout)

        def print_help(self, file: SupportsWrite[str] | None = None) -> None:
            super().print_help(stderr if file is sys.stderr else stdout)

        def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
            if message:
                stderr.write(message)
            sys.exit(status)

    return Parser


def _version_action(stdout: TextIO) -> type[argparse.Action]:
    """``--version`` printing to ``stdout`` (argparse's own action writes to ``sys.stdout``)."""

    class Version(argparse.Action):
        def __init__(self, option_strings: list[str], dest: str, help: str | None = None):
            super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

        def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
            stdout.write(f"{PROG} {__version__}\n")
            parser.exit()

    return Version


def build_parser(
    stdout: TextIO | None = None, stderr: TextIO | None = None
) -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser_class = _parser_class(stdout or sys.stdout, stderr or sys.stderr)
    parser = parser_class(
        prog=PROG,
        description=(
            "Bridge MQTT device events to Exist (exist.io) attributes. "
            "Run `exist-bridge COMMAND --help` for a command's options."
        ),
        epilog=(
            "Documentation: docs/ in the project's source, also published as its documentation "
            "site: every command in docs/reference/cli.md, every configuration key in "
            "docs/reference/configuration.md, what a log line means in docs/troubleshooting.md."
        ),
    )
    parser.add_argument(
        "--version", action=_version_action(stdout or sys.stdout), help="print the version"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def run(argv: Sequence[str] | None, stdout: TextIO, stderr: TextIO) -> int:
    """Parse ``argv`` and run the command, printing to the given streams; returns the exit code."""
    out = _Output(stdout, stderr)
    parser = build_parser(stdout, stderr)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:  # --help, --version, usage errors
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stderr,
    )
    for warning in deprecation_warnings(args):
        stderr.write(f"{PROG}: warning: {warning}\n")
    handler: Handler = args.handler
    try:
        return handler(args, out)
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except (ExistError, ValueError, OSError) as err:
        if args.verbose:
            traceback.print_exc(file=stderr)
        out.error(_one_line(err))
        return 1
    except Exception as err:  # noqa: BLE001 - a CLI reports, it doesn't crash
        if args.verbose:
            traceback.print_exc(file=stderr)
        out.error(f"unexpected {type(err).__name__}: {_one_line(err)} (use --verbose for details)")
        return 1


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``exist-bridge`` script: returns the process exit code."""
    return run(argv, sys.stdout, sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
