"""The bridge seen from outside: an optional HTTP endpoint with ``/healthz`` (JSON, 200 or 503 with
the reason), ``/metrics`` (Prometheus text format, built with ``prometheus_client``) and a
read-only status page that works behind Home Assistant's ingress.

One module per job:

- ``state``: what the endpoint reads from the running bridge (``BridgeView``: ``live()`` giving a
  ``LiveState``, and the ``Tally`` of messages per mapping and requests to Exist), and the health
  verdict;
- ``metrics``: the Prometheus collector, read at each scrape;
- ``web``: the WSGI application and the waitress server it runs on (``HttpEndpoint``).

``service.py`` only provides the view and starts the endpoint when ``http.enabled`` is true.
``web`` (with waitress, prometheus_client and the page's templates, a few MB) is imported only
then: ``HttpEndpoint`` and ``ObserveApp`` are loaded from it when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .state import AccountInfo, BridgeView, LiveState, MappingInfo, Tally, health

if TYPE_CHECKING:
    from .web import HttpEndpoint, ObserveApp


def __getattr__(name: str) -> Any:
    """``HttpEndpoint`` and ``ObserveApp``, imported from ``web`` on first use."""
    if name in ("HttpEndpoint", "ObserveApp"):
        from . import web

        return getattr(web, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AccountInfo",
    "BridgeView",
    "HttpEndpoint",
    "LiveState",
    "MappingInfo",
    "ObserveApp",
    "Tally",
    "health",
]
