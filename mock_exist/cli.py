"""``mock-exist``: run the emulated exist.io API v2 from the command line."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import __version__
from .state import MockConfig

EPILOG = """\
examples:
  mock-exist --port 5000 --token 0123456789abcdef0123456789abcdef01234567
      then: curl -H "Authorization: Bearer 0123...4567" http://127.0.0.1:5000/api/2/accounts/profile/
  mock-exist --client-id myapp --client-secret s3cret --redirect-uri http://localhost:8000/
      then open http://127.0.0.1:5000/oauth2/authorize?client_id=myapp&response_type=code&...

  mock-exist --state demo.json
      start from demo.json if it exists (users, attributes and values, clients, tokens, clock),
      save to it on exit (Ctrl-C or SIGTERM) and on POST /_mock/state/save

The dashboard is at /_mock/ in a browser. The test-control API is under /_mock/ (reset, state,
users, clients, tokens, clock, faults, rate-limit, journal, ledger, openapi.json); see README.md.
It is open to anyone who reaches the port: keep the default --host 127.0.0.1, or pass
--admin-token (a non-loopback --host without one prints a warning).
"""


def _token(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{40}", value):
        raise argparse.ArgumentTypeError(
            "must be 40 lowercase hex characters, like exist.io tokens"
        )
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown IANA timezone '{value}'") from None
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mock-exist",
        description="An offline emulator of the Exist (exist.io) API v2 and its OAuth2 flow, for "
        "testing Exist integrations. It keeps everything in memory and enforces exist.io's rules: "
        "ownership, scopes, value types, 35 objects per write, 300 requests/hour per token.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=5000, help="port to listen on (default 5000; 0 = any)"
    )
    p.add_argument(
        "--token",
        type=_token,
        help="personal token for the default user, with every read and write scope "
        "(default: a random one, printed at start)",
    )
    p.add_argument("--username", default="mock", help="default user's name (default mock)")
    p.add_argument(
        "--password",
        default="mock",
        help="default user's password, for /api/2/auth/simple-token/ (default mock)",
    )
    p.add_argument(
        "--timezone",
        type=_timezone,
        default="UTC",
        help="default user's timezone, which decides their 'today' (default UTC)",
    )
    p.add_argument(
        "--client-id",
        default="mock_client",
        help="OAuth2 client ID to register for the default user (default mock_client)",
    )
    p.add_argument(
        "--client-secret", default="mock_secret", help="that client's secret (default mock_secret)"
    )
    p.add_argument("--client-label", default="Mock client", help="the client's display name")
    p.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help="redirect URI registered for the client (repeatable; default http://localhost:8000/)",
    )
    p.add_argument(
        "--rate-limit",
        type=_positive,
        default=300,
        help="requests per token per sliding hour before 429 (default 300)",
    )
    p.add_argument(
        "--rate-mode",
        choices=("sliding", "fixed"),
        default="sliding",
        help="count the rate limit in a sliding hour (default), or in fixed windows aligned on "
        "the clock: 'rate-limited until the next hour'",
    )
    p.add_argument(
        "--no-retry-after",
        action="store_true",
        help="answer 429 without a Retry-After header",
    )
    p.add_argument(
        "--state",
        metavar="FILE",
        help="load the whole state from FILE at start (if it exists) and save it there on exit; "
        "a versioned JSON document, the same as GET /_mock/state",
    )
    p.add_argument(
        "--max-items",
        type=_positive,
        default=35,
        help="objects allowed in one write request (default 35)",
    )
    p.add_argument("--no-admin", action="store_true", help="disable the /_mock/ control API")
    p.add_argument(
        "--admin-token",
        help="require this secret in the X-Mock-Admin-Token header of every /_mock/ call "
        "(advised with a non-loopback --host: the control API shows every token)",
    )
    p.add_argument("--quiet", action="store_true", help="don't log each request")
    p.add_argument("--version", action="version", version=f"mock-exist {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = MockConfig(
        token=args.token,
        username=args.username,
        password=args.password,
        timezone=args.timezone,
        client_id=args.client_id,
        client_secret=args.client_secret,
        client_label=args.client_label,
        redirect_uris=args.redirect_uris or ["http://localhost:8000/"],
        rate_limit=args.rate_limit,
        rate_mode=args.rate_mode,
        retry_after=not args.no_retry_after,
        max_items=args.max_items,
        state_file=args.state,
        admin=not args.no_admin,
        admin_token=args.admin_token,
    )
    from .persistence import read_state_file
    from .server import MockServer, is_loopback

    loaded = None
    if args.state and Path(args.state).exists():
        try:
            loaded = read_state_file(args.state)
        except (OSError, ValueError) as err:
            print(f"mock-exist: cannot load state file {args.state}: {err}", file=sys.stderr)
            return 2

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quiet:
        logging.getLogger("mock_exist.access").setLevel(logging.WARNING)
    try:
        server = MockServer(config, host=args.host, port=args.port)
    except OSError as err:
        print(f"mock-exist: {err.strerror}", file=sys.stderr)
        return 1
    if loaded is not None:
        server.state.load_state(loaded)
    if not is_loopback(args.host) and config.admin and not config.admin_token:
        print(
            f"mock-exist: WARNING: listening on {args.host}, not a loopback address, with the "
            "/_mock/ control API open to anyone who can reach it: it shows every token and can "
            "reset the mock. Pass --admin-token SECRET (or --no-admin), or listen on 127.0.0.1.",
            file=sys.stderr,
            flush=True,
        )
    # before the banner: whoever reads "Press Ctrl-C" may send SIGTERM at once
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:  # the banner too: a Ctrl-C right after "Press Ctrl-C" is a clean stop
        print(f"mock-exist {__version__} listening on {server.url}", flush=True)
        print(f"  API base URL:   {server.url}/api/2/", flush=True)
        print(f"  OAuth2 URL:     {server.url}/oauth2/", flush=True)
        print(f"  user:           {config.username} (timezone {config.timezone})", flush=True)
        print(f"  token:          {server.token}", flush=True)
        print(
            f"  OAuth2 client:  {config.client_id} / {config.client_secret} -> "
            f"{', '.join(config.redirect_uris)}",
            flush=True,
        )
        if config.admin:
            print(f"  dashboard:      {server.url}/_mock/", flush=True)
        if config.admin_token:
            print("  control API:    /_mock/ (needs the X-Mock-Admin-Token header)", flush=True)
        if args.state:
            what = "loaded from" if loaded is not None else "new, saved on exit to"
            print(f"  state:          {what} {args.state}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        server.serve_forever()  # waitress ends it on Ctrl-C
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (_Stop)
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    code = 0
    if args.state:
        try:
            server.state.save_state()
            print(f"mock-exist: state saved to {args.state}", flush=True)
        except (OSError, ValueError) as err:
            print(f"mock-exist: cannot save state file {args.state}: {err}", file=sys.stderr)
            code = 1
    print("mock-exist stopped.", flush=True)
    return code


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM: leave the server loop at once. A KeyboardInterrupt,
    because waitress's loop swallows other exceptions raised inside its handlers."""


def _on_sigterm(signum: int, frame: object) -> None:
    """``docker stop`` (SIGTERM, also as PID 1, where the default action is to ignore it):
    stop serving now, like Ctrl-C. A second SIGTERM during the shutdown is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop()


if __name__ == "__main__":
    sys.exit(main())
