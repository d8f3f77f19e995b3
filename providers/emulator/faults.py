"""Fault injection, as an ASGI wrapper outside Starlette so it can drop the connection itself.

Dropping closes uvicorn's transport (reached through its `send`), so the client sees the
connection end with no response at all, as with a crashed upstream or a proxy timeout. A 500, 502
or 504 comes after the handler ran (a create stored its voice); a 429 or 503 before it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import common
from .state import PREFIXES, Fault, State

log = logging.getLogger("providers.emulator")
MALFORMED = b'{"id": "truncated'


def provider_of(path: str) -> str | None:
    for name, prefix in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return name
    return None


async def drop(send: Send) -> None:
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: not served by uvicorn")
    transport.close()
    await asyncio.sleep(0)  # let uvicorn see the disconnect, so it does not answer 500


# Faults that answer with an error after the handler did its work (see FaultInjector.inject).
ACTED_ON = ("500", "502", "504")
MESSAGES = {
    400: "Request refused by the emulator",
    429: "Too many requests",
    500: "Internal server error",
    503: "Unavailable",
}
GATEWAY_PAGE = "<html><head><title>{0} {1}</title></head><body><h1>{0} {1}</h1></body></html>"


def _error(provider: str, status: int) -> Response:
    """The provider's own error body; a gateway's 502/504 is the HTML page a proxy in front of it
    answers (nginx, a CDN), not the provider's JSON."""
    if status in (502, 504):
        phrase = {502: "Bad Gateway", 504: "Gateway Time-out"}[status]
        return HTMLResponse(GATEWAY_PAGE.format(status, phrase), status_code=status)
    return common.error(provider, status, MESSAGES[status], f"emulated_{status}")


async def _swallow(message: Message) -> None:
    return None


class FaultInjector:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = provider_of(scope.get("path", "")) if scope["type"] == "http" else None
        if provider is None:
            await self.app(scope, receive, send)
            return
        s = self.state
        s.requests[provider] = s.requests.get(provider, 0) + 1
        s.in_flight[provider] = s.in_flight.get(provider, 0) + 1
        s.max_in_flight[provider] = max(s.max_in_flight.get(provider, 0), s.in_flight[provider])
        try:
            fault = s.take_fault(provider, scope["method"], scope["path"])
            if fault is None:
                await self.app(scope, receive, send)
            else:
                log.info("fault %s on %s %s", fault.kind, scope["method"], scope["path"])
                await self.inject(fault, provider, scope, receive, send)
        finally:
            s.in_flight[provider] -= 1

    async def inject(
        self, fault: Fault, provider: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        kind = fault.kind
        if kind in ACTED_ON:
            # The handler runs (a create stores its voice), then the answer is an error: a server
            # that failed after the work was done, or a gateway that lost the upstream's answer.
            await self.app(scope, receive, _swallow)
            await _error(provider, int(kind))(scope, receive, send)
        elif kind in ("400", "429", "503"):
            response = _error(provider, int(kind))
            if kind == "429":
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            await response(scope, receive, send)
        elif kind == "delay":
            await asyncio.sleep(fault.delay_s)
            await self.app(scope, receive, send)
        elif kind == "drop":
            await drop(send)
        elif kind == "lost":
            # The handler runs (the voice is stored); its answer never leaves.
            await self.app(scope, receive, _swallow)
            await drop(send)
        elif kind == "malformed":
            start: dict[str, Any] = {}

            async def corrupt(message: Message) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body" and not message.get("more_body"):
                    headers = [
                        (k, v) for k, v in start["headers"] if k.lower() != b"content-length"
                    ]
                    headers.append((b"content-length", str(len(MALFORMED)).encode()))
                    await send({**start, "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": MALFORMED})

            await self.app(scope, receive, corrupt)
        else:
            await self.app(scope, receive, send)
