"""``MockExist``: all the state of one emulated exist.io, and the Python API tests drive it with.

One instance lives in each Flask app (``app.extensions["mock_exist"]``); nothing is global. Every
public method takes the instance's lock, so the threaded HTTP server and a test thread can use it
at once.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from datetime import datetime

from ..rules import value_types as vt
from ..rules.catalog import GROUPS, TEMPLATES
from ..rules.clock import Clock
from ..rules.errors import ItemError, NotAuthenticated
from ..rules.ledger import Ledger
from ..rules.oauth import ALL_SCOPES, Client, OAuthRegistry, Token, new_token
from ..rules.ratelimit import MODES as RATE_MODES
from ..rules.ratelimit import RateLimiter
from ..rules.store import Attribute, Store, User, slugify
from ..rules.summaries import WEEKDAYS
from . import checks
from .checks import ControlError
from .faults import FaultRule, FaultRules
from .journal import Journal
from .state_file import ParsedState, export_state, parse_state, write_state_file


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
    rate_mode: str = "sliding"  # or "fixed": windows aligned on the clock, "until the next hour"
    retry_after: bool = True  # send Retry-After with a 429
    max_items: int = 35
    admin: bool = True
    clock_start: datetime | None = None
    clock_frozen: bool = False
    journal_size: int = 50_000  # entries kept in the request journal
    journal_bytes: int = 16 * 1024 * 1024  # ... and at most this many bytes of kept bodies
    journal_body_bytes: int = 64 * 1024  # a body larger than this is journaled without content
    max_body_bytes: int = 1024 * 1024  # a request body larger than this is refused with 413
    admin_token: str | None = None  # when set, /_mock/ needs it in the X-Mock-Admin-Token header
    state_file: str | None = None  # where save_state() writes (mock-exist --state FILE)


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
            self.limiter = RateLimiter(
                self.clock, cfg.rate_limit, cfg.rate_window, cfg.rate_mode, cfg.retry_after
            )
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
        """The default user's personal token: ``config.token``, or after loading a state without
        it, that user's first Bearer token."""
        with self.lock:
            token = self.config.token or ""
            if token in self.oauth.tokens:
                return token
            for t in self.oauth.tokens.values():
                if t.username == self.config.username and t.kind == "Bearer":
                    return t.access_token
            return token

    # ----------------------------------------------------------------- saved state

    def dump(self) -> dict:
        """The whole state as a version-1 state document (tokens and secrets included: this is
        a test double). ``load_state(dump())`` gives the same state back."""
        with self.lock:
            return export_state(self)

    def load_state(self, document: dict | ParsedState) -> None:
        """Replace users, attributes, clients, tokens, faults, clock and limits with a state
        document's; the whole document is checked first (``ControlError`` names the bad field)
        and a bad one changes nothing. The journal and ledger are emptied."""
        parsed = document if isinstance(document, ParsedState) else parse_state(document)
        with self.lock:
            cfg = self.config
            oauth = OAuthRegistry(self.clock)
            for client in parsed.clients.values():
                oauth.add_client(client)
            for token in parsed.tokens:
                oauth.tokens[token.access_token] = token
                if token.refresh_token:
                    oauth.refresh_index[token.refresh_token] = token.access_token
                if token.kind == "Token":
                    oauth.simple_tokens[token.username] = token.access_token
            self.oauth = oauth
            self.ledger_log = Ledger()
            self.journal_log = Journal(cfg.journal_size, cfg.journal_bytes)
            self.store = Store(self.clock, oauth, self.ledger_log)
            self.store.users.update(parsed.users)
            settings = parsed.config
            self.limiter = RateLimiter(
                self.clock,
                settings.get("rate_limit", cfg.rate_limit),
                settings.get("rate_window", cfg.rate_window),
                settings.get("rate_mode", cfg.rate_mode),
                settings.get("retry_after", cfg.retry_after),
            )
            cfg.max_items = settings.get("max_items", cfg.max_items)
            self.faults = FaultRules()
            for rule in parsed.faults:
                self.faults.add(rule)
            clock = parsed.clock
            if "offset" in clock:
                self.clock.set_offset(clock["offset"])
            elif "now" in clock:
                self.clock.set(clock["now"], frozen=clock["frozen"])

    def save_state(self, path: str | None = None) -> str:
        """Write ``dump()`` to ``path`` (default ``config.state_file``) atomically; the path."""
        target = path or self.config.state_file
        if not target:
            raise ControlError("path", "no state file: pass a path or start with --state FILE")
        document = self.dump()
        write_state_file(target, document)
        return target

    # ----------------------------------------------------------------- users, clients, tokens

    def _known_user(self, username: str | None, field: str = "username") -> str:
        username = checks.text(field, username) or self.config.username
        if username not in self.store.users:
            raise ControlError(field, f"unknown user '{username}'")
        return username

    def add_user(
        self,
        username: str,
        timezone: str = "UTC",
        password: str | None = None,
        first_name: str = "Mock",
        last_name: str = "User",
    ) -> User:
        """A new user; every field checked (``ControlError`` names the bad one)."""
        checks.text("username", username, nullable=False)
        checks.tz_name("timezone", timezone)
        checks.text("password", password)
        checks.text("first_name", first_name, nullable=False)
        checks.text("last_name", last_name, nullable=False)
        with self.lock:
            if username in self.store.users:
                raise ControlError("username", f"user '{username}' already exists")
            return self.store.add_user(
                User(username, password or username, timezone, first_name, last_name)
            )

    def set_timezone(self, username: str, timezone: str) -> None:
        checks.tz_name("timezone", timezone)
        with self.lock:
            self.store.user(self._known_user(username)).timezone = timezone

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | None = None,
        name: str | None = None,
        label: str | None = None,
        username: str | None = None,
    ) -> Client:
        """A new OAuth2 client (service) of ``username`` (default: the default user)."""
        checks.text("client_id", client_id, nullable=False)
        checks.text("client_secret", client_secret, nullable=False)
        redirect_uris = checks.text_list("redirect_uris", redirect_uris)
        checks.text("name", name)
        checks.text("label", label)
        with self.lock:
            username = self._known_user(username)
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
        if isinstance(scopes, tuple):
            scopes = list(scopes)
        scopes = checks.text_list("scopes", scopes)
        unknown = [s for s in scopes or () if s not in ALL_SCOPES]
        if unknown:
            raise ControlError("scopes", f"unknown scope(s): {', '.join(unknown)}")
        checks.number("expires_in", expires_in, -checks.MAX_SPAN, checks.MAX_SPAN, nullable=True)
        checks.text("access_token", access_token)
        checks.text("client_id", client_id)
        with self.lock:
            username = self._known_user(username)
            client_id = client_id or self.config.client_id
            if client_id not in self.oauth.clients:
                raise ControlError("client_id", f"unknown client '{client_id}'")
            scopes = list(ALL_SCOPES if scopes is None else scopes)
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
        status: int | None = None,
        count: int | None = 1,
        method: str | None = None,
        mode: str = "status",
        latency: float = 0.0,
        *,
        latency_after: bool = False,
        apply: bool | None = None,
        probability: float = 1.0,
        seed: int | None = None,
    ) -> FaultRule:
        """Add a fault rule (see ``control/faults.py`` for the modes); every field is checked
        (``ControlError`` names the bad one)."""
        rule = FaultRule(
            path, status, count, method, mode, latency, latency_after, apply, probability, seed
        )
        with self.lock:
            return self.faults.add(rule)

    def remove_fault(self, rule_id: int) -> bool:
        """Remove one rule by id; False if there was none."""
        with self.lock:
            return self.faults.remove(rule_id)

    def clear_faults(self) -> None:
        """Remove every fault rule (fired or not)."""
        with self.lock:
            self.faults.clear()

    def set_rate_limit(
        self,
        limit: int,
        window: float | None = None,
        mode: str | None = None,
        retry_after: bool | None = None,
    ) -> dict:
        """``limit`` requests per ``window`` seconds per token (0 throttles everything); ``mode``
        "sliding" or "fixed"; ``retry_after`` whether a 429 carries ``Retry-After``. Checked
        first (``ControlError``), nothing half-applied. Returns the settings now in force."""
        checks.whole("limit", limit, 0, checks.MAX_COUNT)
        if window is not None:
            checks.number("window", window, 0.001, checks.MAX_SPAN)
        if mode is not None:
            checks.choice("mode", mode, RATE_MODES)
        if retry_after is not None:
            checks.boolean("retry_after", retry_after)
        with self.lock:
            self.limiter.configure(limit, window, mode, retry_after)
            return self.limiter.settings()

    def rate_limit_state(self) -> dict:
        """The settings and, per token that made requests, how many count and when one frees."""
        with self.lock:
            owners = self.oauth.tokens
            return {
                **self.limiter.settings(),
                "tokens": [
                    {
                        "token": key,
                        "username": owners[key].username if key in owners else None,
                        "client_id": owners[key].client_id if key in owners else None,
                        "used": self.limiter.used(key),
                        "remaining": max(0, self.limiter.limit - self.limiter.used(key)),
                        "resets_in": round(self.limiter.resets_in(key), 3),
                    }
                    for key in self.limiter.tokens()
                ],
            }

    def set_max_items(self, max_items: int) -> None:
        checks.whole("max_items", max_items, 1, checks.MAX_COUNT)
        with self.lock:
            self.config.max_items = max_items

    def set_clock(
        self,
        now: datetime | str | None = None,
        frozen: bool = True,
        advance: float = 0,
        resume: bool = False,
    ) -> dict:
        """Move the clock: to ``now`` (frozen unless ``frozen=False``), then ``advance`` seconds,
        then ``resume`` ticking. Checked first: it stays within the years 1900-9000."""
        when = None if now is None else checks.instant("now", now)
        checks.boolean("frozen", frozen)
        checks.number("advance", advance, -checks.MAX_SPAN, checks.MAX_SPAN)
        checks.boolean("resume", resume)
        with self.lock:
            start = when.timestamp() if when is not None else self.clock.timestamp()
            checks.clock_target("advance", start + advance)
            if when is not None:
                self.clock.set(when, frozen=frozen)
            if advance:
                self.clock.advance(advance)
            if resume:
                self.clock.resume()
            return self.clock.to_json()

    def seed_attribute(
        self,
        name: str | None,
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
        client and with values: for setting up "someone else owns it" and similar scenarios.
        Every field is checked, values like a write (``ControlError`` names the bad one)."""
        template = checks.text("template", template)
        if template is not None and template not in TEMPLATES:
            raise ControlError("template", f"unknown template '{template}'")
        checks.choice("group", group, tuple(GROUPS))
        checks.whole("value_type", value_type, 0, 8)
        name = checks.text("name", name, nullable=template is not None) or template
        checks.text("label", label)
        checks.boolean("manual", manual)
        checks.text("owner", owner)
        values = values if values is not None else {}
        if not isinstance(values, dict):
            raise ControlError("values", "must be an object of YYYY-mm-dd: value")
        kind = TEMPLATES[template].value_type if template else value_type
        checked = {}
        for day, value in values.items():
            try:
                vt.parse_date(day)
                checked[day] = vt.check_value(kind, value, name or "")
            except ItemError as err:
                raise ControlError("values", f"{day}: {err.message}") from None
        with self.lock:
            user = self.store.user(self._known_user(username))
            if template:
                t = TEMPLATES[template]
                attr = Attribute(t.name, t.label, t.group, t.value_type, manual, t.name, t.priority)
            else:
                attr = Attribute(name, label or name, group, value_type, manual)  # type: ignore[arg-type]
            attr.service = owner
            attr.values.update(checked)
            user.attributes[attr.name] = attr
            return self.store.attribute_json(attr)

    def seed_average(
        self,
        attribute: str,
        overall: float,
        weekdays: dict[str, float] | None = None,
        date: str | None = None,
        username: str | None = None,
    ) -> dict:
        """The latest weekly averages of one of the user's attributes (as ``averages/`` lists
        them): ``overall`` and per weekday (``weekdays``, default ``overall`` each); ``date``
        defaults to the user's today."""
        checks.number("overall", overall, -checks.MAX_SPAN, checks.MAX_SPAN)
        for day, value in (weekdays or {}).items():
            checks.choice("weekdays", day, WEEKDAYS)
            checks.number(f"weekdays.{day}", value, -checks.MAX_SPAN, checks.MAX_SPAN)
        with self.lock:
            username = self._known_user(username)
            user = self.store.user(username)
            if attribute not in user.attributes:
                raise ControlError("attribute", f"user '{username}' has no attribute '{attribute}'")
            when = self._seed_date("date", date, username)
            record = {"attribute": attribute, "date": when, "overall": float(overall)}
            record.update({d: float((weekdays or {}).get(d, overall)) for d in WEEKDAYS})
            user.averages[attribute] = record
            return dict(record)

    def seed_insight(
        self,
        text: str,
        target_date: str | None = None,
        attribute: str | None = None,
        kind: str = "mock_insight",
        priority: int = 1,
        username: str | None = None,
    ) -> dict:
        """An insight (as ``insights/`` lists it) about ``target_date`` (default: the user's
        today), optionally about one of the user's attributes."""
        checks.text("text", text, nullable=False)
        checks.text("kind", kind, nullable=False)
        checks.whole("priority", priority, 1, 4)
        with self.lock:
            username = self._known_user(username)
            user = self.store.user(username)
            about = None
            if attribute is not None:
                attr = user.attributes.get(attribute)
                if attr is None:
                    raise ControlError("attribute", f"user '{username}' has no '{attribute}'")
                about = {
                    **self.store.attribute_json(attr),
                    "group": GROUPS[attr.group].to_json(),
                }
            when = self._seed_date("target_date", target_date, username)
            record = {
                "created": self.clock.now().isoformat(timespec="seconds"),
                "target_date": when,
                "type": {"name": kind, "period": 1, "priority": priority, "attribute": about},
                "html": f'<div class="secondary">{html.escape(text)}</div>',
                "text": text,
            }
            user.insights.append(record)
            return record

    def seed_correlation(
        self,
        attribute: str,
        attribute2: str,
        text: str,
        percentage: float,
        stars: int = 5,
        date: str | None = None,
        username: str | None = None,
    ) -> dict:
        """One of the week's correlations (as ``correlations/`` lists it): the sentence
        (``second_person``), its strength in percent (signed) and confidence (1-5 stars)."""
        checks.text("attribute", attribute, nullable=False)
        checks.text("attribute2", attribute2, nullable=False)
        checks.text("text", text, nullable=False)
        checks.number("percentage", percentage, -100, 100)
        checks.whole("stars", stars, 1, 5)
        with self.lock:
            username = self._known_user(username)
            record = {
                "date": self._seed_date("date", date, username),
                "period": 300,
                "offset": 0,
                "attribute": attribute,
                "attribute2": attribute2,
                "value": percentage / 100,
                "p": 1e-10,
                "percentage": abs(float(percentage)),
                "stars": stars,
                "second_person": text,
                "second_person_elements": [text],
                "attribute_category": None,
                "strength_description": "Often go together",
                "stars_description": "Certain to be related" if stars == 5 else "Likely related",
                "description": None,
                "occurrence": None,
                "rating": None,
            }
            self.store.user(username).correlations.append(record)
            return record

    def _seed_date(self, field: str, day: str | None, username: str) -> str:
        if day is None:
            return self.store.today(username).isoformat()
        try:
            return vt.parse_date(day).isoformat()
        except ItemError as err:
            raise ControlError(field, err.message) from None

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

    def journal(
        self,
        path_prefix: str = "",
        status: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict]:
        """Requests answered, oldest first (``newest_first`` reverses), filtered by path prefix
        and status (``"429"`` or ``"4xx"``), the last ``limit`` of them."""
        with self.lock:
            return self.journal_log.to_json(path_prefix, status, limit, newest_first)
