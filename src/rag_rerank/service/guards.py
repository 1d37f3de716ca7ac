"""Server limits: header size and count, body size and time, idle and half-open connections.

uvicorn's settings are used where they exist: the h11 parser with a cap on the header block
(``HTTP_MAX_HEADER_BYTES``, answered 400), ``timeout_keep_alive`` for idle connections and
``limit_concurrency`` (503) for connections. What uvicorn lacks is added here:

* :class:`GuardedH11Protocol` closes a connection that has not sent a complete request line
  and headers within ``HTTP_BODY_TIMEOUT_S`` (a slow-header client), and answers protocol
  errors with a JSON body.
* :class:`RequestGuardMiddleware` answers 431 for more than ``HTTP_MAX_HEADERS`` headers or
  ``HTTP_MAX_HEADER_BYTES`` of them (h11's cap only bounds a head still arriving), 413
  for a body over ``MAX_BODY_BYTES`` (declared or chunked), and 408 for a body that does not
  arrive within ``HTTP_BODY_TIMEOUT_S``. It reads the body before the app runs, so the app
  never waits on a slow client, then hands the real ``receive`` on (for disconnect detection).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol", "RequestGuardMiddleware", "uvicorn_config"]


class RequestGuardMiddleware:
    """Header count, body size and body time limits, with JSON error bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_timeout_s: float,
        max_headers: int,
        max_header_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_head(scope.get("headers", []))
        body: bytes | None = None
        if refusal is None:
            body, refusal = await self._read_body(receive)
        if refusal is not None:
            await _reject(send, *refusal)
            return
        if body is None:
            return  # the client left before sending its request: nobody to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check_head(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        if len(headers) > self.max_headers:
            return 431, f"{len(headers)} headers, over HTTP_MAX_HEADERS={self.max_headers}"
        size = sum(len(k) + len(v) + 4 for k, v in headers)
        if self.max_header_bytes is not None and size > self.max_header_bytes:
            return 431, f"{size} bytes of headers, over HTTP_MAX_HEADER_BYTES={self.max_header_bytes}"
        declared = dict(headers).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            return 413, f"request body over {self.max_body_bytes} bytes (MAX_BODY_BYTES)"
        return None

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, tuple[int, str] | None]:
        """The whole body, or a refusal (413, 408), or (None, None) when the client left."""
        body = bytearray()
        deadline = time.monotonic() + self.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return None, (408, f"request body not received within {self.body_timeout_s:g} s (HTTP_BODY_TIMEOUT_S)")
            if message["type"] == "http.disconnect":
                return None, None
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return None, (413, f"request body over {self.max_body_bytes} bytes (MAX_BODY_BYTES)")
            if not message.get("more_body", False):
                return bytes(body), None


async def _reject(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"detail": message, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head and JSON protocol errors."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_timer.cancel()
            self._head_timer = self.loop.call_later(self.header_timeout_s + self.timeout_keep_alive, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _head_timeout(self) -> None:
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request head in time")
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        detail = f"{msg} (malformed request, or a header block over HTTP_MAX_HEADER_BYTES)"
        payload = json.dumps({"detail": detail, "message": detail}).encode()
        event = h11.Response(
            status_code=400,
            headers=[(b"content-type", b"application/json"), (b"connection", b"close")],
            reason=b"Bad Request",
        )
        try:
            self.transport.write(self.conn.send(event))
            self.transport.write(self.conn.send(h11.Data(data=payload)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # a response was already under way
            pass
        self.transport.close()


def uvicorn_config(app: Any, settings: Any, **overrides: Any) -> Any:
    """A ``uvicorn.Config`` for ``app`` with the limits of ``settings`` (an ``AppSettings``)."""
    import uvicorn

    protocol = type(
        "RagRerankH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": float(settings.http_body_timeout_s)}
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol,
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "timeout_keep_alive": settings.http_keepalive_timeout_s,
        "limit_concurrency": settings.http_max_connections,
        "log_level": "warning",
        "access_log": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
