"""The clone_voices flow on a real Prefect server, against the emulator over loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flow_cases import CLIPS, KEY, PROVIDERS, emulator_requests, emulator_voices

from flows import ledger
from flows.pipeline.flow import clone_voices
from flows.pipeline.options import RunOptions
from flows.records import RunSummary
from providers.emulator import control

pytestmark = pytest.mark.integration  # a real Prefect server

if TYPE_CHECKING:
    from prefect.states import State


def _by_provider(run: dict) -> dict[str, dict]:
    return {r["provider"]: r for r in run["results"]}


def _run(**kw: object) -> tuple[dict, State]:
    """The flow's summary as its JSON, and its final state (a Failed run still carries it)."""
    state = clone_voices(**kw, return_state=True)
    return _json(state.result(raise_on_failure=False)), state


def _json(run: RunSummary) -> dict:
    assert isinstance(run, RunSummary)
    return run.to_dict()


def _task_states(flow_run_id: str) -> dict[str, tuple[str, str | None]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {r.name: (r.state.type.value, r.state.message) for r in runs}


def _artifacts(flow_run_id: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key or a.type: a for a in found}


def _artifact_keys(flow_run_id: str) -> set[str]:
    return set(_artifacts(flow_run_id))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_full_flow_with_a_bad_clip_then_a_rerun_sends_nothing(
    database, request, prefect_api, env, inbox: Path, emulator
) -> None:
    if database == "postgresql":
        request.getfixturevalue("pg_url")
    (inbox / "breathe" / "zz-corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    run = _json(clone_voices(inbox=str(inbox), providers=PROVIDERS, options=RunOptions(workers=2)))

    results = _by_provider(run)
    assert {p: r["status"] for p, r in results.items()} == {p: "created" for p in PROVIDERS}
    assert {p: len(v) for p, v in emulator_voices(emulator.url).items()} == {
        p: 1 for p in PROVIDERS
    }
    bad = [c for c in run["clips"] if c["status"] != "ok"]
    assert [c["clip"] for c in bad] == ["zz-corrupt.wav"]
    assert "zz-corrupt.wav" in bad[0]["error"]
    assert sorted(c["clip"] for c in run["clips"] if c["status"] == "ok") == CLIPS

    # Lineage walks from the provider's id back to the exact source bytes, with no key anywhere.
    voice_id = results["elevenlabs"]["voice_id"]
    record = ledger.lineage(ledger.engine(), voice_id)
    sources = {s["sha256"]: Path(s["path"]).name for s in record["sources"]}
    for name in {sources[c["source_sha256"]] for c in record["clips"]}:
        digest = hashlib.sha256((inbox / "breathe" / name).read_bytes()).hexdigest()
        assert sources[digest] == name
    assert record["clips"] and all(c["steps"] for c in record["clips"])
    assert KEY not in repr(record)
    html = Path(run["report"]).read_text()
    # every provider's take as sent (6), beside the four previews (Anam, Althea, Faseeh, ElevenLabs)
    clone_players = 6 + 4
    assert html.count("<audio") == 2 * len(CLIPS) + clone_players and "zz-corrupt.wav" in html
    assert {
        "qc-per-clip",
        "clone-results",
        "run-summary",
        "clone-voices-report",
        "run-progress",
    } <= _artifact_keys(run["flow_run_id"])
    artifacts = _artifacts(run["flow_run_id"])
    assert all(a.description for a in artifacts.values()), "every artifact says what it is"
    # the report's path as text, since the UI cannot open a file:// link
    assert f"`{Path(run['report']).resolve()}`" in artifacts["clone-voices-report"].data
    # the corrupt clip did not succeed: the progress says so rather than 100 %
    progress = artifacts["run-progress"]
    assert progress.data == round(100 * 10 / 11, 1) and progress.description.startswith(
        "failed: 1 of 11"
    )

    sent = emulator_requests(emulator.url)
    again = _json(
        clone_voices(inbox=str(inbox), providers=PROVIDERS, options=RunOptions(workers=2))
    )
    assert emulator_requests(emulator.url) == sent
    assert {r["status"] for r in again["results"]} == {"exists"}
    assert all(c.get("reused") for c in again["clips"] if c["status"] == "ok")


def test_provider_faults_end_in_a_clean_result_table(
    prefect_api, env, inbox: Path, emulator
) -> None:
    url = emulator.url
    # On the creates: each clone first reads the provider's voice list (GET), which must not
    # take the fault meant for the create.
    control.inject(url, "cartesia", "503", count=-1, method="POST")
    control.inject(url, "anam", "429", count=1, retry_after=1, method="POST")
    control.inject(url, "althea", "500", count=1, method="POST")
    control.inject(url, "elevenlabs", "lost", count=1, method="POST")
    control.inject(url, "callers", "lost", count=1, method="POST")
    run, state = _run(inbox=str(inbox), providers=PROVIDERS, options=RunOptions(workers=2))
    assert state.is_failed() and state.message.startswith("2 of 6 clones failed")
    artifacts = _artifacts(run["flow_run_id"])
    progress = artifacts["run-progress"]
    assert progress.data < 100.0 and progress.description.startswith("failed: 2 of ")
    summary_md = artifacts["run-summary"].data
    assert summary_md.startswith(f"# {run['title']}\n\n**Failed: 2 of 6 clones did not succeed.**")
    assert (
        "- breathe on Cartesia: " in summary_md and "- breathe on Callers.ai: held: " in summary_md
    )
    results = _by_provider(run)
    assert results["cartesia"]["status"] == "held"  # a 503 after a create left: not sent again
    assert "sends only if it is still not there" in results["cartesia"]["error"]
    assert [results[p]["status"] for p in ("anam", "althea", "faseeh")] == ["created"] * 3
    assert results["elevenlabs"]["status"] == "created"  # the lost answer was found by name
    assert results["callers"]["status"] == "held"  # cannot list: never re-sent blindly
    assert "rerun with --force" in results["callers"]["error"]  # and says how to go on
    voices = emulator_voices(url)
    assert (
        len(voices["elevenlabs"]) == 1
        and len(voices["callers"]) == 1
        and voices.get("cartesia", []) == []
    )

    control.clear_faults(url)
    sent_callers = control.state(url)["requests"]["callers"]
    again = _by_provider(
        _run(inbox=str(inbox), providers=PROVIDERS, options=RunOptions(workers=2))[0]
    )
    assert again["callers"]["status"] == "held"
    assert control.state(url)["requests"]["callers"] == sent_callers
    assert again["cartesia"]["status"] == "created"
    forced = _by_provider(
        _json(
            clone_voices(
                inbox=str(inbox), providers=["callers"], options=RunOptions(force=True, workers=2)
            )
        )
    )
    assert forced["callers"]["status"] == "created"


def test_dry_run_sends_nothing_and_shows_the_request(
    prefect_api, env, inbox: Path, emulator
) -> None:
    run = _json(
        clone_voices(
            inbox=str(inbox),
            providers=["elevenlabs", "cartesia"],
            options=RunOptions(dry_run=True, workers=2),
        )
    )
    assert emulator_requests(emulator.url) == 0
    results = _by_provider(run)
    assert {r["status"] for r in results.values()} == {"would-send"}
    req = results["elevenlabs"]["request"]
    assert req["name"] == "Breathe Test" and req["files"] and KEY not in repr(req)


def test_a_missing_key_fails_that_provider_only_and_names_where_keys_come_from(
    prefect_api, env, inbox: Path, emulator, monkeypatch
) -> None:
    monkeypatch.delenv("ANAM_API_KEY")
    results = _by_provider(
        _run(inbox=str(inbox), providers=["anam", "cartesia"], options=RunOptions(workers=2))[0]
    )
    assert results["anam"]["status"] == "failed"
    assert "set ANAM_API_KEY or a Prefect Secret block 'anam-api-key'" in results["anam"]["error"]
    assert results["cartesia"]["status"] == "created"
    assert (
        "anam" not in emulator_voices(emulator.url) or emulator_voices(emulator.url)["anam"] == []
    )


def test_a_refused_clone_and_a_bad_clip_are_failed_task_runs_and_the_rest_goes_on(
    prefect_api, env, inbox: Path, emulator
) -> None:
    (inbox / "breathe" / "zz-corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    control.inject(emulator.url, "cartesia", "400", count=-1)
    run, state = _run(
        inbox=str(inbox), providers=["elevenlabs", "cartesia"], options=RunOptions(workers=2)
    )

    assert state.is_failed()
    assert state.message == "1 of 2 clones failed; see the clone-results artifact"
    assert _by_provider(run)["elevenlabs"]["status"] == "created"
    assert len(emulator_voices(emulator.url)["elevenlabs"]) == 1
    tasks = _task_states(run["flow_run_id"])
    kind, message = tasks["clone/cartesia/breathe"]
    assert kind == "FAILED" and "Request refused by the emulator" in message
    assert tasks["clone/elevenlabs/breathe"][0] == "COMPLETED"
    kind, message = tasks["prepare/breathe/zz-corrupt.wav"]
    assert kind == "FAILED" and "zz-corrupt.wav" in message
    assert {tasks[f"prepare/breathe/{c}"][0] for c in CLIPS} == {"COMPLETED"}
    # Everything was still written: the summary, the artifacts, the report.
    assert state.result(raise_on_failure=False).unsettled[0].provider == "cartesia"
    assert Path(run["report"]).exists()
    assert {"clone-results", "run-summary"} <= _artifact_keys(run["flow_run_id"])


def test_a_rerun_with_nothing_changed_is_answered_from_the_ledger(
    prefect_api, env, inbox: Path, emulator
) -> None:
    import sqlalchemy as sa

    from flows.ledger.schema import takes

    providers = ["elevenlabs", "cartesia"]
    first, state = _run(inbox=str(inbox), providers=providers, options=RunOptions(workers=2))
    assert state.is_completed() and first["report"]
    with ledger.engine().connect() as c:
        take_rows = c.execute(sa.select(sa.func.count()).select_from(takes)).scalar()
    sent = emulator_requests(emulator.url)

    again, state = _run(inbox=str(inbox), providers=providers, options=RunOptions(workers=2))

    assert state.is_completed()
    assert emulator_requests(emulator.url) == sent
    with ledger.engine().connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(takes)).scalar() == take_rows
    names = set(_task_states(again["flow_run_id"]))
    assert not {n for n in names if n.startswith(("clone/", "voice/", "prepare/"))}
    assert {r["status"] for r in again["results"]} == {"exists"}
    assert [r["voice_id"] for r in again["results"]] == [r["voice_id"] for r in first["results"]]
    assert again["report"] is None and again["changed"] is False
    assert again["last_report"] == first["report"]
    assert [c["clip"] for c in again["clips"]] == [c["clip"] for c in first["clips"]]

    # Touching one source (same bytes, new mtime) is still no change.
    clip = inbox / "breathe" / CLIPS[0]
    clip.write_bytes(clip.read_bytes())
    assert (
        _run(inbox=str(inbox), providers=providers, options=RunOptions(workers=2))[0]["changed"]
        is False
    )


def test_a_pair_the_rules_skipped_is_answered_from_the_ledger_too(
    prefect_api, env, inbox: Path, emulator
) -> None:
    """A watched inbox runs again and again: a provider skipped for too little speech must not
    make every run assemble takes and write a report for nothing."""
    for extra in CLIPS[1:]:
        (inbox / "breathe" / extra).unlink()  # one 10 s clip: too little speech for Althea
    providers = ["althea", "cartesia"]
    first, _ = _run(inbox=str(inbox), providers=providers, options=RunOptions(workers=2))
    assert {r["provider"]: r["status"] for r in first["results"]} == {
        "althea": "skipped",
        "cartesia": "created",
    }
    sent = emulator_requests(emulator.url)

    again, state = _run(inbox=str(inbox), providers=providers, options=RunOptions(workers=2))

    assert state.is_completed() and emulator_requests(emulator.url) == sent
    assert again["changed"] is False and again["report"] is None
    names = set(_task_states(again["flow_run_id"]))
    assert not {n for n in names if n.startswith(("clone/", "voice/", "prepare/"))}
    skipped = _by_provider(again)["althea"]
    assert skipped["status"] == "skipped" and skipped["answered_from_ledger"]
    assert skipped["reasons"] == _by_provider(first)["althea"]["reasons"]
