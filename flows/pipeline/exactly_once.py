"""One voice on one provider, created at most once: claim the ledger's intent row, settle what an
earlier attempt may have sent (the provider's voice list), send, record, and say what was done,
or why it is held and how to go on.

Plain functions (no Prefect needed: outside a flow run the provider cap is this process's), so
every branch is tested against the emulator on its own (tests/flows/test_exactly_once_unit.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import providers
from audio.types import Level, Verdict
from flows import config, ledger
from flows.ledger import store
from flows.pipeline import clonecheck, limits, preflight, secrets
from flows.pipeline.clonecheck import Listener
from flows.pipeline.inbox import VoiceSpec
from flows.records import CloneCheck, CloneResult, CloneStatus, StoredTake, to_json
from providers.types import AudioFile, ClonedVoice, CloneRequest, OutcomeUnknown, ProviderError

# The request's fields a provider keeps with the voice (with each provider's METADATA options):
# a change to them alone makes no new voice from the same takes; the result says it changed.
KEPT = ("name", "description", "language", "gender")


def request_for(
    spec: VoiceSpec, provider: str, takes: list[StoredTake], store_root: Path
) -> CloneRequest:
    files = tuple(
        AudioFile(f"{spec.slug}-{i + 1}.wav", store.get(t.sha256, "wav", store_root), "audio/wav")
        for i, t in enumerate(takes)
    )
    return spec.request(provider, files)


def describe(
    req: CloneRequest, provider: str, base_url: str, takes: list[StoredTake]
) -> dict[str, Any]:
    """What is sent, without the audio bytes and without any key: stored in the ledger and shown."""
    return {
        "provider": provider,
        "base_url": base_url,
        "name": req.name,
        "language": req.language,
        "description": req.description,
        "gender": req.gender,
        "options": dict(req.options),
        "files": [
            {"filename": f.filename, "bytes": len(f.data), "sha256": t.sha256}
            for f, t in zip(req.files, takes, strict=True)
        ],
    }


def clone_once(
    eng: sa.Engine,
    spec: VoiceSpec,
    provider: str,
    takes: list[StoredTake],
    verdict: Verdict,
    store_root: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    accept_new_ledger: bool = False,
    flow_run_id: str | None = None,
    check: str = "warn",
    centroid: tuple[float, ...] | None = None,
) -> CloneResult:
    """Claim, reconcile, send and record; returns one row of the result table.

    `check`: the clone check (gate | warn | off) of the preview against `centroid`, the
    voice's speaker (flows.pipeline.clonecheck)."""
    result = CloneResult(
        voice=spec.slug,
        provider=provider,
        status=CloneStatus.SKIPPED,  # each return says what happened
        verdict=verdict.level,
        reasons=verdict.reasons,
        takes=tuple(t.ref() for t in takes),
    )
    if verdict.level is Level.FAIL:
        return result
    base_url = providers.base_url_of(provider)
    req = request_for(spec, provider, takes, store_root)
    try:
        providers.get(provider).validate(req)
    except ProviderError as e:
        return replace(result, status=CloneStatus.FAILED, error=str(e))
    shas = [t.sha256 for t in takes]
    key = ledger.idempotency_key(provider, base_url, req.name, shas, dict(req.options))
    intent: dict[str, Any] = {
        "key": key,
        "provider": provider,
        "base_url": base_url,
        "voice": spec.slug,
        "voice_name": req.name,
        "take_hashes": shas,
        "options": dict(req.options),
        "request": describe(req, provider, base_url, takes),
        "verdict": to_json(verdict),
    }
    earlier = same_voice(eng, spec.slug, provider, base_url, shas, req)
    note = changed_note(provider, earlier["request"], intent["request"]) if earlier else None
    if dry_run:
        return _dry_run(eng, result, intent["request"], earlier, note, force)
    if earlier and note and not force:  # the voice exists; only what the provider keeps changed
        fields = _voice_fields(eng, earlier, check)
        return replace(result, status=CloneStatus.EXISTS, note=note, **fields)
    claim = ledger.claim(eng, intent, force=force, again=bool(earlier and note))
    if claim.action == "done":
        return replace(result, status=CloneStatus.EXISTS, **_voice_fields(eng, claim.row, check))
    if claim.action == "busy":
        error = "another run is sending this request now"
        return replace(result, status=CloneStatus.BUSY, error=error)
    if claim.action == "held":
        return replace(result, status=CloneStatus.HELD, error=claim.row["error"])

    key_value = secrets.api_key(provider)
    if not key_value:
        env = providers.spec(provider).key_env
        error = f"{provider}: no API key: set {env} or a Prefect Secret block '{env.lower().replace('_', '-')}'"
        ledger.finish(eng, key, "failed", error)
        return replace(result, status=CloneStatus.FAILED, error=error)
    try:
        client = providers.connect(
            provider, key=key_value, base_url=base_url, **config.http_settings()
        )
    except ProviderError as e:
        ledger.finish(eng, key, "failed", str(e))
        return replace(result, status=CloneStatus.FAILED, error=str(e))
    with client:
        try:
            with limits.provider_slot(provider):  # a lookup counts against the cap like a send
                if claim.action == "send":
                    found = _before_create(
                        eng,
                        client,
                        provider,
                        req.name,
                        store_root,
                        force=force,
                        accept_new_ledger=accept_new_ledger,
                        flow_run_id=flow_run_id,
                    )
                else:
                    found = _reconcile(eng, client, provider, req.name, force=force)
        except ProviderError as e:  # no slot: nothing was sent
            ledger.finish(eng, key, "failed", str(e))
            return replace(result, status=CloneStatus.FAILED, error=str(e))
        listen = Listener(provider, check, centroid, req, store_root)
        if isinstance(found, ClonedVoice):
            _complete(eng, key, found, flow_run_id)
            heard = _checked(eng, spec.slug, found, listen.after(client, found), flow_run_id)
            return replace(result, status=CloneStatus.RECONCILED, **_fields(found), **heard)
        if isinstance(found, Held):
            ledger.finish(eng, key, "held", found.reason, found.hold)
            return replace(result, status=CloneStatus.HELD, error=found.reason)
        try:
            with limits.provider_slot(provider):  # the cap across processes when there are several
                known = ledger.known_voice_ids(eng, provider)
                voice = providers.clone(client, req, on_preview=listen.on_preview, known=known)
        except clonecheck.Gated as gated:  # Faseeh's preview is not the speaker: nothing cloned
            reason = clonecheck.gate_reason(gated.check, providers.spec(provider).display_name)
            ledger.finish(eng, key, "failed", reason)  # a rerun may send (--clone-check warn)
            heard = _checked(eng, spec.slug, None, gated.check, flow_run_id, provider)
            return replace(result, status=CloneStatus.HELD, error=reason, **heard)
        except OutcomeUnknown as e:
            held = _lost(e)
            ledger.finish(eng, key, "held", held.reason, held.hold)
            return replace(result, status=CloneStatus.HELD, error=held.reason)
        except ProviderError as e:
            ledger.finish(eng, key, "failed", str(e))
            return replace(result, status=CloneStatus.FAILED, error=str(e))
        _complete(eng, key, voice, flow_run_id)  # recorded before anything else can go wrong
        heard = _checked(eng, spec.slug, voice, listen.after(client, voice), flow_run_id)
    return replace(result, status=CloneStatus.CREATED, **_fields(voice), **heard)


