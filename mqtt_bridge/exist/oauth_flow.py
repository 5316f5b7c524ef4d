"""The OAuth2 authorisation-code flow behind ``exist-bridge authorize``.

1. Print ``{base}/oauth2/authorize?client_id=..&response_type=code&redirect_uri=..&scope=a+b``
   (plus a random ``state``) for the user to open in a browser, where they click "Allow".
2. Listen once on the redirect URI's host and port (``http.server``) for Exist's redirect with
   ``?code=`` (or ``?error=``); the ``state`` must match the one we sent.
3. Exchange the code at ``/oauth2/access_token`` (``grant_type=authorization_code``, ``code``,
   ``client_id``, ``client_secret``, ``redirect_uri``) and write the token file (mode 0600).

The listener binds before the URL is printed, so the redirect can't arrive too early; it ignores
unrelated requests (``/favicon.ico``) and never logs the code.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from .errors import AuthorizationFailed
from .tokens import TokenFile, TokenSet, request_token
from .version import user_agent

SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*_(read|write)$")
DEFAULT_REDIRECT_URI = "http://localhost:8000/"
DEFAULT_TIMEOUT = 300.0


def parse_scopes(text: str | Sequence[str]) -> list[str]:
    """Split ``"a,b"`` / ``"a b"`` / ``"a+b"`` (or a list) into scope names, checking their form
    (``<group>_read`` or ``<group>_write``); ``ValueError`` when empty or malformed."""
    parts = re.split(r"[\s,+]+", text) if isinstance(text, str) else list(text)
    scopes = list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
    if not scopes:
        raise ValueError("no scopes given (e.g. --scopes media_write,activity_write)")
    bad = [s for s in scopes if not SCOPE_PATTERN.match(s)]
    if bad:
        raise ValueError(
            f"invalid scope(s) {', '.join(bad)}: scopes look like 'media_write' or 'mood_read'"
        )
    return scopes


def authorize_url(
    base_url: str,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str | None = None,
) -> str:
    """The page to send the user to: ``{base}/oauth2/authorize?client_id=..&response_type=code
    &redirect_uri=..&scope=a+b`` (plus ``state`` when given)."""
    params = [
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", " ".join(scopes)),
    ]
    if state:
        params.append(("state", state))
    return f"{base_url.rstrip('/')}/oauth2/authorize?{urlencode(params)}"


@dataclass(frozen=True)
class Redirect:
    """What arrived at the redirect URI."""

    code: str | None
    error: str | None
    error_description: str | None = None

    def __repr__(self) -> str:  # the code is a credential
        return f"Redirect(code={'<redacted>' if self.code else None}, error={self.error!r})"


_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>exist-bridge</title></head>"
    "<body style='font-family:sans-serif;max-width:36em;margin:3em auto'><h1>{title}</h1>"
    "<p>{text}</p></body></html>"
)


class RedirectListener:
    """A one-shot HTTP listener on the redirect URI's host and port."""

    def __init__(self, redirect_uri: str, expected_state: str | None = None):
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(
                f"can't listen on {redirect_uri!r}: the redirect URI must be http://host:port/ "
                "on this machine (e.g. http://localhost:8000/)"
            )
        self.redirect_uri = redirect_uri
        self.path = parts.path or "/"
        self.expected_state = expected_state
        self.result: Redirect | None = None
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                listener._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line holds the code: never log it

        try:
            self.server = HTTPServer((parts.hostname, parts.port or 80), Handler)
        except OSError as err:
            raise OSError(
                err.errno, f"can't listen on {parts.hostname}:{parts.port or 80}: {err.strerror}"
            ) from None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if (parts.path or "/") != self.path or not ({"code", "error"} & query.keys()):
            self._reply(request, 404, "Not found", "This is not the page you are looking for.")
            return
        if self.expected_state is not None and query.get("state") != self.expected_state:
            self.result = Redirect(None, "state_mismatch", "the state parameter did not match")
            self._reply(request, 400, "Authorisation failed", "The state parameter did not match.")
        elif "error" in query:
            self.result = Redirect(None, query["error"], query.get("error_description"))
            self._reply(request, 200, "Authorisation failed", f"Exist answered: {query['error']}.")
        else:
            self.result = Redirect(query["code"], None)
            self._reply(
                request,
                200,
                "exist-bridge is authorised",
                "You can close this tab and go back to the terminal.",
            )

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(body)

    def wait(
        self, timeout: float = DEFAULT_TIMEOUT, stop: threading.Event | None = None
    ) -> Redirect:
        """Serve requests until the redirect arrives; ``AuthorizationFailed`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.result is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                raise AuthorizationFailed(
                    f"no redirect from Exist arrived at {self.redirect_uri} within {timeout:.0f}s"
                )
            self.server.timeout = min(remaining, 0.5)
            self.server.handle_request()
        return self.result

    def close(self) -> None:
        """Stop listening."""
        self.server.server_close()

    def __enter__(self) -> RedirectListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def exchange_code(
    code: str,
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """Trade an authorisation code for tokens (``grant_type=authorization_code``)."""
    own = session is None
    session = session or requests.Session()
    session.headers.setdefault("User-Agent", user_agent())
    try:
        body = request_token(
            session,
            base_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
            },
        )
    finally:
        if own:
            session.close()
    return TokenSet.from_response(body, clock(), client_id, client_secret)


def run_authorize(
    *,
    client_id: str,
    client_secret: str,
    scopes: Sequence[str],
    token_file: TokenFile | str,
    base_url: str = "https://exist.io",
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    timeout: float = DEFAULT_TIMEOUT,
    out: Callable[[str], None] = print,
    on_ready: Callable[[str], None] | None = None,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """The whole flow: listen, print the URL (and call ``on_ready(url)``), wait for the redirect,
    exchange the code and save the tokens (with the client credentials, for refreshing) to
    ``token_file``. Raises ``AuthorizationFailed`` (denied, timeout, bad state or code)."""
    scopes = parse_scopes(scopes)
    file = token_file if isinstance(token_file, TokenFile) else TokenFile(token_file)
    state = secrets.token_urlsafe(16)
    with RedirectListener(redirect_uri, expected_state=state) as listener:
        url = authorize_url(base_url, client_id, redirect_uri, scopes, state)
        out("Open this URL in a browser where you are logged in to Exist, and click Allow:")
        out("")
        out(f"    {url}")
        out("")
        out(f"Waiting for Exist to redirect to {redirect_uri} ...")
        if on_ready is not None:
            on_ready(url)
        result = listener.wait(timeout)
    if result.error or not result.code:
        detail = f" ({result.error_description})" if result.error_description else ""
        raise AuthorizationFailed(f"authorisation failed: {result.error}{detail}")
    tokens = exchange_code(
        result.code,
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        session=session,
        clock=clock,
    )
    file.save(tokens)
    granted = " ".join(tokens.scopes) or "(none reported)"
    out(f"Authorised. Token saved to {file.path} (mode 0600); scopes: {granted}")
    return tokens
