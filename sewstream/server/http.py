"""Plain HTTP on the websocket port: /healthz, /readyz, /metrics, and the handshake checks.

websockets calls ``process_request`` before every opening handshake; returning a
Response answers the request as plain HTTP instead of upgrading it. That is where
health, readiness and metrics are served, unknown paths get 404, and the token is
checked (401) before any websocket work is done.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request, Response

from .metrics import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from .app import Server

NATIVE_PATHS = ("/", "/ws")
VOSK_PATH = "/vosk"
WEBSOCKET_PATHS = (*NATIVE_PATHS, VOSK_PATH)


def request_token(request: Request) -> str | None:
    """The client's token: ``Authorization: Bearer <token>``, else ``?token=<token>``."""
    auth = request.headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(request.path).query).get("token")
    return values[0] if values else None


def authorized(expected: str | None, request: Request) -> bool:
    if expected is None:
        return True
    given = request_token(request)
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def process_request(server: Server, connection, request: Request) -> Response | None:
    path = urlsplit(request.path).path
    if path == "/healthz":
        return connection.respond(200, "ok\n")
    if path == "/readyz":
        if server.ready:
            return connection.respond(200, "ready\n")
        return connection.respond(503, "draining\n" if server.draining else "warming up\n")
    if path == "/metrics":
        if not authorized(server.token, request):
            return _unauthorized(connection)
        response = connection.respond(200, "")
        body = server.metrics.render()
        response.body = body
        del response.headers["Content-Type"]
        del response.headers["Content-Length"]
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        response.headers["Content-Length"] = str(len(body))
        return response
    if path not in WEBSOCKET_PATHS:
        return connection.respond(404, f"not found: {path[:100]} (websockets: / and /vosk; "
                                       "HTTP: /healthz /readyz /metrics)\n")
    if not authorized(server.token, request):
        server.metrics.refused.labels("unauthorized").inc()
        return _unauthorized(connection)
    return None


def _unauthorized(connection) -> Response:
    response = connection.respond(401, "unauthorized: send Authorization: Bearer <token> or ?token=<token>\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="sewstream"'
    return response
