"""Callers.ai: several files per voice; the answer is an array of voices.

Callers documents no way to list, get or delete voices, so a create whose answer is lost cannot be
checked: `find_by_name` returns None and the caller holds the request as OutcomeUnknown.
"""

from __future__ import annotations

from typing import Any

from . import checks
from .http import Client
from .redact import redact
from .registry import SPECS
from .types import ClonedVoice, CloneRequest, InvalidRequest, ProviderError

SPEC = SPECS["callers"]
NAME = SPEC.name

# The docs show the raw key in Authorization; set "Bearer " here if the live API wants it.
AUTH_PREFIX_ENV = "CALLERS_AUTH_PREFIX"
SUB_ORGANIZATION_ENV = "CALLERS_SUB_ORGANIZATION_ID"
# Repeated parts named "files" (the docs' curl shows a generator artifact, files.items).
FILES_FIELD_ENV = "CALLERS_FILES_FIELD"

PROVIDER_TYPES = ("ELEVENLABS", "CARTESIA", "GOOGLE_CLOUD")
LOCALES = (
    "en-US", "en-GB", "en-AU", "en-CA", "en-IE", "en-IN", "en-NZ", "en-ZA", "en-SG", "es-ES",
    "es-MX", "fr-FR", "pt-BR", "zh-CN", "cmn-EN", "nl-NL", "fi-FI", "de-DE", "de-AT", "de-CH",
    "de-LU", "de-LI", "gsw-CH", "gsw-LI", "el-GR", "hi-IN", "en-TA", "id-ID", "it-IT", "ja-JP",
    "ko-KR", "ms-MY", "en-MS", "ro-RO", "ru-RU", "uk-UA", "bg-BG", "cs-CZ", "da-DK", "pl-PL",
    "sk-SK", "sv-SE", "tr-TR", "ar-SA", "ary-MA", "arz-EG", "apc-LB", "apc-SY", "apc-PS",
    "apc-JO", "acm-IQ", "ar-AE", "afb-AE", "afb-BH", "afb-KW", "afb-QA", "afb-OM", "hr-HR",
    "hr-BA", "he-IL", "ur-PK", "hu-HU", "fil-PH", "th-TH",
)  # fmt: skip
OPTIONS = (
    "providerType",
    "supportedLocales",
    "stability",
    "similarityBoost",
    "speed",
    "subAccounts",
    "supportsAllLanguages",
)
# Options that describe the voice, not shape it (see registry.ClientModule.METADATA).
METADATA = ("supportedLocales", "supportsAllLanguages", "subAccounts")


def headers(key: str) -> dict[str, str]:
    out = {"Authorization": f"{checks.setting(AUTH_PREFIX_ENV, '')}{key}"}
    sub = checks.setting(SUB_ORGANIZATION_ENV, "")
    if sub:
        out["x-sub-organization-id"] = sub
    return out


def _locales(req: CloneRequest) -> list[str] | None:
    if "supportedLocales" in req.options:
        value = req.options["supportedLocales"]
        return [value] if isinstance(value, str) else list(value)
    return [req.language] if req.language in LOCALES else None


def validate(req: CloneRequest) -> None:
    o = req.options
    checks.known_options(NAME, req, OPTIONS)
    checks.voice_name(SPEC, req.name)
    checks.file_count(NAME, "files", req.files)
    checks.text(NAME, "description", req.description)
    checks.one_of(NAME, "providerType", o.get("providerType"), PROVIDER_TYPES)
    value = o.get("supportedLocales")
    if value is not None and not isinstance(value, str | list | tuple):
        raise InvalidRequest(NAME, "supportedLocales", "must be a list of locales")
    for locale in _locales(req) or ():
        checks.one_of(NAME, "supportedLocales", locale, LOCALES)
    checks.number(NAME, "stability", o.get("stability"), 0, 1)
    checks.number(NAME, "similarityBoost", o.get("similarityBoost"), 0, 1)
    checks.number(NAME, "speed", o.get("speed"), -1, 1)
    checks.boolean(NAME, "subAccounts", o.get("subAccounts"))
    checks.boolean(NAME, "supportsAllLanguages", o.get("supportsAllLanguages"))


def _voice(body: dict[str, Any]) -> ClonedVoice:
    return ClonedVoice(
        provider=NAME,
        voice_id=str(body["id"]),
        name=str(body.get("name") or ""),
        preview_url=None,  # Callers documents no sample URL
        raw=redact(body),
    )


def clone(client: Client, req: CloneRequest) -> ClonedVoice:
    o = req.options
    fields = {
        "name": req.name,
        "description": req.description,
        "supportedLocales": _locales(req),
        **{k: o.get(k) for k in OPTIONS if k != "supportedLocales"},
    }
    field = checks.setting(FILES_FIELD_ENV, "files")
    body = client.json(
        "POST",
        SPEC.create_path,
        data=checks.form(fields),
        files=[checks.file_part(field, f) for f in req.files],
    )
    if not isinstance(body, list) or not body or not isinstance(body[0], dict):
        raise ProviderError(NAME, "clone answered without the documented array of voices")
    # The array holds one voice per clone; the first is the one just made.
    return _voice(body[0])


def list_voices(client: Client, search: str = "") -> list[ClonedVoice] | None:
    """None: Callers documents no way to list voices."""
    return None


def find_by_name(client: Client, name: str) -> list[ClonedVoice] | None:
    return None


def delete(client: Client, voice_id: str) -> None:
    raise ProviderError(
        NAME, "Callers.ai documents no endpoint to delete a voice", code="unsupported"
    )
