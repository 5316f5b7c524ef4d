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
from typing import TextIO

from .errors import ExistError
from .oauth_flow import DEFAULT_REDIRECT_URI, DEFAULT_TIMEOUT, parse_scopes, run_authorize
from .tokens import DEFAULT_BASE_URL
from .version import __version__

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
            "https://exist.io/account/apps/."
        ),
    )
    p.add_argument(
        "--client-id",
        default=os.environ.get("EXIST_CLIENT_ID"),
        help="OAuth2 client id (default: $EXIST_CLIENT_ID)",
    )
    p.add_argument(
        "--client-secret",
        default=os.environ.get("EXIST_CLIENT_SECRET"),
        help="OAuth2 client secret (default: $EXIST_CLIENT_SECRET, which keeps it out of ps)",
    )
    p.add_argument(
        "--scopes",
        required=True,
        help="comma-separated scopes to request, e.g. media_write,activity_write",
    )
    p.add_argument(
        "--redirect-uri",
        default=DEFAULT_REDIRECT_URI,
        help=f"redirect URI registered for the client (default: {DEFAULT_REDIRECT_URI})",
    )
    p.add_argument(
        "--base-url",
        default=os.environ.get("EXIST_BASE_URL", DEFAULT_BASE_URL),
        help=f"Exist server (default: $EXIST_BASE_URL or {DEFAULT_BASE_URL})",
    )
    p.add_argument(
        "--token-file",
        default=os.environ.get("EXIST_TOKEN_FILE", DEFAULT_TOKEN_FILE),
        help=f"where to write the tokens (default: $EXIST_TOKEN_FILE or {DEFAULT_TOKEN_FILE})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the browser redirect (default: {DEFAULT_TIMEOUT:.0f})",
    )
    p.set_defaults(handler=cmd_authorize)


def cmd_authorize(args: argparse.Namespace, out: _Output) -> int:
    """``exist-bridge authorize``: the OAuth2 flow, ending with a token file."""
    if not args.client_id:
        raise ValueError("--client-id is required (or set EXIST_CLIENT_ID)")
    if not args.client_secret:
        raise ValueError("--client-secret is required (or set EXIST_CLIENT_SECRET)")
    if not args.base_url.startswith(("http://", "https://")):
        raise ValueError(f"--base-url must start with http:// or https://, got {args.base_url!r}")
    run_authorize(
        client_id=args.client_id,
        client_secret=args.client_secret,
        scopes=parse_scopes(args.scopes),
        token_file=args.token_file,
        base_url=args.base_url,
        redirect_uri=args.redirect_uri,
        timeout=args.timeout,
        out=out.print,
    )
    return 0


# --------------------------------------------------------------------------- the parser

# Later subcommands (run, check, status) register here the same way.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_authorize]


def _parser_class(stdout: TextIO, stderr: TextIO) -> type[argparse.ArgumentParser]:
    """An ``ArgumentParser`` (for the subcommands too) printing to the given streams."""

    class Parser(argparse.ArgumentParser):
        def _print_message(self, message: str, file: object = None) -> None:
            if message:
                (stderr if file is sys.stderr else stdout).write(message)

    return Parser


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
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
