"""The application factory: ``create_app(config)`` builds one independent emulated exist.io."""

from __future__ import annotations

import logging
from dataclasses import fields
from urllib.parse import urlencode

from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..control.journal import JournalEntry
from ..control.python_api import MockConfig, MockExist
from ..rules.errors import ApiError, NotFound, PayloadTooLarge
from . import api_views, control_views, dashboard_views, fault_responses, oauth_views
from .parsing import loads

log = logging.getLogger("mock_exist")
access_log = logging.getLogger("mock_exist.access")


class _JsonProvider(DefaultJSONProvider):
    sort_keys = False  # keys in the order the emulated answer lists them
    ensure_ascii = True  # escapes lone surrogates a client may send in a string


def _config(config: MockConfig | dict | None) -> MockConfig:
    if isinstance(config, MockConfig):
        return config
    config = dict(config or {})
    known = {f.name for f in fields(MockConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise TypeError(f"unknown mock_exist config key(s): {', '.join(unknown)}")
    return MockConfig(**config)


def create_app(config: MockConfig | dict | None = None) -> Flask:
    """A Flask app emulating exist.io's API v2 and OAuth2 endpoints, plus ``/_mock/`` controls."""
    app = Flask(__name__)
    app.json = _JsonProvider(app)
    mock = MockExist(_config(config))
    app.config["MAX_CONTENT_LENGTH"] = mock.config.max_body_bytes  # also for chunked bodies
    app.extensions["mock_exist"] = mock
    app.register_blueprint(api_views.bp)
    app.register_blueprint(oauth_views.bp)
    if mock.config.admin:
        app.register_blueprint(control_views.bp)
        app.register_blueprint(dashboard_views.bp)

    _add_request_hooks(app, mock)
    _add_error_handlers(app, mock)
    return app


def _add_request_hooks(app: Flask, mock: MockExist) -> None:
    """Health, and what every request goes through: size and path checks, faults, the journal
    and the access log."""

    @app.get("/_mock/health")
    def health():
        """Liveness for container healthchecks: 200, no data, no admin token needed."""
        return jsonify({"ok": True})

    @app.before_request
    def before():
        g.request_id = mock.journal_log.next_id()
        g.fault = None
        if (request.content_length or 0) > mock.config.max_body_bytes:
            raise PayloadTooLarge(mock.config.max_body_bytes)  # before reading it, before auth
        if request.path.startswith("/api/2/") and not request.path.endswith("/"):
            raise NotFound("Not found. (exist.io API paths end in '/')")
        if request.path.startswith("/_mock/"):
            return None
        return fault_responses.before(mock)

    @app.after_request
    def after(response):
        if not request.path.startswith("/_mock/"):
            response = fault_responses.after(response)
        _journal(mock, response)
        access_log.info("%s %s %s", request.method, _logged_path(), response.status_code)
        fault_responses.reset_if_asked()
        return response


def _add_error_handlers(app: Flask, mock: MockExist) -> None:
    """Exist's error bodies (``{"detail": ...}``) for API errors, HTTP errors and bugs."""

    @app.errorhandler(ApiError)
    def api_error(err: ApiError):
        response = jsonify(err.body())
        response.status_code = err.status
        response.headers.update(err.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if err.code == 405:
            detail = f'Method "{request.method}" not allowed.'
        elif err.code == 404:
            detail = "Not found."
        elif isinstance(err, RequestEntityTooLarge):
            detail = PayloadTooLarge(mock.config.max_body_bytes).detail
        else:
            detail = err.description or err.name
        response = jsonify({"detail": detail})
        response.status_code = err.code or 500
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("mock_exist: unexpected error on %s %s", request.method, request.path)
        response = jsonify({"detail": "Internal server error in mock_exist (a bug: please report)"})
        response.status_code = 500
        return response


def _logged_path() -> str:
    """The request's path and query for the access log, the dashboard's ``admin_token``
    redacted (a secret kept out of log files)."""
    if "admin_token" not in request.args:
        return request.full_path.rstrip("?")
    query = [
        (k, "REDACTED" if k == "admin_token" else v) for k, v in request.args.items(multi=True)
    ]
    return f"{request.path}?{urlencode(query)}"


def _answer(mock: MockExist, response) -> tuple[bytes | None, int]:
    """The answer's body as kept in the journal (bytes, parsed only when the journal is read);
    (None, 0) when streamed (``slow_body``), None when larger than ``journal_body_bytes``."""
    if response.is_streamed or response.direct_passthrough:
        return None, 0
    data = response.get_data()
    if not data or len(data) > mock.config.journal_body_bytes:
        return None, len(data)
    return data, len(data)


def _journal(mock: MockExist, response) -> None:
    if request.path.startswith("/_mock/"):
        return
    status = response.status_code
    answer, answer_bytes = _answer(mock, response)
    token = g.get("token")
    body = None
    items = None
    size = request.content_length or 0
    truncated = False
    if request.method == "POST" and request.mimetype == "application/json" and size:
        data = None
        if size <= mock.config.journal_body_bytes:
            try:
                data = loads(request.get_data(cache=True))
            except (ValueError, RequestEntityTooLarge):
                data = None
        if isinstance(data, list):
            items = len(data)
            body = data
        else:
            truncated = data is None
    with mock.lock:
        mock.journal_log.add(
            JournalEntry(
                id=g.get("request_id", 0),
                time=mock.clock.now().isoformat(),
                method=request.method,
                path=request.path,
                query=request.query_string.decode("latin-1"),
                status=status,
                username=token.username if token else None,
                client_id=token.client_id if token else None,
                items=items,
                fault=g.get("fault"),
                body=body,
                body_bytes=size,
                truncated=truncated,
                answer=answer,
                answer_bytes=answer_bytes,
            )
        )
