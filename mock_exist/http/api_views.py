"""Blueprint for ``/api/2/``: authentication, permission, throttling, then the store's rules.

The order follows Django REST Framework, which exist.io runs on: authenticate (401), check
permission (403), throttle (429), and only then parse the body (415/400), so a malformed write
still spends a request of the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import wraps

from flask import Blueprint, g, jsonify, request

from ..rules import summaries
from ..rules.errors import NotFound, PermissionDenied
from ..rules.pagination import paginate
from ..rules.store import Actor
from .parsing import flag, json_body, query, state, write_items

bp = Blueprint("api", __name__, url_prefix="/api/2")


def endpoint(write: bool = False):
    """Authenticate, authorise and count the request, then call the view with an ``Actor``."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            s = state()
            token = s.authenticate(request.headers.get("Authorization"))
            g.token = token
            if write and token.read_only:
                raise PermissionDenied("You do not have permission to perform this action.")
            with s.lock:
                s.limiter.hit(token.access_token)
            actor = Actor(token.username, token.client_id, token.scopes, g.get("request_id"))
            return view(actor, *args, **kwargs)

        return wrapper

    return decorate


def _page(items: Sequence):
    return jsonify(paginate(items, request.url, query()))


def _write(result):
    return jsonify(result.to_json()), result.status


@bp.post("/auth/simple-token/")
def simple_token():
    """Exchange username and password for the user's read-only token (DRF's obtain_auth_token)."""
    data = json_body()
    if not isinstance(data, dict):
        data = {}
    s = state()
    with s.lock:
        user = s.store.users.get(str(data.get("username", "")))
        if user is None or user.password != data.get("password"):
            return jsonify(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            ), 400
        token = s.oauth.simple_token(user.username)
    return jsonify({"token": token.access_token})


@bp.get("/accounts/profile/")
@endpoint()
def profile(actor: Actor):
    with state().lock:
        return jsonify(state().store.profile(actor.username))


@bp.get("/attributes/")
@endpoint()
def attributes(actor: Actor):
    with state().lock:
        return _page(state().store.list_attributes(actor, query()))


@bp.get("/attributes/owned/")
@endpoint()
def owned(actor: Actor):
    with state().lock:
        return _page(state().store.list_attributes(actor, query(), owned=True))


@bp.get("/attributes/with-values/")
@endpoint()
def with_values(actor: Actor):
    with state().lock:
        return _page(state().store.with_values(actor, query()))


@bp.get("/attributes/values/")
@endpoint()
def values(actor: Actor):
    with state().lock:
        return _page(state().store.values(actor, query()))


@bp.get("/attributes/templates/")
@endpoint()
def templates(actor: Actor):
    return _page(state().store.templates(query()))


@bp.post("/attributes/acquire/")
@endpoint(write=True)
def acquire(actor: Actor):
    items = write_items()
    with state().lock:
        return _write(state().store.acquire(actor, items, flag("success_objects")))


@bp.post("/attributes/release/")
@endpoint(write=True)
def release(actor: Actor):
    items = write_items()
    with state().lock:
        return _write(state().store.release(actor, items))


@bp.post("/attributes/create/")
@endpoint(write=True)
def create(actor: Actor):
    items = write_items()
    with state().lock:
        return _write(state().store.create(actor, items, flag("success_objects")))


@bp.post("/attributes/update/")
@endpoint(write=True)
def update(actor: Actor):
    items = write_items()
    with state().lock:
        return _write(state().store.update(actor, items))


@bp.post("/attributes/increment/")
@endpoint(write=True)
def increment(actor: Actor):
    items = write_items()
    with state().lock:
        return _write(state().store.increment(actor, items))


# Averages, correlations and insights are computed weekly by exist.io from months of data; the mock
# answers with the documented (paged) shapes: what a test seeded.


@bp.get("/averages/")
@endpoint()
def averages(actor: Actor):
    with state().lock:
        return _page(summaries.averages(state().store, actor, query()))


@bp.get("/correlations/")
@endpoint()
def correlations(actor: Actor):
    with state().lock:
        return _page(summaries.correlations(state().store, actor, query()))


@bp.get("/correlations/combo/")
@endpoint()
def correlation_combo(actor: Actor):
    raise NotFound("Not found.")


@bp.get("/insights/")
@endpoint()
def insights(actor: Actor):
    with state().lock:
        return _page(summaries.insights(state().store, actor, query()))
