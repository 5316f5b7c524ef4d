"""OAuth2 clients, authorisation codes, tokens and scopes, as plain Python.

Modelled on what exist.io shows: ``/oauth2/authorize`` + ``/oauth2/access_token`` with an
authorisation-code grant, year-long access tokens (``expires_in: 31535999``), refresh rotating both
tokens, 40-hex tokens, scopes per group. Each token belongs to one user and one client. The personal
"developer token" exist.io creates for an app's owner is a token of that app with every scope.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from .catalog import GROUPS, SCOPE_GROUP
from .clock import Clock
from .errors import OAuthError

ACCESS_TOKEN_LIFETIME = 31535999  # seconds, as exist.io answers
CODE_LIFETIME = 600  # seconds; the docs don't say, 10 minutes is the RFC 6749 ceiling (assumed)

_SCOPE_GROUPS = sorted({SCOPE_GROUP[g] for g in GROUPS})
READ_SCOPES = tuple(f"{g}_read" for g in _SCOPE_GROUPS) + ("manual_read",)
WRITE_SCOPES = tuple(f"{g}_write" for g in _SCOPE_GROUPS) + ("manual_write",)
ALL_SCOPES = READ_SCOPES + WRITE_SCOPES


def new_token() -> str:
    """40 lowercase hex characters, like exist.io's tokens."""
    return secrets.token_hex(20)


def parse_scopes(raw: str) -> list[str]:
    """Split a scope parameter (space-, plus- or comma-separated) and check every name."""
    names = [s for s in re.split(r"[\s,+]+", raw or "") if s]
    unknown = [s for s in names if s not in ALL_SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope(s): {', '.join(unknown)}")
    return list(dict.fromkeys(names))


def can_read(scopes: frozenset[str], group: str, manual: bool) -> bool:
    return f"{SCOPE_GROUP.get(group, group)}_read" in scopes or (manual and "manual_read" in scopes)


def can_write(scopes: frozenset[str], group: str, manual: bool) -> bool:
    return f"{SCOPE_GROUP.get(group, group)}_write" in scopes or (
        manual and "manual_write" in scopes
    )


@dataclass
class Client:
    client_id: str
    client_secret: str
    name: str
    label: str
    redirect_uris: list[str]
    username: str  # the user whose authorize page this mock shows (its owner)

    def service_json(self) -> dict:
        return {"name": self.name, "label": self.label}

    def to_json(self) -> dict:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "label": self.label,
            "redirect_uris": list(self.redirect_uris),
            "username": self.username,
        }


@dataclass
class Token:
    access_token: str
    username: str
    client_id: str | None  # None for a simple (read-only) token
    scopes: frozenset[str]
    expires_at: float | None  # POSIX seconds on the mock clock; None never expires
    refresh_token: str | None = None
    kind: str = "Bearer"  # or "Token" for simple tokens

    @property
    def read_only(self) -> bool:
        return self.kind == "Token"

    def to_json(self, now: float) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": self.kind,
            "username": self.username,
            "client_id": self.client_id,
            "scope": " ".join(sorted(self.scopes)),
            "expires_in": None if self.expires_at is None else round(self.expires_at - now),
            "refresh_token": self.refresh_token,
        }


@dataclass
class AuthCode:
    code: str
    client_id: str
    username: str
    scopes: list[str]
    redirect_uri: str
    expires_at: float


@dataclass
class OAuthRegistry:
    """Clients, codes and tokens, with the rules of the two OAuth2 endpoints."""

    clock: Clock
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh_index: dict[str, str] = field(default_factory=dict)  # refresh -> access
    codes: dict[str, AuthCode] = field(default_factory=dict)
    simple_tokens: dict[str, str] = field(default_factory=dict)  # username -> token

    def add_client(self, client: Client) -> Client:
        self.clients[client.client_id] = client
        return client

    def issue(
        self,
        username: str,
        client_id: str,
        scopes: list[str] | tuple[str, ...],
        expires_in: float | None = ACCESS_TOKEN_LIFETIME,
        access_token: str | None = None,
    ) -> Token:
        now = self.clock.timestamp()
        token = Token(
            access_token=access_token or new_token(),
            username=username,
            client_id=client_id,
            scopes=frozenset(scopes),
            expires_at=None if expires_in is None else now + expires_in,
            refresh_token=(refresh := new_token()),
        )
        self.tokens[token.access_token] = token
        self.refresh_index[refresh] = token.access_token
        return token

    def simple_token(self, username: str) -> Token:
        """The one read-only, never-expiring simple token of a user (created on first request)."""
        existing = self.simple_tokens.get(username)
        if existing:
            return self.tokens[existing]
        token = Token(new_token(), username, None, frozenset(READ_SCOPES), None, kind="Token")
        self.tokens[token.access_token] = token
        self.simple_tokens[username] = token.access_token
        return token

    def revoke(self, token: Token) -> None:
        self.tokens.pop(token.access_token, None)
        if token.refresh_token:
            self.refresh_index.pop(token.refresh_token, None)

    def lookup(self, scheme: str, value: str) -> tuple[Token | None, str]:
        """Find a live token for an ``Authorization`` header; returns (token, reason if None)."""
        token = self.tokens.get(value)
        if token is None or token.kind != scheme:
            return None, "Invalid token"
        if token.expires_at is not None and self.clock.timestamp() >= token.expires_at:
            return None, "Token has expired"
        return token, ""

    def grant_code(
        self, client: Client, username: str, scopes: list[str], redirect_uri: str
    ) -> str:
        code = new_token()
        self.codes[code] = AuthCode(
            code,
            client.client_id,
            username,
            scopes,
            redirect_uri,
            self.clock.timestamp() + CODE_LIFETIME,
        )
        return code

    def _client(self, client_id: str, client_secret: str) -> Client:
        client = self.clients.get(client_id or "")
        given = (client_secret or "").encode("utf-8", "surrogatepass")
        if client is None or not secrets.compare_digest(client.client_secret.encode(), given):
            raise OAuthError("invalid_client", "Client authentication failed", status=401)
        return client

    def exchange(self, form: dict[str, str]) -> Token:
        """The ``POST /oauth2/access_token`` rules for both grant types."""
        grant = form.get("grant_type", "")
        if grant not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type")
        client = self._client(form.get("client_id", ""), form.get("client_secret", ""))
        if grant == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)  # single use, even when it fails
            if code is None or code.client_id != client.client_id:
                raise OAuthError("invalid_grant", "Unknown or already used code")
            if self.clock.timestamp() >= code.expires_at:
                raise OAuthError("invalid_grant", "Code has expired")
            if form.get("redirect_uri", "") != code.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match")
            return self.issue(code.username, client.client_id, code.scopes)
        access = self.refresh_index.get(form.get("refresh_token", ""))
        old = self.tokens.get(access or "")
        if old is None or old.client_id != client.client_id:
            raise OAuthError("invalid_grant", "Unknown or already used refresh token")
        self.revoke(old)
        return self.issue(old.username, client.client_id, sorted(old.scopes))


def token_response(token: Token, now: float) -> dict:
    """The JSON body of a successful ``/oauth2/access_token`` answer."""
    expires_in = ACCESS_TOKEN_LIFETIME if token.expires_at is None else token.expires_at - now
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": max(0, round(expires_in)),
        "refresh_token": token.refresh_token,
        "scope": " ".join(sorted(token.scopes)),
    }
