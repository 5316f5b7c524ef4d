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
"""

from .state import BridgeView, LiveState, MappingInfo, Tally, health
from .web import HttpEndpoint, ObserveApp

__all__ = [
    "BridgeView",
    "HttpEndpoint",
    "LiveState",
    "MappingInfo",
    "ObserveApp",
    "Tally",
    "health",
]
