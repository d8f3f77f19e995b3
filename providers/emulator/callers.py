"""Emulated Callers.ai: clone only (nothing to list, get or delete is documented)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..callers import LOCALES, PROVIDER_TYPES
from . import common
from .state import State

P = "callers"


def routes(state: State) -> list[Route]:
    async def clone(request: Request) -> Response:
        if not state.key_ok(P, request.headers.get("authorization")):
            return common.error(P, 401, "Unauthorized", "Unauthorized")
        form = await common.read_form(request, state, P)

        def bad(message: str) -> Response:
            return common.error(P, 400, message, "Bad Request")

        name = common.text(form, "name")
        if not name or len(name) < 5:
            return bad("name must be longer than or equal to 5 characters")
        if not common.uploads(form, "files"):
            return bad("files should not be empty")
        provider_type = common.text(form, "providerType")
        if provider_type is not None and provider_type not in PROVIDER_TYPES:
            return bad(f"providerType must be one of: {', '.join(PROVIDER_TYPES)}")
        locales = form.getlist("supportedLocales")
        if any(x not in LOCALES for x in locales):
            return bad("each value in supportedLocales must be one of the documented locales")
        for field, lo, hi in (("stability", 0, 1), ("similarityBoost", 0, 1), ("speed", -1, 1)):
            value = common.text(form, field)
            if value is not None and not common.in_range(value, lo, hi):
                return bad(f"{field} must not be less than {lo} or greater than {hi}")
        for field in ("subAccounts", "supportsAllLanguages"):
            if not common.is_bool(common.text(form, field)):
                return bad(f"{field} must be a boolean value")
        settings = {
            k: float(v)
            for k in ("stability", "similarityBoost", "speed")
            if (v := common.text(form, k)) is not None
        }
        voice = {
            "id": common.new_id(),
            "voiceId": common.new_id().replace("-", "")[:20],
            "name": name,
            "isMultilingual": common.text(form, "supportsAllLanguages") == "true"
            or len(locales) > 1,
            "supportedLocales": [str(x) for x in locales],
            "ttsClient": provider_type or "ELEVENLABS",
            "organizationId": common.new_id(),
            "settings": settings,
        }
        state.voices_of(P).append(voice)
        return JSONResponse([voice], status_code=201)

    return [Route("/voices/voice-clone", clone, methods=["POST"])]
