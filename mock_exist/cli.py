"""``mock-exist``: run the emulated exist.io API v2 from the command line."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import __version__
from .control.python_api import MockConfig, MockExist

if TYPE_CHECKING:
    from .control.state_file import ParsedState
    from .server import MockServer

EPILOG = """\
examples:
  mock-exist --port 5000 --token 0123456789abcdef0123456789abcdef01234567
      then: curl -H "Authorization: Bearer 0123...4567" http://127.0.0.1:5000/api/2/accounts/profile/
  mock-exist --client-id myapp --client-secret s3cret --redirect-uri http://localhost:8000/
      then open http://127.0.0.1:5000/oauth2/authorize?client_id=myapp&response_type=code&...

  mock-exist --state demo.json
      start from demo.json if it exists (users, attributes and values, clients, tokens, clock),
      save to it on exit (Ctrl-C or SIGTERM) and on POST /_mock/state/save; flags given
      explicitly (--token, --timezone, --rate-limit, --max-items, ...) apply on top of it

The dashboard is at /_mock/ in a browser. The test-control API is under /_mock/ (reset, state,
users, clients, tokens, clock, faults, rate-limit, journal, ledger, openapi.json); see the
documentation's *The control API* page, docs/mock-exist/control-api.md.
It is open to anyone who reaches the port: keep the default --host 127.0.0.1, or pass
--admin-token (a non-loopback --host without one prints a warning). A state-changing call whose
Origin or Referer is another site (a web page) is refused with 403.
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
    p.add_argument("--username", help="default user's name (default mock)")
    p.add_argument(
        "--password",
        help="default user's password, for /api/2/auth/simple-token/ (default mock)",
    )
    p.add_argument(
        "--timezone",
        type=_timezone,
        help="default user's timezone, which decides their 'today' (default UTC)",
    )
    p.add_argument(
        "--client-id",
        help="OAuth2 client ID to register for the default user (default mock_client)",
    )
    p.add_argument("--client-secret", help="that client's secret (default mock_secret)")
    p.add_argument("--client-label", help="the client's display name (default Mock client)")
    p.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help="redirect URI registered for the client (repeatable; default http://localhost:8000/)",
    )
    p.add_argument(
        "--rate-limit",
        type=_positive,
        help="requests per token per sliding hour before 429 (default 300)",
    )
    p.add_argument(
        "--rate-mode",
        choices=("sliding", "fixed"),
        help="count the rate limit in a sliding hour (default), or in fixed windows aligned on "
        "the clock: 'rate-limited until the next hour'",
    )
    p.add_argument(
        "--no-retry-after",
        action="store_true",
        default=None,
        help="answer 429 without a Retry-After header",
    )
    p.add_argument(
        "--state",
        metavar="FILE",
        help="load the whole state from FILE at start (if it exists) and save it there on exit; "
        "a versioned JSON document, the same as GET /_mock/state. Flags given explicitly "
        "(--token, --timezone, --rate-limit, ...) apply on top of the loaded state",
    )
    p.add_argument(
        "--max-items",
        type=_positive,
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


def _given(args: argparse.Namespace) -> dict:
    """The ``MockConfig`` fields set explicitly on the command line (absent flags left out)."""
    given = {
        "token": args.token,
        "username": args.username,
        "password": args.password,
        "timezone": args.timezone,
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "client_label": args.client_label,
        "redirect_uris": args.redirect_uris,
        "rate_limit": args.rate_limit,
        "rate_mode": args.rate_mode,
        "retry_after": None if args.no_retry_after is None else False,
        "max_items": args.max_items,
    }
    return {key: value for key, value in given.items() if value is not None}


USER_FLAGS = ("token", "username", "password", "timezone")
CLIENT_FLAGS = ("client_id", "client_secret", "client_label", "redirect_uris")
RATE_FLAGS = ("rate_limit", "rate_mode", "retry_after")


def apply_flags(mock: MockExist, given: dict) -> None:
    """Apply the explicit flags ``given`` (see ``_given``) over a state just loaded from a
    ``--state`` file: the command line wins over the file, the file over the defaults. The
    default user (and client) are created if the file lacks them and a flag concerns them."""
    cfg = mock.config
    with mock.lock:
        if set(given) & {*USER_FLAGS, *CLIENT_FLAGS} and cfg.username not in mock.store.users:
            mock.add_user(cfg.username, cfg.timezone, cfg.password)
        if "timezone" in given:
            mock.set_timezone(cfg.username, cfg.timezone)
        if "password" in given:
            mock.store.users[cfg.username].password = cfg.password
        existing = mock.oauth.clients.get(cfg.client_id)
        if set(given) & set(CLIENT_FLAGS) or ("token" in given and existing is None):
            mock.add_client(
                cfg.client_id,
                given.get(
                    "client_secret", existing.client_secret if existing else cfg.client_secret
                ),
                given.get(
                    "redirect_uris", existing.redirect_uris if existing else cfg.redirect_uris
                ),
                name=existing.name if existing and "client_label" not in given else None,
                label=given.get("client_label", existing.label if existing else cfg.client_label),
                username=existing.username if existing else cfg.username,
            )
        if "token" in given:
            mock.issue_token(cfg.username, cfg.client_id, access_token=cfg.token)
        if set(given) & set(RATE_FLAGS):
            mock.set_rate_limit(
                given.get("rate_limit", mock.limiter.limit),
                mode=given.get("rate_mode"),
                retry_after=given.get("retry_after"),
            )
        if "max_items" in given:
            mock.set_max_items(given["max_items"])


def banner(mock: MockExist, url: str) -> list[str]:
    """The start banner's lines: what is in effect (after a ``--state`` file and the flags)."""
    cfg = mock.config
    with mock.lock:
        user = mock.store.users.get(cfg.username)
        client = mock.oauth.clients.get(cfg.client_id)
        token = mock.token
        limiter = mock.limiter
        lines = [
            f"mock-exist {__version__} listening on {url}",
            f"  API base URL:   {url}/api/2/",
            f"  OAuth2 URL:     {url}/oauth2/",
            f"  user:           {cfg.username} (timezone {user.timezone})"
            if user
            else f"  user:           {cfg.username} (not in the state file)",
            f"  token:          {token}"
            if token in mock.oauth.tokens
            else "  token:          (none for this user in the state file)",
            f"  OAuth2 client:  {client.client_id} / {client.client_secret} -> "
            f"{', '.join(client.redirect_uris)}"
            if client
            else f"  OAuth2 client:  {cfg.client_id} (not in the state file)",
            f"  limits:         {limiter.limit} requests per {limiter.window:g} s per token "
            f"({limiter.mode}{'' if limiter.retry_after else ', no Retry-After'}), "
            f"at most {cfg.max_items} objects per write",
        ]
    if cfg.admin:
        lines.append(f"  dashboard:      {url}/_mock/")
    if cfg.admin_token:
        lines.append("  control API:    /_mock/ (needs the X-Mock-Admin-Token header)")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    given = _given(args)
    config = MockConfig(
        **given,
        state_file=args.state,
        admin=not args.no_admin,
        admin_token=args.admin_token,
    )
    from .server import MockServer, is_loopback

    try:
        loaded = _read_state(args.state)
    except _CannotStart as err:
        print(f"mock-exist: {err}", file=sys.stderr)
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
        apply_flags(server.state, given)
    if not is_loopback(args.host) and config.admin and not config.admin_token:
        print(
            f"mock-exist: WARNING: listening on {args.host}, not a loopback address, with the "
            "/_mock/ control API open to anyone who can reach it: it shows every token and can "
            "reset the mock. Pass --admin-token SECRET (or --no-admin), or listen on 127.0.0.1.",
            file=sys.stderr,
            flush=True,
        )
    _serve(server, args.state, loaded is not None)
    code = _save_state(server, args.state)
    print("mock-exist stopped.", flush=True)
    return code


class _CannotStart(Exception):
    """The state file given with --state can't be used; the message says why."""


def _read_state(path: str | None) -> ParsedState | None:
    """The state saved in ``path``, or None when there is none yet (or no --state)."""
    from .control.state_file import read_state_file, state_file_problem

    if not path:
        return None
    problem = state_file_problem(path)
    if problem:
        raise _CannotStart(f"cannot use state file {path}: {problem}")
    if not Path(path).exists():
        return None
    try:
        return read_state_file(path)
    except (OSError, ValueError) as err:
        raise _CannotStart(f"cannot load state file {path}: {err}") from err


def _serve(server: MockServer, state_path: str | None, loaded: bool) -> None:
    """Print the banner and serve until Ctrl-C or SIGTERM."""
    # before the banner: whoever reads "Press Ctrl-C" may send SIGTERM at once
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:  # the banner too: a Ctrl-C right after "Press Ctrl-C" is a clean stop
        for line in banner(server.state, server.url):
            print(line, flush=True)
        if state_path:
            what = "loaded from" if loaded else "new, saved on exit to"
            print(f"  state:          {what} {state_path}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        server.serve_forever()  # waitress ends it on Ctrl-C
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (_Stop)
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()


def _save_state(server: MockServer, state_path: str | None) -> int:
    """Save the state on exit when --state was given: the exit code (1 when it can't be saved)."""
    if not state_path:
        return 0
    try:
        server.state.save_state()
    except (OSError, ValueError) as err:
        print(f"mock-exist: cannot save state file {state_path}: {err}", file=sys.stderr)
        return 1
    print(f"mock-exist: state saved to {state_path}", flush=True)
    return 0


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM: leave the server loop at once. A KeyboardInterrupt,
    because waitress's loop swallows other exceptions raised inside its handlers."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    """``docker stop`` (SIGTERM, also as PID 1, where the default action is to ignore it):
    stop serving now, like Ctrl-C. A second SIGTERM during the shutdown is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop()


if __name__ == "__main__":
    sys.exit(main())
