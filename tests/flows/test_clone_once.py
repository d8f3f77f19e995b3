"""Every branch of the exactly-once protocol (`flows.pipeline.exactly_once.clone_once`) against
the emulator over loopback and a real SQLite ledger, without Prefect: what is sent, what the
ledger keeps, and what the user is told when it holds."""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa

import providers
from audio.types import Level, Metrics, Verdict
from flows import ledger
from flows.ledger import store
from flows.ledger.schema import clone_attempts
from flows.pipeline import exactly_once, preflight
from flows.pipeline.inbox import VoiceSpec
from flows.records import CloneResult, CloneStatus, StoredTake, TakePart
from providers.emulator import control
from providers.registry import SPECS

PASS = Verdict(Level.PASS)
SPEC = VoiceSpec("breathe", "Breathe Test", (), "en-US", "test voice", "female")
LIST_PATH = "/v1/voices"  # Anam's voice list (GET) and create (POST)


@dataclass
class Setup:
    url: str
    eng: sa.Engine
    store: Path
    takes: list[StoredTake]


def _take(root: Path) -> StoredTake:
    rate = 16_000
    t = np.arange(rate * 2) / rate
    buffer = io.BytesIO()
    sf.write(buffer, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="WAV")
    data = buffer.getvalue()
    metrics = Metrics(2.0, 1.8, 0.9, 30.0, 0.0, -20.0, 3.0, -3.0, 8000.0, rate, 1)
    sha = store.put(data, "wav", root)
    return StoredTake(sha, "wav", len(data), 2.0, metrics, (TakePart("clip", 0.0, 2.0),))


@pytest.fixture
def s(env: dict[str, str], emulator, tmp_path: Path) -> Setup:
    eng = ledger.engine(f"sqlite:///{tmp_path / 'lineage.db'}")
    ledger.start_run(eng, "run-0", "inbox", ["anam"])  # a ledger as old as its store
    root = tmp_path / "store"
    return Setup(emulator.url, eng, root, [_take(root)])


def _once(s: Setup, provider: str = "anam", spec: VoiceSpec = SPEC, **kw: Any) -> CloneResult:
    verdict = kw.pop("verdict", PASS)
    return exactly_once.clone_once(
        s.eng,
        spec,
        provider,
        s.takes,
        verdict,
        s.store,
        check="off",
        **kw,
    )


def _voices(s: Setup, provider: str = "anam") -> list[dict]:
    return control.state(s.url)["voices"].get(provider, [])


def _requests(s: Setup, provider: str = "anam") -> int:
    return control.state(s.url)["requests"].get(provider, 0)


def _attempts(s: Setup) -> list[dict]:
    with s.eng.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(clone_attempts))]


def _make_on_provider(s: Setup, provider: str = "anam", name: str = SPEC.name) -> str:
    """A voice by this name made on the provider behind the ledger's back (another ledger, a
    crashed run whose answer never reached the ledger)."""
    data = store.get(s.takes[0].sha256, "wav", s.store)
    req = providers.CloneRequest(name, (providers.AudioFile("x.wav", data),), "en-US")
    with providers.connect(provider) as client:
        return providers.clone(client, req).voice_id


def _arm(s: Setup, kind: str, provider: str = "anam", method: str = "POST", **kw: object) -> None:
    path = SPECS[provider].create_path if method == "POST" else LIST_PATH
    control.inject(s.url, provider, kind, path=path, method=method, **kw)


# --- created, exists, skipped -------------------------------------------------------------------


def test_a_new_voice_is_created_once_and_the_rerun_is_answered_by_the_ledger(s: Setup) -> None:
    first = _once(s)
    assert first.status is CloneStatus.CREATED and first.voice_id
    assert [a["status"] for a in _attempts(s)] == ["succeeded"]
    sent = _requests(s)

    again = _once(s)
    assert again.status is CloneStatus.EXISTS and again.voice_id == first.voice_id
    assert _requests(s) == sent and len(_voices(s)) == 1


