"""The emulator: all six provider APIs under their prefixes, plus a control API."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from . import althea, anam, callers, cartesia, common, elevenlabs, faseeh, speech
from .faults import FaultInjector
from .state import FAULT_KINDS, PREFIXES, Fault, State

METADATA_URL = "http://169.254.169.254/latest/meta-data/"
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
        """A voice's preview: a few seconds of its upload as MP3, or what a preview fault says."""
        provider = request.path_params["provider"]
        voice_id = request.path_params["name"].rsplit(".", 1)[0]
        fault = state.take_fault(provider, "GET", request.url.path, preview=True)
        kind = fault.kind if fault else None
        if kind == "preview-broken":
            return Response(speech.BROKEN, media_type="audio/mpeg")
        if kind == "preview-html":
            return Response(speech.NOT_AUDIO, media_type="text/html")
        if kind == "preview-redirect":
            return Response(status_code=302, headers={"location": "file:///etc/passwd"})
        if kind == "preview-internal":  # the cloud metadata service: no preview may reach it
            return Response(status_code=302, headers={"location": METADATA_URL})
        if kind == "preview-trickle":  # one byte every delay_s, for as long as it takes
            mp3 = await asyncio.to_thread(speech.preview_mp3, speech.other_speaker())
            return StreamingResponse(
                _trickle(mp3, fault.delay_s if fault else 1.0),
                media_type="audio/mpeg",
                headers={"content-length": str(len(mp3))},
            )
        upload = speech.other_speaker() if kind else state.uploads.get(f"{provider}/{voice_id}")
        if upload is None:  # a voice the emulator did not make (a stock voice): a tone
            return Response(common.wav(common.sine_pcm(0.5)), media_type="audio/wav")
        mp3 = await asyncio.to_thread(speech.preview_mp3, upload)
        return Response(mp3, media_type="audio/mpeg")

    return [
        Route("/_emulator/faults", add_fault, methods=["POST"]),
        Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/_emulator/state", get_state, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/samples/{provider}/{name}", sample, methods=["GET"]),
    ]


async def _trickle(data: bytes, every_s: float) -> AsyncIterator[bytes]:
    for i in range(len(data)):
        await asyncio.sleep(every_s)
        yield data[i : i + 1]


def create_app(*, keys: dict[str, str] | None = None) -> Starlette:
    """keys: provider -> the one key it accepts; None accepts any non-empty key but "invalid"."""
    state = State(keys=keys)
    routes: list[Any] = _control_routes(state)
    routes += [Mount(PREFIXES[name], routes=api.routes(state)) for name, api in _APIS.items()]
    return Emulator(state, routes=routes)
