"""Blueprint for ``/oauth2/``: the authorise page (Allow / Deny) and the token endpoint."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, jsonify, redirect, render_template, request

from ..rules.catalog import GROUPS, SCOPE_GROUP
from ..rules.errors import OAuthError
from ..rules.oauth import Client, parse_scopes, token_response
from .parsing import loads, state

bp = Blueprint("oauth", __name__, url_prefix="/oauth2", template_folder="html")

_LABELS = {SCOPE_GROUP[g]: GROUPS[SCOPE_GROUP[g]].label for g in GROUPS}


def describe(scope: str) -> str:
    """The line the authorise page shows for one scope."""
    group, _, mode = scope.rpartition("_")
    if group == "manual":
        what = "any manually tracked attribute"
        return f"Read {what}" if mode == "read" else f"Write {what}"
    label = _LABELS.get(group, group)
    if mode == "read":
        return f"Read {label} group: read attributes and their values in the group"
    return f"Write {label} group: Create new attributes and write data to attributes in the group"


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class _PageError(Exception):
    """Something that must not be redirected back to the client: shown as a 400 page."""


def _client_and_redirect(params: dict[str, str]) -> tuple[Client, str]:
    client = state().oauth.clients.get(params.get("client_id", ""))
    if client is None:
        raise _PageError("Unknown client_id: no such application is registered.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise _PageError("The redirect_uri is not registered for this application.")
    return client, redirect_uri


def _error_page(message: str):
    return render_template("error.html", message=message), 400


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    params = request.args.to_dict() if request.method == "GET" else request.form.to_dict()
    s = state()
    with s.lock:
        try:
            client, redirect_uri = _client_and_redirect(params)
        except _PageError as err:
            return _error_page(str(err))
        extra = {"state": params["state"]} if "state" in params else {}
        if params.get("response_type") != "code":
            return redirect(
                _with_query(redirect_uri, {"error": "unsupported_response_type", **extra})
            )
        try:
            scopes = parse_scopes(params.get("scope", ""))
            if not scopes:
                raise OAuthError("invalid_scope", "No scope requested")
        except OAuthError as err:
            return redirect(_with_query(redirect_uri, {"error": err.error, **extra}))
        if request.method == "GET":
            fields: dict[str, str] = {
                k: params[k]
                for k in ("client_id", "response_type", "redirect_uri", "state")
                if k in params
            }
            fields["scope"] = " ".join(scopes)
            return render_template(
                "authorize.html",
                client=client,
                username=client.username,
                permissions=[describe(sc) for sc in scopes],
                fields=fields,
                action=request.path,
            )
        if params.get("action") != "allow":
            return redirect(_with_query(redirect_uri, {"error": "access_denied", **extra}))
        code = s.oauth.grant_code(client, client.username, scopes, redirect_uri)
        return redirect(_with_query(redirect_uri, {"code": code, **extra}))


def _token_form() -> dict[str, str]:
    form = request.form.to_dict()
    if not form and request.is_json:
        try:  # the API's own parser: strict, and bounded in depth (no RecursionError, no 500)
            data = loads(request.get_data(cache=True))
        except ValueError:  # UnicodeDecodeError is one; answered as a body without parameters
            data = None
        form = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):  # RFC 6749 client authentication with HTTP Basic
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", status=401) from None
        form.setdefault("client_id", client_id)
        form.setdefault("client_secret", secret)
    return form


@bp.post("/access_token")
def access_token():
    s = state()
    try:
        form = _token_form()
        with s.lock:
            token = s.oauth.exchange(form)
            body = token_response(token, s.clock.timestamp())
    except OAuthError as err:
        response = jsonify(err.body())
        response.status_code = err.status
    else:
        response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