def _checked(
    eng: sa.Engine,
    voice: str,
    cloned: ClonedVoice | None,
    check: CloneCheck | None,
    flow_run_id: str | None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Record the check in the ledger; the result's `clone_check` field, when there is one."""
    if check is None:
        return {}
    provider = cloned.provider if cloned else provider
    if provider is None:
        raise ValueError("a clone check without a voice must name its provider")
    voice_id = cloned.voice_id if cloned else None
    ledger.record_clone_check(eng, provider, voice, voice_id, check.to_dict(), flow_run_id)
    return {"clone_check": check}


def _dry_run(
    eng: sa.Engine,
    result: CloneResult,
    request: dict[str, Any],
    earlier: dict[str, Any] | None,
    note: str | None,
    force: bool,
) -> CloneResult:
    if earlier and not (note and force):
        fields = _voice_fields(eng, earlier, "off")
        return replace(result, status=CloneStatus.EXISTS, note=note, **fields)
    return replace(result, status=CloneStatus.WOULD_SEND, request=request)


def same_voice(
    eng: sa.Engine, voice: str, provider: str, base_url: str, shas: list[str], req: CloneRequest
) -> dict[str, Any] | None:
    """The latest succeeded attempt that made, for this voice of the inbox, the voice these takes
    and options make, whatever its name, description or labels were (the provider keeps those;
    they make no new voice). Another voice with the same audio is another clone."""
    metadata = providers.get(provider).METADATA

    def shaping(options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k not in metadata}

    wanted = shaping(dict(req.options))
    for row in ledger.succeeded(eng, voice, provider, base_url, shas):
        if shaping(dict(row["options"] or {})) == wanted:
            return row
    return None


def changed_note(provider: str, then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """'exists; its description changed since it was cloned; …' when a field the provider keeps
    differs between the request that made the voice (`then`) and this one; None when none does."""
    metadata = providers.get(provider).METADATA
    fields = [f for f in KEPT if then.get(f) != now.get(f)]
    old, new = then.get("options") or {}, now.get("options") or {}
    fields += [f for f in metadata if old.get(f) != new.get(f)]
    if not fields:
        return None
    named = " and ".join([", ".join(fields[:-1]), fields[-1]] if len(fields) > 1 else fields)
    ones = "ones" if len(fields) > 1 else "one"
    return (
        f"exists; its {named} changed since it was cloned; the provider keeps the old {ones}; "
        "--force clones again"
    )


@dataclass(frozen=True)
class Held:
    """Do not send: why (shown to the user, how to go on included) and the ledger's `hold` kind."""

    hold: ledger.Hold
    reason: str


def _before_create(
    eng: sa.Engine,
    client: Any,
    provider: str,
    name: str,
    store_root: Path,
    *,
    force: bool,
    accept_new_ledger: bool,
    flow_run_id: str | None,
) -> ClonedVoice | Held | None:
    """Before creating what the ledger does not know: the provider may hold it already (the
    ledger was emptied, lost, restored from an old backup). One listing per provider per run.

    A voice: take it (no create). Held: do not send. None: create.
    """
    try:
        listed = preflight.provider_voices(flow_run_id, provider, client)
    except ProviderError as e:
        return None if force else _unreadable(provider, name, e)
    if listed is None:
        why = preflight.unfamiliar_ledger(flow_run_id, eng, store_root, accept=accept_new_ledger)
        if why is None:
            return None
        display = providers.spec(provider).display_name
        return Held(
            ledger.Hold.NEW_LEDGER,
            f"not sent: {display} documents no way to list voices, and {why}. Check {display} "
            f"for '{name}', then rerun with --accept-new-ledger to send (once accepted, the "
            "ledger is trusted from then on)",
        )
    return _pick(eng, provider, name, [v for v in listed if v.name == name], force=force)


def _reconcile(
    eng: sa.Engine, client: Any, provider: str, name: str, *, force: bool
) -> ClonedVoice | Held | None:
    """An earlier request of this attempt may have reached the provider: look the name up now
    (not from the run's listing, which may predate it)."""
    try:
        found = providers.get(provider).find_by_name(client, name)
    except ProviderError as e:
        return None if force else _unreadable(provider, name, e)
    if found is None:
        if force:
            return None
        return Held(
            ledger.Hold.UNKNOWN,
            f"held: an earlier request may have created '{name}' and {provider} documents no way "
            "to list voices; check the provider and rerun with --force to send again",
        )
    return _pick(eng, provider, name, found, force=force)


def _pick(
    eng: sa.Engine, provider: str, name: str, named: list[ClonedVoice], *, force: bool
) -> ClonedVoice | Held | None:
    """Of the provider's voices by this name, the one the ledger does not know yet, if any."""
    known = ledger.known_voice_ids(eng, provider)
    fresh = [v for v in named if v.voice_id not in known]
    if len(fresh) > 1 and not force:
        ids = ", ".join(v.voice_id for v in fresh)
        return Held(
            ledger.Hold.AMBIGUOUS,
            f"held: {len(fresh)} voices named '{name}' on {provider} are not in the ledger "
            f"({ids}), so which one these takes made, if any, is unknown; delete the extra ones "
            "and rerun, or rerun with --force to create another",
        )
    return fresh[0] if len(fresh) == 1 else None


def _unreadable(provider: str, name: str, error: ProviderError) -> Held:
    return Held(
        ledger.Hold.LISTING,
        f"held: the {providers.spec(provider).display_name} voice list could not be read "
        f"({error}), so whether '{name}' exists there already is unknown; a rerun looks again "
        "once it answers, or rerun with --force to send without looking (may create a duplicate)",
    )


def _lost(error: OutcomeUnknown) -> Held:
    """A create whose answer was lost and that the voice list did not settle: held, with how to
    go on (the next run looks again where the list may still answer)."""
    if error.listing == providers.LISTING_FAILED:
        return Held(
            ledger.Hold.LISTING,
            f"held: {error}; a rerun looks again once the voice list answers, or rerun with "
            "--force to send again without looking (may create a duplicate)",
        )
    if error.listing == providers.NOT_LISTED:
        return Held(
            ledger.Hold.NOT_LISTED,
            f"held: {error}; nothing was sent again: the next run looks for it once more and "
            "sends only if it is still not there",
        )
    if error.listing == providers.AMBIGUOUS:
        return Held(
            ledger.Hold.AMBIGUOUS,
            f"held: {error}; delete the extra ones and rerun, or rerun with --force to create "
            "another",
        )
    return Held(
        ledger.Hold.UNKNOWN,
        f"held: {error}; look for it in your {providers.spec(error.provider).display_name} "
        "account, then rerun with --force to send again (creates a duplicate if it was made)",
    )


def _complete(eng: sa.Engine, key: str, voice: ClonedVoice, flow_run_id: str | None) -> None:
    ledger.complete(
        eng,
        key,
        {
            "provider": voice.provider,
            "voice_id": voice.voice_id,
            "name": voice.name,
            "preview_url": voice.preview_url,
            "raw": voice.raw,
        },
        flow_run_id,
    )


def _fields(voice: ClonedVoice) -> dict[str, Any]:
    return {"voice_id": voice.voice_id, "preview_url": voice.preview_url}


def _voice_fields(eng: sa.Engine, row: dict[str, Any], check: str) -> dict[str, Any]:
    """A voice the ledger has: its id, preview and stored clone check (checked again only by
    `voxclone check`: the preview has not changed)."""
    found = ledger.voice(eng, row["provider"], row["provider_voice_id"])
    fields = {"voice_id": row["provider_voice_id"], "preview_url": found and found["preview_url"]}
    if check != "off":
        stored = ledger.clone_check(eng, row["provider"], row["provider_voice_id"])
        fields["clone_check"] = CloneCheck.from_dict(stored) if stored else None
    return fields
