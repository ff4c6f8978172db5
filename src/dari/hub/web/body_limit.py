"""Request bodies counted as they arrive and refused with 413 past the limit: before routing, before any login.

A Content-Length check alone lets a chunked upload (`Transfer-Encoding: chunked`, no length) through; the hub once
read a 300 MB anonymous request in full that way. This ASGI middleware sits outermost: it reads the body itself,
counting every chunk, and answers 413 with `Connection: close` as soon as the count passes the route's limit, so
the server closes the connection instead of reading the rest. A body within the limit is handed on to the app
unchanged (it is buffered, at most the limit, so routes that never read their body cannot be used to stream
unbounded data either).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body per request (`larger` names routes allowed more)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read and count the body, refuse past the limit, else run the app on the body read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get((scope["method"], scope["path"]), self.max_bytes)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nothing to answer
            body: bytes = message.get("body", b"")
            total += len(body)
            if total > limit:
                await _refuse(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # later calls wait for the disconnect, as the server's own receive would
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


async def _refuse(send: Send, limit: int) -> None:
    payload: dict[str, Any] = {"detail": f"request body larger than {limit} bytes"}
    body = json.dumps(payload).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),  # uvicorn closes the connection after this response: the rest is not read
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
