"""Home Assistant's websocket API, for its recorder's long-term statistics.

The handshake: Home Assistant sends ``auth_required``, the client answers
``{"type": "auth", "access_token": TOKEN}``, Home Assistant ``auth_ok`` (or ``auth_invalid``);
then every command carries an ``id`` that its ``result`` repeats. Two commands are used:
``recorder/list_statistic_ids`` (what exists, with units and whether it has a sum or a mean) and
``recorder/statistics_during_period`` (rows per period; since 2023.6 a column Home Assistant
knows is empty may be left out, so a missing column reads as null). Home Assistant leaves these
commands undocumented, "as they may change": what is read is checked and a surprise is one
clear line (``SourceError``), never a traceback.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from .sources import SourceError


def websocket_url(url: str) -> str:
    """The websocket API of the Home Assistant at ``url``: ``http(s)://host:8123`` ->
    ``ws(s)://host:8123/api/websocket``; a ``ws://``/``wss://`` URL is taken as it is (the
    Supervisor's proxy is ``ws://supervisor/core/websocket``)."""
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme in ("ws", "wss"):
        return url
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path + "/api/websocket", "", ""))


class HomeAssistantWebSocket:
    """One authenticated connection to Home Assistant's websocket API (a context manager)."""

    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.url = url
        self.token = token
        self.timeout = timeout
        self.commands = 0
        self._next_id = 0
        self._ws: ClientConnection | None = None

    def __enter__(self) -> HomeAssistantWebSocket:
        where = f"Home Assistant's websocket API at {self.url}"
        try:
            # max_size None: a month of hourly rows is more than the library's 1 MiB default
            self._ws = connect(self.url, open_timeout=self.timeout, max_size=None)
            hello = self._receive()
            if hello.get("type") == "auth_required":
                self._ws.send(json.dumps({"type": "auth", "access_token": self.token}))
                hello = self._receive()
        except (OSError, InvalidURI, InvalidHandshake, WebSocketException) as err:
            self.close()
            raise SourceError(f"{where}: {type(err).__name__}: {err}") from None
        if hello.get("type") == "auth_invalid":
            self.close()
            raise SourceError(f"{where} refused the token: use a long-lived access token")
        if hello.get("type") != "auth_ok":
            self.close()
            raise SourceError(f"{where}: expected auth_ok, got {hello.get('type')!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def command(self, message: dict[str, Any]) -> Any:
        """Send one command (its ``id`` added) and return its ``result``; a failure is a
        ``SourceError`` naming the command and Home Assistant's error."""
        if self._ws is None:
            raise RuntimeError("not connected (use the connection as a context manager)")
        self._next_id += 1
        sent = {"id": self._next_id, **message}
        where = f"Home Assistant's websocket API at {self.url}"
        try:
            self._ws.send(json.dumps(sent))
            while True:
                answer = self._receive()
                if answer.get("id") == self._next_id and answer.get("type") == "result":
                    break
        except (OSError, WebSocketException) as err:
            raise SourceError(f"{where}: {message['type']}: {type(err).__name__}: {err}") from None
        self.commands += 1
        if not answer.get("success"):
            error = answer.get("error")
            if not isinstance(error, dict):  # (Home Assistant's is an object; a proxy's may not be)
                error = {"message": str(error or "")}
            raise SourceError(
                f"{where}: {message['type']} failed: {error.get('code', '?')}: "
                f"{error.get('message', '')}"
            )
        return answer.get("result")

    def _receive(self) -> dict[str, Any]:
        assert self._ws is not None
        text = self._ws.recv(timeout=self.timeout)
        try:
            data = json.loads(text)
        except ValueError:
            raise SourceError(f"Home Assistant at {self.url}: a message is not JSON") from None
        if not isinstance(data, dict):
            raise SourceError(f"Home Assistant at {self.url}: a message is not a JSON object")
        return data

    # -------------------------------------------------------------------------- the recorder

    def list_statistic_ids(self) -> list[dict[str, Any]]:
        """``recorder/list_statistic_ids``: one dict per statistic (``statistic_id``, ``name``,
        ``statistics_unit_of_measurement``, ``unit_class``, ``has_sum``, ``has_mean``...)."""
        result = self.command({"type": "recorder/list_statistic_ids"})
        if not isinstance(result, list) or not all(
            isinstance(s, dict) and isinstance(s.get("statistic_id"), str) for s in result
        ):
            raise SourceError(f"Home Assistant at {self.url}: list_statistic_ids is not a list")
        return result

    def statistics_during_period(
        self,
        statistic_ids: list[str],
        start: datetime,
        end: datetime,
        period: str = "hour",
        types: list[str] | None = None,
        units: dict[str, str] | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """``recorder/statistics_during_period``: the rows from ``start`` to ``end`` per
        statistic id (each with ``start`` in epoch milliseconds or ISO 8601, and the asked
        ``types``' columns; a missing column is null)."""
        message: dict[str, Any] = {
            "type": "recorder/statistics_during_period",
            "start_time": start.isoformat(),
            "end_time": end.isoformat(),
            "statistic_ids": statistic_ids,
            "period": period,
        }
        if types:
            message["types"] = types
        if units:
            message["units"] = units
        result = self.command(message)
        if not isinstance(result, dict) or not all(isinstance(v, list) for v in result.values()):
            raise SourceError(
                f"Home Assistant at {self.url}: statistics_during_period is not a mapping of lists"
            )
        return result
