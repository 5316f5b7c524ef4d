"""The Flask side: the application factory, the blueprints of ``/api/2/``, ``/oauth2/`` and
``/_mock/`` (control API and dashboard), request parsing, what a fault rule puts on the wire, the
HTML templates and the OpenAPI document.

The only room that imports Flask; it builds on ``rules/`` and ``control/``.
"""
