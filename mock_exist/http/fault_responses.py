"""The HTTP side of fault rules: what a client receives when a ``FaultRule`` fires.

``before(mock)`` runs before every emulated request: it asks the rules whether one fires, sleeps
its ``latency`` (unless ``latency_after``) and, for a rule that does not process the request,
answers at once. ``after(response)`` runs after the view: for a rule that processed the request it
sleeps ``latency_after`` and turns the real answer into the faulty one. The rules themselves
(matching, counts, chance) are plain Python in ``control/faults.py``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time

from flask import Response, g, jsonify, request

from ..control.faults import FaultRule

HTML_PAGE = """<html>
<head><title>{status} {reason}</title></head>
<body>
<center><h1>{status} {reason}</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""
REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
MALFORMED = b"{'success': [], 'failed': []}"  # Python's repr, not JSON: a classic server bug
SLOW_BODY_PIECES = 10


def before(mock) -> Response | None:  # mock: a MockExist
    """Pick the rule for this request (if any); answer now when it does not process it."""
    with mock.lock:
        rule = mock.faults.take(request.method, request.path)
    if rule is None:
        return None
    g.fault = rule.mode
    g.fault_rule = rule
    if rule.latency and not rule.latency_after and rule.mode != "slow_body":
        time.sleep(rule.latency)
    if rule.apply:
        return None  # the view runs; ``after`` changes its answer
    g.fault_answered = True
    return answer(rule, None)


def after(response: Response) -> Response:
    """Turn the real answer into the faulty one, for a rule that processed the request."""
    rule: FaultRule | None = g.pop("fault_rule", None)
    if rule is None or g.pop("fault_answered", False):
        return response
    if rule.latency and rule.latency_after and rule.mode != "slow_body":
        time.sleep(rule.latency)
    return answer(rule, response)


def answer(rule: FaultRule, real: Response | None) -> Response:
    """The response a client gets from ``rule``, given the real one when it was processed."""
    mode = rule.mode
    if mode in ("latency", "slow_response"):
        return real  # type: ignore[return-value]
    if mode in ("status", "apply_then_fail"):
        detail = "Injected fault" + (": the request was applied" if rule.apply else "")
        response = jsonify({"detail": detail})
        response.status_code = rule.status  # type: ignore[assignment]
        return response
    if mode == "html_error":
        reason = REASONS.get(rule.status, "Error")  # type: ignore[arg-type]
        return Response(
            HTML_PAGE.format(status=rule.status, reason=reason), rule.status, mimetype="text/html"
        )
    if mode == "malformed_json":
        return Response(MALFORMED, rule.status, mimetype="application/json")
    if mode == "truncated_json":
        body = real.get_data()  # type: ignore[union-attr]
        cut = body[: max(1, len(body) // 2)]
        return Response(cut, real.status_code, mimetype="application/json")  # type: ignore[union-attr]
    if mode == "slow_body":
        return _slow(real, rule.latency)  # type: ignore[arg-type]
    if mode == "reset":
        # the connection is reset once the request is in the journal (``reset_if_asked``), so
        # a client that sees the reset already finds the entry there
        g.reset_connection = True
        return Response(b"", 500)  # never reaches the client: its connection is gone
    raise AssertionError(f"unhandled fault mode {mode}")


def _slow(real: Response, seconds: float) -> Response:
    """The real answer with its headers and first bytes at once, the rest of its body in pieces
    spread over ``seconds`` (waitress sends the headers with the first bytes)."""
    body = real.get_data()
    step = max(1, -(-len(body) // SLOW_BODY_PIECES))
    pieces = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
    pause = seconds / max(1, len(pieces) - 1)

    def trickle():
        yield pieces[0]
        for piece in pieces[1:]:
            time.sleep(pause)
            yield piece

    response = Response(trickle(), real.status_code, headers=dict(real.headers))
    response.headers["Content-Length"] = str(len(body))
    return response


def reset_if_asked() -> None:
    """Reset this request's connection if its fault asked for it (the last step of a request)."""
    if g.pop("reset_connection", False):
        _reset_connection()


def _reset_connection() -> None:
    """Abort this request's TCP connection: RST (linger 0), no HTTP answer at all.

    Waitress puts a bound method of the connection's channel in the WSGI environment; its socket
    is shut down here, and waitress's loop then closes it. Without waitress (a test client) there
    is no socket to reset: the fault answers a 500 instead.
    """
    check = request.environ.get("waitress.client_disconnected")
    channel = getattr(check, "__self__", None)
    sock = getattr(channel, "socket", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
