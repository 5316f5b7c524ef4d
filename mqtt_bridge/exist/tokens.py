"""Credentials for the Exist API: a personal token, or OAuth2 tokens kept in a token file.

- ``StaticToken``: a personal developer token (or any access token) given as a plain string. No
  refresh: a 401 is final.
- ``OAuthCredentials``: tokens in a JSON token file (mode 0600, written atomically). On a 401 the
  client asks for exactly one refresh (``grant_type=refresh_token``); Exist rotates both tokens and
  invalidates the old pair, so the new pair is written to the file *before* it is used - a crash
  right after a refresh can't leave the file with a dead refresh token. Optionally the access token
  is refreshed proactively when it is within ``refresh_margin`` seconds of expiry.

Tokens never appear in ``repr``, log lines or exception messages.

Token file format (JSON object)::

    {"access_token": "...", "refresh_token": "...", "token_type": "Bearer",
     "scope": "activity_write media_write", "expires_at": 1767225600.0, "obtained_at": ...,
     "client_id": "...", "client_secret": "..."}

Only ``access_token`` is required; ``client_id``/``client_secret`` are stored by
``exist-bridge authorize`` so a refresh needs nothing but the file (it is private to its owner,
like the tokens).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import requests

from .errors import AuthError, ConnectionFailed, CredentialsError, ServerError
from .jsonfile import locked, read_json, write_json_atomic

log = logging.getLogger("exist_bridge.tokens")

DEFAULT_BASE_URL = "https://exist.io"
TOKEN_PATH = "/oauth2/access_token"
DEFAULT_REFRESH_MARGIN = 7 * 24 * 3600.0  # tokens live a year; refresh in their last week
PROACTIVE_RETRY_PAUSE = 3600.0  # after a failed proactive refresh, wait this long to try again


@dataclass(frozen=True)
class TokenSet:
    """An access token with what came with it. Secrets are excluded from ``repr``."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # POSIX seconds; None: unknown / never
    scope: str = ""
    token_type: str = "Bearer"
    obtained_at: float | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_response(
        cls,
        data: dict[str, Any],
        now: float,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> TokenSet:
        """Build from a ``/oauth2/access_token`` answer (``expires_in`` is relative to ``now``)."""
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthError("token endpoint answered without an access_token")
        expires_in = data.get("expires_in")
        expires_at = now + float(expires_in) if isinstance(expires_in, (int, float)) else None
        refresh = data.get("refresh_token")
        return cls(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=expires_at,
            scope=str(data.get("scope") or ""),
            token_type=str(data.get("token_type") or "Bearer"),
            obtained_at=now,
            client_id=client_id,
            client_secret=client_secret,
        )

    @classmethod
    def from_json(cls, data: Any) -> TokenSet:
        """Build from the token file's JSON object; ``CredentialsError`` if it is not usable."""
        if not isinstance(data, dict):
            raise CredentialsError("token file must contain a JSON object")
        access = data.get("access_token")
        if not isinstance(access, str) or not access.strip():
            raise CredentialsError("token file has no access_token")

        def opt_str(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        def opt_float(key: str) -> float | None:
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            return None

        return cls(
            access_token=access.strip(),
            refresh_token=opt_str("refresh_token"),
            expires_at=opt_float("expires_at"),
            scope=opt_str("scope") or "",
            token_type=opt_str("token_type") or "Bearer",
            obtained_at=opt_float("obtained_at"),
            client_id=opt_str("client_id"),
            client_secret=opt_str("client_secret"),
        )

    def to_json(self) -> dict[str, Any]:
        """The token file's JSON object."""
        data: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "scope": self.scope,
        }
        optional = {
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "obtained_at": self.obtained_at,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    @property
    def scopes(self) -> list[str]:
        return [s for s in self.scope.replace("+", " ").split() if s]


class TokenFile:
    """A JSON token file, created with mode 0600 and replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> TokenSet:
        """Read the tokens; ``CredentialsError`` if the file is missing, unreadable or invalid."""
        try:
            data = read_json(self.path)
        except ValueError:
            raise CredentialsError(f"token file {self.path} is not valid JSON") from None
        except OSError as err:
            raise CredentialsError(f"cannot read token file {self.path}: {err.strerror}") from None
        if data is None:
            raise CredentialsError(
                f"token file {self.path} does not exist (run `exist-bridge authorize`)"
            )
        return TokenSet.from_json(data)

    def save(self, tokens: TokenSet) -> None:
        """Write the tokens atomically (temp file + ``os.replace``), mode 0600."""
        with locked(self.path):
            write_json_atomic(self.path, tokens.to_json(), mode=0o600)


class Credentials(Protocol):
    """What the Exist client needs from a credential source."""

    def access_token(self) -> str:
        """The access token to send now."""
        ...

    def can_refresh(self) -> bool:
        """Whether ``refresh`` can possibly produce a new token."""
        ...

    def needs_refresh(self, now: float) -> bool:
        """Whether the token should be refreshed proactively before the next request."""
        ...

    def refresh(
        self, failed_token: str, session: requests.Session, base_url: str, timeout: Any
    ) -> str:
        """Get a new access token to replace ``failed_token``; ``AuthError`` if impossible."""
        ...

    def secrets(self) -> list[str]:
        """Every secret string, so the client can redact them from messages."""
        ...


class StaticToken:
    """A personal developer token: sent as is, never refreshed."""

    def __init__(self, token: str):
        token = (token or "").strip()
        if not token:
            raise CredentialsError("empty access token")
        self._token = token

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"

    def access_token(self) -> str:
        """The token."""
        return self._token

    def can_refresh(self) -> bool:
        """Never: a personal token has no refresh token."""
        return False

    def needs_refresh(self, now: float) -> bool:
        """Never."""
        return False

    def refresh(
        self, failed_token: str, session: requests.Session, base_url: str, timeout: Any
    ) -> str:
        """Always fails: Exist refused the token and there is nothing to refresh it with."""
        raise AuthError("Exist refused the access token (401) and it cannot be refreshed")

    def secrets(self) -> list[str]:
        """The token."""
        return [self._token]


def request_token(
    session: requests.Session, base_url: str, form: dict[str, str], timeout: Any = (10, 30)
) -> dict[str, Any]:
    """POST ``form`` to ``{base_url}/oauth2/access_token`` and return the JSON answer.

    Raises ``AuthError`` for an OAuth2 error answer (``invalid_grant``...), ``ServerError`` for a
    5xx and ``ConnectionFailed`` when Exist can't be reached. Never includes the form in errors.
    """
    url = base_url.rstrip("/") + TOKEN_PATH
    try:
        response = session.post(url, data=form, timeout=timeout)
    except requests.RequestException as err:
        raise ConnectionFailed(f"cannot reach {url}: {type(err).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500:
        raise ServerError(f"token endpoint answered {response.status_code}", response.status_code)
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        what = ": ".join(str(x) for x in (error, description) if x) or "no details"
        raise AuthError(
            f"token endpoint refused the request ({response.status_code}, {what})",
            response.status_code,
        )
    return body


class OAuthCredentials:
    """OAuth2 tokens from a token file, refreshed (and rotated) on demand.

    ``client_id``/``client_secret`` default to the ones stored in the token file. ``clock`` gives
    POSIX seconds (for expiry); ``refresh_margin`` is how close to expiry a proactive refresh
    happens (0 disables proactive refresh).
    """

    def __init__(
        self,
        token_file: TokenFile | str | os.PathLike[str],
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ):
        self.token_file = token_file if isinstance(token_file, TokenFile) else TokenFile(token_file)
        self._client_id = client_id
        self._client_secret = client_secret
        self.refresh_margin = refresh_margin
        self.clock = clock
        self._tokens: TokenSet | None = None
        self._lock = threading.RLock()
        self._proactive_failed_at: float | None = None

    def __repr__(self) -> str:
        return f"OAuthCredentials({self.token_file!r})"

    @property
    def tokens(self) -> TokenSet:
        """The current tokens (loaded from the file on first use)."""
        with self._lock:
            if self._tokens is None:
                self._tokens = self.token_file.load()
            return self._tokens

    @property
    def client_id(self) -> str | None:
        return self._client_id or self.tokens.client_id

    def _client_secret_value(self) -> str | None:
        return self._client_secret or self.tokens.client_secret

    def access_token(self) -> str:
        """The current access token."""
        return self.tokens.access_token

    def can_refresh(self) -> bool:
        """True when there is a refresh token and client credentials to use it with."""
        t = self.tokens
        return bool(t.refresh_token and self.client_id and self._client_secret_value())

    def needs_refresh(self, now: float) -> bool:
        """True within ``refresh_margin`` of expiry (and not right after a failed attempt)."""
        if self.refresh_margin <= 0 or not self.can_refresh():
            return False
        expires_at = self.tokens.expires_at
        if expires_at is None or expires_at - now > self.refresh_margin:
            return False
        failed = self._proactive_failed_at
        return failed is None or now - failed >= PROACTIVE_RETRY_PAUSE

    def note_proactive_failure(self, now: float) -> None:
        """Remember a failed proactive refresh so it is not retried on every request."""
        self._proactive_failed_at = now

    def refresh(
        self, failed_token: str, session: requests.Session, base_url: str, timeout: Any = (10, 30)
    ) -> str:
        """Replace ``failed_token``: adopt a newer token already in the file (another process
        refreshed or re-authorised), else use the refresh token once. The new pair is saved to the
        token file before it is returned. Raises ``AuthError`` when no refresh is possible."""
        with self._lock:
            try:
                on_disk = self.token_file.load()
            except CredentialsError:
                on_disk = None
            if on_disk is not None and on_disk.access_token != failed_token:
                log.info("using the newer token found in %s", self.token_file.path)
                self._tokens = on_disk
                return on_disk.access_token
            current = on_disk or self.tokens
            if self._tokens is not None and self._tokens.access_token != failed_token:
                return self._tokens.access_token  # refreshed meanwhile by another thread
            client_id, secret = self._client_id or current.client_id, self._client_secret_value()
            if not current.refresh_token:
                raise AuthError("Exist refused the access token and there is no refresh token")
            if not client_id or not secret:
                raise AuthError("cannot refresh the token: client_id/client_secret are unknown")
            form = {
                "grant_type": "refresh_token",
                "refresh_token": current.refresh_token,
                "client_id": client_id,
                "client_secret": secret,
            }
            body = request_token(session, base_url, form, timeout)
            new = TokenSet.from_response(
                body, self.clock(), current.client_id, current.client_secret
            )
            if new.refresh_token is None:
                new = replace(new, refresh_token=current.refresh_token)
            self.token_file.save(new)  # persist first: the old pair is already dead
            self._tokens = new
            self._proactive_failed_at = None
            log.info("access token refreshed; new tokens saved to %s", self.token_file.path)
            return new.access_token

    def secrets(self) -> list[str]:
        """Access and refresh tokens and the client secret (for redaction)."""
        with self._lock:
            t = self._tokens
            values = [self._client_secret]
            if t is not None:
                values += [t.access_token, t.refresh_token, t.client_secret]
            return [v for v in values if v]


def load_credentials(
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    **kwargs: Any,
) -> Credentials:
    """A personal ``token`` string, or the OAuth2 tokens of ``token_file`` (exactly one of them)."""
    if token and not token_file:
        return StaticToken(token)
    if token_file and not token:
        return OAuthCredentials(TokenFile(token_file), client_id, client_secret, **kwargs)
    raise CredentialsError("give exactly one of a token or a token file")
