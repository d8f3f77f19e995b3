"""The emulator: all six provider APIs under their prefixes, plus a control API."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from . import althea, anam, callers, cartesia, common, elevenlabs, faseeh
from .faults import FaultInjector
from .state import FAULT_KINDS, PREFIXES, Fault, State

_APIS = {
    "anam": anam,
    "althea": althea,
    "faseeh": faseeh,
    "callers": callers,
    "elevenlabs": elevenlabs,
    "cartesia": cartesia,
}


class Emulator(Starlette):
    """Starlette with the fault injector wrapped outermost, where uvicorn's `send` is visible."""

    def __init__(self, state: State, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.emulator_state = state
        self._faults = FaultInjector(super().__call__, state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._faults(scope, receive, send)


def _control_routes(state: State) -> list[Route]:
    fields = {f.name for f in dataclasses.fields(Fault)}

    async def add_fault(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict) or set(body) - fields:
            return JSONResponse({"error": f"fields: {sorted(fields)}"}, status_code=400)
        if body.get("provider") not in PREFIXES or body.get("kind") not in FAULT_KINDS:
            return JSONResponse(
                {"error": f"provider in {list(PREFIXES)}, kind in {list(FAULT_KINDS)}"}, 400
            )
        fault = Fault(**body)
        state.faults.append(fault)
        return JSONResponse(dataclasses.asdict(fault), status_code=201)

    async def clear_faults(request: Request) -> Response:
        state.faults.clear()
        return Response(status_code=204)

    async def get_state(request: Request) -> Response:
        return JSONResponse(state.snapshot())

    async def reset(request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    async def sample(request: Request) -> Response:
        return Response(common.wav(common.sine_pcm(0.5)), media_type="audio/wav")

    return [
        Route("/_emulator/faults", add_fault, methods=["POST"]),
        Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/_emulator/state", get_state, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/samples/{provider}/{id}.wav", sample, methods=["GET"]),
    ]


def create_app(*, keys: dict[str, str] | None = None) -> Starlette:
    """keys: provider -> the one key it accepts; None accepts any non-empty key but "invalid"."""
    state = State(keys=keys)
    routes: list[Any] = _control_routes(state)
    routes += [Mount(PREFIXES[name], routes=api.routes(state)) for name, api in _APIS.items()]
    return Emulator(state, routes=routes)