def test_takes_that_failed_qc_send_nothing_and_claim_nothing(s: Setup) -> None:
    result = _once(s, verdict=Verdict(Level.FAIL, ("no speech found",)))
    assert result.status is CloneStatus.SKIPPED and result.reasons == ("no speech found",)
    assert _requests(s) == 0 and _attempts(s) == []


def test_a_request_the_docs_forbid_fails_before_a_byte_is_sent(s: Setup) -> None:
    bad = replace(SPEC, options={"elevenlabs": {"labels": "not a dict"}})
    result = _once(s, "elevenlabs", bad)
    assert result.status is CloneStatus.FAILED and "labels: must be a dict" in (result.error or "")
    assert _requests(s, "elevenlabs") == 0 and _attempts(s) == []


def test_a_dry_run_shows_the_request_and_sends_nothing_then_shows_the_voice(s: Setup) -> None:
    dry = _once(s, dry_run=True)
    assert dry.status is CloneStatus.WOULD_SEND and dry.request is not None
    assert dry.request["name"] == SPEC.name
    assert dry.request["files"] == [
        {"filename": "breathe-1.wav", "bytes": s.takes[0].bytes, "sha256": s.takes[0].sha256}
    ]
    assert _requests(s) == 0 and _attempts(s) == []
    made = _once(s)
    assert _once(s, dry_run=True).voice_id == made.voice_id


# --- reconciled by listing ----------------------------------------------------------------------


def test_a_voice_the_ledger_lost_is_taken_from_the_list_instead_of_created_again(s: Setup) -> None:
    made = _make_on_provider(s)
    result = _once(s)
    assert result.status is CloneStatus.RECONCILED and result.voice_id == made
    assert len(_voices(s)) == 1
    assert _once(s).status is CloneStatus.EXISTS


def test_a_pending_attempt_is_busy_while_its_owner_lives_and_reconciled_when_it_died(
    s: Setup,
) -> None:
    base_url = providers.base_url_of("anam")
    shas = [t.sha256 for t in s.takes]
    key = ledger.idempotency_key("anam", base_url, SPEC.name, shas, {})
    intent = {"key": key, "provider": "anam", "base_url": base_url, "voice": SPEC.slug,
              "voice_name": SPEC.name, "take_hashes": shas, "options": {},
              "request": {"name": SPEC.name}}  # fmt: skip
    assert ledger.claim(s.eng, intent).action == "send"  # this process is sending it

    busy = _once(s)
    assert (
        busy.status is CloneStatus.BUSY and busy.error == "another run is sending this request now"
    )
    assert _requests(s) == 0

    host = ledger.owner_id().rsplit(":", 2)[0]
    with s.eng.begin() as c:  # the owner died after its create reached the provider
        c.execute(clone_attempts.update().values(owner=f"{host}:{2**22 + 7}:123"))
    made = _make_on_provider(s)
    result = _once(s)
    assert result.status is CloneStatus.RECONCILED and result.voice_id == made
    assert len(_voices(s)) == 1 and _attempts(s)[0]["tries"] == 2


# --- held ---------------------------------------------------------------------------------------


def test_two_unknown_voices_by_the_name_hold_until_force_creates_another(s: Setup) -> None:
    made = {_make_on_provider(s), _make_on_provider(s)}
    held = _once(s)
    assert held.status is CloneStatus.HELD
    assert f"2 voices named '{SPEC.name}' on anam are not in the ledger" in (held.error or "")
    assert all(v in (held.error or "") for v in made) and "--force" in (held.error or "")
    assert _attempts(s)[0]["hold"] == "ambiguous"

    sent = _requests(s)
    assert _once(s).status is CloneStatus.HELD and _requests(s) == sent  # not even a look
    forced = _once(s, force=True)
    assert forced.status is CloneStatus.CREATED and forced.voice_id not in made
    assert len(_voices(s)) == 3


