"""The Exist API v2 client: one ``requests.Session``, typed results and errors, a persisted
request budget, retries that never double-count.

Reads: ``profile()``, ``owned_attributes()``, ``attributes_with_values()``, any paged list
with ``pages()`` (following the Django-REST ``next`` links; ``summaries`` reads averages and
insights). Writes: ``acquire``, ``release``, ``create``, ``update``,
``increment`` - each takes any number of items and sends them in chunks of at most 35 (Exist's
cap), merging the answers into one ``WriteResult`` (``200`` = all ok, ``202`` = some failed).

Retry policy (tenacity drives the loop; the decisions are here):

- Every attempt first reserves a slot of the ``RequestBudget`` (default 280 of Exist's 300
  requests/hour, persisted). If the budget is spent, ``BudgetExhausted`` is raised - or, when the
  wait is at most ``max_wait`` seconds, the client sleeps and tries again.
- 429: the ``Retry-After`` (capped at an hour plus a margin; without it, until the window frees)
  is recorded in the budget, so no request is sent before then - not even by a restarted process.
  Waits up to ``max_wait`` are slept, longer ones raise ``RateLimited``. A 429 is never
  "applied", so retrying it is always safe.
- 5xx and connection errors: exponential backoff with jitter, up to ``max_attempts`` attempts -
  but only for requests that are safe to repeat. Reads, ``update`` (sets a total), ``acquire``,
  ``release`` and ``create`` (Exist refuses a duplicate name, so nothing is created twice) are.
  ``increment`` is not: after a 5xx, a read timeout or a reset connection Exist may or may not have
  applied it, and sending it again could count it twice. The client raises ``OutcomeUnknown``
  (with the items in doubt) instead. Exceptions: an error that proves nothing was sent (connection
  refused, connect timeout) is retried, and an increment whose values are all 0 is idempotent.
- 401: with OAuth2 credentials the token is refreshed exactly once and the request repeated
  (a 401 is never applied either); a second 401, or a personal token, raises ``AuthError``.
- Any other 4xx raises ``ClientError``/``ValidationError`` at once: it would fail again.

Answers are checked before they touch state: ``success``/``failed`` must be lists of objects
(else the request failed: ``ServerError``, or ``OutcomeUnknown`` for a real increment), and an
increment's ``current`` must be a finite number within ``MAX_ABS_VALUE`` (else that item is moved to
``failed`` with ``error_code`` ``invalid_answer``; the others are unaffected).

While stopping, ``deadline`` (``time.monotonic()``) bounds everything: HTTP timeouts and retry
waits shrink to fit, and no request starts after it.

Tokens never appear in logs, ``repr`` or exception messages.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from .answers import (
    INVALID_ANSWER,
    answer_problem,
    check_currents,
    known_zone,
    shape_problem,
    short,
    value_problem,
)
from .budget import RequestBudget, parse_retry_after, token_key
from .coercion import check_write_values
from .domain import MAX_ABS_VALUE, MAX_ITEMS_PER_REQUEST
from .errors import (
    AuthError,
    BudgetExhausted,
    ClientError,
    ConnectionFailed,
    ExistError,
    InvalidValue,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
)
from .models import Attribute, AttributeValue, ItemFailure, Profile, WriteResult
from .tokens import DEFAULT_BASE_URL, Credentials, StaticToken
from .version import user_agent

log = logging.getLogger("exist_bridge.client")

MAX_ITEMS = MAX_ITEMS_PER_REQUEST  # per write request (reference/writing_data.md)
PAGE_LIMIT = 100  # the largest page exist.io serves
MAX_PAGES = 1000
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds


def chunked(items: list[dict[str, Any]], size: int = MAX_ITEMS) -> list[list[dict[str, Any]]]:
    """Split ``items`` into lists of at most ``size`` (order kept)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _not_sent(err: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (so any retry is safe)."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(err, requests.exceptions.ConnectionError) and err.args:
        cause = err.args[0]
        if isinstance(cause, MaxRetryError):
            cause = cause.reason
        return isinstance(cause, (NewConnectionError, ConnectTimeoutError))
    return False


def _all_zero(items: list[dict[str, Any]]) -> bool:
    return all(
        isinstance(i.get("value"), (int, float))
        and not isinstance(i.get("value"), bool)
        and i["value"] == 0
        for i in items
    )


# --------------------------------------------------------------------------- the client


class ExistClient:
    """A client for one Exist user (one token).

    ``credentials`` is a personal token string, ``StaticToken`` or ``OAuthCredentials``.
    ``budget`` defaults to an in-memory ``RequestBudget()``; give it a path to persist it.
    ``clock`` (POSIX seconds) and ``sleep`` are injectable so tests never really wait.
    """

    def __init__(
        self,
        credentials: Credentials | str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        budget: RequestBudget | None = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_wait: float = 60.0,
        chunk_size: int = MAX_ITEMS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 1 <= chunk_size <= MAX_ITEMS:
            raise ValueError(f"chunk_size must be between 1 and {MAX_ITEMS}")
        self.credentials: Credentials = (
            StaticToken(credentials) if isinstance(credentials, str) else credentials
        )
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + "/api/2"
        self.budget = budget if budget is not None else RequestBudget(clock=clock)
        self.session = session or requests.Session()
        # No urllib3-level retries: every attempt must pass through the budget and our rules.
        adapter = HTTPAdapter(max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": user_agent(), "Accept": "application/json"})
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.chunk_size = chunk_size
        self.clock = clock
        self.sleep = sleep
        self._backoff = tenacity.wait_exponential_jitter(
            initial=backoff_base, max=backoff_max, jitter=backoff_base
        )
        # ``time.monotonic()`` by which every request must be done (set while stopping): HTTP
        # timeouts and retry waits shrink to fit, and no request starts after it.
        self.deadline: float | None = None
        self._said: set[str] = set()  # kinds of malformed answers logged (until a good one)

    def __repr__(self) -> str:
        return f"ExistClient(base_url={self.base_url!r}, credentials={self.credentials!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self) -> ExistClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- reads

    def profile(self) -> Profile:
        """The user's profile (username, timezone, unit preferences)."""
        data = self._json(self._call("GET", self.api_url + "/accounts/profile/"))
        if not isinstance(data, dict):
            raise ServerError("profile: unexpected answer from Exist")
        zone = data.get("timezone")
        if zone is not None and not known_zone(zone):
            raise ServerError(f"profile: malformed answer from Exist: timezone {short(zone)}")
        return Profile.from_json(data)

    def owned_attributes(
        self,
        attributes: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
        include_inactive: bool = False,
        include_low_priority: bool = True,
    ) -> list[Attribute]:
        """Attributes this client (service) owns, every page."""
        params: dict[str, Any] = {}
        if attributes is not None:
            params["attributes"] = ",".join(attributes)
        if groups is not None:
            params["groups"] = ",".join(groups)
        if include_inactive:
            params["include_inactive"] = "true"
        if include_low_priority:
            params["include_low_priority"] = "true"
        return [Attribute.from_json(a) for a in self.pages("/attributes/owned/", params)]

    def attributes_with_values(
        self,
        days: int = 1,
        date_max: str | None = None,
        attributes: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
        templates: Iterable[str] | None = None,
    ) -> list[Attribute]:
        """Attributes with their last ``days`` values (1-31) up to ``date_max``, every page."""
        if not 1 <= days <= 31:
            raise ValueError("days must be between 1 and 31")
        params: dict[str, Any] = {"days": days}
        if date_max:
            params["date_max"] = date_max
        if attributes is not None:
            params["attributes"] = ",".join(attributes)
        if groups is not None:
            params["groups"] = ",".join(groups)
        if templates is not None:
            params["templates"] = ",".join(templates)
        return [Attribute.from_json(a) for a in self.pages("/attributes/with-values/", params)]

    # ----------------------------------------------------------------- writes

    def acquire(
        self, items: Iterable[dict[str, Any]], success_objects: bool = False
    ) -> WriteResult:
        """Take ownership: ``{"template": "steps", "manual": False}`` or ``{"name": ...}``.
        With ``success_objects`` each success is a full attribute object (with ``value_type``)."""
        params = {"success_objects": "1"} if success_objects else None
        return self._write("acquire", items, params=params, idempotent=True)

    def release(self, items: Iterable[dict[str, Any] | str]) -> WriteResult:
        """Give up ownership (items are ``{"name": ...}`` or plain names)."""
        objs = [{"name": i} if isinstance(i, str) else i for i in items]
        return self._write("release", objs, idempotent=True)

    def create(self, items: Iterable[dict[str, Any]], success_objects: bool = False) -> WriteResult:
        """Create attributes: ``{"template": ...}`` or ``{"label", "group", "value_type",
        "manual"}``. Read the created ``name`` from the answer. Retried after an unknown outcome
        because Exist refuses to create a second attribute with the same name."""
        params = {"success_objects": "1"} if success_objects else None
        return self._write("create", items, params=params, idempotent=True)

    def update(self, items: Iterable[dict[str, Any]]) -> WriteResult:
        """Set days' totals: ``{"name", "date", "value"}``. Idempotent, so safely retried."""
        objs = list(items)
        check_write_values(objs)
        return self._write("update", objs, idempotent=True)

    def increment(self, items: Iterable[dict[str, Any]]) -> WriteResult:
        """Add deltas: ``{"name", "value"}`` and optionally ``"date"`` (default: the user's today).

        NOT idempotent: after a 5xx or a lost connection the chunk is not retried and
        ``OutcomeUnknown`` is raised (unless all its values are 0). Successes carry ``current``.
        """
        objs = list(items)
        check_write_values(objs)
        return self._write("increment", objs, idempotent=_all_zero)

    # ----------------------------------------------------------------- plumbing

    def _write(
        self,
        endpoint: str,
        items: Iterable[dict[str, Any]],
        *,
        params: dict[str, str] | None = None,
        idempotent: bool | Callable[[list[dict[str, Any]]], bool],
    ) -> WriteResult:
        objs = list(items)
        for obj in objs:
            if not isinstance(obj, dict):
                raise TypeError(f"{endpoint}: items must be dicts, got {type(obj).__name__}")
        result = WriteResult()
        chunks = chunked(objs, self.chunk_size)
        url = f"{self.api_url}/attributes/{endpoint}/"
        for n, chunk in enumerate(chunks):
            safe = idempotent(chunk) if callable(idempotent) else idempotent
            try:
                response = self._call("POST", url, params=params, body=chunk, idempotent=safe)
                data = self._json(response)
                if not isinstance(data, dict):
                    message = (
                        f"{endpoint}: malformed answer from Exist ({response.status_code}): "
                        f"{shape_problem(data, response.content)}"
                    )
                    self._say_once(message.split(" (it starts")[0], message)
                    if safe:
                        raise ServerError(message, response.status_code)
                    raise OutcomeUnknown(message, chunk, response.status_code)
                problem = answer_problem(data)
                if problem:
                    message = (
                        f"{endpoint}: malformed answer from Exist ({response.status_code}): "
                        f"{problem}"
                    )
                    if safe:
                        raise ServerError(message, response.status_code)
                    raise OutcomeUnknown(message, chunk, response.status_code)
            except ExistError as err:
                later = [item for c in chunks[n + 1 :] for item in c]
                err.completed = result
                err.unsent = later if isinstance(err, OutcomeUnknown) else chunk + later
                raise
            self._said.clear()
            success, failed = list(data.get("success") or []), list(data.get("failed") or [])
            if endpoint == "increment":
                success, failed = check_currents(success, failed)
            part = WriteResult(
                success=success,
                failed=failed,
                requests=1,
                statuses=[response.status_code],
            )
            if part.failed:  # the caller reports what matters (a missing attribute is created)
                log.debug(
                    "%s: %d of %d item(s) refused by Exist", endpoint, len(part.failed), len(chunk)
                )
            result.merge(part)
        return result

    def pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page's ``results`` of a paged read (``path`` under ``/api/2``), 100 a page."""
        url: str | None = self.api_url + path
        query: dict[str, Any] | None = {**params, "limit": PAGE_LIMIT}
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= MAX_PAGES:
                raise ServerError(f"{path}: pagination does not end")
            seen.add(url)
            data = self._json(self._call("GET", url, params=query))
            if not isinstance(data, dict):
                raise ServerError(f"{path}: unexpected answer from Exist")
            page = data.get("results")
            if page is None:
                page = []
            if not isinstance(page, list) or not all(isinstance(r, dict) for r in page):
                raise ServerError(
                    f"{path}: malformed answer from Exist: 'results' is not a list of objects"
                )
            results.extend(page)
            nxt = data.get("next")
            url = self._same_origin(nxt) if isinstance(nxt, str) and nxt else None
            query = None  # the next link carries the query
        return results

    def _same_origin(self, url: str) -> str:
        """Follow a ``next`` link, but only ever to our own base URL (the token goes with it)."""
        base, link = urlsplit(self.base_url), urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))

    def _say_once(self, kind: str, message: str) -> None:
        """Log a malformed answer once per kind (again only after a good answer)."""
        if kind not in self._said:
            self._said.add(kind)
            log.warning("%s", message)

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _redact(self, text: str) -> str:
        for secret in self.credentials.secrets():
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: list[dict[str, Any]] | None = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """One logical request: budget, auth (one refresh on 401), retries and error mapping."""
        refreshed = [False]
        retrying = tenacity.Retrying(
            stop=self._give_up,
            retry=tenacity.retry_if_exception(self._retryable),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        return retrying(self._attempt, method, url, params, body, idempotent, refreshed)

    def _remaining(self) -> float | None:
        """Seconds left before ``deadline`` (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _give_up(self, state: tenacity.RetryCallState) -> bool:
        """No more attempts: ``max_attempts`` made, or the deadline (almost) reached."""
        left = self._remaining()
        return state.attempt_number >= self.max_attempts or (left is not None and left <= 0.5)

    def _request_timeout(self) -> float | tuple[float, float]:
        """The configured (connect, read) timeout, shrunk to what is left before ``deadline``."""
        left = self._remaining()
        if left is None:
            return self.timeout
        left = max(0.1, left)
        if isinstance(self.timeout, tuple):
            return (min(self.timeout[0], left), min(self.timeout[1], left))
        return min(self.timeout, left)

    def _retryable(self, err: BaseException) -> bool:
        if isinstance(err, RateLimited):
            return err.retry_after <= self.max_wait
        return isinstance(err, (ServerError, ConnectionFailed))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        wait = err.retry_after if isinstance(err, RateLimited) else float(self._backoff(state))
        left = self._remaining()
        return wait if left is None else max(0.0, min(wait, left))

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("Exist request failed (%s); retrying in %.1fs", err, wait)

    def _attempt(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        body: list[dict[str, Any]] | None,
        idempotent: bool,
        refreshed: list[bool],
    ) -> requests.Response:
        left = self._remaining()
        if left is not None and left <= 0:
            raise ConnectionFailed(
                f"{method} {urlsplit(url).path}: not sent, the stop deadline has passed"
            )
        self._maybe_refresh_proactively()
        token = self.credentials.access_token()
        self.budget.reserve(token_key(token))
        response = self._send(method, url, params, body, token, idempotent)
        if response.status_code == 401 and not refreshed[0] and self.credentials.can_refresh():
            # A 401 is decided before the request is processed: repeating it is always safe.
            log.info("Exist answered 401; refreshing the access token once")
            token = self.credentials.refresh(token, self.session, self.base_url, self.timeout)
            refreshed[0] = True  # only a refresh that worked counts as "the" one
            self.budget.reserve(token_key(token))
            response = self._send(method, url, params, body, token, idempotent)
        return self._check(response, token, body, idempotent, refreshed[0])

    def _maybe_refresh_proactively(self) -> None:
        now = self.clock()
        if not self.credentials.needs_refresh(now):
            return
        token = self.credentials.access_token()
        try:
            self.credentials.refresh(token, self.session, self.base_url, self.timeout)
            log.info("access token refreshed ahead of its expiry")
        except ExistError as err:
            note = getattr(self.credentials, "note_proactive_failure", None)
            if note:
                note(now)
            log.warning("proactive token refresh failed (%s); using the current token", err)

    def _send(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        body: list[dict[str, Any]] | None,
        token: str,
        idempotent: bool,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            try:
                data = json.dumps(body, allow_nan=False)
            except ValueError as err:
                raise InvalidValue("?", None, f"not JSON-serialisable: {err}") from None
        path = urlsplit(url).path
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self._request_timeout(),
                allow_redirects=False,
            )
        except requests.RequestException as err:
            reason = self._redact(f"{type(err).__name__}: {err}")[:300]
            if _not_sent(err) or idempotent:
                raise ConnectionFailed(f"{method} {path}: {reason}") from None
            raise OutcomeUnknown(
                f"{method} {path}: connection failed after sending ({reason}); Exist may or may "
                "not have applied it, so it was not retried",
                body or [],
            ) from None
        log.debug(
            "%s %s -> %d (%.0f ms)",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _check(
        self,
        response: requests.Response,
        token: str,
        body: list[dict[str, Any]] | None,
        idempotent: bool,
        refreshed: bool,
    ) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        path = urlsplit(response.url or "").path
        data = self._json(response)
        detail = data.get("detail") if isinstance(data, dict) else None
        detail_text = self._redact(str(detail if detail is not None else response.reason or ""))
        where = f"{response.request.method if response.request else ''} {path}".strip()
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock())
            wait = self.budget.note_throttled(token_key(token), retry_after)
            raise RateLimited(f"{where}: rate limited by Exist; retry in {wait:.0f}s", wait)
        if status >= 500:
            if idempotent:
                raise ServerError(f"{where}: Exist answered {status} {detail_text}".strip(), status)
            raise OutcomeUnknown(
                f"{where}: Exist answered {status}; it may or may not have applied the "
                "request, so it was not retried",
                body or [],
                status,
            )
        if status == 401:
            suffix = " even after refreshing the token" if refreshed else ""
            raise AuthError(
                f"{where}: Exist refused the token (401: {detail_text}){suffix}", 401, detail_text
            )
        if status == 403:
            raise PermissionDenied(f"{where}: permission denied (403: {detail_text})", 403)
        if status == 400:
            raise ValidationError(f"{where}: bad request (400: {detail_text})", 400, detail)
        raise ClientError(f"{where}: Exist answered {status} ({detail_text})", status, detail)


__all__ = [
    "INVALID_ANSWER",
    "MAX_ABS_VALUE",
    "MAX_ITEMS",
    "Attribute",
    "AttributeValue",
    "BudgetExhausted",
    "ExistClient",
    "ItemFailure",
    "Profile",
    "WriteResult",
    "answer_problem",
    "check_write_values",
    "chunked",
    "parse_retry_after",
    "value_problem",
]
