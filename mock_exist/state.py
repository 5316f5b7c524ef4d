"""``MockExist``: all the state of one emulated exist.io, and the Python API tests drive it with.

One instance lives in each Flask app (``app.extensions["mock_exist"]``); nothing is global. Every
public method takes the instance's lock, so the threaded HTTP server and a test thread can use it
at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from .catalog import GROUPS
from .clock import Clock
from .errors import NotAuthenticated
from .faults import FaultRule, FaultRules
from .journal import Journal, Ledger
from .oauth import ALL_SCOPES, Client, OAuthRegistry, Token, new_token
from .ratelimit import RateLimiter
from .store import Attribute, Store, User, slugify


@dataclass
class MockConfig:
    """Settings of one mock instance; every field has a default that works out of the box."""

    token: str | None = None  # personal token of the default user; random when None
    username: str = "mock"
    password: str = "mock"
    timezone: str = "UTC"
    client_id: str = "mock_client"
    client_secret: str = "mock_secret"
    client_label: str = "Mock client"
    redirect_uris: list[str] = field(default_factory=lambda: ["http://localhost:8000/"])
    rate_limit: int = 300
    rate_window: float = 3600.0
    max_items: int = 35
    admin: bool = True
    clock_start: datetime | None = None
    clock_frozen: bool = False
    journal_size: int = 50_000  # entries kept in the request journal
    journal_bytes: int = 16 * 1024 * 1024  # ... and at most this many bytes of kept bodies
    journal_body_bytes: int = 64 * 1024  # a body larger than this is journaled without content
    max_body_bytes: int = 1024 * 1024  # a request body larger than this is refused with 413
    admin_token: str | None = None  # when set, /_mock/ needs it in the X-Mock-Admin-Token header


class MockExist:
    def __init__(self, config: MockConfig | None = None):
        self.config = config or MockConfig()
        if self.config.token is None:
            self.config.token = new_token()
        self.lock = threading.RLock()
        self.clock = Clock(self.config.clock_start, frozen=self.config.clock_frozen)
        self.reset()

    # ----------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        """Back to a fresh instance: the default user, client and personal token only."""
        with self.lock:
            cfg = self.config
            self.oauth = OAuthRegistry(self.clock)
            self.ledger_log = Ledger()
            self.journal_log = Journal(cfg.journal_size, cfg.journal_bytes)
            self.store = Store(self.clock, self.oauth, self.ledger_log)
            self.limiter = RateLimiter(self.clock, cfg.rate_limit, cfg.rate_window)
            self.faults = FaultRules()
            self.add_user(cfg.username, cfg.timezone, cfg.password)
            self.add_client(
                cfg.client_id,
                cfg.client_secret,
                list(cfg.redirect_uris),
                label=cfg.client_label,
                username=cfg.username,
            )
            self.issue_token(cfg.username, cfg.client_id, access_token=cfg.token)

    @property
    def token(self) -> str:
        return self.config.token or ""

    # ----------------------------------------------------------------- users, clients, tokens

    def add_user(
        self,
        username: str,
        timezone: str = "UTC",
        password: str | None = None,
        first_name: str = "Mock",
        last_name: str = "User",
    ) -> User:
        with self.lock:
            if username in self.store.users:
                raise ValueError(f"user '{username}' already exists")
            return self.store.add_user(
                User(username, password or username, timezone, first_name, last_name)
            )

    def set_timezone(self, username: str, timezone: str) -> None:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
        with self.lock:
            self.store.user(username).timezone = timezone

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | None = None,
        name: str | None = None,
        label: str | None = None,
        username: str | None = None,
    ) -> Client:
        with self.lock:
            username = username or self.config.username
            if username not in self.store.users:
                raise ValueError(f"unknown user '{username}'")
            label = label or client_id
            client = Client(
                client_id=client_id,
                client_secret=client_secret,
                name=name or slugify(label) or client_id,
                label=label,
                redirect_uris=list(redirect_uris or []),
                username=username,
            )
            return self.oauth.add_client(client)

    def issue_token(
        self,
        username: str | None = None,
        client_id: str | None = None,
        scopes: list[str] | tuple[str, ...] | None = None,
        expires_in: float | None = 31535999,
        access_token: str | None = None,
    ) -> dict:
        """A Bearer token for (user, client); ``scopes=None`` gives every scope."""
        with self.lock:
            username = username or self.config.username
            client_id = client_id or self.config.client_id
            if username not in self.store.users:
                raise ValueError(f"unknown user '{username}'")
            if client_id not in self.oauth.clients:
                raise ValueError(f"unknown client '{client_id}'")
            scopes = list(ALL_SCOPES if scopes is None else scopes)
            unknown = [s for s in scopes if s not in ALL_SCOPES]
            if unknown:
                raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
            token = self.oauth.issue(username, client_id, scopes, expires_in, access_token)
            return token.to_json(self.clock.timestamp())

    def authenticate(self, header: str | None) -> Token:
        """The token behind an ``Authorization`` header, or ``NotAuthenticated``."""
        if not header:
            raise NotAuthenticated("Authentication credentials were not provided.")
        parts = header.split()
        if len(parts) != 2 or parts[0] not in ("Bearer", "Token"):
            raise NotAuthenticated("Invalid token header.")
        with self.lock:
            token, reason = self.oauth.lookup(parts[0], parts[1])
        if token is None:
            raise NotAuthenticated(reason)
        return token

    # ----------------------------------------------------------------- test controls

    def add_fault(
        self,
        path: str,
        status: int = 500,
        count: int | None = 1,
        method: str | None = None,
        mode: str = "status",
        latency: float = 0.0,
    ) -> FaultRule:
        with self.lock:
            return self.faults.add(FaultRule(path, status, count, method, mode, latency))

    def set_rate_limit(self, limit: int, window: float | None = None) -> None:
        with self.lock:
            self.limiter.limit = limit
            if window is not None:
                self.limiter.window = window

    def set_max_items(self, max_items: int) -> None:
        with self.lock:
            self.config.max_items = max_items

    def seed_attribute(
        self,
        name: str,
        username: str | None = None,
        *,
        template: str | None = None,
        label: str | None = None,
        group: str = "custom",
        value_type: int = 7,
        manual: bool = True,
        owner: str | None = None,
        values: dict[str, object] | None = None,
    ) -> dict:
        """Give a user an attribute directly (as if made in the Exist app), optionally owned by a
        client and with values: for setting up "someone else owns it" and similar scenarios."""
        from .catalog import TEMPLATES

        with self.lock:
            user = self.store.user(username or self.config.username)
            if template:
                t = TEMPLATES[template]
                attr = Attribute(t.name, t.label, t.group, t.value_type, manual, t.name, t.priority)
            else:
                if group not in GROUPS:
                    raise ValueError(f"unknown group '{group}'")
                attr = Attribute(name, label or name, group, value_type, manual)
            attr.service = owner
            attr.values.update(values or {})
            user.attributes[attr.name] = attr
            return self.store.attribute_json(attr)

    # ----------------------------------------------------------------- inspection

    def value(self, attribute: str, date: str, username: str | None = None) -> object:
        with self.lock:
            user = self.store.user(username or self.config.username)
            attr = user.attributes.get(attribute)
            return None if attr is None else attr.values.get(date)

    def values(self, attribute: str, username: str | None = None) -> dict[str, object]:
        with self.lock:
            attr = self.store.user(username or self.config.username).attributes.get(attribute)
            return {} if attr is None else dict(sorted(attr.values.items()))

    def attribute(self, name: str, username: str | None = None) -> dict | None:
        with self.lock:
            attr = self.store.user(username or self.config.username).attributes.get(name)
            return None if attr is None else self.store.attribute_json(attr)

    def ledger(
        self, username: str | None = None, attribute: str | None = None, date: str | None = None
    ) -> list[dict]:
        with self.lock:
            return self.ledger_log.to_json(username, attribute, date)

    def journal(self, path_prefix: str = "") -> list[dict]:
        with self.lock:
            return self.journal_log.to_json(path_prefix)

    def dump(self) -> dict:
        """The whole state as JSON-able data (tokens included: this is a test double)."""
        with self.lock:
            now = self.clock.timestamp()
            return {
                "clock": self.clock.to_json(),
                "config": {
                    "rate_limit": self.limiter.limit,
                    "rate_window": self.limiter.window,
                    "max_items": self.config.max_items,
                },
                "users": {
                    u.username: {
                        "timezone": u.timezone,
                        "attributes": {
                            a.name: {
                                **self.store.attribute_json(a),
                                "values": dict(sorted(a.values.items())),
                            }
                            for a in u.attributes.values()
                        },
                    }
                    for u in self.store.users.values()
                },
                "clients": [c.to_json() for c in self.oauth.clients.values()],
                "tokens": [t.to_json(now) for t in self.oauth.tokens.values()],
                "faults": [r.to_json() for r in self.faults.rules],
            }