def test_an_unreadable_voice_list_holds_and_the_next_run_looks_again(s: Setup) -> None:
    _arm(s, "400", method="GET")
    held = _once(s)
    assert held.status is CloneStatus.HELD
    assert (held.error or "").startswith(
        "held: the Anam voice list could not be read (anam: HTTP 400"
    )
    assert "a rerun looks again once it answers" in (held.error or "")
    assert _attempts(s)[0]["hold"] == "listing" and _voices(s) == []

    again = _once(s)  # no --force needed: the list answers now
    assert again.status is CloneStatus.CREATED and len(_voices(s)) == 1


def test_force_sends_without_the_voice_list_when_it_cannot_be_read(s: Setup) -> None:
    _arm(s, "400", method="GET")
    assert _once(s, force=True).status is CloneStatus.CREATED
    assert len(_voices(s)) == 1


def test_a_new_ledger_beside_an_older_store_holds_callers_until_accepted(
    env: dict[str, str], emulator, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    take = _take(root)
    an_hour_ago = time.time() - 3600
    os.utime(store.path_for(take.sha256, "wav", root), (an_hour_ago, an_hour_ago))
    s = Setup(emulator.url, ledger.engine(f"sqlite:///{tmp_path / 'new.db'}"), root, [take])

    held = _once(s, "callers")
    assert held.status is CloneStatus.HELD
    assert (held.error or "").startswith("not sent: Callers.ai documents no way to list voices")
    assert "--accept-new-ledger" in (held.error or "")
    assert _attempts(s)[0]["hold"] == "new-ledger" and _requests(s, "callers") == 0

    assert _once(s, "callers").status is CloneStatus.HELD  # asked again, same answer
    accepted = _once(s, "callers", accept_new_ledger=True)
    assert accepted.status is CloneStatus.CREATED and len(_voices(s, "callers")) == 1
    assert _once(s, "callers").status is CloneStatus.EXISTS


def test_a_changed_description_says_the_provider_keeps_the_old_one_until_force(s: Setup) -> None:
    first = _once(s)
    sent = _requests(s)
    edited = replace(SPEC, description="a calm narrator")
    result = _once(s, spec=edited)
    assert result.status is CloneStatus.EXISTS and result.voice_id == first.voice_id
    assert result.note == (
        "exists; its description changed since it was cloned; the provider keeps the old one; "
        "--force clones again"
    )
    assert _requests(s) == sent

    renamed = _once(s, spec=replace(edited, name="Breathe Narrator"))
    assert (renamed.note or "").startswith("exists; its name and description changed")
    assert _requests(s) == sent

    forced = _once(s, spec=edited, force=True)
    assert forced.status is CloneStatus.CREATED and forced.voice_id != first.voice_id
    assert forced.note is None and len(_voices(s)) == 2
    settled = _once(s, spec=edited)
    assert settled.status is CloneStatus.EXISTS and settled.voice_id == forced.voice_id
    assert settled.note is None


# --- outcome unknown ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["502", "504", "lost"])
def test_a_create_stored_then_answered_badly_is_found_on_the_list_not_sent_again(
    s: Setup, kind: str
) -> None:
    _arm(s, kind)
    result = _once(s)
    assert result.status is CloneStatus.CREATED, result.error
    assert [v["id"] for v in _voices(s)] == [result.voice_id]
    assert _attempts(s)[0]["status"] == "succeeded"
    assert _once(s).status is CloneStatus.EXISTS and len(_voices(s)) == 1


def test_callers_lost_answer_is_held_until_force_which_may_duplicate(s: Setup) -> None:
    _arm(s, "502", "callers")
    held = _once(s, "callers")
    assert held.status is CloneStatus.HELD and len(_voices(s, "callers")) == 1
    assert (held.error or "").startswith("held: callers: HTTP 502")
    assert "Callers.ai documents no way to list voices" in (held.error or "")
    assert "rerun with --force to send again (creates a duplicate if it was made)" in (
        held.error or ""
    )
    assert _attempts(s)[0]["hold"] == "unknown"

    sent = _requests(s, "callers")
    again = _once(s, "callers")
    assert again.status is CloneStatus.HELD and again.error == held.error
    assert _requests(s, "callers") == sent  # never sent again by itself

    forced = _once(s, "callers", force=True)
    assert forced.status is CloneStatus.CREATED and len(_voices(s, "callers")) == 2


@pytest.mark.parametrize("kind", ["503", "drop"])
def test_a_create_that_never_ran_is_held_then_sent_once_by_the_next_run(
    s: Setup, kind: str
) -> None:
    """Not on the list (yet): nothing is sent again now (behind a gateway the voice may still be
    in the making); the next run looks once more and sends only if it is still not there."""
    _arm(s, kind, "cartesia")
    held = _once(s, "cartesia")
    assert held.status is CloneStatus.HELD and _voices(s, "cartesia") == []
    assert "is not on the Cartesia voice list (yet)" in (held.error or "")
    assert "sends only if it is still not there" in (held.error or "")
    assert _attempts(s)[0]["hold"] == "not-listed"

    again = _once(s, "cartesia")
    assert again.status is CloneStatus.CREATED and len(_voices(s, "cartesia")) == 1


def test_a_lost_create_and_a_failed_look_hold_until_the_list_answers(s: Setup) -> None:
    with providers.connect("anam") as client:  # the run's one listing, before the faults
        preflight.provider_voices("run-1", "anam", client)
    _arm(s, "502")
    _arm(s, "400", method="GET")
    held = _once(s, flow_run_id="run-1")
    assert held.status is CloneStatus.HELD and len(_voices(s)) == 1
    assert "looking 'Breathe Test' up failed too" in (held.error or "")
    assert "a rerun looks again once the voice list answers" in (held.error or "")
    assert _attempts(s)[0]["hold"] == "listing"

    again = _once(s)
    assert again.status is CloneStatus.RECONCILED
    assert [v["id"] for v in _voices(s)] == [again.voice_id]


def test_a_lost_create_among_other_unknown_voices_by_the_name_is_held_as_ambiguous(
    s: Setup,
) -> None:
    _make_on_provider(s), _make_on_provider(s)
    _arm(s, "502")
    held = _once(s, force=True)  # --force past the two: the create's answer is lost
    assert held.status is CloneStatus.HELD and len(_voices(s)) == 3
    assert "3 voices named 'Breathe Test' exist" in (held.error or "")
    assert "delete the extra ones and rerun" in (held.error or "")
    assert _attempts(s)[0]["hold"] == "ambiguous"


# --- retried ------------------------------------------------------------------------------------


def test_a_429_is_retried_in_the_same_call_and_makes_one_voice(s: Setup) -> None:
    _arm(s, "429", retry_after=0.01)
    assert _once(s).status is CloneStatus.CREATED
    assert len(_voices(s)) == 1


def test_a_refused_create_fails_and_the_next_run_sends_it_without_looking_first(
    s: Setup,
) -> None:
    _arm(s, "400")
    failed = _once(s)
    assert failed.status is CloneStatus.FAILED and "HTTP 400" in (failed.error or "")
    assert _attempts(s)[0]["status"] == "failed" and _voices(s) == []

    again = _once(s)
    assert again.status is CloneStatus.CREATED and len(_voices(s)) == 1
    assert _attempts(s)[0]["tries"] == 2


# --- the clone check's part ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "why"),
    [
        ("cartesia", "Cartesia returns no audio of the new voice"),
        ("callers", "Callers.ai returns no audio of the new voice"),
    ],
)
def test_a_provider_with_no_preview_gets_a_check_that_says_so(
    s: Setup, provider: str, why: str
) -> None:
    speaker = (1.0,) + (0.0,) * 191  # the voice's speaker, as the speaker check found it
    result = exactly_once.clone_once(
        s.eng, SPEC, provider, s.takes, PASS, s.store, check="warn", centroid=speaker
    )
    assert result.status is CloneStatus.CREATED and result.clone_check is not None
    assert result.clone_check.verdict == "no-preview"
    assert result.clone_check.reason == f"no preview to check: {why}"
    stored = ledger.clone_check(s.eng, provider, result.voice_id)
    assert stored is not None and stored["reason"] == result.clone_check.reason
